// syscall: the dispatcher behind every app import (ABI.md, "App imports").
//
// What it is: the one way an app reaches the device. Order of checks, always: the caller must be
// the task the scheduler is running (else -EPERM: a hostile or confused host call); the security
// hook (lsm) decides from its identity and capabilities; handles are resolved with owner, kind
// and generation; only then is a hal mechanism called. Blocking calls queue the task and return
// SYSCALL_SUSPEND; task_take_result later delivers their real result.
// Every call is charged fuel for the host work it causes (syscallFuel: SYSCALL_FUEL, a written
// log line and its bytes, GPIO writes, copies by length; the figures are in abi.ts), added to the task's fuelOwed, which the host takes off
// the running slice (task_take_fuel), so a loop of syscalls ends its slice like a loop of
// instructions. Log lines are rate-limited per app (audit/rate.ts): beyond LOG_LINES_PER_WINDOW
// a window, a line is dropped (the call returns 0) and counted, and the count is recorded as one
// EV_LOG_DROPPED entry.
// Refusals for a pool's limit are recorded as EV_LIMIT naming the limit (LIMIT_*).
// Invariants: nothing here allocates; app pointers are only handed to the host's copy functions
// (which check them against the app's memory); a log line is bounded by LOG_MAX_BYTES.
// Budget: LOG_MAX_BYTES static bytes.
// Must not: trust an argument before the hook and handle checks, or block a task other than
// the caller.
import {
  SYS_EXIT, SYS_YIELD, SYS_SLEEP_MS, SYS_CLOCK_MS, SYS_LOG, SYS_GPIO_OPEN_OUTPUT, SYS_GPIO_OPEN_INPUT,
  SYS_GPIO_SET, SYS_GPIO_GET, SYS_CLOSE, SYS_TIMER_CREATE, SYS_WAIT, SYS_MEM_QUOTA_BYTES,
  SYS_MEM_IN_USE_BYTES, SYS_MEM_PEAK_BYTES, SYS_ARGS_GET, SYSCALL_SUSPEND, TASK_RUNNING,
  SYS_STORAGE_OPEN, SYS_STORAGE_READ, SYS_STORAGE_WRITE, SYS_STORAGE_SEEK, SYS_STORAGE_TRUNCATE, SYS_STORAGE_DELETE,
  SYS_STORAGE_USAGE, SYS_PACKAGE_OPEN, STORAGE_OP_FUEL,
  EPERM, EINVAL, EFAULT, EBUSY, ENOSYS, EMFILE, ENFILE, ETIMEDOUT, EV_FAULT, GPIO_DIR_INPUT, GPIO_DIR_OUTPUT,
  EV_LOG_DROPPED, EV_LIMIT, LOG_LINES_PER_WINDOW, SYSCALL_FUEL, LOG_LINE_FUEL, LOG_BYTE_FUEL, GPIO_WRITE_FUEL, COPY_BYTE_FUEL, LIMIT_TASK_HANDLES, LIMIT_APP_HANDLES, LIMIT_APP_TIMERS,
} from "../abi";
import { RATE_LOG, rateAdmit, rateTakeDroppedIfDue } from "../audit/rate";
import { clock_now_ms, gpio_configure, gpio_write, gpio_read, log_write, app_copy_in, app_copy_out, app_memory_bytes } from "../hal/index";
import { lsmCheck } from "../lsm/hook";
import { auditRecord } from "../audit/ring";
import {
  handleAlloc, handleResolve, handleClose, handleIndexOf, handleKind, handleObject, pinOpenIndex, handlesHeldBy,
  HANDLE_GPIO_OUT, HANDLE_GPIO_IN, HANDLE_TIMER, HANDLES_PER_TASK_MAX,
  KIND_GPIO_OUT, KIND_GPIO, KIND_ANY, KIND_TIMER, KIND_GPIO_IN,
} from "../handles/table";
import { timerAlloc, timerFree, timerCatchUp, timerTakePending } from "../sched/timers";
import { schedCurrent, schedNow, schedBlock } from "../sched/scheduler";
import { taskAt, taskValid, WAIT_SLEEP, WAIT_TIMER, WAIT_GPIO } from "./table";
import { appAt, appArgsPtr } from "../appmgr/apps";
import { storageCall } from "../storage/open";

export const LOG_MAX_BYTES: i32 = 256;
const logBuf = memory.data(LOG_MAX_BYTES);

