// Metering of the paths that once ran nearly free: bulk memory operations are charged by their
// length, a loop-free function reached other than by a direct call pays for what it runs, and
// table entries count against the app's memory quota.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { BULK_BYTES_PER_FUEL, instrumentApp, TABLE_ENTRY_BYTES, type InstrumentOptions } from "../../host/apps/instrument.js";
import { AppRunner } from "../../host/apps/runner.js";
import { appInstrumentOptions } from "../../host/apps/imports.js";
import { app, blinker, device, installAndStart, toggles, wat } from "../e2e/support.js";

const QUOTA_BYTES = 4 * 65536;
const OPTS: InstrumentOptions = appInstrumentOptions(QUOTA_BYTES);
const OUT = 9000;

function runner(text: string): AppRunner {
  return new AppRunner(new WebAssembly.Module(instrumentApp(wat(text), OPTS).bytes as Uint8Array<ArrayBuffer>), {});
}
const i32At = (r: AppRunner, addr: number) => new DataView(r.memory.buffer).getInt32(addr, true);

test("one memory.fill is charged by its length", () => {
  const bytes = 200_000;
  const r = runner(`(module (memory (export "memory") 4)
    (func (export "main") (result i32) (memory.fill (i32.const 10000) (i32.const 7) (i32.const ${bytes})) (i32.const 0)))`);
  const res = r.runSlice(abi.SLICE_FUEL);
  assert.equal(res.reason, "exited");
  const charge = bytes / BULK_BYTES_PER_FUEL + 1;
  assert.ok(res.fuelUsed >= charge && res.fuelUsed < charge + 20, `charged ${res.fuelUsed} for ${bytes} bytes`);
  assert.equal(new Uint8Array(r.memory.buffer)[10000 + bytes - 1], 7);
});

test("memory.copy is charged by its length, and a loop of copies is preempted every few iterations", () => {
  const bytes = 65536;
  const r = runner(`(module (memory (export "memory") 4)
    (func (export "main") (result i32) (local $i i32)
      (loop $l
        (memory.copy (i32.const 100000) (i32.const 20000) (i32.const ${bytes}))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (i32.store (i32.const ${OUT}) (local.get $i))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))
      (i32.const 0)))`);
  const perCopy = bytes / BULK_BYTES_PER_FUEL;
  let slices = 0;
  let last = 0;
  let fuel = 0;
  for (let res = r.runSlice(50_000); ; res = r.runSlice(50_000)) {
    slices++;
    fuel += res.fuelUsed;
    const done = i32At(r, OUT);
    // A slice of 50,000 fuel holds at most 50,000 / 16,384 copies, plus the one that ends it.
    assert.ok(done - last <= Math.floor(50_000 / perCopy) + 1, `slice ${slices} ran ${done - last} copies`);
    last = done;
    if (res.reason === "exited") break;
    assert.equal(res.reason, "out_of_fuel");
  }
  assert.equal(last, 100);
  assert.ok(fuel >= 100 * perCopy, `charged ${fuel} for 100 copies of ${bytes} bytes`);
  assert.ok(slices >= 20, `preempted ${slices - 1} times`);
});

// A loop-free leaf of 200 metered instructions: (local.set 0 (i32.add (local.get 0) (i32.const k))) x 100.
const LEAF_BODY = Array.from({ length: 100 }, (_, k) => `(local.set 0 (i32.add (local.get 0) (i32.const ${k})))`).join(" ");

test("a leaf function called through call_indirect pays for what it runs", () => {
  const calls = 1000;
  const r = runner(`(module (memory (export "memory") 1)
    (type $t (func (param i32) (result i32)))
    (table 1 funcref) (elem (i32.const 0) $leaf)
    (func $leaf (param i32) (result i32) ${LEAF_BODY} (local.get 0))
    (func (export "main") (result i32) (local $i i32) (local $acc i32)
      (loop $l
        (local.set $acc (call_indirect (type $t) (local.get $acc) (i32.const 0)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const ${calls}))))
      (local.get $acc)))`);
  const res = r.runSlice(0x7fffffff);
  assert.equal(res.reason, "exited");
  assert.equal(res.value, calls * (99 * 100 / 2));
  assert.ok(res.fuelUsed >= calls * 200, `charged ${res.fuelUsed} for ${calls} calls of a 200-instruction leaf`);
});

test("a leaf start function and a leaf main pay for what they run", () => {
  const r = runner(`(module (memory (export "memory") 1) (global $g (mut i32) (i32.const 0))
    (func $init (local i32) ${LEAF_BODY} (global.set $g (local.get 0)))
    (start $init)
    (func (export "main") (result i32) (local i32) ${LEAF_BODY} (i32.add (local.get 0) (global.get $g))))`);
  const res = r.runSlice(0x7fffffff);
  assert.deepEqual({ reason: res.reason, value: res.value }, { reason: "exited", value: 2 * (99 * 100 / 2) });
  assert.ok(res.fuelUsed >= 2 * 200, `charged ${res.fuelUsed} for two 200-instruction leaves`);
});

test("table entries count against the quota: table.grow past it returns -1, and so does memory.grow after", () => {
  // Quota 4 pages; memory 1 page; so (3 * 65536) / TABLE_ENTRY_BYTES entries fit.
  const fit = (3 * 65536) / TABLE_ENTRY_BYTES;
  const r = runner(`(module (memory (export "memory") 1) (table $t 0 funcref)
    (func (export "main") (result i32)
      (i32.store (i32.const ${OUT}) (table.grow $t (ref.null func) (i32.const 10000000)))
      (i32.store (i32.const ${OUT + 4}) (table.grow $t (ref.null func) (i32.const ${fit})))
      (i32.store (i32.const ${OUT + 8}) (table.grow $t (ref.null func) (i32.const 1)))
      (i32.store (i32.const ${OUT + 12}) (memory.grow (i32.const 1)))
      (i32.store (i32.const ${OUT + 16}) (table.size $t))
      (i32.const 0)))`);
  const res = r.runSlice(abi.SLICE_FUEL);
  assert.equal(res.reason, "exited");
  assert.deepEqual([0, 4, 8, 12, 16].map((o) => i32At(r, OUT + o)), [-1, 0, -1, -1, fit]);
  assert.ok(res.fuelUsed >= fit, `charged ${res.fuelUsed} for growing ${fit} entries`);
});

test("an app filling its memory in a loop is preempted by the fills, and blink keeps its schedule", async () => {
  const dev = device();
  const periodMs = 5;
  await installAndStart(dev, "witness", blinker(20, periodMs), { Capabilities: { Gpio: [20] } });
  const bytes = 4096;
  const fills = 20_000;
  await installAndStart(dev, "filler", app("", `
    (local $i i32)
    (loop $l
      (memory.fill (i32.const 10000) (local.get $i) (i32.const ${bytes}))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const ${fills}))))
    (i32.const 0)`));
  const runMs = 40;
  await dev.run({ untilMs: runMs });
  assert.deepEqual(dev.events.of("app").filter((e) => e.app === "filler" && e.what === "exited").map((e) => e.detail), ["code 0"]);
  // Only the filler ever runs out of fuel; its fills alone cost this many slices.
  const atLeast = Math.floor(fills * (bytes / BULK_BYTES_PER_FUEL + 1) / abi.SLICE_FUEL);
  assert.ok(dev.sliceCounts.out_of_fuel >= atLeast, `the filler was preempted ${dev.sliceCounts.out_of_fuel} times; its fills cost ${atLeast} slices`);
  assert.ok(toggles(dev, 20) >= runMs / periodMs - 1, `witness toggled ${toggles(dev, 20)} times`);
});
