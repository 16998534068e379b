// Instrumentation and the app runner: preemption of loops and recursion with state intact,
// blocking imports, traps, the contract checks at install, the memory quota, and identical
// results with and without instrumentation.
import { test } from "node:test";
import assert from "node:assert/strict";
import binaryen from "binaryen";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { mkdirSync, readFileSync } from "node:fs";
import * as abi from "../../assembly/abi.js";
import { instrumentApp, InstrumentError, type InstrumentOptions } from "../../host/apps/instrument.js";
import { AppRunner, type ImportFn } from "../../host/apps/runner.js";
import { appInstrumentOptions } from "../../host/apps/imports.js";
import { wat } from "./instrument-support.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const OPTS: InstrumentOptions = appInstrumentOptions(4 * 65536);
/** Where test apps keep what a test reads back: above the runtime area. */
const OUT = 9000;

function runner(text: string, imports: Record<string, ImportFn> = {}, opts: Partial<InstrumentOptions> = {}): AppRunner {
  const out = instrumentApp(wat(text), { ...OPTS, ...opts });
  return new AppRunner(new WebAssembly.Module(out.bytes as Uint8Array<ArrayBuffer>), imports);
}

const i32At = (r: AppRunner, addr: number) => new DataView(r.memory.buffer).getInt32(addr, true);

test("an infinite loop is preempted and resumes with its local counter intact", () => {
  const r = runner(`(module (memory (export "memory") 1)
    (func (export "main") (result i32) (local $i i32)
      (loop $spin
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (i32.store (i32.const ${OUT}) (local.get $i))
        (br $spin))
      (i32.const 0)))`);
  const seen: number[] = [];
  for (let s = 0; s < 12; s++) {
    const res = r.runSlice(1000);
    assert.equal(res.reason, "out_of_fuel");
    assert.ok(res.fuelUsed >= 1000 && res.fuelUsed < 1100, `fuel used ${res.fuelUsed}`);
    seen.push(i32At(r, OUT));
  }
  // The counter lives in a local: had the loop restarted, it would have started again from 1.
  const steps = seen.slice(1).map((v, i) => v - seen[i]);
  assert.ok(seen[0] > 0);
  assert.deepEqual(steps.slice(1), new Array(steps.length - 1).fill(steps[1]), `every slice after the first runs as many iterations: ${steps}`);
  assert.ok(steps[1] > 10);
});

test("nested loops: the inner loop alone is preempted and the outer state survives", () => {
  const r = runner(`(module (memory (export "memory") 1)
    (func (export "main") (result i32) (local $i i32) (local $j i32) (local $sum i32)
      (loop $outer
        (local.set $j (i32.const 0))
        (loop $inner
          (local.set $sum (i32.add (local.get $sum) (i32.mul (local.get $i) (local.get $j))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_if $inner (i32.lt_u (local.get $j) (i32.const 300))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $outer (i32.lt_u (local.get $i) (i32.const 200))))
      (local.get $sum)))`);
  let slices = 0;
  for (;;) {
    const res = r.runSlice(500);
    slices++;
    if (res.reason === "exited") { assert.equal(res.value, (199 * 200 / 2) * (299 * 300 / 2)); break; }
    assert.equal(res.reason, "out_of_fuel");
  }
  assert.ok(slices > 100, `preempted ${slices - 1} times`);
});

// A loop that never falls through (it leaves only by a return) in an operand position: flattened,
// it sits in a block that is unreachable because of that loop alone, and the loop's metering
// wrapper must stay unreachable too, or binaryen's validator refuses the block.
test("a value loop that only leaves by a return, inside an operand, is metered and preempted", () => {
  const loopModule = (inner: string) => runner(`(module (memory (export "memory") 1)
    (func (export "main") (result i32) (local $i i32) (local $r i32)
      (local.set $r (i32.add (i32.const 1000)
        (loop $outer (result i32)
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (if (i32.ge_u (local.get $i) (i32.const 500)) (then (return (local.get $i))))
          ${inner})))
      (local.get $r)))`);
  // The back edge as a plain branch, and as an inner loop that branches to the outer one.
  for (const inner of ["(br $outer)", "(loop $inner (br $outer))"]) {
    const r = loopModule(inner);
    let slices = 0;
    for (;;) {
      const res = r.runSlice(50);
      slices++;
      if (res.reason === "exited") { assert.equal(res.value, 500, inner); break; }
      assert.equal(res.reason, "out_of_fuel", inner);
    }
    assert.ok(slices >= 500 * 4 / 50, `${inner}: ${slices} slices for 500 iterations`);
  }
});

