// Handles: a value resolves only with the right index, generation, owner and kind. Forged,
// stale and borrowed values get -EBADF and an EV_BAD_HANDLE entry; index 0 is never handed out.
import { EBADF, EMFILE, EV_LIMIT, LIMIT_TASK_HANDLES, HANDLE_INDEX_BITS, MAX_HANDLES, SYS_GPIO_OPEN_OUTPUT, SYS_GPIO_OPEN_INPUT, SYS_GPIO_SET, SYS_GPIO_GET, SYS_CLOSE, SYS_TIMER_CREATE, SYS_WAIT, STOP_YIELDED, EV_BAD_HANDLE, AUDIT_KIND, AUDIT_TASK, AUDIT_APP, AUDIT_SYSCALL, AUDIT_ARG, AUDIT_RESULT, EBUSY } from "../../assembly/abi";
import { sched_next, sched_report, syscall, audit_total, audit_field, task_app } from "../../assembly/exports";
import { HANDLES_PER_TASK_MAX } from "../../assembly/handles/table";
import { boot, manifest, startApp, gpioLevel } from "./kernel-support";

function lastAudit(field: i32): i32 { return audit_field(audit_total() - 1, field); }

describe("handles", () => {
  it("refuses forged values with -EBADF and audits each attempt", () => {
    boot();
    const t = startApp(manifest("h", "000000000001", ", \"Capabilities\": {\"Gpio\": [5]}"));
    expect(sched_next(0)).toBe(t);
    const h = syscall(t, SYS_GPIO_OPEN_OUTPUT, 5, 0, 0, 0);
    expect(h).toBeGreaterThan(0);
    expect(h & 0xff).not.toBe(0);
    const forged: i32[] = [0, -1, h & 0xff, h + (1 << 8), (h & ~0xff) | ((h + 1) & 0xff), 0x7fffffff, h | 0xff];
    for (let i = 0; i < forged.length; i++) {
      const before = audit_total();
      expect(syscall(t, SYS_GPIO_SET, forged[i], 1, 0, 0)).toBe(-EBADF);
      expect(audit_total()).toBe(before + 1);
      expect(lastAudit(AUDIT_KIND)).toBe(EV_BAD_HANDLE);
      expect(lastAudit(AUDIT_TASK)).toBe(t);
      expect(lastAudit(AUDIT_APP)).toBe(task_app(t));
      expect(lastAudit(AUDIT_SYSCALL)).toBe(SYS_GPIO_SET);
      expect(lastAudit(AUDIT_ARG)).toBe(forged[i]);
      expect(lastAudit(AUDIT_RESULT)).toBe(-EBADF);
    }
    expect(gpioLevel(5)).toBe(0);
    expect(syscall(t, SYS_GPIO_SET, h, 1, 0, 0)).toBe(0);
    expect(gpioLevel(5)).toBe(1);
  });
  it("refuses a closed handle, even after its index is reused", () => {
    boot();
    const t = startApp(manifest("h", "000000000001", ", \"Capabilities\": {\"Gpio\": [5]}"));
    expect(sched_next(0)).toBe(t);
    const first = syscall(t, SYS_GPIO_OPEN_OUTPUT, 5, 0, 0, 0);
    expect(syscall(t, SYS_CLOSE, first, 0, 0, 0)).toBe(0);
    expect(syscall(t, SYS_CLOSE, first, 0, 0, 0)).toBe(-EBADF);
    // Cycle through every index so the first one is handed out again, with a new generation.
    let again = 0;
    const mask = (1 << HANDLE_INDEX_BITS) - 1;
    for (let i = 0; i < MAX_HANDLES + 10 && again == 0; i++) {
      const h = syscall(t, SYS_GPIO_OPEN_OUTPUT, 5, 0, 0, 0);
      expect(h & mask).not.toBe(0);
      if ((h & mask) == (first & mask)) again = h;
      else expect(syscall(t, SYS_CLOSE, h, 0, 0, 0)).toBe(0);
    }
    expect(again).not.toBe(0);
    expect(again).not.toBe(first);
    expect(syscall(t, SYS_GPIO_SET, first, 1, 0, 0)).toBe(-EBADF);
    expect(syscall(t, SYS_GPIO_SET, again, 1, 0, 0)).toBe(0);
  });
  it("refuses another task's handle", () => {
    boot();
    const owner = startApp(manifest("owner", "000000000001", ", \"Capabilities\": {\"Gpio\": [5]}"));
    const thief = startApp(manifest("thief", "000000000002"));
    expect(sched_next(0)).toBe(owner);
    const h = syscall(owner, SYS_GPIO_OPEN_OUTPUT, 5, 0, 0, 0);
    expect(sched_report(owner, STOP_YIELDED, 0, 1)).toBe(0);
    expect(sched_next(0)).toBe(thief);
    expect(syscall(thief, SYS_GPIO_SET, h, 1, 0, 0)).toBe(-EBADF);
    expect(lastAudit(AUDIT_APP)).toBe(task_app(thief));
    expect(syscall(thief, SYS_CLOSE, h, 0, 0, 0)).toBe(-EBADF);
    expect(gpioLevel(5)).toBe(0);
    expect(sched_report(thief, STOP_YIELDED, 0, 1)).toBe(0);
    expect(sched_next(0)).toBe(owner);
    expect(syscall(owner, SYS_GPIO_SET, h, 1, 0, 0)).toBe(0);
  });
  it("refuses a handle of the wrong kind", () => {
    boot();
    const t = startApp(manifest("h", "000000000001", ", \"Capabilities\": {\"Gpio\": [5, 6]}"));
    expect(sched_next(0)).toBe(t);
    const out = syscall(t, SYS_GPIO_OPEN_OUTPUT, 5, 0, 0, 0);
    const input = syscall(t, SYS_GPIO_OPEN_INPUT, 6, 0, 0, 0);
    const timer = syscall(t, SYS_TIMER_CREATE, 10, 0, 0, 0);
    expect(syscall(t, SYS_GPIO_SET, input, 1, 0, 0)).toBe(-EBADF);
    expect(syscall(t, SYS_GPIO_SET, timer, 1, 0, 0)).toBe(-EBADF);
    expect(syscall(t, SYS_GPIO_GET, timer, 0, 0, 0)).toBe(-EBADF);
    expect(syscall(t, SYS_WAIT, out, 0, 0, 0)).toBe(-EBADF);
    expect(syscall(t, SYS_GPIO_GET, input, 0, 0, 0)).toBe(0);
    // A pin is open through one handle at a time.
    expect(syscall(t, SYS_GPIO_OPEN_INPUT, 5, 0, 0, 0)).toBe(-EBUSY);
  });
  it("bounds the handles one task may hold", () => {
    boot();
    // 64 timers (the app's cap of the timer pool) and 64 pins make the task's 128 handles.
    let pins = "";
    for (let p = 20; p < 85; p++) pins += (p > 20 ? ", " : "") + p.toString();
    const t = startApp(manifest("hog", "000000000001", ", \"Capabilities\": {\"Gpio\": [" + pins + "]}"));
    expect(sched_next(0)).toBe(t);
    expect(HANDLES_PER_TASK_MAX).toBe(128);
    for (let i = 0; i < 64; i++) expect(syscall(t, SYS_TIMER_CREATE, 10, 0, 0, 0)).toBeGreaterThan(0);
    for (let i = 0; i < HANDLES_PER_TASK_MAX - 64; i++) expect(syscall(t, SYS_GPIO_OPEN_INPUT, 20 + i, 0, 0, 0)).toBeGreaterThan(0);
    expect(syscall(t, SYS_GPIO_OPEN_INPUT, 84, 0, 0, 0)).toBe(-EMFILE);
    expect(syscall(t, SYS_TIMER_CREATE, 10, 0, 0, 0)).toBe(-EMFILE);
    expect(lastAudit(AUDIT_KIND)).toBe(EV_LIMIT);
    expect(lastAudit(AUDIT_ARG)).toBe(LIMIT_TASK_HANDLES);
  });
});
