// timers: the pool of periodic timers behind timer handles.
//
// What it is: TIMER_SLOTS fixed rows {owner, periodMs, pendingExpirations, waiter, dueMs}, and
// the armed list: the timers a task waits on, linked through their rows in (dueMs, slot) order.
// Expirations are counted lazily: a timer only needs the scheduler's attention when a task waits
// on it (it is armed); otherwise `timerCatchUp` counts what passed when the owner next asks. So
// the scheduler looks only at the head of the armed list, never at every slot.
// Invariants: dueMs of a live timer is the first expiration not yet counted; waiter is the one
// task blocked in `wait` or `wait_any` on it (its owner) or NO_TASK; a timer is in the armed list
// iff it is in use and has a waiter, and its dueMs does not change while it is there (only a take
// catches up, and the one a blocked waiter's wake makes is followed at once by the wake's disarm;
// timerReady moves nothing); the list holds at most min(TIMER_SLOTS, MAX_TASKS *
// WAIT_ANY_MAX_HANDLES) rows.
// Each app draws at most its share of the slots (share.ts), so no app, nor two, can empty the pool.
// Budget: TIMER_TABLE_BYTES static bytes; nothing on the heap; creating a timer allocates nothing.
// Must not: allocate, or count an expiration twice.
import { MAX_TIMERS } from "../abi";
import { NO_TASK, taskAt, taskValid } from "../task/table";
import { POOL_TIMERS, shareAllows, shareTake, shareGive } from "./share";

export const TIMER_SLOTS: i32 = MAX_TIMERS;
export const NO_TIMER: i32 = -1;

@unmanaged
class Timer {
  inUse: i32;
  owner: i32;
  periodMs: i32;
  pending: i32;     // expirations counted and not yet returned by a wait
  waiter: i32;
  armedNext: i32;   // next slot in the armed list, or NO_TIMER
  dueMs: f64;
}

const ROW_BYTES: usize = offsetof<Timer>();
export const TIMER_TABLE_BYTES: i32 = TIMER_SLOTS * <i32>ROW_BYTES;
const rows = memory.data(TIMER_TABLE_BYTES, 8);

function rowAt(slot: i32): Timer { return changetype<Timer>(rows + <usize>slot * ROW_BYTES); }
// Slots in use now, for the share rule.
let slotsInUse: i32 = 0;
// The armed timer due first, or NO_TIMER.
let armedHead: i32 = NO_TIMER;

function appOfTask(task: i32): i32 { return taskValid(task) ? taskAt(task).app : -1; }

export function timersReset(): void {
  memory.fill(rows, 0, <usize>TIMER_TABLE_BYTES);
  for (let i = 0; i < TIMER_SLOTS; i++) { rowAt(i).waiter = NO_TASK; rowAt(i).armedNext = NO_TIMER; }
  slotsInUse = 0;
  armedHead = NO_TIMER;
}

/** A new timer for task `owner`, first due at nowMs + periodMs; -1 when its app's share is used up or the pool is empty. */
export function timerAlloc(owner: i32, periodMs: i32, nowMs: f64): i32 {
  const app = appOfTask(owner);
  if (!shareAllows(POOL_TIMERS, app, TIMER_SLOTS, slotsInUse)) return -1;
  for (let i = 0; i < TIMER_SLOTS; i++) {
    const t = rowAt(i);
    if (t.inUse) continue;
    t.inUse = 1;
    t.owner = owner;
    t.periodMs = periodMs;
    t.pending = 0;
    t.waiter = NO_TASK;
    t.armedNext = NO_TIMER;
    t.dueMs = nowMs + <f64>periodMs;
    slotsInUse++;
    shareTake(POOL_TIMERS, app);
    return i;
  }
  return -1;
}

export function timerFree(slot: i32): void {
  if (slot < 0 || slot >= TIMER_SLOTS) return;
  const t = rowAt(slot);
  if (!t.inUse) return;
  shareGive(POOL_TIMERS, appOfTask(t.owner));
  slotsInUse--;
  disarm(slot);
  t.inUse = 0;
  t.waiter = NO_TASK;
}

/** Links `slot` into the armed list after every timer due before it (equal dueMs: lower slot first). */
function arm(slot: i32): void {
  const due = rowAt(slot).dueMs;
  let prev = NO_TIMER;
  let cur = armedHead;
  while (cur != NO_TIMER && (rowAt(cur).dueMs < due || (rowAt(cur).dueMs == due && cur < slot))) { prev = cur; cur = rowAt(cur).armedNext; }
  rowAt(slot).armedNext = cur;
  if (prev == NO_TIMER) armedHead = slot; else rowAt(prev).armedNext = slot;
}

function disarm(slot: i32): void {
  if (rowAt(slot).waiter == NO_TASK) return;
  let prev = NO_TIMER;
  let cur = armedHead;
  while (cur != NO_TIMER && cur != slot) { prev = cur; cur = rowAt(cur).armedNext; }
  if (cur == slot) {
    if (prev == NO_TIMER) armedHead = rowAt(slot).armedNext; else rowAt(prev).armedNext = rowAt(slot).armedNext;
  }
  rowAt(slot).armedNext = NO_TIMER;
}

/** Counts the expirations up to nowMs into `pending`. */
export function timerCatchUp(slot: i32, nowMs: f64): void {
  const t = rowAt(slot);
  if (!t.inUse || nowMs < t.dueMs) return;
  const n = Math.floor((nowMs - t.dueMs) / <f64>t.periodMs) + 1;
  t.dueMs += n * <f64>t.periodMs;
  const total = <f64>t.pending + n;
  t.pending = total > <f64>i32.MAX_VALUE ? i32.MAX_VALUE : <i32>total;
}

/** Returns and clears the counted expirations. */
export function timerTakePending(slot: i32): i32 {
  const t = rowAt(slot);
  const n = t.pending;
  t.pending = 0;
  return n;
}

/** Has the timer an expiration not yet taken at nowMs (counted, or due)? Moves nothing. */
export function timerReady(slot: i32, nowMs: f64): bool {
  if (!timerInUse(slot)) return false;
  const t = rowAt(slot);
  return t.pending > 0 || t.dueMs <= nowMs;
}

export function timerInUse(slot: i32): bool { return slot >= 0 && slot < TIMER_SLOTS && rowAt(slot).inUse != 0; }
export function timerWaiter(slot: i32): i32 { return rowAt(slot).waiter; }
/** Sets the task waiting on timer `slot` (NO_TASK: none), which arms or disarms it. */
export function timerSetWaiter(slot: i32, task: i32): void {
  if (!timerInUse(slot)) return;
  disarm(slot);
  rowAt(slot).waiter = task;
  if (task != NO_TASK) arm(slot);
}
/** The armed timer due first, or NO_TIMER; then timerArmedNext walks the list in due order. */
export function timerArmedHead(): i32 { return armedHead; }
export function timerArmedNext(slot: i32): i32 { return rowAt(slot).armedNext; }
export function timerDueMs(slot: i32): f64 { return rowAt(slot).dueMs; }
