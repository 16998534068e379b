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
//   which the host answers by unwinding. Bulk instructions (memory.fill/copy/init, table.grow)
//   are charged by their length operand just before they run; a loop-free leaf is charged at its
//   direct call sites only when nothing else (a table, ref.func, an export, the start) reaches
//   it; otherwise it pays at entry. Unmetered: the work inside host calls.
//   The exported global `__wasphere_fuel` holds the count at every call boundary; a function
//   with loops keeps it in a local in between (see `meter`), so hot loops count in a register.
// - Suspension: binaryen's asyncify, told that only `wasphere.preempt` and the blocking `applibs`
//   imports unwind, so one app's instance can be left mid-call and resumed later; small loop-free
//   recursive functions save and resume their own frames instead (instrument-resume.ts, on
//   asyncify's state and save area). Indirect calls are assumed to unwind (the asyncify default),
//   so a call through a table is preemptible too.
//   The save area is the app's own memory [16, runtimeAreaBytes); its {current, end} header is at
//   8. A call stack deeper than the save area holds cannot be suspended: the app traps.
// - A start function would run during instantiation, outside any slice, so it is dropped from the
//   start section and called first by the entry `__wasphere_entry` (metered and preemptible like
//   everything else). `__wasphere_entry` then calls `main` (or `_start`) and returns its i32 (0 for
//   a void entry).
// - The memory's maximum is the quota: memory.grow past it returns -1 in the app's own instance.
//   Table entries (TABLE_ENTRY_BYTES each) share that quota: table.grow checks it, and so does
//   memory.grow in a module that grows a table.
// - The app's name section is dropped before binaryen reads the module, so no name of the app
//   meets one the rewrite or asyncify adds; exports of those names are refused.
// - What the rewrite cannot meter or suspend is refused by name (`refusedFeature`, APP_FEATURES),
//   and MODULE_LIMITS bound the work before any pass runs.
// Memory: the rewrite adds two globals and no data; the save area is the runtime's 8 KiB.
// Must not: accept a module whose imports, memory, tables or segments break the contract or would
// make instantiation throw (InstrumentError names the offender, in one line), or let any loop,
// call chain or bulk operation run without reaching a fuel check.
import binaryen from "binaryen";
import { APP_IMPORTS } from "./imports.js";
import { addSyscallGates } from "./instrument-gates.js";

export interface InstrumentOptions {
  /** Imports that may suspend their caller, as `module.field`, e.g. "applibs.sleep_ms". */
  blockingImports: string[];
  /** The app's memory quota; the module's memory maximum becomes quotaBytes/65536 pages. */
  quotaBytes: number;
  /** APP_RUNTIME_AREA_BYTES: the low bytes of the app's memory that the runtime owns. */
  runtimeAreaBytes: number;
  /**
   * Replace the fast `applibs` imports by syscall gates (instrument-gates.ts, protocol.ts): every
   * device install does; without it every import stays an import (a host then serves them all).
   */
  fastSyscalls?: boolean;
}

export interface InstrumentedApp {
  bytes: Uint8Array;
  originalBytes: number;
  instrumentedBytes: number;
  /** Wall time of each step of this instrumentation, in ms (tools/bench reports them). */
  passMs?: InstrumentPassMs;
}

/** Where an instrumentation's time goes: the contract checks and binaryen's read, each pass, the emit. */
export interface InstrumentPassMs { check: number; read: number; metering: number; asyncify: number; optimize: number; emit: number }

/**
 * The parts of the rewrite, for measurements (tools/bench-instrument). `optimize` is a final
 * `-O2` over the whole module after asyncify: measured to change neither size nor speed of the
 * example apps and kernels (asyncify already optimizes what it instruments at optimize level 2)
 * while taking about 40 % of an install, so an install (undefined) runs it only when the module
 * would otherwise outgrow the install budget; true runs it always, false never.
 */
export interface InstrumentParts {
  metering: boolean;
  /** Suspension at all (named for binaryen's pass, which `suspension: "asyncify"` selects). */
  asyncify: boolean;
  optimize?: boolean;
  /** How frames are saved and resumed: instrument-resume.ts (the default) or binaryen's asyncify. */
  suspension?: "resumable" | "asyncify";
}

import { InstrumentError, InstrumenterCrash } from "./instrument-errors.js";
import { finishResumable, planResumable } from "./instrument-resume.js";

/** The globals binaryen's asyncify adds: its state (0 normal, 1 unwinding, 2 rewinding) and the address of its {current, end} header. */
const ASYNCIFY_STATE = "__asyncify_state";
const ASYNCIFY_DATA = "__asyncify_data";
export { InstrumentError, InstrumenterCrash };

// The slice protocol's names and addresses are protocol.ts's: the instrumenter writes what the hosts run.
import { ASYNCIFY_DATA_ADDR, ASYNCIFY_HEADER_ADDR, ENTRY_EXPORT, FUEL_GLOBAL, FUEL_IDLE, INSTRUMENTED_GROWTH_FACTOR, INSTRUMENTED_GROWTH_SLACK_BYTES, PREEMPT_FIELD, PREEMPT_MODULE } from "./protocol.js";
export { ASYNCIFY_DATA_ADDR, ASYNCIFY_HEADER_ADDR, ENTRY_EXPORT, FUEL_GLOBAL, FUEL_IDLE, PREEMPT_FIELD, PREEMPT_MODULE };

/**
 * The Wasm features an app may use: what V8 in Node 20 runs, less what an app cannot use safely
 * here. Not binaryen's `All`, which also turns on encodings Node 20 cannot read (compact imports)
 * and proposals it does not run. Left out on purpose, and refused by name (see `REFUSED`):
 * threads (an app has one thread; `memory.atomic.wait32` on shared memory would block the host's
 * only thread), tail calls (asyncify cannot suspend across `return_call`), exception handling (a
 * caught exception would skip the fuel accounting), memory64, GC.
 */
export const APP_FEATURES = binaryen.Features.MutableGlobals | binaryen.Features.NontrappingFPToInt |
  binaryen.Features.SIMD128 | binaryen.Features.BulkMemory | binaryen.Features.BulkMemoryOpt |
  binaryen.Features.SignExt | binaryen.Features.ReferenceTypes | binaryen.Features.Multivalue;

