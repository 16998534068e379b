// Resumable functions (host/apps/instrument-resume.ts): loop-free functions that save and resume
// their own frames beside asyncify's. Each module here is run preempted every few units of fuel
// (so a rewind re-enters every resume point), against the plain module or a hand computation, and
// against the same module suspended by binaryen's asyncify alone.
import { test } from "node:test";
import assert from "node:assert/strict";
import { instrumentApp, instrumentVariant } from "../../host/apps/instrument.js";
import { AppRunner, type ImportFn } from "../../host/apps/runner.js";
import { OPTS, wat } from "./instrument-support.js";

type Make = (imports: (r: () => AppRunner) => Record<string, ImportFn>) => AppRunner;
const compile = (bytes: Uint8Array) => new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
/** The module instrumented as installed (resumable functions) and with asyncify alone. */
function both(text: string): { name: string; make: Make }[] {
  const raw = wat(text);
  const installed = instrumentApp(raw, OPTS).bytes;
  const asyncified = instrumentVariant(raw, OPTS, { metering: true, asyncify: true, suspension: "asyncify" }).bytes;
  // The two suspensions differ, so the rows below test the resumable one.
  assert.notDeepEqual(installed, asyncified);
  return [["resumable", installed], ["asyncify", asyncified]].map(([name, bytes]) => ({
    name: name as string,
    make: (imports) => { let r: AppRunner; r = new AppRunner(compile(bytes as Uint8Array), imports(() => r)); return r; },
  }));
}

/** Runs to the end in slices of `fuel`, answering each blocking suspension with `deliver(n)`. */
function runToEnd(r: AppRunner, fuel: number, deliver: (n: number) => number = () => 0) {
  let slices = 0, blocked = 0, maxUsed = 0;
  for (;;) {
    const res = r.runSlice(fuel);
    slices++;
    maxUsed = Math.max(maxUsed, res.fuelUsed);
    if (res.reason === "exited") return { value: res.value, slices, blocked, maxUsed };
    if (res.reason === "blocked") { r.resumeWith(deliver(blocked++)); continue; }
    assert.equal(res.reason, "out_of_fuel", res.error?.message);
    assert.ok(slices < 1_000_000, "the app finishes");
  }
}

// A chain of ten loop-free functions down to a blocking import, the chain called again from its
// bottom (so each level is recursive, as resumable functions are). Each level computes a local
// before its call, overwrites its parameter after computing the argument (`x = x * 7`) and counts
// its entries in memory, so a rewind that ran a statement again, or restored a local wrongly,
// would change the result or the count.
const CHAIN = (() => {
  const levels = Array.from({ length: 10 }, (_, k) => {
    // The bottom calls back to the top once (depth 0 -> 1) when t is odd: recursion through ten functions.
    const next = k === 9
      ? `(if (result i32) (i32.and (i32.eqz (global.get $again)) (i32.and (local.get $t) (i32.const 1)))
           (then (global.set $again (i32.const 1)) (i32.add (call $sleep (local.get $t)) (call $f0 (local.get $t))))
           (else (call $sleep (local.get $t))))`
      : `(call $f${k + 1} (local.get $t))`;
    return `(func $f${k} (param $x i32) (result i32) (local $t i32) (local $r i32)
      (local.set $t (i32.add (local.get $x) (i32.const ${k + 1})))
      (local.set $x (i32.mul (local.get $x) (i32.const 7)))
      (i32.store (i32.const 9000) (i32.add (i32.load (i32.const 9000)) (i32.const 1)))
      (local.set $r ${next})
      (i32.xor (i32.add (local.get $r) (i32.const ${k})) (local.get $x)))`;
  }).join("\n");
  return `(module (import "applibs" "sleep_ms" (func $sleep (param i32) (result i32)))
    (memory (export "memory") 1)
    (global $again (mut i32) (i32.const 0))
    ${levels}
    (func (export "main") (result i32) (i32.add (call $f0 (i32.const 4)) (call $f0 (i32.const 11)))))`;
})();

