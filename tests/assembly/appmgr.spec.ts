// The app manager: boot once, install and uninstall (pin ownership), start (quota from the RAM
// pool), exit and stop (quota back, handles closed), and the restart policy for crashes.
import {
  EPERM, EINVAL, ENOMEM, EBUSY, ENOENT, STOP_YIELDED, STOP_EXITED, STOP_TRAPPED, TASK_BACKOFF, TASK_FAILED, TASK_EXITED,
  TASK_READY, APP_FIELD_STATE, APP_FIELD_TASK, APP_FIELD_CRASHES, APP_FIELD_RESTARTS, APP_FIELD_SLICES,
  APP_FIELD_FUEL_KILO, EV_APP_TRAPPED, EV_APP_RESTART, EV_APP_GAVE_UP, EV_APP_EXITED, EV_APP_STARTED, EV_APP_STOPPED,
  AUDIT_KIND, AUDIT_ARG, RESTART_MAX_CRASHES, RESTART_BACKOFF_BASE_MS, RESTART_BACKOFF_MAX_MS, SYS_GPIO_OPEN_OUTPUT,
  SYS_GPIO_SET, EBADF, SYSCALL_SUSPEND, SYS_SLEEP_MS, STOP_BLOCKED, EV_APP_INSTALLED,
} from "../../assembly/abi";
import {
  core_boot, app_start, app_stop, app_uninstall, app_field, app_core_bytes, sched_next, sched_report, sched_next_deadline_ms,
  task_state, task_needs_instance, syscall, audit_total, audit_field, mem_app_reserved_bytes, mem_free_bytes,
} from "../../assembly/exports";
import { coreRebootForSpec } from "../../assembly/appmgr/lifecycle";
import { boot, install, manifest, startApp, lastError, setClockMs, CEILING_BYTES, DEFAULT_QUOTA_BYTES } from "./kernel-support";

function lastAudit(field: i32): i32 { return audit_field(audit_total() - 1, field); }

/** Runs `task` at `nowMs` and reports that it trapped. */
function crashAt(task: i32, nowMs: f64): void {
  setClockMs(nowMs);
  expect(sched_next(nowMs)).toBe(task);
  expect(sched_report(task, STOP_TRAPPED, 0, 100)).toBe(0);
}

describe("appmgr: boot and install", () => {
  it("boots once per instance", () => {
    boot();
    expect(core_boot(96, CEILING_BYTES, DEFAULT_QUOTA_BYTES)).toBe(-EPERM);
    expect(lastError()).toBe("core_boot: the core is already booted");
  });
  it("refuses a device it cannot describe", () => {
    expect(coreRebootForSpec(129, CEILING_BYTES, DEFAULT_QUOTA_BYTES)).toBe(-EINVAL);
    expect(lastError()).toBe("core_boot: gpioPinCount must be 0 to 128, not 129");
    expect(coreRebootForSpec(96, 100000, DEFAULT_QUOTA_BYTES)).toBe(-EINVAL);
    expect(lastError()).toBe("core_boot: appQuotaCeilingBytes must be a multiple of 65536 from 65536 to 4194304, not 100000");
    expect(coreRebootForSpec(96, CEILING_BYTES, 2 * CEILING_BYTES)).toBe(-EINVAL);
    expect(lastError()).toBe("core_boot: defaultAppQuotaBytes must be a multiple of 65536 from 65536 to the ceiling, not 2097152");
    boot();
    expect(install(manifest("late", "000000000001"))).toBe(0);
  });
  it("uninstall gives the app's pins back", () => {
    boot();
    const first = install(manifest("first", "000000000001", ", \"Capabilities\": {\"Gpio\": [8]}"));
    expect(install(manifest("second", "000000000002", ", \"Capabilities\": {\"Gpio\": [8]}"))).toBe(-EBUSY);
    expect(app_uninstall(first)).toBe(0);
    expect(app_field(first, APP_FIELD_STATE)).toBe(-ENOENT);
    expect(install(manifest("second", "000000000002", ", \"Capabilities\": {\"Gpio\": [8]}"))).toBeGreaterThanOrEqual(0);
    expect(lastAudit(AUDIT_KIND)).toBe(EV_APP_INSTALLED);
  });
});

