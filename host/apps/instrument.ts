// Instrumenting an app module at install: checks it against the app contract, then rewrites it so
// that the one JS thread running every app can take the CPU back from it.
//
// What the rewrite guarantees:
// - Metering. One unit of fuel is one Wasm instruction (locals, blocks, nops and drops are free).
//   Fuel is charged at every function entry and every loop header; the charge of a site is the
//   instruction count of its region: the function body outside its loops, or the loop body
//   outside its inner loops. Within one entry of a region no instruction runs twice (going back
//   needs a branch to a loop header, which charges again), so the fuel charged is an upper bound
//   on the instructions executed, and no loop iteration or call (recursion included) goes
//   uncharged. When the count drops below zero the code calls the import `wasphere.preempt`,
//   which the host answers by unwinding. Unmetered: the work inside single bulk instructions
//   (memory.fill/copy, bounded by the app's quota) and inside host calls.
//   The exported global `__wasphere_fuel` holds the count at every call boundary; a function
//   with loops keeps it in a local in between (see `meter`), so hot loops count in a register.
// - Suspension: binaryen's asyncify, told that only `wasphere.preempt` and the blocking `applibs`
//   imports unwind, so one app's instance can be left mid-call and resumed later. Indirect calls
//   are assumed to unwind (the asyncify default), so a call through a table is preemptible too.
//   The save area is the app's own memory [16, runtimeAreaBytes); its {current, end} header is at
//   8. A call stack deeper than the save area holds cannot be suspended: the app traps.
// - A start function would run during instantiation, outside any slice, so it is dropped from the
//   start section and called first by the entry `__wasphere_entry` (metered and preemptible like
//   everything else). `__wasphere_entry` then calls `main` (or `_start`) and returns its i32 (0 for
//   a void entry).
// - The memory's maximum is the quota: memory.grow past it returns -1 in the app's own instance.
// Memory: the rewrite adds two globals and no data; the save area is the runtime's 8 KiB.
// Must not: accept a module whose imports, memory or data break the contract (InstrumentError
// names the offender), or let any loop or call chain run without reaching a fuel check.
import binaryen from "binaryen";
import { APP_IMPORTS } from "./imports.js";

export interface InstrumentOptions {
  /** Imports that may suspend their caller, as `module.field`, e.g. "applibs.sleep_ms". */
  blockingImports: string[];
  /** The app's memory quota; the module's memory maximum becomes quotaBytes/65536 pages. */
  quotaBytes: number;
  /** APP_RUNTIME_AREA_BYTES: the low bytes of the app's memory that the runtime owns. */
  runtimeAreaBytes: number;
}

export interface InstrumentedApp {
  bytes: Uint8Array;
  originalBytes: number;
  instrumentedBytes: number;
}

export class InstrumentError extends Error {}

export const FUEL_GLOBAL = "__wasphere_fuel";
export const ENTRY_EXPORT = "__wasphere_entry";
export const PREEMPT_MODULE = "wasphere";
export const PREEMPT_FIELD = "preempt";
/** Where asyncify's {i32 current, i32 end} header lives in the app's memory. */
export const ASYNCIFY_HEADER_ADDR = 8;
/** The save area starts right after the header. */
export const ASYNCIFY_DATA_ADDR = 16;
/** Fuel outside a slice: high enough that no call made between slices ever runs out. */
export const FUEL_IDLE = 0x7fffffff;

/**
 * The Wasm features an app may use: what V8 in Node 20 runs. Not binaryen's `All`, which also
 * turns on encodings Node 20 cannot read (compact imports) and proposals it does not run.
 */
export const APP_FEATURES = binaryen.Features.MutableGlobals | binaryen.Features.NontrappingFPToInt |
  binaryen.Features.SIMD128 | binaryen.Features.BulkMemory | binaryen.Features.BulkMemoryOpt |
  binaryen.Features.SignExt | binaryen.Features.ReferenceTypes | binaryen.Features.Multivalue |
  binaryen.Features.TailCall | binaryen.Features.Atomics;

