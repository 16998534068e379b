// drivers/sysevent: system event notifications and update deferral (ABI.md "System events"),
// after Azure Sphere's sysevent.h: an app registers for the update-ready event, is told when an
// update is pending, final, deferred or complete, and, holding SoftwareUpdateDeferral, may defer
// the pending update up to a bound or resume it early.
//
// What it is: a driver unit (unit.ts) owning handle kind HANDLE_SYSEVENT (a registration, one per
// task; its object a row of the registration table) and the one update gate the core's update
// path asks before it applies anything (syseventUpdateGate / syseventUpdateDone). At most one
// update is announced at a time. Every status told is kept in a history of the last
// SYSEVENT_HISTORY, numbered by a serial; a registration keeps the serial it read last, and
// `sysevent_info` hands it the next one (oldest first), so an app that reads late still sees
// Final before Complete. `wait` is ready while a registration has a status it has not read. A
// registration more than SYSEVENT_HISTORY behind loses the oldest (it reads from the oldest kept).
// The gate: with no registration that may defer (its app holds SoftwareUpdateDeferral), an update
// goes on at once (Final, then Complete): other apps are told, not asked. Otherwise it is Pending
// for SYSEVENT_NOTICE_MS, in which such an app may defer it; a deferral of N minutes holds it
// Deferred for N minutes, after which it is Pending again for a new notice; every deferral ends
// within SYSEVENT_MAX_DEFER_MINUTES of the first notice, and then the update is Final whatever
// the apps ask. Resume ends a deferral at once: Final at the next ask.
// Fuel: SYSCALL_FUEL a call.
// Invariants: a row is held by exactly one handle and freed with it; a deferral never reaches past
// firstNoticeMs + the bound; the gate never answers 0 while a deferral is in force.
// Budget: SYSEVENT_TABLE_BYTES static bytes (per row: task, mask, serial read, waiter; the
// history, 8 bytes a status) and the gate's few globals.
// Must not: allocate, let an app without SoftwareUpdateDeferral delay an update, or apply anything
// itself (the update path does, when the gate says so).
import {
  SYS_SYSEVENT_REGISTER, SYS_SYSEVENT_INFO, SYS_SYSEVENT_DEFER, SYS_SYSEVENT_RESUME, SYSCALL_FUEL,
  EAGAIN, EBUSY, EINVAL, EMFILE, EFAULT, MAX_TASKS,
  SYSEVENT_UPDATE_READY_FOR_INSTALL, SYSEVENT_STATUS_NONE, SYSEVENT_STATUS_PENDING, SYSEVENT_STATUS_FINAL,
  SYSEVENT_STATUS_DEFERRED, SYSEVENT_STATUS_COMPLETE, SYSEVENT_INFO_BYTES, SYSEVENT_NOTICE_MS, SYSEVENT_MAX_DEFER_MINUTES,
} from "../abi";
import { app_copy_out } from "../hal/index";
import { CAP_SYSEVENT, CAP_UPDATE_DEFERRAL, capsOf } from "../lsm/caps";
import { handleAlloc, handleResolve, handleObject, handlesHeldBy, HANDLES_PER_TASK_MAX } from "../handles/table";
import { NO_TASK, taskValid, taskAt } from "../task/table";
import { schedNow } from "../sched/scheduler";
import { waitSetEvent } from "./waitset";
import { OP_OWNS, OP_NEEDS, OP_CALL, OP_FUEL, OP_FUEL_FLAT, OP_OWNS_KIND, OP_CLOSE, OP_WAITABLE, OP_TAKE, OP_READY, OP_ARM, OP_RESET, refuseHandle, fault } from "./unit";

export const HANDLE_SYSEVENT: i32 = 14;

/** Registrations: one a task can hold, so a row for every task (the table is never full). */
export const SYSEVENT_MAX_REGISTRATIONS: i32 = MAX_TASKS;
const ROW_BYTES: i32 = 16;
// Per row: i32 task (NO_TASK: free), i32 event mask, i32 status serial read, i32 waiter (NO_TASK: none).
const rows = memory.data(MAX_TASKS * ROW_BYTES, 4);
// The info record `sysevent_info` copies out.
const info = memory.data(16, 4);
/** Statuses kept for registrations that read late (a power of two: the serial's low bits index it). */
export const SYSEVENT_HISTORY: i32 = 8;
// Per status told: i32 status, i32 update type, at (serial & (SYSEVENT_HISTORY - 1)).
const history = memory.data(SYSEVENT_HISTORY * 8, 4);
export const SYSEVENT_TABLE_BYTES: i32 = SYSEVENT_MAX_REGISTRATIONS * ROW_BYTES + SYSEVENT_INFO_BYTES + SYSEVENT_HISTORY * 8;

const MS_PER_MINUTE: f64 = 60000;

// The gate: the status of the announced update, its type (SYSEVENT_UPDATE_*), a serial that
// changes with every status, when it was first announced, when the gate decides next, and
// whether a resume asked it to go on.
let status: i32 = SYSEVENT_STATUS_NONE;
let updateType: i32 = 0;
let serial: i32 = 0;
let firstNoticeMs: f64 = 0;
let decideAtMs: f64 = 0;
let resumed: bool = false;

