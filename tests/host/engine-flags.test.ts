// The engine settings the command runs apps under (host/engine-flags.ts), read from V8 itself:
// a probe module, loaded before the program with V8's test natives allowed, asks which tier a
// function first called at process exit runs in. Interpreted (Ignition) is V8's default for a
// function's first calls; baseline (Sparkplug) at the first call is what --always-sparkplug gives.
// So the checks fail if the flag list is emptied, if applyEngineFlags stops setting it, if the
// command stops calling it, or if a library import of the host starts changing the process.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ENGINE_FLAGS } from "../../host/engine-flags.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
let dir = "";
let probe = "";

before(() => {
  dir = mkdtempSync(join(tmpdir(), "wasphere-engine-flags-"));
  probe = join(dir, "probe.mjs");
  // The function is made and first called at exit, after the program ran (or set nothing).
  writeFileSync(probe, `process.on("exit", () => {
  const f = new Function("return 1"); f();
  process.stderr.write("tier " + (%ActiveTierIsSparkplug(f) ? "sparkplug" : %ActiveTierIsIgnition(f) ? "ignition" : "other") + "\\n");
});\n`);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** The tier the probe saw at the exit of `node <args>`. */
function tierAtExit(args: string[]): string {
  const r = spawnSync(process.execPath, ["--allow-natives-syntax", "--import", pathToFileURL(probe).href, ...args], { cwd: ROOT, encoding: "utf8" });
  const m = /tier (\w+)/.exec(r.stderr);
  assert.ok(m, `no tier from node ${args.join(" ")}: ${r.stderr}`);
  return m[1];
}

test("the flags are the baseline compiler at first call, and nothing that changes results", () => {
  assert.deepEqual(ENGINE_FLAGS, ["--always-sparkplug"]);
});

test("without the flags a function's first call is interpreted (the probe tells the tiers apart)", () => {
  assert.equal(tierAtExit(["-e", "0"]), "ignition");
});

test("applyEngineFlags gives functions first called after it baseline code", () => {
  const mod = pathToFileURL(join(ROOT, "dist/host/engine-flags.js")).href;
  assert.equal(tierAtExit(["--input-type=module", "-e", `import { applyEngineFlags } from ${JSON.stringify(mod)}; applyEngineFlags();`]), "sparkplug");
});

test("the wasphere command sets them before it runs a verb", () => {
  assert.equal(tierAtExit([join(ROOT, "bin/wasphere.js"), "--version"]), "sparkplug");
  assert.equal(tierAtExit([join(ROOT, "dist/host/cli.js"), "--help"]), "sparkplug");
});

test("importing the host as a library (the CLI's program included) leaves the process's engine settings alone", () => {
  for (const m of ["dist/host/device.js", "dist/host/cli.js"]) {
    const url = pathToFileURL(join(ROOT, m)).href;
    assert.equal(tierAtExit(["--input-type=module", "-e", `await import(${JSON.stringify(url)});`]), "ignition", m);
  }
});

test("the benchmark's groups run under the command's settings", () => {
  // A group's child applies the flags first, where the command does; an unknown group then fails
  // without running anything.
  assert.equal(tierAtExit([join(ROOT, "dist/tools/bench.js"), "--child", "no-such-group"]), "sparkplug");
});
