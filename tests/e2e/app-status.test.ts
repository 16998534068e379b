// Device.appStatus, what the dashboard draws of each app: the core's state and counters for that
// app, its instance's memory now and its quota, exactly.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { app, blinker, device, installAndStart } from "./support.js";

test("a sleeping blinker: blocked, no crash, its slices, one page of memory in a 128 KiB quota", async () => {
  const dev = device();
  const blink = await installAndStart(dev, "blink", blinker(8, 100), { Capabilities: { Gpio: [8] }, MemoryQuotaKiB: 128 });
  await dev.run({ untilMs: 250 });
  const s = dev.appStatus(blink);
  assert.deepEqual({ ...s, slices: undefined }, { state: abi.TASK_BLOCKED, crashes: 0, restarts: 0, slices: undefined, memPeakBytes: 65536, memoryBytes: 65536, quotaBytes: 131072 });
  assert.equal(s.slices, 3, "the first slice at 0 ms, then the wake-ups at 100 and 200 ms");
});

test("an app that traps: its crashes and restarts count, and it has no instance while it backs off", async () => {
  const dev = device();
  const trapper = await installAndStart(dev, "trapper", app("", "(unreachable)"));
  await dev.run({ maxSlices: 1 });
  const s = dev.appStatus(trapper);
  assert.equal(s.state, abi.TASK_BACKOFF);
  assert.equal(s.crashes, 1);
  assert.equal(s.memoryBytes, 0, "its instance ended with the trap");
  assert.equal(s.quotaBytes, abi.DEFAULT_APP_QUOTA_BYTES);
  assert.equal(s.restarts, 1, "a restart is scheduled");
  await dev.run({ untilMs: 60_000 });
  // The core gives up after its eighth crash: seven restarts, no eighth.
  assert.deepEqual(dev.appStatus(trapper), { state: abi.TASK_FAILED, crashes: 8, restarts: 7, slices: 8, memPeakBytes: 0, memoryBytes: 0, quotaBytes: abi.DEFAULT_APP_QUOTA_BYTES });
});
