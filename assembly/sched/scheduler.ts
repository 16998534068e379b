// sched: who runs next, and when blocked tasks wake.
//
// What it is: a ready queue per priority (FIFO), one deadline list sorted by wake-up time (sleeps,
// wait timeouts, restart backoff), and the due waited-on timers (timers.ts's armed list). A task
// blocked on handles is registered with their units (drivers/waitset.ts), which wake it; all
// links are task ids stored in the task rows, so queueing never allocates.
// The choice among ready tasks is priority with aging: a task's effective priority is its
// priority minus one level per AGING_STEP_MS it has been ready, and the lowest effective value
// runs (ties: the one ready longest). So a priority decides who goes first, never who goes at
// all: a task p levels below the best ready one waits at most p * AGING_STEP_MS (plus one slice
// each for the tasks that aged before it). A task that yields counts as ready from
// YIELD_DEFER_MS after the yield, so it goes behind every other ready task, of any priority,
// until it has aged back: an app that only yields cannot hold the CPU.
// Invariants: a task is in the ready queue iff its state is TASK_READY; a TASK_BLOCKED or
// TASK_BACKOFF task is in the deadline list iff it has a deadline, and armed with the units of its
// wait set iff it waits on handles (WAIT_ONE, WAIT_ANY); at most one task is TASK_RUNNING (currentTask), between sched_next and its
// sched_report. Core time (schedNowMs) never goes backwards.
// Budget: SCHED_TABLE_BYTES static bytes; per sched_next O(ready tasks) plus, per timer or sleeper
// it wakes, O(its waiter's wait set) (at most WAIT_ANY_MAX_HANDLES; the armed timers and the
// sleepers are each one list in due order); no heap.
// Must not: allocate, call the host except for the clock, or decide policy about crashes
// (appmgr/lifecycle.ts does).
import { PRIORITY_LEVELS, TASK_READY, TASK_RUNNING, TASK_BLOCKED, TASK_BACKOFF, ETIMEDOUT, EAGAIN, AGING_STEP_MS, YIELD_DEFER_MS, WAKE_CREDIT_MS } from "../abi";
import { clock_now_ms } from "../hal/index";
import {
  NO_TASK, Task, taskAt, taskValid, QUEUED_READY, QUEUED_SLEEP,
  WAIT_NONE, WAIT_SLEEP, WAIT_ONE, WAIT_ANY, WAIT_BACKOFF, WAIT_MAILBOX,
} from "../task/table";
import { budgetAllows, budgetResumeMs } from "./budget";
import { NO_TIMER, timerWaiter, timerSetWaiter, timerDueMs, timerArmedHead } from "./timers";
import { waitSetEvent, waitSetDisarm } from "../drivers/waitset";
import { cryptoForget } from "../drivers/crypto";

const readyHead = memory.data(PRIORITY_LEVELS * 4, 4);
const readyTail = memory.data(PRIORITY_LEVELS * 4, 4);
export const SCHED_TABLE_BYTES: i32 = PRIORITY_LEVELS * 8;
let sleepHead: i32 = NO_TASK;
let currentTask: i32 = NO_TASK;
let schedNowMs: f64 = 0;

export function schedReset(): void {
  for (let p = 0; p < PRIORITY_LEVELS; p++) {
    store<i32>(readyHead + (<usize>p << 2), NO_TASK);
    store<i32>(readyTail + (<usize>p << 2), NO_TASK);
  }
  sleepHead = NO_TASK;
  currentTask = NO_TASK;
  schedNowMs = 0;
}

/** Core time in ms: the later of what the host last told sched_next and the host clock. */
export function schedNow(): f64 {
  const hostMs = clock_now_ms();
  if (hostMs > schedNowMs) schedNowMs = hostMs;
  return schedNowMs;
}

/** The task sched_next chose and that has not been reported yet, or NO_TASK. */
export function schedCurrent(): i32 { return currentTask; }
export function schedClearCurrent(): void { currentTask = NO_TASK; }

// ---- Ready queues.

function clampPriority(p: i32): i32 { return p < 0 ? 0 : p >= PRIORITY_LEVELS ? PRIORITY_LEVELS - 1 : p; }

/** Makes `t` READY at the back of its priority's queue, ready since now. */
export function readyPush(t: i32): void { readyPushAt(t, schedNow()); }

/**
 * readyPush with core time `nowMs` read by the caller (schedNow()): a caller that needs the time
 * more than once reads the host clock once (each reading is a call out to the host).
 */
export function readyPushAt(t: i32, nowMs: f64): void {
  const task = taskAt(t);
  task.state = TASK_READY;
  if (task.queued & QUEUED_READY) return;
  task.readySinceMs = nowMs;
  const p = <usize>clampPriority(task.priority) << 2;
  task.runNext = NO_TASK;
  const tail = load<i32>(readyTail + p);
  if (tail == NO_TASK) store<i32>(readyHead + p, t);
  else taskAt(tail).runNext = t;
  store<i32>(readyTail + p, t);
  task.queued |= QUEUED_READY;
}