/** The fuel syscall `nr` with these arguments costs, once it returned `rc`. */
export function syscallFuel(nr: i32, a1: i32, rc: i32): i32 {
  if (nr == SYS_LOG) {
    // Only a line that was written costs the line and its bytes; rc is the bytes written.
    return rc > 0 || (rc == 0 && a1 == 0) ? SYSCALL_FUEL + LOG_LINE_FUEL + rc * LOG_BYTE_FUEL : SYSCALL_FUEL;
  }
  if (nr == SYS_GPIO_SET || nr == SYS_GPIO_OPEN_OUTPUT || nr == SYS_GPIO_OPEN_INPUT) return rc >= 0 ? SYSCALL_FUEL + GPIO_WRITE_FUEL : SYSCALL_FUEL;
  if (nr >= SYS_STORAGE_OPEN && nr <= SYS_PACKAGE_OPEN) {
    // Each call opens a littlefs file and may commit it; reads and writes also copy what moved.
    const moved = (nr == SYS_STORAGE_READ || nr == SYS_STORAGE_WRITE) && rc > 0 ? rc : 0;
    return SYSCALL_FUEL + STORAGE_OP_FUEL + moved * COPY_BYTE_FUEL;
  }
  if (nr == SYS_ARGS_GET) {
    const n = rc < 0 ? 0 : a1 < rc ? a1 : rc;
    return SYSCALL_FUEL + (n > 0 ? n * COPY_BYTE_FUEL : 0);
  }
  return SYSCALL_FUEL;
}

function refuseForLimit(task: i32, app: i32, nr: i32, limit: i32, rc: i32): i32 {
  auditRecord(EV_LIMIT, task, app, nr, limit, rc);
  return rc;
}

/** The app's memory size, and its peak, as the host reports it. */
function sampleMemoryBytes(task: i32): i32 {
  const bytes = app_memory_bytes(task);
  const t = taskAt(task);
  if (bytes > t.memPeakBytes) t.memPeakBytes = bytes;
  const app = appAt(t.app);
  if (bytes > app.memPeakBytes) app.memPeakBytes = bytes;
  return bytes;
}

function fault(task: i32, app: i32, nr: i32, ptr: i32, rc: i32): i32 {
  auditRecord(EV_FAULT, task, app, nr, ptr, rc);
  return rc;
}

function sysLog(task: i32, app: i32, ptr: i32, len: i32): i32 {
  if (len < 0) return -EINVAL;
  // The whole range must be the app's, even though only LOG_MAX_BYTES of it are copied.
  const memBytes = app_memory_bytes(task);
  if (memBytes < 0 || <u64><u32>ptr + <u64><u32>len > <u64><u32>memBytes) return fault(task, app, SYS_LOG, ptr, -EFAULT);
  const now = schedNow();
  const dropped = rateTakeDroppedIfDue(app, RATE_LOG, now);
  if (dropped > 0) auditRecord(EV_LOG_DROPPED, task, app, SYS_LOG, dropped, 0);
  if (!rateAdmit(app, RATE_LOG, now, LOG_LINES_PER_WINDOW)) return 0;
  const n = len < LOG_MAX_BYTES ? len : LOG_MAX_BYTES;
  if (n > 0) {
    const rc = app_copy_in(task, ptr, n, logBuf);
    if (rc < 0) return fault(task, app, SYS_LOG, ptr, rc);
  }
  log_write(task, logBuf, n);
  return n;
}

/** The refusal of handleAlloc, recorded with the limit it hit. */
function refuseHandle(task: i32, app: i32, nr: i32, rc: i32): i32 {
  return refuseForLimit(task, app, nr, rc == -EMFILE ? LIMIT_TASK_HANDLES : LIMIT_APP_HANDLES, rc);
}

function sysGpioOpen(task: i32, app: i32, nr: i32, pin: i32, output: bool, initial: i32): i32 {
  // The hook proved the pin is granted, so it is on the device: 0 <= pin < gpioPinCount.
  if (pinOpenIndex(pin) != 0) return -EBUSY;
  const h = handleAlloc(task, output ? HANDLE_GPIO_OUT : HANDLE_GPIO_IN, pin);
  if (h < 0) return refuseHandle(task, app, nr, h);
  const rc = gpio_configure(pin, output ? GPIO_DIR_OUTPUT : GPIO_DIR_INPUT, output && initial != 0 ? 1 : 0);
  if (rc < 0) { handleClose(handleIndexOf(h)); return rc; }
  return h;
}

function sysTimerCreate(task: i32, app: i32, periodMs: i32): i32 {
  if (periodMs <= 0) return -EINVAL;
  if (handlesHeldBy(task) >= HANDLES_PER_TASK_MAX) return refuseHandle(task, app, SYS_TIMER_CREATE, -EMFILE);
  const slot = timerAlloc(task, periodMs, schedNow());
  if (slot < 0) return refuseForLimit(task, app, SYS_TIMER_CREATE, LIMIT_APP_TIMERS, -ENFILE);
  const h = handleAlloc(task, HANDLE_TIMER, slot);
  if (h < 0) { timerFree(slot); return refuseHandle(task, app, SYS_TIMER_CREATE, h); }
  return h;
}

