// exports: the core's exports to its host: wit/wasphere.wit's `kernel` interface, lowered by the
// canonical ABI (the fs ones live in fs/exports.ts). The build renames each `name_with_underscores`
// to `wasphere:core/kernel@0.1.0#name-with-dashes` (tools/wit-exports.mjs). Each is a thin,
// checked entry into a subsystem; nothing here keeps state except through them.
// A list parameter arrives as (ptr, len) in the cabi arena (assembly/cabi.ts); an export taking
// one resets the arena on every return. A result that does not flatten to one value is written
// to the export return area, whose address is returned.
// Must not: trap on any argument a host passes, or allocate.
import {
  CORE_VERSION_MAJOR, CORE_VERSION_MINOR, CORE_VERSION_PATCH, CABI_ARENA_BYTES, SLICE_FUEL, MAX_GPIO_PINS,
  EINVAL, ENOENT, ENODEV, EAGAIN, EPERM, EBUSY, TASK_FREE, APP_FIELD_QUOTA_BYTES, APP_FIELD_STATE, APP_FIELD_TASK, APP_FIELD_CRASHES,
  APP_FIELD_RESTARTS, APP_FIELD_PRIORITY, APP_FIELD_SLICES, APP_FIELD_FUEL_KILO, APP_FIELD_MEM_PEAK_BYTES,
  APP_FIELD_CPU_BUDGET_KFUEL, APP_FIELD_CPU_WINDOW_KFUEL, APP_FIELD_CPU_THROTTLED_MS, APP_FIELD_STORAGE_QUOTA_BYTES, APP_FIELD_STORAGE_USED_BYTES,
  APP_STRING_NAME, APP_STRING_COMPONENT_ID, APP_STRING_ENTRY_POINT, APP_STRING_CMD_ARGS,
} from "./abi";
import { staticBytes, heapInUseBytes, heapPeakBytes, heapSpanBytes, appReservedTotalBytes, freeBytes } from "./kmem";
import { msgPtr, msgLen } from "./util/msg";
import { exportRet, retList, retErr, arenaHolds, arenaReset } from "./cabi";
import { guidWrite } from "./util/guid";
import { AUDIT_TABLE_BYTES, auditCount, auditField, auditTimeMs } from "./audit/ring";
import { HANDLE_TABLE_BYTES, HANDLE_ROW_BYTES, handlesHeldBy } from "./handles/table";
import { TASK_TABLE_BYTES, TASK_ROW_BYTES, taskAt, taskValid, taskLive } from "./task/table";
import { dispatchSyscall, taskTakeFuel } from "./drivers/dispatch";
import { SCHED_TABLE_BYTES, schedNext, schedNextDeadlineMs, schedNow } from "./sched/scheduler";
import { budgetWindowFuel, budgetThrottledMs } from "./sched/budget";
import { TIMER_TABLE_BYTES } from "./sched/timers";
import { SHARE_TABLE_BYTES } from "./sched/share";
import { STORAGE_OPEN_TABLE_BYTES, storageUsage } from "./storage/open";
import { RATE_TABLE_BYTES } from "./audit/rate";
import { CAPS_TABLE_BYTES, CAPS_ROW_BYTES, capsOf } from "./lsm/caps";
import { DRIVERS_TABLE_BYTES } from "./drivers/registry";
import { GPIO_TABLE_BYTES, gpioNotify } from "./drivers/gpio";
import { HANDLE_UNIT_TABLE_BYTES } from "./drivers/handle";
import { WAITSET_TABLE_BYTES } from "./drivers/waitset";
import { APPS_TABLE_BYTES, APPS_ROW_BYTES, appAt, appValid, appNamePtr, appEntryPtr, appArgsPtr, deviceGpioPinCount, appsInstalledCount } from "./appmgr/apps";
import { BOARD_TABLE_BYTES, boardAdd } from "./board/board";
import { PERIPH_TABLE_BYTES, periphNotify } from "./drivers/periph";
import { CHANNEL_TABLE_BYTES } from "./drivers/channel";
import { CRYPTO_TABLE_BYTES, cryptoDeliver } from "./drivers/crypto";
import { NET_TABLE_BYTES, netNotify } from "./drivers/net";
import { SYSTIME_TABLE_BYTES, systimeNowMs, systimeSet } from "./drivers/systime";
import { SYSEVENT_TABLE_BYTES } from "./drivers/sysevent";
import { coreBoot, coreBooted, appInstall, appInstallRefused, appUninstall, appStart, appStop, appState, schedReport } from "./appmgr/lifecycle";

