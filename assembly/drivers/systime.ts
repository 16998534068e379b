// drivers/systime: the device's UTC clock and its power controls (time_get, time_set,
// power_reboot, power_down; ABI.md "Time and power").
//
// What it is: a driver unit (unit.ts) with no handle kinds. The device has one UTC clock: the
// core keeps it as an offset over the hal's monotonic clock (UTC now = utcBaseMs + clock-now-ms),
// set by the host at boot from its real-time clock (kernel export clock-set-utc-ms) and by an app
// that holds SystemTime (time_set). Every app reads the same clock (time_get, no capability, as
// Azure Sphere's clock_gettime(CLOCK_REALTIME)); a set is seen by every app at once, audited as
// EV_TIME_SET, and the host learns of it there and keeps the clock across a reboot (its RTC).
// Until the host sets it, the clock counts from the Unix epoch at boot (an RTC that lost power).
// power_reboot and power_down (PowerControls, as PowerManagement_ForceSystemReboot and
// PowerManagement_ForceSystemPowerDown) record EV_REBOOT_REQUESTED naming the app and block the
// caller for good (WAIT_REBOOT): the host stops every app and boots the device again (SPEC.md
// "Reboot"), so nothing the caller does after the call runs.
// Fuel: SYSCALL_FUEL.
// Invariants: utcBaseMs + clock-now-ms is in 0..TIME_MAX_MS after any set (the set is refused
// otherwise); the clock changes only through time_set and clock-set-utc-ms.
// Budget: one f64 of state; no heap.
// Must not: allocate, or let an app without SystemTime move the clock or one without
// PowerControls take the device down (the hook refuses them by class: CAP_SYSTEM_TIME,
// CAP_POWER_CONTROLS).
import {
  SYS_TIME_GET, SYS_TIME_SET, SYS_POWER_REBOOT, SYS_POWER_DOWN, SYSCALL_SUSPEND, SYSCALL_FUEL, TIME_BYTES, TIME_MAX_MS,
  POWER_DOWN_MAX_S, EV_TIME_SET, EV_REBOOT_REQUESTED, REBOOT_REASON_POWER_CONTROLS, REBOOT_REASON_POWER_DOWN, EINVAL,
} from "../abi";
import { clock_now_ms, app_copy_in, app_copy_out } from "../hal/index";
import { CAP_COMPUTE, CAP_SYSTEM_TIME, CAP_POWER_CONTROLS } from "../lsm/caps";
import { auditRecord } from "../audit/ring";
import { schedBlock } from "../sched/scheduler";
import { WAIT_REBOOT } from "../task/table";
import { OP_OWNS, OP_NEEDS, OP_CALL, OP_FUEL, OP_FUEL_FLAT, OP_RESET, fault } from "./unit";

// UTC milliseconds at monotonic 0 (an integer; exact in an f64 up to 2^53).
let utcBaseMs: f64 = 0;
// The i64 a call moves to or from the app.
const cell = memory.data(TIME_BYTES, 8);
export const SYSTIME_TABLE_BYTES: i32 = TIME_BYTES;

/** The device's UTC time now, in whole milliseconds since the Unix epoch. */
export function systimeNowMs(): f64 { return Math.floor(utcBaseMs + clock_now_ms()); }

/**
 * Sets the device's UTC clock to `utcMs` now (the host's RTC reading at boot, or time_set):
 * 0, or -EINVAL for a time outside 0..TIME_MAX_MS or not a whole number of milliseconds.
 */
export function systimeSet(utcMs: f64): i32 {
  if (!(utcMs >= 0 && utcMs <= <f64>TIME_MAX_MS) || Math.floor(utcMs) != utcMs) return -EINVAL;
  utcBaseMs = utcMs - clock_now_ms();
  return 0;
}

function sysTimeGet(task: i32, app: i32, ptr: i32): i32 {
  store<i64>(cell, <i64>systimeNowMs());
  const rc = app_copy_out(task, cell, ptr, TIME_BYTES);
  return rc < 0 ? fault(task, app, SYS_TIME_GET, ptr, rc) : 0;
}

function sysTimeSet(task: i32, app: i32, ptr: i32): i32 {
  const rc = app_copy_in(task, ptr, TIME_BYTES, cell);
  if (rc < 0) return fault(task, app, SYS_TIME_SET, ptr, rc);
  const v = load<i64>(cell);
  if (v < 0 || v > <i64>TIME_MAX_MS) return -EINVAL;
  const before = systimeNowMs();
  systimeSet(<f64>v);
  const movedS = Math.trunc((<f64>v - before) / 1000);
  const arg = movedS > <f64>i32.MAX_VALUE ? i32.MAX_VALUE : movedS < <f64>i32.MIN_VALUE ? i32.MIN_VALUE : <i32>movedS;
  auditRecord(EV_TIME_SET, task, app, SYS_TIME_SET, arg, 0);
  return 0;
}

/** Records the request and blocks the caller until the host takes the device down. */
function sysPower(task: i32, app: i32, nr: i32, downS: i32): i32 {
  if (nr == SYS_POWER_DOWN && (downS < 0 || downS > POWER_DOWN_MAX_S)) return -EINVAL;
  const reason = nr == SYS_POWER_DOWN ? REBOOT_REASON_POWER_DOWN : REBOOT_REASON_POWER_CONTROLS;
  auditRecord(EV_REBOOT_REQUESTED, task, app, nr, reason, nr == SYS_POWER_DOWN ? downS : 0);
  schedBlock(task, WAIT_REBOOT, 0, -1);
  return SYSCALL_SUSPEND;
}

function needs(nr: i32): u32 {
  if (nr == SYS_TIME_SET) return CAP_SYSTEM_TIME;
  if (nr == SYS_POWER_REBOOT || nr == SYS_POWER_DOWN) return CAP_POWER_CONTROLS;
  return CAP_COMPUTE;
}

function call(task: i32, app: i32, nr: i32, a0: i32): i32 {
  if (nr == SYS_TIME_GET) return sysTimeGet(task, app, a0);
  if (nr == SYS_TIME_SET) return sysTimeSet(task, app, a0);
  return sysPower(task, app, nr, a0);
}

// @ts-ignore: decorator
@inline export function systimeOp(op: i32, task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  switch (op) {
    case OP_CALL: return call(task, app, nr, a0);
    case OP_OWNS: return nr >= SYS_TIME_GET && nr <= SYS_POWER_DOWN ? 1 : 0;
    case OP_NEEDS: return <i32>needs(nr);
    case OP_FUEL: return SYSCALL_FUEL;
    case OP_FUEL_FLAT: return 1;
    case OP_RESET: utcBaseMs = 0; return 0;
  }
  return 0;
}
