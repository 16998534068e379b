// The slice protocol: what an instrumented app module exports and imports, as every host that runs
// one must see it (the Node AppRunner, the wasmtime host in hosts/wasmtime, any embedder).
//
// An instrumented module (host/apps/instrument.ts, or `wasphere instrument` ahead of time):
// - imports only `applibs.*` functions (APP_IMPORTS) and the function `wasphere.preempt: [] -> []`;
// - exports its memory, whose maximum is the app's quota in pages, the mutable i32 global
//   `__wasphere_fuel`, the entry `__wasphere_entry: [] -> [i32]`, and binaryen's asyncify exports
//   (`asyncify_start_unwind`, `asyncify_stop_unwind`, `asyncify_start_rewind`, `asyncify_stop_rewind`,
//   `asyncify_get_state`);
// - has no start section (a start function would run outside any slice).
// `checkInstrumentedModule` verifies that shape before a pre-instrumented module is installed.
// It cannot verify the metering itself: a host accepts pre-instrumented modules only from whoever
// it trusts to have run the instrumentation (DESIGN.md, Embedding).
// No binaryen here: a host that only runs pre-instrumented apps never loads it.
// Must not: import binaryen or the instrumenter (instrument.ts takes its constants from here).
import { APP_IMPORTS } from "./imports.js";

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
    if (!isPreempt && !isSyscall) throw new ModuleContractError(`the module imports ${imp.kind} ${imp.module}.${imp.field}; an instrumented app imports only applibs functions and ${PREEMPT_MODULE}.${PREEMPT_FIELD}`);
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
