// drivers/handle: the calls on any handle: close, and wait on a handle that offers it.
//
// What it is: a driver unit (unit.ts) without kinds of its own. Both calls need only compute: the
// handle is the capability. close accepts every registered kind (the kind's unit releases the
// object, handles/table.ts frees the row); wait accepts the kinds whose unit offers a wake source
// (OP_WAITABLE) and hands the wait to that unit (OP_WAIT).
// Fuel: SYSCALL_FUEL.
// Invariants: the handle is resolved (owner, kind, generation) before its unit sees it.
// Budget: no memory of its own.
// Must not: act on a handle that did not resolve.
import { SYS_CLOSE, SYS_WAIT, SYSCALL_FUEL } from "../abi";
import { CAP_COMPUTE } from "../lsm/caps";
import { handleResolve, handleClose, handleKind, handleObject } from "../handles/table";
import { OP_OWNS, OP_NEEDS, OP_CALL, OP_FUEL, OP_WAIT } from "./unit";
import { kindsAll, kindsWaitable, kindOp } from "./registry";

function call(task: i32, app: i32, nr: i32, handle: i32, timeoutMs: i32): i32 {
  const index = handleResolve(task, app, handle, nr == SYS_CLOSE ? kindsAll() : kindsWaitable(), nr);
  if (index < 0) return index;
  const kind = handleKind(index);
  if (nr == SYS_CLOSE) { handleClose(index); return 0; }
  return kindOp(OP_WAIT, task, app, nr, kind, handleObject(index), timeoutMs);
}

export function handleUnitOp(op: i32, task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  if (op == OP_CALL) return call(task, app, nr, a0, a1);
  if (op == OP_FUEL) return SYSCALL_FUEL;
  if (op == OP_OWNS) return nr == SYS_CLOSE || nr == SYS_WAIT ? 1 : 0;
  if (op == OP_NEEDS) return <i32>CAP_COMPUTE;
  return 0;
}
