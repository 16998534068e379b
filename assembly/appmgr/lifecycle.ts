// lifecycle: boot, install, uninstall, start, stop, and what happens when a slice ends.
//
// What it is: the app manager's decisions. Install turns an accepted manifest into an app row
// (identity, capabilities, pin ownership, strings on the heap); start reserves the app's quota
// from the RAM pool and spawns its main task; a slice's end (sched_report) requeues the task,
// ends it (exit) or applies the restart policy (trap): exponential backoff from
// RESTART_BACKOFF_BASE_MS up to RESTART_BACKOFF_MAX_MS, and giving up after RESTART_MAX_CRASHES
// crashes within RESTART_WINDOW_MS. The numbers are chosen so that the cap is reached before
// the give-up (base << (RESTART_MAX_CRASHES - 2) > cap; tests/e2e/hostile-restart checks the
// sequence). A slice's end also reports an app's counts of dropped log lines and audit entries
// once their window is over; an app's end reports them whatever the window.
// Invariants: an app's quota is reserved exactly while its main task is live (READY, RUNNING,
// BLOCKED or BACKOFF); an ended task holds no handles and sits in no queue; every refusal sets
// the error message and, for install, records EV_INSTALL_REFUSED.
// Budget: no tables of its own; the heap only at install (the app's strings).
// Must not: allocate outside install, or run a task the host has not been told about.
import {
  MAX_APPS, MAX_TASKS, MAX_GPIO_PINS, MANIFEST_MAX_BYTES, WASM_PAGE_BYTES,
  EPERM, EINVAL, ENOENT, ENOMEM, EBUSY, EEXIST, ENOSPC,
  TASK_READY, TASK_RUNNING, TASK_BLOCKED, TASK_EXITED, TASK_FAILED, TASK_BACKOFF,
  STOP_YIELDED, STOP_BLOCKED, STOP_OUT_OF_FUEL, STOP_EXITED, STOP_TRAPPED,
  EV_APP_INSTALLED, EV_INSTALL_REFUSED, EV_APP_STARTED, EV_APP_STOPPED, EV_APP_EXITED, EV_APP_TRAPPED,
  EV_APP_RESTART, EV_APP_GAVE_UP, EV_CORE_NOMEM, EV_LOG_DROPPED, EV_LIMIT, SYS_LOG, LIMIT_APPS, LIMIT_TASKS, LIMIT_APP_RAM,
  RESTART_BACKOFF_BASE_MS, RESTART_BACKOFF_MAX_MS, RESTART_MAX_CRASHES, RESTART_WINDOW_MS,
  NET_TCP, NET_UDP, NET_SERVER_PORTS_MAX,
} from "../abi";
import { app_memory_bytes } from "../hal/index";
import { kalloc, reserveAppBytes, releaseAppBytes, freeBytes } from "../kmem";
import { msgClear, msgStr, msgInt, msgBytes, msgUserBytes } from "../util/msg";
import { boardCount, boardHasPin, boardNamePtr, boardNameLen, boardReset } from "../board/board";
import { auditRecord, auditReset, auditFlushDropped } from "../audit/ring";
import { RATE_LOG, rateReset, rateResetAll, rateTakeDropped, rateTakeDroppedIfDue } from "../audit/rate";
import { handlesReset, handlesCloseAll } from "../handles/table";
import { driversReset } from "../drivers/registry";
import { timersReset } from "../sched/timers";
import { shareReset } from "../sched/share";
import { budgetInstall, budgetCharge } from "../sched/budget";
import { schedReset, schedNow, schedCurrent, schedClearCurrent, schedDetach, schedBackoff, readyPush, readyPushAt, readyPushYielded, schedBlockedSliceEnded } from "../sched/scheduler";
import { NO_TASK, taskAt, taskValid, taskLive, taskTableReset, taskSpawnMain } from "../task/table";
import { capsResetAll, capsCopy, capsHasPin, capsOf, capsInterfaceFunction, capsServesPort, capsPortAt, CAPS_STAGING } from "../lsm/caps";
import {
  App, appAt, appValid, appsReset, appFreeSlot, appRelease, appWithId, pinOwnerOf, pinSetOwner,
  crashLogAt, deviceGpioPinCount, deviceQuotaCeilingBytes, deviceDefaultQuotaBytes,
} from "./apps";
import {
  parseManifest, manifestNamePtr, manifestNameLen, manifestEntryPtr, manifestEntryLen, manifestArgsPtr,
  manifestArgsLen, manifestIdHi, manifestIdLo, manifestQuotaBytes, manifestPriority, manifestCaps, manifestCpuBudgetFuel,
  manifestAllowPtr, manifestAllowLen,
} from "./manifest";

