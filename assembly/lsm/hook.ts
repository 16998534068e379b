// lsm: the one security hook every syscall passes before it does anything.
//
// What it is: a decision from two values the core holds, the caller's identity (its task row's
// app slot, written once at spawn) and that app's granted capabilities (caps.ts, written once at
// install). Each syscall number maps to the capability class it needs; GPIO opens also need the
// pin in the app's pin bitmap. Handle calls (set, get, close, wait) need only compute: the handle
// is the capability, proved at open and checked by handles/table.ts.
// Invariants: deny by default: a number with no entry is -ENOSYS, a missing class or pin is
// -EACCES and is recorded as EV_DENIED {task, app, syscall, arg}.
// Budget: SYSCALL_COUNT words of static policy; O(1) per call, no heap.
// Must not: allocate, compare strings, or trust anything the app passes except as the object
// being asked about.
import { SYS_COUNT, SYS_GPIO_OPEN_OUTPUT, SYS_GPIO_OPEN_INPUT, EACCES, ENOSYS, EPERM, EV_DENIED } from "../abi";
import { auditRecord } from "../audit/ring";
import { taskAt, taskLive } from "../task/table";
import { CapSet, capsOf, capsHasPin, CAP_COMPUTE, CAP_LOG, CAP_GPIO, CAP_STORAGE } from "./caps";

// What each syscall needs, by number (SYS_* order; ABI.md "App imports").
const NEEDS = memory.data<u32>([
  CAP_COMPUTE, // SYS_EXIT
  CAP_COMPUTE, // SYS_YIELD
  CAP_COMPUTE, // SYS_SLEEP_MS
  CAP_COMPUTE, // SYS_CLOCK_MS
  CAP_LOG,     // SYS_LOG
  CAP_GPIO,    // SYS_GPIO_OPEN_OUTPUT (and the pin)
  CAP_GPIO,    // SYS_GPIO_OPEN_INPUT (and the pin)
  CAP_COMPUTE, // SYS_GPIO_SET: the handle proves the grant
  CAP_COMPUTE, // SYS_GPIO_GET
  CAP_COMPUTE, // SYS_CLOSE
  CAP_COMPUTE, // SYS_TIMER_CREATE
  CAP_COMPUTE, // SYS_WAIT
  CAP_COMPUTE, // SYS_MEM_QUOTA_BYTES
  CAP_COMPUTE, // SYS_MEM_IN_USE_BYTES
  CAP_COMPUTE, // SYS_MEM_PEAK_BYTES
  CAP_COMPUTE, // SYS_ARGS_GET
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // 16..31: reserved (the dispatcher answers -ENOSYS)
  CAP_STORAGE, // SYS_STORAGE_OPEN
  CAP_COMPUTE, // SYS_STORAGE_READ: the handle proves the grant
  CAP_COMPUTE, // SYS_STORAGE_WRITE
  CAP_COMPUTE, // SYS_STORAGE_SEEK
  CAP_COMPUTE, // SYS_STORAGE_TRUNCATE
  CAP_STORAGE, // SYS_STORAGE_DELETE
  CAP_STORAGE, // SYS_STORAGE_USAGE
  CAP_COMPUTE, // SYS_PACKAGE_OPEN: every app may read its own package
]);
export const LSM_TABLE_BYTES: i32 = SYS_COUNT * 4;

/**
 * May `task` make syscall `nr` with first argument `a0`? 0 when allowed, else -ENOSYS (no such
 * call), -EPERM (not a live task) or -EACCES (recorded in the audit ring).
 */
export function lsmCheck(task: i32, nr: i32, a0: i32): i32 {
  if (nr < 0 || nr >= SYS_COUNT) return -ENOSYS;
  if (!taskLive(task)) return -EPERM;
  const app = taskAt(task).app;
  const caps: CapSet = capsOf(app);
  const needs = load<u32>(NEEDS + (<usize>nr << 2));
  let allowed = (caps.classMask & needs) == needs;
  if (allowed && (nr == SYS_GPIO_OPEN_OUTPUT || nr == SYS_GPIO_OPEN_INPUT)) allowed = capsHasPin(caps, a0);
  if (allowed) return 0;
  auditRecord(EV_DENIED, task, app, nr, a0, -EACCES);
  return -EACCES;
}
