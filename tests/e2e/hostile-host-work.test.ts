// Host work: syscalls that make the host do something (log, gpio_set, args_get) in a loop, next
// to examples/blink. Each call is charged fuel for what it costs, log lines are rate-limited per
// app with the count of what was dropped reported as one line, GPIO observers hear only of
// changes, and a slice ends when its wall budget is spent.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { app, device, exitCodes, IMPORT, installAndStart } from "./support.js";
import { WALL_CHECK_CALLS } from "../../host/apps/protocol.js";
import { assertBlinkOnSchedule, startBlink } from "./witness.js";

const ARGS_GET = `(import "applibs" "args_get" (func $args (param i32 i32) (result i32)))`;
const CLOCK = `(import "applibs" "clock_ms" (func $clock (result i32)))`;

/** A loop of `count` iterations of `call` (WAT), then exit(0). */
function loopOf(imports: string, count: number, call: string, prologue = ""): Uint8Array {
  return app(`${imports} ${IMPORT.exit}`, `
    (local $i i32) (local $h i32)
    ${prologue}
    (loop $again
      ${call}
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const ${count}))))
    (call $exit (i32.const 0))
    (i32.const 0)`, `(data (i32.const 8192) "flood flood flood flood")`);
}

const fuelKiloOf = (dev: ReturnType<typeof device>, name: string) =>
  dev.core.exports.app_field(dev.installedApps().find((a) => a.name === name)!.slot, abi.APP_FIELD_FUEL_KILO);

test("a log flood is rate-limited per app, and what was dropped is counted in one line", async () => {
  const dev = device();
  const times = await startBlink(dev);
  const CALLS = 200_000;
  await installAndStart(dev, "flood", loopOf(IMPORT.log, CALLS, `(drop (call $log (i32.const 8192) (i32.const 23)))`));
  await dev.run({ untilMs: 1100 });
  assertBlinkOnSchedule(times, 1100, 1);
  assert.deepEqual(exitCodes(dev, "flood"), [0]);
  // The 200,000 calls take a few ms of device time, within one window: LOG_LINES_PER_WINDOW lines
  // are written, and the rest is reported, counted to the line, when the app ends.
  const written = dev.events.of("log").filter((e) => e.app === "flood");
  assert.equal(written.length, abi.LOG_LINES_PER_WINDOW);
  assert.equal(written[0].text, "flood flood flood flood");
  const reports = dev.events.of("audit").filter((e) => e.app === "flood" && /dropped/.test(e.text)).map((e) => e.text);
  assert.deepEqual(reports, ["flood: 199,936 log lines dropped (rate limit)"]);
  // The lines cost fuel: the written ones their line and bytes, the dropped ones a call each.
  const kilo = fuelKiloOf(dev, "flood");
  const lines = abi.LOG_LINES_PER_WINDOW * (abi.LOG_LINE_FUEL + 23 * abi.LOG_BYTE_FUEL);
  assert.ok(kilo >= (CALLS * abi.SYSCALL_FUEL + lines) / 1000 && kilo < (CALLS * (abi.SYSCALL_FUEL + 20) + lines) / 1000, `fuel charged: ${kilo} k`);
});

test("an app that logs past its rate in every window has one count reported per window", async () => {
  const dev = device();
  // 100 lines every 400 ms: 64 pass in each 1000 ms window, the others are counted.
  await installAndStart(dev, "chatty", app(`${IMPORT.log} ${IMPORT.sleep}`, `
    (local $i i32)
    (loop $burst
      (local.set $i (i32.const 0))
      (loop $line
        (drop (call $log (i32.const 8192) (i32.const 5)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $line (i32.lt_u (local.get $i) (i32.const 100))))
      (drop (call $sleep (i32.const 400)))
      (br $burst))
    (i32.const 0)`, `(data (i32.const 8192) "chat!")`));
  await dev.run({ untilMs: 2500 });
  // Bursts at 0, 400, 800 | 1200, 1600, 2000 | 2400: windows start at the first line after the
  // last one ended, at 0, 1200 and 2400; each count is reported when its window is over.
  const reports = dev.events.of("audit").filter((e) => e.app === "chatty" && /dropped/.test(e.text)).map((e) => [Math.round(e.timeMs), e.text]);
  assert.deepEqual(reports, [
    [1200, "chatty: 236 log lines dropped (rate limit)"],
    [2400, "chatty: 236 log lines dropped (rate limit)"],
  ]);
  assert.equal(dev.events.of("log").filter((e) => e.app === "chatty").length, 3 * abi.LOG_LINES_PER_WINDOW);
});