const MEMORY_BYTES: i32 = 64 * WASM_PAGE_BYTES;
const NAME_IN_MESSAGE_BYTES: i32 = 64;
let booted: bool = false;

export function coreBooted(): bool { return booted; }

function msgAppName(slot: i32): void {
  const app = appAt(slot);
  msgUserBytes(app.strings, app.nameLen, NAME_IN_MESSAGE_BYTES);
}

/** Resets every kernel table for a device with these figures. Returns 0 or -errno. */
export function coreBoot(gpioPinCount: i32, quotaCeilingBytes: i32, defaultQuotaBytes: i32): i32 {
  msgClear();
  if (booted) { msgStr("core_boot: the core is already booted"); return -EPERM; }
  if (gpioPinCount < 0 || gpioPinCount > MAX_GPIO_PINS) {
    msgStr("core_boot: gpioPinCount must be 0 to "); msgInt(MAX_GPIO_PINS); msgStr(", not "); msgInt(gpioPinCount);
    return -EINVAL;
  }
  if (quotaCeilingBytes < WASM_PAGE_BYTES || quotaCeilingBytes > MEMORY_BYTES || quotaCeilingBytes % WASM_PAGE_BYTES != 0) {
    msgStr("core_boot: appQuotaCeilingBytes must be a multiple of 65536 from 65536 to 4194304, not "); msgInt(quotaCeilingBytes);
    return -EINVAL;
  }
  if (defaultQuotaBytes < WASM_PAGE_BYTES || defaultQuotaBytes > quotaCeilingBytes || defaultQuotaBytes % WASM_PAGE_BYTES != 0) {
    msgStr("core_boot: defaultAppQuotaBytes must be a multiple of 65536 from 65536 to the ceiling, not "); msgInt(defaultQuotaBytes);
    return -EINVAL;
  }
  kernelReset(gpioPinCount, quotaCeilingBytes, defaultQuotaBytes);
  booted = true;
  return 0;
}

function kernelReset(gpioPinCount: i32, quotaCeilingBytes: i32, defaultQuotaBytes: i32): void {
  for (let s = 0; s < MAX_APPS; s++) {
    const app = appAt(s);
    if (app.inUse && app.reserved) releaseAppBytes(<usize>app.quotaBytes);
  }
  appsReset(gpioPinCount, quotaCeilingBytes, defaultQuotaBytes);
  boardReset();
  auditReset();
  handlesReset();
  driversReset();
  timersReset();
  shareReset();
  rateResetAll();
  taskTableReset();
  schedReset();
  capsResetAll();
}

/** Lets a unit spec boot again (the core itself boots once per instance). */
export function coreRebootForSpec(gpioPinCount: i32, quotaCeilingBytes: i32, defaultQuotaBytes: i32): i32 {
  if (booted) kernelReset(gpioPinCount, quotaCeilingBytes, defaultQuotaBytes);
  booted = false;
  return coreBoot(gpioPinCount, quotaCeilingBytes, defaultQuotaBytes);
}

function refuseInstall(code: i32): i32 {
  auditRecord(EV_INSTALL_REFUSED, NO_TASK, -1, -1, 0, code);
  return code;
}