test("recursion is metered: every call is charged, and a deep recursion is preempted and completes", () => {
  const r = runner(`(module (memory (export "memory") 1)
    (func $down (param $n i32) (result i32)
      (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 0))
        (else (i32.add (i32.const 1) (call $down (i32.sub (local.get $n) (i32.const 1)))))))
    (func (export "main") (result i32) (call $down (i32.const 300))))`);
  let preempted = 0;
  let fuel = 0;
  for (;;) {
    const res = r.runSlice(40);
    fuel += res.fuelUsed;
    if (res.reason === "exited") { assert.equal(res.value, 300); break; }
    assert.equal(res.reason, "out_of_fuel");
    preempted++;
  }
  assert.ok(preempted >= 300 * 2 / 40, `preempted ${preempted} times`);
  assert.ok(fuel >= 301, `charged ${fuel} for 301 calls`);
});

test("a call to a loop-free leaf function is charged the leaf's whole body at the call site", () => {
  // The leaf adds 30 constants; the loop calls it 1000 times.
  const body = Array.from({ length: 30 }, (_, i) => `(local.set $x (i32.add (local.get $x) (i32.const ${i + 1})))`).join(" ");
  const leafModule = (call: string) => `(module (memory (export "memory") 1)
    (func $leaf (param $x i32) (result i32) ${body} (local.get $x))
    (func (export "main") (result i32) (local $i i32) (local $acc i32)
      (loop $again
        (local.set $acc ${call})
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $again (i32.lt_u (local.get $i) (i32.const 1000))))
      (local.get $acc)))`;
  const fuelOf = (text: string) => {
    const r = runner(text);
    let fuel = 0;
    for (;;) {
      const res = r.runSlice(1_000_000_000);
      fuel += res.fuelUsed;
      if (res.reason === "exited") return { fuel, value: res.value };
      assert.equal(res.reason, "out_of_fuel");
    }
  };
  const withLeaf = fuelOf(leafModule(`(call $leaf (local.get $acc))`));
  const bare = fuelOf(leafModule(`(local.get $acc)`));
  assert.equal(withLeaf.value, 1000 * 465);
  // Each call pays for what it runs: at least the 30 additions and the 30 stores to the local.
  assert.ok(withLeaf.fuel - bare.fuel >= 1000 * 60, `the calls cost ${withLeaf.fuel - bare.fuel} fuel for 1000 x 30 additions`);
});

test("a loop whose charge is more than a slice's fuel still runs, and each iteration is charged once", () => {
  // Each iteration of the loop costs far more than a slice of 7 gives.
  const adds = Array.from({ length: 40 }, (_, i) => `(local.set $x (i32.xor (local.get $x) (i32.mul (local.get $i) (i32.const ${i + 3}))))`).join(" ");
  const text = `(module (memory (export "memory") 1)
    (func (export "main") (result i32) (local $i i32) (local $x i32)
      (loop $again ${adds}
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $again (i32.lt_u (local.get $i) (i32.const 300))))
      (local.get $x)))`;
  const plain = (new WebAssembly.Instance(new WebAssembly.Module(wat(text) as Uint8Array<ArrayBuffer>)).exports as { main(): number }).main();
  const total = (fuel: number) => {
    const r = runner(text);
    let used = 0, slices = 0;
    for (;;) {
      const res = r.runSlice(fuel);
      used += res.fuelUsed;
      slices++;
      if (res.reason === "exited") { assert.equal(res.value, plain, `slices of ${fuel}`); return { used, slices }; }
      assert.equal(res.reason, "out_of_fuel");
      assert.ok(slices < 10_000, `slices of ${fuel}: progresses (${slices} slices for 300 iterations)`);
    }
  };
  const whole = total(1_000_000_000);
  assert.ok(whole.used >= 300 * 40 * 3, `${whole.used} fuel for 300 x 40 multiply-xors`);
  // A preempted iteration is paid in the slice it ran out in, and not again when it resumes.
  for (const fuel of [7, 100, 1000]) {
    const sliced = total(fuel);
    assert.equal(sliced.used, whole.used, `slices of ${fuel} charge what one slice charges`);
    assert.ok(sliced.slices >= Math.min(300, whole.used / (fuel + 200)), `slices of ${fuel}: ${sliced.slices}`);
  }
});