function readyRemove(t: i32): void {
  const task = taskAt(t);
  if (!(task.queued & QUEUED_READY)) return;
  const p = <usize>clampPriority(task.priority) << 2;
  let prev = NO_TASK;
  let cur = load<i32>(readyHead + p);
  while (cur != NO_TASK && cur != t) { prev = cur; cur = taskAt(cur).runNext; }
  if (cur == t) {
    if (prev == NO_TASK) store<i32>(readyHead + p, task.runNext);
    else taskAt(prev).runNext = task.runNext;
    if (load<i32>(readyTail + p) == t) store<i32>(readyTail + p, prev);
  }
  task.runNext = NO_TASK;
  task.queued &= ~QUEUED_READY;
}

/**
 * Makes the running task `t`, which yielded, READY behind every other ready task for
 * YIELD_DEFER_MS; `nowMs` is core time now (schedNow()).
 */
export function readyPushYielded(t: i32, nowMs: f64): void {
  readyPushAt(t, nowMs);
  taskAt(t).readySinceMs = nowMs + <f64>YIELD_DEFER_MS;
}

/**
 * Makes `t`, just woken from a block, READY with its wake credit: it counts as ready since it
 * blocked (the end of the slice it blocked in), at most WAKE_CREDIT_MS ago. So it stands where it
 * would stand had it stayed ready instead of blocking, never better: waking buys no turn a spinner
 * of its priority would not have had, and a task that blocked longer than the others have waited
 * runs at the next decision.
 */
function readyPushWoken(t: i32): void {
  readyPush(t);
  const task = taskAt(t);
  const now = task.readySinceMs;
  const earliest = now - <f64>WAKE_CREDIT_MS;
  const since = task.blockedAtMs > earliest ? task.blockedAtMs : earliest;
  if (since < now) task.readySinceMs = since;
}

/** Records that the slice in which `t` blocked ended at `nowMs` (schedNow()): its wake credit counts from here. */
export function schedBlockedSliceEnded(t: i32, nowMs: f64): void {
  const task = taskAt(t);
  if (task.state == TASK_BLOCKED) task.blockedAtMs = nowMs;
}

/** Priority minus the levels earned by waiting since readySinceMs (more when it waited longer). */
function effectivePriority(task: Task, nowMs: f64): f64 {
  return <f64>clampPriority(task.priority) - Math.floor((nowMs - task.readySinceMs) / <f64>AGING_STEP_MS);
}

/**
 * Takes the ready task with the lowest effective priority (ties: ready longest) off its queue,
 * passing over the tasks of apps held back by their CPU budget (budget.ts).
 */
function readyPop(nowMs: f64): i32 {
  let best = NO_TASK;
  let bestEffective: f64 = 0;
  let bestSince: f64 = 0;
  // At most MAX_TASKS tasks are queued in all, so this visits each once.
  for (let p = 0; p < PRIORITY_LEVELS; p++) {
    let t = load<i32>(readyHead + (<usize>p << 2));
    while (t != NO_TASK) {
      const task = taskAt(t);
      if (!budgetAllows(task.app, nowMs)) { t = task.runNext; continue; }
      const effective = effectivePriority(task, nowMs);
      if (best == NO_TASK || effective < bestEffective || (effective == bestEffective && task.readySinceMs < bestSince)) {
        best = t; bestEffective = effective; bestSince = task.readySinceMs;
      }
      t = task.runNext;
    }
  }
  if (best != NO_TASK) readyRemove(best);
  return best;
}

// ---- Deadline list, sorted by deadlineMs; equal deadlines keep their insertion order.

function sleepInsert(t: i32, deadlineMs: f64): void {
  const task = taskAt(t);
  if (task.queued & QUEUED_SLEEP) sleepRemove(t);
  task.deadlineMs = deadlineMs;
  let prev = NO_TASK;
  let cur = sleepHead;
  while (cur != NO_TASK && taskAt(cur).deadlineMs <= deadlineMs) { prev = cur; cur = taskAt(cur).sleepNext; }
  task.sleepNext = cur;
  if (prev == NO_TASK) sleepHead = t; else taskAt(prev).sleepNext = t;
  task.queued |= QUEUED_SLEEP;
}

function sleepRemove(t: i32): void {
  const task = taskAt(t);
  if (!(task.queued & QUEUED_SLEEP)) return;
  let prev = NO_TASK;
  let cur = sleepHead;
  while (cur != NO_TASK && cur != t) { prev = cur; cur = taskAt(cur).sleepNext; }
  if (cur == t) {
    if (prev == NO_TASK) sleepHead = task.sleepNext; else taskAt(prev).sleepNext = task.sleepNext;
  }
  task.sleepNext = NO_TASK;
  task.queued &= ~QUEUED_SLEEP;
}

// ---- Blocking and waking.

