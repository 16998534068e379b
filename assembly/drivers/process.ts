// drivers/process: the calls about the caller itself: exit, yield, sleep, clock, its arguments
// and its memory figures (ABI.md, "App imports").
//
// What it is: a driver unit (unit.ts) with no handle kinds. Every call needs only CAP_COMPUTE.
// Fuel: SYSCALL_FUEL, and args_get also COPY_BYTE_FUEL for each byte it copied.
// Invariants: app pointers are only handed to the host's copy functions, which check them.
// Budget: no memory of its own.
// Must not: block any task but the caller.
import {
  SYS_EXIT, SYS_YIELD, SYS_SLEEP_MS, SYS_CLOCK_MS, SYS_MEM_QUOTA_BYTES, SYS_MEM_IN_USE_BYTES, SYS_MEM_PEAK_BYTES,
  SYS_ARGS_GET, SYSCALL_SUSPEND, EINVAL, SYSCALL_FUEL, COPY_BYTE_FUEL,
} from "../abi";
import { clock_now_ms, app_copy_out, app_memory_bytes } from "../hal/index";
import { CAP_COMPUTE } from "../lsm/caps";
import { schedBlock } from "../sched/scheduler";
import { taskAt, WAIT_SLEEP } from "../task/table";
import { appAt, appArgsPtr } from "../appmgr/apps";
import { OP_OWNS, OP_NEEDS, OP_CALL, OP_FUEL, OP_FUEL_FLAT, fault } from "./unit";

function owns(nr: i32): bool {
  return nr == SYS_EXIT || nr == SYS_YIELD || nr == SYS_SLEEP_MS || nr == SYS_CLOCK_MS || nr == SYS_MEM_QUOTA_BYTES ||
    nr == SYS_MEM_IN_USE_BYTES || nr == SYS_MEM_PEAK_BYTES || nr == SYS_ARGS_GET;
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

function call(task: i32, app: i32, nr: i32, a0: i32, a1: i32): i32 {
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
    case SYS_MEM_QUOTA_BYTES: return appAt(app).quotaBytes;
    case SYS_MEM_IN_USE_BYTES: return sampleMemoryBytes(task);
    case SYS_MEM_PEAK_BYTES: {
      sampleMemoryBytes(task);
      return taskAt(task).memPeakBytes;
    }
    case SYS_ARGS_GET: return sysArgsGet(task, app, a0, a1);
  }
  return 0;
}

function fuel(nr: i32, a1: i32, rc: i32): i32 {
  if (nr == SYS_ARGS_GET) {
    const n = rc < 0 ? 0 : a1 < rc ? a1 : rc;
    return SYSCALL_FUEL + (n > 0 ? n * COPY_BYTE_FUEL : 0);
  }
  return SYSCALL_FUEL;
}

// @ts-ignore: decorator
@inline export function processOp(op: i32, task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  if (op == OP_CALL) return call(task, app, nr, a0, a1);
  if (op == OP_FUEL) return fuel(nr, a1, a2);
  if (op == OP_OWNS) return owns(nr) ? 1 : 0;
  if (op == OP_NEEDS) return <i32>CAP_COMPUTE;
  if (op == OP_FUEL_FLAT) return owns(nr) && nr != SYS_ARGS_GET ? 1 : 0;
  return 0;
}
