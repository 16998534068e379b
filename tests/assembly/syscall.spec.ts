// The syscall dispatcher: only the running task may call; logs, arguments and memory figures
// go through the host's copies of app memory, and a bad pointer is -EFAULT with an audit entry.
import {
  EPERM, EFAULT, EINVAL, EV_FAULT, AUDIT_KIND, AUDIT_ARG, AUDIT_SYSCALL, SYS_LOG, SYS_ARGS_GET, SYS_EXIT, SYS_YIELD,
  SYS_SLEEP_MS, SYS_CLOCK_MS, SYS_MEM_QUOTA_BYTES, SYS_MEM_IN_USE_BYTES, SYS_MEM_PEAK_BYTES, SYS_GPIO_OPEN_OUTPUT,
  SYS_GPIO_SET, SYS_TIMER_CREATE, STOP_YIELDED, STOP_EXITED, MAX_TASKS, EV_APP_EXITED,
  EBADF, EV_LOG_DROPPED, LOG_LINES_PER_WINDOW, RATE_WINDOW_MS,
} from "../../assembly/abi";
import { sched_next, sched_report, syscall, audit_total, audit_field, task_take_fuel, syscall_charged } from "../../assembly/exports";
import { SYSCALL_FUEL, LOG_LINE_FUEL, LOG_BYTE_FUEL, GPIO_WRITE_FUEL, COPY_BYTE_FUEL } from "../../assembly/abi";
import { LOG_MAX_BYTES } from "../../assembly/drivers/log";
import { boot, manifest, startApp, appMemoryEnable, appPoke, appPeek, logCount, logCopyLast, setClockMs, gpioLevel } from "./kernel-support";

function lastAudit(field: i32): i32 { return audit_field(audit_total() - 1, field); }

function pokeString(task: i32, appPtr: i32, s: string): i32 {
  const bytes = String.UTF8.encode(s);
  appPoke(task, appPtr, changetype<usize>(bytes), bytes.byteLength);
  return bytes.byteLength;
}

function lastLog(): string {
  const buf = new ArrayBuffer(LOG_MAX_BYTES);
  const len = logCopyLast(changetype<usize>(buf));
  return String.UTF8.decodeUnsafe(changetype<usize>(buf), <usize>len);
}

describe("syscall: the caller", () => {
  it("refuses any task but the one running with -EPERM", () => {
    boot();
    const a = startApp(manifest("a", "000000000001"));
    const b = startApp(manifest("b", "000000000002"));
    expect(syscall(a, SYS_YIELD, 0, 0, 0, 0)).toBe(-EPERM); // nothing runs yet
    expect(sched_next(0)).toBe(a);
    expect(syscall(a, SYS_YIELD, 0, 0, 0, 0)).toBe(0);
    expect(syscall(b, SYS_YIELD, 0, 0, 0, 0)).toBe(-EPERM);
    expect(syscall(-1, SYS_YIELD, 0, 0, 0, 0)).toBe(-EPERM);
    expect(syscall(MAX_TASKS, SYS_YIELD, 0, 0, 0, 0)).toBe(-EPERM);
    expect(syscall(0x7fffffff, SYS_YIELD, 0, 0, 0, 0)).toBe(-EPERM);
    expect(sched_report(b, STOP_YIELDED, 0, 1)).toBe(-EPERM);
    expect(sched_report(a, STOP_YIELDED, 0, 1)).toBe(0);
    expect(syscall(a, SYS_YIELD, 0, 0, 0, 0)).toBe(-EPERM); // its slice is over
  });
  it("exit returns, and the host's report ends the app with the code", () => {
    boot();
    const t = startApp(manifest("bye", "000000000001"));
    expect(sched_next(0)).toBe(t);
    expect(syscall(t, SYS_EXIT, 3, 0, 0, 0)).toBe(0);
    expect(sched_report(t, STOP_EXITED, 3, 1)).toBe(0);
    expect(lastAudit(AUDIT_KIND)).toBe(EV_APP_EXITED);
    expect(lastAudit(AUDIT_ARG)).toBe(3);
  });
});