/**
 * The install budget: a module above any of these is refused before binaryen runs a pass on it,
 * so instrumenting one app takes bounded time and stack. The figures leave the example apps far
 * inside (blink: 18 functions, none over 500 instructions, nesting at most 30, at most 5 loops and
 * 10 locals in one function).
 */
export const MODULE_LIMITS = {
  /** The module file. */
  moduleBytes: 1024 * 1024,
  /** Functions the module defines. */
  functions: 2000,
  /** Instructions (binaryen expressions, all kinds) in one function, and in the whole module. */
  instructionsPerFunction: 10_000,
  instructions: 200_000,
  /** Depth of the expression tree in any function: blocks, loops and operands all nest. */
  nestingDepth: 100,
  /** Loops in one function (each one costs a fuel check and a preemption point). */
  loopsPerFunction: 500,
  /** Locals (parameters included) of one function. */
  localsPerFunction: 2000,
  /** The instrumented module may grow to growthFactor x the original + growthSlackBytes. */
  growthFactor: INSTRUMENTED_GROWTH_FACTOR,
  growthSlackBytes: INSTRUMENTED_GROWTH_SLACK_BYTES,
} as const;

/**
 * What one table entry costs the host, for the quota: V8 keeps a funcref entry in its table and in
 * a dispatch table (measured 16 bytes per funcref entry of RSS growth, 8 per externref; this is
 * the round-up).
 */
export const TABLE_ENTRY_BYTES = 32;
/** memory.fill/copy/init: one unit of fuel per this many bytes (plus one for the instruction). */
export const BULK_BYTES_PER_FUEL = 4;
/** Export names the instrumented module uses itself: an app may not export any name beginning so. */
export const RESERVED_EXPORT_PREFIXES = ["__wasphere_", "asyncify_"];

const PAGE_BYTES = 65536;
const PREEMPT_INTERNAL = "__wasphere_preempt";
const APP_MODULE = "applibs";

// ---------------------------------------------------------------------------------------------
// A small reader for the parts of the binary the contract is about. binaryen normalises what it
// reads (names, segment order); the checks look at the bytes the developer shipped.

interface ImportEntry { module: string; field: string; kind: number; typeIndex: number }
/** An active segment's offset is the i32 of its `i32.const`, signed as the format defines it. */
interface DataSegment { passive: boolean; offset: number | null; length: number }
interface ElemSegment { mode: "active" | "passive" | "declarative"; table: number; offset: number | null; count: number }
interface ModuleFacts {
  types: { params: number[]; results: number[] }[];
  imports: ImportEntry[];
  memories: { initial: number; max: number | null; flags: number }[];
  tables: { initial: number; max: number | null; flags: number }[];
  data: DataSegment[];
  elems: ElemSegment[];
  exports: Map<string, number>; // name -> kind
  /** Functions the module defines (its function section). */
  functions: number;
  /** Tags (exception handling) the module defines. */
  tags: number;
  /** Where the custom "name" section is, if any: [start, end) of the whole section. */
  nameSection: [number, number] | null;
  /** binaryen's compact-imports encoding was used: the engine cannot read the bytes as they are. */
  compactImports: boolean;
}

const KIND_NAMES = ["function", "table", "memory", "global", "tag"];
const LIMITS_SHARED = 2;
const LIMITS_64 = 4;

class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array, readonly end = bytes.length) {}
  byte(): number {
    if (this.pos >= this.end) throw new InstrumentError("not a valid WebAssembly module: unexpected end of section");
    return this.bytes[this.pos++];
  }
  u32(): number {
    let result = 0, shift = 0, b: number;
    do { b = this.byte(); result += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80 && shift < 35);
    if (b & 0x80) throw new InstrumentError("not a valid WebAssembly module: an integer is longer than 5 bytes");
    return result;
  }
  s32(): number {
    let result = 0, shift = 0, b: number;
    do { b = this.byte(); result |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80 && shift < 35);
    if (shift < 32 && (b & 0x40)) result |= -1 << shift;
    return result | 0;
  }
  /** Skips one LEB128 integer of any width. */
  skipLeb(): void { while (this.byte() & 0x80) { /* continuation bytes */ } }
  skip(n: number): void {
    if (this.pos + n > this.end) throw new InstrumentError("not a valid WebAssembly module: unexpected end of section");
    this.pos += n;
  }
  name(): string {
    const len = this.u32();
    if (this.pos + len > this.end) throw new InstrumentError("not a valid WebAssembly module: a name runs past its section");
    const s = new TextDecoder().decode(this.bytes.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }
  limits(what: string): { initial: number; max: number | null; flags: number } {
    const flags = this.byte();
    if (flags & LIMITS_64) throw new InstrumentError(`the module uses ${what}64 (a 64-bit ${what}), which apps may not use`);
    if (flags & LIMITS_SHARED) throw new InstrumentError(`the module's ${what} is shared (threads), which apps may not use: an app runs on one thread`);
    if (flags > 1) throw new InstrumentError(`the module's ${what} has unknown limits flags ${flags}`);
    const initial = this.u32();
    const max = flags & 1 ? this.u32() : null;
    return { initial, max, flags };
  }
  /**
   * A constant expression: returns the i32 of a lone `i32.const`, null for anything else (which
   * is skipped to its `end`).
   */
  constExpr(): number | null {
    let value: number | null = null;
    for (let n = 0; ; n++) {
      const op = this.byte();
      if (op === 0x0b) return n === 1 ? value : null;
      value = null;
      if (op === 0x41) { const v = this.s32(); if (n === 0) value = v; }
      else if (op === 0x42 || op === 0xd0 || op === 0xd2 || op === 0x23) this.skipLeb();
      else if (op === 0x43) this.skip(4);
      else if (op === 0x44) this.skip(8);
      else if (op === 0x6a || op === 0x6b || op === 0x6c || op === 0x7c || op === 0x7d || op === 0x7e) { /* extended-const arithmetic */ }
      else if (op === 0xfd) { if (this.u32() !== 12) throw new InstrumentError("a constant expression uses a SIMD instruction other than v128.const"); this.skip(16); }
      else if (op === 0xfb) throw new InstrumentError("a constant expression uses garbage collection instructions, which apps may not use");
      else throw new InstrumentError(`a constant expression holds opcode 0x${op.toString(16)}, which is not a constant instruction`);
    }
  }
}

