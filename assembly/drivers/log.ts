// drivers/log: the app's log line (SYS_LOG; ABI.md, "App imports").
//
// What it is: a driver unit (unit.ts) with no handle kinds; the call needs CAP_LOG. Log lines are
// rate-limited per app (audit/rate.ts): beyond LOG_LINES_PER_WINDOW a window, a line is dropped
// (the call returns 0) and counted, and the count is recorded as one EV_LOG_DROPPED entry.
// Fuel: SYSCALL_FUEL; a line that was written also LOG_LINE_FUEL and LOG_BYTE_FUEL a byte.
// Invariants: a line is bounded by LOG_MAX_BYTES; the whole range named must be the app's.
// Budget: LOG_MAX_BYTES static bytes.
// Must not: copy more than LOG_MAX_BYTES, or hand an app pointer to anything but the host's copy.
import { SYS_LOG, EINVAL, EV_LOG_DROPPED, LOG_LINES_PER_WINDOW, SYSCALL_FUEL, LOG_LINE_FUEL, LOG_BYTE_FUEL } from "../abi";
import { RATE_LOG, rateAdmit, rateTakeDroppedIfDue } from "../audit/rate";
import { auditRecord } from "../audit/ring";
import { log_write, app_copy_in } from "../hal/index";
import { CAP_LOG } from "../lsm/caps";
import { schedNow } from "../sched/scheduler";
import { OP_OWNS, OP_NEEDS, OP_CALL, OP_FUEL, fault, rangeRefused } from "./unit";

export const LOG_MAX_BYTES: i32 = 256;
const logBuf = memory.data(LOG_MAX_BYTES);

function sysLog(task: i32, app: i32, ptr: i32, len: i32): i32 {
  if (len < 0) return -EINVAL;
  // The whole range must be the app's, even though only LOG_MAX_BYTES of it are copied.
  const refused = rangeRefused(task, app, SYS_LOG, ptr, len);
  if (refused < 0) return refused;
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

// @ts-ignore: decorator
@inline export function logOp(op: i32, task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  if (op == OP_CALL) return sysLog(task, app, a0, a1);
  // Only a line that was written costs the line and its bytes; the result is the bytes written.
  if (op == OP_FUEL) return a2 > 0 || (a2 == 0 && a1 == 0) ? SYSCALL_FUEL + LOG_LINE_FUEL + a2 * LOG_BYTE_FUEL : SYSCALL_FUEL;
  if (op == OP_OWNS) return nr == SYS_LOG ? 1 : 0;
  if (op == OP_NEEDS) return <i32>CAP_LOG;
  return 0;
}
