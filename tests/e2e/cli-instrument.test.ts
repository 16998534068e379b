// `wasphere instrument` as a user runs it: its output installs without binaryen and runs; bad
// input gets one line and exit 1.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkInstrumentedModule } from "../../host/apps/protocol.js";
import { app, device, IMPORT, manifest } from "./support.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const wasphere = (...args: string[]) => spawnSync(process.execPath, ["bin/wasphere.js", ...args], { cwd: root, encoding: "utf8", timeout: 120_000 });
const tmp = mkdtempSync(join(tmpdir(), "wasphere-instrument-"));
const KIB = 1024;

test("an app directory: the manifest's quota becomes the memory maximum, and the module runs as installed", async () => {
  const out = join(tmp, "blink.wasm");
  const r = wasphere("instrument", "examples/blink", "-o", out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^blink: \d+ B -> \d+ B instrumented, memory maximum 128 KiB; wrote /);
  const bytes = readFileSync(out);
  checkInstrumentedModule(bytes, 128 * KIB);
  assert.throws(() => checkInstrumentedModule(bytes, 64 * KIB), /exceeds the app's quota/);

  const dev = device();
  const manifestBytes = readFileSync(join(root, "examples/blink/app_manifest.json"));
  dev.start(await dev.installInstrumented({ origin: "blink", manifestBytes, loadEntryPoint: async () => bytes }));
  await dev.run({ untilMs: 1100 });
  assert.deepEqual(dev.events.of("gpio").map((e) => [Math.round(e.timeMs), e.level]), [[0, 0], [0, 1], [500, 0], [1000, 1]]);
});

test("a bare module takes --quota-kib", () => {
  const src = join(tmp, "raw.wasm"), out = join(tmp, "raw-instrumented.wasm");
  writeFileSync(src, app(IMPORT.yield, "(drop (call $yield)) (i32.const 0)"));
  const r = wasphere("instrument", src, "-o", out, "--quota-kib", "64");
  assert.equal(r.status, 0, r.stderr);
  checkInstrumentedModule(readFileSync(out), 64 * KIB);
});

test("an install of a raw module through installInstrumented is refused and frees the slot", async () => {
  const dev = device();
  const raw = app(IMPORT.yield, "(drop (call $yield)) (i32.const 0)");
  const m = new TextEncoder().encode(JSON.stringify(manifest("rawapp")));
  await assert.rejects(dev.installInstrumented({ origin: "rawapp", manifestBytes: m, loadEntryPoint: async () => raw }), /rawapp: the module does not export the global __wasphere_fuel/);
  assert.equal(dev.installedApps().length, 0);
  assert.equal(dev.memoryMap().appReservedBytes, 0);
});

test("bad input: one line on stderr, exit 1", () => {
  const cases: [string[], RegExp][] = [
    [["instrument", "tests/conformance/apps/refused", "-o", join(tmp, "x.wasm")], /^wasphere instrument: tests\/conformance\/apps\/refused: app_manifest.json refused \(ENODEV\): Capabilities.Gpio\[0\]: pin 200 does not exist/],
    [["instrument", "no/such/dir", "-o", join(tmp, "x.wasm")], /^wasphere instrument: no\/such\/dir: no such app directory or module\n$/],
    [["instrument", "examples/blink", "-o", join(tmp, "x.wasm"), "--quota-kib", "64"], /--quota-kib applies to a bare module/],
    [["instrument", "examples/blink/app_manifest.json", "-o", join(tmp, "x.wasm")], /^wasphere instrument: examples\/blink\/app_manifest.json: not a WebAssembly module \(bad magic\)\n$/],
  ];
  for (const [args, pattern] of cases) {
    const r = wasphere(...args);
    assert.equal(r.status, 1, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});