/** Accepted on input only (binaryen emits it when told All features); never emitted. */
const COMPACT_IMPORTS = (binaryen.Features as unknown as Record<string, number>).CompactImports ?? 0;

const PAGE_BYTES = 65536;
const PREEMPT_INTERNAL = "__wasphere_preempt";
const APP_MODULE = "applibs";

// ---------------------------------------------------------------------------------------------
// A small reader for the parts of the binary the contract is about. binaryen normalises what it
// reads (names, segment order); the checks look at the bytes the developer shipped.

interface ImportEntry { module: string; field: string; kind: number; typeIndex: number }
interface DataSegment { passive: boolean; offset: number | null; length: number }
interface ModuleFacts {
  types: { params: number[]; results: number[] }[];
  imports: ImportEntry[];
  memories: { initial: number; max: number | null }[];
  data: DataSegment[];
  exports: Map<string, number>; // name -> kind
}

const KIND_NAMES = ["function", "table", "memory", "global", "tag"];

class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array, readonly end = bytes.length) {}
  byte(): number {
    if (this.pos >= this.end) throw new InstrumentError("not a valid WebAssembly module: unexpected end of section");
    return this.bytes[this.pos++];
  }
  u32(): number {
    let result = 0, shift = 0, b: number;
    do { b = this.byte(); result += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80);
    return result;
  }
  s32(): number {
    let result = 0, shift = 0, b: number;
    do { b = this.byte(); result |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80 && shift < 35);
    if (shift < 32 && (b & 0x40)) result |= -1 << shift;
    return result | 0;
  }
  name(): string {
    const len = this.u32();
    const s = new TextDecoder().decode(this.bytes.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }
  limits(): { initial: number; max: number | null } {
    const flags = this.byte();
    const initial = this.u32();
    const max = flags & 1 ? this.u32() : null;
    return { initial, max };
  }
}

function readFacts(wasm: Uint8Array): ModuleFacts {
  if (wasm.length < 8 || wasm[0] !== 0 || wasm[1] !== 0x61 || wasm[2] !== 0x73 || wasm[3] !== 0x6d) {
    throw new InstrumentError("not a WebAssembly module (bad magic)");
  }
  const facts: ModuleFacts = { types: [], imports: [], memories: [], data: [], exports: new Map() };
  const top = new Reader(wasm);
  top.pos = 8;
  while (top.pos < wasm.length) {
    const id = top.byte();
    const size = top.u32();
    const r = new Reader(wasm, top.pos + size);
    r.pos = top.pos;
    top.pos += size;
    if (id === 1) {
      for (let n = r.u32(); n > 0; n--) {
        const form = r.byte();
        if (form !== 0x60) throw new InstrumentError("the module declares a non-function type (GC types are not supported in apps)");
        const params: number[] = []; const results: number[] = [];
        for (let p = r.u32(); p > 0; p--) params.push(r.byte());
        for (let q = r.u32(); q > 0; q--) results.push(r.byte());
        facts.types.push({ params, results });
      }
    } else if (id === 2) {
      const desc = (module: string, field: string, kind: number) => {
        let typeIndex = -1;
        if (kind === 0) typeIndex = r.u32();
        else if (kind === 1) { r.byte(); r.limits(); }
        else if (kind === 2) r.limits();
        else if (kind === 3) { r.byte(); r.byte(); }
        else if (kind === 4) { r.byte(); r.u32(); }
        else throw new InstrumentError(`import ${module}.${field} has an unknown kind ${kind}`);
        return typeIndex;
      };
      for (let n = r.u32(); n > 0; n--) {
        const module = r.name(); const field = r.name(); const kind = r.byte();
        // binaryen can emit the compact-imports encoding: an empty field, then 0x7f (a group
        // sharing the module) or 0x7e (a group sharing the module and the descriptor).
        if (field === "" && kind === 0x7f) {
          for (let g = r.u32(); g > 0; g--) { const f = r.name(); const k = r.byte(); facts.imports.push({ module, field: f, kind: k, typeIndex: desc(module, f, k) }); }
        } else if (field === "" && kind === 0x7e) {
          const k = r.byte(); const t = desc(module, "*", k);
          for (let g = r.u32(); g > 0; g--) facts.imports.push({ module, field: r.name(), kind: k, typeIndex: t });
        } else {
          facts.imports.push({ module, field, kind, typeIndex: desc(module, field, kind) });
        }
      }
    } else if (id === 5) {
      for (let n = r.u32(); n > 0; n--) facts.memories.push(r.limits());
    } else if (id === 7) {
      for (let n = r.u32(); n > 0; n--) { const name = r.name(); facts.exports.set(name, r.byte()); r.u32(); }
    } else if (id === 11) {
      for (let n = r.u32(); n > 0; n--) {
        const flags = r.u32();
        if (flags === 1) { facts.data.push({ passive: true, offset: null, length: skipBytes(r) }); continue; }
        if (flags === 2) r.u32(); // memory index
        if (flags > 2) throw new InstrumentError(`data segment with unknown flags ${flags}`);
        // The offset is a constant expression; only a plain i32.const has an address we can check.
        const op = r.byte();
        let offset: number | null = null;
        if (op === 0x41) { offset = r.s32() >>> 0; if (r.byte() !== 0x0b) offset = null; }
        if (offset === null) throw new InstrumentError("a data segment's offset is not a constant (i32.const): its address cannot be checked");
        facts.data.push({ passive: false, offset, length: skipBytes(r) });
      }
    }
  }
  return facts;
}

