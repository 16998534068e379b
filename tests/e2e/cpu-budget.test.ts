// CPU budget: an app whose manifest sets CpuBudget.FuelPerSecond is held back, in each window of
// CPU_BUDGET_WINDOW_MS of device time, once its slices used that much fuel; other apps are not.
// On the virtual clock 10 million units of fuel are a millisecond, so 10^9 a second is 10 %.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { VIRTUAL_FUEL_PER_MS } from "../../host/peripherals/clock.js";
import type { Device, InstalledApp } from "../../host/device.js";
import { app, device, installAndStart } from "./support.js";

const SPIN = app("", `(loop $spin (br $spin)) (i32.const 0)`);
const TEN_PERCENT = (abi.CPU_BUDGET_WINDOW_MS * VIRTUAL_FUEL_PER_MS) / 10;
const field = (dev: Device, a: InstalledApp, f: number) => dev.core.exports.app_field(a.slot, f);

test("a spinner with a 10 % budget next to another spinner gets 10 % of the slices of each device second", async () => {
  const dev = device();
  const capped = await installAndStart(dev, "capped", SPIN, { CpuBudget: { FuelPerSecond: TEN_PERCENT } });
  const free = await installAndStart(dev, "free", SPIN);
  assert.equal(field(dev, capped, abi.APP_FIELD_CPU_BUDGET_KFUEL), TEN_PERCENT / 1000);
  assert.equal(field(dev, free, abi.APP_FIELD_CPU_BUDGET_KFUEL), 0);
  const seconds: number[][] = [];
  for (let s = 1; s <= 3; s++) {
    await dev.run({ untilMs: s * 1000 });
    seconds.push([field(dev, capped, abi.APP_FIELD_SLICES), field(dev, free, abi.APP_FIELD_SLICES)]);
  }
  // Each second: 500 slices of 2 million (10^9 fuel) for the capped app, taken round robin with
  // the other in the first 200 ms; then the other alone for the 800 ms left (4,000 slices).
  assert.deepEqual(seconds, [[500, 4500], [1000, 9000], [1500, 13500]]);
  // It was held back 800 ms of each second, and its window is full (it is held back now).
  assert.equal(field(dev, capped, abi.APP_FIELD_CPU_THROTTLED_MS), 2400);
  assert.equal(field(dev, free, abi.APP_FIELD_CPU_THROTTLED_MS), 0);
  const limits = dev.audit().filter((a) => a.kind === abi.EV_LIMIT);
  assert.deepEqual(limits.map((a) => [a.app, a.arg, Math.round(a.timeMs)]), [[capped.slot, abi.LIMIT_CPU_BUDGET, 200], [capped.slot, abi.LIMIT_CPU_BUDGET, 1200], [capped.slot, abi.LIMIT_CPU_BUDGET, 2200]]);
  assert.match(dev.events.of("audit").find((e) => e.entry?.kind === abi.EV_LIMIT)!.text, /^capped: used its CPU budget of 1,000,000,000 fuel a second; held back until its next window$/);
});

test("an app without a budget is unaffected: two spinners share evenly", async () => {
  const dev = device();
  const a = await installAndStart(dev, "a", SPIN);
  const b = await installAndStart(dev, "b", SPIN);
  await dev.run({ untilMs: 1000 });
  assert.deepEqual([field(dev, a, abi.APP_FIELD_SLICES), field(dev, b, abi.APP_FIELD_SLICES)], [2500, 2500]);
  assert.equal(dev.audit().filter((e) => e.kind === abi.EV_LIMIT).length, 0);
});

test("a budgeted app alone: the device idles to its next window, and what a slice overran is carried", async () => {
  const dev = device();
  // 3 million a second: two slices of 2 million each window, the second overrunning by 1 million,
  // so the next window has 2 million left (one slice), the one after 3 million (two), ...
  const capped = await installAndStart(dev, "capped", SPIN, { CpuBudget: { FuelPerSecond: 3_000_000 } });
  const perSecond: number[] = [];
  let before = 0;
  for (let s = 1; s <= 4; s++) {
    await dev.run({ untilMs: s * 1000 });
    const n = field(dev, capped, abi.APP_FIELD_SLICES);
    perSecond.push(n - before);
    before = n;
  }
  assert.deepEqual(perSecond, [2, 1, 2, 1]);
  // Held back, nothing else to run: the next wake-up is the next window.
  assert.equal(dev.core.exports.sched_next_deadline_ms(), 4000);
  // Window 3 took exactly its 3 million, so window 4, which starts now, begins empty.
  assert.equal(field(dev, capped, abi.APP_FIELD_CPU_WINDOW_KFUEL), 0);
  await dev.run({ untilMs: 4500 });
  assert.equal(field(dev, capped, abi.APP_FIELD_CPU_WINDOW_KFUEL), 4000);
  assert.equal(field(dev, capped, abi.APP_FIELD_SLICES), 8);
});