/** What CHAIN computes, which arguments sleep_ms gets in order, and how many calls it makes, when the n-th sleep_ms answers `answer(n)`. */
function chainModel(answer: (n: number) => number): { value: number; asked: number[]; entries: number } {
  const asked: number[] = [];
  let again = false, entries = 0;
  const sleep = (ms: number) => { asked.push(ms); return answer(asked.length - 1); };
  const down = (k: number, x: number): number => {
    entries++;
    const t = (x + k + 1) | 0;
    const xs = Math.imul(x, 7);
    let r: number;
    if (k < 9) r = down(k + 1, t);
    else if (!again && (t & 1)) { again = true; const s0 = sleep(t); r = (s0 + down(0, t)) | 0; }
    else r = sleep(t);
    return ((r + k) | 0) ^ xs;
  };
  const value = (down(0, 4) + down(0, 11)) | 0;
  return { value, asked, entries };
}

test("a chain of ten calls down to a blocking import suspends and resumes exactly, preempted at every call", () => {
  const answer = (n: number) => 1000 + n * 77;
  const model = chainModel(answer);
  assert.deepEqual(model.asked, [59, 114, 66], "the model recurses once");
  for (const { name, make } of both(CHAIN)) {
    for (const fuel of [3, 17, 2_000_000]) {
      const asked: number[] = [];
      const r = make((runner) => ({ sleep_ms: (ms: number) => { asked.push(ms); return runner().suspend("blocked"); } }));
      const out = runToEnd(r, fuel, answer);
      assert.equal(out.value, model.value, `${name}, slices of ${fuel}`);
      // Suspended once per call of sleep_ms, which ran once each (the rewind is answered by the
      // delivered value), with the arguments in order; every call's store ran exactly once.
      assert.equal(out.blocked, 3, name);
      assert.deepEqual(asked, model.asked, name);
      assert.equal(new DataView(r.memory.buffer).getInt32(9000, true), model.entries, `${name}: entries counted once each`);
      if (fuel === 3) assert.ok(out.slices > 30, `${name}: preempted all along (${out.slices} slices)`);
    }
  }
});

// Tree recursion never returns to shallow depth for long: every frame on the stack is resumable.
const TREE = `(module (memory (export "memory") 1)
  (func $tree (param $d i32) (result i32) (local $a i32)
    (if (i32.eqz (local.get $d)) (then (return (i32.const 1))))
    (local.set $a (call $tree (i32.sub (local.get $d) (i32.const 1))))
    (i32.add (i32.add (local.get $a) (call $tree (i32.sub (local.get $d) (i32.const 1)))) (local.get $d)))
  (global $depth (mut i32) (i32.const 14))
  (func (export "set") (param i32) (global.set $depth (local.get 0)))
  (func (export "main") (result i32) (call $tree (global.get $depth))))`;
const treeValue = (d: number): number => (d === 0 ? 1 : (2 * treeValue(d - 1) + d) | 0);

test("tree recursion preempted every few units of fuel computes what the plain module computes", () => {
  const plain = new WebAssembly.Instance(compile(wat(TREE))).exports as { main(): number };
  assert.equal(plain.main(), treeValue(14));
  for (const { name, make } of both(TREE)) {
    for (const fuel of [1, 9, 40]) {
      const out = runToEnd(make(() => ({})), fuel);
      assert.equal(out.value, treeValue(14), `${name}, slices of ${fuel}`);
      assert.ok(out.slices >= (2 ** 15 - 1) / (fuel + 40), `${name}: ${out.slices} slices for ${2 ** 15 - 1} calls`);
    }
  }
});

test("a recursion that never yields and never ends is preempted within one region's fuel of each slice", () => {
  for (const { name, make } of both(TREE)) {
    const r = make(() => ({}));
    (r.instance.exports.set as (d: number) => void)(60); // 2^61 calls: runs for good
    for (let i = 0; i < 200; i++) {
      const res = r.runSlice(500);
      assert.equal(res.reason, "out_of_fuel", `${name}: slice ${i}`);
      // The slice ends at the first fuel check past its fuel: one function body's charge at most.
      assert.ok(res.fuelUsed >= 500 && res.fuelUsed <= 500 + 64, `${name}: slice ${i} used ${res.fuelUsed}`);
    }
  }
});

