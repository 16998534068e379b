// The event loop on whole devices: an input change or a timer expiration that comes while its app
// is busy is kept (latches), wait_any waits on several handles with a timeout and refuses handles
// that are not the caller's, a blocked app holds up no other, the SDK's eventLoop runs an app's
// callbacks, and an idle real-clock device runs a waiter as soon as an input changes (no poll).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as abi from "../../assembly/abi.js";
import { buildApp, REPO_ROOT } from "../../host/apps/build.js";
import { appFromBytes } from "../../host/apps/package.js";
import { Device } from "../../host/device.js";
import type { Clock } from "../../host/peripherals/clock.js";
import { app, assertBlinkSchedule, blinker, device, exitCodes, IMPORT, installAndStart, manifest } from "./support.js";

const GPIO_12 = { Capabilities: { Gpio: [12] } };
/** Where the apps below keep their wait_any arrays: past the runtime's low 8 KiB. */
const LIST = 12288;
const store = (i: number, local: string) => `(i32.store (i32.const ${LIST + 4 * i}) (local.get ${local}))`;
const exitedAt = (dev: Device, name: string) => dev.events.of("app").filter((e) => e.app === name && e.what === "exited").map((e) => e.timeMs);

test("a press and a release while the app sleeps are two edges: its waits return 1, then 0, then time out", async () => {
  const dev = device();
  await installAndStart(dev, "late", app(`${IMPORT.in} ${IMPORT.wait} ${IMPORT.sleep} ${IMPORT.exit}`, `
    (local $b i32) (local $w1 i32) (local $w2 i32) (local $w3 i32)
    (local.set $b (call $in (i32.const 12)))
    (drop (call $sleep (i32.const 100)))
    (local.set $w1 (call $wait (local.get $b) (i32.const 0)))
    (local.set $w2 (call $wait (local.get $b) (i32.const 0)))
    (local.set $w3 (call $wait (local.get $b) (i32.const 0)))
    (call $exit (i32.add (i32.add (i32.mul (local.get $w1) (i32.const 100)) (i32.mul (local.get $w2) (i32.const 10)))
      (i32.eq (local.get $w3) (i32.const -${abi.ETIMEDOUT}))))
    (i32.const 0)`), GPIO_12);
  await dev.run({ untilMs: 20 });
  dev.gpio.drive(12, 1);
  await dev.run({ untilMs: 30 });
  dev.gpio.drive(12, 0);
  await dev.run({ untilMs: 200 });
  assert.deepEqual(exitCodes(dev, "late"), [101]);
});

test("wait_any wakes on whichever of a timer and an input comes first, and keeps the other's events", async () => {
  const dev = device();
  await installAndStart(dev, "loop", app(`${IMPORT.in} ${IMPORT.timer} ${IMPORT.wait} ${IMPORT.waitAny} ${IMPORT.exit}`, `
    (local $t i32) (local $b i32) (local $m i32) (local $n i32) (local $code i32)
    (local.set $t (call $timer (i32.const 30)))
    (local.set $b (call $in (i32.const 12)))
    ${store(0, "$t")} ${store(1, "$b")}
    (loop $again
      (local.set $m (call $waitAny (i32.const ${LIST}) (i32.const 2) (i32.const 1000)))
      (if (i32.and (local.get $m) (i32.const 1)) (then (drop (call $wait (local.get $t) (i32.const 0)))))
      (if (i32.and (local.get $m) (i32.const 2)) (then (drop (call $wait (local.get $b) (i32.const 0)))))
      (local.set $code (i32.add (i32.mul (local.get $code) (i32.const 4)) (local.get $m)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $n) (i32.const 4))))
    (call $exit (local.get $code))
    (i32.const 0)`), GPIO_12);
  await dev.run({ untilMs: 10 });
  dev.gpio.drive(12, 1);
  await dev.run({ untilMs: 45 });
  dev.gpio.drive(12, 0);
  await dev.run({ untilMs: 200 });
  // Masks in order: input (10 ms), timer (30), input (45), timer (60): 2, 1, 2, 1 in base 4.
  assert.deepEqual(exitCodes(dev, "loop"), [2 * 64 + 1 * 16 + 2 * 4 + 1]);
  assert.deepEqual(exitedAt(dev, "loop"), [60]);
});

