// The scheduler as apps see it: sleeps wake on time, blocking calls suspend only their caller,
// spinning apps share the CPU, priorities order who runs, timers and GPIO waits wake the waiter.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { appFromBytes } from "../../host/apps/package.js";
import { app, blinker, device, exitCodes, IMPORT, installAndStart, manifest, toggles } from "./support.js";

test("a sleeping app wakes on time: blink at 250 ms toggles 8 times in 2 s", async () => {
  const dev = device();
  await installAndStart(dev, "blink", blinker(8, 250), { Capabilities: { Gpio: [8] } });
  await dev.run({ untilMs: 2000 });
  const times = dev.events.of("gpio").filter((e) => e.pin === 8).map((e) => e.timeMs);
  // Opening the pin drives it low at t=0; then a toggle every 250 ms.
  assert.deepEqual(times.slice(0, 9), [0, 0, 250, 500, 750, 1000, 1250, 1500, 1750]);
});

test("a blocking call suspends only its caller", async () => {
  const dev = device();
  await installAndStart(dev, "sleeper", app(`${IMPORT.sleep} ${IMPORT.exit}`, `(drop (call $sleep (i32.const 100000))) (call $exit (i32.const 7)) (i32.const 0)`));
  await installAndStart(dev, "fast", blinker(9, 10), { Capabilities: { Gpio: [9] } });
  await dev.run({ untilMs: 1000 });
  assert.deepEqual(exitCodes(dev, "sleeper"), []);
  assert.ok(toggles(dev, 9) >= 100);
});

test("two spinning apps of one priority share the CPU round robin", async () => {
  const dev = device();
  const spinner = app("", `(loop $spin (br $spin)) (i32.const 0)`);
  await installAndStart(dev, "spin-a", spinner);
  await installAndStart(dev, "spin-b", spinner);
  await dev.run({ maxSlices: 20 });
  assert.equal(dev.sliceCounts.out_of_fuel, 20);
  const order = dev.audit().filter((a) => a.kind === abi.EV_APP_STARTED).map((a) => a.app);
  assert.equal(order.length, 2);
});

test("a higher-priority app that blocks lets a lower-priority one run, and preempts it when it wakes", async () => {
  const dev = device();
  await installAndStart(dev, "urgent", blinker(10, 50), { Capabilities: { Gpio: [10] }, Priority: 1 });
  await installAndStart(dev, "background", app("", `(loop $spin (br $spin)) (i32.const 0)`), { Priority: 6 });
  await dev.run({ untilMs: 1000 });
  assert.ok(toggles(dev, 10) >= 20, `urgent ran every 50 ms despite the spinner (${toggles(dev, 10)})`);
  assert.ok(dev.sliceCounts.out_of_fuel > 0);
});

test("a periodic timer wakes its waiter with the number of expirations", async () => {
  const dev = device();
  await installAndStart(dev, "ticker", app(`${IMPORT.timer} ${IMPORT.wait} ${IMPORT.exit}`, `
    (local $t i32) (local $n i32) (local $total i32)
    (local.set $t (call $timer (i32.const 100)))
    (loop $again
      (local.set $total (i32.add (local.get $total) (call $wait (local.get $t) (i32.const -1))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $n) (i32.const 5))))
    (call $exit (local.get $total))
    (i32.const 0)`));
  await dev.run({ untilMs: 2000 });
  assert.deepEqual(exitCodes(dev, "ticker"), [5]);
  const exited = dev.events.of("app").find((e) => e.what === "exited");
  assert.equal(exited?.timeMs, 500);
});

test("waiting on a GPIO input wakes on the level change and returns the new level", async () => {
  const dev = device();
  await installAndStart(dev, "waiter", app(`${IMPORT.in} ${IMPORT.wait} ${IMPORT.exit}`, `
    (local $b i32)
    (local.set $b (call $in (i32.const 12)))
    (call $exit (i32.add (i32.mul (call $wait (local.get $b) (i32.const -1)) (i32.const 10)) (call $wait (local.get $b) (i32.const 50))))
    (i32.const 0)`), { Capabilities: { Gpio: [12] } });
  await dev.run({ untilMs: 100 });
  assert.deepEqual(exitCodes(dev, "waiter"), []);
  dev.gpio.drive(12, 1);
  await dev.run({ untilMs: 1000 });
  // First wait: level 1 (x10); second wait: nothing changes within 50 ms -> -ETIMEDOUT.
  assert.deepEqual(exitCodes(dev, "waiter"), [10 - abi.ETIMEDOUT]);
});

test("an app's identity and quota are what its manifest says", async () => {
  const dev = device();
  const a = await installAndStart(dev, "q", app(`${IMPORT.quota} ${IMPORT.exit}`, `(call $exit (call $quota)) (i32.const 0)`), { MemoryQuotaKiB: 64 });
  await dev.run({ untilMs: 10 });
  assert.deepEqual(exitCodes(dev, "q"), [65536]);
  assert.equal(a.quotaBytes, 65536);
  assert.match(a.componentId, /^00000000-0000-4000-8000-[0-9a-f]{12}$/);
});

