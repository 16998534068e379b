// Fuzz target `instrument`: random valid modules through the instrumenter; the instrumented module
// must compute exactly what the original computes, while being preempted every few instructions.
//
// Generation: binaryen's translate-to-fuzz (`wasm-opt -ttf`, the npm package's own wasm-opt) turns
// seeded random bytes into a valid module with loops, recursion, calls through tables, traps and
// bulk memory, a hang limit that bounds its run, and `--denan` so no NaN payload can differ. A
// deterministic rewrite then makes it an app: its `fuzzing-support` imports become small functions
// that report each logged value through `applibs.gpio_set(tag, value)` (an i32 import the harness
// answers itself), data segments move to the app data area (from 8192, active), the memory is
// exported with the quota as its maximum, the start function becomes the first call of `main`, and
// `main` calls the exports in order with seeded arguments, from the index stored at address 0, and
// reports their results the same way. The input of a case is that rewritten module, so a
// reproducer is a .wasm file.
// Execution: the original runs as a plain instance; the instrumented one (instrumentApp, as at
// install) runs in an AppRunner with slices of 1 to 300 fuel. For main started at several indexes,
// the two must agree on: trapped or not, the reported values in order, main's result, and every
// byte of memory from 8192 up, with the same memory size. A JS stack overflow on either side is
// inconclusive (instrumented frames are larger), not a failure. A refusal by the contract is not a
// failure unless the instrumenter calls it its own bug, or something other than InstrumentError
// escapes.
// Must not: run wasm-opt during execute (the input is complete), or use Math.random.
import binaryen from "binaryen";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import * as abi from "../assembly/abi.js";
import { APP_FEATURES, instrumentApp, InstrumentError } from "../host/apps/instrument.js";
import { AppRunner } from "../host/apps/runner.js";
import { APP_IMPORTS, appInstrumentOptions } from "../host/apps/imports.js";
import { FuzzFailure, Prng, type FuzzTarget } from "./fuzz-lib.js";

const B = binaryen;
const QUOTA_PAGES = 32;
const DATA_BASE = abi.APP_RUNTIME_AREA_BYTES;
const SINK = "gpio_set";
const CALLS_SECTION = "wasphere-fuzz-calls";
const MAX_SLICES = 2_000_000;
const WASM_OPT = join(createRequire(import.meta.url).resolve("binaryen/package.json"), "..", "bin", "wasm-opt");

/**
 * Feature sets to generate with; each is within what apps may use (APP_FEATURES). Not here: SIMD
 * (--instrument-memory does not move SIMD loads and stores, and ttf without memory ops fails to
 * validate its own SIMD output) and bulk memory (memory.copy/fill addresses are not moved either).
 */
const FEATURE_FLAGS = [
  ["--enable-sign-ext", "--enable-mutable-globals", "--enable-nontrapping-float-to-int"],
  ["--enable-sign-ext", "--enable-mutable-globals", "--enable-multivalue"],
];

const X = binaryen as unknown as {
  readBinary(data: Uint8Array, features: number): binaryen.Module;
  _BinaryenSetStart(mod: number, start: number): void;
};

/** Tags of the values main reports through the sink. */
const TAG_LOG = 1, TAG_RESULT = 2, TAG_CALL = 3, TAG_IMPORT = 4;

function tagged(mod: binaryen.Module, tag: number, value: number): number {
  return mod.drop(mod.call(SINK, [mod.i32.const(tag), value], B.i32));
}

/** Statements that report `get()` (a value of `type`, read once per statement) as i32s. */
function report(mod: binaryen.Module, tag: number, type: number, get: () => number): number[] {
  if (type === B.i32) return [tagged(mod, tag, get())];
  if (type === B.i64) return [tagged(mod, tag, mod.i32.wrap(get())), tagged(mod, tag, mod.i32.wrap(mod.i64.shr_u(get(), i64Const(mod, 32n))))];
  if (type === B.f32) return [tagged(mod, tag, mod.i32.reinterpret(get()))];
  if (type === B.f64) return report(mod, tag, B.i64, () => mod.i64.reinterpret(get()));
  if (type === B.v128) return [0, 1, 2, 3].map((lane) => tagged(mod, tag, mod.i32x4.extract_lane(get(), lane)));
  return []; // references: not comparable across instances
}

// binaryen 132 takes one bigint; its typings still say (low, high).
const i64Const = (mod: binaryen.Module, v: bigint): number => (mod.i64.const as unknown as (v: bigint) => number)(BigInt.asIntN(64, v));