describe("appmgr: start, exit, stop", () => {
  it("reserves the quota at start and refuses what does not fit with -ENOMEM", () => {
    boot();
    const a = install(manifest("big-a", "000000000001", ", \"MemoryQuotaKiB\": 1024"));
    const b = install(manifest("big-b", "000000000002", ", \"MemoryQuotaKiB\": 1024"));
    const free = mem_free_bytes();
    expect(app_start(a)).toBeGreaterThanOrEqual(0);
    expect(lastAudit(AUDIT_KIND)).toBe(EV_APP_STARTED);
    expect(mem_app_reserved_bytes()).toBe(1 << 20);
    expect(mem_free_bytes()).toBe(free - (1 << 20));
    // The spec arena is 2 MiB, so a second MiB does not fit beside the heap.
    const left = mem_free_bytes();
    expect(app_start(b)).toBe(-ENOMEM);
    expect(lastError()).toBe("big-b: its quota of 1048576 bytes does not fit the app RAM pool; " + left.toString() + " bytes are free (the 4 MiB less the core and the running apps' quotas)");
    expect(mem_app_reserved_bytes()).toBe(1 << 20);
    expect(app_start(a)).toBe(-EBUSY);
  });
  it("an exit records the code, returns the quota and ends the app", () => {
    boot();
    const t = startApp(manifest("ret", "000000000001"));
    const slot = 0;
    expect(mem_app_reserved_bytes()).toBe(DEFAULT_QUOTA_BYTES);
    expect(sched_next(0)).toBe(t);
    expect(sched_report(t, STOP_EXITED, 42, 5000)).toBe(0);
    expect(lastAudit(AUDIT_KIND)).toBe(EV_APP_EXITED);
    expect(lastAudit(AUDIT_ARG)).toBe(42);
    expect(mem_app_reserved_bytes()).toBe(0);
    expect(app_field(slot, APP_FIELD_STATE)).toBe(TASK_EXITED);
    expect(app_field(slot, APP_FIELD_TASK)).toBe(-ENOENT);
    expect(app_field(slot, APP_FIELD_SLICES)).toBe(1);
    expect(app_field(slot, APP_FIELD_FUEL_KILO)).toBe(5);
    expect(sched_next(0)).toBe(-11);
    // It can be started again.
    expect(app_start(slot)).toBeGreaterThanOrEqual(0);
  });
  it("stop returns the quota and closes handles, and wakes nothing", () => {
    boot();
    const t = startApp(manifest("led", "000000000001", ", \"Capabilities\": {\"Gpio\": [8]}"));
    expect(sched_next(0)).toBe(t);
    const h = syscall(t, SYS_GPIO_OPEN_OUTPUT, 8, 0, 0, 0);
    expect(syscall(t, SYS_SLEEP_MS, 10, 0, 0, 0)).toBe(SYSCALL_SUSPEND);
    expect(sched_report(t, STOP_BLOCKED, 0, 1)).toBe(0);
    const heldBytes = app_core_bytes(0);
    expect(app_stop(0)).toBe(0);
    expect(app_core_bytes(0)).toBeLessThan(heldBytes);
    expect(lastAudit(AUDIT_KIND)).toBe(EV_APP_STOPPED);
    expect(mem_app_reserved_bytes()).toBe(0);
    expect(sched_next_deadline_ms()).toBe(-1);
    expect(sched_next(100)).toBe(-11);
    expect(app_stop(0)).toBe(-EPERM);
    // The new run cannot use the old run's handle, and can open the pin again.
    const t2 = app_start(0);
    expect(sched_next(100)).toBe(t2);
    expect(syscall(t2, SYS_GPIO_SET, h, 1, 0, 0)).toBe(-EBADF);
    expect(syscall(t2, SYS_GPIO_OPEN_OUTPUT, 8, 0, 0, 0)).toBeGreaterThan(0);
  });
});