function skipBytes(r: Reader): number {
  const len = r.u32();
  r.pos += len;
  return len;
}

/**
 * Final edits on the emitted binary: memory 0's maximum becomes the quota, and the start section
 * goes (its function is called by the entry instead).
 */
function rewriteSections(wasm: Uint8Array, maxPages: number): Uint8Array {
  const parts: Uint8Array[] = [wasm.subarray(0, 8)];
  const top = new Reader(wasm);
  top.pos = 8;
  let sawMemory = false;
  while (top.pos < wasm.length) {
    const start = top.pos;
    const id = top.byte();
    const size = top.u32();
    const bodyStart = top.pos;
    top.pos += size;
    if (id === 8) continue;
    if (id !== 5) { parts.push(wasm.subarray(start, top.pos)); continue; }
    const r = new Reader(wasm, top.pos);
    r.pos = bodyStart;
    const count = r.u32();
    if (count !== 1) throw new InstrumentError(`the module has ${count} memories; an app has exactly one`);
    const flags = r.byte();
    const initial = r.u32();
    if (flags & 1) r.u32();
    const body = [...uleb(1), (flags & ~1) | 1, ...uleb(initial), ...uleb(maxPages)];
    parts.push(Uint8Array.from([5, ...uleb(body.length), ...body]));
    sawMemory = true;
  }
  if (!sawMemory) throw new InstrumentError("the instrumented module lost its memory section");
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function uleb(n: number): number[] {
  const out: number[] = [];
  do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; out.push(b); } while (n);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The contract checks.

const VALTYPE: Record<number, string> = { 0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64", 0x7b: "v128" };

function checkContract(facts: ModuleFacts, opts: InstrumentOptions): void {
  for (const imp of facts.imports) {
    const name = `${imp.module}.${imp.field}`;
    if (imp.kind === 2) throw new InstrumentError(`the module imports its memory (${name}); an app must define its own memory`);
    if (imp.kind === 1) throw new InstrumentError(`the module imports a table (${name}); an app must define its own tables`);
    if (imp.module !== APP_MODULE) throw new InstrumentError(`the module imports ${name}: an app may import only from "${APP_MODULE}"`);
    if (imp.kind !== 0) throw new InstrumentError(`the module imports ${name} as a ${KIND_NAMES[imp.kind]}; applibs provides only functions`);
    const known = APP_IMPORTS.find((i) => i.name === imp.field);
    if (!known) throw new InstrumentError(`the module imports ${name}, which is not an applibs syscall`);
    const type = facts.types[imp.typeIndex];
    const ok = type && type.params.length === known.params && type.params.every((t) => t === 0x7f) &&
      type.results.length === known.results && type.results.every((t) => t === 0x7f);
    if (!ok) {
      const sig = type ? `(${type.params.map((t) => VALTYPE[t] ?? "?").join(", ")}) -> (${type.results.map((t) => VALTYPE[t] ?? "?").join(", ")})` : "an unknown type";
      throw new InstrumentError(`the module imports ${name} as ${sig}; it takes ${known.params} i32 and returns ${known.results ? "an i32" : "nothing"}`);
    }
  }
  if (facts.memories.length > 1) throw new InstrumentError(`the module defines ${facts.memories.length} memories; an app has exactly one`);
  const quotaPages = Math.floor(opts.quotaBytes / PAGE_BYTES);
  const initialPages = facts.memories[0]?.initial ?? 0;
  if (initialPages > quotaPages) {
    throw new InstrumentError(`the module's memory starts at ${initialPages} pages (${initialPages * PAGE_BYTES} bytes), more than the app's quota of ${opts.quotaBytes} bytes`);
  }
  if (opts.runtimeAreaBytes < ASYNCIFY_DATA_ADDR + 64) throw new InstrumentError(`runtimeAreaBytes ${opts.runtimeAreaBytes} leaves no room for the save area`);
  for (const seg of facts.data) {
    if (seg.passive) throw new InstrumentError("the module has a passive data segment: built without the wasphere SDK (data must be placed at link time, from 8192 up)");
    if (seg.length > 0 && (seg.offset ?? 0) < opts.runtimeAreaBytes) {
      throw new InstrumentError(`built without the wasphere SDK: data must start at ${opts.runtimeAreaBytes}; build with asc --memoryBase ${opts.runtimeAreaBytes} (a data segment starts at ${seg.offset})`);
    }
  }
  if (facts.memories.length === 0) throw new InstrumentError("the module defines no memory; an app defines and exports one");
  if (![...facts.exports.values()].includes(2)) throw new InstrumentError("the module does not export its memory; an app exports it (as \"memory\")");
  for (const entry of ["main", "_start"]) if (facts.exports.has(entry) && facts.exports.get(entry) !== 0) throw new InstrumentError(`the export ${entry} is not a function`);
  if (!facts.exports.has("main") && !facts.exports.has("_start")) throw new InstrumentError("the module exports no entry point: an app exports main (or _start)");
  if (facts.exports.has(FUEL_GLOBAL) || facts.exports.has(ENTRY_EXPORT)) throw new InstrumentError(`the module already exports ${FUEL_GLOBAL} or ${ENTRY_EXPORT}: those names are the runtime's`);
}

// ---------------------------------------------------------------------------------------------
// Metering.

const B = binaryen;
// binaryen.js has these expression and function accessors at run time; its typings omit them.
const X = binaryen as unknown as {
  Loop: { getBody(e: number): number; setBody(e: number, body: number): void };
  Block: { setChildAt(e: number, index: number, child: number): void };
  If: { setIfTrue(e: number, child: number): void; setIfFalse(e: number, child: number): void };
  Call: { getTarget(e: number): string };
  _BinaryenFunctionAddVar(f: number, type: number): number;
  readBinary(data: Uint8Array, features: number): binaryen.Module;
  Function: { getBody(f: number): number; setBody(f: number, body: number): void; getParams(f: number): number; getResults(f: number): number };
};

/** The child fields of each expression kind the metering walk understands. */
const CHILDREN = new Map<number, string[]>([
  [B.BlockId, ["children"]], [B.IfId, ["condition", "ifTrue", "ifFalse"]], [B.LoopId, ["body"]],
  [B.BreakId, ["condition", "value"]], [B.SwitchId, ["condition", "value"]], [B.CallId, ["operands"]],
  [B.CallIndirectId, ["target", "operands"]], [B.LocalGetId, []], [B.LocalSetId, ["value"]],
  [B.GlobalGetId, []], [B.GlobalSetId, ["value"]], [B.TableGetId, ["index"]], [B.TableSetId, ["index", "value"]],
  [B.TableSizeId, []], [B.TableGrowId, ["value", "delta"]], [B.LoadId, ["ptr"]], [B.StoreId, ["ptr", "value"]],
  [B.ConstId, []], [B.UnaryId, ["value"]], [B.BinaryId, ["left", "right"]], [B.SelectId, ["ifTrue", "ifFalse", "condition"]],
  [B.DropId, ["value"]], [B.ReturnId, ["value"]], [B.NopId, []], [B.UnreachableId, []], [B.PopId, []],
  [B.MemorySizeId, []], [B.MemoryGrowId, ["delta"]], [B.AtomicRMWId, ["ptr", "value"]],
  [B.AtomicCmpxchgId, ["ptr", "expected", "replacement"]], [B.AtomicWaitId, ["ptr", "expected", "timeout"]],
  [B.AtomicNotifyId, ["ptr", "notifyCount"]], [B.AtomicFenceId, []], [B.SIMDExtractId, ["vec"]],
  [B.SIMDReplaceId, ["vec", "value"]], [B.SIMDShuffleId, ["left", "right"]], [B.SIMDTernaryId, ["a", "b", "c"]],
  [B.SIMDShiftId, ["vec", "shift"]], [B.SIMDLoadId, ["ptr"]], [B.SIMDLoadStoreLaneId, ["ptr", "vec"]],
  [B.MemoryInitId, ["dest", "offset", "size"]], [B.DataDropId, []], [B.MemoryCopyId, ["dest", "source", "size"]],
  [B.MemoryFillId, ["dest", "value", "size"]], [B.RefNullId, []], [B.RefIsNullId, ["value"]], [B.RefFuncId, []],
  [B.RefEqId, ["left", "right"]], [B.TryId, ["body", "catchBodies"]], [B.ThrowId, ["operands"]], [B.RethrowId, []],
  [B.TupleMakeId, ["operands"]], [B.TupleExtractId, ["tuple"]],
]);

function children(expr: number, fn: string): number[] {
  const id = B.getExpressionId(expr);
  const fields = CHILDREN.get(id);
  if (!fields) throw new InstrumentError(`function ${fn} uses an instruction the metering does not know (binaryen expression id ${id}); it cannot be made preemptible`);
  if (fields.length === 0) return [];
  const info = B.getExpressionInfo(expr) as unknown as Record<string, unknown>;
  const out: number[] = [];
  for (const f of fields) {
    const v = info[f];
    if (Array.isArray(v)) { for (const c of v) if (c) out.push(c as number); }
    else if (typeof v === "number" && v !== 0) out.push(v);
  }
  return out;
}

interface FunctionFacts {
  name: string;
  ref: number;
  /** Calls anything (direct, indirect or by reference). */
  calls: boolean;
  hasLoop: boolean;
  /** Metered nodes (see `metered`), whole body. */
  nodes: number;
}

/** Nodes that count as work. Locals, blocks, nops and drops are register moves and structure. */
function metered(id: number): boolean {
  return id !== B.LocalGetId && id !== B.LocalSetId && id !== B.BlockId && id !== B.NopId && id !== B.DropId;
}

const isCall = (id: number) => id === B.CallId || id === B.CallIndirectId || id === B.CallRefId;

/** First pass: which functions are loop-free leaves, and how big they are. */
function surveyFunction(ref: number): FunctionFacts {
  const info = B.getFunctionInfo(ref);
  const facts: FunctionFacts = { name: info.name, ref, calls: false, hasLoop: false, nodes: 0 };
  const stack = [X.Function.getBody(ref)];
  while (stack.length) {
    const e = stack.pop()!;
    const id = B.getExpressionId(e);
    if (metered(id)) facts.nodes++;
    if (id === B.LoopId) facts.hasLoop = true;
    if (isCall(id)) facts.calls = true;
    if (id === B.TryId || id === B.ThrowId || id === B.RethrowId) {
      throw new InstrumentError(`function ${info.name} uses exception handling, which apps may not use (a caught exception would skip the fuel accounting)`);
    }
    stack.push(...children(e, info.name));
  }
  return facts;
}

export interface MeterStats {
  /** Functions with a fuel check at entry. */
  functions: number;
  /** Of those, functions with loops, which keep the fuel in a local. */
  localFuel: number;
  /** Loop headers with a fuel check. */
  loops: number;
  /** Loop-free leaf functions, charged at their call sites instead. */
  leaves: number;
}

/**
 * Inserts the fuel checks. Two forms, which agree on one rule: at every call boundary the
 * global holds the fuel left.
 * - A function without loops charges the global directly at entry (one read-modify-write).
 * - A function with loops is flattened (binaryen's Flat IR: calls and returns are statements)
 *   and keeps the fuel in a local: loaded at entry, charged at each loop header, stored to the
 *   global before every call and return and at the end, reloaded after every call. A loop then
 *   carries its count in a register, not through memory.
 * Either way a check is `fuel -= cost; if (fuel < 0) preempt`, and preemptibility does not depend
 * on the synchronisation: within a slice the count only ever goes down, by at least 1 per loop
 * iteration or function entry.
 */
function meter(mod: binaryen.Module, fuelGlobal: string): MeterStats {
  const funcs: FunctionFacts[] = [];
  for (let i = 0; i < mod.getNumFunctions(); i++) {
    const ref = mod.getFunctionByIndex(i);
    if (B.getFunctionInfo(ref).module) continue; // an import: no body
    funcs.push(surveyFunction(ref));
  }
  // A leaf without loops always finishes within its own nodes; it is charged where it is called.
  const leafNodes = new Map<string, number>();
  for (const f of funcs) if (!f.calls && !f.hasLoop) leafNodes.set(f.name, f.nodes);
  const stats: MeterStats = { functions: 0, localFuel: 0, loops: 0, leaves: leafNodes.size };
  let labels = 0;
  const isLeafCall = (e: number) => B.getExpressionId(e) === B.CallId && leafNodes.has(X.Call.getTarget(e));

  const getG = () => mod.global.get(fuelGlobal, B.i32);
  const preempt = () => mod.call(PREEMPT_INTERNAL, [], B.none);

  /** Metered nodes of one region: `root`'s subtree without the bodies of loops inside it. */
  const regionCost = (root: number, fn: string): number => {
    let cost = 0;
    const stack = [root];
    while (stack.length) {
      const e = stack.pop()!;
      const id = B.getExpressionId(e);
      if (metered(id)) cost++;
      if (id === B.CallId) cost += leafNodes.get(X.Call.getTarget(e)) ?? 0;
      if (id === B.LoopId && e !== root) continue;
      stack.push(...children(e, fn));
    }
    return Math.max(cost, 1);
  };

  for (const f of funcs) {
    if (leafNodes.has(f.name)) continue;
    stats.functions++;
    if (!f.hasLoop) {
      const body = X.Function.getBody(f.ref);
      const t = X._BinaryenFunctionAddVar(f.ref, B.i32);
      X.Function.setBody(f.ref, mod.block(null, [
        mod.global.set(fuelGlobal, mod.local.tee(t, mod.i32.sub(getG(), mod.i32.const(regionCost(body, f.name))), B.i32)),
        mod.if(mod.i32.lt_s(mod.local.get(t, B.i32), mod.i32.const(0)), preempt()),
        body,
      ], B.auto));
      continue;
    }
    stats.localFuel++;
    mod.runPassesOnFunction(f.ref, ["flatten"]);
    const local = X._BinaryenFunctionAddVar(f.ref, B.i32);
    const getL = () => mod.local.get(local, B.i32);
    const store = () => mod.global.set(fuelGlobal, getL());
    const reload = () => mod.local.set(local, getG());
    const localCheck = (from: () => number, cost: number): number => mod.block(null, [
      mod.local.set(local, mod.i32.sub(from(), mod.i32.const(cost))),
      mod.if(mod.i32.lt_s(getL(), mod.i32.const(0)), mod.block(null, [store(), preempt(), reload()], B.none)),
    ], B.none);
    const synced = new Set<number>();
    const needsSync = (e: number): boolean => {
      const id = B.getExpressionId(e);
      if (id === B.CallId || id === B.CallIndirectId || id === B.CallRefId) return !isLeafCall(e);
      if (id === B.LocalSetId) { const v = B.getExpressionInfo(e) as unknown as { value: number }; return v.value !== 0 && needsSync(v.value); }
      return false;
    };
    const callOf = (e: number): number => (B.getExpressionId(e) === B.LocalSetId ? (B.getExpressionInfo(e) as unknown as { value: number }).value : e);
    // Visits a statement position of Flat IR; returns what goes in its place.
    const statement = (e: number): number => {
      const id = B.getExpressionId(e);
      if (id === B.BlockId) {
        const info = B.getExpressionInfo(e) as binaryen.BlockInfo;
        info.children.forEach((c, i) => { const n = statement(c); if (n !== c) X.Block.setChildAt(e, i, n); });
        return e;
      }
      if (id === B.IfId) {
        const info = B.getExpressionInfo(e) as binaryen.IfInfo;
        const t = statement(info.ifTrue); if (t !== info.ifTrue) X.If.setIfTrue(e, t);
        if (info.ifFalse) { const n = statement(info.ifFalse); if (n !== info.ifFalse) X.If.setIfFalse(e, n); }
        return e;
      }
      if (id === B.LoopId) {
        // The check leaves the loop to preempt and re-enters it at its header, so the call sits
        // outside the loop: asyncify then guards the loop as one statement, not each iteration.
        const body = X.Loop.getBody(e);
        const cost = regionCost(e, f.name);
        const visited = statement(body);
        const n = labels++;
        const done = `__wasphere_done${n}`, retry = `__wasphere_retry${n}`, exhausted = `__wasphere_exhausted${n}`;
        X.Loop.setBody(e, mod.block(null, [
          mod.local.set(local, mod.i32.sub(getL(), mod.i32.const(cost))),
          mod.br(exhausted, mod.i32.lt_s(getL(), mod.i32.const(0))),
          visited,
        ], B.auto));
        stats.loops++;
        return mod.block(done, [
          mod.loop(retry, mod.block(null, [
            mod.block(exhausted, [e, mod.br(done)], B.none),
            store(), preempt(), reload(),
            mod.br(retry),
          ], B.none)),
        ], B.none);
      }
      if (id === B.ReturnId) { synced.add(e); return mod.block(null, [store(), e], B.auto); }
      if (needsSync(e)) {
        const call = callOf(e);
        synced.add(call);
        if ((B.getExpressionInfo(call) as unknown as { isReturn: boolean }).isReturn) return mod.block(null, [store(), e], B.auto);
        return mod.block(null, [store(), e, reload()], B.auto);
      }
      return e;
    };
    const body = X.Function.getBody(f.ref);
    const entryCost = regionCost(body, f.name);
    const visited = statement(body);
    X.Function.setBody(f.ref, mod.block(null, [localCheck(getG, entryCost), visited, store()], B.auto));
    // Flat IR puts every call and return in a statement position; make sure none was missed.
    const stack = [X.Function.getBody(f.ref)];
    while (stack.length) {
      const e = stack.pop()!;
      const id = B.getExpressionId(e);
      const ours = id === B.CallId && X.Call.getTarget(e) === PREEMPT_INTERNAL;
      if ((isCall(id) && !isLeafCall(e) && !ours && !synced.has(e)) || (id === B.ReturnId && !synced.has(e))) {
        throw new InstrumentError(`function ${f.name}: a call or return outside a statement position after flattening (an instrumentation bug)`);
      }
      stack.push(...children(e, f.name));
    }
  }
  return stats;
}

// ---------------------------------------------------------------------------------------------

function exportTarget(mod: binaryen.Module, name: string): string | null {
  const ref = mod.getExport(name);
  if (!ref) return null;
  const info = B.getExportInfo(ref);
  return info.kind === B.ExternalFunction ? info.value : null;
}

/** Checks `wasm` against the app contract and returns it rewritten to be preemptible. */
export function instrumentApp(wasm: Uint8Array, opts: InstrumentOptions): InstrumentedApp {
  return instrumentVariant(wasm, opts, { metering: true, asyncify: true });
}

/**
 * For measurements only (tools/bench-instrument): the rewrite with metering or asyncify left
 * out. A module without both is not safe to run as an app.
 */
export function instrumentVariant(wasm: Uint8Array, opts: InstrumentOptions, parts: { metering: boolean; asyncify: boolean }): InstrumentedApp {
  const facts = readFacts(wasm);
  checkContract(facts, opts);

  let mod: binaryen.Module;
  try {
    mod = X.readBinary(wasm, APP_FEATURES | COMPACT_IMPORTS);
  } catch (err) {
    throw new InstrumentError(`binaryen cannot read the module: ${(err as Error).message}`);
  }
  try {
    mod.setFeatures(APP_FEATURES);
    if (!mod.validate()) throw new InstrumentError("the module uses WebAssembly features apps may not use (or binaryen cannot validate it)");
    mod.addFunctionImport(PREEMPT_INTERNAL, PREEMPT_MODULE, PREEMPT_FIELD, B.none, B.none);
    mod.addGlobal(FUEL_GLOBAL, B.i32, true, mod.i32.const(FUEL_IDLE));
    mod.addGlobalExport(FUEL_GLOBAL, FUEL_GLOBAL);

    if (parts.metering) meter(mod, FUEL_GLOBAL);

    // The entry: the former start function (if any), then main or _start.
    const entryName = exportTarget(mod, "main") ?? exportTarget(mod, "_start");
    if (!entryName) throw new InstrumentError("the module exports no entry function main or _start");
    const entryRef = mod.getFunction(entryName);
    if (X.Function.getParams(entryRef) !== B.none) throw new InstrumentError(`the entry point ${exportTarget(mod, "main") ? "main" : "_start"} takes parameters; it must take none`);
    const results = X.Function.getResults(entryRef);
    if (results !== B.none && results !== B.i32) throw new InstrumentError("the entry point must return i32 or nothing");
    const body: number[] = [];
    const start = mod.getStart();
    if (start) {
      body.push(mod.call(B.getFunctionInfo(start).name, [], B.none));
    }
    if (results === B.i32) body.push(mod.return(mod.call(entryName, [], B.i32)));
    else body.push(mod.call(entryName, [], B.none), mod.return(mod.i32.const(0)));
    mod.addFunction(ENTRY_EXPORT, B.none, B.i32, [], mod.block(null, body, B.auto));
    mod.addFunctionExport(ENTRY_EXPORT, ENTRY_EXPORT);

    if (!mod.validate()) throw new InstrumentError("the metered module does not validate (an instrumentation bug)");

    const unwinding = [`${PREEMPT_MODULE}.${PREEMPT_FIELD}`, ...opts.blockingImports];
    B.setPassArgument("asyncify-imports", unwinding.join(","));
    B.setOptimizeLevel(2);
    B.setShrinkLevel(0);
    if (parts.asyncify) mod.runPasses(["asyncify"]);
    B.setPassArgument("asyncify-imports", null);
    mod.optimize();
    if (!mod.validate()) throw new InstrumentError("the instrumented module does not validate (an instrumentation bug)");
    let out = mod.emitBinary();
    out = rewriteSections(out, Math.floor(opts.quotaBytes / PAGE_BYTES));
    if (!WebAssembly.validate(out as Uint8Array<ArrayBuffer>)) throw new InstrumentError("the engine rejects the instrumented module (an instrumentation bug)");
    return { bytes: out, originalBytes: wasm.length, instrumentedBytes: out.length };
  } finally {
    mod.dispose();
  }
}
