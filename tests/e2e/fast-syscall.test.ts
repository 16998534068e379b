// The non-blocking syscall path (host/apps/runner.ts, Device's trampolines) keeps every check:
// each test here fails if that path skipped one. A call from an instance that is not running,
// the fuel of N calls to the unit, a forged handle and a denied pin on the same fast imports.
import assert from "node:assert/strict";
import test from "node:test";
import * as abi from "../../assembly/abi.js";
import { type AppRunner } from "../../host/apps/runner.js";
import { WALL_CHECK_CALLS } from "../../host/apps/protocol.js";
import { app, device, installAndStart, IMPORT } from "./support.js";

/** As many GPIO writes as fit one slice with room to spare, so both runs end in one slice (no preemption's cost in either). */
const CALLS = Math.floor(abi.SLICE_FUEL / (abi.SYSCALL_FUEL + abi.GPIO_WRITE_FUEL)) - 10;

/** Opens output pin 30, then calls gpio_set(h ^ xor, 1) CALLS times and yields forever (one slice's worth). */
const setter = (xor: number) => app(`${IMPORT.out} ${IMPORT.set} ${IMPORT.yield}`, `
  (local $i i32) (local $h i32)
  (local.set $h (call $out (i32.const 30) (i32.const 0)))
  (loop $l
    (drop (call $set (i32.xor (local.get $h) (i32.const ${xor})) (i32.const 1)))
    (local.set $i (i32.add (local.get $i) (i32.const 1)))
    (br_if $l (i32.lt_u (local.get $i) (i32.const ${CALLS}))))
  (loop $y (drop (call $yield)) (br $y))
  (i32.const 0)`);

/** The fuel of the first slice of `wasm`, which must end in its first yield. */
async function fuelToFirstYield(wasm: Uint8Array): Promise<number> {
  const dev = device();
  await installAndStart(dev, "setter", wasm, { Capabilities: { Gpio: [30] } });
  let fuel = -1;
  dev.onSlice = (s) => { assert.equal(s.reason, "yielded"); fuel = s.fuelUsed; };
  assert.equal(dev.step(), true);
  return fuel;
}

test("N fast calls are charged exactly N times their host work: a GPIO write costs GPIO_WRITE_FUEL more than a refused one", async () => {
  // The same instructions either way: only the handle differs (a generation bit flipped), so
  // the difference is exactly what the core charges for the writes that happened.
  const written = await fuelToFirstYield(setter(0));
  const refused = await fuelToFirstYield(setter(1 << 20));
  assert.equal(written - refused, CALLS * abi.GPIO_WRITE_FUEL);
  assert.ok(refused >= CALLS * abi.SYSCALL_FUEL, `a refused call still costs SYSCALL_FUEL (slice fuel ${refused})`);
});

test("a forged handle on the fast path gets -EBADF and is audited; a denied pin gets -EACCES", async () => {
  const dev = device();
  await installAndStart(dev, "forger", app(`${IMPORT.out} ${IMPORT.get} ${IMPORT.exit}`, `
    (local $h i32)
    (local.set $h (call $out (i32.const 30) (i32.const 0)))
    (call $exit (i32.sub (i32.const 0) (i32.add
      (i32.mul (i32.sub (i32.const 0) (call $get (i32.xor (local.get $h) (i32.const ${1 << 20})))) (i32.const 1000))
      (i32.sub (i32.const 0) (call $out (i32.const 31) (i32.const 0))))))
    (i32.const 0)`), { Capabilities: { Gpio: [30] } });
  await dev.run({ maxSlices: 1 });
  const exited = dev.events.of("app").find((e) => e.app === "forger" && e.what === "exited");
  assert.equal(exited?.detail, `code ${-(abi.EBADF * 1000 + abi.EACCES)}`);
  assert.deepEqual(dev.audit().filter((a) => a.kind === abi.EV_BAD_HANDLE || a.kind === abi.EV_DENIED).map((a) => [a.kind, a.syscall]),
    [[abi.EV_BAD_HANDLE, abi.SYS_GPIO_GET], [abi.EV_DENIED, abi.SYS_GPIO_OPEN_OUTPUT]]);
});

test("a fast import called from an instance that is not running the slice gets -EPERM and charges nothing", async () => {
  const dev = device();
  await installAndStart(dev, "prober", app(`${IMPORT.in} ${IMPORT.get} ${IMPORT.yield}`, `
    (global.set $h (call $in (i32.const 12)))
    (loop $y (drop (call $yield)) (br $y))
    (i32.const 0)`, `(global $h (mut i32) (i32.const -1))
    (func (export "probe") (result i32) (call $get (global.get $h)))`), { Capabilities: { Gpio: [12] } });
  assert.equal(dev.step(), true); // opens the pin, yields
  const live = (dev as unknown as { live: Map<number, { runner: AppRunner }> }).live;
  const [[task, { runner }]] = [...live.entries()];
  const probe = runner.instance.exports.probe as () => number;
  // Between slices no task runs: the import is refused (on the fast path by the core, which
  // knows no task is running; on the JS path by the trampoline) and charges nothing ...
  assert.equal(probe(), -abi.EPERM);
  assert.equal(dev.core.exports.task_take_fuel(task), 0);
  // ... and the core refuses the same call made to it directly.
  assert.equal(dev.core.exports.syscall(task, abi.SYS_GPIO_GET, 0, 0, 0, 0), -abi.EPERM);
  assert.equal(dev.core.exports.task_take_fuel(task), 0);
  // The refused probe did not disturb the app: it runs on.
  assert.equal(dev.step(), true);
  assert.equal(dev.sliceCounts.yielded, 2);
});

