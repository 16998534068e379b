// System events and update deferral (drivers/sysevent.ts): the manifest's two flags, the calls'
// capability checks, and the gate the update path asks: an update nobody may defer goes on at
// once; one that an app may defer waits out the notice, a deferral, and never the bound.
import {
  EACCES, EAGAIN, EBADF, EBUSY, EINVAL, EV_DENIED, AUDIT_KIND, AUDIT_SYSCALL, STOP_YIELDED, STOP_EXITED, SYS_EXIT,
  SYS_SYSEVENT_REGISTER, SYS_SYSEVENT_INFO, SYS_SYSEVENT_DEFER, SYS_SYSEVENT_RESUME,
  SYSEVENT_UPDATE_READY_FOR_INSTALL, SYSEVENT_STATUS_PENDING, SYSEVENT_STATUS_FINAL, SYSEVENT_STATUS_DEFERRED,
  SYSEVENT_STATUS_COMPLETE, SYSEVENT_STATUS_NONE, SYSEVENT_UPDATE_APP, SYSEVENT_UPDATE_OS, SYSEVENT_NOTICE_MS, SYSEVENT_MAX_DEFER_MINUTES,
} from "../../assembly/abi";
import { sched_next, sched_report, syscall, audit_total, audit_field } from "../../assembly/exports";
import { syseventUpdateGate, syseventUpdateDone, syseventStatus } from "../../assembly/drivers/sysevent";
import { boot, install, lastError, manifest, startApp, appMemoryEnable, appPeek } from "./kernel-support";

const INFO_AT = 9000;
const MIN: f64 = 60000;
const NOTIFY = ", \"Capabilities\": {\"SystemEventNotifications\": true}";
const DEFER = ", \"Capabilities\": {\"SystemEventNotifications\": true, \"SoftwareUpdateDeferral\": true}";

function lastAudit(field: i32): i32 { return audit_field(audit_total() - 1, field); }

/** Runs `task` at device time `nowMs` for one call, then ends its slice. */
function callAt(task: i32, nowMs: f64, nr: i32, a0: i32, a1: i32 = 0): i32 {
  // The other apps yield until `task` is the one running.
  for (let t = sched_next(nowMs); t != task; t = sched_next(nowMs)) {
    if (t < 0) unreachable();
    sched_report(t, STOP_YIELDED, 0, 1);
  }
  const rc = syscall(task, nr, a0, a1, 0, 0);
  sched_report(task, STOP_YIELDED, 0, 1);
  return rc;
}

/** sysevent_info into the app's memory: [return, event, status, type, minutes left]. */
function infoAt(task: i32, nowMs: f64, handle: i32): i32[] {
  const rc = callAt(task, nowMs, SYS_SYSEVENT_INFO, handle, INFO_AT);
  const rec = memory.data(16, 4);
  appPeek(task, INFO_AT, rec, 16);
  return [rc, load<i32>(rec), load<i32>(rec, 4), load<i32>(rec, 8), load<i32>(rec, 12)];
}

describe("sysevent: the manifest", () => {
  it("takes SystemEventNotifications and SoftwareUpdateDeferral as true or false", () => {
    boot();
    expect(install(manifest("a", "000000000001", DEFER))).toBeGreaterThanOrEqual(0);
    expect(install(manifest("b", "000000000002", ", \"Capabilities\": {\"SystemEventNotifications\": false}"))).toBeGreaterThanOrEqual(0);
    expect(install(manifest("c", "000000000003", ", \"Capabilities\": {\"SystemEventNotifications\": 1}"))).toBe(-EINVAL);
    expect(lastError()).toBe("Capabilities.SystemEventNotifications: expected true or false");
  });
  it("refuses deferral without the notifications that say what to defer", () => {
    boot();
    expect(install(manifest("d", "000000000004", ", \"Capabilities\": {\"SoftwareUpdateDeferral\": true}"))).toBe(-EINVAL);
    expect(lastError()).toBe("Capabilities: SoftwareUpdateDeferral needs SystemEventNotifications: true");
    expect(install(manifest("e", "000000000005", ", \"Capabilities\": {\"SoftwareUpdateDeferral\": true, \"SystemEventNotifications\": false}"))).toBe(-EINVAL);
  });
});