// ---- Boot, identity, buffers.

export function core_boot(gpioPinCount: i32, appQuotaCeilingBytes: i32, defaultAppQuotaBytes: i32): i32 {
  return coreBoot(gpioPinCount, appQuotaCeilingBytes, defaultAppQuotaBytes);
}
/**
 * board-add(name, functions, channels, pins): adds one interface of the board description
 * (board/board.ts) after core_boot and before installs name it. Its id, or -errno (-EPERM before
 * boot, or once an app is installed: ids a manifest resolved must not change meaning).
 */
export function board_add(namePtr: usize, nameLen: i32, functions: i32, channels: i32, pinsPtr: usize, pinsLen: i32): i32 {
  let rc: i32;
  if (!arenaHolds(namePtr, nameLen) || !arenaHolds(pinsPtr, pinsLen)) rc = -EINVAL;
  else if (!coreBooted()) rc = -EPERM;
  else if (appsInstalledCount() != 0) rc = -EBUSY;
  else rc = boardAdd(namePtr, nameLen, functions, channels, pinsPtr, pinsLen, deviceGpioPinCount());
  arenaReset();
  return rc;
}

export function core_version(): i32 { return (CORE_VERSION_MAJOR << 16) | (CORE_VERSION_MINOR << 8) | CORE_VERSION_PATCH; }
/** list<u8>: (ptr, len) of the message in the return area. */
export function core_error_message(): usize {
  store<u32>(exportRet, <u32>msgPtr());
  store<u32>(exportRet, <u32>msgLen(), 4);
  return exportRet;
}
// The canonical ABI's allocator and its arena (assembly/cabi.ts).
export { cabi_realloc } from "./cabi";

// ---- The memory map.

export function mem_static_bytes(): i32 { return <i32>staticBytes(); }
export function mem_heap_in_use_bytes(): i32 { return <i32>heapInUseBytes(); }
export function mem_heap_peak_bytes(): i32 { return <i32>heapPeakBytes(); }
export function mem_heap_span_bytes(): i32 { return <i32>heapSpanBytes(); }
export function mem_app_reserved_bytes(): i32 { return <i32>appReservedTotalBytes(); }
export function mem_free_bytes(): i32 { return <i32>freeBytes(); }
/** The kernel's fixed tables: tasks, apps (with crash history and pin owners), capabilities,
 *  handles, timers, per-app pool shares, scheduler queues, syscall routing and policy, open pins and their
 *  latches, the wait sets of blocked tasks, the audit ring, the per-app rate limits, the open storage
 *  files, the board's interfaces and their open state, the channel table, the security processor's
 *  outstanding requests. */
export function mem_cabi_arena_bytes(): i32 { return CABI_ARENA_BYTES; }
export function mem_table_bytes(): i32 {
  return TASK_TABLE_BYTES + APPS_TABLE_BYTES + CAPS_TABLE_BYTES + HANDLE_TABLE_BYTES + TIMER_TABLE_BYTES +
    SHARE_TABLE_BYTES + SCHED_TABLE_BYTES + DRIVERS_TABLE_BYTES + GPIO_TABLE_BYTES + HANDLE_UNIT_TABLE_BYTES + WAITSET_TABLE_BYTES +
    AUDIT_TABLE_BYTES + RATE_TABLE_BYTES + STORAGE_OPEN_TABLE_BYTES + BOARD_TABLE_BYTES + PERIPH_TABLE_BYTES + CHANNEL_TABLE_BYTES +
    CRYPTO_TABLE_BYTES + NET_TABLE_BYTES + SYSTIME_TABLE_BYTES + SYSEVENT_TABLE_BYTES;
}

