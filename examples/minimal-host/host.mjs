// A minimal wasphere host (DESIGN.md, Embedding): core.wasm, one app instrumented ahead of time
// (`wasphere instrument`), a virtual clock, GPIO outputs reported to `onGpio`. No Device class, no
// binaryen, no Node API: any engine with WebAssembly runs it. It skips what a real host adds
// (several apps, inputs, flash, the audit ring) and shows the call order and the slice protocol.
// The app imports by syscall number (ABI.md, "App imports"); an import is only the name and number.
const SYSCALLS = Object.entries({ exit: 0, yield: 1, sleep_ms: 2, clock_ms: 3, log: 4, gpio_open_output: 5, gpio_open_input: 6, gpio_set: 7,
  gpio_get: 8, close: 9, timer_create: 10, wait: 11, mem_quota_bytes: 12, mem_in_use_bytes: 13, mem_peak_bytes: 14, args_get: 15,
  storage_open: 32, storage_read: 33, storage_write: 34, storage_seek: 35, storage_truncate: 36, storage_delete: 37, storage_usage: 38, package_open: 39 });
const [YIELDED, BLOCKED, OUT_OF_FUEL, EXITED, TRAPPED] = [0, 1, 2, 3, 4], SUSPEND = -65536, EFAULT = -14, ENODEV = -19;
class Exit { constructor(code) { this.code = code; } }

export async function runMinimalHost({ coreBytes, manifestBytes, appBytes, untilMs, onGpio = () => {}, onLog = () => {} }) {
  let now = 0, app = null, fresh = true, why = OUT_OF_FUEL, over = 0;
  const core = () => new Uint8Array(k.memory.buffer), appMem = () => new Uint8Array(app.exports.memory.buffer);
  const inApp = (p, n) => app && (p >>> 0) + (n >>> 0) <= appMem().length; // own bounds check: never trust a pointer
  // Bytes into memory the core hands out (cabi_realloc): the only core memory a host may write, with a return area.
  const lower = (bytes) => { const p = x.cabi_realloc(0, 0, 1, bytes.length); core().set(bytes, p); return p; };
  const ret = (r, tag, a, b = 0) => { const v = new DataView(x.memory.buffer); v.setUint8(r, tag); v.setInt32(r + 4, a, true); v.setInt32(r + 8, b, true); };
  const hal = { // wit/wasphere.wit's hal, as the canonical ABI lowers it
    "clock-now-ms": () => now, "gpio-read": () => 0, "flash-sync": () => 0,
    "gpio-configure": (pin, dir, v) => (dir === 1 && onGpio(now, pin, v), 0), "gpio-write": (pin, v) => (onGpio(now, pin, v), 0),
    "log-write": (task, p, n) => onLog(now, core().slice(p, p + n)),
    "app-copy-in": (task, ap, n, r) => (inApp(ap, n) ? ret(r, 0, lower(appMem().slice(ap >>> 0, (ap >>> 0) + (n >>> 0))), n) : ret(r, 1, EFAULT)),
    "app-copy-out": (task, ap, cp, n) => (inApp(ap, n) ? (appMem().set(core().subarray(cp, cp + (n >>> 0)), ap >>> 0), 0) : EFAULT),
    "app-memory-bytes": () => (app ? appMem().length : 0),
    "flash-read": (b, o, n, r) => ret(r, 1, ENODEV), "flash-prog": () => ENODEV, "flash-erase": () => ENODEV,
    "periph-control": () => ENODEV, "periph-read": (id, fn, op, arg, p, n, max, r) => ret(r, 1, ENODEV), // no peripherals here
    "mailbox-post": () => ENODEV, // nor a security processor
    "net-control": () => ENODEV, "net-read": (s, op, arg, max, r) => ret(r, 1, ENODEV), // nor a network
    "panic": () => { throw new Error("core panic"); },
  };
  const x = (await WebAssembly.instantiate(coreBytes, { "wasphere:core/hal@0.1.0": hal })).instance.exports;
  const k = Object.fromEntries(Object.entries(x).map(([n, f]) => [n.replace(/^.*#/, "").replace(/-/g, "_"), f])); // kernel by WIT name
  if (k.core_boot(96, 262144, 262144) < 0) throw new Error("core_boot failed");
  const slot = k.app_install(lower(manifestBytes), manifestBytes.length);
  if (slot < 0) throw new Error(`manifest refused (${slot})`);
  const task = k.app_start(slot), module = await WebAssembly.compile(appBytes);
  const unwind = (reason) => { // the save area is [16, 8192) of the app's memory, its header at 8
    const v = new DataView(app.exports.memory.buffer); v.setInt32(8, 16, true); v.setInt32(12, 8192, true);
    why = reason; app.exports.asyncify_start_unwind(8);
  };
  const rewinding = () => app.exports.asyncify_get_state() === 2;
  const applibs = Object.fromEntries(SYSCALLS.map(([name, nr]) => [name, (a0 = 0, a1 = 0, a2 = 0, a3 = 0) => {
    if (rewinding()) { app.exports.asyncify_stop_rewind(); return k.task_take_result(task); } // resumed: the result
    const rc = k.syscall(task, nr, a0, a1, a2, a3);
    if (nr === 0) throw new Exit(a0);
    if ((nr === 1 && rc >= 0) || rc === SUSPEND) unwind(nr === 1 ? YIELDED : BLOCKED);
    return rc;
  }]));
  const preempt = () => (rewinding() ? app.exports.asyncify_stop_rewind() : unwind(OUT_OF_FUEL));
  // The syscall gates (SPEC.md): the app's non-blocking calls reach the core's syscall_charged
  // itself and charge their fuel; a charge past -1 leaves the excess to the host. No wall budget.
  const fuelLeft = () => app.exports.__wasphere_fuel;
  const gates = { syscall_charged: k.syscall_charged, task, walled: 0, wall: () => {},
    over: (cost) => { over += -1 - (fuelLeft().value - cost); fuelLeft().value = -1; } };
  while (now < untilMs) {
    const t = k.sched_next(now);
    if (t < 0) { const d = k.sched_next_deadline_ms(); if (d < 0) break; now = Math.max(now, Math.min(d, untilMs)); continue; }
    if (!app || k.task_needs_instance(t)) { app = new WebAssembly.Instance(module, { applibs, wasphere: { preempt, ...gates } }); fresh = true; }
    const fuel = app.exports.__wasphere_fuel, given = (fuel.value = k.sched_slice_fuel());
    over = 0;
    let stop, value = 0;
    try {
      if (!fresh) app.exports.asyncify_start_rewind(8);
      fresh = false;
      const ret = app.exports.__wasphere_entry();
      if (app.exports.asyncify_get_state() === 1) { app.exports.asyncify_stop_unwind(); stop = why; } else { stop = EXITED; value = ret; }
    } catch (e) { if (e instanceof Exit) { stop = EXITED; value = e.code; } else if (e instanceof WebAssembly.RuntimeError || e instanceof RangeError) stop = TRAPPED; else throw e; }
    const used = Math.max(0, given - fuel.value + over);
    fuel.value = 0x7fffffff; // idle: no call between slices may run out
    now += Math.max(0.001, used / 1e7);
    k.sched_report(t, stop, value, used);
  }
  return { nowMs: now };
}
