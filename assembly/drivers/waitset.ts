// drivers/waitset: what a task blocked on handles waits on, for `wait` (one handle) and `wait_any`
// (up to WAIT_ANY_MAX_HANDLES; ABI.md "Event loop").
//
// What it is: per task, the handle rows of its wait (row indexes, u16), the count kept in its task
// row (waitObject). Every waitable kind's unit keeps a latch per object (a GPIO input's edges not
// yet taken, a timer's expirations not yet taken) and answers three ops about it (unit.ts):
// OP_READY (is the latch set? asks, takes nothing), OP_TAKE (takes one event: its value, or
// -EAGAIN when the latch is empty) and OP_ARM (registers or unregisters the one task to tell of the
// object's next event). A wait that cannot be answered at once is blocked here and armed with each
// object's unit; a unit whose armed object gets an event calls waitSetEvent(task), which wakes the
// task when its wait is answered: WAIT_ONE with the event it takes, WAIT_ANY with the mask of its
// handles that are ready (taking nothing: the app takes each with `wait(h, 0)`). The wake, a
// timeout, or the task's end (schedDetach) disarms every entry, so nothing stays armed for a task
// that no longer waits.
// Invariants: a task's entries are meaningful only while it is blocked in WAIT_ONE / WAIT_ANY (it
// writes them while running, just before it blocks); an entry is a row the task held when it
// blocked, and only the task itself (running) or its end closes a row, so each entry still names
// the same object until the wait ends (a row its end closed has kind HANDLE_FREE: its unit is no
// unit, which answers 0 to every op). Only the row's owner can wait on it, so each object has at
// most one armed task.
// Budget: WAITSET_TABLE_BYTES static bytes (MAX_TASKS * WAIT_ANY_MAX_HANDLES * 2); O(count) per
// event, count <= WAIT_ANY_MAX_HANDLES; no heap.
// Must not: take an event for WAIT_ANY (its readiness is level, not an event), or allocate.
import { MAX_TASKS, WAIT_ANY_MAX_HANDLES, TASK_BLOCKED, EAGAIN } from "../abi";
import { taskAt, taskValid, WAIT_ONE, WAIT_ANY } from "../task/table";
import { HANDLE_FREE, handleKind, handleObject } from "../handles/table";
import { schedBlock, schedWake } from "../sched/scheduler";
import { kindOp } from "./registry";
import { OP_READY, OP_TAKE, OP_ARM } from "./unit";

const ENTRY_BYTES: i32 = 2;
export const WAITSET_TABLE_BYTES: i32 = MAX_TASKS * WAIT_ANY_MAX_HANDLES * ENTRY_BYTES;
const entries = memory.data(WAITSET_TABLE_BYTES, 4);

function entryAddr(task: i32, i: i32): usize {
  return entries + <usize>(task * WAIT_ANY_MAX_HANDLES + i) * <usize>ENTRY_BYTES;
}

/** Sets entry `i` (0..WAIT_ANY_MAX_HANDLES-1) of running `task`'s wait set to handle row `index`. */
export function waitSetPut(task: i32, i: i32, index: i32): void {
  store<u16>(entryAddr(task, i), <u16>index);
}

function rowOf(task: i32, i: i32): i32 { return <i32>load<u16>(entryAddr(task, i)); }

/** Is entry `i`'s latch set? (asks its unit; takes nothing) */
function entryReady(task: i32, i: i32): bool {
  const row = rowOf(task, i);
  return kindOp(OP_READY, task, -1, -1, handleKind(row), handleObject(row), 0) != 0;
}

/** The mask of `task`'s first `count` entries whose latch is set (bit i: entry i). */
export function waitSetReadyMask(task: i32, count: i32): i32 {
  let mask = 0;
  for (let i = 0; i < count; i++) if (entryReady(task, i)) mask |= 1 << i;
  return mask;
}

/** Takes one event of entry `i`: its value (>= 0), or -EAGAIN when its latch is empty. */
export function waitSetTake(task: i32, i: i32): i32 {
  const row = rowOf(task, i);
  // A row its end closed has no unit, so nothing to take.
  if (handleKind(row) == HANDLE_FREE) return -EAGAIN;
  return kindOp(OP_TAKE, task, -1, -1, handleKind(row), handleObject(row), 0);
}

/**
 * Blocks running `task` on the first `count` entries it put (`mode` WAIT_ONE or WAIT_ANY) until
 * an event answers it or `timeoutMs` passes (< 0: never), and arms each entry's object.
 */
export function waitSetBlock(task: i32, mode: i32, count: i32, timeoutMs: i32): void {
  schedBlock(task, mode, count, timeoutMs < 0 ? -1 : <f64>timeoutMs);
  for (let i = 0; i < count; i++) {
    const row = rowOf(task, i);
    kindOp(OP_ARM, task, -1, -1, handleKind(row), handleObject(row), 1);
  }
}

/** Unregisters `task` from the objects of its first `count` entries (its wait ended). */
export function waitSetDisarm(task: i32, count: i32): void {
  const n = count < 0 ? 0 : count > WAIT_ANY_MAX_HANDLES ? WAIT_ANY_MAX_HANDLES : count;
  for (let i = 0; i < n; i++) {
    const row = rowOf(task, i);
    kindOp(OP_ARM, task, -1, -1, handleKind(row), handleObject(row), 0);
  }
}

/**
 * An object `task` is armed on had an event: wakes `task` if that answers its wait. Returns 1
 * when it woke, 0 when not (not blocked on handles, or the event was not one it could take).
 */
export function waitSetEvent(task: i32): i32 {
  if (!taskValid(task)) return 0;
  const t = taskAt(task);
  if (t.state != TASK_BLOCKED) return 0;
  if (t.waitKind == WAIT_ONE) {
    const value = waitSetTake(task, 0);
    if (value == -EAGAIN) return 0;
    schedWake(task, value);
    return 1;
  }
  if (t.waitKind == WAIT_ANY) {
    const mask = waitSetReadyMask(task, t.waitObject);
    if (mask == 0) return 0;
    schedWake(task, mask);
    return 1;
  }
  return 0;
}
