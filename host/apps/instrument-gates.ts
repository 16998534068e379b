// Syscall gates: the last step of instrumentation (instrument.ts, InstrumentOptions.fastSyscalls).
// Each fast import of the app (protocol.ts FAST_IMPORTS, less any the options list as blocking)
// becomes a function of the module itself, of the import's own name and type, that calls the
// core's `syscall_charged` through the `wasphere` import of that name, charges the fuel it
// answers to the app's own fuel global, and checks the wall clock when the host asks for it.
// So a non-blocking syscall is one call out of the app instance (into the core, Wasm-to-Wasm on a
// host that links the core's export) where a stub and a link module took three.
//
// Invariants:
// - Runs after metering and suspension, on call sites that were made for an import: every caller
//   has already written its fuel back to the global before the call and reloads it after (as for
//   any import that charges), and no gate can unwind (none of its three imports suspends: asyncify
//   was told so by not listing them), so no state test is needed around or inside it.
// - A gate is not metered: its work is the syscall's, which the core charges (SYSCALL_FUEL at
//   least). Its code is the same for every app; only the syscall number differs.
// - The task id is the host's immutable global, never an app value; the core still checks it is
//   the running task, the security hook and the handle, so a gate adds no authority.
// - An over-charge (fuel below -1) goes to the host's `over`, which keeps the excess exactly;
//   a gate never writes a fuel below -1 itself (hosts write only [-1, FUEL_IDLE]; 3a of DESIGN.md's
//   preemption section depends on it).
// Budget: one function of about 90 bytes per fast import the app has, one global.
// Must not: run a pass of its own over the app's code, or touch any memory.
import binaryen from "binaryen";
import { SYSCALL_FUEL } from "../../assembly/abi.js";
import {
  FAST_IMPORTS, FUEL_GLOBAL, GATE_OVER_FIELD, GATE_SYSCALL_FIELD, GATE_TASK_FIELD, GATE_WALL_FIELD, GATE_WALLED_FIELD,
  PREEMPT_MODULE, WALL_CHECK_CALLS,
} from "./protocol.js";

const B = binaryen;
const SYSCALL_IMPORT = "__wasphere_syscall_charged";
const OVER_IMPORT = "__wasphere_over";
const WALL_IMPORT = "__wasphere_wall";
const TASK_GLOBAL = "__wasphere_task";
const WALLED_GLOBAL = "__wasphere_walled";
/** The calls left before the next wall reading (a gate's own state; see protocol.ts). */
const WALL_LEFT_GLOBAL = "__wasphere_wall_left";

/**
 * Replaces the fast `applibs` imports of `mod` by gates (when the app imports no fast import, the
 * module gets no `wasphere` gate import at all). `blocking` lists imports instrumented as
 * blocking (`applibs.name`): those keep their import. Each import's signature is the protocol's:
 * instrument.ts's contract check refused any other before binaryen read the module.
 */
export function addSyscallGates(mod: binaryen.Module, blocking: readonly string[]): void {
  const byName = new Map(FAST_IMPORTS.map((i) => [i.name, i]));
  const gated: { internal: string; nr: number; params: number }[] = [];
  for (let i = 0; i < mod.getNumFunctions(); i++) {
    const info = B.getFunctionInfo(mod.getFunctionByIndex(i));
    if (info.module !== "applibs") continue;
    const imp = byName.get(info.base ?? "");
    if (!imp || blocking.includes(`applibs.${info.base}`)) continue;
    gated.push({ internal: info.name, nr: imp.nr, params: imp.params });
  }
  if (gated.length === 0) return;

  const i32 = B.i32, i64 = B.i64;
  mod.addFunctionImport(SYSCALL_IMPORT, PREEMPT_MODULE, GATE_SYSCALL_FIELD, B.createType([i32, i32, i32, i32, i32, i32]), i64);
  mod.addFunctionImport(OVER_IMPORT, PREEMPT_MODULE, GATE_OVER_FIELD, i32, B.none);
  mod.addFunctionImport(WALL_IMPORT, PREEMPT_MODULE, GATE_WALL_FIELD, B.none, B.none);
  mod.addGlobalImport(TASK_GLOBAL, PREEMPT_MODULE, GATE_TASK_FIELD, i32, false);
  mod.addGlobalImport(WALLED_GLOBAL, PREEMPT_MODULE, GATE_WALLED_FIELD, i32, false);
  mod.addGlobal(WALL_LEFT_GLOBAL, i32, true, mod.i32.const(WALL_CHECK_CALLS));

  // A gate of n params: locals n answer (i64), n+1 cost (i32), n+2 left (i64), n+3 calls left (i32).
  for (const g of gated) {
    const n = g.params, ANSWER = n, COST = n + 1, LEFT = n + 2, CALLS_LEFT = n + 3;
    const get = (i: number, t: number) => mod.local.get(i, t);
    const args = [mod.i32.const(g.nr), ...Array.from({ length: 4 }, (_, a) => a < n ? get(a, i32) : mod.i32.const(0))];
    const body = mod.block(null, [
      mod.local.set(ANSWER, mod.call(SYSCALL_IMPORT, [mod.global.get(TASK_GLOBAL, i32), ...args], i64)),
      mod.local.set(COST, mod.i32.wrap(mod.i64.shr_u(get(ANSWER, i64), mod.i64.const(32n)))),
      mod.if(mod.i32.gt_s(get(COST, i32), mod.i32.const(0)), mod.block(null, [
        mod.local.set(LEFT, mod.i64.sub(mod.i64.extend_s(mod.global.get(FUEL_GLOBAL, i32)), mod.i64.extend_u(get(COST, i32)))),
        mod.if(mod.i64.lt_s(get(LEFT, i64), mod.i64.const(-1n)),
          mod.call(OVER_IMPORT, [get(COST, i32)], B.none),
          mod.global.set(FUEL_GLOBAL, mod.i32.wrap(get(LEFT, i64)))),
      ])),
      // With a wall budget: the count of cheap calls runs down; the clock is read at 0 or after
      // a call that made host work (its cost above SYSCALL_FUEL), and the count starts again.
      mod.if(mod.global.get(WALLED_GLOBAL, i32), mod.block(null, [
        mod.local.set(CALLS_LEFT, mod.i32.sub(mod.global.get(WALL_LEFT_GLOBAL, i32), mod.i32.const(1))),
        mod.global.set(WALL_LEFT_GLOBAL, get(CALLS_LEFT, i32)),
        mod.if(mod.i32.or(mod.i32.eqz(get(CALLS_LEFT, i32)), mod.i32.gt_s(get(COST, i32), mod.i32.const(SYSCALL_FUEL))), mod.block(null, [
          mod.global.set(WALL_LEFT_GLOBAL, mod.i32.const(WALL_CHECK_CALLS)),
          mod.call(WALL_IMPORT, [], B.none),
        ])),
      ])),
      mod.i32.wrap(get(ANSWER, i64)),
    ], i32);
    mod.removeFunction(g.internal);
    mod.addFunction(g.internal, B.createType(Array(n).fill(i32)), i32, [i64, i32, i64, i32], body);
  }
}