test("recursion without a loop never runs unbounded: endless recursion is preempted, then trapped", () => {
  const text = `(module (memory (export "memory") 1)
    (func $down (param $n i32) (result i32) (i32.add (call $down (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))
    (func (export "main") (result i32) (call $down (i32.const 0))))`;
  // Preempted all along, until suspending it needs more than the save area.
  const small = runner(text);
  let outOfFuel = 0;
  let last = small.runSlice(100);
  while (last.reason === "out_of_fuel") { outOfFuel++; last = small.runSlice(100); }
  assert.ok(outOfFuel > 10);
  assert.equal(last.reason, "trapped");
  assert.match(last.error!.message, /too deep to save/);
  // Given all the fuel it wants, it overflows the engine's stack: a trap of this app only.
  const big = runner(text);
  const res = big.runSlice(0x7fffffff);
  assert.equal(res.reason, "trapped");
  assert.match(res.error!.message, /Maximum call stack size exceeded|too deep to save/);
});

test("a blocking import suspends only that instance and resumes with the delivered value", () => {
  let calls = 0;
  const r: AppRunner = runner(`(module (import "applibs" "sleep_ms" (func $sleep (param i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "main") (result i32) (local $before i32)
      (local.set $before (i32.const 1000))
      (i32.add (local.get $before) (call $sleep (i32.const 250)))))`, {
    sleep_ms: (ms: number) => { calls++; assert.equal(ms, 250); return r.suspend("blocked"); },
  });
  const first = r.runSlice(abi.SLICE_FUEL);
  assert.equal(first.reason, "blocked");
  assert.ok(r.suspended);
  r.resumeWith(42);
  const second = r.runSlice(abi.SLICE_FUEL);
  assert.deepEqual({ reason: second.reason, value: second.value }, { reason: "exited", value: 1042 });
  assert.equal(calls, 1, "the delivered value answered the rewind; the import ran once");
});

test("an import can finish the rewind itself (the device's trampolines do)", () => {
  const log: string[] = [];
  const r: AppRunner = runner(`(module (import "applibs" "yield" (func $yield (result i32)))
    (import "applibs" "wait" (func $wait (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "main") (result i32)
      (drop (call $yield))
      (call $wait (i32.const 3) (i32.const -1))))`, {
    yield: () => { if (r.isRewinding()) { log.push("yield rewound"); return r.finishRewind(0); } log.push("yield"); return r.suspend("yielded"); },
    wait: () => { if (r.isRewinding()) { log.push("wait rewound"); return r.finishRewind(7); } log.push("wait"); return r.suspend("blocked"); },
  });
  assert.equal(r.runSlice(1000).reason, "yielded");
  assert.equal(r.runSlice(1000).reason, "blocked");
  const end = r.runSlice(1000);
  assert.deepEqual({ reason: end.reason, value: end.value }, { reason: "exited", value: 7 });
  assert.deepEqual(log, ["yield", "yield rewound", "wait", "wait rewound"]);
});

test("a non-blocking import may not suspend; exit from an import ends the slice with its code", () => {
  const r: AppRunner = runner(`(module (import "applibs" "clock_ms" (func $clock (result i32)))
    (memory (export "memory") 1)
    (func (export "main") (result i32) (call $clock)))`, { clock_ms: () => r.suspend("blocked") });
  assert.throws(() => r.runSlice(1000), /applibs\.clock_ms cannot suspend/);
  const e: AppRunner = runner(`(module (import "applibs" "exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "main") (result i32) (call $exit (i32.const 3)) (i32.const 9)))`, { exit: (code: number) => e.exit(code) });
  const res = e.runSlice(1000);
  assert.deepEqual({ reason: res.reason, value: res.value }, { reason: "exited", value: 3 });
  assert.throws(() => e.runSlice(1000), /ended/);
});