function readFacts(wasm: Uint8Array): ModuleFacts {
  if (wasm.length < 8 || wasm[0] !== 0 || wasm[1] !== 0x61 || wasm[2] !== 0x73 || wasm[3] !== 0x6d) {
    throw new InstrumentError("not a WebAssembly module (bad magic)");
  }
  const facts: ModuleFacts = {
    types: [], imports: [], memories: [], tables: [], data: [], elems: [], exports: new Map(),
    functions: 0, tags: 0, nameSection: null, compactImports: false,
  };
  const top = new Reader(wasm);
  top.pos = 8;
  while (top.pos < wasm.length) {
    const sectionStart = top.pos;
    const id = top.byte();
    const size = top.u32();
    if (top.pos + size > wasm.length) throw new InstrumentError(`not a valid WebAssembly module: section ${id} runs past the end of the module`);
    const r = new Reader(wasm, top.pos + size);
    r.pos = top.pos;
    top.pos += size;
    if (id === 0) {
      if (r.name() === "name") facts.nameSection = [sectionStart, top.pos];
    } else if (id === 1) {
      for (let n = r.u32(); n > 0; n--) {
        const form = r.byte();
        if (form !== 0x60) throw new InstrumentError("the module declares a non-function type: garbage collection types are not supported in apps");
        const params: number[] = []; const results: number[] = [];
        for (let p = r.u32(); p > 0; p--) params.push(r.byte());
        for (let q = r.u32(); q > 0; q--) results.push(r.byte());
        facts.types.push({ params, results });
      }
    } else if (id === 2) {
      const desc = (module: string, field: string, kind: number) => {
        let typeIndex = -1;
        if (kind === 0) typeIndex = r.u32();
        else if (kind === 1) { r.byte(); r.limits("table"); }
        else if (kind === 2) r.limits("memory");
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
          facts.compactImports = true;
          for (let g = r.u32(); g > 0; g--) { const f = r.name(); const k = r.byte(); facts.imports.push({ module, field: f, kind: k, typeIndex: desc(module, f, k) }); }
        } else if (field === "" && kind === 0x7e) {
          facts.compactImports = true;
          const k = r.byte(); const t = desc(module, "*", k);
          for (let g = r.u32(); g > 0; g--) facts.imports.push({ module, field: r.name(), kind: k, typeIndex: t });
        } else {
          facts.imports.push({ module, field, kind, typeIndex: desc(module, field, kind) });
        }
      }
    } else if (id === 3) {
      facts.functions = r.u32();
    } else if (id === 4) {
      for (let n = r.u32(); n > 0; n--) {
        const type = r.byte();
        if (type === 0x40) throw new InstrumentError("the module declares a table with an initialiser expression (typed function references), which apps may not use");
        if (type !== 0x70 && type !== 0x6f) throw new InstrumentError(`the module declares a table of type 0x${type.toString(16)}; apps use funcref or externref tables`);
        facts.tables.push(r.limits("table"));
      }
    } else if (id === 5) {
      for (let n = r.u32(); n > 0; n--) facts.memories.push(r.limits("memory"));
    } else if (id === 7) {
      for (let n = r.u32(); n > 0; n--) { const name = r.name(); facts.exports.set(name, r.byte()); r.u32(); }
    } else if (id === 9) {
      for (let n = r.u32(); n > 0; n--) facts.elems.push(readElemSegment(r));
    } else if (id === 11) {
      for (let n = r.u32(); n > 0; n--) {
        const flags = r.u32();
        if (flags === 1) { facts.data.push({ passive: true, offset: null, length: skipBytes(r) }); continue; }
        if (flags === 2 && r.u32() !== 0) throw new InstrumentError("a data segment names a second memory; an app has exactly one");
        if (flags > 2) throw new InstrumentError(`data segment with unknown flags ${flags}`);
        // Only a plain i32.const has an address we can check.
        const offset = r.constExpr();
        if (offset === null) throw new InstrumentError("a data segment's offset is not a constant (i32.const): its address cannot be checked");
        facts.data.push({ passive: false, offset, length: skipBytes(r) });
      }
    } else if (id === 13) {
      facts.tags = r.u32();
    }
  }
  return facts;
}

/** One element segment (the eight encodings of the bulk-memory and reference-types proposals). */
function readElemSegment(r: Reader): ElemSegment {
  const flags = r.u32();
  if (flags > 7) throw new InstrumentError(`element segment with unknown flags ${flags}`);
  const mode = flags & 1 ? (flags & 2 ? "declarative" : "passive") : "active";
  const table = mode === "active" && flags & 2 ? r.u32() : 0;
  let offset: number | null = null;
  if (mode === "active") {
    offset = r.constExpr();
    if (offset === null) throw new InstrumentError("an element segment's offset is not a constant (i32.const): its place in the table cannot be checked");
  }
  const usesExprs = (flags & 4) !== 0;
  if (flags & 3) r.byte(); // elemkind (0x00) or reftype
  const count = r.u32();
  for (let i = 0; i < count; i++) {
    if (usesExprs) r.constExpr();
    else r.u32();
  }
  return { mode, table, offset, count };
}

