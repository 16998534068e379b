// Audit evasion: an app that makes 200 bad handle calls in one slice, next to examples/blink, to
// push its own first denial out of the 128-entry ring before the host reads it. Each app may have
// AUDIT_EVENTS_PER_WINDOW of its denials recorded per window; the rest are counted and reported
// as one line, so the first denials stay and nothing is lost without a count.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { app, device, exitCodes, IMPORT, installAndStart } from "./support.js";
import { assertBlinkOnSchedule, startBlink } from "./witness.js";

/** `count` gpio_set calls on forged handles 0x101, 0x102, ... in one slice, then exit(0). */
function forger(count: number): Uint8Array {
  return app(`${IMPORT.set} ${IMPORT.exit}`, `
    (local $i i32)
    (loop $again
      (drop (call $set (i32.add (i32.const 0x101) (local.get $i)) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const ${count}))))
    (call $exit (i32.const 0))
    (i32.const 0)`);
}

test("200 bad handles in one slice cannot erase the app's first denial; the rest are counted", async () => {
  const dev = device();
  const times = await startBlink(dev);
  await installAndStart(dev, "forger", forger(200));
  await dev.run({ untilMs: 1100 });
  assertBlinkOnSchedule(times, 1100, 1);
  assert.deepEqual(exitCodes(dev, "forger"), [0]);
  assert.equal(dev.sliceCounts.out_of_fuel, 0, "all 200 calls were in one slice");
  const lines = dev.events.of("audit").filter((e) => e.app === "forger").map((e) => e.text);
  const first = `forger: gpio_set on handle ${0x101} refused with EBADF (forged, closed or not its own)`;
  assert.deepEqual(lines, [
    "forger: started",
    ...Array.from({ length: abi.AUDIT_EVENTS_PER_WINDOW }, (_, i) => `forger: gpio_set on handle ${0x101 + i} refused with EBADF (forged, closed or not its own)`),
    "forger: exited with code 0",
    `forger: ${200 - abi.AUDIT_EVENTS_PER_WINDOW} more denials not recorded (rate limit)`,
  ]);
  assert.equal(lines[1], first);
});

test("the count is reported when the window ends, and the next window records denials again", async () => {
  const dev = device();
  // 40 bad handles, a 1.5 s sleep, 40 more, then exit.
  await installAndStart(dev, "again", app(`${IMPORT.set} ${IMPORT.sleep} ${IMPORT.exit}`, `
    (local $i i32)
    (loop $a (drop (call $set (i32.const 0x101) (i32.const 1))) (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $a (i32.lt_u (local.get $i) (i32.const 40))))
    (drop (call $sleep (i32.const 1500)))
    (local.set $i (i32.const 0))
    (loop $b (drop (call $set (i32.const 0x102) (i32.const 1))) (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $b (i32.lt_u (local.get $i) (i32.const 40))))
    (call $exit (i32.const 0))
    (i32.const 0)`));
  await dev.run({ untilMs: 2000 });
  const entries = dev.audit().filter((a) => a.kind === abi.EV_BAD_HANDLE || a.kind === abi.EV_AUDIT_DROPPED).map((a) => [a.kind, a.arg]);
  const bad = (h: number) => Array(abi.AUDIT_EVENTS_PER_WINDOW).fill([abi.EV_BAD_HANDLE, h]);
  assert.deepEqual(entries, [
    ...bad(0x101),
    [abi.EV_AUDIT_DROPPED, 40 - abi.AUDIT_EVENTS_PER_WINDOW], // at the first denial of the next window
    ...bad(0x102),
    [abi.EV_AUDIT_DROPPED, 40 - abi.AUDIT_EVENTS_PER_WINDOW], // when the app ended
  ]);
});
