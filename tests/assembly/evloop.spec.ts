// The event loop in the core: every waitable handle's latch (a GPIO input's edges, a timer's
// expirations) keeps what happened while its app was not waiting, and wait_any waits on several
// handles at once, refusing any handle that is not the caller's before it blocks.
import {
  SYS_GPIO_OPEN_INPUT, SYS_GPIO_OPEN_OUTPUT, SYS_TIMER_CREATE, SYS_WAIT, SYS_WAIT_ANY, SYS_CLOSE, SYSCALL_SUSPEND,
  STOP_BLOCKED, STOP_OUT_OF_FUEL, TASK_BLOCKED, TASK_READY, TASK_RUNNING, EAGAIN, EBADF, EFAULT, EINVAL, ETIMEDOUT,
  EV_BAD_HANDLE, EV_FAULT, AUDIT_KIND, AUDIT_SYSCALL, AUDIT_ARG, AUDIT_RESULT, AUDIT_TASK, WAIT_ANY_MAX_HANDLES,
} from "../../assembly/abi";
import {
  sched_next, sched_report, sched_next_deadline_ms, syscall, task_take_result, task_state, gpio_notify, app_stop, task_app,
  audit_total, audit_field,
} from "../../assembly/exports";
import { gpioPendingEdges, GPIO_EDGES_MAX } from "../../assembly/drivers/gpio";
import { boot, manifest, startApp, setClockMs, appMemoryEnable, appPoke } from "./kernel-support";

const GPIO_12_13 = ", \"Capabilities\": {\"Gpio\": [12, 13]}";
const LIST_PTR: i32 = 1024;

function lastAudit(field: i32): i32 { return audit_field(audit_total() - 1, field); }

/** Writes `handles` as an i32 array at LIST_PTR in `task`'s memory. */
function putList(task: i32, handles: i32[]): void {
  const buf = new ArrayBuffer(handles.length * 4);
  for (let i = 0; i < handles.length; i++) store<i32>(changetype<usize>(buf) + <usize>(i * 4), handles[i]);
  appPoke(task, LIST_PTR, changetype<usize>(buf), buf.byteLength);
}

function waitAny(task: i32, handles: i32[], timeoutMs: i32): i32 {
  putList(task, handles);
  return syscall(task, SYS_WAIT_ANY, LIST_PTR, handles.length, timeoutMs, 0);
}

/** Boots with app memory on and one running app granted GPIO 12 and 13; returns its task. */
function runningApp(): i32 {
  boot();
  appMemoryEnable(1);
  const t = startApp(manifest("loop", "000000000001", GPIO_12_13));
  expect(sched_next(0)).toBe(t);
  return t;
}

function block(t: i32): void { expect(sched_report(t, STOP_BLOCKED, 0, 1)).toBe(0); }