/** A manifest the host did not lower into the cabi arena (or of a negative length): refused. */
export function appInstallRefused(manifestBytes: i32): i32 {
  msgClear();
  if (!booted) { msgStr("app_install: the core is not booted"); return -EPERM; }
  msgStr("manifest: "); msgInt(manifestBytes); msgStr(" bytes outside the cabi arena");
  return refuseInstall(-EINVAL);
}

/** Installs the manifest of `manifestBytes` bytes at `manifestPtr` (in the cabi arena). The slot, or -errno. */
export function appInstall(manifestPtr: usize, manifestBytes: i32, system: bool): i32 {
  msgClear();
  if (!booted) { msgStr("app_install: the core is not booted"); return -EPERM; }
  if (manifestBytes < 0 || manifestBytes > MANIFEST_MAX_BYTES) {
    msgStr("manifest: "); msgInt(manifestBytes); msgStr(" bytes; the limit is "); msgInt(MANIFEST_MAX_BYTES);
    return refuseInstall(-EINVAL);
  }
  const rc = parseManifest(manifestPtr, manifestBytes, deviceGpioPinCount(), deviceQuotaCeilingBytes(), deviceDefaultQuotaBytes(), system);
  if (rc < 0) return refuseInstall(rc);

  const idHi = manifestIdHi(), idLo = manifestIdLo();
  const twin = appWithId(idHi, idLo);
  if (twin >= 0) {
    msgClear(); msgStr("ComponentId: already installed, as \""); msgAppName(twin); msgStr("\"");
    return refuseInstall(-EEXIST);
  }
  const pins = deviceGpioPinCount();
  for (let pin = 0; pin < pins; pin++) {
    if (!capsHasPin(manifestCaps(), pin)) continue;
    const owner = pinOwnerOf(pin);
    if (owner < 0) continue;
    msgClear(); msgStr("Capabilities.Gpio: pin "); msgInt(pin); msgStr(" is owned by \""); msgAppName(owner); msgStr("\", which is installed");
    return refuseInstall(-EBUSY);
  }
  const claim = interfaceClaimRefused(pins);
  if (claim < 0) return refuseInstall(claim);
  const portClaim = portClaimRefused();
  if (portClaim < 0) return refuseInstall(portClaim);
  const slot = appFreeSlot();
  if (slot < 0) {
    msgClear(); msgStr("manifest: app table full (MAX_APPS="); msgInt(MAX_APPS); msgStr("): uninstall an app first");
    auditRecord(EV_LIMIT, NO_TASK, -1, -1, LIMIT_APPS, -ENOSPC);
    return refuseInstall(-ENOSPC);
  }
  const nameLen = manifestNameLen(), entryLen = manifestEntryLen(), argsLen = manifestArgsLen();
  const allowLen = manifestAllowLen();
  const stringsLen = nameLen + entryLen + argsLen + allowLen;
  const strings = kalloc(<usize>stringsLen);
  if (strings == 0) {
    auditRecord(EV_CORE_NOMEM, NO_TASK, -1, -1, stringsLen, -ENOMEM);
    msgClear(); msgStr("manifest: the core is out of memory for the app's "); msgInt(stringsLen); msgStr(" bytes of strings");
    return refuseInstall(-ENOMEM);
  }
  memory.copy(strings, manifestNamePtr(), <usize>nameLen);
  memory.copy(strings + <usize>nameLen, manifestEntryPtr(), <usize>entryLen);
  memory.copy(strings + <usize>(nameLen + entryLen), manifestArgsPtr(), <usize>argsLen);
  memory.copy(strings + <usize>(nameLen + entryLen + argsLen), manifestAllowPtr(), <usize>allowLen);

  const app = appAt(slot);
  app.inUse = 1;
  app.task = NO_TASK;
  app.priority = manifestPriority();
  app.quotaBytes = manifestQuotaBytes();
  app.idHi = idHi;
  app.idLo = idLo;
  app.strings = strings;
  app.stringsBytes = (stringsLen + 8 + 7) & ~7; // kmem's header and alignment
  app.nameLen = nameLen;
  app.entryLen = entryLen;
  app.argsLen = argsLen;
  budgetInstall(slot, manifestCpuBudgetFuel());
  capsCopy(CAPS_STAGING, slot);
  for (let pin = 0; pin < pins; pin++) if (capsHasPin(manifestCaps(), pin)) pinSetOwner(pin, slot);
  // An interface's muxed pins are the app's too, so no other app can claim them as GPIO.
  for (let id = 0; id < boardCount(); id++) {
    if (capsInterfaceFunction(manifestCaps(), id) == 0) continue;
    for (let pin = 0; pin < pins; pin++) if (boardHasPin(id, pin)) pinSetOwner(pin, slot);
  }
  auditRecord(EV_APP_INSTALLED, NO_TASK, slot, -1, 0, slot);
  return slot;
}

