// The systime unit (drivers/systime.ts): one UTC clock over the monotonic one, set by the host
// (clock-set-utc-ms) and by an app holding SystemTime (time_set), read by every app (time_get);
// power_reboot and power_down record EV_REBOOT_REQUESTED and block their caller, with PowerControls.
import {
  EACCES, EINVAL, EV_DENIED, EV_TIME_SET, EV_REBOOT_REQUESTED, AUDIT_KIND, AUDIT_ARG, AUDIT_SYSCALL, AUDIT_RESULT, AUDIT_APP,
  SYS_TIME_GET, SYS_TIME_SET, SYS_POWER_REBOOT, SYS_POWER_DOWN, SYSCALL_SUSPEND, STOP_BLOCKED, STOP_YIELDED, TASK_BLOCKED, TIME_MAX_MS,
  REBOOT_REASON_POWER_CONTROLS, REBOOT_REASON_POWER_DOWN, SYS_YIELD,
} from "../../assembly/abi";
import { sched_next, sched_report, syscall, audit_total, audit_field, clock_set_utc_ms, clock_utc_ms, task_state, task_app } from "../../assembly/exports";
import { boot, manifest, startApp, appMemoryEnable, appPoke, appPeek, setClockMs } from "./kernel-support";

const cell = memory.data(8, 8);
function lastAudit(field: i32): i32 { return audit_field(audit_total() - 1, field); }
function readTime(task: i32): i64 { appPeek(task, 64, cell, 8); return load<i64>(cell); }
function pokeTime(task: i32, v: i64): void { store<i64>(cell, v); appPoke(task, 64, cell, 8); }
/** At `nowMs` of the hal's clock, runs `task` (it must be the next), makes one call, and ends its slice. */
function call(task: i32, nr: i32, a0: i32, nowMs: f64): i32 {
  setClockMs(nowMs);
  expect(sched_next(nowMs)).toBe(task);
  const rc = syscall(task, nr, a0, 0, 0, 0);
  sched_report(task, rc == SYSCALL_SUSPEND ? STOP_BLOCKED : STOP_YIELDED, 0, 1);
  return rc;
}

describe("systime: the clock", () => {
  it("the host's RTC reading starts it; it refuses what is not a whole time from 1970 to 9999 and then keeps its time", () => {
    boot();
    expect(clock_utc_ms()).toBe(0);
    setClockMs(40.7);
    expect(clock_utc_ms()).toBe(40);
    expect(clock_set_utc_ms(1767225600000)).toBe(0);
    setClockMs(290.7);
    expect(clock_utc_ms()).toBe(1767225600250);
    expect(clock_set_utc_ms(-1)).toBe(-EINVAL);
    expect(clock_set_utc_ms(<f64>TIME_MAX_MS + 1)).toBe(-EINVAL);
    expect(clock_set_utc_ms(1.5)).toBe(-EINVAL);
    expect(clock_set_utc_ms(NaN)).toBe(-EINVAL);
    expect(clock_utc_ms()).toBe(1767225600250);
    expect(clock_set_utc_ms(<f64>TIME_MAX_MS)).toBe(0);
  });
  it("time_get needs nothing; time_set needs SystemTime (else -EACCES, audited) and is every app's at once, audited with the seconds it moved", () => {
    boot();
    appMemoryEnable(1);
    const plain = startApp(manifest("plain", "000000000001"));
    const setter = startApp(manifest("setter", "000000000002", ", \"Capabilities\": {\"SystemTime\": true}"));
    expect(clock_set_utc_ms(1000000)).toBe(0);
    pokeTime(plain, 5000000);
    expect(call(plain, SYS_TIME_SET, 64, 0)).toBe(-EACCES);
    expect(lastAudit(AUDIT_KIND)).toBe(EV_DENIED);
    expect(lastAudit(AUDIT_SYSCALL)).toBe(SYS_TIME_SET);
    pokeTime(setter, 5000000);
    expect(call(setter, SYS_TIME_SET, 64, 10)).toBe(0);
    expect(lastAudit(AUDIT_KIND)).toBe(EV_TIME_SET);
    expect(lastAudit(AUDIT_ARG)).toBe(3999); // from 1,000,010 to 5,000,000 ms: 3,999.99 s
    expect(lastAudit(AUDIT_APP)).toBe(task_app(setter));
    expect(call(plain, SYS_TIME_GET, 64, 30)).toBe(0);
    expect(readTime(plain)).toBe(5000020);
    pokeTime(setter, -1);
    expect(call(setter, SYS_TIME_SET, 64, 40)).toBe(-EINVAL);
    expect(clock_utc_ms()).toBe(5000030);
  });
});

describe("systime: power", () => {
  it("power_reboot and power_down need PowerControls; granted, they record EV_REBOOT_REQUESTED and block the caller", () => {
    boot();
    const plain = startApp(manifest("plain", "000000000001"));
    const boss = startApp(manifest("boss", "000000000002", ", \"Capabilities\": {\"PowerControls\": true}"));
    const down = startApp(manifest("down", "000000000003", ", \"Capabilities\": {\"PowerControls\": true}"));
    expect(call(plain, SYS_POWER_REBOOT, 0, 0)).toBe(-EACCES);
    expect(lastAudit(AUDIT_KIND)).toBe(EV_DENIED);
    expect(call(boss, SYS_POWER_REBOOT, 0, 1)).toBe(SYSCALL_SUSPEND);
    expect(task_state(boss)).toBe(TASK_BLOCKED);
    expect(lastAudit(AUDIT_KIND)).toBe(EV_REBOOT_REQUESTED);
    expect(lastAudit(AUDIT_SYSCALL)).toBe(SYS_POWER_REBOOT);
    expect(lastAudit(AUDIT_ARG)).toBe(REBOOT_REASON_POWER_CONTROLS);
    expect(lastAudit(AUDIT_RESULT)).toBe(0);
    expect(call(down, SYS_POWER_DOWN, 86401, 2)).toBe(-EINVAL);
    expect(call(plain, SYS_YIELD, 0, 3)).toBe(0);
    expect(call(down, SYS_POWER_DOWN, 30, 4)).toBe(SYSCALL_SUSPEND);
    expect(lastAudit(AUDIT_ARG)).toBe(REBOOT_REASON_POWER_DOWN);
    expect(lastAudit(AUDIT_RESULT)).toBe(30);
    // Nothing wakes them: only the plain app is ever scheduled again, however late.
    setClockMs(1e9);
    expect(sched_next(1e9)).toBe(plain);
  });
});
