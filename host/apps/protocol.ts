// The slice protocol: what an instrumented app module exports and imports, as every host that runs
// one must see it (the Node AppRunner, the wasmtime host in hosts/wasmtime, any embedder).
//
// An instrumented module (host/apps/instrument.ts, or `wasphere instrument` ahead of time):
// - imports only `applibs.*` functions (APP_IMPORTS), the function `wasphere.preempt: [] -> []`
//   and, when it was instrumented with syscall gates (below), the gates' five `wasphere` imports;
// - exports its memory, whose maximum is the app's quota in pages, the mutable i32 global
//   `__wasphere_fuel`, the entry `__wasphere_entry: [] -> [i32]`, and binaryen's asyncify exports
//   (`asyncify_start_unwind`, `asyncify_stop_unwind`, `asyncify_start_rewind`, `asyncify_stop_rewind`,
//   `asyncify_get_state`);
// - has no start section (a start function would run outside any slice).
// Syscall gates (InstrumentOptions.fastSyscalls, which every device install uses): each fast
// import (FAST_IMPORTS: non-blocking, not `exit`) the app had is replaced by a function of the
// module with the import's name and type, which calls `wasphere.syscall_charged(task, nr, a0..a3)
// -> i64` (the core's export of that name where the host can link it: ABI.md) with the immutable
// i32 global `wasphere.task`, subtracts the fuel it owes (the high half) from `__wasphere_fuel`,
// calls `wasphere.over(fuel): [i32] -> []` when that would take the fuel below -1 (the host keeps
// the excess, as its own charge does), and, when the immutable i32 global `wasphere.walled` is
// not 0, calls `wasphere.wall: [] -> []` (a wall-clock check) after every call charged more than
// SYSCALL_FUEL and after every WALL_CHECK_CALLS-th call otherwise; it returns the low half.
// `checkInstrumentedModule` verifies that shape before a pre-instrumented module is installed.
// It cannot verify the metering itself: a host accepts pre-instrumented modules only from whoever
// it trusts to have run the instrumentation (DESIGN.md, Embedding).
// No binaryen here: a host that only runs pre-instrumented apps never loads it.
// Must not: import binaryen or the instrumenter (instrument.ts takes its constants from here).
import { APP_IMPORTS } from "./imports.js";
import { SYS_EXIT } from "../../assembly/abi.js";

export const FUEL_GLOBAL = "__wasphere_fuel";
export const ENTRY_EXPORT = "__wasphere_entry";
export const PREEMPT_MODULE = "wasphere";
export const PREEMPT_FIELD = "preempt";
/** Where asyncify's {i32 current, i32 end} header lives in the app's memory. */
export const ASYNCIFY_HEADER_ADDR = 8;
/** The save area starts right after the header and ends at APP_RUNTIME_AREA_BYTES. */
export const ASYNCIFY_DATA_ADDR = 16;
/** Fuel outside a slice: high enough that no call made between slices ever runs out. */
export const FUEL_IDLE = 0x7fffffff;
/** The syscall gates' imports, all from PREEMPT_MODULE ("wasphere"): functions, then immutable i32 globals. */
export const GATE_SYSCALL_FIELD = "syscall_charged";
export const GATE_OVER_FIELD = "over";
export const GATE_WALL_FIELD = "wall";
export const GATE_TASK_FIELD = "task";
export const GATE_WALLED_FIELD = "walled";
/**
 * On a device with a wall budget, the most calls charged SYSCALL_FUEL or less (no host work
 * beyond the flat syscall) a gate makes between two wall-clock readings. So a slice whose budget
 * is spent ends within this many such calls, or at the first costlier one (DESIGN.md, "The
 * syscall fast path").
 */
export const WALL_CHECK_CALLS = 64;
/** The imports a gate replaces: non-blocking, and not `exit` (which ends the app by a JS throw). */
export const FAST_IMPORTS = APP_IMPORTS.filter((i) => !i.blocking && i.nr !== SYS_EXIT && i.results === 1 && i.params <= 4);
/** Each gate import's kind, by field. */
export const GATE_IMPORT_KINDS: ReadonlyMap<string, string> = new Map([
  [GATE_SYSCALL_FIELD, "function"], [GATE_OVER_FIELD, "function"], [GATE_WALL_FIELD, "function"], [GATE_TASK_FIELD, "global"], [GATE_WALLED_FIELD, "global"],
]);
export const ASYNCIFY_EXPORTS = ["asyncify_start_unwind", "asyncify_stop_unwind", "asyncify_start_rewind", "asyncify_stop_rewind", "asyncify_get_state"] as const;
/** asyncify_get_state values. */
export const ASYNCIFY_NORMAL = 0;
export const ASYNCIFY_UNWINDING = 1;
export const ASYNCIFY_REWINDING = 2;

/**
 * The install budget's bound on code growth: an instrumented module may be at most
 * INSTRUMENTED_GROWTH_FACTOR x the original + INSTRUMENTED_GROWTH_SLACK_BYTES (instrument.ts
 * refuses a module that grows more, and a cached one that is larger is not trusted).
 */
export const INSTRUMENTED_GROWTH_FACTOR = 8;
export const INSTRUMENTED_GROWTH_SLACK_BYTES = 16 * 1024;