describe("syscall: calls", () => {
  it("log copies the app's bytes to the host log, at most LOG_MAX_BYTES of them", () => {
    boot();
    appMemoryEnable(1);
    const t = startApp(manifest("logger", "000000000001"));
    expect(sched_next(0)).toBe(t);
    const len = pokeString(t, 100, "hello, device");
    const before = logCount();
    expect(syscall(t, SYS_LOG, 100, len, 0, 0)).toBe(len);
    expect(logCount()).toBe(before + 1);
    expect(lastLog()).toBe("hello, device");
    expect(syscall(t, SYS_LOG, 0, 1000, 0, 0)).toBe(LOG_MAX_BYTES);
    expect(syscall(t, SYS_LOG, 0, 0, 0, 0)).toBe(0);
    expect(syscall(t, SYS_LOG, 0, -1, 0, 0)).toBe(-EINVAL);
  });
  it("log refuses a range outside the app's memory with -EFAULT, audited", () => {
    boot();
    appMemoryEnable(1);
    const t = startApp(manifest("logger", "000000000001"));
    expect(sched_next(0)).toBe(t);
    const before = logCount();
    expect(syscall(t, SYS_LOG, 65530, 16, 0, 0)).toBe(-EFAULT);
    expect(lastAudit(AUDIT_KIND)).toBe(EV_FAULT);
    expect(lastAudit(AUDIT_SYSCALL)).toBe(SYS_LOG);
    expect(lastAudit(AUDIT_ARG)).toBe(65530);
    expect(syscall(t, SYS_LOG, 0x7fff0000, 16, 0, 0)).toBe(-EFAULT);
    expect(syscall(t, SYS_LOG, -16, 32, 0, 0)).toBe(-EFAULT); // wraps past 4 GiB
    expect(syscall(t, SYS_LOG, 16, 0x7fffffff, 0, 0)).toBe(-EFAULT);
    expect(logCount()).toBe(before);
  });
  it("args_get copies the NUL-terminated arguments and returns their length", () => {
    boot();
    appMemoryEnable(1);
    const t = startApp(manifest("args", "000000000001", ", \"CmdArgs\": [\"-v\", \"pin=8\"]"));
    expect(sched_next(0)).toBe(t);
    expect(syscall(t, SYS_ARGS_GET, 200, 64, 0, 0)).toBe(9);
    const buf = new ArrayBuffer(9);
    appPeek(t, 200, changetype<usize>(buf), 9);
    expect(String.UTF8.decodeUnsafe(changetype<usize>(buf), 9)).toBe("-v\0pin=8\0");
    // A short buffer gets what fits; the result still says how much there is.
    expect(syscall(t, SYS_ARGS_GET, 300, 0, 0, 0)).toBe(9);
    expect(syscall(t, SYS_ARGS_GET, 65534, 9, 0, 0)).toBe(-EFAULT);
    expect(lastAudit(AUDIT_KIND)).toBe(EV_FAULT);
  });
  it("reports the app's quota, memory in use and peak", () => {
    boot();
    const t = startApp(manifest("mem", "000000000001", ", \"MemoryQuotaKiB\": 192"));
    expect(sched_next(0)).toBe(t);
    expect(syscall(t, SYS_MEM_QUOTA_BYTES, 0, 0, 0, 0)).toBe(192 * 1024);
    expect(syscall(t, SYS_MEM_IN_USE_BYTES, 0, 0, 0, 0)).toBe(65536);
    expect(syscall(t, SYS_MEM_PEAK_BYTES, 0, 0, 0, 0)).toBe(65536);
  });
  it("clock_ms reads the host clock; sleep_ms(0) returns at once and a negative sleep is -EINVAL", () => {
    boot();
    const t = startApp(manifest("clock", "000000000001"));
    expect(sched_next(0)).toBe(t);
    setClockMs(1234.9);
    expect(syscall(t, SYS_CLOCK_MS, 0, 0, 0, 0)).toBe(1234);
    expect(syscall(t, SYS_SLEEP_MS, 0, 0, 0, 0)).toBe(0);
    expect(syscall(t, SYS_SLEEP_MS, -5, 0, 0, 0)).toBe(-EINVAL);
    expect(syscall(t, SYS_TIMER_CREATE, 0, 0, 0, 0)).toBe(-EINVAL);
  });
  it("gpio_set drives the pin through the hal", () => {
    boot();
    const t = startApp(manifest("led", "000000000001", ", \"Capabilities\": {\"Gpio\": [3]}"));
    expect(sched_next(0)).toBe(t);
    const h = syscall(t, SYS_GPIO_OPEN_OUTPUT, 3, 0, 0, 0);
    expect(gpioLevel(3)).toBe(0);
    expect(syscall(t, SYS_GPIO_SET, h, 7, 0, 0)).toBe(0);
    expect(gpioLevel(3)).toBe(1);
    expect(syscall(t, SYS_GPIO_SET, h, 0, 0, 0)).toBe(0);
    expect(gpioLevel(3)).toBe(0);
  });
});

