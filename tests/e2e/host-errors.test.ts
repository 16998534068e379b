// Errors of the host's own (a peripheral model that throws while an app calls into it) are host
// errors: the app is not charged a crash, it is stopped, and the error leaves Device.run().
import { test } from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { HostError } from "../../host/device.js";
import { app, blinker, device, IMPORT, installAndStart, toggles } from "./support.js";

test("a RangeError thrown by the GPIO model during gpio_set is a host error, not a trap of the app", async () => {
  const dev = device();
  await installAndStart(dev, "witness", blinker(20, 100), { Capabilities: { Gpio: [20] } });
  const victim = await installAndStart(dev, "victim", app(`${IMPORT.out} ${IMPORT.set} ${IMPORT.sleep}`, `
    (local $h i32)
    (local.set $h (call $out (i32.const 30) (i32.const 0)))
    (drop (call $sleep (i32.const 500)))
    (drop (call $set (local.get $h) (i32.const 1)))
    (loop $forever (drop (call $sleep (i32.const 1000))) (br $forever))
    (i32.const 0)`), { Capabilities: { Gpio: [30] } });
  dev.gpio.observe((pin, level) => { if (pin === 30 && level === 1) throw new RangeError("model: level out of range"); });
  await assert.rejects(dev.run({ untilMs: 2000 }), (err: Error) => {
    assert.ok(err instanceof HostError, `a HostError, not ${err.constructor.name}`);
    assert.match(err.message, /^host error while victim ran .*: model: level out of range$/);
    assert.ok((err as Error & { cause?: unknown }).cause instanceof RangeError);
    return true;
  });
  const e = dev.core.exports;
  assert.equal(Math.floor(dev.clock.nowMs()), 500, "the run ended at the failure");
  assert.equal(e.app_field(victim.slot, abi.APP_FIELD_CRASHES), 0, "no crash charged");
  assert.equal(e.app_field(victim.slot, abi.APP_FIELD_STATE), abi.TASK_EXITED, "stopped");
  assert.equal(dev.sliceCounts.trapped, 0);
  assert.deepEqual(dev.audit().filter((a) => a.kind === abi.EV_APP_TRAPPED || a.kind === abi.EV_APP_RESTART), []);
  assert.deepEqual(dev.events.of("app").filter((ev) => ev.app === "victim").map((ev) => ev.what), ["installed", "started", "stopped", "host error"]);
  // The device itself carries on with the others.
  const before = toggles(dev, 20);
  await dev.run({ untilMs: 1500 });
  assert.ok(toggles(dev, 20) >= before + 9, "the witness kept blinking");
});

test("a stack overflow inside the app is still the app's trap", async () => {
  const dev = device();
  const deep = await installAndStart(dev, "deep", app("", `(call $down (i32.const 0))`, `
    (func $down (param i32) (result i32) (i32.add (call $down (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))`));
  await dev.run({ untilMs: 50 });
  assert.ok(dev.core.exports.app_field(deep.slot, abi.APP_FIELD_CRASHES) >= 1);
  assert.ok(dev.sliceCounts.trapped >= 1);
});
