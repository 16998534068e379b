// An app written around the SDK's event loop (sdk/applibs.ts, eventLoop): a 100 ms timer and the
// button on GPIO 12, each with its callback; the button's mirrored on GPIO 9 and logged, every
// change of it in order; after five ticks the timer's callback stops the loop. The event-loop test
// (tests/e2e/evloop.test.ts) builds it with the SDK and runs it on a device.
import { eventLoop, gpio, log, timer } from "@wasphere/sdk";

const BUTTON_PIN = 12;
const LED_PIN = 9;
let led: i32 = 0;
let ticks: i32 = 0;
let presses: i32 = 0;

function onButton(loop: eventLoop.Loop, handle: i32, level: i32): void {
  gpio.set(led, level == 1);
  if (level == 1) presses++;
  log(level == 1 ? "pressed" : "released");
}

function onTick(loop: eventLoop.Loop, handle: i32, expirations: i32): void {
  ticks += expirations;
  log("tick " + ticks.toString());
  if (ticks >= 5) {
    log("done: " + presses.toString() + " presses");
    loop.stop();
  }
}

export function main(): i32 {
  const button = gpio.openInput(BUTTON_PIN);
  led = gpio.openOutput(LED_PIN);
  const tick = timer.create(100);
  if (button < 0 || led < 0 || tick < 0) return 1;
  const loop = eventLoop.create();
  if (loop.register(button, onButton) != 0 || loop.register(tick, onTick) != 0) return 2;
  // A handle registered twice is refused.
  if (loop.register(tick, onTick) >= 0) return 3;
  const rc = loop.run();
  log("run returned " + rc.toString());
  return 0;
}
