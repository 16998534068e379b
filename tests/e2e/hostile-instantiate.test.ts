// Modules that would fail to instantiate: the install-time contract refuses each one with one line
// naming the problem, and a module that fails to instantiate anyway ends that app only, as a trap
// does, while a witness app keeps its schedule.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { InstallError } from "../../host/device.js";
import { appFromBytes } from "../../host/apps/package.js";
import { app, blinker, device, installAndStart, manifest, toggles, wat } from "./support.js";

const WITNESS_PIN = 20;
const PERIOD_MS = 100;

async function refusedAtInstall(text: string, message: string): Promise<void> {
  const dev = device();
  await assert.rejects(dev.install(appFromBytes("bad", manifest("bad"), wat(text))), (err: Error) => {
    assert.ok(err instanceof InstallError, `an InstallError, got ${err}`);
    assert.equal(err.message, `bad: ${message}`);
    return true;
  });
  assert.equal(dev.installedApps().length, 0);
}

const MAIN = `(func (export "main") (result i32) (i32.const 0))`;

test("a data segment at a negative offset is refused: offsets are i32", async () => {
  await refusedAtInstall(`(module (memory (export "memory") 1) (data (i32.const -16) "0123456789abcdef") ${MAIN})`,
    "a data segment's offset is i32.const -16, which the engine reads as 4294967280: past the end of the memory");
});

test("a data segment that runs past the initial memory is refused", async () => {
  await refusedAtInstall(`(module (memory (export "memory") 1) (data (i32.const 65530) "0123456789") ${MAIN})`,
    "a data segment of 10 bytes at 65530 ends at 65540, past the initial memory of 65536 bytes");
  // Exactly up to the end is fine.
  const dev = device();
  await dev.install(appFromBytes("fits", manifest("fits"), wat(`(module (memory (export "memory") 1) (data (i32.const 65526) "0123456789") ${MAIN})`)));
});

test("an element segment outside its table is refused", async () => {
  await refusedAtInstall(`(module (memory (export "memory") 1) (table 2 funcref) (elem (i32.const 1) $f $f) (func $f) ${MAIN})`,
    "an element segment of 2 entries at 1 lies outside table 0 of 2 entries");
  await refusedAtInstall(`(module (memory (export "memory") 1) (table 4 funcref) (elem (i32.const -1) $f) (func $f) ${MAIN})`,
    "an element segment of 1 entries at -1 lies outside table 0 of 4 entries");
});

test("tables that do not fit the quota with the memory are refused before they are allocated", async () => {
  await refusedAtInstall(`(module (memory (export "memory") 1) (table 10000000 funcref) ${MAIN})`,
    `the module's tables start with 10000000 entries (32 bytes each), which with its 65536 bytes of memory exceed the app's quota of ${abi.DEFAULT_APP_QUOTA_BYTES} bytes`);
});

test("a module that fails to instantiate ends that app only, like a trap, and the core gives up on it", async () => {
  const dev = device();
  await installAndStart(dev, "witness", blinker(WITNESS_PIN, PERIOD_MS), { Capabilities: { Gpio: [WITNESS_PIN] } });
  const hostile = await dev.install(appFromBytes("hostile", manifest("hostile"), app("", "(i32.const 0)")));
  // What the contract now refuses, slipped past it: the engine throws at instantiation.
  hostile.module = new WebAssembly.Module(wat(`(module (memory (export "memory") 1) (data (i32.const -16) "0123456789abcdef") ${MAIN})`));
  dev.start(hostile);
  const runMs = 60_000;
  await dev.run({ untilMs: runMs });
  const failures = dev.events.of("app").filter((e) => e.app === "hostile" && e.what === "trapped").map((e) => e.detail);
  assert.deepEqual(failures, new Array(abi.RESTART_MAX_CRASHES).fill("cannot instantiate the app: WebAssembly.Instance(): data segment is out of bounds"));
  const kinds = dev.audit().filter((a) => a.app === hostile.slot).map((a) => a.kind);
  assert.equal(kinds.filter((k) => k === abi.EV_APP_TRAPPED).length, abi.RESTART_MAX_CRASHES);
  assert.equal(kinds.filter((k) => k === abi.EV_APP_GAVE_UP).length, 1);
  // The witness toggled on its schedule the whole time.
  assert.ok(toggles(dev, WITNESS_PIN) >= runMs / PERIOD_MS - 1, `witness toggled ${toggles(dev, WITNESS_PIN)} times`);
});