test("gpio_set in a loop is charged per call and the GPIO observers hear only the one change", async () => {
  const dev = device();
  const times = await startBlink(dev);
  const CALLS = 100_000;
  await installAndStart(dev, "setter", loopOf(`${IMPORT.out} ${IMPORT.set}`, CALLS, `(drop (call $set (local.get $h) (i32.const 1)))`,
    `(local.set $h (call $out (i32.const 30) (i32.const 0)))`), { Capabilities: { Gpio: [30] } });
  let observed = 0;
  dev.gpio.observe((pin) => { if (pin === 30) observed++; });
  await dev.run({ untilMs: 1100 });
  assertBlinkOnSchedule(times, 1100, 1);
  assert.deepEqual(exitCodes(dev, "setter"), [0]);
  // Opened low (announced), set high once (a change), 99,999 writes of the same level (silent),
  // then released low when it exited (a change).
  assert.equal(observed, 3);
  // The call and the GPIO write, each time (and a few instructions of loop).
  const kilo = fuelKiloOf(dev, "setter");
  const perCall = abi.SYSCALL_FUEL + abi.GPIO_WRITE_FUEL;
  assert.ok(kilo >= CALLS * perCall / 1000 && kilo < CALLS * (perCall + 20) / 1000, `charged ${kilo} k fuel`);
});

test("args_get is charged by the bytes it copies", async () => {
  const dev = device();
  const CALLS = 10_000;
  const args = ["x".repeat(200), "y".repeat(200)]; // 402 bytes with their NULs
  await installAndStart(dev, "args", loopOf(ARGS_GET, CALLS, `(drop (call $args (i32.const 9216) (i32.const 512)))`), { CmdArgs: args });
  await dev.run({ untilMs: 100 });
  assert.deepEqual(exitCodes(dev, "args"), [0]);
  const kilo = fuelKiloOf(dev, "args");
  const perCall = abi.SYSCALL_FUEL + 402 * abi.COPY_BYTE_FUEL;
  assert.ok(kilo >= CALLS * perCall / 1000 && kilo < CALLS * (perCall + 20) / 1000, `charged ${kilo} k fuel, ${perCall} a call expected`);
});

test("a slice ends when its wall budget is spent, even with fuel left", async () => {
  let wallMs = 0;
  // Each reading of the wall clock moves it 1 ms: the slice start, then one after every
  // WALL_CHECK_CALLS-th flat call (host/apps/instrument-gates.ts).
  const dev = device({ sliceWallBudgetMs: 10, wallClockMs: () => wallMs++ });
  await installAndStart(dev, "slow", app(CLOCK, `(loop $again (drop (call $clock)) (br $again)) (i32.const 0)`));
  await dev.run({ maxSlices: 5 });
  assert.equal(dev.sliceCounts.out_of_fuel, 5);
  // 10 readings after calls a slice: 5 slices took 55 readings (one at each start, ten after calls).
  assert.equal(wallMs, 55);
  // Charged what it ran (10 x WALL_CHECK_CALLS calls a slice), not five whole slices of fuel.
  const calls = 5 * 10 * WALL_CHECK_CALLS;
  const kilo = fuelKiloOf(dev, "slow");
  assert.ok(kilo >= calls * abi.SYSCALL_FUEL / 1000 && kilo < calls * (abi.SYSCALL_FUEL + 20) / 1000, `charged ${kilo} k fuel`);
});
