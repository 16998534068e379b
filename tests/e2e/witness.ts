// The witness of the hostile-app tests: examples/blink, built from its source, on GPIO 8 every
// 500 ms. A test runs a hostile app next to it and then checks blink's schedule in device time.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { appFromDirectory } from "../../host/apps/package.js";
import { type Device } from "../../host/device.js";

export const BLINK_PIN = 8;
export const BLINK_HALF_PERIOD_MS = 500;

const example = (name: string) => fileURLToPath(new URL(`../../../examples/${name}`, import.meta.url));

/** Installs and starts examples/blink; returns the device times at which it drove GPIO 8. */
export async function startBlink(dev: Device): Promise<number[]> {
  const times: number[] = [];
  // Listened to, not read back from the event ring, so a flood of other events cannot hide one.
  dev.events.listen((e) => { if (e.kind === "gpio" && e.pin === BLINK_PIN && e.source === "core") times.push(e.timeMs); });
  dev.start(await dev.install(appFromDirectory(example("blink"))));
  return times;
}

/**
 * blink kept its schedule until `untilMs`: it opened the LED (driving it low) and switched it on
 * within `lateMs` of the start, then toggled every 500 ms, each toggle at most `lateMs` late.
 */
export function assertBlinkOnSchedule(times: number[], untilMs: number, lateMs: number): void {
  const periods = Math.floor((untilMs - lateMs) / BLINK_HALF_PERIOD_MS);
  assert.ok(times.length >= 2 + periods, `blink drove GPIO 8 ${times.length} times by ${untilMs} ms; on schedule it drives it ${2 + periods} times (${times.map((t) => t.toFixed(3)).join(", ")})`);
  assert.ok(times[1] <= lateMs, `blink first switched the LED on at ${times[1]} ms, more than ${lateMs} ms late`);
  for (let i = 2; i < times.length; i++) {
    const gap = times[i] - times[i - 1];
    // (1e-9: device times are sums of fractions of a ms)
    assert.ok(gap >= BLINK_HALF_PERIOD_MS - 1e-9 && gap <= BLINK_HALF_PERIOD_MS + lateMs, `blink's toggle ${i} came ${gap.toFixed(3)} ms after the one before, not 500 to ${500 + lateMs}`);
  }
}
