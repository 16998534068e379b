// The scheduler: priorities with round robin inside one, sleeps woken in deadline order,
// periodic timers, and waits on GPIO inputs woken by gpio_notify or by their timeout.
import { EAGAIN, ETIMEDOUT, SYSCALL_SUSPEND, STOP_YIELDED, STOP_BLOCKED, STOP_OUT_OF_FUEL, SYS_SLEEP_MS, SYS_TIMER_CREATE, SYS_WAIT, SYS_GPIO_OPEN_INPUT, TASK_BLOCKED, TASK_READY, TASK_RUNNING } from "../../assembly/abi";
import { sched_next, sched_report, sched_next_deadline_ms, syscall, task_take_result, task_state, gpio_notify } from "../../assembly/exports";
import { boot, manifest, startApp, setClockMs } from "./kernel-support";

function sleepFor(task: i32, ms: i32): void {
  expect(syscall(task, SYS_SLEEP_MS, ms, 0, 0, 0)).toBe(SYSCALL_SUSPEND);
  expect(sched_report(task, STOP_BLOCKED, 0, 10)).toBe(0);
}

describe("sched: priorities and round robin", () => {
  it("runs the best priority first, and round robin within a priority", () => {
    boot();
    const a = startApp(manifest("a", "000000000001"));
    const b = startApp(manifest("b", "000000000002"));
    const urgent = startApp(manifest("urgent", "000000000003", ", \"Priority\": 1"));
    const idle = startApp(manifest("idle", "000000000004", ", \"Priority\": 7"));
    // The urgent task runs every time it is ready, however often it yields.
    expect(sched_next(0)).toBe(urgent);
    expect(task_state(urgent)).toBe(TASK_RUNNING);
    expect(sched_report(urgent, STOP_YIELDED, 0, 10)).toBe(0);
    expect(sched_next(0)).toBe(urgent);
    sleepFor(urgent, 100);
    // Then a and b take turns, whether they yield or run out of fuel; idle never gets a turn.
    const order: i32[] = [];
    for (let i = 0; i < 6; i++) {
      const t = sched_next(10);
      order.push(t);
      expect(sched_report(t, i % 2 ? STOP_OUT_OF_FUEL : STOP_YIELDED, 0, 10)).toBe(0);
    }
    expect(order).toStrictEqual([a, b, a, b, a, b]);
    // When the urgent task wakes it is chosen at the next decision, ahead of a.
    expect(sched_next(100)).toBe(urgent);
    sleepFor(urgent, 1000);
    expect(sched_next(100)).toBe(a);
    expect(sched_report(a, STOP_YIELDED, 0, 10)).toBe(0);
    expect(sched_next(100)).toBe(b);
    sleepFor(b, 1000);
    expect(sched_next(100)).toBe(a);
    sleepFor(a, 1000);
    // Only when every better task is blocked does the lowest priority run.
    expect(sched_next(100)).toBe(idle);
  });
  it("returns -EAGAIN when nothing is ready, and -1 as the deadline when nothing is pending", () => {
    boot();
    expect(sched_next(0)).toBe(-EAGAIN);
    expect(sched_next_deadline_ms()).toBe(-1);
  });
});

describe("sched: sleeps", () => {
  it("wakes sleepers in deadline order, and reports the earliest deadline", () => {
    boot();
    const t30 = startApp(manifest("s30", "000000000001"));
    const t10 = startApp(manifest("s10", "000000000002"));
    const t20 = startApp(manifest("s20", "000000000003"));
    expect(sched_next(0)).toBe(t30); sleepFor(t30, 30);
    expect(sched_next(0)).toBe(t10); sleepFor(t10, 10);
    expect(sched_next(0)).toBe(t20); sleepFor(t20, 20);
    expect(task_state(t10)).toBe(TASK_BLOCKED);
    expect(sched_next_deadline_ms()).toBe(10);
    expect(sched_next(9)).toBe(-EAGAIN);
    setClockMs(30);
    expect(sched_next(30)).toBe(t10);
    expect(task_take_result(t10)).toBe(0);
    expect(sched_report(t10, STOP_YIELDED, 0, 1)).toBe(0);
    expect(sched_next(30)).toBe(t20);
    expect(sched_report(t20, STOP_YIELDED, 0, 1)).toBe(0);
    expect(sched_next(30)).toBe(t30);
  });
  it("measures a sleep from the host clock at the call", () => {
    boot();
    const t = startApp(manifest("s", "000000000001"));
    expect(sched_next(0)).toBe(t);
    setClockMs(40);
    sleepFor(t, 10);
    expect(sched_next_deadline_ms()).toBe(50);
  });
});

