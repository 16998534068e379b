// blink: toggles the LED on GPIO 8 every half second.
import { gpio, log, sleepMs } from "@wasphere/sdk";

const LED_PIN = 8;
const HALF_PERIOD_MS = 500;

export function main(): i32 {
  const led = gpio.openOutput(LED_PIN);
  if (led < 0) {
    log("cannot open GPIO " + LED_PIN.toString() + " (error " + led.toString() + ")");
    return 1;
  }
  log("LED on GPIO " + LED_PIN.toString());
  let on = false;
  while (true) {
    on = !on;
    gpio.set(led, on);
    sleepMs(HALF_PERIOD_MS);
  }
}
