// The syscall fast path and the slice helper: two small Wasm modules the host generates (never
// from an app's bytes) and instantiates beside each app instance, so that a non-blocking syscall
// runs Wasm-to-Wasm from the app into the core, and a slice is one call from JS.
//
// - The stub module (one instance per app instance, made before the app's): one function per
//   fast import the app has (FAST_IMPORTS: every non-blocking `applibs` import but `exit`), with the import's
//   own signature, which calls the link's `call(nr, a0, a1, a2, a3)` through its one-slot table.
//   The app imports these functions instead of JS ones.
// - The link module (one instance per app instance, made after the app's, as it imports the app's
//   fuel global, memory and asyncify exports): its `call` is put in the stub's table slot.
//   `call` is the whole syscall: the core's `syscall_charged(task, nr, a0..a3)` (the syscall and
//   the fuel it owes, in one call across instances where `syscall` and `task_take_fuel` took two),
//   the fuel charged to the app's fuel global (a charge that would take the fuel below -1 goes
//   to the JS `over`, which keeps the excess exactly, as AppRunner.charge does), then, when the
//   device has a wall budget, the JS `wall` (a clock reading): after every call charged more than
//   SYSCALL_FUEL (host work the fuel table knows of), and after every WALL_CHECK_CALLS-th call
//   of a slice otherwise (each reading is a call out to JS costing more than the call itself).
//   `slice(fuel, rewinding)` sets the fuel and the wall countdown, starts
//   the rewind, runs the entry, stops the unwind and leaves the fuel at FUEL_IDLE, returning the
//   fuel left; `unwind()` writes the asyncify header and starts an unwind; `ret()` is the entry's
//   result; `pages()` the app memory's size in pages (cheaper than its buffer's length from JS).
// Invariants: the task id is an immutable global of the link, fixed when the host makes it; the
// core still checks every call (running task, hook, handle); nothing here reads or writes any
// memory but the app's own asyncify header. A blocking import never takes the stub path: it must
// be able to suspend (runner.ts).
// Budget: the link is compiled once a process, a stub once per set of fast imports (at most
// STUBS_KEPT sets kept; a few hundred bytes each); two small instances per app instance.
// Must not: import binaryen (the host builds these bytes itself), or touch core memory.
import { APP_IMPORTS } from "./imports.js";
import { SYS_EXIT, SYSCALL_FUEL } from "../../assembly/abi.js";
import { ASYNCIFY_DATA_ADDR, ASYNCIFY_HEADER_ADDR, ASYNCIFY_UNWINDING, FUEL_IDLE } from "./protocol.js";

/**
 * On a device with a wall budget, the most calls charged SYSCALL_FUEL or less (no host work
 * beyond the flat syscall) the link makes between two wall-clock readings within a slice. So a
 * slice whose budget is spent ends within this many such calls, or at the first costlier one
 * (DESIGN.md, "The syscall fast path": the bound).
 */
export const WALL_CHECK_CALLS = 64;

/** The imports the stub module serves: non-blocking, and not `exit` (which ends the app by a JS throw). */
export const FAST_IMPORTS = APP_IMPORTS.filter((i) => !i.blocking && i.nr !== SYS_EXIT && i.results === 1 && i.params <= 4);

