// handles: the table of everything a task has opened (GPIO pins, timers, storage files: any driver unit's kinds).
//
// What it is: MAX_HANDLES fixed rows {kind, owner task, generation, object}. A handle value is
// index | generation << HANDLE_INDEX_BITS: the index finds the row, and the generation, owner and kind must all
// match for the handle to resolve, so a forged, closed (stale) or borrowed value is refused with
// -EBADF and audited. Closing bumps the generation, so a value never comes back to life.
// Invariants: row 0 is never handed out (0 is not a handle); a free row has kind HANDLE_FREE and
// owner NO_TASK; a task holds at most HANDLES_PER_TASK_MAX rows and an app its share of the
// table (sched/share.ts), so one app cannot starve the others of handles. A kind and what its
// object is belong to the driver unit owning it (drivers/registry.ts); closing asks that unit to
// release the object (OP_CLOSE, e.g. a GPIO output is driven low and made an input) before the
// row is freed.
// Budget: HANDLE_TABLE_BYTES static bytes (the rows); nothing on the heap.
// Must not: allocate, or resolve a handle without checking all of index, generation, owner, kind.
import { MAX_HANDLES, HANDLE_INDEX_BITS, EBADF, EMFILE, ENFILE, EV_BAD_HANDLE, HANDLES_PER_TASK_MAX as TASK_HANDLES_MAX } from "../abi";
import { auditRecord } from "../audit/ring";
import { NO_TASK, taskAt, taskValid } from "../task/table";
import { kindOp } from "../drivers/registry";
import { OP_CLOSE } from "../drivers/unit";
import { POOL_HANDLES, shareAllows, shareTake, shareGive } from "../sched/share";

// Kind 0 is a free row; the other kinds are the driver units' (drivers/*.ts), 1..31.
export const HANDLE_FREE: i32 = 0;

/** The most handles one task may hold at once. */
export const HANDLES_PER_TASK_MAX: i32 = TASK_HANDLES_MAX;
// The generation lives in bits HANDLE_INDEX_BITS..30 so that a handle is always a positive i32.
const GENERATION_LIMIT: i32 = 1 << (31 - HANDLE_INDEX_BITS);
const INDEX_MASK: i32 = (1 << HANDLE_INDEX_BITS) - 1;

/** The row index a handle value names (not yet checked). */
export function handleIndexOf(handle: i32): i32 { return handle & INDEX_MASK; }

@unmanaged
class Handle {
  kind: i32;
  owner: i32;
  generation: i32;
  object: i32; // what the kind's unit keeps here (a pin, a timer slot)
}

const ROW_BYTES: usize = offsetof<Handle>();
export const HANDLE_ROW_BYTES: i32 = <i32>ROW_BYTES;
const rows = memory.data(MAX_HANDLES * <i32>ROW_BYTES, 8);
export const HANDLE_TABLE_BYTES: i32 = MAX_HANDLES * <i32>ROW_BYTES;
// Where the next search for a free row starts: rotating delays the reuse of an index.
let nextIndex: i32 = 1;
// Rows handed out now (row 0 excluded), for the share rule.
let rowsInUse: i32 = 0;
const USABLE_ROWS: i32 = MAX_HANDLES - 1;

function rowAt(index: i32): Handle {
  return changetype<Handle>(rows + <usize>index * ROW_BYTES);
}

export function handlesReset(): void {
  for (let i = 0; i < MAX_HANDLES; i++) {
    const h = rowAt(i);
    h.kind = HANDLE_FREE;
    h.owner = NO_TASK;
    h.generation = 1;
    h.object = -1;
  }
  nextIndex = 1;
  rowsInUse = 0;
}

/**
 * Takes a free row for `owner`. Returns the handle value, -EMFILE when the task holds its
 * maximum, -ENFILE when its app's share of the table is used up or the table is full.
 */
export function handleAlloc(owner: i32, kind: i32, object: i32): i32 {
  if (!taskValid(owner)) return -EBADF;
  const task = taskAt(owner);
  if (task.handleCount >= HANDLES_PER_TASK_MAX) return -EMFILE;
  if (!shareAllows(POOL_HANDLES, task.app, USABLE_ROWS, rowsInUse)) return -ENFILE;
  for (let n = 1; n < MAX_HANDLES; n++) {
    const index = (nextIndex + n - 1) % (MAX_HANDLES - 1) + 1; // 1..MAX_HANDLES-1
    const h = rowAt(index);
    if (h.kind != HANDLE_FREE) continue;
    h.kind = kind;
    h.owner = owner;
    h.object = object;
    task.handleCount++;
    rowsInUse++;
    shareTake(POOL_HANDLES, task.app);
    nextIndex = index % (MAX_HANDLES - 1) + 1;
    return index | (h.generation << HANDLE_INDEX_BITS);
  }
  return -ENFILE;
}

/**
 * The row index of `handle` if task `task` holds it and its kind is in `kindMask`; otherwise
 * -EBADF, recorded in the audit ring with the syscall that tried it.
 */
// Inlined into each unit's calls (a handle call's hot path): the refusal stays one call out.
// @ts-ignore: decorator
@inline export function handleResolve(task: i32, app: i32, handle: i32, kindMask: i32, syscall: i32): i32 {
  if (handle > 0) {
    const index = handle & INDEX_MASK;
    const generation = handle >>> HANDLE_INDEX_BITS;
    if (index != 0 && index < MAX_HANDLES) {
      const h = rowAt(index);
      if (h.kind != HANDLE_FREE && h.generation == generation && h.owner == task && ((1 << h.kind) & kindMask) != 0) return index;
    }
  }
  return handleRefused(task, app, handle, syscall);
}

/** handleResolve's refusal: -EBADF, recorded in the audit ring with the syscall that tried it. */
function handleRefused(task: i32, app: i32, handle: i32, syscall: i32): i32 {
  auditRecord(EV_BAD_HANDLE, task, app, syscall, handle, -EBADF);
  return -EBADF;
}

export function handleKind(index: i32): i32 { return rowAt(index).kind; }
export function handleObject(index: i32): i32 { return rowAt(index).object; }

/** Closes row `index` (already resolved): releases its object and retires its generation. */
export function handleClose(index: i32): void {
  const h = rowAt(index);
  if (h.kind == HANDLE_FREE) return;
  kindOp(OP_CLOSE, h.owner, -1, -1, h.kind, h.object, 0);
  if (taskValid(h.owner)) {
    taskAt(h.owner).handleCount--;
    shareGive(POOL_HANDLES, taskAt(h.owner).app);
  }
  rowsInUse--;
  h.kind = HANDLE_FREE;
  h.owner = NO_TASK;
  h.object = -1;
  h.generation = h.generation + 1 < GENERATION_LIMIT ? h.generation + 1 : 1;
}

/** Closes every handle `task` holds (exit, crash, stop). */
export function handlesCloseAll(task: i32): void {
  for (let i = 1; i < MAX_HANDLES; i++) {
    if (rowAt(i).kind != HANDLE_FREE && rowAt(i).owner == task) handleClose(i);
  }
}

/** Handles `task` holds now. */
export function handlesHeldBy(task: i32): i32 {
  return taskValid(task) ? taskAt(task).handleCount : 0;
}