test("a loop of fast calls ends its slice by the fuel they are charged, not later", async () => {
  const dev = device();
  await installAndStart(dev, "toggler", app(`${IMPORT.out} ${IMPORT.set}`, `
    (local $h i32) (local $on i32)
    (local.set $h (call $out (i32.const 30) (i32.const 0)))
    (loop $l
      (local.set $on (i32.xor (local.get $on) (i32.const 1)))
      (drop (call $set (local.get $h) (local.get $on)))
      (br $l))
    (i32.const 0)`), { Capabilities: { Gpio: [30] } });
  let writes = 0;
  dev.gpio.observe((pin) => { if (pin === 30) writes++; });
  assert.equal(dev.step(), true);
  assert.equal(dev.sliceCounts.out_of_fuel, 1);
  // Every write is a change the observers hear; the open announces the pin once. A write costs
  // SYSCALL_FUEL + GPIO_WRITE_FUEL and a few instructions, so the slice holds at most this many.
  const most = Math.ceil(abi.SLICE_FUEL / (abi.SYSCALL_FUEL + abi.GPIO_WRITE_FUEL)) + 1;
  assert.ok(writes - 1 <= most && writes - 1 >= most - 5, `${writes - 1} writes in one slice, ${most} at most`);
});

/** Opens input pin 12, then loops on gpio_get forever (flat calls: SYSCALL_FUEL each). */
const getter = () => app(`${IMPORT.in} ${IMPORT.get}`, `
  (local $h i32)
  (local.set $h (call $in (i32.const 12)))
  (loop $l (drop (call $get (local.get $h))) (br $l))
  (i32.const 0)`);

test("a spent wall budget ends a loop of flat fast calls within WALL_CHECK_CALLS calls, reading the clock once per that many", async () => {
  // A wall clock that has always spent the budget: every reading ends the slice.
  let readings = 0;
  const dev = device({ sliceWallBudgetMs: 1, wallClockMs: () => { readings++; return readings * 10; } });
  await installAndStart(dev, "getter", getter(), { Capabilities: { Gpio: [12] } });
  let used = -1;
  dev.onSlice = (s) => { assert.equal(s.reason, "out_of_fuel"); used = s.fuelUsed; };
  assert.equal(dev.step(), true);
  // One reading at the slice's start, one after the open (it costs GPIO_WRITE_FUEL more, so the
  // clock is read at once), which ends the slice: the open's charge and a few instructions.
  assert.equal(readings, 2);
  assert.ok(used >= abi.SYSCALL_FUEL + abi.GPIO_WRITE_FUEL && used < abi.SYSCALL_FUEL + abi.GPIO_WRITE_FUEL + 100, `first slice ${used}`);
  // The next slices are gpio_get only: each ends after exactly WALL_CHECK_CALLS calls, the one
  // reading there (plus the slice's own at its start), well before its fuel would end it.
  for (let i = 0; i < 3; i++) {
    const before: number = readings;
    assert.equal(dev.step(), true);
    assert.equal(readings - before, 2);
    assert.ok(used >= WALL_CHECK_CALLS * abi.SYSCALL_FUEL && used < (WALL_CHECK_CALLS + 1) * abi.SYSCALL_FUEL, `slice ${i}: ${used}`);
  }
});

test("with a wall budget not spent, a loop of flat fast calls runs to its fuel, and reads the clock once per WALL_CHECK_CALLS calls", async () => {
  let readings = 0;
  const dev = device({ sliceWallBudgetMs: 1e9, wallClockMs: () => { readings++; return 0; } });
  await installAndStart(dev, "getter", getter(), { Capabilities: { Gpio: [12] } });
  assert.equal(dev.step(), true); // the open and the first gets
  const before = readings;
  let used = -1;
  dev.onSlice = (s) => { assert.equal(s.reason, "out_of_fuel"); used = s.fuelUsed; };
  assert.equal(dev.step(), true);
  // About SLICE_FUEL / SYSCALL_FUEL calls (a few instructions each besides), read every WALL_CHECK_CALLS.
  const calls = Math.floor(used / abi.SYSCALL_FUEL);
  assert.ok(calls > 900 && calls <= abi.SLICE_FUEL / abi.SYSCALL_FUEL + 1, `${calls} calls`);
  const expected = 1 + Math.floor(calls / WALL_CHECK_CALLS);
  assert.ok(readings - before >= expected - 1 && readings - before <= expected + 1, `${readings - before} readings for ${calls} calls`);
});

test("a closed handle is refused on the fast path: its stale value gets -EBADF and is audited", async () => {
  const dev = device();
  await installAndStart(dev, "closer", app(`${IMPORT.in} ${IMPORT.get} ${IMPORT.exit} (import "applibs" "close" (func $close (param i32) (result i32)))`, `
    (local $h i32)
    (local.set $h (call $in (i32.const 12)))
    (drop (call $get (local.get $h)))
    (drop (call $close (local.get $h)))
    (call $exit (i32.sub (i32.const 0) (call $get (local.get $h))))
    (i32.const 0)`), { Capabilities: { Gpio: [12] } });
  await dev.run({ maxSlices: 1 });
  assert.equal(dev.events.of("app").find((e) => e.app === "closer" && e.what === "exited")?.detail, `code ${abi.EBADF}`);
  assert.deepEqual(dev.audit().filter((a) => a.kind === abi.EV_BAD_HANDLE).map((a) => [a.syscall, a.task >= 0]), [[abi.SYS_GPIO_GET, true]]);
});