/**
 * Blocks `t` (the running task, inside a syscall) on `waitKind`/`object` until woken or until
 * `timeoutMs` from now (< 0: no timeout). A wait on handles is armed with their units by its
 * caller (drivers/waitset.ts), after this.
 */
export function schedBlock(t: i32, waitKind: i32, object: i32, timeoutMs: f64): void {
  const task = taskAt(t);
  readyRemove(t);
  task.state = TASK_BLOCKED;
  task.waitKind = waitKind;
  task.waitObject = object;
  task.result = 0;
  task.blockedAtMs = schedNow();
  if (timeoutMs >= 0) sleepInsert(t, schedNow() + timeoutMs);
}

/** Parks a crashed task until `deadlineMs`, when it becomes READY to be instantiated again. */
export function schedBackoff(t: i32, deadlineMs: f64): void {
  schedDetach(t);
  const task = taskAt(t);
  task.state = TASK_BACKOFF;
  task.waitKind = WAIT_BACKOFF;
  task.needsInstance = 1;
  sleepInsert(t, deadlineMs);
}

/** Takes `t` out of every queue and wait (exit, crash, stop). Its state is the caller's to set. */
export function schedDetach(t: i32): void {
  const task = taskAt(t);
  readyRemove(t);
  sleepRemove(t);
  if (task.waitKind == WAIT_ONE || task.waitKind == WAIT_ANY) waitSetDisarm(t, task.waitObject);
  // A task that ends (or is woken) while its request is out: the answer, when it comes, is dropped.
  else if (task.waitKind == WAIT_MAILBOX) cryptoForget(t, task.waitObject);
  task.waitKind = WAIT_NONE;
  task.waitObject = -1;
  if (currentTask == t) currentTask = NO_TASK;
}

/** Ends `t`'s wait with `result` (what its blocking syscall returns) and makes it READY. */
export function schedWake(t: i32, result: i32): void {
  schedDetach(t);
  taskAt(t).result = result;
  readyPushWoken(t);
}

function wakeOnDeadline(t: i32): void {
  const task = taskAt(t);
  if (task.state == TASK_BACKOFF) { schedDetach(t); readyPush(t); return; }
  schedWake(t, task.waitKind == WAIT_SLEEP ? 0 : -ETIMEDOUT);
}

/**
 * The scheduling decision: advances core time to `nowMs`, fires due timers that have a waiter,
 * wakes every task whose deadline passed (earliest first), then takes the first READY task of
 * the best priority. Returns its id (now RUNNING) or -EAGAIN.
 */
export function schedNext(nowMs: f64): i32 {
  if (nowMs > schedNowMs) schedNowMs = nowMs;
  const now = schedNowMs;
  // A slice the host never reported: the task goes to the back of its queue as if it yielded.
  if (currentTask != NO_TASK) {
    const cur = currentTask;
    currentTask = NO_TASK;
    if (taskAt(cur).state == TASK_RUNNING) readyPush(cur);
  }
  // Due armed timers, earliest first: each tells its waiter's wait set, whose wake disarms it, so
  // each is seen once.
  while (timerArmedHead() != NO_TIMER && timerDueMs(timerArmedHead()) <= now) {
    const i = timerArmedHead();
    waitSetEvent(timerWaiter(i));
    if (timerArmedHead() == i) timerSetWaiter(i, NO_TASK); // a waiter not waiting on it: never loop
  }
  while (sleepHead != NO_TASK && taskAt(sleepHead).deadlineMs <= now) wakeOnDeadline(sleepHead);
  const t = readyPop(now);
  if (t == NO_TASK) return -EAGAIN;
  taskAt(t).state = TASK_RUNNING;
  currentTask = t;
  return t;
}

/**
 * The earliest pending wake-up (sleep, wait timeout, backoff, a waited-on timer, the next budget
 * window of an app whose ready tasks its CPU budget holds back), or -1.
 */
export function schedNextDeadlineMs(): f64 {
  let best: f64 = sleepHead != NO_TASK ? taskAt(sleepHead).deadlineMs : -1;
  const armed = timerArmedHead();
  if (armed != NO_TIMER && (best < 0 || timerDueMs(armed) < best)) best = timerDueMs(armed);
  // Called when nothing could be chosen: the ready tasks left are all held back.
  for (let p = 0; p < PRIORITY_LEVELS; p++) {
    for (let t = load<i32>(readyHead + (<usize>p << 2)); t != NO_TASK; t = taskAt(t).runNext) {
      const resume = budgetResumeMs(taskAt(t).app);
      if (resume >= 0 && (best < 0 || resume < best)) best = resume;
    }
  }
  return best;
}

/** True when `t` is valid and in state `state`. */
export function taskIn(t: i32, state: i32): bool { return taskValid(t) && taskAt(t).state == state; }

export function schedWaitKind(t: i32): i32 { return taskAt(t).waitKind; }
export function schedTask(t: i32): Task { return taskAt(t); }