function constOf(mod: binaryen.Module, rng: Prng, type: number): number | null {
  const i32s = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 255, 65536, 8192];
  if (type === B.i32) return mod.i32.const(rng.chance(0.5) ? rng.pick(i32s) : rng.u32() | 0);
  if (type === B.i64) return i64Const(mod, (BigInt(rng.chance(0.5) ? 0 : rng.u32() | 0) << 32n) | BigInt(rng.pick(i32s) >>> 0));
  if (type === B.f32) return mod.f32.const(rng.pick([0, -0, 1.5, -1e30, 3.4e38, 1e-40, 65536]));
  if (type === B.f64) return mod.f64.const(rng.pick([0, -0, 1.5, -1e300, 1.7e308, 5e-324, 2 ** 53]));
  if (type === B.v128) return mod.v128.const(Array.from(rng.bytes(16)));
  if (type === B.funcref || type === B.externref) return mod.ref.null(type);
  return null;
}

/** Makes a ttf module an app whose `main` calls its exports (see the file's head). */
function makeApp(wasm: Uint8Array, rng: Prng): Uint8Array {
  const mod = X.readBinary(wasm, APP_FEATURES);
  try {
    mod.setFeatures(APP_FEATURES);
    mod.addFunctionImport(SINK, "applibs", SINK, B.createType([B.i32, B.i32]), B.i32);

    // The harness imports become functions that report their arguments; the memory hooks of
    // --instrument-memory move every address up by DATA_BASE and pass values through.
    for (let i = mod.getNumFunctions() - 1; i >= 0; i--) {
      const info = B.getFunctionInfo(mod.getFunctionByIndex(i));
      if (!info.module || info.name === SINK) continue;
      const params = B.expandType(info.params);
      if (info.module === "env") {
        const ptr = () => mod.local.get(3, B.i32);
        const body = /^(load|store)_ptr$/.test(info.base ?? "")
          ? mod.select(mod.i32.lt_u(ptr(), mod.i32.const(-DATA_BASE)), mod.i32.add(ptr(), mod.i32.const(DATA_BASE)), ptr())
          : mod.local.get(1, params[1]);
        mod.removeFunction(info.name);
        mod.addFunction(info.name, info.params, info.results, [], body);
        continue;
      }
      const body: number[] = [tagged(mod, TAG_IMPORT, mod.i32.const(params.length))];
      params.forEach((t, p) => body.push(...report(mod, TAG_CALL, t, () => mod.local.get(p, t))));
      const results = B.expandType(info.results);
      if (results.length === 1) {
        // sleep(ms, id) answers id; every other import answers zero.
        body.push(info.base === "sleep" && params.length === 2 ? mod.local.get(1, B.i32) : constOf(mod, new Prng(0), results[0]) ?? mod.unreachable());
        if (results[0] === B.i32 && info.base !== "sleep") body[body.length - 1] = mod.i32.const(0);
      }
      mod.removeFunction(info.name);
      mod.addFunction(info.name, info.params, info.results, [], mod.block(null, body, info.results));
    }

    // Data moves above the runtime area, active; the memory gets the quota as its maximum.
    const memInfo = mod.hasMemory() ? mod.getMemoryInfo() : null;
    const segments = [];
    let nextPassive = DATA_BASE + 32768;
    const dataApi = mod as unknown as { getNumDataSegments(): number; getDataSegmentByIndex(i: number): number; getDataSegmentInfo(ref: number): { offset: number | null; data: ArrayBuffer; passive: boolean } };
    for (let s = 0; s < dataApi.getNumDataSegments(); s++) {
      const seg = dataApi.getDataSegmentInfo(dataApi.getDataSegmentByIndex(s));
      const offset = seg.passive ? (nextPassive += seg.data.byteLength + 16) - seg.data.byteLength - 16 : DATA_BASE + ((seg.offset ?? 0) >>> 0);
      segments.push({ name: String(s), data: new Uint8Array(seg.data), passive: false, offset: mod.i32.const(offset) });
    }
    const initial = Math.min(memInfo ? memInfo.initial : 1, QUOTA_PAGES);
    mod.setMemory(Math.max(initial, 2), QUOTA_PAGES, "memory", segments, false, false);

    // main: the start function first, then each export from the index at address 0 on.
    const calls: number[] = [];
    const start = mod.getStart();
    if (start) {
      calls.push(mod.call(B.getFunctionInfo(start).name, [], B.none));
      X._BinaryenSetStart(mod.ptr, 0);
    }
    const vars: number[] = [];
    let callCount = 0;
    for (let e = 0; e < mod.getNumExports(); e++) {
      const ex = B.getExportInfo(mod.getExportByIndex(e));
      if (ex.kind !== B.ExternalFunction) continue;
      const f = B.getFunctionInfo(mod.getFunction(ex.value));
      const args = B.expandType(f.params).map((t) => constOf(mod, rng, t));
      if (args.some((a) => a === null)) continue;
      const results = B.expandType(f.results);
      const call = mod.call(ex.value, args as number[], f.results);
      const body: number[] = [];
      if (results.length === 0) body.push(call);
      else {
        const local = vars.length;
        vars.push(f.results);
        body.push(mod.local.set(local, call));
        if (results.length === 1) body.push(...report(mod, TAG_RESULT, results[0], () => mod.local.get(local, f.results)));
        else results.forEach((t, k) => body.push(...report(mod, TAG_RESULT, t, () => mod.tuple.extract(mod.local.get(local, f.results), k))));
      }
      calls.push(mod.if(mod.i32.le_u(mod.i32.load(0, 4, mod.i32.const(0)), mod.i32.const(callCount)), mod.block(null, body, B.none)));
      callCount++;
    }
    for (let e = mod.getNumExports() - 1; e >= 0; e--) {
      const name = B.getExportInfo(mod.getExportByIndex(e)).name;
      if (name !== "memory") mod.removeExport(name);
    }
    calls.push(mod.i32.const(0));
    mod.addFunction("main", B.none, B.i32, vars, mod.block(null, calls, B.i32));
    mod.addFunctionExport("main", "main");
    mod.addCustomSection(CALLS_SECTION, Uint8Array.of(callCount & 0xff, callCount >> 8));
    if (!mod.validate()) throw new Error("the fuzz harness built a module that does not validate");
    return mod.emitBinary();
  } finally {
    mod.dispose();
  }
}

