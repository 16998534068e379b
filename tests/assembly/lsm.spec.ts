// The security hook: deny by default, compute and log for every app, GPIO pin by pin; a denial
// is -EACCES with an EV_DENIED entry and never reaches the hardware; unknown calls are -ENOSYS.
import { EACCES, ENOSYS, SYS_GPIO_OPEN_OUTPUT, SYS_GPIO_OPEN_INPUT, SYS_CLOCK_MS, SYS_YIELD, SYS_MEM_QUOTA_BYTES, SYS_COUNT, EV_DENIED, AUDIT_KIND, AUDIT_TASK, AUDIT_APP, AUDIT_SYSCALL, AUDIT_ARG, AUDIT_RESULT, MAX_GPIO_PINS } from "../../assembly/abi";
import { sched_next, syscall, audit_total, audit_field, task_app } from "../../assembly/exports";
import { capsOf, capsHasPin, CAP_COMPUTE, CAP_LOG, CAP_GPIO, CAP_UART } from "../../assembly/lsm/caps";
import { boot, manifest, startApp, install, gpioLevel } from "./kernel-support";

describe("lsm", () => {
  it("grants the pins the manifest lists, and only those", () => {
    boot();
    const t = startApp(manifest("led", "000000000001", ", \"Capabilities\": {\"Gpio\": [8, 40]}"));
    expect(sched_next(0)).toBe(t);
    expect(syscall(t, SYS_GPIO_OPEN_OUTPUT, 8, 1, 0, 0)).toBeGreaterThan(0);
    expect(gpioLevel(8)).toBe(1);
    expect(syscall(t, SYS_GPIO_OPEN_INPUT, 40, 0, 0, 0)).toBeGreaterThan(0);
    const before = audit_total();
    expect(syscall(t, SYS_GPIO_OPEN_OUTPUT, 9, 1, 0, 0)).toBe(-EACCES);
    expect(gpioLevel(9)).toBe(0);
    expect(audit_total()).toBe(before + 1);
    expect(audit_field(before, AUDIT_KIND)).toBe(EV_DENIED);
    expect(audit_field(before, AUDIT_TASK)).toBe(t);
    expect(audit_field(before, AUDIT_APP)).toBe(task_app(t));
    expect(audit_field(before, AUDIT_SYSCALL)).toBe(SYS_GPIO_OPEN_OUTPUT);
    expect(audit_field(before, AUDIT_ARG)).toBe(9);
    expect(audit_field(before, AUDIT_RESULT)).toBe(-EACCES);
  });
  it("denies every pin, and pins that do not exist, to an app with no capabilities", () => {
    boot();
    const t = startApp(manifest("none", "000000000001"));
    expect(sched_next(0)).toBe(t);
    for (let pin = -1; pin <= MAX_GPIO_PINS; pin++) {
      expect(syscall(t, SYS_GPIO_OPEN_INPUT, pin, 0, 0, 0)).toBe(-EACCES);
      expect(syscall(t, SYS_GPIO_OPEN_OUTPUT, pin, 0, 0, 0)).toBe(-EACCES);
    }
    expect(syscall(t, SYS_GPIO_OPEN_OUTPUT, 0x7fffffff, 0, 0, 0)).toBe(-EACCES);
    // Compute, RAM and the clock need no grant.
    expect(syscall(t, SYS_YIELD, 0, 0, 0, 0)).toBe(0);
    expect(syscall(t, SYS_CLOCK_MS, 0, 0, 0, 0)).toBe(0);
    expect(syscall(t, SYS_MEM_QUOTA_BYTES, 0, 0, 0, 0)).toBe(256 * 1024);
  });
  it("answers -ENOSYS for numbers that are not syscalls, without an audit entry", () => {
    boot();
    const t = startApp(manifest("none", "000000000001"));
    expect(sched_next(0)).toBe(t);
    const before = audit_total();
    expect(syscall(t, SYS_COUNT, 0, 0, 0, 0)).toBe(-ENOSYS);
    expect(syscall(t, -1, 0, 0, 0, 0)).toBe(-ENOSYS);
    expect(syscall(t, 1000, 0, 0, 0, 0)).toBe(-ENOSYS);
    expect(audit_total()).toBe(before);
  });
  it("holds capabilities as values: a class mask and a pin bitmap", () => {
    boot();
    const slot = install(manifest("caps", "000000000001", ", \"Capabilities\": {\"Gpio\": [0, 31, 32, 95]}"));
    const caps = capsOf(slot);
    expect(caps.classMask).toBe(CAP_COMPUTE | CAP_LOG | CAP_GPIO);
    expect(caps.classMask & CAP_UART).toBe(0);
    expect(caps.gpio0).toBe(0x80000001);
    expect(caps.gpio1).toBe(1);
    expect(caps.gpio2).toBe(0x80000000);
    expect(caps.gpio3).toBe(0);
    expect(capsHasPin(caps, 31)).toBe(true);
    expect(capsHasPin(caps, 30)).toBe(false);
    expect(capsHasPin(caps, -1)).toBe(false);
    expect(capsHasPin(caps, MAX_GPIO_PINS)).toBe(false);
  });
});
