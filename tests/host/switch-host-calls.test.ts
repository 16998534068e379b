// What one context switch asks of the host: between two apps that only yield, each round
// (sched_next, the yield, sched_report) reads the host clock exactly once, in sched_report, and
// the yielded task still goes behind the other (the rest of the scheduler's answers are the
// sched, wakeup and cpu-budget tests').
// Each reading is a call out of the core (and, on a JS host, a heap number made per call: the
// garbage a switch leaves), so a core that read it per use again fails the count.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as abi from "../../assembly/abi.js";
import { ModuleCore, type Hal } from "../../host/core.js";

const module = new WebAssembly.Module(readFileSync(new URL("../../../build/core.wasm", import.meta.url)));

function yieldingPair() {
  const clock = { nowMs: 0, reads: 0 };
  const hal: Hal = {
    clockNowMs: () => { clock.reads++; return clock.nowMs; },
    gpioConfigure: () => 0, gpioWrite: () => 0, gpioRead: () => 0,
    logWrite: () => {}, appCopyIn: () => -abi.EFAULT, appCopyOut: () => -abi.EFAULT, appMemoryBytes: () => 65536,
  };
  const core = new ModuleCore(hal, module);
  const e = core.exports;
  assert.equal(e.core_boot(96, 1024 * 1024, abi.DEFAULT_APP_QUOTA_BYTES), 0);
  const tasks = ["a", "b"].map((name, i) => {
    const slot = e.app_install(new TextEncoder().encode(JSON.stringify({
      SchemaVersion: 1, Name: name, ComponentId: `00000000-0000-4000-8000-00000000000${i + 1}`, EntryPoint: `${name}.wasm`,
    })));
    assert.ok(slot >= 0, `install: ${core.lastError()}`);
    return e.app_start(slot);
  });
  return { e, clock, tasks };
}

test("a switch between two yielding apps reads the host clock once, in sched_report", () => {
  const { e, clock, tasks } = yieldingPair();
  const order: number[] = [];
  for (let round = 0; round < 50; round++) {
    clock.nowMs += 0.25;
    clock.reads = 0;
    const task = e.sched_next(clock.nowMs);
    assert.equal(clock.reads, 0, "sched_next is given the time");
    order.push(task);
    assert.equal(e.syscall(task, abi.SYS_YIELD, 0, 0, 0, 0), 0);
    assert.equal(e.task_take_fuel(task), abi.SYSCALL_FUEL);
    assert.equal(clock.reads, 0, "a yield reads no clock");
    assert.equal(e.sched_report(task, abi.STOP_YIELDED, 0, 1000), 0);
    assert.equal(clock.reads, 1, `round ${round}: sched_report reads the clock once`);
  }
  // Each yield put its task behind the other: they alternate.
  assert.deepEqual(order, Array.from({ length: 50 }, (_, i) => tasks[i % 2]));
});