describe("evloop: latches", () => {
  it("a press and a release between two slices are two edges, seen in order", () => {
    const t = runningApp();
    const button = syscall(t, SYS_GPIO_OPEN_INPUT, 12, 0, 0, 0);
    expect(button).toBeGreaterThan(0);
    expect(sched_report(t, STOP_OUT_OF_FUEL, 0, 1)).toBe(0);
    // The app is ready, not waiting: nobody wakes, but the latch keeps both edges.
    expect(gpio_notify(12, 1)).toBe(0);
    expect(gpio_notify(12, 0)).toBe(0);
    expect(gpioPendingEdges(12)).toBe(2);
    expect(sched_next(1)).toBe(t);
    expect(syscall(t, SYS_WAIT, button, -1, 0, 0)).toBe(1);
    expect(syscall(t, SYS_WAIT, button, -1, 0, 0)).toBe(0);
    expect(gpioPendingEdges(12)).toBe(0);
    expect(syscall(t, SYS_WAIT, button, 0, 0, 0)).toBe(-ETIMEDOUT);
  });
  it("a waiter woken by an edge takes it: the next wait finds the latch empty", () => {
    const t = runningApp();
    const button = syscall(t, SYS_GPIO_OPEN_INPUT, 12, 0, 0, 0);
    expect(syscall(t, SYS_WAIT, button, -1, 0, 0)).toBe(SYSCALL_SUSPEND);
    block(t);
    expect(gpio_notify(12, 1)).toBe(1);
    expect(sched_next(5)).toBe(t);
    expect(task_take_result(t)).toBe(1);
    expect(gpioPendingEdges(12)).toBe(0);
    expect(syscall(t, SYS_WAIT, button, 0, 0, 0)).toBe(-ETIMEDOUT);
  });
  it("a notify repeating the level the core knows is a pulse: two edges", () => {
    const t = runningApp();
    const button = syscall(t, SYS_GPIO_OPEN_INPUT, 12, 0, 0, 0); // the pin reads 0 at open
    expect(gpio_notify(12, 0)).toBe(0);
    expect(gpioPendingEdges(12)).toBe(2);
    expect(syscall(t, SYS_WAIT, button, 0, 0, 0)).toBe(1);
    expect(syscall(t, SYS_WAIT, button, 0, 0, 0)).toBe(0);
  });
  it("pulses and changes add up in order: three pulses then a rise are seven edges", () => {
    const t = runningApp();
    const button = syscall(t, SYS_GPIO_OPEN_INPUT, 12, 0, 0, 0);
    // Pulses the host saw only the end of: two edges each.
    for (let i = 0; i < 3; i++) gpio_notify(12, 0);
    expect(gpioPendingEdges(12)).toBe(6);
    expect(gpio_notify(12, 1)).toBe(0);
    expect(gpioPendingEdges(12)).toBe(7);
    // A full latch drops whole pulses, so its capacity is even.
    expect(GPIO_EDGES_MAX % 2).toBe(0);
    const levels: i32[] = [];
    for (let i = 0; i < 7; i++) levels.push(syscall(t, SYS_WAIT, button, 0, 0, 0));
    expect(levels).toStrictEqual([1, 0, 1, 0, 1, 0, 1]);
  });
  it("closing an input empties its latch, and a notify with no input open latches nothing", () => {
    const t = runningApp();
    let button = syscall(t, SYS_GPIO_OPEN_INPUT, 12, 0, 0, 0);
    expect(gpio_notify(12, 1)).toBe(0);
    expect(syscall(t, SYS_CLOSE, button, 0, 0, 0)).toBe(0);
    expect(gpioPendingEdges(12)).toBe(0);
    expect(gpio_notify(12, 0)).toBe(0);
    expect(gpioPendingEdges(12)).toBe(0);
    button = syscall(t, SYS_GPIO_OPEN_INPUT, 12, 0, 0, 0);
    expect(syscall(t, SYS_WAIT, button, 0, 0, 0)).toBe(-ETIMEDOUT);
    // An output pin has no latch either.
    syscall(t, SYS_GPIO_OPEN_OUTPUT, 13, 0, 0, 0);
    expect(gpio_notify(13, 1)).toBe(0);
    expect(gpioPendingEdges(13)).toBe(0);
  });
  it("a kernel reset empties every latch", () => {
    const t = runningApp();
    syscall(t, SYS_GPIO_OPEN_INPUT, 12, 0, 0, 0);
    gpio_notify(12, 1);
    expect(gpioPendingEdges(12)).toBe(1);
    boot();
    expect(gpioPendingEdges(12)).toBe(0);
  });
  it("timer expirations that pass while the owner waits on something else are all kept", () => {
    const t = runningApp();
    const timer = syscall(t, SYS_TIMER_CREATE, 10, 0, 0, 0);
    const button = syscall(t, SYS_GPIO_OPEN_INPUT, 12, 0, 0, 0);
    expect(syscall(t, SYS_WAIT, button, -1, 0, 0)).toBe(SYSCALL_SUSPEND);
    block(t);
    // Nothing waits on the timer: it is not armed, so the core has no deadline for it.
    expect(sched_next_deadline_ms()).toBe(-1);
    setClockMs(35);
    expect(gpio_notify(12, 1)).toBe(1);
    expect(sched_next(35)).toBe(t);
    expect(task_take_result(t)).toBe(1);
    // 10, 20, 30: three expirations, none lost, taken by one wait.
    expect(waitAny(t, [button, timer], 0)).toBe(2);
    expect(syscall(t, SYS_WAIT, timer, 0, 0, 0)).toBe(3);
    expect(syscall(t, SYS_WAIT, timer, 0, 0, 0)).toBe(-ETIMEDOUT);
  });
});

