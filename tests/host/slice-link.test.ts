// The slice protocol through the slice link (host/apps/slice-link.ts) and the syscall gates
// (host/apps/instrument-gates.ts): an AppRunner with a syscall binding runs each slice as one
// call of the link, and a gated module's non-blocking syscalls call the binding's
// syscall_charged from inside the app. Each test compares with the same app run without a
// binding or without gates (every import and the slice in JS), or checks a property that would
// break if a gate or the link left something out: the fuel of every slice, an exit code, the
// FUEL_IDLE between slices, a save area too small, a charge beyond the fuel left, the wall
// checks, a module the gates do not apply to.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { instrumentApp } from "../../host/apps/instrument.js";
import { AppRunner, type ImportFn, type SyscallBinding } from "../../host/apps/runner.js";
import { FUEL_IDLE, FUEL_GLOBAL, checkInstrumentedModule } from "../../host/apps/protocol.js";
import { WALL_CHECK_CALLS } from "../../host/apps/protocol.js";
import { wat } from "../e2e/support.js";
import { OPTS } from "./instrument-support.js";

/** Instrumented with syscall gates unless `opts` says otherwise. */
const compile = (text: string, opts = {}) => new WebAssembly.Module(instrumentApp(wat(text), { ...OPTS, fastSyscalls: true, ...opts }).bytes as Uint8Array<ArrayBuffer>);
const importsOf = (mod: WebAssembly.Module) => WebAssembly.Module.imports(mod).map((i) => `${i.kind} ${i.module}.${i.name}`).sort();

/** A core stand-in: every call answers a0 + nr and costs `fuelPerCall`; calls are counted. */
function fakeCore(fuelPerCall: number) {
  const calls: number[][] = [];
  const binding: SyscallBinding = {
    task: 5,
    syscall: (task, nr, a0, a1, a2, a3) => { calls.push([task, nr, a0, a1, a2, a3]); return a0 + nr; },
    takeFuel: () => fuelPerCall,
    // As the core's syscall_charged: the cost in the high half, the result (as u32) in the low.
    syscallCharged: (task, nr, a0, a1, a2, a3) => { calls.push([task, nr, a0, a1, a2, a3]); return (BigInt(fuelPerCall) << 32n) | BigInt((a0 + nr) >>> 0); },
    wallCheck: null,
  };
  return { calls, binding };
}

/** JS applibs for the same fake core, as Device's trampolines call it (through the runner). */
function jsApplibs(get: () => AppRunner, nrOf: Record<string, number>): Record<string, ImportFn> {
  return Object.fromEntries(Object.entries(nrOf).map(([name, nr]) => [name, (a0 = 0, a1 = 0, a2 = 0, a3 = 0) => get().syscall(nr, a0, a1, a2, a3)]));
}

/** A loop of `n` gpio_get calls on an argument that grows, summed, with compute between; returns the sum. */
const getLoop = (n: number) => `(module (import "applibs" "gpio_get" (func $get (param i32) (result i32))) (memory (export "memory") 1)
  (func (export "main") (result i32) (local $i i32) (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (local.get $acc) (call $get (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const ${n}))))
    (local.get $acc)))`;

function slices(runner: AppRunner, fuel: number): { reasons: string[]; fuel: number[]; value: number } {
  const reasons: string[] = [], used: number[] = [];
  for (;;) {
    const r = runner.runSlice(fuel);
    reasons.push(r.reason);
    used.push(r.fuelUsed);
    assert.equal((runner.instance.exports[FUEL_GLOBAL] as WebAssembly.Global).value, FUEL_IDLE, "FUEL_IDLE between slices");
    if (r.reason !== "out_of_fuel") return { reasons, fuel: used, value: r.value ?? -1 };
  }
}

test("a gated module imports the core's syscall_charged and the gate's four other imports in place of its fast imports", () => {
  const gated = compile(getLoop(3));
  assert.deepEqual(importsOf(gated), [
    "function wasphere.over", "function wasphere.preempt", "function wasphere.syscall_charged", "function wasphere.wall",
    "global wasphere.task", "global wasphere.walled",
  ]);
  assert.deepEqual(importsOf(compile(getLoop(3), { fastSyscalls: false })), ["function applibs.gpio_get", "function wasphere.preempt"]);
  // A blocking import keeps its import (it must be able to suspend), and so does exit.
  const mixed = compile(`(module (import "applibs" "sleep_ms" (func $s (param i32) (result i32))) (import "applibs" "exit" (func $x (param i32)))
    (memory (export "memory") 1) (func (export "main") (result i32) (call $x (call $s (i32.const 1))) (i32.const 0)))`);
  assert.deepEqual(importsOf(mixed), ["function applibs.exit", "function applibs.sleep_ms", "function wasphere.preempt"]);
  // The protocol's check accepts what the instrumenter makes.
  checkInstrumentedModule(instrumentApp(wat(getLoop(3)), { ...OPTS, fastSyscalls: true }).bytes, OPTS.quotaBytes);
});