describe("appmgr: restart policy", () => {
  it("restarts a crashed app after a backoff that doubles, then gives up", () => {
    boot();
    const t = startApp(manifest("crasher", "000000000001", ", \"Capabilities\": {\"Gpio\": [8]}"));
    expect(task_needs_instance(t)).toBe(1);
    setClockMs(0);
    expect(sched_next(0)).toBe(t);
    expect(syscall(t, SYS_GPIO_OPEN_OUTPUT, 8, 0, 0, 0)).toBeGreaterThan(0);
    expect(sched_report(t, STOP_TRAPPED, 0, 100)).toBe(0);
    expect(task_state(t)).toBe(TASK_BACKOFF);
    expect(lastAudit(AUDIT_KIND)).toBe(EV_APP_RESTART);
    expect(lastAudit(AUDIT_ARG)).toBe(RESTART_BACKOFF_BASE_MS);
    expect(audit_field(audit_total() - 2, AUDIT_KIND)).toBe(EV_APP_TRAPPED);
    expect(mem_app_reserved_bytes()).toBe(DEFAULT_QUOTA_BYTES);
    expect(sched_next_deadline_ms()).toBe(100);
    expect(sched_next(99)).toBe(-11);
    setClockMs(100);
    expect(sched_next(100)).toBe(t);
    expect(task_needs_instance(t)).toBe(1);
    // The restarted instance starts clean: it can open its pin again.
    expect(syscall(t, SYS_GPIO_OPEN_OUTPUT, 8, 0, 0, 0)).toBeGreaterThan(0);
    expect(sched_report(t, STOP_YIELDED, 0, 100)).toBe(0);
    expect(task_needs_instance(t)).toBe(0);
    expect(task_state(t)).toBe(TASK_READY);
    // Each crash in the window doubles the wait, up to the cap, which is reached before the
    // give-up: 200, 400, 800, 1600, 1600, 1600 after the first 100.
    const waits: i32[] = [200, 400, 800, 1600, 1600, 1600];
    let at: f64 = 100;
    for (let i = 0; i < waits.length; i++) {
      crashAt(t, at);
      expect(lastAudit(AUDIT_KIND)).toBe(EV_APP_RESTART);
      expect(lastAudit(AUDIT_ARG)).toBe(waits[i]);
      expect(sched_next_deadline_ms()).toBe(at + <f64>waits[i]);
      at += <f64>waits[i];
    }
    expect(waits[waits.length - 1]).toBe(RESTART_BACKOFF_MAX_MS);
    expect(app_field(0, APP_FIELD_RESTARTS)).toBe(RESTART_MAX_CRASHES - 1);
    crashAt(t, at);
    expect(lastAudit(AUDIT_KIND)).toBe(EV_APP_GAVE_UP);
    expect(lastAudit(AUDIT_ARG)).toBe(RESTART_MAX_CRASHES);
    expect(task_state(t)).toBe(TASK_FAILED);
    expect(app_field(0, APP_FIELD_STATE)).toBe(TASK_FAILED);
    expect(app_field(0, APP_FIELD_CRASHES)).toBe(RESTART_MAX_CRASHES);
    expect(mem_app_reserved_bytes()).toBe(0);
    expect(sched_next_deadline_ms()).toBe(-1);
  });
  it("counts only the crashes inside RESTART_WINDOW_MS", () => {
    boot();
    const t = startApp(manifest("rare", "000000000001"));
    crashAt(t, 0);
    expect(lastAudit(AUDIT_ARG)).toBe(RESTART_BACKOFF_BASE_MS);
    // Far outside the window: the earlier crash no longer counts.
    crashAt(t, 100000);
    expect(lastAudit(AUDIT_KIND)).toBe(EV_APP_RESTART);
    expect(lastAudit(AUDIT_ARG)).toBe(RESTART_BACKOFF_BASE_MS);
    expect(app_field(0, APP_FIELD_CRASHES)).toBe(2);
  });
});
