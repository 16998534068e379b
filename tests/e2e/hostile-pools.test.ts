// Shared pools: apps that take every timer they can, next to examples/blink and a late app that
// needs a few. Each app holds at most a quarter of a pool, and each installed app is kept its
// floor (pool / MAX_APPS), so the hogs cannot empty the pool; a refusal names the limit hit.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { appFromBytes } from "../../host/apps/package.js";
import { app, device, exitCodes, IMPORT, installAndStart, manifest } from "./support.js";
import { assertBlinkOnSchedule, startBlink } from "./witness.js";

/** Creates timers until one is refused (or `max` were made), then sleeps `sleepMs` and exits with how many it got. */
function timerHog(max: number, sleepMs: number): Uint8Array {
  return app(`${IMPORT.timer} ${IMPORT.sleep} ${IMPORT.exit}`, `
    (local $n i32)
    (block $refused
      (loop $more
        (br_if $refused (i32.lt_s (call $timer (i32.const 1000)) (i32.const 0)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br_if $more (i32.lt_u (local.get $n) (i32.const ${max})))))
    (drop (call $sleep (i32.const ${sleepMs})))
    (call $exit (local.get $n))
    (i32.const 0)`);
}

test("four timer hogs cannot empty the 256 timers: a later app still gets its share, blink keeps time", async () => {
  const dev = device();
  const times = await startBlink(dev);
  // Installed up front, so its floor is kept for it; it starts asking only at 500 ms.
  const late = await dev.install(appFromBytes("late", manifest("late"),
    app(`${IMPORT.timer} ${IMPORT.sleep} ${IMPORT.exit}`, `
      (local $n i32)
      (drop (call $sleep (i32.const 500)))
      (block $refused
        (loop $more
          (br_if $refused (i32.lt_s (call $timer (i32.const 1000)) (i32.const 0)))
          (local.set $n (i32.add (local.get $n) (i32.const 1)))
          (br_if $more (i32.lt_u (local.get $n) (i32.const 64)))))
      (call $exit (local.get $n))
      (i32.const 0)`)));
  for (let i = 1; i <= 4; i++) await installAndStart(dev, `hog${i}`, timerHog(abi.MAX_TIMERS, 2000));
  dev.start(late);
  await dev.run({ untilMs: 1100 });
  assertBlinkOnSchedule(times, 1100, 1);
  await dev.run({ untilMs: 2100 });
  // hog1..3 stop at the per-app cap (256 / 4); hog4 at the floors kept for blink and late
  // (2 x 256 / 64 = 8 of the 64 left); late gets exactly its floor.
  assert.deepEqual(["hog1", "hog2", "hog3", "hog4", "late"].map((n) => exitCodes(dev, n)[0]), [64, 64, 64, 56, 4]);
  const refusals = dev.events.of("audit").filter((e) => e.app === "hog1" && / refused /.test(e.text)).map((e) => e.text);
  assert.deepEqual(refusals, [
    "hog1: timer_create refused with ENFILE: its share of the device's 256 timers is used up (64 at most per app, 4 kept for each other installed app)",
  ]);
  const limits = dev.audit().filter((a) => a.kind === abi.EV_LIMIT);
  assert.deepEqual(limits.map((a) => [a.syscall, a.arg, a.result]), Array(5).fill([abi.SYS_TIMER_CREATE, abi.LIMIT_APP_TIMERS, -abi.ENFILE]));
});

test("an app's timers go back to its share when it exits: started again, it gets as many", async () => {
  const dev = device();
  const hog = await installAndStart(dev, "hog", timerHog(abi.MAX_TIMERS, 10));
  await dev.run({ untilMs: 100 });
  dev.start(hog);
  await dev.run({ untilMs: 200 });
  assert.deepEqual(exitCodes(dev, "hog"), [64, 64]);
});

test("one task's 129th handle is refused with EMFILE, naming the per-task limit", async () => {
  const dev = device();
  const pins = Array.from({ length: 76 }, (_, i) => 20 + i);
  // 64 timers (its app's cap of the timer pool), then pins until a handle is refused.
  await installAndStart(dev, "opener", app(`${IMPORT.timer} ${IMPORT.out} ${IMPORT.exit}`, `
    (local $pin i32) (local $h i32) (local $n i32)
    (loop $timers
      (drop (call $timer (i32.const 1000)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $timers (i32.lt_u (local.get $n) (i32.const 64))))
    (local.set $pin (i32.const 20))
    (block $refused
      (loop $more
        (local.set $h (call $out (local.get $pin) (i32.const 0)))
        (br_if $refused (i32.lt_s (local.get $h) (i32.const 0)))
        (local.set $pin (i32.add (local.get $pin) (i32.const 1)))
        (br_if $more (i32.lt_u (local.get $pin) (i32.const 96)))))
    (call $exit (i32.add (i32.mul (i32.sub (local.get $pin) (i32.const 20)) (i32.const 1000)) (i32.sub (i32.const 0) (local.get $h))))
    (i32.const 0)`), { Capabilities: { Gpio: pins } });
  await dev.run({ untilMs: 100 });
  assert.deepEqual(exitCodes(dev, "opener"), [(abi.HANDLES_PER_TASK_MAX - 64) * 1000 + abi.EMFILE]);
  const texts = dev.events.of("audit").filter((e) => e.app === "opener" && / refused /.test(e.text)).map((e) => e.text);
  assert.deepEqual(texts, ["opener: gpio_open_output refused with EMFILE: it holds 128 handles, the most one task may hold"]);
});
