// drivers/handle: the calls on any handle: close, wait on one handle that offers it, and wait on
// several at once (wait_any; ABI.md "Event loop").
//
// What it is: a driver unit (unit.ts) without kinds of its own. The calls need only compute: the
// handle is the capability. close accepts every registered kind (the kind's unit releases the
// object, handles/table.ts frees the row); wait and wait_any accept the kinds whose unit keeps a
// latch (OP_WAITABLE) and ask that unit about it (OP_TAKE, OP_READY), blocking through
// drivers/waitset.ts when nothing is latched. So a new waitable kind (a UART's readable bytes)
// needs its unit's latch ops and nothing here.
// wait(h, timeoutMs) takes one event of h (a timer's expirations, a GPIO input's oldest edge),
// blocking until one comes. wait_any(ptr, count, timeoutMs) names count handles (an i32 array in
// app memory) and returns the mask of those whose latch is set (bit i: the i-th), blocking until
// one is; it takes nothing, so the app takes each event with wait(h, 0), and a ready handle it
// leaves is still ready at its next wait_any (level, not edge: no event is lost between the two).
// Every handle is resolved (owner, kind, generation) before any is asked or armed: one bad
// handle refuses the whole call (-EBADF, audited) and nothing blocks.
// Fuel: SYSCALL_FUEL; wait_any also COPY_BYTE_FUEL a byte of the array it read.
// Invariants: the handle is resolved before its unit sees it.
// Budget: WAIT_ANY_MAX_HANDLES * 4 static bytes (the array read in); the wait sets are waitset.ts's.
// Must not: act on a handle that did not resolve, or block with a refused one.
import {
  SYS_CLOSE, SYS_WAIT, SYS_WAIT_ANY, SYSCALL_FUEL, SYSCALL_SUSPEND, COPY_BYTE_FUEL, WAIT_ANY_MAX_HANDLES,
  EAGAIN, EINVAL, ETIMEDOUT,
} from "../abi";
import { app_copy_in } from "../hal/index";
import { CAP_COMPUTE } from "../lsm/caps";
import { handleResolve, handleClose, handleKind, handleObject } from "../handles/table";
import { WAIT_ONE, WAIT_ANY } from "../task/table";
import { OP_OWNS, OP_NEEDS, OP_CALL, OP_FUEL, OP_TAKE, fault, rangeRefused } from "./unit";
import { kindsAll, kindsWaitable, kindOp } from "./registry";
import { waitSetPut, waitSetBlock, waitSetReadyMask } from "./waitset";

const WAIT_ANY_BYTES: i32 = WAIT_ANY_MAX_HANDLES * 4;
const handlesIn = memory.data(WAIT_ANY_BYTES, 4);
export const HANDLE_UNIT_TABLE_BYTES: i32 = WAIT_ANY_BYTES;

function sysWait(task: i32, app: i32, handle: i32, timeoutMs: i32): i32 {
  const index = handleResolve(task, app, handle, kindsWaitable(), SYS_WAIT);
  if (index < 0) return index;
  const value = kindOp(OP_TAKE, task, app, SYS_WAIT, handleKind(index), handleObject(index), 0);
  if (value != -EAGAIN) return value;
  if (timeoutMs == 0) return -ETIMEDOUT;
  waitSetPut(task, 0, index);
  waitSetBlock(task, WAIT_ONE, 1, timeoutMs);
  return SYSCALL_SUSPEND;
}

function sysWaitAny(task: i32, app: i32, ptr: i32, count: i32, timeoutMs: i32): i32 {
  if (count < 1 || count > WAIT_ANY_MAX_HANDLES) return -EINVAL;
  const bytes = count * 4;
  const refused = rangeRefused(task, app, SYS_WAIT_ANY, ptr, bytes);
  if (refused < 0) return refused;
  const rc = app_copy_in(task, ptr, bytes, handlesIn);
  if (rc < 0) return fault(task, app, SYS_WAIT_ANY, ptr, rc);
  // Every handle first: a refused one leaves nothing half armed.
  for (let i = 0; i < count; i++) {
    const index = handleResolve(task, app, load<i32>(handlesIn + (<usize>i << 2)), kindsWaitable(), SYS_WAIT_ANY);
    if (index < 0) return index;
    waitSetPut(task, i, index);
  }
  const mask = waitSetReadyMask(task, count);
  if (mask != 0) return mask;
  if (timeoutMs == 0) return -ETIMEDOUT;
  waitSetBlock(task, WAIT_ANY, count, timeoutMs);
  return SYSCALL_SUSPEND;
}

function call(task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32): i32 {
  if (nr == SYS_WAIT_ANY) return sysWaitAny(task, app, a0, a1, a2);
  if (nr == SYS_WAIT) return sysWait(task, app, a0, a1);
  const index = handleResolve(task, app, a0, kindsAll(), nr);
  if (index < 0) return index;
  handleClose(index);
  return 0;
}

function fuel(nr: i32, count: i32): i32 {
  if (nr != SYS_WAIT_ANY || count < 1 || count > WAIT_ANY_MAX_HANDLES) return SYSCALL_FUEL;
  return SYSCALL_FUEL + count * 4 * COPY_BYTE_FUEL;
}

// @ts-ignore: decorator
@inline export function handleUnitOp(op: i32, task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  if (op == OP_CALL) return call(task, app, nr, a0, a1, a2);
  if (op == OP_FUEL) return fuel(nr, a1);
  if (op == OP_OWNS) return nr == SYS_CLOSE || nr == SYS_WAIT || nr == SYS_WAIT_ANY ? 1 : 0;
  if (op == OP_NEEDS) return <i32>CAP_COMPUTE;
  return 0;
}