describe("evloop: wait_any", () => {
  it("returns the mask of the ready handles at once, and takes nothing", () => {
    const t = runningApp();
    const a = syscall(t, SYS_GPIO_OPEN_INPUT, 12, 0, 0, 0);
    const b = syscall(t, SYS_GPIO_OPEN_INPUT, 13, 0, 0, 0);
    const timer = syscall(t, SYS_TIMER_CREATE, 100, 0, 0, 0);
    expect(waitAny(t, [a, timer, b], 0)).toBe(-ETIMEDOUT);
    gpio_notify(13, 1);
    expect(waitAny(t, [a, timer, b], -1)).toBe(0b100);
    expect(waitAny(t, [a, timer, b], -1)).toBe(0b100); // still ready: nothing was taken
    gpio_notify(12, 1);
    expect(waitAny(t, [a, timer, b], -1)).toBe(0b101);
    expect(waitAny(t, [b, b], -1)).toBe(0b11);
    expect(syscall(t, SYS_WAIT, b, 0, 0, 0)).toBe(1);
    expect(waitAny(t, [a, timer, b], -1)).toBe(0b001);
    setClockMs(100);
    expect(waitAny(t, [a, timer, b], -1)).toBe(0b011);
  });
  it("blocks until one is ready and wakes with exactly that one: an input", () => {
    const t = runningApp();
    const a = syscall(t, SYS_GPIO_OPEN_INPUT, 12, 0, 0, 0);
    const b = syscall(t, SYS_GPIO_OPEN_INPUT, 13, 0, 0, 0);
    const timer = syscall(t, SYS_TIMER_CREATE, 100, 0, 0, 0);
    expect(waitAny(t, [a, b, timer], -1)).toBe(SYSCALL_SUSPEND);
    block(t);
    expect(sched_next_deadline_ms()).toBe(100); // the armed timer
    expect(gpio_notify(13, 1)).toBe(1);
    expect(task_state(t)).toBe(TASK_READY);
    // The wake disarmed the rest: the timer no longer asks for a deadline, and a second edge wakes nobody.
    expect(sched_next_deadline_ms()).toBe(-1);
    expect(gpio_notify(12, 1)).toBe(0);
    expect(sched_next(1)).toBe(t);
    expect(task_take_result(t)).toBe(0b010);
    expect(syscall(t, SYS_WAIT, b, 0, 0, 0)).toBe(1);
    expect(syscall(t, SYS_WAIT, a, 0, 0, 0)).toBe(1);
  });
  it("blocks until one is ready and wakes with exactly that one: a timer", () => {
    const t = runningApp();
    const a = syscall(t, SYS_GPIO_OPEN_INPUT, 12, 0, 0, 0);
    const slow = syscall(t, SYS_TIMER_CREATE, 30, 0, 0, 0);
    const fast = syscall(t, SYS_TIMER_CREATE, 20, 0, 0, 0);
    expect(waitAny(t, [a, slow, fast], 1000)).toBe(SYSCALL_SUSPEND);
    block(t);
    expect(sched_next_deadline_ms()).toBe(20);
    setClockMs(19);
    expect(sched_next(19)).toBe(-EAGAIN);
    setClockMs(20);
    expect(sched_next(20)).toBe(t);
    expect(task_take_result(t)).toBe(0b100);
    expect(sched_next_deadline_ms()).toBe(-1); // its timeout went with the wake
    expect(syscall(t, SYS_WAIT, fast, 0, 0, 0)).toBe(1);
    expect(syscall(t, SYS_WAIT, slow, 0, 0, 0)).toBe(-ETIMEDOUT);
  });
  it("times out exactly at its timeout with -ETIMEDOUT, and a later event wakes nobody", () => {
    const t = runningApp();
    const a = syscall(t, SYS_GPIO_OPEN_INPUT, 12, 0, 0, 0);
    const timer = syscall(t, SYS_TIMER_CREATE, 500, 0, 0, 0);
    expect(waitAny(t, [a, timer], 50)).toBe(SYSCALL_SUSPEND);
    block(t);
    expect(sched_next_deadline_ms()).toBe(50);
    setClockMs(49.999);
    expect(sched_next(49.999)).toBe(-EAGAIN);
    expect(task_state(t)).toBe(TASK_BLOCKED);
    setClockMs(50);
    expect(sched_next(50)).toBe(t);
    expect(task_take_result(t)).toBe(-ETIMEDOUT);
    expect(gpio_notify(12, 1)).toBe(0);
    expect(task_state(t)).toBe(TASK_RUNNING);
    expect(sched_next_deadline_ms()).toBe(-1);
  });
  it("refuses a bad count with -EINVAL and a pointer outside the app with -EFAULT, audited", () => {
    const t = runningApp();
    const a = syscall(t, SYS_GPIO_OPEN_INPUT, 12, 0, 0, 0);
    putList(t, [a]);
    expect(syscall(t, SYS_WAIT_ANY, LIST_PTR, 0, -1, 0)).toBe(-EINVAL);
    expect(syscall(t, SYS_WAIT_ANY, LIST_PTR, -1, -1, 0)).toBe(-EINVAL);
    expect(syscall(t, SYS_WAIT_ANY, LIST_PTR, WAIT_ANY_MAX_HANDLES + 1, -1, 0)).toBe(-EINVAL);
    expect(syscall(t, SYS_WAIT_ANY, 65534, 1, -1, 0)).toBe(-EFAULT);
    expect(lastAudit(AUDIT_KIND)).toBe(EV_FAULT);
    expect(lastAudit(AUDIT_SYSCALL)).toBe(SYS_WAIT_ANY);
    expect(lastAudit(AUDIT_ARG)).toBe(65534);
    expect(syscall(t, SYS_WAIT_ANY, -4, 1, -1, 0)).toBe(-EFAULT);
    expect(lastAudit(AUDIT_ARG)).toBe(-4);
    expect(task_state(t)).toBe(TASK_RUNNING);
  });
  it("refuses a forged, a closed, a non-waitable and another app's handle with -EBADF, audited, and arms nothing", () => {
    boot();
    appMemoryEnable(1);
    const other = startApp(manifest("other", "000000000002", ", \"Capabilities\": {\"Gpio\": [20]}"));
    const t = startApp(manifest("loop", "000000000001", GPIO_12_13));
    expect(sched_next(0)).toBe(other);
    const theirs = syscall(other, SYS_GPIO_OPEN_INPUT, 20, 0, 0, 0);
    expect(sched_report(other, STOP_OUT_OF_FUEL, 0, 1)).toBe(0);
    expect(sched_next(0)).toBe(t);
    const mine = syscall(t, SYS_GPIO_OPEN_INPUT, 12, 0, 0, 0);
    const timer = syscall(t, SYS_TIMER_CREATE, 10, 0, 0, 0);
    const led = syscall(t, SYS_GPIO_OPEN_OUTPUT, 13, 0, 0, 0);
    const closed = syscall(t, SYS_TIMER_CREATE, 10, 0, 0, 0);
    expect(syscall(t, SYS_CLOSE, closed, 0, 0, 0)).toBe(0);
    const forged = mine + (1 << 10); // the right row, the next generation
    const bad: i32[] = [forged, closed, led, theirs, 0, -1];
    for (let i = 0; i < bad.length; i++) {
      const before = audit_total();
      // The bad handle last: the good ones before it must not stay armed.
      expect(waitAny(t, [mine, timer, bad[i]], -1)).toBe(-EBADF, "handle " + bad[i].toString());
      expect(audit_total()).toBe(before + 1);
      expect(lastAudit(AUDIT_KIND)).toBe(EV_BAD_HANDLE);
      expect(lastAudit(AUDIT_TASK)).toBe(t);
      expect(lastAudit(AUDIT_SYSCALL)).toBe(SYS_WAIT_ANY);
      expect(lastAudit(AUDIT_ARG)).toBe(bad[i]);
      expect(lastAudit(AUDIT_RESULT)).toBe(-EBADF);
      expect(task_state(t)).toBe(TASK_RUNNING);
    }
    expect(sched_next_deadline_ms()).toBe(-1);
    expect(sched_report(t, STOP_OUT_OF_FUEL, 0, 1)).toBe(0);
    expect(gpio_notify(12, 1)).toBe(0);
    // The other app's input is its own: its latch is untouched by the refused calls.
    expect(gpio_notify(20, 1)).toBe(0);
    expect(gpioPendingEdges(20)).toBe(1);
  });
  it("one app blocked in wait_any suspends only itself", () => {
    boot();
    appMemoryEnable(1);
    const waiter = startApp(manifest("waiter", "000000000001", GPIO_12_13));
    const worker = startApp(manifest("worker", "000000000002"));
    expect(sched_next(0)).toBe(waiter);
    const a = syscall(waiter, SYS_GPIO_OPEN_INPUT, 12, 0, 0, 0);
    expect(waitAny(waiter, [a], -1)).toBe(SYSCALL_SUSPEND);
    block(waiter);
    for (let i = 0; i < 5; i++) {
      expect(sched_next(<f64>i)).toBe(worker);
      expect(sched_report(worker, STOP_OUT_OF_FUEL, 0, 1)).toBe(0);
    }
    expect(task_state(waiter)).toBe(TASK_BLOCKED);
    expect(gpio_notify(12, 1)).toBe(1);
    expect(sched_next(5)).toBe(waiter);
    expect(task_take_result(waiter)).toBe(1);
  });
  it("a stopped app's wait is detached: its timers ask no deadline, its inputs wake nobody", () => {
    const t = runningApp();
    const a = syscall(t, SYS_GPIO_OPEN_INPUT, 12, 0, 0, 0);
    const timer = syscall(t, SYS_TIMER_CREATE, 40, 0, 0, 0);
    expect(waitAny(t, [a, timer], 1000)).toBe(SYSCALL_SUSPEND);
    block(t);
    expect(sched_next_deadline_ms()).toBe(40);
    expect(app_stop(task_app(t))).toBe(0);
    expect(sched_next_deadline_ms()).toBe(-1);
    expect(gpio_notify(12, 1)).toBe(0);
    expect(gpioPendingEdges(12)).toBe(0);
    setClockMs(2000);
    expect(sched_next(2000)).toBe(-EAGAIN);
  });
});
