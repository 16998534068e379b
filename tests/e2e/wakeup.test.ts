// Fair wake-ups: a task that wakes from a sleep, a wait or an input event runs within one slice,
// whatever the number of spinning apps; and an app that wakes and blocks in a loop gets no more
// turns than a spinner of its priority (DESIGN.md, "Scheduling": wake credit).
// All on the virtual clock, where a full slice of compute is SLICE_FUEL / 10 million ms.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { VIRTUAL_FUEL_PER_MS } from "../../host/peripherals/clock.js";
import type { Device } from "../../host/device.js";
import { app, blinker, device, IMPORT, installAndStart } from "./support.js";

const SLICE_MS = abi.SLICE_FUEL / VIRTUAL_FUEL_PER_MS;
const SPIN = app("", `(loop $spin (br $spin)) (i32.const 0)`);
const SLICE_KILO = abi.SLICE_FUEL / 1000;
const SMALL = { MemoryQuotaKiB: 64 };

/**
 * Each wake's lateness: the write after a sleep happens in the slice the sleeper woke in, and the
 * sleep that follows starts at that same device time (a slice's time is charged when it ends), so
 * wake k is due at write k-1's time + sleepMs.
 */
function latenessMs(dev: Device, pin: number, sleepMs: number): number[] {
  const writes = dev.events.of("gpio").filter((e) => e.pin === pin && e.source === "core").map((e) => e.timeMs).slice(1);
  const out: number[] = [];
  for (let k = 1; k < writes.length; k++) out.push(writes[k] - writes[k - 1] - sleepMs);
  return out;
}

async function worstLateness(spinners: number): Promise<{ worst: number; wakes: number }> {
  const dev = device();
  await installAndStart(dev, "sleeper", blinker(8, 10), { ...SMALL, Capabilities: { Gpio: [8] } });
  for (let i = 0; i < spinners; i++) await installAndStart(dev, `spin${i}`, SPIN, SMALL);
  await dev.run({ untilMs: 500 });
  const late = latenessMs(dev, 8, 10);
  return { worst: Math.max(...late), wakes: late.length };
}

for (const spinners of [1, 4, 12]) {
  test(`a sleeper next to ${spinners} spinning app(s) wakes within one slice`, async () => {
    const { worst, wakes } = await worstLateness(spinners);
    console.log(`wake-up lateness, ${spinners} spinners: worst ${worst.toFixed(4)} ms over ${wakes} wakes`);
    assert.ok(wakes >= 45, `the sleeper woke ${wakes} times in 500 ms`);
    assert.ok(worst >= 0 && worst <= SLICE_MS + 1e-9, `worst lateness ${worst} ms; one slice is ${SLICE_MS} ms`);
  });
}

/** Runs `adversary` next to 4 spinners for one device second; the fuel each used, in kilo-units. */
async function shareOf(adversary: Uint8Array): Promise<{ adversary: number; spinners: number[] }> {
  const dev = device();
  const adv = await installAndStart(dev, "adversary", adversary, SMALL);
  const spinners = [];
  for (let i = 0; i < 4; i++) spinners.push(await installAndStart(dev, `spin${i}`, SPIN, SMALL));
  await dev.run({ untilMs: 1000 });
  const kilo = (slot: number) => dev.core.exports.app_field(slot, abi.APP_FIELD_FUEL_KILO);
  return { adversary: kilo(adv.slot), spinners: spinners.map((s) => kilo(s.slot)) };
}

/** `$burst` counts a local down from `n`: compute between two blocking calls. */
const BURST = (n: number) => `(local.set $i (i32.const ${n})) (loop $b (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $b (local.get $i)))`;

const ADVERSARIES: Record<string, Uint8Array> = {
  "sleeps 0 ms in a loop": app(IMPORT.sleep, `(loop $again (drop (call $sleep (i32.const 0))) (br $again)) (i32.const 0)`),
  "sleeps 1 ms in a loop": app(IMPORT.sleep, `(loop $again (drop (call $sleep (i32.const 1))) (br $again)) (i32.const 0)`),
  "computes, then sleeps 1 ms, in a loop": app(IMPORT.sleep, `(local $i i32) (loop $again ${BURST(300000)} (drop (call $sleep (i32.const 1))) (br $again)) (i32.const 0)`),
  "computes, then waits on a 1 ms timer, in a loop": app(`${IMPORT.timer} ${IMPORT.wait}`, `(local $i i32) (local $t i32) (local.set $t (call $timer (i32.const 1)))
    (loop $again ${BURST(300000)} (drop (call $wait (local.get $t) (i32.const -1))) (br $again)) (i32.const 0)`),
  "computes, then polls a 1 ms timer without blocking, in a loop": app(`${IMPORT.timer} ${IMPORT.wait}`, `(local $i i32) (local $t i32) (local.set $t (call $timer (i32.const 1)))
    (loop $again ${BURST(1000)} (drop (call $wait (local.get $t) (i32.const 0))) (br $again)) (i32.const 0)`),
};

for (const [what, adversary] of Object.entries(ADVERSARIES)) {
  test(`an app that ${what} gets no more CPU than a spinner next to it`, async () => {
    const share = await shareOf(adversary);
    // Five apps, one device second: a spinner's share is a fifth; the adversary may be one slice
    // ahead of the spinners at the moment the run stops (it started first), never more.
    const most = Math.max(...share.spinners);
    assert.ok(Math.min(...share.spinners) >= most - SLICE_KILO, `the spinners shared evenly: ${share.spinners.join(", ")}`);
    assert.ok(share.adversary <= most + SLICE_KILO, `the adversary used ${share.adversary} kilo-fuel; a spinner ${most}`);
  });
}

test("an app waiting on an input runs at the next decision after the event, next to 12 spinners", async () => {
  const dev = device();
  await installAndStart(dev, "waiter", app(`${IMPORT.in} ${IMPORT.out} ${IMPORT.set} ${IMPORT.wait}`, `
    (local $b i32) (local $led i32)
    (local.set $b (call $in (i32.const 12)))
    (local.set $led (call $out (i32.const 8) (i32.const 0)))
    (loop $forever
      (drop (call $set (local.get $led) (call $wait (local.get $b) (i32.const -1))))
      (br $forever))
    (i32.const 0)`), { ...SMALL, Capabilities: { Gpio: [8, 12] } });
  for (let i = 0; i < 12; i++) await installAndStart(dev, `spin${i}`, SPIN, SMALL);
  const reactions: number[] = [];
  for (const [atMs, level] of [[100, 1], [150, 0], [233, 1]]) {
    await dev.run({ untilMs: atMs });
    const pressedMs = dev.clock.nowMs();
    dev.gpio.drive(12, level);
    await dev.run({ untilMs: atMs + 5 });
    const led = dev.events.of("gpio").filter((e) => e.pin === 8 && e.source === "core" && e.level === level && e.timeMs >= pressedMs);
    assert.ok(led.length > 0, `the waiter answered the change at ${pressedMs} ms`);
    reactions.push(led[0].timeMs - pressedMs);
  }
  // The event comes between two slices: the waiter's is the very next one.
  assert.deepEqual(reactions, [0, 0, 0]);
});