describe("syscall: host work is charged", () => {
  it("charges every call SYSCALL_FUEL, a log line by its bytes, a GPIO write and a copy by length", () => {
    boot();
    appMemoryEnable(1);
    const t = startApp(manifest("payer", "000000000001", ", \"Capabilities\": {\"Gpio\": [8]}, \"CmdArgs\": [\"abcdefghij\"]"));
    expect(sched_next(0)).toBe(t);
    expect(task_take_fuel(t)).toBe(0);
    expect(syscall(t, SYS_CLOCK_MS, 0, 0, 0, 0)).toBeGreaterThanOrEqual(0);
    expect(task_take_fuel(t)).toBe(SYSCALL_FUEL);
    expect(task_take_fuel(t)).toBe(0);
    const len = pokeString(t, 100, "twelve bytes");
    expect(syscall(t, SYS_LOG, 100, len, 0, 0)).toBe(12);
    expect(task_take_fuel(t)).toBe(SYSCALL_FUEL + LOG_LINE_FUEL + 12 * LOG_BYTE_FUEL);
    const h = syscall(t, SYS_GPIO_OPEN_OUTPUT, 8, 0, 0, 0);
    expect(syscall(t, SYS_GPIO_SET, h, 1, 0, 0)).toBe(0);
    expect(task_take_fuel(t)).toBe(2 * (SYSCALL_FUEL + GPIO_WRITE_FUEL));
    // args_get: the 11 bytes copied (10 and a NUL), or fewer when the buffer is shorter.
    expect(syscall(t, SYS_ARGS_GET, 200, 64, 0, 0)).toBe(11);
    expect(syscall(t, SYS_ARGS_GET, 200, 4, 0, 0)).toBe(11);
    expect(task_take_fuel(t)).toBe(2 * SYSCALL_FUEL + 15 * COPY_BYTE_FUEL);
    // A refused call still costs the base.
    expect(syscall(t, SYS_GPIO_SET, 0x101, 1, 0, 0)).toBe(-EBADF);
    expect(task_take_fuel(t)).toBe(SYSCALL_FUEL);
  });
  it("syscall_charged answers the syscall's result in its low half and takes the fuel owed into its high half", () => {
    boot();
    appMemoryEnable(1);
    const t = startApp(manifest("packed", "000000000001", ", \"Capabilities\": {\"Gpio\": [8]}"));
    expect(sched_next(0)).toBe(t);
    const len = pokeString(t, 100, "twelve bytes");
    const logged = syscall_charged(t, SYS_LOG, 100, len, 0, 0);
    expect(<i32>logged).toBe(12);
    expect(<i32>(logged >>> 32)).toBe(SYSCALL_FUEL + LOG_LINE_FUEL + 12 * LOG_BYTE_FUEL);
    expect(task_take_fuel(t)).toBe(0);
    // Fuel owed from before the call is taken with it; a negative result keeps all 32 bits.
    expect(syscall(t, SYS_CLOCK_MS, 0, 0, 0, 0)).toBeGreaterThanOrEqual(0);
    const refused = syscall_charged(t, SYS_GPIO_SET, 0x101, 1, 0, 0);
    expect(<i32>refused).toBe(-EBADF);
    expect(<i32>(refused >>> 32)).toBe(2 * SYSCALL_FUEL);
    // A call from a task that is not running: its refusal, and no fuel (the task was never charged).
    const other = syscall_charged(t + 1, SYS_CLOCK_MS, 0, 0, 0, 0);
    expect(<i32>other).toBe(syscall(t + 1, SYS_CLOCK_MS, 0, 0, 0, 0));
    expect(<i32>(other >>> 32)).toBe(0);
  });
  it("drops an app's log lines beyond LOG_LINES_PER_WINDOW a window, charged the call only, and counts them", () => {
    boot();
    appMemoryEnable(1);
    const t = startApp(manifest("chatty", "000000000001"));
    expect(sched_next(0)).toBe(t);
    const len = pokeString(t, 100, "x");
    const before = logCount();
    for (let i = 0; i < LOG_LINES_PER_WINDOW; i++) expect(syscall(t, SYS_LOG, 100, len, 0, 0)).toBe(1);
    task_take_fuel(t);
    for (let i = 0; i < 10; i++) expect(syscall(t, SYS_LOG, 100, len, 0, 0)).toBe(0);
    expect(task_take_fuel(t)).toBe(10 * SYSCALL_FUEL);
    expect(logCount()).toBe(before + LOG_LINES_PER_WINDOW);
    // The first line of the next window reports the count first.
    setClockMs(<f64>RATE_WINDOW_MS);
    expect(syscall(t, SYS_LOG, 100, len, 0, 0)).toBe(1);
    expect(logCount()).toBe(before + LOG_LINES_PER_WINDOW + 1);
    expect(audit_field(audit_total() - 1, AUDIT_KIND)).toBe(EV_LOG_DROPPED);
    expect(lastAudit(AUDIT_ARG)).toBe(10);
  });
});
