// The component build (tools/build-component.mjs): jco stays out of the default install, the build
// says how to get it when it is missing, and with it installed build/core.component.wasm wraps the
// very bytes of build/core.wasm in wit/wasphere.wit's world, rebuilt only when an input changes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { BINDINGS_JS, COMPONENT_WASM, componentPresent, JCO_PACKAGE, REPO } from "./component-support.js";

const coreBytes = () => readFileSync(`${REPO}build/core.wasm`);
const sha256 = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex");

test("jco is pinned in tools/component's own lock file, never in the default install's", () => {
  const rootLock = readFileSync(`${REPO}package-lock.json`, "utf8");
  assert.ok(!rootLock.includes("@bytecodealliance/"), "package-lock.json holds no @bytecodealliance package");
  const lock = JSON.parse(readFileSync(`${REPO}tools/component/package-lock.json`, "utf8"));
  const jco = lock.packages["node_modules/@bytecodealliance/jco"];
  assert.equal(jco.version, "1.35.0");
  assert.match(jco.integrity, /^sha512-/);
  assert.equal(JSON.parse(readFileSync(`${REPO}tools/component/package.json`, "utf8")).dependencies["@bytecodealliance/jco"], "1.35.0");
  assert.match(JSON.parse(readFileSync(`${REPO}package.json`, "utf8")).scripts["component:setup"], /^npm ci --prefix tools\/component\b/);
  assert.match(readFileSync(`${REPO}.ci/run`, "utf8"), /\nnpm ci --prefix tools\/component\b/);
});

test("without jco the component build builds nothing and says how to install it", () => {
  const r = spawnSync(process.execPath, ["tools/build-component.mjs"], {
    cwd: REPO, encoding: "utf8", env: { ...process.env, WASPHERE_COMPONENT_TOOLCHAIN: `${REPO}build/no-such-toolchain` },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "component: skipped (the component toolchain (jco) is not installed: install it with `npm run component:setup` (npm ci in tools/component))\n");
});

test("build/core.component.wasm is a component holding build/core.wasm byte for byte", (t) => {
  if (!componentPresent(t)) return;
  const component = readFileSync(COMPONENT_WASM);
  const module = coreBytes();
  assert.deepEqual([...component.subarray(0, 8)], [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00], "a component binary (layer 1)");
  assert.deepEqual([...module.subarray(4, 8)], [1, 0, 0, 0], "core.wasm is a core module");
  assert.ok(component.indexOf(module) > 0, "core.wasm's bytes appear whole inside the component");
  // The transpiled bindings instantiate the same module: core.wasm plus custom sections only.
  const inner = readFileSync(`${REPO}build/core-component/core.core.wasm`);
  assert.ok(inner.subarray(0, module.length).equals(module), "core.core.wasm starts with core.wasm");
  for (let pos = module.length; pos < inner.length;) {
    assert.equal(inner[pos++], 0, `only custom sections follow core.wasm (offset ${pos - 1})`);
    let size = 0, shift = 0, b;
    do { b = inner[pos++]; size |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80);
    pos += size;
  }
});

test("the component's world is wit/wasphere.wit's `core`, as jco decodes it", async (t) => {
  if (!componentPresent(t)) return;
  const jco = await import(pathToFileURL(JCO_PACKAGE.replace(/package\.json$/, "dist/api.js")).href);
  const wit: string = await jco.componentWit(readFileSync(COMPONENT_WASM));
  const version = /^package wasphere:core@([^;]+);/m.exec(readFileSync(`${REPO}wit/wasphere.wit`, "utf8"))![1];
  const lines = wit.split("\n").map((l) => l.trim()).filter((l) => /^(import|export) /.test(l)).sort();
  assert.deepEqual(lines, [`export wasphere:core/fs@${version};`, `export wasphere:core/kernel@${version};`, `import wasphere:core/hal@${version};`]);
});

test("the component build is incremental: its stamp is the hash of every input", async (t) => {
  if (!componentPresent(t)) return;
  const stamp = readFileSync(`${REPO}build/core-component/inputs.sha256`, "utf8").split("\n");
  assert.equal(stamp[0], sha256(coreBytes()), "core.wasm");
  assert.equal(stamp[1], sha256(readFileSync(`${REPO}wit/wasphere.wit`, "utf8")), "the WIT");
  assert.equal(stamp[2], `jco ${JSON.parse(readFileSync(JCO_PACKAGE, "utf8")).version}`);
  const r = spawnSync(process.execPath, ["tools/build-component.mjs"], { cwd: REPO, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "component: build/core.component.wasm is up to date\n");
  assert.ok(readFileSync(BINDINGS_JS, "utf8").includes("export function instantiate(getCoreModule, imports"), "sync instantiation");
});
