// The slice link: a small Wasm module the host generates (never from an app's bytes) and
// instantiates beside each app instance, so that a slice is one call from JS.
//
// It is made after the app's instance, as it imports the app's fuel global, memory, entry and
// asyncify exports. Its one export `run(op, fuel)`: LINK_SLICE and LINK_REWIND set the fuel,
// start the rewind (LINK_REWIND), run the entry, stop the unwind and leave the fuel at FUEL_IDLE,
// returning the fuel left; LINK_UNWIND writes the asyncify header and starts an unwind; LINK_RET
// is the entry's result; LINK_PAGES the app memory's size in pages (cheaper than its buffer's
// length from JS). So a slice touches no
// WebAssembly.Global from JS (each access is about 20 ns). The syscalls themselves do not pass
// through here: the instrumenter's gates (instrument-gates.ts) call the core from the app.
// Invariants: nothing here reads or writes any memory but the app's own asyncify header.
// Budget: compiled once a process; one small instance per app instance.
// Must not: import binaryen (the host builds these bytes itself), or touch core memory.
import { ASYNCIFY_DATA_ADDR, ASYNCIFY_HEADER_ADDR, ASYNCIFY_UNWINDING, FUEL_IDLE } from "./protocol.js";

// ---- A few bytes of the binary format (WebAssembly core spec, "Binary Format").
const I32 = 0x7f;
const OP = {
  if: 0x04, else: 0x05, end: 0x0b, call: 0x10, localGet: 0x20, globalGet: 0x23, globalSet: 0x24,
  i32Store: 0x36, memorySize: 0x3f, i32Const: 0x41, i32Eq: 0x46, i32LtU: 0x49,
} as const;
const VOID = 0x40;

function uleb(n: number): number[] {
  const out: number[] = [];
  do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; out.push(b); } while (n);
  return out;
}
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f; n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) { out.push(b); return out; }
    out.push(b | 0x80);
  }
}
const name = (s: string) => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, items: number[][]) => [id, ...uleb(vec(items).length), ...vec(items)];
const funcType = (params: number, results: number) => [0x60, ...uleb(params), ...Array(params).fill(I32), ...uleb(results), ...Array(results).fill(I32)];
const body = (locals: [count: number, type: number][], code: number[]) => {
  const b = [...uleb(locals.length), ...locals.flatMap(([n, t]) => [...uleb(n), t]), ...code, OP.end];
  return [...uleb(b.length), ...b];
};
const moduleBytes = (sections: number[][]) => new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...sections.flat()]);

/** What `run(op, fuel)` does (see the file header). */
export const LINK_SLICE = 0;
export const LINK_REWIND = 1;
export const LINK_UNWIND = 2;
export const LINK_RET = 3;
export const LINK_PAGES = 4;

/**
 * The link module's bytes. Imports, in index order: functions app.start_rewind, app.stop_unwind,
 * app.start_unwind, app.get_state, app.entry; globals host.area (the asyncify save area's end),
 * app.fuel (mutable); the app's memory. One export, `run(op, fuel) -> i32`: each export costs
 * about a microsecond at every instantiation, which is every start of an app.
 */