test("through the gates and the link, every slice charges the fuel it charges through JS, calls included, and the exit code comes back", () => {
  const mod = compile(getLoop(3000));
  const linked = fakeCore(7);
  let a: AppRunner;
  a = new AppRunner(mod, jsApplibs(() => a, { gpio_get: abi.SYS_GPIO_GET }), { syscalls: linked.binding });
  assert.equal(a.gated, true);
  const plainImport = (core: ReturnType<typeof fakeCore>, get: () => AppRunner) => (h = 0) => {
    const rc = core.binding.syscall(5, abi.SYS_GPIO_GET, h, 0, 0, 0);
    get().charge(core.binding.takeFuel(5));
    return rc;
  };
  // The same binding's functions, called from JS imports: no link, no gates.
  const plain = fakeCore(7);
  let b: AppRunner;
  b = new AppRunner(compile(getLoop(3000), { fastSyscalls: false }), { gpio_get: plainImport(plain, () => b) });
  assert.equal(b.gated, false);
  // The gated module without a binding: its gates reach the JS import through the runner.
  const third = fakeCore(7);
  let c: AppRunner;
  c = new AppRunner(mod, { gpio_get: plainImport(third, () => c) });
  const viaLink = slices(a, 5000);
  const viaJs = slices(b, 5000);
  assert.deepEqual(viaLink, viaJs);
  assert.deepEqual(slices(c, 5000), viaJs);
  assert.deepEqual(third.calls, plain.calls);
  assert.ok(viaLink.reasons.length > 5, `preempted ${viaLink.reasons.length - 1} times`);
  // sum over i of (i + SYS_GPIO_GET), as the fake core answers; the link passed the task and the arguments.
  assert.equal(viaLink.value, (2999 * 3000) / 2 + 3000 * abi.SYS_GPIO_GET);
  assert.equal(linked.calls.length, 3000);
  assert.deepEqual(linked.calls[17], [5, abi.SYS_GPIO_GET, 17, 0, 0, 0]);
});

test("a call charged more than the slice has left is charged in full, and the slice ends at the next check", () => {
  const mod = compile(getLoop(10));
  const core = fakeCore(1_000_000);
  let r: AppRunner;
  r = new AppRunner(mod, jsApplibs(() => r, { gpio_get: abi.SYS_GPIO_GET }), { syscalls: core.binding });
  const first = r.runSlice(5000);
  assert.equal(first.reason, "out_of_fuel");
  assert.equal(core.calls.length, 1, "one call, then preempted");
  // Its fuel is the instructions before and after the call plus the whole call: more than the slice had.
  assert.ok(first.fuelUsed > 1_000_000 && first.fuelUsed < 1_000_000 + 5000, `charged ${first.fuelUsed}`);
  assert.equal((r.instance.exports[FUEL_GLOBAL] as WebAssembly.Global).value, FUEL_IDLE);
});

test("a blocking import still suspends through the link, and resumes with its value", () => {
  const mod = compile(`(module (import "applibs" "gpio_get" (func $get (param i32) (result i32)))
    (import "applibs" "sleep_ms" (func $sleep (param i32) (result i32))) (memory (export "memory") 1)
    (func (export "main") (result i32)
      (i32.add (i32.mul (call $sleep (call $get (i32.const 40))) (i32.const 100)) (call $get (i32.const 1)))))`);
  const core = fakeCore(10);
  let r: AppRunner;
  r = new AppRunner(mod, {
    ...jsApplibs(() => r, { gpio_get: abi.SYS_GPIO_GET }),
    sleep_ms: (ms = 0) => {
      if (r.isRewinding()) return r.finishRewind(ms === 40 + abi.SYS_GPIO_GET ? 3 : -1);
      return r.suspend("blocked");
    },
  }, { syscalls: core.binding });
  assert.equal(r.gated, true);
  const first = r.runSlice(100_000);
  assert.equal(first.reason, "blocked");
  assert.equal(core.calls.length, 1);
  const second = r.runSlice(100_000);
  assert.equal(second.reason, "exited");
  // 3 from the rewound sleep, then one more fast call after it.
  assert.equal(second.value, 300 + 1 + abi.SYS_GPIO_GET);
  assert.equal(core.calls.length, 2);
});

