// The build rebuilds only what changed: in a copy of this built tree, each change re-runs exactly
// the steps that depend on it, read from the build's own step log (build/build-log.json), never
// from timing. A tree without stamps (a fresh clone) builds every step.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const ALL_STEPS = ["core-full", "core-fs-readonly", "core-no-fs", "component", "tsc", "apps", "conformance", "bundle", "dashboard"];
let tree = "";

before(() => {
  tree = mkdtempSync(join(tmpdir(), "wasphere-build-"));
  cpSync(ROOT, tree, {
    recursive: true,
    filter: (src) => !["node_modules", ".git", "fuzz-failures"].includes(relative(ROOT, src).split("/")[0]),
  });
  symlinkSync(join(ROOT, "node_modules"), join(tree, "node_modules"));
  // Brings the copy up to date (nothing to do after `npm test`'s own build): the tests start from a built tree.
  build();
});
after(() => { if (tree) rmSync(tree, { recursive: true, force: true }); });

interface LoggedStep { name: string; ran: boolean; why: string | null }

function build(...args: string[]): { steps: LoggedStep[]; stdout: string } {
  const r = spawnSync(process.execPath, ["tools/build.mjs", ...args], { cwd: tree, encoding: "utf8", timeout: 600_000 });
  assert.equal(r.status, 0, r.stderr);
  const log = JSON.parse(readFileSync(join(tree, "build/build-log.json"), "utf8"));
  return { steps: log.steps, stdout: r.stdout };
}
const ran = (steps: LoggedStep[]) => steps.filter((s) => s.ran).map((s) => s.name);

test("an unchanged tree rebuilds nothing and prints nothing", () => {
  const { steps, stdout } = build();
  assert.deepEqual(steps.map((s) => s.name), ALL_STEPS);
  assert.deepEqual(ran(steps), []);
  assert.equal(stdout, "");
});

test("a change to host/ re-runs tsc and the bundles only, and says why in one line each", () => {
  appendFileSync(join(tree, "host/printable.ts"), "\n// a comment, to change the file\n");
  const { steps, stdout } = build();
  assert.deepEqual(ran(steps), ["tsc", "bundle"]);
  assert.equal(steps.find((s) => s.name === "tsc")!.why, "host/printable.ts changed");
  assert.equal(steps.find((s) => s.name === "bundle")!.why, "dist/host/printable.js changed");
  assert.match(stdout, /^build: tsc \(host\/printable\.ts changed\) [\d.]+ s\nbuild: bundle \(dist\/host\/printable\.js changed\) [\d.]+ s\n$/);
  assert.deepEqual(ran(build().steps), [], "and then nothing");
});

test("a change to an assembly/ file would rebuild the three cores and what reads core.wasm", () => {
  appendFileSync(join(tree, "assembly/abi.ts"), "\n// a comment, to change the file\n");
  const { steps } = build("--dry-run");
  // abi.ts is also the host's (tsc compiles it), so tsc and the steps after it run too.
  assert.deepEqual(ran(steps), ALL_STEPS);
  assert.equal(steps.find((s) => s.name === "core-full")!.why, "assembly/abi.ts changed");
  cpSync(join(ROOT, "assembly/abi.ts"), join(tree, "assembly/abi.ts"));
  appendFileSync(join(tree, "assembly/sched/timers.ts"), "\n// a comment, to change the file\n");
  const sched = build("--dry-run").steps;
  // A dry run counts every step after one that would run (a real run re-runs bundle only if the
  // conformance apps it embeds changed).
  assert.deepEqual(ran(sched), ["core-full", "core-fs-readonly", "core-no-fs", "component", "conformance", "bundle", "dashboard"]);
  assert.equal(sched.find((s) => s.name === "conformance")!.why, "core-full would run");
  cpSync(join(ROOT, "assembly/sched/timers.ts"), join(tree, "assembly/sched/timers.ts"));
  assert.deepEqual(ran(build("--dry-run").steps), [], "a dry run leaves the stamps as they were");
});

test("a deleted output, a changed command and a tree without stamps are rebuilt", () => {
  rmSync(join(tree, "build/core-no-fs.wasm"));
  const missing = build("--dry-run").steps;
  assert.deepEqual(ran(missing), ["core-no-fs"]);
  assert.equal(missing.find((s) => s.name === "core-no-fs")!.why, "output build/core-no-fs.wasm is missing");
  const script = join(tree, "tools/build.mjs");
  const original = readFileSync(script, "utf8");
  const flags = `export const CORE_ASC_FLAGS = ["--config", "asconfig.json", "--target", "core"];`;
  assert.ok(original.includes(flags), "the core's flags, as the recipe change below expects them");
  writeFileSync(script, original.replace(flags, flags.replace(`"core"]`, `"core", "--noAssert"]`)));
  const recipe = build("--dry-run").steps;
  assert.deepEqual(ran(recipe), ["core-full", "core-fs-readonly", "core-no-fs", "component", "conformance", "bundle", "dashboard"]);
  assert.equal(recipe.find((s) => s.name === "core-fs-readonly")!.why, "its command changed");
  writeFileSync(script, original);
  rmSync(join(tree, "build/stamps"), { recursive: true });
  const fresh = build("--dry-run").steps;
  assert.deepEqual(ran(fresh), ALL_STEPS);
  assert.deepEqual(fresh.filter((s) => s.why === "never built here").map((s) => s.name), ["core-full", "core-fs-readonly", "core-no-fs", "tsc"]);
  assert.ok(fresh.every((s) => s.why === "never built here" || / would run$/.test(s.why!)), JSON.stringify(fresh));
});