export function linkModuleBytes(): Uint8Array {
  const T_I_V = 0, T_V_V = 1, T_V_I = 2, T_RUN = 3;
  const types = [funcType(1, 0), funcType(0, 0), funcType(0, 1), funcType(2, 1)];
  const F = { startRewind: 0, stopUnwind: 1, startUnwind: 2, getState: 3, entry: 4 };
  const G = { area: 0, fuel: 1, ret: 2 };
  const fn = (mod: string, field: string, type: number) => [...name(mod), ...name(field), 0x00, ...uleb(type)];
  const globalImport = (mod: string, field: string, mutable: boolean) => [...name(mod), ...name(field), 0x03, I32, mutable ? 1 : 0];
  const imports = [
    fn("app", "start_rewind", T_I_V), fn("app", "stop_unwind", T_V_V), fn("app", "start_unwind", T_I_V), fn("app", "get_state", T_V_I),
    fn("app", "entry", T_V_I),
    globalImport("host", "area", false), globalImport("app", "fuel", true),
    [...name("app"), ...name("memory"), 0x02, 0x00, 0x00],
  ];
  const IMPORTED_FUNCS = 5;
  const RUN = IMPORTED_FUNCS;
  const funcs = [[T_RUN]];
  // ret: the entry's result.
  const globals = [[I32, 1, OP.i32Const, 0, OP.end]];
  const exports = [[...name("run"), 0x00, ...uleb(RUN)]];
  const gget = (g: number) => [OP.globalGet, ...uleb(g)], gset = (g: number) => [OP.globalSet, ...uleb(g)];
  const lget = (l: number) => [OP.localGet, ...uleb(l)];
  const call = (f: number) => [OP.call, ...uleb(f)];
  const opIs = (op: number) => [...lget(0), OP.i32Const, ...sleb(op), OP.i32Eq];
  // LINK_SLICE / LINK_REWIND: the fuel, the rewind (op 1), the entry, the stop of an unwind;
  // then the fuel left, with FUEL_IDLE left in the global.
  const sliceCode = [
    ...lget(1), ...gset(G.fuel),
    ...opIs(LINK_REWIND), OP.if, VOID, OP.i32Const, ...sleb(ASYNCIFY_HEADER_ADDR), ...call(F.startRewind), OP.end,
    ...call(F.entry), ...gset(G.ret),
    ...call(F.getState), OP.i32Const, ...sleb(ASYNCIFY_UNWINDING), OP.i32Eq, OP.if, VOID, ...call(F.stopUnwind), OP.end,
    ...gget(G.fuel), OP.i32Const, ...sleb(FUEL_IDLE), ...gset(G.fuel),
  ];
  // LINK_UNWIND: the header {ASYNCIFY_DATA_ADDR, area} at ASYNCIFY_HEADER_ADDR, then start_unwind.
  const unwindCode = [
    OP.i32Const, ...sleb(ASYNCIFY_HEADER_ADDR), OP.i32Const, ...sleb(ASYNCIFY_DATA_ADDR), OP.i32Store, 2, 0,
    OP.i32Const, ...sleb(ASYNCIFY_HEADER_ADDR), ...gget(G.area), OP.i32Store, 2, 4,
    OP.i32Const, ...sleb(ASYNCIFY_HEADER_ADDR), ...call(F.startUnwind), OP.i32Const, 0,
  ];
  const runCode = [
    ...lget(0), OP.i32Const, ...sleb(LINK_UNWIND), OP.i32LtU, OP.if, I32, ...sliceCode,
    OP.else, ...opIs(LINK_UNWIND), OP.if, I32, ...unwindCode,
    OP.else, ...opIs(LINK_RET), OP.if, I32, ...gget(G.ret), OP.else, OP.memorySize, 0x00, OP.end,
    OP.end, OP.end,
  ];
  const code = [body([], runCode)];
  return moduleBytes([section(1, types), section(2, imports), section(3, funcs), section(6, globals), section(7, exports), section(10, code)]);
}

export interface LinkExports {
  /** LINK_SLICE/LINK_REWIND: the fuel left; LINK_UNWIND: 0; LINK_RET: the entry's result; LINK_PAGES: the app memory's size in pages. */
  run(op: number, fuel: number): number;
}

let link: WebAssembly.Module | null | undefined;

/**
 * The link module, compiled once a process; null where this engine cannot compile it
 * synchronously (the runner then runs each slice from JS).
 */
export function linkModule(): WebAssembly.Module | null {
  if (link === undefined) {
    try { link = new WebAssembly.Module(linkModuleBytes() as Uint8Array<ArrayBuffer>); } catch { link = null; }
  }
  return link;
}