function skipBytes(r: Reader): number {
  const len = r.u32();
  r.skip(len);
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
  if (facts.tags > 0) throw new InstrumentError("the module uses exception handling (it declares tags), which apps may not use");
  if (facts.functions > MODULE_LIMITS.functions) {
    throw new InstrumentError(`the module defines ${facts.functions} functions; an app may define at most ${MODULE_LIMITS.functions}`);
  }
  if (facts.memories.length > 1) throw new InstrumentError(`the module defines ${facts.memories.length} memories; an app has exactly one`);
  if (facts.memories.length === 0) throw new InstrumentError("the module defines no memory; an app defines and exports one");
  const quotaPages = Math.floor(opts.quotaBytes / PAGE_BYTES);
  const initialPages = facts.memories[0].initial;
  if (initialPages > quotaPages) {
    throw new InstrumentError(`the module's memory starts at ${initialPages} pages (${initialPages * PAGE_BYTES} bytes), more than the app's quota of ${opts.quotaBytes} bytes`);
  }
  // Tables live in the host's memory too: their entries count against the same quota.
  const tableEntries = facts.tables.reduce((n, t) => n + t.initial, 0);
  if (initialPages * PAGE_BYTES + tableEntries * TABLE_ENTRY_BYTES > opts.quotaBytes) {
    throw new InstrumentError(`the module's tables start with ${tableEntries} entries (${TABLE_ENTRY_BYTES} bytes each), which with its ${initialPages * PAGE_BYTES} bytes of memory exceed the app's quota of ${opts.quotaBytes} bytes`);
  }
  if (opts.runtimeAreaBytes < ASYNCIFY_DATA_ADDR + 64) throw new InstrumentError(`runtimeAreaBytes ${opts.runtimeAreaBytes} leaves no room for the save area`);
  const memoryBytes = initialPages * PAGE_BYTES;
  for (const seg of facts.data) {
    if (seg.passive) throw new InstrumentError("the module has a passive data segment: built without the wasphere SDK (data must be placed at link time, from 8192 up)");
    const offset = seg.offset ?? 0;
    // The engine reads the i32 as unsigned: -16 is 4294967280, past any memory.
    if (offset < 0) throw new InstrumentError(`a data segment's offset is i32.const ${offset}, which the engine reads as ${offset >>> 0}: past the end of the memory`);
    if (offset + seg.length > memoryBytes) {
      throw new InstrumentError(`a data segment of ${seg.length} bytes at ${offset} ends at ${offset + seg.length}, past the initial memory of ${memoryBytes} bytes`);
    }
    if (seg.length > 0 && offset < opts.runtimeAreaBytes) {
      throw new InstrumentError(`built without the wasphere SDK: data must start at ${opts.runtimeAreaBytes}; build with asc --memoryBase ${opts.runtimeAreaBytes} (a data segment starts at ${offset})`);
    }
  }
  for (const seg of facts.elems) {
    if (seg.mode !== "active") continue;
    const table = facts.tables[seg.table];
    if (!table) throw new InstrumentError(`an element segment fills table ${seg.table}, which the module does not define`);
    const offset = seg.offset ?? 0;
    if (offset < 0 || offset + seg.count > table.initial) {
      throw new InstrumentError(`an element segment of ${seg.count} entries at ${offset} lies outside table ${seg.table} of ${table.initial} entries`);
    }
  }
  if (![...facts.exports.values()].includes(2)) throw new InstrumentError("the module does not export its memory; an app exports it (as \"memory\")");
  for (const entry of ["main", "_start"]) if (facts.exports.has(entry) && facts.exports.get(entry) !== 0) throw new InstrumentError(`the export ${entry} is not a function`);
  if (!facts.exports.has("main") && !facts.exports.has("_start")) throw new InstrumentError("the module exports no entry point: an app exports main (or _start)");
  for (const name of facts.exports.keys()) {
    if (RESERVED_EXPORT_PREFIXES.some((p) => name.startsWith(p))) {
      throw new InstrumentError(`the module exports ${JSON.stringify(name)}: export names beginning with ${RESERVED_EXPORT_PREFIXES.join(" or ")} are the runtime's`);
    }
  }
}

/** The module's bytes without its "name" section: binaryen then names everything by index, so no app name can meet one of ours. */
function withoutNames(wasm: Uint8Array, facts: ModuleFacts): Uint8Array {
  if (!facts.nameSection) return wasm;
  const [from, to] = facts.nameSection;
  const out = new Uint8Array(wasm.length - (to - from));
  out.set(wasm.subarray(0, from));
  out.set(wasm.subarray(to), from);
  return out;
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
  MemoryFill: { getSize(e: number): number };
  MemoryCopy: { getSize(e: number): number };
  MemoryInit: { getSize(e: number): number };
  MemoryGrow: { getDelta(e: number): number; setDelta(e: number, delta: number): void };
  TableGrow: { getDelta(e: number): number; setDelta(e: number, delta: number): void };
  _BinaryenFunctionAddVar(f: number, type: number): number;
  _BinaryenFunctionGetNumLocals(f: number): number;
  _BinaryenGetNumGlobals(m: number): number;
  _BinaryenGetGlobalByIndex(m: number, i: number): number;
  readBinary(data: Uint8Array, features: number): binaryen.Module;
  Function: { getBody(f: number): number; setBody(f: number, body: number): void; getParams(f: number): number; getResults(f: number): number };
} & Record<string, unknown>;

/** Expression ids binaryen.js has no constant for (it has the C getters). */
const cId = (name: string): number => (X[`_Binaryen${name}Id`] as (() => number) | undefined)?.() ?? -1;
const TRY_TABLE_ID = cId("TryTable"), THROW_REF_ID = cId("ThrowRef"), ELEM_DROP_ID = cId("ElemDrop");
const TABLE_BULK = new Map<number, string>([[cId("TableFill"), "table.fill"], [cId("TableCopy"), "table.copy"], [cId("TableInit"), "table.init"]]);

/** Every expression kind binaryen knows, by id, for messages: "StructNew", not "68". */
const ID_NAMES = new Map<number, string>();
for (const [key, value] of Object.entries(binaryen as unknown as Record<string, unknown>)) {
  const m = /^_Binaryen(\w+)Id$/.exec(key);
  if (m && typeof value === "function" && m[1] !== "Invalid" && m[1] !== "Expression") ID_NAMES.set((value as () => number)(), m[1]);
}

/** The child fields of each expression kind the metering walk understands. */
const CHILDREN = new Map<number, string[]>([
  [B.BlockId, ["children"]], [B.IfId, ["condition", "ifTrue", "ifFalse"]], [B.LoopId, ["body"]],
  [B.BreakId, ["condition", "value"]], [B.SwitchId, ["condition", "value"]], [B.CallId, ["operands"]],
  [B.CallIndirectId, ["target", "operands"]], [B.LocalGetId, []], [B.LocalSetId, ["value"]],
  [B.GlobalGetId, []], [B.GlobalSetId, ["value"]], [B.TableGetId, ["index"]], [B.TableSetId, ["index", "value"]],
  [B.TableSizeId, []], [B.TableGrowId, ["value", "delta"]], [B.LoadId, ["ptr"]], [B.StoreId, ["ptr", "value"]],
  [B.ConstId, []], [B.UnaryId, ["value"]], [B.BinaryId, ["left", "right"]], [B.SelectId, ["ifTrue", "ifFalse", "condition"]],
  [B.DropId, ["value"]], [B.ReturnId, ["value"]], [B.NopId, []], [B.UnreachableId, []],
  [B.MemorySizeId, []], [B.MemoryGrowId, ["delta"]], [B.SIMDExtractId, ["vec"]],
  [B.SIMDReplaceId, ["vec", "value"]], [B.SIMDShuffleId, ["left", "right"]], [B.SIMDTernaryId, ["a", "b", "c"]],
  [B.SIMDShiftId, ["vec", "shift"]], [B.SIMDLoadId, ["ptr"]], [B.SIMDLoadStoreLaneId, ["ptr", "vec"]],
  [B.MemoryInitId, ["dest", "offset", "size"]], [B.DataDropId, []], [B.MemoryCopyId, ["dest", "source", "size"]],
  [B.MemoryFillId, ["dest", "value", "size"]], [B.RefNullId, []], [B.RefIsNullId, ["value"]], [B.RefFuncId, []],
  [B.RefEqId, ["left", "right"]], [ELEM_DROP_ID, []],
  [B.TupleMakeId, ["operands"]], [B.TupleExtractId, ["tuple"]],
]);

