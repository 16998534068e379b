// gpio_get on an input handle answers the level the core learned (read once through gpio-read at
// the open, then told of every change through gpio_notify), with no hal call (drivers/gpio.ts).
// The tests count the hal's gpio-read calls through a core tap and compare every answer with the
// pin model's level: a core that read the pin each time, or that missed a change, fails them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { type CoreTap } from "../../host/core.js";
import { app, device, exitCodes, IMPORT, installAndStart } from "../e2e/support.js";

/** A tap that counts the hal's gpio-read calls. */
function readCounter(): { tap: CoreTap; reads: () => number } {
  let n = 0;
  const tap: CoreTap = {
    wrap: (kind, name, fn) => (kind === "hal" && name === "gpio-read" ? ((...a: unknown[]) => { n++; return fn(...a); }) as typeof fn : fn),
  };
  return { tap, reads: () => n };
}

/** Opens input 12, then reads gpio_get(h) into memory[60000 + 4*k] (clear of the asyncify save area) once a slice, `count` times, then exits. */
const reader = (count: number) => app(`${IMPORT.in} ${IMPORT.get} ${IMPORT.yield} ${IMPORT.exit}`, `
  (local $h i32) (local $k i32)
  (local.set $h (call $in (i32.const 12)))
  (loop $l
    (i32.store offset=60000 (i32.shl (local.get $k) (i32.const 2)) (call $get (local.get $h)))
    (drop (call $yield))
    (local.set $k (i32.add (local.get $k) (i32.const 1)))
    (br_if $l (i32.lt_u (local.get $k) (i32.const ${count}))))
  (call $exit (i32.const 0))
  (i32.const 0)`);

test("gpio_get on an input reads the pin once, at the open, and then answers every level the pin took between slices", async () => {
  const counter = readCounter();
  const dev = device({ coreTap: counter.tap });
  dev.gpio.drive(12, 1); // high before the app opens it: the open must read it
  const a = await installAndStart(dev, "reader", reader(6), { Capabilities: { Gpio: [12] } });
  const seen: number[] = [];
  const memory = () => [...(dev as unknown as { live: Map<number, { app: { slot: number }; runner: { memory: WebAssembly.Memory } }> }).live.values()]
    .find((t) => t.app.slot === a.slot)!.runner.memory;
  // Between slices: nothing, low, a pulse (high then low: the latest is low), high, nothing, low.
  const between = [() => {}, () => dev.gpio.drive(12, 0), () => { dev.gpio.drive(12, 1); dev.gpio.drive(12, 0); }, () => dev.gpio.drive(12, 1), () => {}, () => dev.gpio.drive(12, 0)];
  const expected: number[] = [];
  for (let k = 0; k < 6; k++) {
    between[k]();
    expected.push(dev.gpio.level(12));
    assert.equal(dev.step(), true);
    seen.push(new Int32Array(memory().buffer, 60000, 6)[k]);
  }
  assert.deepEqual(seen, expected);
  assert.deepEqual(seen, [1, 0, 0, 1, 1, 0]);
  assert.equal(counter.reads(), 1, "one gpio-read: the open's");
  while (dev.step()) { /* to the exit */ }
  assert.deepEqual(exitCodes(dev, "reader"), [0]);
});

test("gpio_get on an output still reads the pin through the hal", async () => {
  const counter = readCounter();
  const dev = device({ coreTap: counter.tap });
  await installAndStart(dev, "driver", app(`${IMPORT.out} ${IMPORT.set} ${IMPORT.get} ${IMPORT.exit}`, `
    (local $h i32)
    (local.set $h (call $out (i32.const 13) (i32.const 1)))
    (drop (call $set (local.get $h) (i32.const 0)))
    (call $exit (i32.add (i32.mul (call $get (local.get $h)) (i32.const 10)) (i32.const 5)))
    (i32.const 0)`), { Capabilities: { Gpio: [13] } });
  assert.equal(dev.step(), true);
  assert.deepEqual(exitCodes(dev, "driver"), [5]);
  assert.equal(counter.reads(), 1);
});
