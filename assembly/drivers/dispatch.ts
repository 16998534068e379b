// drivers/dispatch: the dispatcher behind every app import (ABI.md, "App imports").
//
// What it is: the one way an app reaches the device. Order of checks, always: the caller must be
// the task the scheduler is running (else -EPERM: a hostile or confused host call); the security
// hook (lsm) decides from its identity and capabilities, asking the number's unit for its class
// and resource check; the unit (registry.ts) then resolves its handles with owner, kind and
// generation, and only then calls a hal mechanism. Blocking calls queue the task and return
// SYSCALL_SUSPEND; task_take_result later delivers their real result.
// Every call is charged fuel for the host work it causes: SYSCALL_FUEL for a refused one or one
// whose unit says it always costs that (OP_FUEL_FLAT), else the unit's fuel rule (OP_FUEL; the
// figures are in abi.ts), added to the task's fuelOwed, which
// the host takes off the running slice (task_take_fuel), so a loop of syscalls ends its slice like
// a loop of instructions.
// Invariants: nothing here allocates; a number with no unit is -ENOSYS (the hook says so).
// Budget: no memory of its own (the routing tables are DRIVERS_TABLE_BYTES in registry.ts).
// Must not: trust an argument before the hook, or know what any unit does.
import { TASK_RUNNING, EPERM, SYSCALL_FUEL } from "../abi";
import { lsmCheck } from "../lsm/hook";
import { schedCurrent } from "../sched/scheduler";
import { taskAt, taskValid } from "../task/table";
import { driverOf, driverFuelFlat, unitOp } from "./registry";
import { OP_CALL, OP_FUEL } from "./unit";

/** syscall(task, nr, a0..a3): the result, a negative errno, or SYSCALL_SUSPEND. */
export function dispatchSyscall(task: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  if (!taskValid(task) || task != schedCurrent()) return -EPERM;
  // The row is read once: a RUNNING task is live, so the hook is given its app and checks no
  // liveness of its own (it would read the same word again).
  const t = taskAt(task);
  if (t.state != TASK_RUNNING) return -EPERM;
  const app = t.app;
  let rc = lsmCheck(task, app, nr, a0);
  let fuel = SYSCALL_FUEL;
  if (rc == 0) {
    // The hook allowed it, so nr is in range and routed to a unit.
    const unit = driverOf(nr);
    rc = unitOp(unit, OP_CALL, task, app, nr, a0, a1, a2, a3);
    // A number whose unit said it always costs SYSCALL_FUEL is not asked again (registry.ts).
    if (!driverFuelFlat(nr)) fuel = unitOp(unit, OP_FUEL, task, app, nr, a0, a1, rc, a3);
  }
  const owed = <i64>t.fuelOwed + <i64>fuel;
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
