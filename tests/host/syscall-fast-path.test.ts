// The syscall fast path on a device (host/apps/instrument-gates.ts, Device.syscallBinding): an
// app's non-blocking imports become gates that reach the core Wasm-to-Wasm. Each test fails if that path dropped one of
// the properties of the JS path: which imports take it, a bad pointer's -EFAULT and its audit
// entry, a blocking call between fast ones, a tapped core seeing every call, an instance that
// died in the middle of a fast call and the one that replaces it. (The charges, a forged handle,
// a denied pin and preemption by fuel: tests/e2e/fast-syscall.test.ts; the wall budget:
// tests/e2e/hostile-host-work.test.ts; the link itself: slice-link.test.ts.)
import { test } from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { type AppRunner } from "../../host/apps/runner.js";
import { type CoreTap } from "../../host/core.js";
import { HostError } from "../../host/device.js";
import { FAST_IMPORTS } from "../../host/apps/protocol.js";
import { APP_IMPORTS } from "../../host/apps/imports.js";
import { app, device, exitCodes, IMPORT, installAndStart } from "../e2e/support.js";

const ARGS_GET = `(import "applibs" "args_get" (func $args (param i32 i32) (result i32)))`;
const runnerOf = (dev: ReturnType<typeof device>, slot: number): AppRunner => {
  const live = (dev as unknown as { live: Map<number, { app: { slot: number }; runner: AppRunner }> }).live;
  const found = [...live.values()].find((t) => t.app.slot === slot);
  assert.ok(found, `app ${slot} has an instance`);
  return found.runner;
};
/** The `applibs` imports left in the app's installed (instrumented) module. */
const applibsLeft = (dev: ReturnType<typeof device>, slot: number): string[] => {
  const apps = (dev as unknown as { apps: Map<number, { module: WebAssembly.Module }> }).apps;
  return WebAssembly.Module.imports(apps.get(slot)!.module).filter((i) => i.module === "applibs").map((i) => i.name).sort();
};

test("the fast imports are every non-blocking one but exit; a device's app keeps exactly the others as imports", async () => {
  assert.deepEqual(FAST_IMPORTS.map((i) => i.name), APP_IMPORTS.filter((i) => !i.blocking && i.name !== "exit").map((i) => i.name));
  const dev = device();
  const a = await installAndStart(dev, "mixed", app(`${IMPORT.in} ${IMPORT.get} ${IMPORT.log} ${IMPORT.sleep} ${IMPORT.yield} ${IMPORT.exit} ${IMPORT.quota}`, `
    (drop (call $get (call $in (i32.const 12))))
    (drop (call $yield))
    (drop (call $sleep (i32.const 5)))
    (call $exit (call $quota))
    (i32.const 0)`), { Capabilities: { Gpio: [12] } });
  assert.equal(dev.step(), true);
  assert.equal(runnerOf(dev, a.slot).gated, true);
  assert.deepEqual(applibsLeft(dev, a.slot), ["exit", "sleep_ms", "yield"]);
  await dev.run({ untilMs: 100 });
  assert.deepEqual(exitCodes(dev, "mixed"), [dev.core.exports.app_field(a.slot, abi.APP_FIELD_QUOTA_BYTES)]);
});

test("a pointer outside the app's memory, through a fast import, is -EFAULT with its audit entry, and nothing else happens", async () => {
  const dev = device();
  // log and args_get at the last bytes of the one page, across its end, and at 0xffffffff.
  const a = await installAndStart(dev, "pointers", app(`${IMPORT.log} ${ARGS_GET} ${IMPORT.yield} ${IMPORT.exit}`, `
    (local $sum i32)
    (local.set $sum (call $log (i32.const 65530) (i32.const 100)))
    (local.set $sum (i32.add (local.get $sum) (call $log (i32.const -1) (i32.const 2))))
    (local.set $sum (i32.add (local.get $sum) (call $args (i32.const 65535) (i32.const 64))))
    (local.set $sum (i32.add (local.get $sum) (call $log (i32.const 65530) (i32.const 6))))
    (drop (call $yield))
    (call $exit (local.get $sum))
    (i32.const 0)`, `(data (i32.const 65530) "edge!!")`), { CmdArgs: ["an argument longer than one byte"] });
  assert.equal(dev.step(), true);
  assert.deepEqual(applibsLeft(dev, a.slot), ["exit", "yield"], "log and args_get are gates");
  await dev.run({ untilMs: 50 });
  // Three refusals, then the one line that fits (log answers its 6 bytes).
  assert.deepEqual(exitCodes(dev, "pointers"), [-3 * abi.EFAULT + 6]);
  const faults = dev.audit().filter((e) => e.kind === abi.EV_FAULT).map((e) => [e.syscall, e.arg >>> 0]);
  assert.deepEqual(faults, [[abi.SYS_LOG, 65530], [abi.SYS_LOG, 0xffffffff], [abi.SYS_ARGS_GET, 65535]]);
  assert.deepEqual(dev.events.of("log").filter((e) => e.app === "pointers").map((e) => e.text), ["edge!!"]);
});