// ---- A few bytes of the binary format (WebAssembly core spec, "Binary Format").
const I32 = 0x7f, I64 = 0x7e, FUNCREF = 0x70;
const OP = {
  if: 0x04, else: 0x05, end: 0x0b, call: 0x10, callIndirect: 0x11,
  localGet: 0x20, localSet: 0x21, localTee: 0x22, globalGet: 0x23, globalSet: 0x24,
  i32Store: 0x36, memorySize: 0x3f, i32Const: 0x41, i64Const: 0x42, i32Eqz: 0x45, i32Eq: 0x46, i32GtS: 0x4a, i64LtS: 0x53,
  i32Sub: 0x6b, i32Or: 0x72, i64Sub: 0x7d, i64ShrU: 0x88, i32WrapI64: 0xa7, i64ExtendI32S: 0xac, i64ExtendI32U: 0xad,
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

/**
 * The stub module's bytes for the fast imports `names` (each in FAST_IMPORTS; only those an app
 * imports: an instance costs about a microsecond per export): types 0..4 are (i32 x n) -> i32,
 * type 5 the link's call.
 */
export function stubModuleBytes(names: readonly string[]): Uint8Array {
  const imports = names.map((n) => {
    const imp = FAST_IMPORTS.find((i) => i.name === n);
    if (!imp) throw new Error(`applibs.${n} is not a fast import`);
    return imp;
  });
  const types = [0, 1, 2, 3, 4].map((n) => funcType(n, 1));
  const CALL_TYPE = 5;
  types.push(funcType(5, 1));
  const funcs = imports.map((imp) => [...uleb(imp.params)]);
  const table = [FUNCREF, 0x00, ...uleb(1)];
  const exports = [[...name("table"), 0x01, 0x00], ...imports.map((imp, i) => [...name(imp.name), 0x00, ...uleb(i)])];
  const code = imports.map((imp) => body([], [
    OP.i32Const, ...sleb(imp.nr),
    ...Array.from({ length: 4 }, (_, a) => a < imp.params ? [OP.localGet, ...uleb(a)] : [OP.i32Const, 0]).flat(),
    OP.i32Const, 0, OP.callIndirect, ...uleb(CALL_TYPE), 0x00,
  ]));
  return moduleBytes([section(1, types), section(3, funcs), section(4, [table]), section(7, exports), section(10, code)]);
}

/**
 * The link module's bytes. Imports, in index order: functions core.syscall_charged, host.over,
 * host.wall, app.start_rewind, app.stop_unwind, app.start_unwind, app.get_state, app.entry;
 * globals host.task, host.walled, host.area (the asyncify save area's end), app.fuel (mutable);
 * the app's memory. Its `call` goes into the stub's table from JS (Table.set): an
 * element segment into an imported table costs more at instantiation than the rest of the link.
 */
export function linkModuleBytes(): Uint8Array {
  const T_SYSCALL = 0, T_I_V = 1, T_V_V = 2, T_V_I = 3, T_CALL = 4, T_SLICE = 5;
  // Type 0 is syscall_charged's (i32 x 6) -> i64.
  const types = [[0x60, 6, ...Array(6).fill(I32), 1, I64], funcType(1, 0), funcType(0, 0), funcType(0, 1), funcType(5, 1), funcType(2, 1)];
  const F = { syscallCharged: 0, over: 1, wall: 2, startRewind: 3, stopUnwind: 4, startUnwind: 5, getState: 6, entry: 7 };
  const G = { task: 0, walled: 1, area: 2, fuel: 3, ret: 4, wallLeft: 5 };
  const fn = (mod: string, field: string, type: number) => [...name(mod), ...name(field), 0x00, ...uleb(type)];
  const globalImport = (mod: string, field: string, mutable: boolean) => [...name(mod), ...name(field), 0x03, I32, mutable ? 1 : 0];
  const imports = [
    fn("core", "syscall_charged", T_SYSCALL), fn("host", "over", T_I_V), fn("host", "wall", T_V_V),
    fn("app", "start_rewind", T_I_V), fn("app", "stop_unwind", T_V_V), fn("app", "start_unwind", T_I_V), fn("app", "get_state", T_V_I),
    fn("app", "entry", T_V_I),
    globalImport("host", "task", false), globalImport("host", "walled", false), globalImport("host", "area", false), globalImport("app", "fuel", true),
    [...name("app"), ...name("memory"), 0x02, 0x00, 0x00],
  ];
  const IMPORTED_FUNCS = 8;
  const own = { call: IMPORTED_FUNCS, slice: IMPORTED_FUNCS + 1, unwind: IMPORTED_FUNCS + 2, ret: IMPORTED_FUNCS + 3, idle: IMPORTED_FUNCS + 4, pages: IMPORTED_FUNCS + 5 };
  const funcs = [[T_CALL], [T_SLICE], [T_V_V], [T_V_I], [T_V_I], [T_V_I]];
  // ret; wallLeft, the calls left before the next wall reading (slice sets it).
  const globals = [[I32, 1, OP.i32Const, 0, OP.end], [I32, 1, OP.i32Const, ...sleb(WALL_CHECK_CALLS), OP.end]];
  // idle is the slice's own; an export costs about a microsecond at each instantiation.
  const exports = Object.entries(own).filter(([n]) => n !== "idle").map(([n, i]) => [...name(n), 0x00, ...uleb(i)]);
  const gget = (g: number) => [OP.globalGet, ...uleb(g)], gset = (g: number) => [OP.globalSet, ...uleb(g)];
  const lget = (l: number) => [OP.localGet, ...uleb(l)];
  const call = (f: number) => [OP.call, ...uleb(f)];
  // call(nr, a0, a1, a2, a3): locals 5 rc, 6 cost (i32), 7 left (i64), 8 calls left before a wall
  // reading (i32), 9 syscall_charged's answer (i64: the cost << 32 | rc).
  const callCode = [
    ...gget(G.task), ...lget(0), ...lget(1), ...lget(2), ...lget(3), ...lget(4), ...call(F.syscallCharged), OP.localTee, 9,
    OP.i32WrapI64, OP.localSet, 5,
    ...lget(9), OP.i64Const, 32, OP.i64ShrU, OP.i32WrapI64, OP.localTee, 6, OP.i32Const, 0, OP.i32GtS,
    OP.if, VOID,
    ...gget(G.fuel), OP.i64ExtendI32S, ...lget(6), OP.i64ExtendI32U, OP.i64Sub, OP.localTee, 7, OP.i64Const, ...sleb(-1), OP.i64LtS,
    OP.if, VOID, ...lget(6), ...call(F.over),
    OP.else, ...lget(7), OP.i32WrapI64, ...gset(G.fuel), OP.end,
    OP.end,
    // With a wall budget: wallLeft counts down; the clock is read when it reaches 0 or when this
    // call cost more than SYSCALL_FUEL, and the count starts again.
    ...gget(G.walled), OP.if, VOID,
    ...gget(G.wallLeft), OP.i32Const, 1, OP.i32Sub, OP.localTee, 8, ...gset(G.wallLeft),
    ...lget(8), OP.i32Eqz, ...lget(6), OP.i32Const, ...sleb(SYSCALL_FUEL), OP.i32GtS, OP.i32Or,
    OP.if, VOID, OP.i32Const, ...sleb(WALL_CHECK_CALLS), ...gset(G.wallLeft), ...call(F.wall), OP.end,
    OP.end,
    ...lget(5),
  ];
  // slice(fuel, rewinding) -> fuel left.
  const sliceCode = [
    ...lget(0), ...gset(G.fuel), OP.i32Const, ...sleb(WALL_CHECK_CALLS), ...gset(G.wallLeft),
    ...lget(1), OP.if, VOID, OP.i32Const, ...sleb(ASYNCIFY_HEADER_ADDR), ...call(F.startRewind), OP.end,
    ...call(F.entry), ...gset(G.ret),
    ...call(F.getState), OP.i32Const, ...sleb(ASYNCIFY_UNWINDING), OP.i32Eq, OP.if, VOID, ...call(F.stopUnwind), OP.end,
    ...call(own.idle),
  ];
  // unwind(): the header {ASYNCIFY_DATA_ADDR, area} at ASYNCIFY_HEADER_ADDR, then start_unwind.
  const unwindCode = [
    OP.i32Const, ...sleb(ASYNCIFY_HEADER_ADDR), OP.i32Const, ...sleb(ASYNCIFY_DATA_ADDR), OP.i32Store, 2, 0,
    OP.i32Const, ...sleb(ASYNCIFY_HEADER_ADDR), ...gget(G.area), OP.i32Store, 2, 4,
    OP.i32Const, ...sleb(ASYNCIFY_HEADER_ADDR), ...call(F.startUnwind),
  ];
  const idleCode = [...gget(G.fuel), OP.i32Const, ...sleb(FUEL_IDLE), ...gset(G.fuel)];
  const code = [
    body([[2, I32], [1, I64], [1, I32], [1, I64]], callCode), body([], sliceCode), body([], unwindCode), body([], gget(G.ret)), body([], idleCode),
    body([], [OP.memorySize, 0x00]),
  ];
  return moduleBytes([section(1, types), section(2, imports), section(3, funcs), section(6, globals), section(7, exports), section(10, code)]);
}

export interface LinkExports {
  call(nr: number, a0: number, a1: number, a2: number, a3: number): number;
  slice(fuel: number, rewinding: number): number;
  unwind(): void;
  ret(): number;
  /** The app memory's size in pages. */
  pages(): number;
}

let link: WebAssembly.Module | null | undefined;
const stubs = new Map<string, WebAssembly.Module>();
/** How many import sets' stubs are kept compiled (a few per device in practice). */
const STUBS_KEPT = 64;

/**
 * The link module, compiled once a process; null where this engine cannot compile it
 * synchronously (the host then runs every import through JS, as before).
 */
export function linkModule(): WebAssembly.Module | null {
  if (link === undefined) {
    try { link = new WebAssembly.Module(linkModuleBytes() as Uint8Array<ArrayBuffer>); } catch { link = null; }
  }
  return link;
}

/** The stub module for the fast imports `names`, compiled once per set (null where it cannot be). */
export function stubModule(names: readonly string[]): WebAssembly.Module | null {
  const key = names.join(",");
  let mod = stubs.get(key);
  if (!mod) {
    try { mod = new WebAssembly.Module(stubModuleBytes(names) as Uint8Array<ArrayBuffer>); } catch { return null; }
    if (stubs.size >= STUBS_KEPT) stubs.delete(stubs.keys().next().value as string);
    stubs.set(key, mod);
  }
  return mod;
}