test("returning from main ends the app with its return value, and its RAM goes back to the pool", async () => {
  const dev = device();
  const installed = await dev.install(appFromBytes("ret", manifest("ret"), app("", `(i32.const 42)`)));
  const before = dev.memoryMap().freeBytes;
  dev.start(installed);
  assert.equal(dev.memoryMap().freeBytes, before - abi.DEFAULT_APP_QUOTA_BYTES);
  await dev.run({ untilMs: 10 });
  assert.deepEqual(exitCodes(dev, "ret"), [42]);
  assert.equal(dev.memoryMap().freeBytes, before);
});

test("a manifest asking for more RAM than the device's ceiling is refused at install, naming the field", async () => {
  const dev = device();
  await assert.rejects(dev.install(appFromBytes("greedy", manifest("greedy", { MemoryQuotaKiB: 512 }), app("", `(i32.const 0)`))), (err: Error) => {
    assert.match(err.message, /MemoryQuotaKiB/);
    return true;
  });
  assert.equal(dev.installedApps().length, 0);
});

test("a task that yields is requeued: 300 yields, then it exits", async () => {
  const dev = device();
  await installAndStart(dev, "yielder", app(`${IMPORT.yield} ${IMPORT.exit}`, `
    (local $n i32)
    (loop $again
      (drop (call $yield))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $n) (i32.const 300))))
    (call $exit (local.get $n))
    (i32.const 0)`));
  // A yield makes the task ready again YIELD_DEFER_MS later (DESIGN.md, scheduling), so 300 of
  // them take at most 300 x 16 ms of device time; a yielded task that is not requeued never exits.
  // (Yielding next to spinners is tests/e2e/hostile-starvation.test.ts.)
  await dev.run({ untilMs: 300 * abi.YIELD_DEFER_MS + 1000 });
  assert.deepEqual(exitCodes(dev, "yielder"), [300]);
  assert.equal(dev.sliceCounts.yielded, 300, JSON.stringify(dev.sliceCounts));
});

test("a slice the host never reports puts its task back in the ready queue", async () => {
  const dev = device();
  const a = await installAndStart(dev, "a", app("", `(loop $spin (br $spin)) (i32.const 0)`));
  const e = dev.core.exports;
  const task = e.app_field(a.slot, abi.APP_FIELD_TASK);
  assert.equal(e.sched_next(0), task);
  assert.equal(e.task_state(task), abi.TASK_RUNNING);
  // No sched_report: the next decision must still find the task (as if it had yielded).
  assert.equal(e.sched_next(1), task);
  assert.equal(e.sched_report(task, abi.STOP_YIELDED, 0, 0), 0);
  assert.equal(e.sched_next(2), task);
});

test("a timer counts every expiration that passed while its owner was busy", async () => {
  // 100 ms timer. Sleep 350 ms: the first wait returns 3 (100, 200, 300) at once; the second
  // blocks until 400 and returns 1; sleep 250 ms (to 650): a non-blocking wait returns 2 (500, 600);
  // another non-blocking wait returns -ETIMEDOUT. Exit code: the four results as digits.
  const dev = device();
  await installAndStart(dev, "counter", app(`${IMPORT.timer} ${IMPORT.wait} ${IMPORT.sleep} ${IMPORT.exit}`, `
    (local $t i32) (local $code i32)
    (local.set $t (call $timer (i32.const 100)))
    (drop (call $sleep (i32.const 350)))
    (local.set $code (i32.mul (call $wait (local.get $t) (i32.const -1)) (i32.const 1000)))
    (local.set $code (i32.add (local.get $code) (i32.mul (call $wait (local.get $t) (i32.const -1)) (i32.const 100))))
    (drop (call $sleep (i32.const 250)))
    (local.set $code (i32.add (local.get $code) (i32.mul (call $wait (local.get $t) (i32.const 0)) (i32.const 10))))
    (if (i32.eq (call $wait (local.get $t) (i32.const 0)) (i32.const -${abi.ETIMEDOUT})) (then (local.set $code (i32.add (local.get $code) (i32.const 1)))))
    (call $exit (local.get $code))
    (i32.const 0)`));
  await dev.run({ untilMs: 2000 });
  assert.deepEqual(exitCodes(dev, "counter"), [3121]);
  assert.equal(dev.events.of("app").find((e) => e.what === "exited")?.timeMs, 650);
});

test("a closed timer gives its slot back: 300 timers created and closed one after another", async () => {
  // More than the device's TIMER_SLOTS (64): a leaked slot shows up as -ENFILE within the loop.
  // Exit code: how many were created, or 100000 + the failing round and -errno * 1000.
  const dev = device();
  await installAndStart(dev, "churn", app(`${IMPORT.timer} ${IMPORT.close} ${IMPORT.exit}`, `
    (local $i i32) (local $t i32)
    (loop $again
      (local.set $t (call $timer (i32.const 10)))
      (if (i32.lt_s (local.get $t) (i32.const 0))
        (then (call $exit (i32.add (i32.const 100000) (i32.add (local.get $i) (i32.mul (local.get $t) (i32.const -1000)))))))
      (drop (call $close (local.get $t)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 300))))
    (call $exit (local.get $i))
    (i32.const 0)`));
  await installAndStart(dev, "after", app(`${IMPORT.timer} ${IMPORT.exit}`, `(call $exit (i32.gt_s (call $timer (i32.const 10)) (i32.const 0))) (i32.const 0)`));
  await dev.run({ untilMs: 100 });
  assert.deepEqual(exitCodes(dev, "churn"), [300]);
  assert.deepEqual(exitCodes(dev, "after"), [1], "another app still gets a timer");
});