test("a save area too small for the stack still traps as too deep through the link", () => {
  const text = `(module (import "applibs" "gpio_get" (func $get (param i32) (result i32))) (memory (export "memory") 1)
    (func $down (param $n i32) (result i32) (i32.add (call $down (i32.add (local.get $n) (call $get (i32.const 1)))) (i32.const 1)))
    (func (export "main") (result i32) (call $down (i32.const 0))))`;
  const mod = compile(text);
  let r: AppRunner;
  r = new AppRunner(mod, jsApplibs(() => r, { gpio_get: abi.SYS_GPIO_GET }), { syscalls: fakeCore(1).binding });
  assert.equal(r.gated, true);
  let last = r.runSlice(100);
  let preempted = 0;
  while (last.reason === "out_of_fuel") { preempted++; last = r.runSlice(100); }
  assert.ok(preempted > 10);
  assert.equal(last.reason, "trapped");
  assert.match(last.error!.message, /too deep to save/);
  assert.equal(r.ended, true);
});

test("a pre-instrumented module without gates, whose import has another signature than the protocol's, runs with JS imports", () => {
  // A module of the instrumented shape (as installInstrumented takes them: their signatures are
  // not checked) whose gpio_get has two parameters and no gates: its imports are all JS.
  const mod = new WebAssembly.Module(wat(`(module (import "applibs" "gpio_get" (func $get (param i32 i32) (result i32)))
    (import "applibs" "clock_ms" (func $clock (result i32))) (import "wasphere" "preempt" (func $preempt))
    (memory (export "memory") 1) (global (export "${FUEL_GLOBAL}") (mut i32) (i32.const 0))
    (func (export "asyncify_start_unwind") (param i32)) (func (export "asyncify_stop_unwind"))
    (func (export "asyncify_start_rewind") (param i32)) (func (export "asyncify_stop_rewind"))
    (func (export "asyncify_get_state") (result i32) (i32.const 0))
    (func (export "__wasphere_entry") (result i32) (i32.add (call $get (i32.const 4) (i32.const 9)) (call $clock))))`));
  const core = fakeCore(3);
  let r: AppRunner;
  r = new AppRunner(mod, jsApplibs(() => r, { gpio_get: abi.SYS_GPIO_GET, clock_ms: abi.SYS_CLOCK_MS }), { syscalls: core.binding });
  assert.equal(r.gated, false);
  const res = r.runSlice(100_000);
  assert.equal(res.reason, "exited");
  assert.equal(res.value, 4 + abi.SYS_GPIO_GET + abi.SYS_CLOCK_MS);
  assert.equal(res.fuelUsed, 6, "the two calls' fuel, charged through JS");
  assert.deepEqual(core.calls, [[5, abi.SYS_GPIO_GET, 4, 9, 0, 0], [5, abi.SYS_CLOCK_MS, 0, 0, 0, 0]]);
});

/**
 * getLoop(n) through the link, each call costing `fuelPerCall`, with a wall check that spends the
 * budget at its `spentAt`-th run; the first slice (ten million fuel) has run, ended by that check.
 */
function walledLoop(n: number, fuelPerCall: number, spentAt: number) {
  const core = fakeCore(fuelPerCall);
  let checks = 0;
  let r: AppRunner;
  r = new AppRunner(compile(getLoop(n)), jsApplibs(() => r, { gpio_get: abi.SYS_GPIO_GET }), {
    syscalls: { ...core.binding, wallCheck: () => { if (++checks === spentAt) r.endSliceSoon(); } },
  });
  const first = r.runSlice(10_000_000);
  assert.equal(first.reason, "out_of_fuel");
  return { r, core, checks: () => checks, first };
}

test("the wall check runs after every WALL_CHECK_CALLS-th flat call of a slice, and a spent budget ends the slice at the next fuel check", () => {
  const { r, core, checks, first } = walledLoop(1000, abi.SYSCALL_FUEL, 3);
  // Checked after calls 64, 128 and 192; the third spent the budget, and the loop stopped at its next check.
  assert.equal(core.calls.length, 3 * WALL_CHECK_CALLS);
  assert.equal(checks(), 3);
  // Charged what it ran (the calls' fuel and a few instructions each), not the slice's ten million.
  assert.ok(first.fuelUsed >= 3 * WALL_CHECK_CALLS * abi.SYSCALL_FUEL && first.fuelUsed < 3 * WALL_CHECK_CALLS * (abi.SYSCALL_FUEL + 50), `charged ${first.fuelUsed}`);
  // The count starts again at each check: the next slice (808 calls left) checks after 64, 128, ... 768.
  const rest = slices(r, 10_000_000);
  assert.deepEqual(rest.reasons, ["exited"]);
  assert.equal(checks(), 3 + Math.floor((1000 - 3 * WALL_CHECK_CALLS) / WALL_CHECK_CALLS));
});

test("a call charged more than SYSCALL_FUEL is followed by a wall check at once", () => {
  const { r, core, checks, first } = walledLoop(100, abi.SYSCALL_FUEL + 1, 5);
  assert.equal(core.calls.length, 5, "every costlier call checked, the fifth ended the slice");
  const rest = slices(r, 10_000_000);
  assert.deepEqual(rest.reasons, ["exited"]);
  assert.equal(checks(), 100);
});