describe("sysevent: who may call", () => {
  it("refuses registration without SystemEventNotifications, and deferral without SoftwareUpdateDeferral, audited", () => {
    boot();
    const plain = startApp(manifest("plain", "000000000001"));
    const told = startApp(manifest("told", "000000000002", NOTIFY));
    expect(callAt(plain, 0, SYS_SYSEVENT_REGISTER, SYSEVENT_UPDATE_READY_FOR_INSTALL)).toBe(-EACCES);
    expect(lastAudit(AUDIT_KIND)).toBe(EV_DENIED);
    expect(lastAudit(AUDIT_SYSCALL)).toBe(SYS_SYSEVENT_REGISTER);
    const h = callAt(told, 0, SYS_SYSEVENT_REGISTER, SYSEVENT_UPDATE_READY_FOR_INSTALL);
    expect(h).toBeGreaterThan(0);
    expect(callAt(told, 0, SYS_SYSEVENT_REGISTER, SYSEVENT_UPDATE_READY_FOR_INSTALL)).toBe(-EBUSY);
    expect(callAt(told, 0, SYS_SYSEVENT_DEFER, h, 5)).toBe(-EACCES);
    expect(lastAudit(AUDIT_SYSCALL)).toBe(SYS_SYSEVENT_DEFER);
    expect(callAt(told, 0, SYS_SYSEVENT_RESUME, h)).toBe(-EACCES);
  });
  it("takes only the update event in the mask, and only the caller's own registration", () => {
    boot();
    const a = startApp(manifest("a", "000000000001", DEFER));
    const b = startApp(manifest("b", "000000000002", DEFER));
    expect(callAt(a, 0, SYS_SYSEVENT_REGISTER, 0)).toBe(-EINVAL);
    expect(callAt(a, 0, SYS_SYSEVENT_REGISTER, 2)).toBe(-EINVAL);
    const h = callAt(a, 0, SYS_SYSEVENT_REGISTER, SYSEVENT_UPDATE_READY_FOR_INSTALL);
    expect(h).toBeGreaterThan(0);
    expect(callAt(b, 0, SYS_SYSEVENT_DEFER, h, 5)).toBe(-EBADF);
    expect(callAt(b, 0, SYS_SYSEVENT_INFO, h, INFO_AT)).toBe(-EBADF);
  });
});

