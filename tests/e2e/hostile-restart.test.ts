// What a crashing or stopped app leaves behind: the restart backoff reaches its cap before the
// core gives up (the numbers agree), and the outputs an app drove are released (driven low, then
// made inputs) when it crashes, exits or is stopped.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { app, device, IMPORT, installAndStart } from "./support.js";

test("a crash loop backs off 100, 200, 400, 800 and then the 1600 ms cap, and gives up at crash 8", async () => {
  const dev = device();
  await installAndStart(dev, "crasher", app("", `(unreachable)`));
  await dev.run({ untilMs: 60_000 });
  const restarts = dev.audit().filter((a) => a.kind === abi.EV_APP_RESTART).map((a) => a.arg);
  assert.deepEqual(restarts, [100, 200, 400, 800, 1600, 1600, 1600]);
  assert.ok(restarts.includes(abi.RESTART_BACKOFF_MAX_MS), "the cap is reached before the give-up");
  const gaveUp = dev.audit().filter((a) => a.kind === abi.EV_APP_GAVE_UP);
  assert.deepEqual(gaveUp.map((a) => a.arg), [abi.RESTART_MAX_CRASHES]);
  assert.equal(dev.describeAudit(gaveUp[0]), "crasher: crashed 8 times; giving up");
  // The whole sequence fits in the window, so the give-up is reached by crash count.
  assert.ok(restarts.reduce((a, b) => a + b, 0) < abi.RESTART_WINDOW_MS);
});

/** Opens `pin` high, then runs `then` (WAT). */
const drives = (pin: number, then: string) => app(`${IMPORT.out} ${IMPORT.sleep} ${IMPORT.exit}`, `
  (drop (call $out (i32.const ${pin}) (i32.const 1)))
  ${then}
  (i32.const 0)`);

test("an app that crashes with its output high has the pin released: low, and an input", async () => {
  const dev = device();
  await installAndStart(dev, "crashy", drives(30, `(drop (call $sleep (i32.const 50))) (unreachable)`), { Capabilities: { Gpio: [30] } });
  await dev.run({ untilMs: 40 });
  assert.equal(dev.gpio.level(30), 1);
  await dev.run({ untilMs: 60 }); // crashed at 50; restarts at 150
  assert.equal(dev.gpio.level(30), 0);
  assert.equal(dev.gpio.direction(30), abi.GPIO_DIR_INPUT);
});

test("a stopped app and an exited app leave no output driven", async () => {
  const dev = device();
  const stopped = await installAndStart(dev, "stopped", drives(31, `(drop (call $sleep (i32.const 100000)))`), { Capabilities: { Gpio: [31] } });
  await installAndStart(dev, "exits", drives(32, `(call $exit (i32.const 0))`), { Capabilities: { Gpio: [32] } });
  await dev.run({ untilMs: 10 });
  assert.equal(dev.gpio.level(31), 1);
  assert.equal(dev.gpio.level(32), 0);
  assert.equal(dev.gpio.direction(32), abi.GPIO_DIR_INPUT);
  dev.stop(stopped);
  assert.equal(dev.gpio.level(31), 0);
  assert.equal(dev.gpio.direction(31), abi.GPIO_DIR_INPUT);
  const pin31 = dev.events.of("gpio").filter((e) => e.pin === 31).map((e) => e.level);
  assert.deepEqual(pin31, [1, 0]);
});