test("wait_any times out at exactly its timeout", async () => {
  const dev = device();
  await installAndStart(dev, "patient", app(`${IMPORT.in} ${IMPORT.waitAny} ${IMPORT.exit}`, `
    (local $b i32)
    (local.set $b (call $in (i32.const 12)))
    ${store(0, "$b")}
    (call $exit (call $waitAny (i32.const ${LIST}) (i32.const 1) (i32.const 75)))
    (i32.const 0)`), GPIO_12);
  await dev.run({ untilMs: 500 });
  assert.deepEqual(exitCodes(dev, "patient"), [-abi.ETIMEDOUT]);
  assert.deepEqual(exitedAt(dev, "patient"), [75]);
});

test("wait_any refuses a forged, a closed and another app's handle with EBADF, audited, and the owner's wait goes on", async () => {
  const dev = device();
  // The owner's input is the device's first handle: row 2 (the table's search starts past row 1),
  // generation 1; the owner exits 99 if it is not, so the thief below steals the right value.
  const theirs = 2 | (1 << abi.HANDLE_INDEX_BITS);
  await installAndStart(dev, "owner", app(`${IMPORT.in} ${IMPORT.wait} ${IMPORT.exit}`, `
    (local $b i32)
    (local.set $b (call $in (i32.const 12)))
    (if (i32.ne (local.get $b) (i32.const ${theirs})) (then (call $exit (i32.const 99))))
    (call $exit (call $wait (local.get $b) (i32.const -1)))
    (i32.const 0)`), GPIO_12);
  await installAndStart(dev, "thief", app(`${IMPORT.in} ${IMPORT.timer} ${IMPORT.close} ${IMPORT.waitAny} ${IMPORT.exit}`, `
    (local $b i32) (local $closed i32) (local $forged i32) (local $ok i32)
    (local.set $b (call $in (i32.const 13)))
    (local.set $closed (call $timer (i32.const 10)))
    (drop (call $close (local.get $closed)))
    (local.set $forged (i32.add (local.get $b) (i32.const ${1 << abi.HANDLE_INDEX_BITS})))
    ${store(0, "$b")}
    (i32.store (i32.const ${LIST + 4}) (i32.const ${theirs}))
    (local.set $ok (i32.eq (call $waitAny (i32.const ${LIST}) (i32.const 2) (i32.const -1)) (i32.const -${abi.EBADF})))
    ${store(1, "$closed")}
    (local.set $ok (i32.add (local.get $ok) (i32.eq (call $waitAny (i32.const ${LIST}) (i32.const 2) (i32.const -1)) (i32.const -${abi.EBADF}))))
    ${store(1, "$forged")}
    (local.set $ok (i32.add (local.get $ok) (i32.eq (call $waitAny (i32.const ${LIST}) (i32.const 2) (i32.const -1)) (i32.const -${abi.EBADF}))))
    (call $exit (local.get $ok))
    (i32.const 0)`), { Capabilities: { Gpio: [13] } });
  await dev.run({ untilMs: 50 });
  assert.deepEqual(exitCodes(dev, "thief"), [3]);
  const refusals = dev.events.of("audit").filter((e) => e.app === "thief" && e.entry?.kind === abi.EV_BAD_HANDLE).map((e) => e.text);
  assert.equal(refusals.length, 3);
  assert.match(refusals[0], new RegExp(`^thief: wait_any on handle ${theirs} refused with EBADF`));
  assert.match(refusals[1], /^thief: wait_any on handle \d+ refused with EBADF \(forged, closed or not its own\)$/);
  assert.match(refusals[2], /^thief: wait_any on handle \d+ refused with EBADF/);
  assert.deepEqual(exitCodes(dev, "owner"), []);
  dev.gpio.drive(12, 1);
  await dev.run({ untilMs: 100 });
  assert.deepEqual(exitCodes(dev, "owner"), [1]);
});

test("an app blocked in wait_any holds up no other: a blinker beside it keeps its schedule", async () => {
  const dev = device();
  // The blinker first: its schedule then starts at 0, whatever the other's first slice costs.
  await installAndStart(dev, "blink", blinker(8, 50), { Capabilities: { Gpio: [8] } });
  await installAndStart(dev, "blocked", app(`${IMPORT.in} ${IMPORT.timer} ${IMPORT.waitAny}`, `
    (local $b i32) (local $t i32)
    (local.set $b (call $in (i32.const 12)))
    (local.set $t (call $timer (i32.const 100000)))
    ${store(0, "$b")} ${store(1, "$t")}
    (drop (call $waitAny (i32.const ${LIST}) (i32.const 2) (i32.const -1)))
    (unreachable)`), GPIO_12);
  await dev.run({ untilMs: 500 });
  assertBlinkSchedule(dev, 8, 50, 500);
  assert.equal(dev.sliceCounts.trapped, 0);
});