describe("sysevent: the update gate", () => {
  it("lets an update nobody may defer go on at once, telling the registered Final then Complete", () => {
    boot();
    appMemoryEnable(1);
    const told = startApp(manifest("told", "000000000001", NOTIFY));
    const h = callAt(told, 0, SYS_SYSEVENT_REGISTER, SYSEVENT_UPDATE_READY_FOR_INSTALL);
    expect(infoAt(told, 0, h)[0]).toBe(-EAGAIN); // nothing announced yet
    expect(syseventUpdateGate(SYSEVENT_UPDATE_APP, 1000)).toBe(0);
    const final = infoAt(told, 1000, h);
    expect(final[0]).toBe(SYSEVENT_UPDATE_READY_FOR_INSTALL);
    expect(final[2]).toBe(SYSEVENT_STATUS_FINAL);
    expect(final[3]).toBe(SYSEVENT_UPDATE_APP);
    expect(infoAt(told, 1000, h)[0]).toBe(-EAGAIN); // read once
    syseventUpdateDone();
    expect(infoAt(told, 1000, h)[2]).toBe(SYSEVENT_STATUS_COMPLETE);
  });

  it("keeps each status for a registration that reads late: Final, then Complete, in order", () => {
    boot();
    appMemoryEnable(1);
    const told = startApp(manifest("late", "000000000001", NOTIFY));
    const h = callAt(told, 0, SYS_SYSEVENT_REGISTER, SYSEVENT_UPDATE_READY_FOR_INSTALL);
    expect(syseventUpdateGate(SYSEVENT_UPDATE_APP, 1000)).toBe(0);
    syseventUpdateDone(); // applied before the app read anything
    const first = infoAt(told, 1000, h);
    expect(first[2]).toBe(SYSEVENT_STATUS_FINAL);
    expect(first[3]).toBe(SYSEVENT_UPDATE_APP);
    expect(infoAt(told, 1000, h)[2]).toBe(SYSEVENT_STATUS_COMPLETE);
    expect(infoAt(told, 1000, h)[0]).toBe(-EAGAIN);
  });

  it("gives a registration more than 8 statuses behind the last 8, oldest first, minutes only for the Pending in force", () => {
    boot();
    appMemoryEnable(1);
    const app = startApp(manifest("behind", "000000000001", DEFER));
    const h = callAt(app, 0, SYS_SYSEVENT_REGISTER, SYSEVENT_UPDATE_READY_FOR_INSTALL);
    // Five updates; this app may defer, so each is Pending for the notice, then Final, then
    // Complete: 15 statuses, none read.
    let now: f64 = 1000;
    for (let i = 0; i < 5; i++) {
      expect(syseventUpdateGate(i % 2 == 0 ? SYSEVENT_UPDATE_APP : SYSEVENT_UPDATE_OS, now)).toBe(SYSEVENT_NOTICE_MS);
      now += <f64>SYSEVENT_NOTICE_MS;
      expect(syseventUpdateGate(i % 2 == 0 ? SYSEVENT_UPDATE_APP : SYSEVENT_UPDATE_OS, now)).toBe(0);
      syseventUpdateDone();
    }
    const want: i32[] = [SYSEVENT_STATUS_COMPLETE, SYSEVENT_STATUS_PENDING, SYSEVENT_STATUS_FINAL, SYSEVENT_STATUS_COMPLETE,
      SYSEVENT_STATUS_PENDING, SYSEVENT_STATUS_FINAL, SYSEVENT_STATUS_COMPLETE];
    const types: i32[] = [SYSEVENT_UPDATE_APP, SYSEVENT_UPDATE_OS, SYSEVENT_UPDATE_OS, SYSEVENT_UPDATE_OS,
      SYSEVENT_UPDATE_APP, SYSEVENT_UPDATE_APP, SYSEVENT_UPDATE_APP];
    // The oldest kept is update 2's Final (serial 8): 8 statuses, 8..15.
    const oldest = infoAt(app, now, h);
    expect(oldest[2]).toBe(SYSEVENT_STATUS_FINAL);
    expect(oldest[3]).toBe(SYSEVENT_UPDATE_APP);
    for (let i = 0; i < want.length; i++) {
      const rec = infoAt(app, now, h);
      expect(rec[2]).toBe(want[i]);
      expect(rec[3]).toBe(types[i]);
      expect(rec[4]).toBe(0); // no Pending of these is in force any more
    }
    expect(infoAt(app, now, h)[0]).toBe(-EAGAIN);
    // A new Pending read at once carries the minutes left.
    expect(syseventUpdateGate(SYSEVENT_UPDATE_OS, now)).toBe(SYSEVENT_NOTICE_MS);
    expect(infoAt(app, now, h)[4]).toBe(SYSEVENT_MAX_DEFER_MINUTES);
  });

  it("holds an update an app may defer for the notice, then for its deferral, then a new notice", () => {
    boot();
    appMemoryEnable(1);
    const app = startApp(manifest("defer", "000000000001", DEFER));
    const h = callAt(app, 0, SYS_SYSEVENT_REGISTER, SYSEVENT_UPDATE_READY_FOR_INSTALL);
    expect(syseventUpdateGate(SYSEVENT_UPDATE_OS, 1000)).toBe(SYSEVENT_NOTICE_MS);
    const pending = infoAt(app, 1000, h);
    expect(pending[2]).toBe(SYSEVENT_STATUS_PENDING);
    expect(pending[3]).toBe(SYSEVENT_UPDATE_OS);
    expect(pending[4]).toBe(SYSEVENT_MAX_DEFER_MINUTES);
    expect(syseventUpdateGate(SYSEVENT_UPDATE_APP, 1500)).toBe(-EBUSY); // one update at a time
    expect(syseventUpdateGate(SYSEVENT_UPDATE_OS, 1000 + <f64>SYSEVENT_NOTICE_MS - 1)).toBe(1);
    expect(callAt(app, 2000, SYS_SYSEVENT_DEFER, h, 0)).toBe(-EINVAL);
    expect(callAt(app, 2000, SYS_SYSEVENT_DEFER, h, SYSEVENT_MAX_DEFER_MINUTES + 1)).toBe(-EINVAL);
    expect(callAt(app, 2000, SYS_SYSEVENT_DEFER, h, 30)).toBe(0);
    expect(infoAt(app, 2000, h)[2]).toBe(SYSEVENT_STATUS_DEFERRED);
    expect(callAt(app, 2000, SYS_SYSEVENT_DEFER, h, 30)).toBe(-EINVAL); // only a pending update
    // Past the notice, the deferral holds it.
    expect(syseventUpdateGate(SYSEVENT_UPDATE_OS, 1000 + <f64>SYSEVENT_NOTICE_MS)).toBe(<i32>(30 * MIN - <f64>SYSEVENT_NOTICE_MS + 1000));
    // When the deferral ends, a new notice; nobody defers it, so the update goes on.
    expect(syseventUpdateGate(SYSEVENT_UPDATE_OS, 2000 + 30 * MIN)).toBe(SYSEVENT_NOTICE_MS);
    const again = infoAt(app, 2000 + 30 * MIN, h);
    expect(again[2]).toBe(SYSEVENT_STATUS_PENDING);
    expect(again[4]).toBe(SYSEVENT_MAX_DEFER_MINUTES - 31);
    expect(syseventUpdateGate(SYSEVENT_UPDATE_OS, 2000 + 30 * MIN + <f64>SYSEVENT_NOTICE_MS)).toBe(0);
    expect(syseventStatus()).toBe(SYSEVENT_STATUS_FINAL);
    expect(infoAt(app, 2000 + 30 * MIN + <f64>SYSEVENT_NOTICE_MS, h)[2]).toBe(SYSEVENT_STATUS_FINAL);
  });

  it("ends every deferral at the bound, and a resume at once", () => {
    boot();
    appMemoryEnable(1);
    const app = startApp(manifest("defer", "000000000001", DEFER));
    const h = callAt(app, 0, SYS_SYSEVENT_REGISTER, SYSEVENT_UPDATE_READY_FOR_INSTALL);
    expect(syseventUpdateGate(SYSEVENT_UPDATE_APP, 0)).toBe(SYSEVENT_NOTICE_MS);
    expect(callAt(app, 0, SYS_SYSEVENT_DEFER, h, SYSEVENT_MAX_DEFER_MINUTES)).toBe(0);
    const bound = <f64>SYSEVENT_MAX_DEFER_MINUTES * MIN;
    expect(syseventUpdateGate(SYSEVENT_UPDATE_APP, bound - 1)).toBe(1);
    // At the bound no new notice: Final, whatever the app would ask.
    expect(syseventUpdateGate(SYSEVENT_UPDATE_APP, bound)).toBe(0);
    expect(callAt(app, bound, SYS_SYSEVENT_DEFER, h, 1)).toBe(-EINVAL);
    syseventUpdateDone();
    // The next update: deferred, then resumed, goes on at the next ask.
    expect(syseventUpdateGate(SYSEVENT_UPDATE_APP, bound + 1)).toBe(SYSEVENT_NOTICE_MS);
    expect(callAt(app, bound + 2, SYS_SYSEVENT_RESUME, h)).toBe(-EINVAL); // nothing deferred
    expect(callAt(app, bound + 2, SYS_SYSEVENT_DEFER, h, 60)).toBe(0);
    expect(syseventUpdateGate(SYSEVENT_UPDATE_APP, bound + 3)).toBeGreaterThan(0);
    expect(callAt(app, bound + 4, SYS_SYSEVENT_RESUME, h)).toBe(0);
    expect(syseventUpdateGate(SYSEVENT_UPDATE_APP, bound + 5)).toBe(0);
  });

  it("asks only registered apps that may defer: an app that ended is asked nothing", () => {
    boot();
    expect(syseventStatus()).toBe(SYSEVENT_STATUS_NONE);
    const slot = install(manifest("idle", "000000000002", DEFER));
    expect(slot).toBeGreaterThanOrEqual(0);
    const app = startApp(manifest("defer", "000000000001", DEFER));
    expect(callAt(app, 0, SYS_SYSEVENT_REGISTER, SYSEVENT_UPDATE_READY_FOR_INSTALL)).toBeGreaterThan(0);
    if (sched_next(1) != app) unreachable();
    expect(syscall(app, SYS_EXIT, 0, 0, 0, 0)).toBe(0);
    expect(sched_report(app, STOP_EXITED, 0, 1)).toBe(0);
    // Installed but not registered, or registered and ended (its handle closed): not asked.
    expect(syseventUpdateGate(SYSEVENT_UPDATE_APP, 2)).toBe(0);
  });
});
