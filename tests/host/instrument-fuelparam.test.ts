// Fuel passed as a parameter and result (host/apps/instrument-resume.ts): a small recursive
// function is rewritten to take the fuel as its last parameter and return it as its last result,
// and writes it back to the global only around calls of other code. These check that the rewrite
// is there, that the global holds the right count wherever other code can see it (an import's
// host charge is kept, a preempt finds the count spent), and that the compute kernels give the
// plain module's results preempted every 1 to 40 units of fuel.
import { test } from "node:test";
import assert from "node:assert/strict";
import binaryen from "binaryen";
import { instrumentApp } from "../../host/apps/instrument.js";
import { UNWOUND } from "../../host/apps/instrument-resume.js";
import { AppRunner } from "../../host/apps/runner.js";
import { buildKernels } from "../../tools/bench-instrument.js";
import { OPTS, wat } from "./instrument-support.js";

const compile = (bytes: Uint8Array) => new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);

/** The text of every function in `bytes` whose type ends in an extra i32 parameter and result pair. */
function fueledSignatures(bytes: Uint8Array): string[] {
  const mod = binaryen.readBinary(bytes);
  try {
    return mod.emitText().split("\n").filter((l) => /^ \(func .*\(param .*i32\)\) \(result (i32|i64|f32|f64) i32\)/.test(l) || /^ \(func .*\(param .*\) \(result i32 i32\)/.test(l));
  } finally {
    mod.dispose();
  }
}

// $rec calls gpio_get once per level; the host charges CHARGE fuel in each call.
const CHARGE = 1000;
const LEVELS = 200;
const CHARGED = `(module (import "applibs" "gpio_get" (func $get (param i32) (result i32)))
  (memory (export "memory") 1)
  (func $rec (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 0))
      (else (i32.add (call $get (local.get $n)) (call $rec (i32.sub (local.get $n) (i32.const 1)))))))
  (func (export "main") (result i32) (call $rec (i32.const ${LEVELS}))))`;

test("a small recursive function takes its fuel as a parameter and returns it as a result", () => {
  const out = instrumentApp(wat(CHARGED), OPTS);
  assert.equal(fueledSignatures(out.bytes).length, 1, "one function is rewritten with the fuel pair");
  // The sentinel is the one i32 no counted fuel reaches (counts stay at or above -1 - (2^30 + 1)).
  assert.equal(UNWOUND, -(2 ** 31));
});

test("a host charge made inside an import called from a fueled function is counted in full", () => {
  for (const fuel of [2_000_000, 5000, 300]) {
    let r!: AppRunner;
    r = new AppRunner(compile(instrumentApp(wat(CHARGED), OPTS).bytes), { gpio_get: (pin: number) => { r.charge(CHARGE); return pin & 3; } });
    let used = 0, slices = 0;
    for (;;) {
      const res = r.runSlice(fuel);
      used += res.fuelUsed;
      slices++;
      if (res.reason === "exited") {
        let expected = 0;
        for (let n = 1; n <= LEVELS; n++) expected += n & 3;
        assert.equal(res.value, expected, `slices of ${fuel}`);
        break;
      }
      assert.equal(res.reason, "out_of_fuel");
    }
    // Every charge is in the count (a fueled function that did not read the global back after the
    // import would write its own, older count over it), and little else: each level runs a
    // couple of dozen instructions.
    assert.ok(used >= LEVELS * CHARGE && used <= LEVELS * (CHARGE + 64), `slices of ${fuel}: ${used} fuel used in ${slices} slices`);
    if (fuel === 300) assert.ok(slices >= LEVELS * CHARGE / (300 + CHARGE), `preempted all along (${slices} slices)`);
  }
});

test("the compute kernels give the plain module's results preempted every 1 to 40 units of fuel", async () => {
  const plainBytes = await buildKernels();
  const plain = compile(plainBytes);
  const full = compile(instrumentApp(plainBytes, OPTS).bytes);
  // fib runs to its end in slices of `fuel`; the loop kernels (millions of units) are preempted
  // for their first 2,000 slices of `fuel`, then finish in large slices: every resume point on
  // the way is taken either way.
  for (const [kernel, n, prefix] of [[1, 12, Infinity], [0, 1, 2000], [2, 1, 2000]]) {
    const ex = new WebAssembly.Instance(plain, {}).exports as { configure(k: number, n: number): void; main(): number };
    ex.configure(kernel, n);
    const expected = ex.main();
    for (let fuel = 1; fuel <= 40; fuel++) {
      const r = new AppRunner(full, {});
      (r.instance.exports.configure as (k: number, n: number) => void)(kernel, n);
      let slices = 0;
      let res = r.runSlice(fuel);
      while (res.reason === "out_of_fuel") { slices++; res = r.runSlice(slices < prefix ? fuel : 1_000_000); }
      assert.equal(res.reason, "exited", `kernel ${kernel}, slices of ${fuel}`);
      assert.equal(res.value, expected, `kernel ${kernel}, slices of ${fuel}`);
      assert.ok(slices >= Math.min(prefix, 40), `kernel ${kernel}, slices of ${fuel}: preempted ${slices} times`);
    }
  }
});
