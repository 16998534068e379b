// The scheduler: priorities with round robin inside one, sleeps woken in deadline order,
// periodic timers, and waits on GPIO inputs woken by gpio_notify or by their timeout.
import { DEFAULT_PRIORITY, AGING_STEP_MS, YIELD_DEFER_MS, EAGAIN, ETIMEDOUT, SYSCALL_SUSPEND, STOP_YIELDED, STOP_BLOCKED, STOP_OUT_OF_FUEL, SYS_SLEEP_MS, SYS_TIMER_CREATE, SYS_WAIT, SYS_GPIO_OPEN_INPUT, TASK_BLOCKED, TASK_READY, TASK_RUNNING } from "../../assembly/abi";
import { sched_next, sched_report, sched_next_deadline_ms, syscall, task_take_result, task_state, gpio_notify, app_stop, task_app } from "../../assembly/exports";
import { boot, manifest, startApp, setClockMs } from "./kernel-support";

function sleepFor(task: i32, ms: i32): void {
  expect(syscall(task, SYS_SLEEP_MS, ms, 0, 0, 0)).toBe(SYSCALL_SUSPEND);
  expect(sched_report(task, STOP_BLOCKED, 0, 10)).toBe(0);
}

// Runs `other` until `yielder`, which yielded at 0, is chosen again; returns when (1 ms steps).
function backAfterMs(yielderPriority: i32, otherPriority: i32): f64 {
  boot();
  const yielder = startApp(manifest("yielder", "000000000001", ", \"Priority\": " + yielderPriority.toString()));
  const other = startApp(manifest("other", "000000000002", ", \"Priority\": " + otherPriority.toString()));
  expect(sched_next(0)).toBe(yielder);
  expect(sched_report(yielder, STOP_YIELDED, 0, 10)).toBe(0);
  let now: f64 = 0;
  while (true) {
    setClockMs(now);
    const t = sched_next(now);
    expect(sched_report(t, STOP_OUT_OF_FUEL, 0, 10)).toBe(0);
    if (t == yielder) return now;
    expect(t).toBe(other);
    now += 1;
  }
  return -1;
}

