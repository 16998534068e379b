// The instrumenter fuzz target (tools/fuzz-instrument.ts), a short fixed-seed pass: modules made by
// wasm-opt -ttf, instrumented, preempted every 1-300 fuel, and compared with the original; and a
// generated module the instrumenter once could not meter.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { instrumentCounts, instrumentTarget } from "../../tools/fuzz-instrument.js";
import { runCases, runInput } from "../../tools/fuzz-lib.js";

const corpus = new URL("../../../tests/fuzz-corpus/instrument/", import.meta.url);

test("cases 0-1 of seed 2: instrumented modules compute what the originals compute", async () => {
  const before = { ...instrumentCounts };
  const stats = await runCases(instrumentTarget, { seed: 2, maxCases: 2 });
  assert.deepEqual(stats.failures.map((f) => `case ${f.index}: ${f.message}`), []);
  // The comparison did happen, on values, with preemption.
  assert.ok(instrumentCounts.compared > before.compared);
  assert.ok(instrumentCounts.valuesCompared > before.valuesCompared);
  assert.ok(instrumentCounts.slices - before.slices > instrumentCounts.compared - before.compared, "more slices than runs: preempted");
});

// Found by `npm run fuzz -- --target instrument --seed 7` (case 2): a `(loop (result i32))` in an
// operand that never falls through (its body ends in a loop that branches back to it); flattened,
// the block holding it was unreachable through that loop alone, and the metering wrapper, typed
// none, left that block unreachable with no unreachable child: binaryen's validator refused it.
test("a generated module with a value loop that never falls through: the instrumenter meters it", async () => {
  const before = { ...instrumentCounts };
  assert.equal(await runInput(instrumentTarget, new Uint8Array(readFileSync(new URL("metered-module-invalid.wasm", corpus)))), null);
  // Instrumented and run against the original, not refused.
  assert.equal(instrumentCounts.refused, before.refused);
  assert.ok(instrumentCounts.compared > before.compared);
});

// Found by `npm run fuzz -- --target instrument --seconds 180 --seed 7` (case 75; seed 11 case 88
// is the same class): a call_indirect whose index is a constant past the table traps with "table
// index is out of bounds" in the original. binaryen's `directize` pass, run by an optimisation
// after asyncify, replaced it with `unreachable`, so the instrumented app trapped with another
// kind. The instrumenter runs no such optimisation after asyncify now; this keeps it so.
test("a generated module with a constant out-of-bounds call_indirect: the instrumented app traps the same way", async () => {
  assert.equal(await runInput(instrumentTarget, new Uint8Array(readFileSync(new URL("trap-kind-changed.wasm", corpus)))), null);
});
