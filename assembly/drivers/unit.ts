// drivers/unit: what a driver unit answers, and the refusals every unit records the same way.
//
// What it is: the operation codes the registry (registry.ts) passes to a unit's one entry point
// `xOp(op, task, app, nr, a0, a1, a2, a3): i32`, and what each means. A unit answers only the ops
// that concern it and returns 0 to the rest, so a unit without handle kinds needs no close or
// wait code. A waitable kind (OP_WAITABLE) keeps a latch per object and answers OP_TAKE, OP_READY
// and OP_ARM (drivers/waitset.ts says how a wait uses them). The refusal helpers record EV_FAULT / EV_LIMIT exactly as every unit must.
// Invariants: OP_OWNS, OP_CHECKS, OP_OWNS_KIND, OP_WAITABLE and OP_FUEL_FLAT answer 1 or 0 and do nothing else;
// OP_NEEDS answers a CAP_* class mask; they are asked once per reset, never on the hot path.
// Budget: no memory of its own.
// Must not: allocate, or hold state (a unit keeps its own state in its own file).
import { EMFILE, EFAULT, EV_FAULT, EV_LIMIT, LIMIT_TASK_HANDLES, LIMIT_APP_HANDLES } from "../abi";
import { auditRecord } from "../audit/ring";
import { app_memory_bytes } from "../hal/index";

/** Does the unit implement syscall `nr`? (1 or 0) */
export const OP_OWNS: i32 = 0;
/** The CAP_* class mask syscall `nr` needs. */
export const OP_NEEDS: i32 = 1;
/** Does syscall `nr` need a resource check (OP_ALLOWS) beyond its class? (1 or 0) */
export const OP_CHECKS: i32 = 2;
/** May `app` use the resource named by `a0` for syscall `nr`? (1 or 0; the hook records a refusal) */
export const OP_ALLOWS: i32 = 3;
/** Runs syscall `nr` for `task` of `app`: its result, a negative errno, or SYSCALL_SUSPEND. */
export const OP_CALL: i32 = 4;
/** The fuel syscall `nr` with a1 = `a1` costs once it returned `a2` (the unit's call ran). */
export const OP_FUEL: i32 = 5;
/** Is handle kind `a0` the unit's? (1 or 0) */
export const OP_OWNS_KIND: i32 = 6;
/** Releases the object `a1` of a closing handle of kind `a0` (the row is freed after). */
export const OP_CLOSE: i32 = 7;
/** Can a handle of kind `a0` be waited on? (1 or 0) */
export const OP_WAITABLE: i32 = 8;
/**
 * Takes one event from the latch of object `a1` of a handle of kind `a0` (for `task`): the value
 * `wait` returns (>= 0), or -EAGAIN when the latch is empty. Only for waitable kinds.
 */
export const OP_TAKE: i32 = 9;
/** Puts the unit's own tables back to their boot state (kernel reset). */
export const OP_RESET: i32 = 10;
/** Is the latch of object `a1` of a handle of kind `a0` set? (1 or 0; takes nothing) */
export const OP_READY: i32 = 11;
/**
 * `a2` 1: arms object `a1` of kind `a0` to tell `task` of its next event (waitset.ts's
 * waitSetEvent); `a2` 0: disarms it if `task` is the one armed.
 */
export const OP_ARM: i32 = 12;
/**
 * Does syscall `nr` cost SYSCALL_FUEL whatever its arguments and result? (1 or 0; a unit that does
 * not answer is asked OP_FUEL after every call). Asked once per reset: the dispatcher then skips
 * OP_FUEL for the number (one unit call fewer on its hot path).
 */
export const OP_FUEL_FLAT: i32 = 13;
/**
 * 0 when the `len` bytes at `ptr` (both read as unsigned) lie in `task`'s memory, else -EFAULT,
 * recorded as `fault` records it. For calls that must refuse a bad range before they do anything
 * (a read whose bytes would be lost, a wait that must not block on a bad array).
 */
export function rangeRefused(task: i32, app: i32, nr: i32, ptr: i32, len: i32): i32 {
  const memBytes = app_memory_bytes(task);
  if (memBytes < 0 || <u64><u32>ptr + <u64><u32>len > <u64><u32>memBytes) return fault(task, app, nr, ptr, -EFAULT);
  return 0;
}

/** Records a bad app pointer for syscall `nr` and returns `rc`. */
export function fault(task: i32, app: i32, nr: i32, ptr: i32, rc: i32): i32 {
  auditRecord(EV_FAULT, task, app, nr, ptr, rc);
  return rc;
}

/** Records a refusal for a pool's `limit` (LIMIT_*) and returns `rc`. */
export function refuseForLimit(task: i32, app: i32, nr: i32, limit: i32, rc: i32): i32 {
  auditRecord(EV_LIMIT, task, app, nr, limit, rc);
  return rc;
}

/** The refusal of handleAlloc, recorded with the limit it hit. */
export function refuseHandle(task: i32, app: i32, nr: i32, rc: i32): i32 {
  return refuseForLimit(task, app, nr, rc == -EMFILE ? LIMIT_TASK_HANDLES : LIMIT_APP_HANDLES, rc);
}
