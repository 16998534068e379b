// drivers/timer: periodic timers (timer_create; a timer handle is waited on with `wait`).
//
// What it is: a driver unit (unit.ts) owning handle kind HANDLE_TIMER, whose object is a slot of
// the timer pool (sched/timers.ts). Creating needs only compute; the pool is shared by apps
// under sched/share.ts, and a refusal for its limit is recorded as EV_LIMIT.
// Its latch is the expirations the timer counted and no wait took yet (sched/timers.ts): none is
// lost however late the owner waits; a wait takes them all (`wait` returns how many).
// Fuel: SYSCALL_FUEL.
// Invariants: a timer slot is held by exactly one handle; closing the handle frees the slot.
// Budget: no memory of its own (the pool is TIMER_TABLE_BYTES in sched/timers.ts).
// Must not: leave a slot allocated when its handle could not be.
import { SYS_TIMER_CREATE, EAGAIN, EINVAL, EMFILE, ENFILE, SYSCALL_FUEL, LIMIT_APP_TIMERS } from "../abi";
import { CAP_COMPUTE } from "../lsm/caps";
import { handleAlloc, handlesHeldBy, HANDLES_PER_TASK_MAX } from "../handles/table";
import { NO_TASK } from "../task/table";
import { timerAlloc, timerFree, timerCatchUp, timerTakePending, timerReady, timerWaiter, timerSetWaiter } from "../sched/timers";
import { schedNow } from "../sched/scheduler";
import { OP_OWNS, OP_NEEDS, OP_CALL, OP_FUEL, OP_OWNS_KIND, OP_CLOSE, OP_WAITABLE, OP_TAKE, OP_READY, OP_ARM, refuseHandle, refuseForLimit } from "./unit";

export const HANDLE_TIMER: i32 = 3;
export const KIND_TIMER: i32 = 1 << HANDLE_TIMER;

function sysTimerCreate(task: i32, app: i32, periodMs: i32): i32 {
  if (periodMs <= 0) return -EINVAL;
  if (handlesHeldBy(task) >= HANDLES_PER_TASK_MAX) return refuseHandle(task, app, SYS_TIMER_CREATE, -EMFILE);
  const slot = timerAlloc(task, periodMs, schedNow());
  if (slot < 0) return refuseForLimit(task, app, SYS_TIMER_CREATE, LIMIT_APP_TIMERS, -ENFILE);
  const h = handleAlloc(task, HANDLE_TIMER, slot);
  if (h < 0) { timerFree(slot); return refuseHandle(task, app, SYS_TIMER_CREATE, h); }
  return h;
}

/** Takes the expirations counted up to now: how many, or -EAGAIN when none. */
function take(slot: i32): i32 {
  timerCatchUp(slot, schedNow());
  const n = timerTakePending(slot);
  return n > 0 ? n : -EAGAIN;
}

/** Arms (or disarms, when `task` is the one armed) the timer for `task`. */
function arm(task: i32, slot: i32, on: bool): void {
  if (on) timerSetWaiter(slot, task);
  else if (timerWaiter(slot) == task) timerSetWaiter(slot, NO_TASK);
}

// @ts-ignore: decorator
@inline export function timerOp(op: i32, task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  switch (op) {
    case OP_CALL: return sysTimerCreate(task, app, a0);
    case OP_FUEL: return SYSCALL_FUEL;
    case OP_OWNS: return nr == SYS_TIMER_CREATE ? 1 : 0;
    case OP_NEEDS: return <i32>CAP_COMPUTE;
    case OP_OWNS_KIND: return a0 == HANDLE_TIMER ? 1 : 0;
    case OP_CLOSE: timerFree(a1); return 0;
    case OP_WAITABLE: return a0 == HANDLE_TIMER ? 1 : 0;
    case OP_TAKE: return take(a1);
    case OP_READY: return timerReady(a1, schedNow()) ? 1 : 0;
    case OP_ARM: arm(task, a1, a2 != 0); return 0;
  }
  return 0;
}
