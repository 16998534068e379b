// apps: the table of installed apps, the device's configuration, and who owns which pin.
//
// What it is: MAX_APPS fixed rows, one per installed app: its identity (ComponentId), quota,
// priority, lifecycle counters, crash history, and one kalloc'd block holding its strings
// (Name, EntryPoint, CmdArgs, the canonical AllowedConnections), sized by its manifest. pinOwner maps each GPIO pin to the one
// installed app that may use it.
// Invariants: a row with inUse == 0 owns no pin, no strings block, no task and no quota; every
// pin owned by slot s is granted in capsOf(s); ComponentIds of installed apps are distinct.
// Budget: APPS_TABLE_BYTES static bytes; Name + EntryPoint + CmdArgs + allowlist (+ 8 bytes of header) of
// heap per installed app, taken at install and returned at uninstall.
// Must not: allocate after install, or keep a pointer into the I/O buffer.
import { MAX_APPS, MAX_GPIO_PINS, RESTART_MAX_CRASHES, TASK_FREE, DEFAULT_APP_QUOTA_BYTES } from "../abi";
import { kfree } from "../kmem";
import { NO_TASK } from "../task/table";
import { capsClear } from "../lsm/caps";

@unmanaged
export class App {
  inUse: i32;
  state: i32;          // TASK_* of its main task, or its last one once it ended
  task: i32;           // main task, or NO_TASK
  priority: i32;
  quotaBytes: i32;
  reserved: i32;       // 1 while its quota is reserved from the RAM pool
  crashes: i32;        // since install
  restarts: i32;       // since install
  crashNext: i32;      // next row of its crash history to overwrite
  nameLen: i32;
  entryLen: i32;
  argsLen: i32;        // CmdArgs, each NUL-terminated
  strings: usize;      // kalloc'd: Name, then EntryPoint, then CmdArgs
  stringsBytes: i32;   // what the block costs the heap, header included
  slicesRun: i32;      // since install, all its tasks
  idHi: u64;
  idLo: u64;
  fuelUsed: f64;       // since install
  memPeakBytes: i32;   // most instance memory seen, since install
  cpuThrottled: i32;   // 1 while its tasks are held back by its CPU budget (sched/budget.ts)
  cpuBudgetFuel: f64;  // CpuBudget.FuelPerSecond, 0: none
  cpuWindow: f64;      // the budget window its use counts in: floor(core ms / CPU_BUDGET_WINDOW_MS)
  cpuWindowFuel: f64;  // fuel used in that window, with what the last window overran
  cpuThrottledSinceMs: f64; // when it was last held back
  cpuThrottledMs: f64; // device ms held back by its budget, since install, up to cpuThrottledSinceMs
}

const ROW_BYTES: usize = offsetof<App>();
// An app's row plus its crash history and its share of nothing else.
export const APPS_ROW_BYTES: i32 = <i32>ROW_BYTES + RESTART_MAX_CRASHES * 8;
const rows = memory.data(MAX_APPS * <i32>ROW_BYTES, 8);
// When each of an app's last RESTART_MAX_CRASHES crashes happened (ms, core time; -Infinity: none).
const crashLog = memory.data(MAX_APPS * RESTART_MAX_CRASHES * 8, 8);
// Owning app slot of each pin, -1 when none.
const pinOwner = memory.data(MAX_GPIO_PINS * 4, 4);
export const APPS_TABLE_BYTES: i32 = MAX_APPS * <i32>ROW_BYTES + MAX_APPS * RESTART_MAX_CRASHES * 8 + MAX_GPIO_PINS * 4;

// The device, as core_boot described it.
let gpioPinCount: i32 = 0;
let appQuotaCeilingBytes: i32 = 0;
let defaultAppQuotaBytes: i32 = DEFAULT_APP_QUOTA_BYTES;

