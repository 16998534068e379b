// The demo that `npm start` runs: the example apps, built from their AssemblyScript source with the
// SDK, on a device with a simulated button.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { device, runBlinkAndButton } from "./support.js";

test("blink and button run side by side; button's undeclared pin is refused with EACCES", async () => {
  const dev = device();
  await runBlinkAndButton(dev);

  // Virtual time charges each slice's work, so an app that runs second at an instant shows a few
  // microseconds later: compare to the millisecond.
  const ms = (t: number) => Math.round(t);
  const led8 = dev.events.of("gpio").filter((e) => e.pin === 8 && e.source === "core").map((e) => [ms(e.timeMs), e.level]);
  assert.deepEqual(led8.slice(0, 5), [[0, 0], [0, 1], [500, 0], [1000, 1], [1500, 0]]);
  const led9 = dev.events.of("gpio").filter((e) => e.pin === 9 && e.source === "core").map((e) => [ms(e.timeMs), e.level]);
  assert.deepEqual(led9, [[0, 0], [1000, 1], [1200, 0]]);

  const denied = dev.audit().filter((a) => a.kind === abi.EV_DENIED);
  assert.equal(denied.length, 1);
  assert.equal(dev.describeAudit(denied[0]), "button: gpio_open_output(8) denied with EACCES: not granted by its manifest");
  const logs = dev.events.of("log").map((e) => `${e.app}: ${e.text}`);
  assert.ok(logs.includes("button: GPIO 8 refused (EACCES), as the manifest does not grant it"));
  assert.ok(logs.includes("button: pressed"));
  assert.ok(logs.includes("button: released"));
});