/**
 * Refuses a staged manifest's interfaces that another installed app owns (each interface serves
 * one app), whose muxed pins another app owns, or whose pins the manifest also claims as GPIO.
 * 0, or -EBUSY / -EINVAL with the message set.
 */
function interfaceClaimRefused(pins: i32): i32 {
  const caps = manifestCaps();
  for (let id = 0; id < boardCount(); id++) {
    const fn = capsInterfaceFunction(caps, id);
    if (fn == 0) continue;
    for (let s = 0; s < MAX_APPS; s++) {
      if (!appValid(s) || capsInterfaceFunction(capsOf(s), id) == 0) continue;
      msgClear(); msgStr("Capabilities: interface "); msgBytes(boardNamePtr(id), boardNameLen(id));
      msgStr(" is owned by \""); msgAppName(s); msgStr("\", which is installed");
      return -EBUSY;
    }
    for (let pin = 0; pin < pins; pin++) {
      if (!boardHasPin(id, pin)) continue;
      if (capsHasPin(caps, pin)) {
        msgClear(); msgStr("Capabilities.Gpio: pin "); msgInt(pin); msgStr(" is muxed by interface ");
        msgBytes(boardNamePtr(id), boardNameLen(id)); msgStr(", which this manifest also claims");
        return -EINVAL;
      }
      const owner = pinOwnerOf(pin);
      if (owner < 0) continue;
      msgClear(); msgStr("Capabilities: interface "); msgBytes(boardNamePtr(id), boardNameLen(id));
      msgStr(" muxes pin "); msgInt(pin); msgStr(", which \""); msgAppName(owner); msgStr("\" owns");
      return -EBUSY;
    }
  }
  return 0;
}

/**
 * Refuses a staged manifest's server ports that another installed app declared for the same
 * protocol (a port serves one app). 0, or -EBUSY with the message set.
 */
function portClaimRefused(): i32 {
  const caps = manifestCaps();
  for (let protocol = NET_TCP; protocol <= NET_UDP; protocol++) {
    for (let i = 0; i < NET_SERVER_PORTS_MAX; i++) {
      const port = capsPortAt(caps, protocol, i);
      if (port == 0) continue;
      for (let s = 0; s < MAX_APPS; s++) {
        if (!appValid(s) || !capsServesPort(capsOf(s), protocol, port)) continue;
        msgClear(); msgStr(protocol == NET_TCP ? "Capabilities.AllowedTcpServerPorts: port " : "Capabilities.AllowedUdpServerPorts: port ");
        msgInt(port); msgStr(" is owned by \""); msgAppName(s); msgStr("\", which is installed");
        return -EBUSY;
      }
    }
  }
  return 0;
}

/** Removes an installed app; a running one is stopped first. 0 or -errno. */
export function appUninstall(slot: i32): i32 {
  msgClear();
  if (!appValid(slot)) { msgStr("app_uninstall: no app is installed in slot "); msgInt(slot); return -ENOENT; }
  const app = appAt(slot);
  if (taskLive(app.task)) appStop(slot);
  appRelease(slot);
  return 0;
}