test("traps are reported: unreachable and an out-of-bounds load", () => {
  const u = runner(`(module (memory (export "memory") 1) (func (export "main") (result i32) (unreachable)))`).runSlice(1000);
  assert.equal(u.reason, "trapped");
  assert.ok(u.error instanceof WebAssembly.RuntimeError);
  assert.match(u.error!.message, /unreachable/);
  const oob = runner(`(module (memory (export "memory") 1) (func (export "main") (result i32) (i32.load (i32.const 70000))))`).runSlice(1000);
  assert.equal(oob.reason, "trapped");
  assert.match(oob.error!.message, /out of bounds/);
});

test("a start function runs in the first slice, metered, not at instantiation", () => {
  const r = runner(`(module (memory (export "memory") 1) (global $g (mut i32) (i32.const 0))
    (func $init (local $i i32)
      (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 5000))))
      (global.set $g (local.get $i)))
    (start $init)
    (func (export "main") (result i32) (global.get $g)))`);
  let res = r.runSlice(1000);
  assert.equal(res.reason, "out_of_fuel", "the start function's loop is preemptible");
  while (res.reason === "out_of_fuel") res = r.runSlice(1000);
  assert.deepEqual({ reason: res.reason, value: res.value }, { reason: "exited", value: 5000 });
});

test("an export called between slices runs to completion and never preempts", () => {
  const r = runner(`(module (memory (export "memory") 1)
    (func (export "count") (param $n i32) (result i32) (local $i i32)
      (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
      (local.get $i))
    (func (export "main") (result i32) (loop $spin (br $spin)) (i32.const 0)))`);
  assert.equal(r.runSlice(500).reason, "out_of_fuel");
  assert.equal((r.instance.exports.count as (n: number) => number)(3_000_000), 3_000_000);
  assert.equal(r.runSlice(500).reason, "out_of_fuel", "the suspended app still resumes");
});

test("a module in binaryen's compact-imports encoding is read, and re-emitted in one Node 20 runs", () => {
  const mod = binaryen.parseText(`(module (import "applibs" "yield" (func (result i32))) (import "applibs" "clock_ms" (func (result i32)))
    (memory (export "memory") 1) (func (export "main") (result i32) (i32.add (call 0) (call 1))))`);
  mod.setFeatures(binaryen.Features.All);
  const compact = mod.emitBinary();
  mod.dispose();
  assert.equal(WebAssembly.validate(compact as Uint8Array<ArrayBuffer>), false, "Node 20 cannot read the compact encoding");
  const out = instrumentApp(compact, OPTS);
  assert.equal(WebAssembly.validate(out.bytes as Uint8Array<ArrayBuffer>), true);
  const names = WebAssembly.Module.imports(new WebAssembly.Module(out.bytes as Uint8Array<ArrayBuffer>)).map((i) => `${i.module}.${i.name}`);
  // clock_ms became a syscall gate (instrument-gates.ts); yield, which blocks, stays an import.
  assert.deepEqual(names.sort(), ["applibs.yield", "wasphere.over", "wasphere.preempt", "wasphere.syscall_charged", "wasphere.task", "wasphere.wall", "wasphere.walled"]);
});

function refused(text: string | Uint8Array, pattern: RegExp, opts: Partial<InstrumentOptions> = {}): void {
  const bytes = typeof text === "string" ? wat(text) : text;
  assert.throws(() => instrumentApp(bytes, { ...OPTS, ...opts }), (err: Error) => {
    assert.ok(err instanceof InstrumentError, `an InstrumentError, got ${err}`);
    assert.match(err.message, pattern);
    return true;
  });
}