/**
 * Instructions an app may not use, named for the one-line refusal; null when `expr` is allowed.
 * Checked before the walk looks at an expression's children (binaryen.js cannot read the
 * children of some of these).
 */
function refusedFeature(expr: number, id: number): string | null {
  if (id === B.TryId || id === TRY_TABLE_ID || id === B.ThrowId || id === B.RethrowId || id === THROW_REF_ID || id === B.PopId) {
    return "exception handling, which apps may not use (a caught exception would skip the fuel accounting)";
  }
  if (id === B.AtomicWaitId || id === B.AtomicNotifyId) return "atomic wait/notify (threads), which apps may not use: a wait would block the device's only thread";
  if (id === B.AtomicRMWId || id === B.AtomicCmpxchgId || id === B.AtomicFenceId ||
    ((id === B.LoadId || id === B.StoreId) && (B.getExpressionInfo(expr) as unknown as { isAtomic: boolean }).isAtomic)) {
    return "atomics (threads), which apps may not use: an app runs on one thread";
  }
  if ((id === B.CallId || id === B.CallIndirectId || id === B.CallRefId) && (B.getExpressionInfo(expr) as unknown as { isReturn: boolean }).isReturn) {
    return "tail calls (return_call), which apps may not use: a suspended app cannot be resumed across one";
  }
  const bulk = TABLE_BULK.get(id);
  if (bulk) return `${bulk} (bulk table operations), which apps may not use`;
  if (!CHILDREN.has(id)) return `${ID_NAMES.get(id) ?? "an unknown instruction"} (from a WebAssembly proposal apps may not use)`;
  return null;
}

function children(expr: number, fn: string): number[] {
  const id = B.getExpressionId(expr);
  const fields = CHILDREN.get(id);
  if (!fields) throw new InstrumentError(`function ${fn} uses ${refusedFeature(expr, id)}`);
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
  /** memory.fill/copy/init or table.grow: work that depends on an operand, charged by it. */
  bulk: boolean;
  memoryGrow: boolean;
  tableGrow: boolean;
  /** Metered nodes (see `metered`), whole body. */
  nodes: number;
  /** All expressions, for the install budget. */
  instructions: number;
  /** Functions it takes a reference to (ref.func). */
  refFuncs: string[];
  /** The target of each direct call, once per call site. */
  callees: string[];
  /** Calls through a table or a reference. */
  indirect: boolean;
}

/** Nodes that count as work. Locals, blocks, nops and drops are register moves and structure. */
function metered(id: number): boolean {
  return id !== B.LocalGetId && id !== B.LocalSetId && id !== B.BlockId && id !== B.NopId && id !== B.DropId;
}

const isCall = (id: number) => id === B.CallId || id === B.CallIndirectId || id === B.CallRefId;
const isBulk = (id: number) => id === B.MemoryFillId || id === B.MemoryCopyId || id === B.MemoryInitId || id === B.TableGrowId;

/**
 * First pass: what each function does, how big it is, and whether it stays inside the install
 * budget and the feature list. Iterative (an explicit stack), so no nesting overflows it.
 */
function surveyFunction(ref: number): FunctionFacts {
  const info = B.getFunctionInfo(ref);
  const facts: FunctionFacts = {
    name: info.name, ref, calls: false, hasLoop: false, bulk: false, memoryGrow: false, tableGrow: false,
    nodes: 0, instructions: 0, refFuncs: [], callees: [], indirect: false,
  };
  const fn = `function ${info.name}`;
  const locals = X._BinaryenFunctionGetNumLocals(ref);
  if (locals > MODULE_LIMITS.localsPerFunction) throw new InstrumentError(`${fn} has ${locals} locals; the install budget allows ${MODULE_LIMITS.localsPerFunction}`);
  let loops = 0;
  const stack: [number, number][] = [[X.Function.getBody(ref), 1]];
  while (stack.length) {
    const [e, depth] = stack.pop()!;
    const id = B.getExpressionId(e);
    const refused = refusedFeature(e, id);
    if (refused) throw new InstrumentError(`${fn} uses ${refused}`);
    if (depth > MODULE_LIMITS.nestingDepth) throw new InstrumentError(`${fn} nests expressions more than ${MODULE_LIMITS.nestingDepth} deep; the install budget allows ${MODULE_LIMITS.nestingDepth}`);
    if (++facts.instructions > MODULE_LIMITS.instructionsPerFunction) {
      throw new InstrumentError(`${fn} has more than ${MODULE_LIMITS.instructionsPerFunction} instructions; the install budget allows ${MODULE_LIMITS.instructionsPerFunction} in one function`);
    }
    if (metered(id)) facts.nodes++;
    if (id === B.LoopId) {
      facts.hasLoop = true;
      if (++loops > MODULE_LIMITS.loopsPerFunction) throw new InstrumentError(`${fn} has more than ${MODULE_LIMITS.loopsPerFunction} loops; the install budget allows ${MODULE_LIMITS.loopsPerFunction} in one function`);
    }
    if (isCall(id)) facts.calls = true;
    if (id === B.CallId) facts.callees.push(X.Call.getTarget(e));
    if (id === B.CallIndirectId || id === B.CallRefId) facts.indirect = true;
    if (isBulk(id)) facts.bulk = true;
    if (id === B.TableGrowId) facts.tableGrow = true;
    if (id === B.MemoryGrowId) facts.memoryGrow = true;
    if (id === B.RefFuncId) facts.refFuncs.push((B.getExpressionInfo(e) as binaryen.RefFuncInfo).func);
    for (const c of children(e, info.name)) stack.push([c, depth + 1]);
  }
  return facts;
}

