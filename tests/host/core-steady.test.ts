// The core's memory stays flat in steady state: after boot and install, ten thousand scheduler
// rounds and syscalls of every kind (GPIO, timers, waits, sleeps, logs, args, memory queries,
// forged handles, denials) leave the core heap's in-use and peak figures exactly where they were.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as abi from "../../assembly/abi.js";
import { ModuleCore, type Core, type Hal } from "../../host/core.js";

const module = new WebAssembly.Module(readFileSync(new URL("../../../build/core.wasm", import.meta.url)));
const APP_MEMORY_BYTES = 65536;

function bootedCore(): { core: Core; clock: { nowMs: number }; logs: string[] } {
  const clock = { nowMs: 0 };
  const logs: string[] = [];
  const appMemory = new Uint8Array(APP_MEMORY_BYTES);
  appMemory.set(new TextEncoder().encode("tick"), 1024);
  const hal: Hal = {
    clockNowMs: () => clock.nowMs,
    gpioConfigure: () => 0,
    gpioWrite: () => 0,
    gpioRead: () => 1,
    logWrite: (_task, line) => { logs.push(new TextDecoder().decode(line)); },
    appCopyIn: (_task, ptr, len) => (ptr + len <= APP_MEMORY_BYTES ? appMemory.slice(ptr, ptr + len) : -abi.EFAULT),
    appCopyOut: (_task, ptr, bytes) => {
      if (ptr + bytes.length > APP_MEMORY_BYTES) return -abi.EFAULT;
      appMemory.set(bytes, ptr);
      return 0;
    },
    appMemoryBytes: () => APP_MEMORY_BYTES,
  };
  const core = new ModuleCore(hal, module);
  assert.equal(core.exports.core_boot(96, 1024 * 1024, abi.DEFAULT_APP_QUOTA_BYTES), 0);
  return { core, clock, logs };
}

function install(core: Core, manifest: Record<string, unknown>): number {
  const slot = core.exports.app_install(new TextEncoder().encode(JSON.stringify(manifest)));
  assert.ok(slot >= 0, `install: ${core.lastError()}`);
  return slot;
}

test("10,000 syscalls and scheduler rounds leave the core heap's in-use and peak unchanged", () => {
  const { core, clock, logs } = bootedCore();
  const e = core.exports;
  const blinker = install(core, {
    SchemaVersion: 1, Name: "blinker", ComponentId: "1689d8b2-c835-2e27-27ad-e894d6d15fa9",
    EntryPoint: "blinker.wasm", CmdArgs: ["--period", "10"], Capabilities: { Gpio: [8, 12] }, Priority: 2,
  });
  const ticker = install(core, {
    SchemaVersion: 1, Name: "ticker", ComponentId: "3b1f5e2a-7c44-4d8e-9a61-0f2d8c7b5e13",
    EntryPoint: "ticker.wasm", MemoryQuotaKiB: 128,
  });
  const tasks = [e.app_start(blinker), e.app_start(ticker)];
  assert.ok(tasks.every((t) => t >= 0));
  const inUse = e.mem_heap_in_use_bytes();
  const peak = e.mem_heap_peak_bytes();
  const span = e.mem_heap_span_bytes();
  assert.ok(inUse > 0, "install put the apps' strings on the heap");

  const counts = { suspended: 0, ok: 0, badf: 0, denied: 0, rounds: 0 };
  const note = (rc: number) => {
    if (rc === abi.SYSCALL_SUSPEND) counts.suspended++;
    else if (rc === -abi.EBADF) counts.badf++;
    else if (rc === -abi.EACCES) counts.denied++;
    else if (rc >= 0) counts.ok++;
  };
  let syscalls = 0;
  const call = (task: number, nr: number, a0 = 0, a1 = 0) => { syscalls++; const rc = e.syscall(task, nr, a0, a1, 0, 0); note(rc); return rc; };

  let button = 0;
  let timer = 0;
  while (syscalls < 10_000) {
    const task = e.sched_next(clock.nowMs);
    if (task < 0) {
      const deadline = e.sched_next_deadline_ms();
      assert.ok(deadline >= 0, "something is always due");
      clock.nowMs = Math.max(clock.nowMs, deadline);
      e.gpio_notify(12, counts.rounds & 1);
      continue;
    }
    counts.rounds++;
    e.task_take_result(task);
    let rc = 0;
    if (task === tasks[0]) {
      if (button === 0) button = call(task, abi.SYS_GPIO_OPEN_INPUT, 12);
      const led = call(task, abi.SYS_GPIO_OPEN_OUTPUT, 8, 0);
      call(task, abi.SYS_GPIO_SET, led, 1);
      call(task, abi.SYS_GPIO_GET, led);
      call(task, abi.SYS_CLOSE, led);
      call(task, abi.SYS_GPIO_SET, led, 0); // now stale
      call(task, abi.SYS_GPIO_OPEN_OUTPUT, 20, 0); // not granted
      call(task, abi.SYS_LOG, 1024, 4);
      call(task, abi.SYS_ARGS_GET, 2048, 64);
      // Every third round waits on the button (gpio_notify or the timeout wakes it), else sleeps.
      rc = counts.rounds % 3 === 0 ? call(task, abi.SYS_WAIT, button, 5) : call(task, abi.SYS_SLEEP_MS, 7);
    } else {
      if (timer === 0) timer = call(task, abi.SYS_TIMER_CREATE, 10);
      call(task, abi.SYS_CLOSE, call(task, abi.SYS_TIMER_CREATE, 3));
      call(task, abi.SYS_MEM_QUOTA_BYTES);
      call(task, abi.SYS_MEM_IN_USE_BYTES);
      call(task, abi.SYS_MEM_PEAK_BYTES);
      call(task, abi.SYS_CLOCK_MS);
      rc = call(task, abi.SYS_WAIT, timer, -1);
    }
    assert.equal(e.sched_report(task, rc === abi.SYSCALL_SUSPEND ? abi.STOP_BLOCKED : abi.STOP_YIELDED, 0, 1000), 0);
  }

  assert.ok(counts.rounds > 1000, `scheduler rounds: ${counts.rounds}`);
  // A wait on the button that finds an edge latched while the task slept returns at once, so
  // fewer than one round in two suspends.
  assert.ok(counts.suspended > 800 && counts.badf > 500 && counts.denied > 500 && counts.ok > 5000, JSON.stringify(counts));
  // Log lines are rate-limited per app (LOG_LINES_PER_WINDOW a RATE_WINDOW_MS of device time).
  assert.ok(logs.length >= abi.LOG_LINES_PER_WINDOW && logs.every((l) => l === "tick"), `${logs.length} log lines`);
  assert.equal(e.mem_heap_in_use_bytes(), inUse);
  assert.equal(e.mem_heap_peak_bytes(), peak);
  assert.equal(e.mem_heap_span_bytes(), span);
});

