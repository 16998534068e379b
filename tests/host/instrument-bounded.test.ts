// Bounded functions (host/apps/instrument.ts, boundedFunctions): a loop-free function that calls
// only imports and other such functions, reached only by direct calls, is charged the cost of its
// whole call tree at each call site and carries no fuel check of its own. These check that the
// whole tree is paid for, that a host charge made by an import inside the tree is kept, that a
// cycle of calls is never taken for bounded, and that the results are the plain module's when
// preempted every 1 to 40 units of fuel.
import { test } from "node:test";
import assert from "node:assert/strict";
import { instrumentApp } from "../../host/apps/instrument.js";
import { AppRunner, type ImportFn } from "../../host/apps/runner.js";
import { OPTS, wat } from "./instrument-support.js";

const compile = (bytes: Uint8Array) => new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
const ADDS = 20;
/** $h adds ADDS constants; $g calls it twice (and gpio_get when `withImport`); main's loop calls $g ITER times. */
const ITER = 1000;
const tree = (call: string, withImport = false) => {
  const adds = Array.from({ length: ADDS }, (_, i) => `(local.set $x (i32.add (local.get $x) (i32.const ${i + 1})))`).join(" ");
  return `(module (import "applibs" "gpio_get" (func $get (param i32) (result i32)))
    (memory (export "memory") 1)
    (func $h (param $x i32) (result i32) ${adds} (local.get $x))
    (func $g (param $x i32) (result i32)
      (i32.add (call $h (local.get $x)) (call $h ${withImport ? "(call $get (local.get $x))" : "(i32.const 1)"})))
    (func (export "main") (result i32) (local $i i32) (local $acc i32)
      (loop $again
        (local.set $acc (i32.and ${call} (i32.const 0xffff)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $again (i32.lt_u (local.get $i) (i32.const ${ITER}))))
      (local.get $acc)))`;
};

function run(text: string, fuel: number, imports: (r: () => AppRunner) => Record<string, ImportFn> = () => ({ gpio_get: (pin: number) => pin & 7 })) {
  let r!: AppRunner;
  r = new AppRunner(compile(instrumentApp(wat(text), OPTS).bytes), imports(() => r));
  let used = 0, slices = 0;
  for (;;) {
    const res = r.runSlice(fuel);
    used += res.fuelUsed;
    slices++;
    if (res.reason === "exited") return { value: res.value, used, slices };
    assert.equal(res.reason, "out_of_fuel", res.error?.message);
    assert.ok(slices < 200_000, `finishes (${slices} slices of ${fuel})`);
  }
}

/** What main computes, in JS. */
function model(withImport: boolean): number {
  const h = (x: number) => (x + (ADDS * (ADDS + 1)) / 2) | 0;
  let acc = 0;
  for (let i = 0; i < ITER; i++) acc = (h(acc) + h(withImport ? acc & 7 : 1)) & 0xffff;
  return acc;
}

test("a call of a bounded function is charged its whole call tree", () => {
  const withTree = run(tree("(call $g (local.get $acc))"), 1_000_000_000);
  const bare = run(tree("(local.get $acc)"), 1_000_000_000);
  assert.equal(withTree.value, model(false));
  // Each call of $g runs two calls of $h: at least 2 x (ADDS additions and ADDS local writes'
  // constants) per iteration, which charging $g's own nodes alone would not reach.
  assert.ok(withTree.used - bare.used >= ITER * 2 * 2 * ADDS, `the calls cost ${withTree.used - bare.used} fuel for ${ITER} x 2 x ${ADDS} additions`);
});

test("a host charge made by an import inside a bounded call tree is counted", () => {
  const charge = 500;
  const plain = run(tree("(call $g (local.get $acc))", true), 1_000_000_000);
  const charged = run(tree("(call $g (local.get $acc))", true), 1_000_000_000, (r) => ({ gpio_get: (pin: number) => { r().charge(charge); return pin & 7; } }));
  assert.equal(charged.value, model(true));
  // The loop keeps its fuel in a local: it writes it back before the call and reads it again
  // after, so the host's charge is not overwritten by the loop's older count.
  assert.equal(charged.used - plain.used, ITER * charge);
});

test("functions that call each other are never bounded: an endless mutual recursion is preempted", () => {
  const r = new AppRunner(compile(instrumentApp(wat(`(module (memory (export "memory") 1)
    (func $a (param $n i32) (result i32) (i32.add (call $b (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))
    (func $b (param $n i32) (result i32) (i32.add (call $a (i32.add (local.get $n) (i32.const 2))) (i32.const 2)))
    (func (export "main") (result i32) (call $a (i32.const 0))))`), OPTS).bytes), {});
  // Unchecked, the recursion would overflow the JS stack (a trap) in the first slice; checked,
  // each slice ends at its fuel, a few hundred calls deeper each time, until the stack no
  // longer fits the save area.
  for (let i = 0; i < 5; i++) {
    const res = r.runSlice(300);
    assert.equal(res.reason, "out_of_fuel", `slice ${i}: ${res.error?.message}`);
    assert.ok(res.fuelUsed >= 300 && res.fuelUsed < 300 + 20, `slice ${i} used ${res.fuelUsed}`);
  }
});

test("a loop calling a bounded tree gives the plain module's results preempted every 1 to 40 units of fuel", () => {
  const text = tree("(call $g (local.get $acc))", true);
  const plain = new WebAssembly.Instance(compile(wat(text)), { applibs: { gpio_get: (pin: number) => pin & 7 } }).exports as { main(): number };
  assert.equal(plain.main(), model(true));
  for (let fuel = 1; fuel <= 40; fuel++) {
    const out = run(text, fuel);
    assert.equal(out.value, model(true), `slices of ${fuel}`);
    assert.ok(out.slices > ITER * 40 / (fuel + 200), `slices of ${fuel}: ${out.slices}`);
  }
});