/** Functions a call can reach other than by a direct `call` in the module: these pay at their own entry. */
function escapingFunctions(mod: binaryen.Module, funcs: FunctionFacts[]): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i < mod.getNumExports(); i++) {
    const info = B.getExportInfo(mod.getExportByIndex(i));
    if (info.kind === B.ExternalFunction) out.add(info.value);
  }
  const start = mod.getStart();
  if (start) out.add(B.getFunctionInfo(start).name);
  for (let i = 0; i < mod.getNumElementSegments(); i++) {
    for (const f of B.getElementSegmentInfo(mod.getElementSegmentByIndex(i)).data) out.add(f);
  }
  for (const f of funcs) for (const r of f.refFuncs) out.add(r);
  const mref = (mod as unknown as { ptr: number }).ptr;
  for (let i = 0; i < X._BinaryenGetNumGlobals(mref); i++) {
    const init = B.getGlobalInfo(X._BinaryenGetGlobalByIndex(mref, i)).init;
    const stack = init ? [init] : [];
    while (stack.length) {
      const e = stack.pop()!;
      if (B.getExpressionId(e) === B.RefFuncId) out.add((B.getExpressionInfo(e) as binaryen.RefFuncInfo).func);
      else stack.push(...children(e, "global initialiser"));
    }
  }
  return out;
}

/**
 * The most fuel a bounded function's call tree may cost to be charged at its call sites (see
 * `boundedFunctions`): what a region charges up front, taken or not, stays this close to what it runs.
 */
export const BOUNDED_TREE_FUEL = 1000;

/**
 * Bounded functions, with the fuel their whole call tree costs (each call site of a callee
 * counted, imports one unit for the call): loop-free, without bulk operations or indirect calls,
 * reached only by direct calls, calling only imports and other bounded functions (so never
 * itself again), and costing at most BOUNDED_TREE_FUEL. `pure`: those whose tree calls no import.
 */
function boundedFunctions(mod: binaryen.Module, funcs: FunctionFacts[], escapes: Set<string>, flat: (f: FunctionFacts) => boolean): { leafNodes: Map<string, number>; pure: Set<string> } {
  const byName = new Map(funcs.map((f) => [f.name, f]));
  const isImport = (name: string) => !byName.has(name) && !!B.getFunctionInfo(mod.getFunction(name)).module;
  const leafNodes = new Map<string, number>();
  const pure = new Set<string>();
  const refused = new Set<string>();
  // Iterative post-order over the call graph; a function met again while open is on a cycle.
  const open = new Set<string>();
  for (const root of funcs) {
    const stack: { f: FunctionFacts; next: number }[] = [{ f: root, next: 0 }];
    while (stack.length) {
      const top = stack[stack.length - 1];
      const f = top.f;
      if (top.next === 0) {
        if (leafNodes.has(f.name) || refused.has(f.name)) { stack.pop(); continue; }
        if (open.has(f.name) || flat(f) || f.indirect || escapes.has(f.name)) { refused.add(f.name); stack.pop(); continue; }
        open.add(f.name);
      }
      const c = f.callees[top.next];
      if (c !== undefined) {
        top.next++;
        const callee = byName.get(c);
        if (callee && !leafNodes.has(c) && !refused.has(c)) {
          if (open.has(c)) { refused.add(c); continue; }
          stack.push({ f: callee, next: 0 });
        }
        continue;
      }
      stack.pop();
      open.delete(f.name);
      let cost = f.nodes;
      let reachesImport = false;
      let ok = true;
      for (const c of f.callees) {
        if (isImport(c)) { reachesImport = true; continue; }
        const sub = leafNodes.get(c);
        if (sub === undefined) { ok = false; break; }
        if (!pure.has(c)) reachesImport = true;
        cost += sub;
      }
      if (!ok || cost > BOUNDED_TREE_FUEL) { refused.add(f.name); continue; }
      leafNodes.set(f.name, cost);
      if (!reachesImport) pure.add(f.name);
    }
  }
  return { leafNodes, pure };
}