test("a frame that does not fit the save area traps the app as too deep, and the app's data past the area is untouched", () => {
  // Each frame holds three v128 locals (about 100 bytes); 400 levels overflow the 8 KiB area.
  const text = `(module (memory (export "memory") 1)
    (data (i32.const 8192) "sentinel")
    (func $down (param $n i32) (result i32) (local $v0 v128) (local $v1 v128) (local $v2 v128)
      (local.set $v0 (i32x4.splat (local.get $n)))
      (local.set $v1 (i32x4.add (local.get $v0) (local.get $v0)))
      (local.set $v2 (i32x4.add (local.get $v1) (local.get $v0)))
      (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 0))
        (else (i32.add (i32x4.extract_lane 0 (local.get $v2)) (call $down (i32.sub (local.get $n) (i32.const 1)))))))
    (func (export "main") (result i32) (call $down (i32.const 400))))`;
  const [resumable] = both(text);
  const r = resumable.make(() => ({}));
  let res = r.runSlice(50);
  let preempted = 0;
  while (res.reason === "out_of_fuel") { preempted++; res = r.runSlice(50); }
  assert.ok(preempted > 5, "preempted while the stack still fit");
  assert.equal(res.reason, "trapped");
  assert.match(res.error!.message, /too deep to save/);
  // No resumable frame was written past the save area (asyncify writes its own and checks after).
  assert.equal(new TextDecoder().decode(new Uint8Array(r.memory.buffer, 8192, 8)), "sentinel");
});

test("a function reached through a table keeps asyncify's frames and still resumes exactly beside resumable ones", () => {
  // $leafy is reached by call_indirect (asyncify's), $rec only directly (resumable, and recursive
  // directly too); each calls the other.
  const text = `(module (memory (export "memory") 1)
    (type $t (func (param i32) (result i32)))
    (table 1 funcref) (elem (i32.const 0) $leafy)
    (func $leafy (param $n i32) (result i32)
      (if (result i32) (i32.lt_s (local.get $n) (i32.const 1)) (then (i32.const 5))
        (else (i32.add (call $rec (i32.sub (local.get $n) (i32.const 1))) (local.get $n)))))
    (func $rec (param $n i32) (result i32) (local $a i32)
      (local.set $a (call_indirect (type $t) (local.get $n) (i32.const 0)))
      (if (i32.gt_s (local.get $n) (i32.const 3)) (then (local.set $a (i32.add (local.get $a) (call $rec (i32.sub (local.get $n) (i32.const 3)))))))
      (i32.add (local.get $a) (call_indirect (type $t) (i32.shr_u (local.get $n) (i32.const 1)) (i32.const 0))))
    (func (export "main") (result i32) (call $rec (i32.const 18))))`;
  const plain = (new WebAssembly.Instance(compile(wat(text))).exports as { main(): number }).main();
  for (const { name, make } of both(text)) {
    for (const fuel of [2, 11]) assert.equal(runToEnd(make(() => ({})), fuel).value, plain, `${name}, slices of ${fuel}`);
  }
});

test("i64, f32 and f64 locals and results come back from a frame exactly", () => {
  const text = `(module (memory (export "memory") 1)
    (func $mix (param $n i32) (param $x i64) (param $f f32) (result f64) (local $y f64)
      (local.set $y (f64.add (f64.convert_i64_s (local.get $x)) (f64.promote_f32 (local.get $f))))
      (if (result f64) (i32.eqz (local.get $n)) (then (local.get $y))
        (else (f64.add (f64.mul (local.get $y) (f64.const 0.5))
          (call $mix (i32.sub (local.get $n) (i32.const 1)) (i64.mul (local.get $x) (i64.const 3)) (f32.mul (local.get $f) (f32.const 1.5)))))))
    (func (export "main") (result i32) (i32.trunc_f64_s (f64.div (call $mix (i32.const 30) (i64.const 7) (f32.const 0.25)) (f64.const 1e9)))))`;
  const plain = (new WebAssembly.Instance(compile(wat(text))).exports as { main(): number }).main();
  assert.ok(plain > 1000, `the computation is not trivial (${plain})`);
  for (const { name, make } of both(text)) {
    for (const fuel of [1, 5, 23]) assert.equal(runToEnd(make(() => ({})), fuel).value, plain, `${name}, slices of ${fuel}`);
  }
});
