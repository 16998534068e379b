// handles: the table of everything a task has opened (GPIO pins, timers, storage files).
//
// What it is: MAX_HANDLES fixed rows {kind, owner task, generation, object}. A handle value is
// index | generation << HANDLE_INDEX_BITS: the index finds the row, and the generation, owner and kind must all
// match for the handle to resolve, so a forged, closed (stale) or borrowed value is refused with
// -EBADF and audited. Closing bumps the generation, so a value never comes back to life.
// Invariants: row 0 is never handed out (0 is not a handle); a free row has kind HANDLE_FREE and
// owner NO_TASK; a task holds at most HANDLES_PER_TASK_MAX rows and an app its share of the
// table (sched/share.ts), so one app cannot starve the others of handles; a pin is open through
// at most one handle. Closing an output handle releases the pin: it is driven low, then made an
// input, so nothing an app drove stays driven after it closed, stopped or crashed.
// Budget: HANDLE_TABLE_BYTES static bytes (rows + the pin index); nothing on the heap.
// Must not: allocate, or resolve a handle without checking all of index, generation, owner, kind.
import { MAX_HANDLES, HANDLE_INDEX_BITS, MAX_GPIO_PINS, EBADF, EMFILE, ENFILE, EV_BAD_HANDLE, GPIO_DIR_INPUT, HANDLES_PER_TASK_MAX as TASK_HANDLES_MAX } from "../abi";
import { gpio_write, gpio_configure } from "../hal/index";
import { auditRecord } from "../audit/ring";
import { NO_TASK, taskAt, taskValid } from "../task/table";
import { timerFree } from "../sched/timers";
import { storageOpenFree } from "../storage/open";
import { POOL_HANDLES, shareAllows, shareTake, shareGive } from "../sched/share";

export const HANDLE_FREE: i32 = 0;
export const HANDLE_GPIO_OUT: i32 = 1;
export const HANDLE_GPIO_IN: i32 = 2;
export const HANDLE_TIMER: i32 = 3;
export const HANDLE_STORAGE: i32 = 4;       // a mutable file (storage/open.ts row)
export const HANDLE_PACKAGE_FILE: i32 = 5;  // a file of the app's own package (storage/open.ts row)

// Masks for handleResolve: which kinds a call accepts.
export const KIND_GPIO_OUT: i32 = 1 << HANDLE_GPIO_OUT;
export const KIND_GPIO_IN: i32 = 1 << HANDLE_GPIO_IN;
export const KIND_GPIO: i32 = KIND_GPIO_OUT | KIND_GPIO_IN;
export const KIND_TIMER: i32 = 1 << HANDLE_TIMER;
export const KIND_STORAGE: i32 = 1 << HANDLE_STORAGE;
export const KIND_PACKAGE_FILE: i32 = 1 << HANDLE_PACKAGE_FILE;
export const KIND_ANY: i32 = KIND_GPIO | KIND_TIMER | KIND_STORAGE | KIND_PACKAGE_FILE;

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
  object: i32; // the pin, or the timer slot
}

const ROW_BYTES: usize = offsetof<Handle>();
export const HANDLE_ROW_BYTES: i32 = <i32>ROW_BYTES;
const rows = memory.data(MAX_HANDLES * <i32>ROW_BYTES, 8);
// For each pin, the index of the handle that has it open (0: none).
const pinHandle = memory.data(MAX_GPIO_PINS * 4, 4);
export const HANDLE_TABLE_BYTES: i32 = MAX_HANDLES * <i32>ROW_BYTES + MAX_GPIO_PINS * 4;
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
  memory.fill(pinHandle, 0, MAX_GPIO_PINS * 4);
  nextIndex = 1;
  rowsInUse = 0;
}

/** Index of the handle that has `pin` open, 0 when none. `pin` must be in 0..MAX_GPIO_PINS-1. */
export function pinOpenIndex(pin: i32): i32 {
  return load<i32>(pinHandle + (<usize>pin << 2));
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
    if (kind == HANDLE_GPIO_IN || kind == HANDLE_GPIO_OUT) store<i32>(pinHandle + (<usize>object << 2), index);
    nextIndex = index % (MAX_HANDLES - 1) + 1;
    return index | (h.generation << HANDLE_INDEX_BITS);
  }
  return -ENFILE;
}

/**
 * The row index of `handle` if task `task` holds it and its kind is in `kindMask`; otherwise
 * -EBADF, recorded in the audit ring with the syscall that tried it.
 */
export function handleResolve(task: i32, app: i32, handle: i32, kindMask: i32, syscall: i32): i32 {
  if (handle > 0) {
    const index = handle & INDEX_MASK;
    const generation = handle >>> HANDLE_INDEX_BITS;
    if (index != 0 && index < MAX_HANDLES) {
      const h = rowAt(index);
      if (h.kind != HANDLE_FREE && h.generation == generation && h.owner == task && ((1 << h.kind) & kindMask) != 0) return index;
    }
  }
  auditRecord(EV_BAD_HANDLE, task, app, syscall, handle, -EBADF);
  return -EBADF;
}

export function handleKind(index: i32): i32 { return rowAt(index).kind; }
export function handleObject(index: i32): i32 { return rowAt(index).object; }

/** Closes row `index` (already resolved): releases its object and retires its generation. */
export function handleClose(index: i32): void {
  const h = rowAt(index);
  if (h.kind == HANDLE_FREE) return;
  if (h.kind == HANDLE_TIMER) timerFree(h.object);
  else if (h.kind == HANDLE_STORAGE || h.kind == HANDLE_PACKAGE_FILE) storageOpenFree(h.object);
  else {
    store<i32>(pinHandle + (<usize>h.object << 2), 0);
    if (h.kind == HANDLE_GPIO_OUT) {
      // Released to a defined state: low, then an input (not driven).
      gpio_write(h.object, 0);
      gpio_configure(h.object, GPIO_DIR_INPUT, 0);
    }
  }
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