/** Starts an installed app: reserves its quota and spawns its main task. The task, or -errno. */
export function appStart(slot: i32): i32 {
  msgClear();
  if (!appValid(slot)) { msgStr("app_start: no app is installed in slot "); msgInt(slot); return -ENOENT; }
  const app = appAt(slot);
  if (taskLive(app.task)) { msgAppName(slot); msgStr(": already running"); return -EBUSY; }
  if (!reserveAppBytes(<usize>app.quotaBytes)) {
    msgAppName(slot); msgStr(": its quota of "); msgInt(app.quotaBytes); msgStr(" bytes does not fit the app RAM pool; ");
    msgInt(<i64>freeBytes()); msgStr(" bytes are free (the 4 MiB less the core and the running apps' quotas)");
    auditRecord(EV_LIMIT, NO_TASK, slot, -1, LIMIT_APP_RAM, -ENOMEM);
    return -ENOMEM;
  }
  const t = taskSpawnMain(slot, app.idHi, app.idLo, app.priority);
  if (t == NO_TASK) {
    releaseAppBytes(<usize>app.quotaBytes);
    msgAppName(slot); msgStr(": task table full (MAX_TASKS="); msgInt(MAX_TASKS); msgStr(")");
    auditRecord(EV_LIMIT, NO_TASK, slot, -1, LIMIT_TASKS, -ENOMEM);
    return -ENOMEM;
  }
  app.reserved = 1;
  app.task = t;
  app.state = TASK_READY;
  // A fresh start forgets earlier crashes: the restart policy judges this run.
  for (let i = 0; i < RESTART_MAX_CRASHES; i++) store<f64>(crashLogAt(slot, i), -Infinity);
  rateReset(slot);
  readyPush(t);
  auditRecord(EV_APP_STARTED, t, slot, -1, 0, t);
  return t;
}

/**
 * Records app `slot`'s counts of dropped log lines and unrecorded audit entries: those whose
 * window is over, or all of them when `ended` (the app ends).
 */
function reportDropped(task: i32, slot: i32, ended: bool, nowMs: f64): void {
  const logs = ended ? rateTakeDropped(slot, RATE_LOG) : rateTakeDroppedIfDue(slot, RATE_LOG, nowMs);
  if (logs > 0) auditRecord(EV_LOG_DROPPED, task, slot, SYS_LOG, logs, 0);
  auditFlushDropped(task, slot, ended, nowMs);
}

/** Ends every live task of app `slot` with `finalState` and returns its quota to the pool. */
function endApp(slot: i32, finalState: i32): void {
  const app = appAt(slot);
  reportDropped(app.task, slot, true, 0); // an ending app's counts are taken whatever the time
  for (let t = 0; t < MAX_TASKS; t++) {
    if (!taskLive(t) || taskAt(t).app != slot) continue;
    handlesCloseAll(t);
    schedDetach(t);
    taskAt(t).state = finalState;
  }
  if (app.reserved) { releaseAppBytes(<usize>app.quotaBytes); app.reserved = 0; }
  app.state = finalState;
  app.task = NO_TASK;
}

/** Stops a running app: closes its handles, releases its quota. Wakes nothing. 0 or -errno. */
export function appStop(slot: i32): i32 {
  msgClear();
  if (!appValid(slot)) { msgStr("app_stop: no app is installed in slot "); msgInt(slot); return -ENOENT; }
  const app = appAt(slot);
  const t = app.task;
  if (!taskLive(t)) { msgAppName(slot); msgStr(": not running"); return -EPERM; }
  if (schedCurrent() == t) schedClearCurrent();
  endApp(slot, TASK_EXITED);
  auditRecord(EV_APP_STOPPED, t, slot, -1, 0, 0);
  return 0;
}

/** The app's state: its main task's, or how its last run ended. */
export function appState(slot: i32): i32 {
  const app = appAt(slot);
  return taskLive(app.task) ? taskAt(app.task).state : app.state;
}

/**
 * The host reports why the slice of `task` (the one sched_next chose) ended. 0 or -errno.
 * `fuelUsed` is what the slice consumed; `value` is the exit code for STOP_EXITED.
 */
