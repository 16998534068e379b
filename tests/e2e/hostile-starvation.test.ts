// Starvation by priority: an app that claims the best priority and spins, or one that only
// yields, next to examples/blink. Aging bounds how long blink waits; a yield puts the yielder
// behind every other ready task. blink must keep its 500 ms schedule in device time.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { VirtualClock } from "../../host/peripherals/clock.js";
import { app, device, IMPORT, installAndStart } from "./support.js";
import { assertBlinkOnSchedule, startBlink } from "./witness.js";

/** A virtual clock on which every slice takes at least `minSliceMs`, so a yield loop covers a second in few slices. */
class CoarseClock extends VirtualClock {
  constructor(private readonly minSliceMs: number) { super(); }
  override chargeFuel(fuel: number): void { this.advance(Math.max(this.minSliceMs, fuel / 10_000_000)); }
}

// One full slice of compute in device time (SLICE_FUEL at 10 million units a virtual ms), plus
// the rounding of the aging steps.
const SLICE_MS = abi.SLICE_FUEL / 10_000_000;

test("a spinner at Priority 0 does not stop blink: aging runs blink within 4 aging steps", async () => {
  const dev = device();
  const times = await startBlink(dev);
  await installAndStart(dev, "spinner", app("", `(loop $spin (br $spin)) (i32.const 0)`), { Priority: 0 });
  await dev.run({ untilMs: 1100 });
  // blink (priority 4) ages one level per AGING_STEP_MS: level 0 after 4 steps, then it is the
  // one ready longest.
  assertBlinkOnSchedule(times, 1100, (abi.DEFAULT_PRIORITY - 0) * abi.AGING_STEP_MS + 2 * SLICE_MS);
  assert.ok(dev.sliceCounts.out_of_fuel > 1000, `the spinner still had the CPU the rest of the time (${dev.sliceCounts.out_of_fuel} slices)`);
});

test("an app at Priority 3 that only yields does not hold the CPU: blink runs as soon as it wakes", async () => {
  const dev = device({ clock: new CoarseClock(0.05) });
  const times = await startBlink(dev);
  await installAndStart(dev, "yielder", app(IMPORT.yield, `(loop $again (drop (call $yield)) (br $again)) (i32.const 0)`), { Priority: 3 });
  await dev.run({ untilMs: 1100 });
  // At most the yield slice running when blink woke, and blink's own slice.
  assertBlinkOnSchedule(times, 1100, 0.2);
  assert.ok(dev.sliceCounts.yielded > 10_000, `the yielder kept yielding (${dev.sliceCounts.yielded} slices)`);
});

test("two spinners at Priority 0 and 1 leave blink within its aging bound, and both still run", async () => {
  const dev = device();
  const times = await startBlink(dev);
  const spin = app("", `(loop $spin (br $spin)) (i32.const 0)`);
  await installAndStart(dev, "spin0", spin, { Priority: 0 });
  await installAndStart(dev, "spin1", spin, { Priority: 1 });
  await dev.run({ untilMs: 1100 });
  assertBlinkOnSchedule(times, 1100, abi.DEFAULT_PRIORITY * abi.AGING_STEP_MS + 3 * SLICE_MS);
  const slices = (name: string) => dev.core.exports.app_field(dev.installedApps().find((a) => a.name === name)!.slot, abi.APP_FIELD_SLICES);
  // spin1 ages past spin0 every AGING_STEP_MS: about one slice in ten is its.
  assert.ok(slices("spin1") > 300, `spin1 ran ${slices("spin1")} slices`);
  assert.ok(slices("spin0") > slices("spin1"), `spin0 (${slices("spin0")}) ran more than spin1 (${slices("spin1")})`);
});
