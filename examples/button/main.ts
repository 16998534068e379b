// button: mirrors the button on GPIO 12 onto the LED on GPIO 9, and shows least privilege at work:
// it also tries GPIO 8, which its manifest does not grant, and the core refuses with EACCES.
import { EACCES, gpio, log } from "@wasphere/sdk";

const BUTTON_PIN = 12;
const LED_PIN = 9;
const UNDECLARED_PIN = 8;

export function main(): i32 {
  const stolen = gpio.openOutput(UNDECLARED_PIN);
  if (stolen == EACCES) log("GPIO " + UNDECLARED_PIN.toString() + " refused (EACCES), as the manifest does not grant it");
  const button = gpio.openInput(BUTTON_PIN);
  const led = gpio.openOutput(LED_PIN);
  if (button < 0 || led < 0) {
    log("cannot open GPIO (errors " + button.toString() + ", " + led.toString() + ")");
    return 1;
  }
  while (true) {
    const level = gpio.waitChange(button);
    if (level < 0) continue;
    gpio.set(led, level == 1);
    log(level == 1 ? "pressed" : "released");
  }
}