export function schedReport(task: i32, reason: i32, value: i32, fuelUsed: i32): i32 {
  if (!taskValid(task) || task != schedCurrent()) return -EPERM;
  if (reason < STOP_YIELDED || reason > STOP_TRAPPED) return -EINVAL;
  schedClearCurrent();
  const t = taskAt(task);
  const slot = t.app;
  const app = appAt(slot);
  t.needsInstance = 0;
  t.slicesRun++;
  app.slicesRun++;
  const fuel: f64 = fuelUsed > 0 ? <f64>fuelUsed : 0;
  t.fuelUsed += fuel;
  app.fuelUsed += fuel;
  const memBytes = app_memory_bytes(task);
  if (memBytes > t.memPeakBytes) t.memPeakBytes = memBytes;
  if (memBytes > app.memPeakBytes) app.memPeakBytes = memBytes;
  // Core time is read once for the whole report: each reading is a call out to the host (and,
  // on a JS host, a heap number), and they would all read the same slice end.
  const now = schedNow();
  budgetCharge(slot, task, fuel, now);

  reportDropped(task, slot, false, now);
  if (reason == STOP_YIELDED || reason == STOP_OUT_OF_FUEL || reason == STOP_BLOCKED) {
    // A task that says it blocked but is not waiting on anything stays runnable; one that
    // yielded goes behind the other ready tasks for a while (scheduler.ts).
    if (t.state == TASK_RUNNING) {
      if (reason == STOP_YIELDED) readyPushYielded(task, now); else readyPushAt(task, now);
    } else if (reason == STOP_BLOCKED) schedBlockedSliceEnded(task, now);
    return 0;
  }
  if (reason == STOP_EXITED) {
    t.exitCode = value;
    auditRecord(EV_APP_EXITED, task, slot, -1, value, 0);
    if (t.parent == NO_TASK) endApp(slot, TASK_EXITED);
    else { handlesCloseAll(task); schedDetach(task); t.state = TASK_EXITED; }
    return 0;
  }
  auditRecord(EV_APP_TRAPPED, task, slot, -1, value, 0);
  if (t.parent != NO_TASK) {
    // A spawned task that traps ends alone; the restart policy is for the app's main task.
    handlesCloseAll(task); schedDetach(task); t.state = TASK_FAILED;
    return 0;
  }
  applyRestartPolicy(slot, task);
  return 0;
}

function applyRestartPolicy(slot: i32, task: i32): void {
  const app = appAt(slot);
  const now = schedNow();
  app.crashes++;
  store<f64>(crashLogAt(slot, app.crashNext), now);
  app.crashNext = (app.crashNext + 1) % RESTART_MAX_CRASHES;
  let recent = 0;
  for (let i = 0; i < RESTART_MAX_CRASHES; i++) if (load<f64>(crashLogAt(slot, i)) > now - <f64>RESTART_WINDOW_MS) recent++;
  if (recent >= RESTART_MAX_CRASHES) {
    endApp(slot, TASK_FAILED);
    auditRecord(EV_APP_GAVE_UP, task, slot, -1, recent, 0);
    return;
  }
  // Every crash in the window doubles the wait: base, 2 x base, 4 x base, ... up to the cap.
  let backoffMs = RESTART_BACKOFF_BASE_MS;
  for (let i = 1; i < recent && backoffMs < RESTART_BACKOFF_MAX_MS; i++) backoffMs *= 2;
  if (backoffMs > RESTART_BACKOFF_MAX_MS) backoffMs = RESTART_BACKOFF_MAX_MS;
  // The next instance starts clean: no handle of the crashed one survives.
  for (let t = 0; t < MAX_TASKS; t++) {
    if (t == task || !taskLive(t) || taskAt(t).app != slot) continue;
    handlesCloseAll(t); schedDetach(t); taskAt(t).state = TASK_EXITED;
  }
  handlesCloseAll(task);
  schedBackoff(task, now + <f64>backoffMs);
  app.restarts++;
  auditRecord(EV_APP_RESTART, task, slot, -1, backoffMs, 0);
}
