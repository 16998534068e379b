// gjs (SpiderMonkey) and jsc (JavaScriptCore) run the conformance script through the one ES module
// bundle of the host (build/wasphere-host.mjs, no binaryen inside) and print the golden trace.
// A missing engine is skipped with how to install it; WASPHERE_REQUIRE_HOSTS=1 (.ci/run) fails.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { BUNDLE_PATH, ENGINES_DIR, FULL_BUNDLE_PATH } from "../../tools/bundle.js";
import { GOLDEN_PATH } from "../../tools/conformance.js";
import { firstDifference, REGENERATE, requireHosts } from "./hosts-support.js";
import { CORE_WASM_PATH } from "../../host/core.js";

const ENGINES = [
  { name: "gjs", command: "gjs", args: ["-m"], apt: "gjs" },
  { name: "jsc", command: "jsc", args: ["-m"], apt: "libjavascriptcoregtk-4.0-bin" },
];

for (const engine of ENGINES) {
  test(`${engine.name}: the conformance trace through the bundle matches the golden trace`, (t) => {
    const probe = spawnSync("sh", ["-c", `command -v ${engine.command}`], { encoding: "utf8" });
    if (probe.status !== 0) {
      const how = `${engine.command} not found: install it with \`apt-get install ${engine.apt}\``;
      if (requireHosts()) assert.fail(`WASPHERE_REQUIRE_HOSTS is set and ${how}`);
      t.skip(how);
      return;
    }
    const r = spawnSync(engine.command, [...engine.args, join(ENGINES_DIR, `${engine.name}.mjs`)], { encoding: "utf8", timeout: 300_000 });
    assert.equal(r.status, 0, `${engine.name} failed:\n${r.stderr}`);
    const golden = readFileSync(GOLDEN_PATH, "utf8");
    assert.ok(r.stdout === golden, `${firstDifference(r.stdout, golden)}\n${REGENERATE}\n${r.stderr}`);
  });
}

test("the bundle without the instrumenter holds no binaryen; the full one does", () => {
  const lean = readFileSync(BUNDLE_PATH, "utf8");
  assert.ok(!lean.includes("BinaryenModuleCreate"), "no binaryen.js in build/wasphere-host.mjs");
  assert.ok(readFileSync(FULL_BUNDLE_PATH, "utf8").includes("BinaryenModuleCreate"));
  assert.ok(statSync(BUNDLE_PATH).size < 200_000, `the lean bundle is ${statSync(BUNDLE_PATH).size} B`);
  assert.ok(statSync(FULL_BUNDLE_PATH).size > 10_000_000, "the full bundle carries binaryen.js");
});

test("the lean bundle refuses a raw app with a message that says what to do", async () => {
  const m = await import(BUNDLE_PATH);
  const dev = new m.Device({ clock: new m.VirtualClock(), coreModule: new WebAssembly.Module(readFileSync(CORE_WASM_PATH)) });
  const manifest = { SchemaVersion: 1, Name: "raw", ComponentId: "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", EntryPoint: "raw.wasm", CmdArgs: [], Capabilities: {} };
  const raw = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
  await assert.rejects(dev.install({ origin: "raw", manifestBytes: new TextEncoder().encode(JSON.stringify(manifest)), loadEntryPoint: async () => raw }),
    /raw: this host cannot instrument a raw app .*install apps instrumented ahead of time \(`wasphere instrument`\) with installInstrumented/);
  assert.equal(dev.installedApps().length, 0);
});