function rowAt(i: i32): usize { return rows + <usize>(i * ROW_BYTES); }
function historyAt(serialOf: i32): usize { return history + <usize>((serialOf & (SYSEVENT_HISTORY - 1)) * 8); }

/** Every row's waiter whose mask holds the update event is woken; the serial moves on. */
function announce(next: i32): void {
  status = next;
  serial++;
  store<i32>(historyAt(serial), next);
  store<i32>(historyAt(serial), updateType, 4);
  for (let i = 0; i < SYSEVENT_MAX_REGISTRATIONS; i++) {
    const r = rowAt(i);
    if (load<i32>(r) == NO_TASK || (load<i32>(r, 4) & SYSEVENT_UPDATE_READY_FOR_INSTALL) == 0) continue;
    const waiter = load<i32>(r, 12);
    if (waiter != NO_TASK) waitSetEvent(waiter);
  }
}

/** Does some registration's app hold SoftwareUpdateDeferral? */
function anyMayDefer(): bool {
  for (let i = 0; i < SYSEVENT_MAX_REGISTRATIONS; i++) {
    const task = load<i32>(rowAt(i));
    if (task == NO_TASK || !taskValid(task)) continue;
    if ((capsOf(taskAt(task).app).classMask & CAP_UPDATE_DEFERRAL) != 0) return true;
  }
  return false;
}

/** When every deferral of the announced update ends: SYSEVENT_MAX_DEFER_MINUTES after its first notice. */
function boundMs(): f64 { return firstNoticeMs + <f64>SYSEVENT_MAX_DEFER_MINUTES * MS_PER_MINUTE; }

/** The whole minutes a deferral may still take at `nowMs` (0 when the bound is reached). */
function minutesLeft(nowMs: f64): i32 {
  const left = boundMs() - nowMs;
  return left <= 0 ? 0 : <i32>Math.floor(left / MS_PER_MINUTE);
}

/**
 * Asked by the update path before it applies an update of `type` (SYSEVENT_UPDATE_APP or _OS) at
 * device time `nowMs`: 0 to apply it now (the registrations were told Final), a number of ms to
 * wait before asking again (Pending: the notice; Deferred: an app's deferral), or -EBUSY while
 * another type's update is announced and not complete.
 */
export function syseventUpdateGate(type: i32, nowMs: f64): i32 {
  if (status == SYSEVENT_STATUS_NONE || status == SYSEVENT_STATUS_COMPLETE) {
    updateType = type;
    resumed = false;
    firstNoticeMs = nowMs;
    if (!anyMayDefer()) { announce(SYSEVENT_STATUS_FINAL); return 0; }
    decideAtMs = nowMs + <f64>SYSEVENT_NOTICE_MS;
    announce(SYSEVENT_STATUS_PENDING);
    return SYSEVENT_NOTICE_MS;
  }
  if (type != updateType) return -EBUSY;
  if (status == SYSEVENT_STATUS_FINAL) return 0;
  if (nowMs < decideAtMs) return max<i32>(1, <i32>Math.ceil(decideAtMs - nowMs));
  // The notice or the deferral is over. A deferral that ran out (not resumed) while the bound
  // still leaves time gives the apps a new notice; otherwise the update goes on.
  if (status == SYSEVENT_STATUS_DEFERRED && !resumed && minutesLeft(nowMs) > 0 && anyMayDefer()) {
    decideAtMs = min<f64>(nowMs + <f64>SYSEVENT_NOTICE_MS, boundMs());
    announce(SYSEVENT_STATUS_PENDING);
    return max<i32>(1, <i32>Math.ceil(decideAtMs - nowMs));
  }
  announce(SYSEVENT_STATUS_FINAL);
  return 0;
}

/** The update the gate let through was applied (or failed): Complete, and the gate is free. */
export function syseventUpdateDone(): void {
  if (status == SYSEVENT_STATUS_NONE) return;
  announce(SYSEVENT_STATUS_COMPLETE);
}

/** The gate's status (SYSEVENT_STATUS_*), for the specs and the update path's messages. */
export function syseventStatus(): i32 { return status; }

/** Has registration `row` a status it has not read? */
function unread(row: i32): bool { return status != SYSEVENT_STATUS_NONE && load<i32>(rowAt(row), 8) != serial; }

function sysRegister(task: i32, app: i32, mask: i32): i32 {
  if (mask == 0 || (mask & ~SYSEVENT_UPDATE_READY_FOR_INSTALL) != 0) return -EINVAL;
  let free = -1;
  for (let i = 0; i < SYSEVENT_MAX_REGISTRATIONS; i++) {
    const t = load<i32>(rowAt(i));
    if (t == task) return -EBUSY; // one registration a task, as sysevent.h has one per event loop
    if (t == NO_TASK && free < 0) free = i;
  }
  if (handlesHeldBy(task) >= HANDLES_PER_TASK_MAX) return refuseHandle(task, app, SYS_SYSEVENT_REGISTER, -EMFILE);
  const h = handleAlloc(task, HANDLE_SYSEVENT, free);
  if (h < 0) return refuseHandle(task, app, SYS_SYSEVENT_REGISTER, h);
  const r = rowAt(free);
  store<i32>(r, task);
  store<i32>(r, mask, 4);
  // An update already announced is news to a new registration.
  store<i32>(r, status == SYSEVENT_STATUS_NONE ? serial : serial - 1, 8);
  store<i32>(r, NO_TASK, 12);
  return h;
}