test("imports outside applibs, of memory or tables, or unknown syscalls are refused by name", () => {
  refused(`(module (import "env" "Date_now" (func (result f64))) (memory (export "memory") 1) (func (export "main") (result i32) (i32.const 0)))`, /env\.Date_now/);
  refused(`(module (import "env" "memory" (memory 1)) (export "memory" (memory 0)) (func (export "main") (result i32) (i32.const 0)))`, /imports its memory \(env\.memory\)/);
  refused(`(module (import "env" "table" (table 1 funcref)) (memory (export "memory") 1) (func (export "main") (result i32) (i32.const 0)))`, /imports a table \(env\.table\)/);
  refused(`(module (import "applibs" "format_disk" (func)) (memory (export "memory") 1) (func (export "main") (result i32) (i32.const 0)))`, /applibs\.format_disk, which is not an applibs syscall/);
  refused(`(module (import "applibs" "sleep_ms" (func (param i64) (result i32))) (memory (export "memory") 1) (func (export "main") (result i32) (i32.const 0)))`, /applibs\.sleep_ms as \(i64\) -> \(i32\)/);
  refused(`(module (import "wasphere" "preempt" (func)) (memory (export "memory") 1) (func (export "main") (result i32) (i32.const 0)))`, /wasphere\.preempt/);
});

test("memory and data that break the contract are refused", () => {
  refused(`(module (memory (export "memory") 5) (func (export "main") (result i32) (i32.const 0)))`, /5 pages .* more than the app's quota of 262144 bytes/);
  refused(`(module (memory (export "memory") 1) (data (i32.const 1024) "x") (func (export "main") (result i32) (i32.const 0)))`,
    /^built without the wasphere SDK: data must start at 8192; build with asc --memoryBase 8192/);
  refused(`(module (memory (export "memory") 1) (func (export "run") (result i32) (i32.const 0)))`, /no entry point/);
  refused(`(module (func (export "main") (result i32) (i32.const 0)))`, /no memory/);
  // Data from 8192 up is what the SDK produces: accepted.
  instrumentApp(wat(`(module (memory (export "memory") 1) (data (i32.const 8192) "x") (func (export "main") (result i32) (i32.const 0)))`), OPTS);
});

test("the memory maximum is the quota: memory.grow past it returns -1", () => {
  const r = runner(`(module (memory (export "memory") 1)
    (func (export "main") (result i32)
      (loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
      (i32.mul (memory.size) (i32.const 65536))))`, {}, { quotaBytes: 3 * 65536 + 100 });
  const res = r.runSlice(abi.SLICE_FUEL);
  assert.deepEqual({ reason: res.reason, value: res.value }, { reason: "exited", value: 3 * 65536 });
  assert.equal(r.memory.buffer.byteLength, 3 * 65536);
});

async function buildKernels(): Promise<Uint8Array> {
  const out = join(ROOT, "build", "tests", "instrument-kernels.wasm");
  mkdirSync(dirname(out), { recursive: true });
  const asc = (await import("assemblyscript/asc")).default;
  const cwd = process.cwd();
  process.chdir(ROOT);
  try {
    const { error, stderr } = await asc.main(["tests/apps/instrument/kernels.ts", "-o", out,
      "--memoryBase", String(abi.APP_RUNTIME_AREA_BYTES), "--runtime", "stub", "--use", "abort=", "-O3", "--noAssert"]);
    if (error) throw new Error(stderr.toString());
  } finally {
    process.chdir(cwd);
  }
  return readFileSync(out);
}

test("compute kernels give identical results instrumented (preempted every 5000 fuel) and plain", async () => {
  const plainBytes = await buildKernels();
  const instrumented = instrumentApp(plainBytes, OPTS);
  assert.ok(instrumented.instrumentedBytes > instrumented.originalBytes);
  assert.equal(instrumented.originalBytes, plainBytes.length);
  const plain = new WebAssembly.Module(plainBytes as Uint8Array<ArrayBuffer>);
  const full = new WebAssembly.Module(instrumented.bytes as Uint8Array<ArrayBuffer>);
  for (const [kernel, n] of [[0, 3], [1, 18], [2, 4]]) {
    const inst = new WebAssembly.Instance(plain, {});
    const ex = inst.exports as { configure(k: number, n: number): void; main(): number };
    ex.configure(kernel, n);
    const expected = ex.main();
    const r = new AppRunner(full, {});
    (r.instance.exports.configure as (k: number, n: number) => void)(kernel, n);
    let slices = 0;
    let res = r.runSlice(5000);
    while (res.reason === "out_of_fuel") { slices++; res = r.runSlice(5000); }
    assert.equal(res.reason, "exited");
    assert.equal(res.value, expected, `kernel ${kernel}`);
    assert.ok(slices > 5, `kernel ${kernel} was preempted ${slices} times`);
  }
});