export function deviceGpioPinCount(): i32 { return gpioPinCount; }
export function deviceQuotaCeilingBytes(): i32 { return appQuotaCeilingBytes; }
export function deviceDefaultQuotaBytes(): i32 { return defaultAppQuotaBytes; }

export function appAt(slot: i32): App { return changetype<App>(rows + <usize>slot * ROW_BYTES); }
export function appValid(slot: i32): bool { return slot >= 0 && slot < MAX_APPS && appAt(slot).inUse != 0; }

function clearRow(slot: i32): void {
  memory.fill(rows + <usize>slot * ROW_BYTES, 0, ROW_BYTES);
  for (let i = 0; i < RESTART_MAX_CRASHES; i++) store<f64>(crashLogAt(slot, i), -Infinity);
  appAt(slot).task = NO_TASK;
  appAt(slot).state = TASK_FREE;
  capsClear(slot);
}

/** Forgets every app (their strings go back to the heap) and takes the device's figures. */
export function appsReset(pins: i32, ceilingBytes: i32, defaultQuotaBytes: i32): void {
  for (let s = 0; s < MAX_APPS; s++) {
    if (appAt(s).inUse && appAt(s).strings != 0) kfree(appAt(s).strings);
    clearRow(s);
  }
  for (let p = 0; p < MAX_GPIO_PINS; p++) store<i32>(pinOwner + (<usize>p << 2), -1);
  gpioPinCount = pins;
  appQuotaCeilingBytes = ceilingBytes;
  defaultAppQuotaBytes = defaultQuotaBytes;
}

/** How many apps are installed. */
export function appsInstalledCount(): i32 {
  let n = 0;
  for (let s = 0; s < MAX_APPS; s++) if (appAt(s).inUse) n++;
  return n;
}

/** A free slot, or -1. */
export function appFreeSlot(): i32 {
  for (let s = 0; s < MAX_APPS; s++) if (!appAt(s).inUse) return s;
  return -1;
}

/** Releases a slot: its strings, its pins, its capabilities. Its task must be gone already. */
export function appRelease(slot: i32): void {
  const app = appAt(slot);
  if (app.strings != 0) kfree(app.strings);
  for (let p = 0; p < MAX_GPIO_PINS; p++) if (pinOwnerOf(p) == slot) store<i32>(pinOwner + (<usize>p << 2), -1);
  clearRow(slot);
}

/** The installed app whose ComponentId this is, or -1. */
export function appWithId(idHi: u64, idLo: u64): i32 {
  for (let s = 0; s < MAX_APPS; s++) {
    const app = appAt(s);
    if (app.inUse && app.idHi == idHi && app.idLo == idLo) return s;
  }
  return -1;
}

/** Owner slot of `pin` (0..MAX_GPIO_PINS-1), or -1. */
export function pinOwnerOf(pin: i32): i32 { return load<i32>(pinOwner + (<usize>pin << 2)); }
export function pinSetOwner(pin: i32, slot: i32): void { store<i32>(pinOwner + (<usize>pin << 2), slot); }

export function appNamePtr(slot: i32): usize { return appAt(slot).strings; }
export function appEntryPtr(slot: i32): usize { const a = appAt(slot); return a.strings + <usize>a.nameLen; }
export function appArgsPtr(slot: i32): usize { const a = appAt(slot); return a.strings + <usize>a.nameLen + <usize>a.entryLen; }
/** AllowedConnections' canonical forms (capsOf(slot).allowBytes bytes), after the CmdArgs. */
export function appAllowPtr(slot: i32): usize { const a = appAt(slot); return a.strings + <usize>a.nameLen + <usize>a.entryLen + <usize>a.argsLen; }

/** Row `i` (0..RESTART_MAX_CRASHES-1) of the app's crash history: when it crashed, -Infinity if never. */
export function crashLogAt(slot: i32, i: i32): usize {
  return crashLog + (<usize>slot * RESTART_MAX_CRASHES + <usize>i) * 8;
}
