// lsm: the one security hook every syscall passes before it does anything.
//
// What it is: a decision from two values the core holds, the caller's identity (its task row's
// app slot, written once at spawn) and that app's granted capabilities (caps.ts, written once at
// install). Each syscall number's driver unit (drivers/registry.ts) says the capability class it
// needs and whether it has a resource check (GPIO opens: the pin in the app's pin bitmap), which
// the hook asks it (OP_ALLOWS). Handle calls need only compute: the handle is the capability,
// proved at open and checked by handles/table.ts.
// Invariants: deny by default: a number no unit owns is -ENOSYS, a missing class or a refused
// resource is -EACCES and is recorded as EV_DENIED {task, app, syscall, arg}.
// Budget: no memory of its own (the policy is the registry's tables); O(1) per call, no heap.
// Must not: allocate, compare strings, or trust anything the app passes except as the object
// being asked about.
import { SYS_COUNT, EACCES, ENOSYS, EV_DENIED } from "../abi";
import { auditRecord } from "../audit/ring";
import { CapSet, capsOf } from "./caps";
import { UNIT_NONE, driverOf, driverNeeds, driverChecks, unitOp } from "../drivers/registry";
import { OP_ALLOWS } from "../drivers/unit";

/**
 * May `task`, of app `app`, make syscall `nr` with first argument `a0`? 0 when allowed, else
 * -ENOSYS (no such call) or -EACCES (recorded in the audit ring). The caller proved `task` live
 * and read `app` from its row (the dispatcher: it is the running task), so neither is asked again.
 */
// @ts-ignore: decorator
@inline export function lsmCheck(task: i32, app: i32, nr: i32, a0: i32): i32 {
  if (nr < 0 || nr >= SYS_COUNT) return -ENOSYS;
  const unit = driverOf(nr);
  if (unit == UNIT_NONE) return -ENOSYS;
  const caps: CapSet = capsOf(app);
  const needs = driverNeeds(nr);
  let allowed = (caps.classMask & needs) == needs;
  if (allowed && driverChecks(nr)) allowed = unitOp(unit, OP_ALLOWS, task, app, nr, a0, 0, 0, 0) != 0;
  if (allowed) return 0;
  auditRecord(EV_DENIED, task, app, nr, a0, -EACCES);
  return -EACCES;
}
