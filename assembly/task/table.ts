// task: the task table, and who each task is.
//
// What it is: MAX_TASKS fixed rows. A task runs one app instance; its identity (the app slot and
// the app's 16-byte ComponentId) is written once, when it is spawned, and nothing else writes
// it: the security hook trusts it because of that. A task spawned by another task inherits its
// parent's identity (taskSpawn), so a task can never hand its work a different identity.
// Invariants: a row with state TASK_FREE holds no handles, sits in no queue and owns no quota;
// `app`, `idHi`, `idLo` and `parent` of a live row never change until it is freed.
// Budget: TASK_TABLE_BYTES static bytes; nothing on the heap.
// Must not: allocate, or let a caller set a live task's identity.
import { MAX_TASKS, TASK_FREE, TASK_READY, TASK_EXITED, TASK_FAILED, DEFAULT_PRIORITY } from "../abi";

export const NO_TASK: i32 = -1;

// Why a blocked task is blocked (what wakes it).
export const WAIT_NONE: i32 = 0;
export const WAIT_SLEEP: i32 = 1;
// A wait on handles (drivers/waitset.ts): WAIT_ONE takes the one handle's event when it comes
// (`wait`), WAIT_ANY is woken with the mask of its handles that are ready (`wait_any`).
export const WAIT_ONE: i32 = 2;
export const WAIT_ANY: i32 = 3;
export const WAIT_BACKOFF: i32 = 4;
// Waiting for the security processor's answer (drivers/crypto.ts): waitObject is the request's slot.
export const WAIT_MAILBOX: i32 = 5;
// power_reboot, power_down: the device is going down; nothing wakes it (the host stops every app).
export const WAIT_REBOOT: i32 = 6;

@unmanaged
export class Task {
  state: i32;
  app: i32;            // app slot: identity, set at spawn
  parent: i32;         // spawning task, or NO_TASK for an app's main task
  priority: i32;       // 0 runs first
  idHi: u64;           // ComponentId, bytes 0..7 big-endian: identity, set at spawn
  idLo: u64;           // ComponentId, bytes 8..15
  runNext: i32;        // link in its priority's ready queue
  sleepNext: i32;      // link in the deadline list
  waitKind: i32;       // WAIT_*
  waitObject: i32;     // WAIT_ONE / WAIT_ANY: how many handles its wait set holds
  result: i32;         // what the blocking syscall returns once woken
  needsInstance: i32;  // 1 from (re)start until the host reports its first stop
  handleCount: i32;    // handles held, bounded per task
  queued: i32;         // QUEUED_* bits: which lists hold it
  memPeakBytes: i32;   // most instance memory seen
  fuelOwed: i32;       // fuel its syscalls cost that the host has not yet taken off its slice
  deadlineMs: f64;     // when it wakes (sleep, wait timeout, restart backoff)
  fuelUsed: f64;       // fuel consumed since spawn (an f64 counts exactly past 2^53 slices of fuel)
  readySinceMs: f64;   // when it became READY (later than that after a yield; earlier after a wake): its age for aging
  blockedAtMs: f64;    // when it last blocked: the end of the slice it blocked in (its wake credit starts there)
  slicesRun: i32;
  exitCode: i32;
}

export const QUEUED_READY: i32 = 1;
export const QUEUED_SLEEP: i32 = 2;

const ROW_BYTES: usize = offsetof<Task>();
export const TASK_ROW_BYTES: i32 = <i32>ROW_BYTES;
export const TASK_TABLE_BYTES: i32 = MAX_TASKS * <i32>ROW_BYTES;
const rows = memory.data(TASK_TABLE_BYTES, 8);

/** The row of task `t`; callers pass only ids checked with taskValid or produced by the table. */
export function taskAt(t: i32): Task {
  return changetype<Task>(rows + <usize>t * ROW_BYTES);
}

export function taskValid(t: i32): bool { return t >= 0 && t < MAX_TASKS; }

export function taskLive(t: i32): bool {
  if (!taskValid(t)) return false;
  const s = taskAt(t).state;
  return s != TASK_FREE && s != TASK_EXITED && s != TASK_FAILED;
}

function clearRow(t: i32): void {
  memory.fill(rows + <usize>t * ROW_BYTES, 0, ROW_BYTES);
  const task = taskAt(t);
  task.app = -1;
  task.parent = NO_TASK;
  task.runNext = NO_TASK;
  task.sleepNext = NO_TASK;
  task.waitObject = -1;
  task.priority = DEFAULT_PRIORITY;
}

export function taskTableReset(): void {
  for (let t = 0; t < MAX_TASKS; t++) clearRow(t);
}

/** A row to reuse: a free one first, else the lowest finished one; NO_TASK when all are live. */
function allocRow(): i32 {
  for (let t = 0; t < MAX_TASKS; t++) if (taskAt(t).state == TASK_FREE) return t;
  for (let t = 0; t < MAX_TASKS; t++) if (!taskLive(t)) return t;
  return NO_TASK;
}

function spawnRow(app: i32, parent: i32, idHi: u64, idLo: u64, priority: i32): i32 {
  const t = allocRow();
  if (t == NO_TASK) return NO_TASK;
  clearRow(t);
  const task = taskAt(t);
  task.app = app;
  task.parent = parent;
  task.idHi = idHi;
  task.idLo = idLo;
  task.priority = priority;
  task.state = TASK_READY;
  task.needsInstance = 1;
  return t;
}

/**
 * Spawns an app's main task with the app's identity. Only the app manager calls this, with the
 * identity it parsed from the installed manifest. The task is READY but in no queue yet.
 */
export function taskSpawnMain(app: i32, idHi: u64, idLo: u64, priority: i32): i32 {
  return spawnRow(app, NO_TASK, idHi, idLo, priority);
}

/**
 * Spawns a task on behalf of `parentTask`: the child's identity is the parent's, whatever else
 * the caller wants for it. NO_TASK when the parent is not live or the table is full.
 */
export function taskSpawn(parentTask: i32, priority: i32): i32 {
  if (!taskLive(parentTask)) return NO_TASK;
  const parent = taskAt(parentTask);
  return spawnRow(parent.app, parentTask, parent.idHi, parent.idLo, priority);
}

/** True when the task's identity is app `app`'s (same slot and same ComponentId). */
export function taskIsOf(t: i32, app: i32, idHi: u64, idLo: u64): bool {
  if (!taskValid(t)) return false;
  const task = taskAt(t);
  return task.app == app && task.idHi == idHi && task.idLo == idLo;
}
