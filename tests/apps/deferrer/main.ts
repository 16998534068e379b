// deferrer: a test app that registers for update notifications (SystemEventNotifications) and logs
// every status it is told, as "sysevent: STATUS app|os" (with the minutes a deferral may still
// take while pending). CmdArgs: [defer minutes, resume after ms]: told of a pending update, it
// defers it once by that many minutes (0: never defers; the manifest decides whether it may), and
// resumes it that many ms of device time later (-1: never).
// Memory: a few bytes. Must not: exit (its registration is what the update path asks).
import { log, args, sysevent, clockMs, ETIMEDOUT } from "@wasphere/sdk";

function statusName(s: i32): string {
  if (s == sysevent.STATUS_PENDING) return "pending";
  if (s == sysevent.STATUS_FINAL) return "final";
  if (s == sysevent.STATUS_DEFERRED) return "deferred";
  if (s == sysevent.STATUS_COMPLETE) return "complete";
  return "status " + s.toString();
}

export function main(): i32 {
  const a = args();
  const deferMinutes = a.length > 0 ? I32.parseInt(a[0]) : 0;
  const resumeAfterMs = a.length > 1 ? I32.parseInt(a[1]) : -1;
  const h = sysevent.register();
  if (h < 0) { log("sysevent: register refused " + h.toString()); return 1; }
  log("sysevent: registered");
  let deferred = false;
  let resumeAtMs: i32 = -1;
  while (true) {
    const timeout = resumeAtMs < 0 ? -1 : max<i32>(0, resumeAtMs - clockMs());
    const rc = sysevent.wait(h, timeout);
    if (rc == ETIMEDOUT) {
      log("sysevent: resume " + sysevent.resume(h).toString());
      resumeAtMs = -1;
      continue;
    }
    while (sysevent.info(h) > 0) {
      const s = sysevent.status();
      const what = sysevent.updateType() == sysevent.UPDATE_OS ? "os" : "app";
      log("sysevent: " + statusName(s) + " " + what + (s == sysevent.STATUS_PENDING ? " (" + sysevent.maxDeferralMinutes().toString() + " min)" : ""));
      if (s == sysevent.STATUS_PENDING && deferMinutes > 0 && !deferred) {
        deferred = true;
        log("sysevent: defer " + deferMinutes.toString() + " min: " + sysevent.defer(h, deferMinutes).toString());
        if (resumeAfterMs >= 0) resumeAtMs = clockMs() + resumeAfterMs;
      }
    }
  }
  return 0;
}