export interface MeterStats {
  /** Functions with a fuel check at entry. */
  functions: number;
  /** Of those, functions with loops or bulk operations, which keep the fuel in a local. */
  localFuel: number;
  /** Loop headers with a fuel check. */
  loops: number;
  /** Loop-free leaf functions, charged at their call sites instead. */
  leaves: number;
  /** memory.fill/copy/init and table/memory.grow sites charged by their operand. */
  bulk: number;
  /** Functions reached other than by a direct call (exports, tables, ref.func, the start). */
  escaping: Set<string>;
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
 * Bulk operations (memory.fill/copy/init, table.grow) do work in proportion to an operand: their
 * functions take the flattened form too, where that operand is a local, and each one is charged
 * by it just before it runs. table.grow (and, in a module that grows a table, memory.grow) is
 * checked against the quota, which memory and table entries share: past it the grow returns -1.
 */
function meter(mod: binaryen.Module, fuelGlobal: string, quotaBytes: number, apply: boolean): MeterStats {
  const funcs: FunctionFacts[] = [];
  let instructions = 0;
  for (let i = 0; i < mod.getNumFunctions(); i++) {
    const ref = mod.getFunctionByIndex(i);
    if (B.getFunctionInfo(ref).module) continue; // an import: no body
    const facts = surveyFunction(ref);
    instructions += facts.instructions;
    if (instructions > MODULE_LIMITS.instructions) throw new InstrumentError(`the module has more than ${MODULE_LIMITS.instructions} instructions; the install budget allows ${MODULE_LIMITS.instructions}`);
    funcs.push(facts);
  }
  // A bounded function (no loops, no bulk operations, no calls but direct ones to imports and
  // to other bounded functions, so no recursion either) always finishes within the nodes of its
  // call tree: it is charged that whole cost where it is called and carries no fuel code itself
  // (so it never preempts, and asyncify leaves it alone unless it reaches a blocking import). A
  // function reached any other way (a table, a reference, an export, the start) pays at entry.
  const escapes = escapingFunctions(mod, funcs);
  const tables: string[] = [];
  for (let i = 0; i < mod.getNumTables(); i++) tables.push(B.getTableInfo(mod.getTableByIndex(i)).name);
  const guardMemoryGrow = funcs.some((f) => f.tableGrow);
  const flat = (f: FunctionFacts) => f.hasLoop || f.bulk || (guardMemoryGrow && f.memoryGrow);
  const { leafNodes, pure } = boundedFunctions(mod, funcs, escapes, flat);
  const stats: MeterStats = { functions: 0, localFuel: 0, loops: 0, leaves: leafNodes.size, bulk: 0, escaping: escapes };
  if (!apply) return stats;
  let labels = 0;
  // A call of a bounded function that reaches no import needs no write-back of a local fuel: nothing
  // in its tree reads or writes the fuel global.
  const isLeafCall = (e: number) => B.getExpressionId(e) === B.CallId && pure.has(X.Call.getTarget(e));

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
    if (!flat(f)) {
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
    const charged = new Set<number>();
    const bulkOf = (e: number): number | null => {
      const bulkHere = (x: number) => { const id = B.getExpressionId(x); return isBulk(id) || (guardMemoryGrow && id === B.MemoryGrowId); };
      if (bulkHere(e)) return e;
      const id = B.getExpressionId(e);
      if (id !== B.LocalSetId && id !== B.DropId) return null;
      const value = (B.getExpressionInfo(e) as unknown as { value: number }).value;
      return value && bulkHere(value) ? value : null;
    };
    /** A bulk operation's operand; in Flat IR a local or a constant, so it can be read twice. */
    const operand = (x: number): number => {
      const id = B.getExpressionId(x);
      if (id !== B.LocalGetId && id !== B.ConstId) throw new InstrumentError(`function ${f.name}: a bulk operation's operand is not a local after flattening (an instrumentation bug)`);
      return mod.copyExpression(x);
    };
    const u64 = (x: number) => mod.i64.extend_u(x);
    // binaryen 132's i64.const takes one bigint (its typings still say two halves).
    const i64c = (v: number) => (mod.i64.const as unknown as (value: bigint) => number)(BigInt(v));
    const tableEntries = () => tables.map((t) => u64(mod.table.size(t))).reduce((a, b) => mod.i64.add(a, b));
    const memoryBytes = () => mod.i64.mul(u64(mod.memory.size()), i64c(PAGE_BYTES));
    const withinQuota = (bytes: number) => mod.i64.le_u(bytes, i64c(quotaBytes));
    /** Charges the operation `op` by its length (and puts a grow under the quota), before it runs. */
    const chargeBulk = (op: number): number => {
      const id = B.getExpressionId(op);
      let cost: number;
      if (id === B.TableGrowId) {
        const delta = X.TableGrow.getDelta(op);
        const after = mod.i64.mul(mod.i64.add(tableEntries(), u64(operand(delta))), i64c(TABLE_ENTRY_BYTES));
        X.TableGrow.setDelta(op, mod.select(withinQuota(mod.i64.add(after, memoryBytes())), operand(delta), mod.i32.const(-1)));
        cost = mod.select(mod.i32.lt_u(operand(delta), mod.i32.const(1 << 20)), operand(delta), mod.i32.const(1 << 20));
      } else if (id === B.MemoryGrowId) {
        const delta = X.MemoryGrow.getDelta(op);
        const after = mod.i64.add(memoryBytes(), mod.i64.mul(u64(operand(delta)), i64c(PAGE_BYTES)));
        const tablesBytes = mod.i64.mul(tableEntries(), i64c(TABLE_ENTRY_BYTES));
        X.MemoryGrow.setDelta(op, mod.select(withinQuota(mod.i64.add(after, tablesBytes)), operand(delta), mod.i32.const(-1)));
        cost = mod.i32.const(0);
      } else {
        const size = id === B.MemoryFillId ? X.MemoryFill.getSize(op) : id === B.MemoryCopyId ? X.MemoryCopy.getSize(op) : X.MemoryInit.getSize(op);
        cost = mod.i32.shr_u(operand(size), mod.i32.const(Math.log2(BULK_BYTES_PER_FUEL)));
      }
      return mod.block(null, [
        mod.local.set(local, mod.i32.sub(getL(), mod.i32.add(cost, mod.i32.const(1)))),
        mod.if(mod.i32.lt_s(getL(), mod.i32.const(0)), mod.block(null, [store(), preempt(), reload()], B.none)),
      ], B.none);
    };
    // Visits a statement position of Flat IR; returns what goes in its place, of the same type
    // (binaryen does not recompute the types of the blocks and ifs around a replaced child).
    const statement = (e: number): number => {
      const replacement = rewriteStatement(e);
      if (B.getExpressionType(replacement) !== B.getExpressionType(e)) {
        throw new InstrumentError(`function ${f.name}: the metering changed the type of a statement (an instrumentation bug)`);
      }
      return replacement;
    };
    const rewriteStatement = (e: number): number => {
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
        // The replacement has the loop's type, so no enclosing block's type goes stale. In Flat
        // IR a loop is `none` (it can fall through, to `br $done`) or `unreachable` (it never
        // falls through: it only leaves by a branch out or a return); the parent of an
        // unreachable one may be an unreachable block with nothing else unreachable in it, so
        // its replacement must stay unreachable too: there is no `$done` to fall to.
        // The header's charge that ran out was counted in the slice that ended (its fuel went
        // below zero by it), so the re-entry, which charges again, is refunded it first: the
        // iteration is paid once, and a slice with less fuel than the loop's charge still runs
        // one iteration instead of preempting at the header for good. (i32 arithmetic wraps, so
        // adding and then subtracting `cost` gives back exactly the fuel read from the global.)
        const retryBody = (exit: number[]) => mod.block(null, [
          mod.block(exhausted, [e, ...exit], B.none),
          store(), preempt(), reload(),
          mod.local.set(local, mod.i32.add(getL(), mod.i32.const(cost))),
          mod.br(retry),
        ], B.auto);
        if (B.getExpressionType(e) === B.unreachable) return mod.loop(retry, retryBody([]));
        return mod.block(done, [mod.loop(retry, retryBody([mod.br(done)]))], B.none);
      }
      const bulk = bulkOf(e);
      if (bulk !== null) { charged.add(bulk); stats.bulk++; return mod.block(null, [chargeBulk(bulk), e], B.auto); }
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
      if ((isBulk(id) || (guardMemoryGrow && id === B.MemoryGrowId)) && !charged.has(e)) {
        throw new InstrumentError(`function ${f.name}: a bulk memory or table operation outside a statement position after flattening (an instrumentation bug)`);
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
export function instrumentVariant(wasm: Uint8Array, opts: InstrumentOptions, parts: InstrumentParts): InstrumentedApp {
  try {
    return instrumentChecked(wasm, opts, parts);
  } catch (err) {
    if (err instanceof InstrumentError) throw err;
    // binaryen aborts with objects that are not Errors, and overflows its stack as a RangeError.
    const what = err instanceof RangeError ? "ran out of stack" : err instanceof Error ? `failed (${firstLine(err.message)})` : "aborted";
    throw new InstrumenterCrash(`the instrumenter ${what} on this module: it cannot be installed`);
  }
}

const firstLine = (text: string) => text.split("\n", 1)[0].slice(0, 200);

function instrumentChecked(wasm: Uint8Array, opts: InstrumentOptions, parts: InstrumentParts): InstrumentedApp {
  const passMs: InstrumentPassMs = { check: 0, read: 0, metering: 0, asyncify: 0, optimize: 0, emit: 0 };
  let mark = performance.now();
  const lap = (pass: keyof InstrumentPassMs) => { const now = performance.now(); passMs[pass] += now - mark; mark = now; };
  if (wasm.length > MODULE_LIMITS.moduleBytes) {
    throw new InstrumentError(`the module is ${wasm.length} bytes; the install budget allows ${MODULE_LIMITS.moduleBytes}`);
  }
  const facts = readFacts(wasm);
  checkContract(facts, opts);
  // The engine's own validation gives a one-line reason; binaryen's would print a dump.
  if (!facts.compactImports && !WebAssembly.validate(wasm as Uint8Array<ArrayBuffer>)) {
    let reason = "invalid";
    try { new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>); } catch (err) { reason = firstLine((err as Error).message).replace(/^WebAssembly\.Module\(\): /, ""); }
    throw new InstrumentError(`not a valid WebAssembly module for this engine: ${reason}`);
  }

  lap("check");
  let mod: binaryen.Module;
  try {
    // Every feature on for reading: what apps may not use is then refused by name (`refusedFeature`).
    mod = X.readBinary(withoutNames(wasm, facts), binaryen.Features.All);
  } catch (err) {
    throw new InstrumentError(`binaryen cannot read the module: ${err instanceof Error ? firstLine(err.message) : "it aborted"}`);
  }
  lap("read");
  try {
    mod.addFunctionImport(PREEMPT_INTERNAL, PREEMPT_MODULE, PREEMPT_FIELD, B.none, B.none);
    mod.addGlobal(FUEL_GLOBAL, B.i32, true, mod.i32.const(FUEL_IDLE));
    mod.addGlobalExport(FUEL_GLOBAL, FUEL_GLOBAL);

    const meterStats = meter(mod, FUEL_GLOBAL, opts.quotaBytes, parts.metering);
    mod.setFeatures(APP_FEATURES);

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
    lap("metering");

    const unwinding = [`${PREEMPT_MODULE}.${PREEMPT_FIELD}`, ...opts.blockingImports];
    B.setOptimizeLevel(2);
    B.setShrinkLevel(0);
    // Loop-free functions that only direct calls reach are made resumable by instrument-resume.ts
    // (far cheaper per call than asyncify's guards); asyncify does the rest, and both share its
    // state, its save area and its exports.
    const walk = (e: number) => children(e, "(suspension)");
    const plan = parts.asyncify && parts.suspension !== "asyncify" ? planResumable(mod, unwinding, walk, new Set([...meterStats.escaping, ENTRY_EXPORT])) : null;
    if (parts.asyncify) {
      B.setPassArgument("asyncify-imports", unwinding.join(","));
      if (plan?.copies.size) B.setPassArgument("asyncify-removelist", [...plan.copies.values()].join(","));
      try {
        mod.runPasses(["asyncify"]);
      } finally {
        B.setPassArgument("asyncify-imports", null);
        B.setPassArgument("asyncify-removelist", null);
      }
    }
    if (plan?.copies.size) {
      if (!mod.getGlobal(ASYNCIFY_STATE) || !mod.getGlobal(ASYNCIFY_DATA)) throw new InstrumentError("asyncify added no state or data global (an instrumentation bug)");
      finishResumable(mod, plan, walk, ASYNCIFY_STATE, ASYNCIFY_DATA, FUEL_GLOBAL);
    }
    // After both rewrites, so every call site of a gate was made for an import (instrument-gates.ts).
    if (opts.fastSyscalls) addSyscallGates(mod, opts.blockingImports);
    lap("asyncify");
    const allowed = MODULE_LIMITS.growthFactor * wasm.length + MODULE_LIMITS.growthSlackBytes;
    const emit = () => {
      if (!mod.validate()) throw new InstrumentError("the instrumented module does not validate (an instrumentation bug)");
      return rewriteSections(mod.emitBinary(), Math.floor(opts.quotaBytes / PAGE_BYTES));
    };
    if (parts.optimize === true) { mod.optimize(); lap("optimize"); }
    let out = emit();
    // Loop-dense code (flattened for its local fuel) can outgrow the budget without the final
    // -O2, which then shrinks it (400 loop functions: 23x without, within 8x with): run it then only.
    if (out.length > allowed && parts.optimize === undefined) {
      lap("emit");
      mod.optimize();
      lap("optimize");
      out = emit();
    }
    if (!WebAssembly.validate(out as Uint8Array<ArrayBuffer>)) throw new InstrumentError("the engine rejects the instrumented module (an instrumentation bug)");
    if (out.length > allowed) {
      throw new InstrumentError(`instrumented, the module grew from ${wasm.length} to ${out.length} bytes; the install budget allows ${allowed} (${MODULE_LIMITS.growthFactor}x + ${MODULE_LIMITS.growthSlackBytes})`);
    }
    lap("emit");
    return { bytes: out, originalBytes: wasm.length, instrumentedBytes: out.length, passMs };
  } finally {
    mod.dispose();
  }
}