// ---- Apps.

export function app_install(manifestPtr: usize, manifestLen: i32): i32 {
  const rc = arenaHolds(manifestPtr, manifestLen) ? appInstall(manifestPtr, manifestLen, false) : appInstallRefused(manifestLen);
  arenaReset();
  return rc;
}
/**
 * app-install-system(manifest): a system app of the OS image (the network manager): as
 * app-install, and its manifest may hold the system capabilities (SPEC.md, "Capabilities").
 */
export function app_install_system(manifestPtr: usize, manifestLen: i32): i32 {
  const rc = arenaHolds(manifestPtr, manifestLen) ? appInstall(manifestPtr, manifestLen, true) : appInstallRefused(manifestLen);
  arenaReset();
  return rc;
}
export function app_uninstall(slot: i32): i32 { return appUninstall(slot); }
export function app_start(slot: i32): i32 { return appStart(slot); }
export function app_stop(slot: i32): i32 { return appStop(slot); }

export function app_field(slot: i32, field: i32): i32 {
  if (!appValid(slot)) return -ENOENT;
  const app = appAt(slot);
  switch (field) {
    case APP_FIELD_QUOTA_BYTES: return app.quotaBytes;
    case APP_FIELD_STATE: return appState(slot);
    case APP_FIELD_TASK: return taskLive(app.task) ? app.task : -ENOENT;
    case APP_FIELD_CRASHES: return app.crashes;
    case APP_FIELD_RESTARTS: return app.restarts;
    case APP_FIELD_PRIORITY: return app.priority;
    case APP_FIELD_SLICES: return app.slicesRun;
    case APP_FIELD_FUEL_KILO: return saturatedI32(app.fuelUsed / 1000);
    case APP_FIELD_MEM_PEAK_BYTES: return app.memPeakBytes;
    case APP_FIELD_CPU_BUDGET_KFUEL: return saturatedI32(app.cpuBudgetFuel / 1000);
    case APP_FIELD_CPU_WINDOW_KFUEL: return saturatedI32(budgetWindowFuel(slot, schedNow()) / 1000);
    case APP_FIELD_CPU_THROTTLED_MS: return saturatedI32(budgetThrottledMs(slot, schedNow()));
    case APP_FIELD_STORAGE_QUOTA_BYTES: return capsOf(slot).storageQuotaBytes;
    case APP_FIELD_STORAGE_USED_BYTES: return storageUsage(slot);
  }
  return -EINVAL;
}

/** floor(v) as an i32, saturated at i32.MAX_VALUE (v >= 0). */
function saturatedI32(v: f64): i32 {
  const n = Math.floor(v);
  return n >= <f64>i32.MAX_VALUE ? i32.MAX_VALUE : <i32>n;
}

// The ComponentId as text (36 bytes), for app_string.
const GUID_TEXT_BYTES: i32 = 40;
const guidText = memory.data(GUID_TEXT_BYTES);

/** result<list<u8>, s32>: the bytes stay where the core keeps them (valid until the next call). */
export function app_string(slot: i32, which: i32): usize {
  if (!appValid(slot)) return retErr(-ENOENT);
  const app = appAt(slot);
  switch (which) {
    case APP_STRING_NAME: return retList(appNamePtr(slot), app.nameLen);
    case APP_STRING_COMPONENT_ID: return retList(guidText, guidWrite(guidText, app.idHi, app.idLo));
    case APP_STRING_ENTRY_POINT: return retList(appEntryPtr(slot), app.entryLen);
    case APP_STRING_CMD_ARGS: return retList(appArgsPtr(slot), app.argsLen);
  }
  return retErr(-EINVAL);
}

/**
 * What app `slot` costs the core: its strings on the heap, plus its share of the fixed tables
 * (its app and capability rows, its task row while it runs, and each handle row it holds).
 */
export function app_core_bytes(slot: i32): i32 {
  if (!appValid(slot)) return -ENOENT;
  const app = appAt(slot);
  let bytes = app.stringsBytes + APPS_ROW_BYTES + CAPS_ROW_BYTES;
  if (taskLive(app.task)) bytes += TASK_ROW_BYTES + handlesHeldBy(app.task) * HANDLE_ROW_BYTES;
  return bytes;
}