const PAGE_BYTES = 65536;
const KIND = ["function", "table", "memory", "global", "tag"];

export class ModuleContractError extends Error {}

interface Sections {
  imports: { module: string; field: string; kind: string }[];
  exports: Map<string, { kind: string; index: number }>;
  memoryMaxPages: (number | null)[];
  hasStart: boolean;
}

/** Reads the sections the contract is about; throws ModuleContractError on malformed bytes. */
function readSections(wasm: Uint8Array): Sections {
  if (wasm.length < 8 || wasm[0] !== 0 || wasm[1] !== 0x61 || wasm[2] !== 0x73 || wasm[3] !== 0x6d || wasm[4] !== 1) {
    throw new ModuleContractError("not a WebAssembly module (bad magic or version)");
  }
  let pos = 8;
  let end = wasm.length;
  const byte = () => {
    if (pos >= end) throw new ModuleContractError("not a valid WebAssembly module: unexpected end of a section");
    return wasm[pos++];
  };
  const u32 = () => {
    let result = 0, shift = 0, b: number;
    do { b = byte(); result += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80 && shift < 35);
    return result;
  };
  const name = () => {
    const len = u32();
    if (pos + len > end) throw new ModuleContractError("not a valid WebAssembly module: a name runs past its section");
    let s = "";
    for (let i = 0; i < len; i++) s += String.fromCharCode(wasm[pos + i]);
    pos += len;
    return s;
  };
  const limitsMax = () => {
    const flags = byte();
    u32();
    return flags & 1 ? u32() : null;
  };
  const out: Sections = { imports: [], exports: new Map(), memoryMaxPages: [], hasStart: false };
  while (pos < wasm.length) {
    end = wasm.length;
    const id = byte();
    const size = u32();
    const sectionEnd = pos + size;
    if (sectionEnd > wasm.length) throw new ModuleContractError(`not a valid WebAssembly module: section ${id} runs past the end`);
    end = sectionEnd;
    if (id === 2) {
      for (let n = u32(); n > 0; n--) {
        const module = name(), field = name(), kind = byte();
        if (kind === 0) u32();
        else if (kind === 1) { byte(); limitsMax(); }
        else if (kind === 2) out.memoryMaxPages.push(limitsMax());
        else if (kind === 3) { byte(); byte(); }
        else throw new ModuleContractError(`the module imports ${module}.${field} of kind ${kind}, which apps may not import`);
        out.imports.push({ module, field, kind: KIND[kind] ?? String(kind) });
      }
    } else if (id === 5) {
      for (let n = u32(); n > 0; n--) out.memoryMaxPages.push(limitsMax());
    } else if (id === 7) {
      for (let n = u32(); n > 0; n--) {
        const field = name(), kind = byte(), index = u32();
        out.exports.set(field, { kind: KIND[kind] ?? String(kind), index });
      }
    } else if (id === 8) {
      out.hasStart = true;
    }
    pos = sectionEnd;
  }
  return out;
}

/**
 * Checks that `wasm` has the shape of an instrumented app (see the file header) and that its
 * memory maximum fits `quotaBytes`. Throws ModuleContractError naming what is wrong.
 */
export function checkInstrumentedModule(wasm: Uint8Array, quotaBytes: number): void {
  const s = readSections(wasm);
  const known = new Set(APP_IMPORTS.map((i) => i.name));
  for (const imp of s.imports) {
    const isPreempt = imp.module === PREEMPT_MODULE && imp.field === PREEMPT_FIELD && imp.kind === "function";
    const isSyscall = imp.module === "applibs" && known.has(imp.field) && imp.kind === "function";
    const isGate = imp.module === PREEMPT_MODULE && GATE_IMPORT_KINDS.get(imp.field) === imp.kind;
    if (!isPreempt && !isSyscall && !isGate) throw new ModuleContractError(`the module imports ${imp.kind} ${imp.module}.${imp.field}; an instrumented app imports only applibs functions, ${PREEMPT_MODULE}.${PREEMPT_FIELD} and the syscall gates' ${PREEMPT_MODULE} imports`);
  }
  if (s.hasStart) throw new ModuleContractError("the module has a start function; an instrumented app starts only from " + ENTRY_EXPORT);
  const want: [string, string][] = [[FUEL_GLOBAL, "global"], [ENTRY_EXPORT, "function"], ...ASYNCIFY_EXPORTS.map((n): [string, string] => [n, "function"])];
  for (const [field, kind] of want) {
    if (s.exports.get(field)?.kind !== kind) throw new ModuleContractError(`the module does not export the ${kind} ${field} (was it instrumented? run \`wasphere instrument\`)`);
  }
  const memories = [...s.exports.values()].filter((e) => e.kind === "memory");
  if (s.memoryMaxPages.length !== 1 || memories.length !== 1) throw new ModuleContractError("an instrumented app has exactly one memory, exported");
  const maxPages = s.memoryMaxPages[0];
  const quotaPages = Math.floor(quotaBytes / PAGE_BYTES);
  if (maxPages === null || maxPages > quotaPages) {
    throw new ModuleContractError(`the module's memory maximum (${maxPages === null ? "none" : `${maxPages} pages`}) exceeds the app's quota of ${quotaPages} pages (instrument it with the quota its manifest gives)`);
  }
}