function ttf(rng: Prng): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), "wasphere-fuzz-"));
  try {
    writeFileSync(join(dir, "in.dat"), rng.bytes(rng.range(200, 12000)));
    const flags = rng.pick(FEATURE_FLAGS);
    const r = spawnSync(process.execPath, [WASM_OPT, join(dir, "in.dat"), "-ttf", "--mvp-features", ...flags, "--denan", "--instrument-memory", "-o", join(dir, "out.wasm")], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`wasm-opt -ttf failed: ${r.stderr}`);
    return new Uint8Array(readFileSync(join(dir, "out.wasm")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Outcome { trapped: string | null; value: number | null; log: number[]; memory: Uint8Array; overflow: boolean }

const isStackOverflow = (err: unknown) => err instanceof RangeError && /call stack/i.test(err.message);

function runOriginal(module: WebAssembly.Module, first: number): Outcome {
  const log: number[] = [];
  const instance = new WebAssembly.Instance(module, { applibs: { [SINK]: (tag: number, v: number) => { log.push(tag, v); return 0; } } });
  const memory = instance.exports.memory as WebAssembly.Memory;
  new DataView(memory.buffer).setUint32(0, first, true);
  try {
    const value = (instance.exports.main as () => number)();
    return { trapped: null, value, log, memory: new Uint8Array(memory.buffer).slice(DATA_BASE), overflow: false };
  } catch (err) {
    if (!(err instanceof WebAssembly.RuntimeError) && !(err instanceof RangeError)) throw err;
    return { trapped: (err as Error).message, value: null, log, memory: new Uint8Array(memory.buffer).slice(DATA_BASE), overflow: isStackOverflow(err) };
  }
}

function runInstrumented(module: WebAssembly.Module, first: number, rng: Prng): Outcome & { slices: number } {
  const log: number[] = [];
  const applibs: Record<string, () => number> = {};
  for (const imp of APP_IMPORTS) applibs[imp.name] = () => { throw new Error(`applibs.${imp.name} is not part of the fuzz harness`); };
  applibs[SINK] = ((tag: number, v: number) => { log.push(tag, v); return 0; }) as () => number;
  const runner = new AppRunner(module, applibs);
  new DataView(runner.memory.buffer).setUint32(0, first, true);
  for (let slices = 1; slices <= MAX_SLICES; slices++) {
    const res = runner.runSlice(rng.range(1, 300));
    if (res.reason === "out_of_fuel") continue;
    const memory = new Uint8Array(runner.memory.buffer).slice(DATA_BASE);
    if (res.reason === "exited") return { trapped: null, value: res.value ?? 0, log, memory, overflow: false, slices };
    if (res.reason === "trapped") {
      const msg = res.error?.message ?? "trap";
      return { trapped: msg, value: null, log, memory, overflow: /call stack|too deep/i.test(msg), slices };
    }
    throw new FuzzFailure(`the instrumented module suspended with ${res.reason}, though it calls no blocking import`);
  }
  throw new FuzzFailure(`the instrumented module did not finish in ${MAX_SLICES} slices`);
}

/** A short, stable description of where two outcomes first differ. */
function difference(a: Outcome, b: Outcome): string | null {
  if ((a.trapped === null) !== (b.trapped === null)) return `original ${a.trapped === null ? `returned ${a.value}` : `trapped (${a.trapped})`}, instrumented ${b.trapped === null ? `returned ${b.value}` : `trapped (${b.trapped})`}`;
  if (a.trapped !== null && b.trapped !== null && a.trapped !== b.trapped) return `both trapped, differently: original "${a.trapped}", instrumented "${b.trapped}"`;
  if (a.value !== b.value) return `main returned ${a.value} originally, ${b.value} instrumented`;
  const n = Math.min(a.log.length, b.log.length);
  for (let i = 0; i < n; i += 2) {
    if (a.log[i] !== b.log[i] || a.log[i + 1] !== b.log[i + 1]) return `reported value ${i / 2} differs: original (tag ${a.log[i]}, ${a.log[i + 1]}), instrumented (tag ${b.log[i]}, ${b.log[i + 1]})`;
  }
  if (a.log.length !== b.log.length) return `the original reported ${a.log.length / 2} values, the instrumented ${b.log.length / 2}`;
  if (a.memory.length !== b.memory.length) return `memory ends at ${a.memory.length + DATA_BASE} bytes originally, ${b.memory.length + DATA_BASE} instrumented`;
  for (let i = 0; i < a.memory.length; i++) if (a.memory[i] !== b.memory[i]) return `memory differs at ${i + DATA_BASE}: ${a.memory[i]} originally, ${b.memory[i]} instrumented`;
  return null;
}

/** Counts of what the cases ended in, for the run's summary. */
export const instrumentCounts = { compared: 0, refused: 0, inconclusive: 0, valuesCompared: 0, slices: 0 };

export const instrumentTarget: FuzzTarget = {
  name: "instrument",
  summary: "random valid modules (wasm-opt -ttf), instrumented and preempted every 1-300 fuel: same traps, values and memory as the original",
  hangMs: 60000,

  generate(rng: Prng): Uint8Array {
    return makeApp(ttf(rng), rng);
  },

  execute(input: Uint8Array): void {
    const original = new WebAssembly.Module(input as Uint8Array<ArrayBuffer>);
    const section = WebAssembly.Module.customSections(original, CALLS_SECTION)[0];
    const callCount = section ? new Uint8Array(section)[0] | (new Uint8Array(section)[1] << 8) : 1;
    let bytes: Uint8Array;
    try {
      bytes = instrumentApp(input, appInstrumentOptions(QUOTA_PAGES * 65536)).bytes;
    } catch (err) {
      if (err instanceof InstrumentError && !/instrumentation bug/.test(err.message)) { instrumentCounts.refused++; return; }
      throw new FuzzFailure(`instrumenting a valid module failed: ${(err as Error).name}: ${(err as Error).message.split("\n")[0]}`);
    }
    const instrumented = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
    const rng = new Prng(input.length * 2654435761 + (input[input.length - 1] ?? 0));
    const firsts = [...new Set([0, callCount >> 1, rng.below(callCount)])].filter((f) => f >= 0);
    for (const first of firsts) {
      const a = runOriginal(original, first);
      const b = runInstrumented(instrumented, first, rng);
      if (a.overflow || b.overflow) { instrumentCounts.inconclusive++; continue; }
      const diff = difference(a, b);
      if (diff) throw new FuzzFailure(`main from export ${first} of ${callCount}: ${diff}`);
      instrumentCounts.compared++;
      instrumentCounts.valuesCompared += a.log.length / 2;
      instrumentCounts.slices += b.slices;
    }
  },
};