function sysInfo(task: i32, app: i32, row: i32, ptr: i32): i32 {
  if (!unread(row)) return -EAGAIN;
  // The oldest status this registration has not read, or the oldest kept if it fell further behind.
  let next = load<i32>(rowAt(row), 8) + 1;
  if (serial - next >= SYSEVENT_HISTORY) next = serial - SYSEVENT_HISTORY + 1;
  const told = load<i32>(historyAt(next));
  store<u32>(info, SYSEVENT_UPDATE_READY_FOR_INSTALL);
  store<u32>(info, told, 4);
  store<u32>(info, load<i32>(historyAt(next), 4), 8);
  // The minutes a deferral may take are news only while that Pending is the gate's status now.
  store<u32>(info, next == serial && status == SYSEVENT_STATUS_PENDING ? minutesLeft(schedNow()) : 0, 12);
  if (app_copy_out(task, info, ptr, SYSEVENT_INFO_BYTES) < 0) return fault(task, app, SYS_SYSEVENT_INFO, ptr, -EFAULT);
  store<i32>(rowAt(row), next, 8);
  return SYSEVENT_UPDATE_READY_FOR_INSTALL;
}

function sysDefer(minutes: i32): i32 {
  if (status != SYSEVENT_STATUS_PENDING) return -EINVAL;
  const now = schedNow();
  if (minutes < 1 || minutes > minutesLeft(now)) return -EINVAL;
  decideAtMs = now + <f64>minutes * MS_PER_MINUTE;
  announce(SYSEVENT_STATUS_DEFERRED);
  return 0;
}

function sysResume(): i32 {
  if (status != SYSEVENT_STATUS_DEFERRED) return -EINVAL;
  resumed = true;
  decideAtMs = schedNow();
  return 0;
}

function call(task: i32, app: i32, nr: i32, a0: i32, a1: i32): i32 {
  if (nr == SYS_SYSEVENT_REGISTER) return sysRegister(task, app, a0);
  // The other calls name a registration this task holds (owner, kind and generation checked).
  const index = handleResolve(task, app, a0, 1 << HANDLE_SYSEVENT, nr);
  if (index < 0) return index;
  if (nr == SYS_SYSEVENT_INFO) return sysInfo(task, app, handleObject(index), a1);
  if (nr == SYS_SYSEVENT_DEFER) return sysDefer(a1);
  return sysResume();
}

function free(row: i32): void {
  const r = rowAt(row);
  store<i32>(r, NO_TASK);
  store<i32>(r, NO_TASK, 12);
}

function arm(task: i32, row: i32, on: bool): void {
  const r = rowAt(row);
  if (on) store<i32>(r, task, 12);
  else if (load<i32>(r, 12) == task) store<i32>(r, NO_TASK, 12);
}

function reset(): void {
  for (let i = 0; i < SYSEVENT_MAX_REGISTRATIONS; i++) free(i);
  status = SYSEVENT_STATUS_NONE;
  updateType = 0;
  serial = 0;
  memory.fill(history, 0, <usize>(SYSEVENT_HISTORY * 8));
  firstNoticeMs = 0;
  decideAtMs = 0;
  resumed = false;
}

// @ts-ignore: decorator
@inline export function syseventOp(op: i32, task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  switch (op) {
    case OP_CALL: return call(task, app, nr, a0, a1);
    case OP_FUEL: return SYSCALL_FUEL;
    case OP_FUEL_FLAT: return 1;
    case OP_OWNS: return nr == SYS_SYSEVENT_REGISTER || nr == SYS_SYSEVENT_INFO || nr == SYS_SYSEVENT_DEFER || nr == SYS_SYSEVENT_RESUME ? 1 : 0;
    case OP_NEEDS: return <i32>(nr == SYS_SYSEVENT_DEFER || nr == SYS_SYSEVENT_RESUME ? CAP_SYSEVENT | CAP_UPDATE_DEFERRAL : CAP_SYSEVENT);
    case OP_OWNS_KIND: return a0 == HANDLE_SYSEVENT ? 1 : 0;
    case OP_CLOSE: free(a1); return 0;
    case OP_WAITABLE: return a0 == HANDLE_SYSEVENT ? 1 : 0;
    case OP_TAKE: return unread(a1) ? SYSEVENT_UPDATE_READY_FOR_INSTALL : -EAGAIN;
    case OP_READY: return unread(a1) ? 1 : 0;
    case OP_ARM: arm(task, a1, a2 != 0); return 0;
    case OP_RESET: reset(); return 0;
  }
  return 0;
}