test("a blocking call between fast ones still blocks, and the rewound instance's fast calls see what changed meanwhile", async () => {
  const dev = device();
  // Reads input 12, sleeps 100 ms, reads it again, and exits with both levels and sleep's result.
  await installAndStart(dev, "sleeper", app(`${IMPORT.in} ${IMPORT.get} ${IMPORT.sleep} ${IMPORT.exit}`, `
    (local $h i32) (local $before i32) (local $slept i32)
    (local.set $h (call $in (i32.const 12)))
    (local.set $before (call $get (local.get $h)))
    (local.set $slept (call $sleep (i32.const 100)))
    (call $exit (i32.add (i32.add (i32.mul (local.get $before) (i32.const 10)) (i32.mul (call $get (local.get $h)) (i32.const 100))) (local.get $slept)))
    (i32.const 0)`), { Capabilities: { Gpio: [12] } });
  const reasons: string[] = [];
  dev.onSlice = (s) => { reasons.push(s.reason); };
  await dev.run({ untilMs: 50 });
  assert.deepEqual(reasons, ["blocked"]);
  dev.gpio.drive(12, 1);
  await dev.run({ untilMs: 200 });
  assert.deepEqual(reasons, ["blocked", "exited"]);
  // before 0, after 1, sleep_ms answered 0.
  assert.deepEqual(exitCodes(dev, "sleeper"), [100]);
  assert.ok(dev.clock.nowMs() >= 100);
});

test("a core seen through a tap still sees every fast call, in order, with the caller's task", async () => {
  const calls: (number | string)[][] = [];
  const coreTap: CoreTap = {
    wrap: (kind, name, fn) => (kind === "export" && (name === "syscall" || name === "syscall_charged")
      ? ((...args: number[]) => { calls.push([name, ...args.slice(0, 3)]); return fn(...args); }) as typeof fn
      : fn),
  };
  const dev = device({ coreTap });
  await installAndStart(dev, "tapped", app(`${IMPORT.in} ${IMPORT.get} ${IMPORT.exit}`, `
    (local $h i32)
    (local.set $h (call $in (i32.const 12)))
    (drop (call $get (local.get $h))) (drop (call $get (i32.const 77)))
    (call $exit (i32.const 0))
    (i32.const 0)`), { Capabilities: { Gpio: [12] } });
  assert.equal(dev.step(), true);
  const task = calls[0][1];
  const handle = calls[1][3];
  // Every gate's call through syscall_charged (one call: the syscall and its fuel); exit stays a JS import, which calls syscall.
  assert.deepEqual(calls, [
    ["syscall_charged", task, abi.SYS_GPIO_OPEN_INPUT, 12], ["syscall_charged", task, abi.SYS_GPIO_GET, handle],
    ["syscall_charged", task, abi.SYS_GPIO_GET, 77], ["syscall", task, abi.SYS_EXIT, 0]]);
  assert.ok(typeof handle === "number" && handle > 0);
});

test("an instance that dies inside a fast call is a host error; the dead instance reaches nothing, and its restart runs fast", async () => {
  const dev = device();
  // Opens output 30, sleeps, then drives it high (the model throws there) and low, and exits 9.
  const victim = await installAndStart(dev, "victim", app(`${IMPORT.out} ${IMPORT.set} ${IMPORT.sleep} ${IMPORT.exit}`, `
    (global.set $h (call $out (i32.const 30) (i32.const 0)))
    (drop (call $sleep (i32.const 10)))
    (drop (call $set (global.get $h) (i32.const 1)))
    (drop (call $set (global.get $h) (i32.const 0)))
    (call $exit (i32.const 9))
    (i32.const 0)`, `(global $h (mut i32) (i32.const 0)) (func (export "probe") (result i32) (call $set (global.get $h) (i32.const 1)))`),
  { Capabilities: { Gpio: [30] } });
  let fail = true;
  dev.gpio.observe((pin, level) => { if (fail && pin === 30 && level === 1) throw new RangeError("model: the line shorted"); });
  const e = dev.core.exports;
  assert.equal(dev.step(), true); // opened, sleeping
  const old = runnerOf(dev, victim.slot);
  assert.deepEqual(applibsLeft(dev, victim.slot), ["exit", "sleep_ms"], "gpio_set is a gate");
  const task = e.app_field(victim.slot, abi.APP_FIELD_TASK);
  await assert.rejects(dev.run({ untilMs: 100 }), (err: Error) => err instanceof HostError && /model: the line shorted/.test(err.message));
  assert.equal(e.app_field(victim.slot, abi.APP_FIELD_CRASHES), 0, "not charged a crash");
  assert.equal(e.app_field(victim.slot, abi.APP_FIELD_STATE), abi.TASK_EXITED, "stopped");
  // The dead instance's fast import: the core refuses it (no task runs), charges nothing, drives nothing.
  fail = false;
  const probe = old.instance.exports.probe as () => number;
  assert.equal(probe(), -abi.EPERM);
  assert.equal(e.task_take_fuel(task), 0);
  assert.equal(dev.gpio.level(30), 0);
  // Started again: a fresh instance whose fast calls work; it exits normally.
  dev.start(victim);
  await dev.run({ untilMs: 300 });
  assert.deepEqual(exitCodes(dev, "victim"), [9]);
  assert.notEqual(runnerOfOrNull(dev, victim.slot), old);
  // Even while the new instance's task holds the same task row, the old instance is refused between slices.
  assert.equal(probe(), -abi.EPERM);
  assert.equal(dev.gpio.level(30), 0);
});

function runnerOfOrNull(dev: ReturnType<typeof device>, slot: number): AppRunner | null {
  const live = (dev as unknown as { live: Map<number, { app: { slot: number }; runner: AppRunner }> }).live;
  return [...live.values()].find((t) => t.app.slot === slot)?.runner ?? null;
}