describe("sched: priorities, aging and round robin", () => {
  it("runs the best priority first, and round robin within a priority", () => {
    boot();
    const a = startApp(manifest("a", "000000000001"));
    const b = startApp(manifest("b", "000000000002"));
    const urgent = startApp(manifest("urgent", "000000000003", ", \"Priority\": 1"));
    const idle = startApp(manifest("idle", "000000000004", ", \"Priority\": 7"));
    // The urgent task runs every time it is ready and has not yielded.
    expect(sched_next(0)).toBe(urgent);
    expect(task_state(urgent)).toBe(TASK_RUNNING);
    expect(sched_report(urgent, STOP_OUT_OF_FUEL, 0, 10)).toBe(0);
    expect(sched_next(0)).toBe(urgent);
    sleepFor(urgent, 100);
    // Then a and b take turns, whether they yield or run out of fuel; idle, 3 levels down, has
    // not waited 3 aging steps yet (the clock stays at 0).
    const order: i32[] = [];
    for (let i = 0; i < 6; i++) {
      const t = sched_next(0);
      order.push(t);
      expect(sched_report(t, STOP_OUT_OF_FUEL, 0, 10)).toBe(0);
    }
    expect(order).toStrictEqual([a, b, a, b, a, b]);
    // Slices of 0.2 ms until the urgent task wakes: a and b take turns, and idle, 3 levels below
    // them, gets a turn each time it has waited 3 aging steps.
    let now: f64 = 0;
    let idleRuns = 0, aRuns = 0;
    while (now < 100) {
      const t = sched_next(now);
      if (t == idle) idleRuns++;
      if (t == a) aRuns++;
      now += 0.2;
      setClockMs(now);
      expect(sched_report(t, STOP_OUT_OF_FUEL, 0, 10)).toBe(0);
    }
    expect(idleRuns).toBeGreaterThan(10);
    expect(idleRuns).toBeLessThan(aRuns);
    // When the urgent task wakes it is chosen at the next decision, ahead of them all.
    expect(sched_next(now)).toBe(urgent);
  });
  it("ages a waiting task one level per AGING_STEP_MS: 4 levels down runs after 4 steps", () => {
    boot();
    const hog = startApp(manifest("hog", "000000000001", ", \"Priority\": 0"));
    const low = startApp(manifest("low", "000000000002"));
    let now: f64 = 0;
    // The hog runs slice after slice while low has waited less than 4 steps.
    while (now < <f64>(DEFAULT_PRIORITY * AGING_STEP_MS)) {
      setClockMs(now);
      expect(sched_next(now)).toBe(hog);
      now += 0.5;
      setClockMs(now);
      expect(sched_report(hog, STOP_OUT_OF_FUEL, 0, 10)).toBe(0);
    }
    // At 8 ms low is level 0 too, and ready longer: its turn.
    expect(now).toBe(8);
    expect(sched_next(now)).toBe(low);
    expect(sched_report(low, STOP_OUT_OF_FUEL, 0, 10)).toBe(0);
    expect(sched_next(now)).toBe(hog);
  });
  it("puts a task that yields behind the other ready tasks, of any priority, for a bounded time", () => {
    // Same priority: the yielder is back once YIELD_DEFER_MS has passed (within an aging step).
    const same = backAfterMs(4, 4);
    expect(same >= <f64>YIELD_DEFER_MS && same <= <f64>(YIELD_DEFER_MS + AGING_STEP_MS)).toBe(true);
    // Priority 0 behind priority 7: 7 levels of the 8 the yield cost are earned back in 7 steps
    // less, so the worst task still gets turns, for about one aging step.
    const lowest = backAfterMs(0, 7);
    expect(lowest >= 1 && lowest <= <f64>(YIELD_DEFER_MS - 7 * AGING_STEP_MS + AGING_STEP_MS)).toBe(true);
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

describe("sched: the armed-timer list", () => {
  it("fires many waited-on timers in due order, equal deadlines by slot, past 2^32 ms, and skips the rest", () => {
    boot();
    // 6 ms before a 32-bit millisecond counter would wrap: deadlines on both sides of 2^32.
    const base: f64 = 4294967290;
    setClockMs(base);
    const periods: i32[] = [20, 10, 10, 5, 20, 10, 3, 5, 20, 7, 3, 10];
    const tasks: i32[] = [];
    for (let k = 0; k < periods.length; k++) {
      const t = startApp(manifest("timer" + k.toString(), "0000000001" + (k < 10 ? "0" : "") + k.toString(), ", \"MemoryQuotaKiB\": 64"));
      expect(sched_next(base)).toBe(t);
      // A timer nobody waits on, due first of all: it must wake no one.
      expect(syscall(t, SYS_TIMER_CREATE, 1, 0, 0, 0)).toBeGreaterThan(0);
      const timer = syscall(t, SYS_TIMER_CREATE, periods[k], 0, 0, 0);
      expect(timer).toBeGreaterThan(0);
      expect(syscall(t, SYS_WAIT, timer, -1, 0, 0)).toBe(SYSCALL_SUSPEND);
      expect(sched_report(t, STOP_BLOCKED, 0, 1)).toBe(0);
      tasks.push(t);
    }
    expect(sched_next_deadline_ms()).toBe(base + 3);
    expect(sched_next(base + 2)).toBe(-EAGAIN);
    // At base + 10 (past 2^32) every timer of period <= 10 is due: earliest due first, equal due
    // in the order of their slots (task k's timer slot is 2k + 1).
    setClockMs(base + 10);
    const expected: i32[] = [6, 10, 3, 7, 9, 1, 2, 5, 11];
    const expirations: i32[] = [3, 3, 2, 2, 1, 1, 1, 1, 1];
    for (let i = 0; i < expected.length; i++) {
      const t = sched_next(base + 10);
      expect(t).toBe(tasks[expected[i]]);
      expect(task_take_result(t)).toBe(expirations[i]);
      // Preempted: it goes behind the others woken at this decision.
      expect(sched_report(t, STOP_OUT_OF_FUEL, 0, 1)).toBe(0);
    }
    for (let k = 0; k < periods.length; k++) expect(task_state(tasks[k])).toBe(periods[k] <= 10 ? TASK_READY : TASK_BLOCKED);
    // The three period-20 timers share one deadline; stopping the app of the first leaves two.
    expect(sched_next_deadline_ms()).toBe(base + 20);
    expect(app_stop(task_app(tasks[0]))).toBe(0);
    expect(sched_next_deadline_ms()).toBe(base + 20);
    for (let k = 0; k < periods.length; k++) if (periods[k] <= 10) expect(app_stop(task_app(tasks[k]))).toBe(0);
    setClockMs(base + 20);
    expect(sched_next(base + 20)).toBe(tasks[4]);
    expect(task_take_result(tasks[4])).toBe(1);
    expect(sched_report(tasks[4], STOP_OUT_OF_FUEL, 0, 1)).toBe(0);
    expect(sched_next(base + 20)).toBe(tasks[8]);
    expect(sched_report(tasks[8], STOP_OUT_OF_FUEL, 0, 1)).toBe(0);
    expect(sched_next_deadline_ms()).toBe(-1);
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