// ---- Scheduling.

export function sched_next(nowMs: f64): i32 { return coreBooted() ? schedNext(nowMs) : -EAGAIN; }
export function sched_slice_fuel(): i32 { return SLICE_FUEL; }
export function sched_next_deadline_ms(): f64 { return schedNextDeadlineMs(); }
export function sched_report(task: i32, reason: i32, value: i32, fuelUsed: i32): i32 { return schedReport(task, reason, value, fuelUsed); }

export function task_state(task: i32): i32 { return taskValid(task) ? taskAt(task).state : -EINVAL; }
export function task_app(task: i32): i32 { return taskValid(task) && taskAt(task).state != TASK_FREE ? taskAt(task).app : -ENOENT; }
export function task_needs_instance(task: i32): i32 { return taskValid(task) ? taskAt(task).needsInstance : 0; }
export function task_take_result(task: i32): i32 {
  if (!taskValid(task)) return -EINVAL;
  const t = taskAt(task);
  const result = t.result;
  t.result = 0;
  return result;
}

export function syscall(task: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  // syscall takes no list, so nothing in the arena can be meant for it: a list a host lowered
  // and never passed is dropped here, and an app's log line always finds room.
  arenaReset();
  return dispatchSyscall(task, nr, a0, a1, a2, a3);
}
export function task_take_fuel(task: i32): i32 { return taskTakeFuel(task); }
/**
 * syscall-charged: `syscall` and then `task_take_fuel`, in one call: the result's low 32 bits are
 * the syscall's result, its high 32 the fuel owed (what task_take_fuel would answer next). One
 * export where there were two because an app's syscall gates (host/apps/instrument-gates.ts) make
 * this call for every non-blocking syscall, and each call across instances costs as much as the check.
 */
export function syscall_charged(task: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i64 {
  const rc = syscall(task, nr, a0, a1, a2, a3);
  return (<i64>taskTakeFuel(task) << 32) | <i64>(<u32>rc);
}

/** periph-notify(id): the host has input for board interface `id` (a UART received bytes). Tasks woken (0 or 1). */
export function periph_notify(id: i32): i32 { return periphNotify(id); }

/**
 * mailbox-deliver(frame): the security processor's response to a request the core posted
 * (drivers/crypto.ts): 1 when it woke the task waiting for it, 0 when that task ended (dropped),
 * or -errno changing nothing (-EINVAL malformed, -ENOENT not outstanding, -EMSGSIZE wrong length).
 */
export function mailbox_deliver(framePtr: usize, frameLen: i32): i32 {
  const rc = arenaHolds(framePtr, frameLen) ? cryptoDeliver(framePtr, frameLen) : -EINVAL;
  arenaReset();
  return rc;
}

/** net-notify(socket): the host has news for socket `socket` (drivers/net.ts). Tasks woken (0 or 1), or -EINVAL. */
export function net_notify(socket: i32): i32 { return netNotify(socket); }

export function gpio_notify(pin: i32, value: i32): i32 {
  if (pin < 0 || pin >= deviceGpioPinCount() || pin >= MAX_GPIO_PINS) return -ENODEV;
  return gpioNotify(pin, value != 0 ? 1 : 0);
}

/**
 * clock-set-utc-ms(utc-ms): the host's real-time clock reading, at boot, sets the device's UTC
 * clock (drivers/systime.ts): 0, or -EINVAL for a time outside 0..TIME_MAX_MS or not whole.
 */
export function clock_set_utc_ms(utcMs: f64): i32 { return systimeSet(utcMs); }
/** clock-utc-ms(): the device's UTC clock now (what time_get gives), whole ms since the Unix epoch. */
export function clock_utc_ms(): f64 { return systimeNowMs(); }

// ---- Audit ring.

export function audit_total(): i32 { return auditCount(); }
export function audit_field(seq: i32, field: i32): i32 { return auditField(seq, field); }
export function audit_time_ms(seq: i32): f64 { return auditTimeMs(seq); }