function sysWait(task: i32, app: i32, handle: i32, timeoutMs: i32): i32 {
  const index = handleResolve(task, app, handle, KIND_TIMER | KIND_GPIO_IN, SYS_WAIT);
  if (index < 0) return index;
  const object = handleObject(index);
  if (handleKind(index) == HANDLE_TIMER) {
    timerCatchUp(object, schedNow());
    const n = timerTakePending(object);
    if (n > 0) return n;
    if (timeoutMs == 0) return -ETIMEDOUT;
    schedBlock(task, WAIT_TIMER, object, timeoutMs < 0 ? -1 : <f64>timeoutMs);
    return SYSCALL_SUSPEND;
  }
  if (timeoutMs == 0) return -ETIMEDOUT;
  schedBlock(task, WAIT_GPIO, object, timeoutMs < 0 ? -1 : <f64>timeoutMs);
  return SYSCALL_SUSPEND;
}

function sysArgsGet(task: i32, app: i32, ptr: i32, len: i32): i32 {
  if (len < 0) return -EINVAL;
  const total = appAt(app).argsLen;
  const n = len < total ? len : total;
  if (n > 0) {
    const rc = app_copy_out(task, appArgsPtr(app), ptr, n);
    if (rc < 0) return fault(task, app, SYS_ARGS_GET, ptr, rc);
  }
  return total;
}

/** syscall(task, nr, a0..a3): the result, a negative errno, or SYSCALL_SUSPEND. */
export function dispatchSyscall(task: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  if (!taskValid(task) || task != schedCurrent() || taskAt(task).state != TASK_RUNNING) return -EPERM;
  const rc = dispatchChecked(task, nr, a0, a1, a2, a3);
  const t = taskAt(task);
  const owed = <i64>t.fuelOwed + <i64>syscallFuel(nr, a1, rc);
  t.fuelOwed = owed > <i64>i32.MAX_VALUE ? i32.MAX_VALUE : <i32>owed;
  return rc;
}

/** The fuel `task`'s syscalls cost since the last call, which the host takes off its slice. */
export function taskTakeFuel(task: i32): i32 {
  if (!taskValid(task)) return 0;
  const t = taskAt(task);
  const owed = t.fuelOwed;
  t.fuelOwed = 0;
  return owed;
}

function dispatchChecked(task: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  const allowed = lsmCheck(task, nr, a0);
  if (allowed < 0) return allowed;
  const app = taskAt(task).app;
  switch (nr) {
    case SYS_EXIT: taskAt(task).exitCode = a0; return 0;
    case SYS_YIELD: return 0;
    case SYS_SLEEP_MS: {
      if (a0 < 0) return -EINVAL;
      if (a0 == 0) return 0;
      schedBlock(task, WAIT_SLEEP, -1, <f64>a0);
      return SYSCALL_SUSPEND;
    }
    case SYS_CLOCK_MS: {
      const ms = clock_now_ms();
      return ms >= <f64>i32.MAX_VALUE ? i32.MAX_VALUE : ms <= 0 ? 0 : <i32>ms;
    }
    case SYS_LOG: return sysLog(task, app, a0, a1);
    case SYS_GPIO_OPEN_OUTPUT: return sysGpioOpen(task, app, nr, a0, true, a1);
    case SYS_GPIO_OPEN_INPUT: return sysGpioOpen(task, app, nr, a0, false, 0);
    case SYS_GPIO_SET: {
      const index = handleResolve(task, app, a0, KIND_GPIO_OUT, nr);
      if (index < 0) return index;
      return gpio_write(handleObject(index), a1 != 0 ? 1 : 0);
    }
    case SYS_GPIO_GET: {
      const index = handleResolve(task, app, a0, KIND_GPIO, nr);
      if (index < 0) return index;
      return gpio_read(handleObject(index));
    }
    case SYS_CLOSE: {
      const index = handleResolve(task, app, a0, KIND_ANY, nr);
      if (index < 0) return index;
      handleClose(index);
      return 0;
    }
    case SYS_TIMER_CREATE: return sysTimerCreate(task, app, a0);
    case SYS_WAIT: return sysWait(task, app, a0, a1);
    case SYS_MEM_QUOTA_BYTES: return appAt(app).quotaBytes;
    case SYS_MEM_IN_USE_BYTES: return sampleMemoryBytes(task);
    case SYS_MEM_PEAK_BYTES: {
      sampleMemoryBytes(task);
      return taskAt(task).memPeakBytes;
    }
    case SYS_ARGS_GET: return sysArgsGet(task, app, a0, a1);
    case SYS_STORAGE_OPEN: case SYS_STORAGE_READ: case SYS_STORAGE_WRITE: case SYS_STORAGE_SEEK:
    case SYS_STORAGE_TRUNCATE: case SYS_STORAGE_DELETE: case SYS_STORAGE_USAGE: case SYS_PACKAGE_OPEN:
      return storageCall(task, app, nr, a0, a1, a2);
  }
  return -ENOSYS;
}