describe("sched: timers", () => {
  it("a wait on a periodic timer returns the expirations since the last wait", () => {
    boot();
    const t = startApp(manifest("ticker", "000000000001"));
    expect(sched_next(0)).toBe(t);
    const timer = syscall(t, SYS_TIMER_CREATE, 100, 0, 0, 0);
    expect(timer).toBeGreaterThan(0);
    expect(syscall(t, SYS_WAIT, timer, 0, 0, 0)).toBe(-ETIMEDOUT); // nothing yet, no waiting
    expect(syscall(t, SYS_WAIT, timer, -1, 0, 0)).toBe(SYSCALL_SUSPEND);
    expect(sched_report(t, STOP_BLOCKED, 0, 1)).toBe(0);
    expect(sched_next_deadline_ms()).toBe(100);
    // The host came back late: two periods passed.
    setClockMs(250);
    expect(sched_next(250)).toBe(t);
    expect(task_take_result(t)).toBe(2);
    expect(syscall(t, SYS_WAIT, timer, -1, 0, 0)).toBe(SYSCALL_SUSPEND);
    expect(sched_report(t, STOP_BLOCKED, 0, 1)).toBe(0);
    expect(sched_next_deadline_ms()).toBe(300);
    setClockMs(300);
    expect(sched_next(300)).toBe(t);
    expect(task_take_result(t)).toBe(1);
    // Expirations that pass while the owner runs are returned at once by the next wait.
    setClockMs(520);
    expect(syscall(t, SYS_WAIT, timer, -1, 0, 0)).toBe(2);
  });
  it("a timer wait with a timeout gives -ETIMEDOUT when the timer is slower", () => {
    boot();
    const t = startApp(manifest("ticker", "000000000001"));
    expect(sched_next(0)).toBe(t);
    const timer = syscall(t, SYS_TIMER_CREATE, 1000, 0, 0, 0);
    expect(syscall(t, SYS_WAIT, timer, 30, 0, 0)).toBe(SYSCALL_SUSPEND);
    expect(sched_report(t, STOP_BLOCKED, 0, 1)).toBe(0);
    expect(sched_next_deadline_ms()).toBe(30);
    setClockMs(30);
    expect(sched_next(30)).toBe(t);
    expect(task_take_result(t)).toBe(-ETIMEDOUT);
  });
});

describe("sched: GPIO wait queues", () => {
  it("gpio_notify wakes the waiter with the new level", () => {
    boot();
    const t = startApp(manifest("button", "000000000001", ", \"Capabilities\": {\"Gpio\": [12]}"));
    expect(sched_next(0)).toBe(t);
    const button = syscall(t, SYS_GPIO_OPEN_INPUT, 12, 0, 0, 0);
    expect(button).toBeGreaterThan(0);
    expect(syscall(t, SYS_WAIT, button, -1, 0, 0)).toBe(SYSCALL_SUSPEND);
    expect(sched_report(t, STOP_BLOCKED, 0, 1)).toBe(0);
    expect(sched_next(1000)).toBe(-EAGAIN);
    expect(sched_next_deadline_ms()).toBe(-1);
    expect(gpio_notify(13, 1)).toBe(0); // another pin: nobody waits there
    expect(task_state(t)).toBe(TASK_BLOCKED);
    expect(gpio_notify(12, 1)).toBe(1);
    expect(task_state(t)).toBe(TASK_READY);
    expect(sched_next(1000)).toBe(t);
    expect(task_take_result(t)).toBe(1);
  });
  it("a GPIO wait times out with -ETIMEDOUT, and a later change wakes nobody", () => {
    boot();
    const t = startApp(manifest("button", "000000000001", ", \"Capabilities\": {\"Gpio\": [12]}"));
    expect(sched_next(0)).toBe(t);
    const button = syscall(t, SYS_GPIO_OPEN_INPUT, 12, 0, 0, 0);
    expect(syscall(t, SYS_WAIT, button, 50, 0, 0)).toBe(SYSCALL_SUSPEND);
    expect(sched_report(t, STOP_BLOCKED, 0, 1)).toBe(0);
    expect(sched_next(49)).toBe(-EAGAIN);
    expect(sched_next_deadline_ms()).toBe(50);
    setClockMs(50);
    expect(sched_next(50)).toBe(t);
    expect(task_take_result(t)).toBe(-ETIMEDOUT);
    expect(gpio_notify(12, 0)).toBe(0);
    expect(gpio_notify(96, 0)).toBe(-19); // not a pin of this device
  });
});