test("an app stopped while blocked in wait_any leaves nothing armed", async () => {
  const dev = device();
  const waiter = await installAndStart(dev, "waiter", app(`${IMPORT.in} ${IMPORT.timer} ${IMPORT.waitAny}`, `
    (local $b i32) (local $t i32)
    (local.set $b (call $in (i32.const 12)))
    (local.set $t (call $timer (i32.const 40)))
    ${store(0, "$b")} ${store(1, "$t")}
    (drop (call $waitAny (i32.const ${LIST}) (i32.const 2) (i32.const 1000)))
    (unreachable)`), GPIO_12);
  await dev.run({ untilMs: 10 });
  assert.equal(dev.core.exports.sched_next_deadline_ms(), 40);
  dev.stop(waiter);
  assert.equal(dev.core.exports.sched_next_deadline_ms(), -1);
  dev.gpio.drive(12, 1);
  await dev.run({ untilMs: 2000 });
  assert.equal(dev.sliceCounts.trapped, 0);
  assert.deepEqual(dev.events.of("app").filter((e) => e.app === "waiter").map((e) => e.what), ["installed", "started", "stopped"]);
});

test("the SDK's eventLoop runs the callbacks of a timer and a button, every change in order, until one stops it", async () => {
  const wasm = await buildApp(join(REPO_ROOT, "tests/apps/evloop/main.ts"), (p) => { try { return readFileSync(p, "utf8"); } catch { return null; } });
  const dev = device();
  await dev.install(appFromBytes("evloop", manifest("evloop", { Capabilities: { Gpio: [9, 12] } }), wasm)).then((a) => dev.start(a));
  await dev.run({ untilMs: 150 });
  // A press and a release between two of its slices: both callbacks, in order.
  dev.gpio.drive(12, 1);
  dev.gpio.drive(12, 0);
  await dev.run({ untilMs: 250 });
  dev.gpio.drive(12, 1);
  await dev.run({ untilMs: 260 });
  dev.gpio.drive(12, 0);
  await dev.run({ untilMs: 1000 });
  assert.deepEqual(dev.events.of("log").map((e) => e.text), [
    "tick 1", "pressed", "released", "tick 2", "pressed", "released", "tick 3", "tick 4", "tick 5", "done: 2 presses", "run returned 0",
  ]);
  assert.deepEqual(exitCodes(dev, "evloop"), [0]);
  assert.deepEqual(exitedAt(dev, "evloop"), [500]);
  assert.deepEqual(dev.events.of("gpio").filter((e) => e.pin === 9 && e.source === "core").map((e) => e.level), [0, 1, 0, 1, 0]);
});

/** A real (not virtual) clock whose time stands still and whose waits end only when woken. */
class StillClock implements Clock {
  readonly virtual = false;
  waits = 0;
  nowMs(): number { return 0; }
  waitUntil(_deadlineMs: number, woken?: Promise<void>): Promise<void> {
    this.waits++;
    return woken ?? new Promise(() => {});
  }
}

const settle = async () => { for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r)); };

test("an idle real-clock device runs a waiter as soon as an input changes: the change ends its idle wait", async () => {
  const clock = new StillClock();
  const dev = new Device({ clock });
  await installAndStart(dev, "waiter", app(`${IMPORT.in} ${IMPORT.wait} ${IMPORT.exit}`, `
    (local $b i32)
    (local.set $b (call $in (i32.const 12)))
    (call $exit (i32.add (i32.const 40) (call $wait (local.get $b) (i32.const -1))))
    (i32.const 0)`), GPIO_12);
  const stop = new AbortController();
  const running = dev.run({ signal: stop.signal });
  await settle();
  // Blocked, and the device idle: one wait on the clock, which never ends by itself.
  assert.deepEqual(exitCodes(dev, "waiter"), []);
  assert.equal(clock.waits, 1);
  dev.gpio.drive(12, 1);
  await settle();
  assert.deepEqual(exitCodes(dev, "waiter"), [41]);
  assert.equal(clock.waits, 2);
  stop.abort();
  await running;
});
