// blink: toggles the LED on GPIO 8. Its half period comes from `period.txt` in its own image
// package (Storage_OpenFileInImagePackage), so a new period is a new package, not a new build.
// The file holds a decimal number of milliseconds, 10..60000, optionally followed by a newline;
// anything else, or no package (an app run from a folder), falls back to 500 ms and says why.
import { gpio, log, sleepMs, storage, close } from "@wasphere/sdk";

const LED_PIN = 8;
const DEFAULT_HALF_PERIOD_MS = 500;
const MIN_HALF_PERIOD_MS = 10;
const MAX_HALF_PERIOD_MS = 60000;

/** The decimal in `text` (digits, then at most one "\n" or "\r\n"), or -1. */
function parseMs(text: ArrayBuffer): i32 {
  const n = text.byteLength;
  let end = n;
  if (end > 0 && load<u8>(changetype<usize>(text) + <usize>(end - 1)) == 0x0a) end--;
  if (end > 0 && load<u8>(changetype<usize>(text) + <usize>(end - 1)) == 0x0d) end--;
  if (end == 0 || end > 5) return -1;
  let value = 0;
  for (let i = 0; i < end; i++) {
    const c = <i32>load<u8>(changetype<usize>(text) + <usize>i);
    if (c < 0x30 || c > 0x39) return -1;
    value = value * 10 + (c - 0x30);
  }
  return value;
}

/** The half period from period.txt, logging where it came from. */
function halfPeriodMs(): i32 {
  const file = storage.openFileInImagePackage("period.txt");
  if (file < 0) {
    log("period.txt: not readable (error " + file.toString() + "); half period " + DEFAULT_HALF_PERIOD_MS.toString() + " ms");
    return DEFAULT_HALF_PERIOD_MS;
  }
  const text = storage.readAll(file);
  close(file);
  const ms = text == null ? -1 : parseMs(text);
  if (ms < MIN_HALF_PERIOD_MS || ms > MAX_HALF_PERIOD_MS) {
    log("period.txt: not a number of ms in 10..60000; half period " + DEFAULT_HALF_PERIOD_MS.toString() + " ms");
    return DEFAULT_HALF_PERIOD_MS;
  }
  log("period.txt: half period " + ms.toString() + " ms");
  return ms;
}

export function main(): i32 {
  const led = gpio.openOutput(LED_PIN);
  if (led < 0) {
    log("cannot open GPIO " + LED_PIN.toString() + " (error " + led.toString() + ")");
    return 1;
  }
  log("LED on GPIO " + LED_PIN.toString());
  const halfMs = halfPeriodMs();
  let on = false;
  while (true) {
    on = !on;
    gpio.set(led, on);
    sleepMs(halfMs);
  }
}
