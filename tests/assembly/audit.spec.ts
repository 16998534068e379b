// The audit ring: entries by sequence number, overwritten oldest first, -ENOENT for what is gone;
// what an app causes is recorded at a bounded rate per app, and the rest is counted.
import { AUDIT_ENTRIES, AUDIT_SEQ, AUDIT_KIND, AUDIT_TASK, AUDIT_APP, AUDIT_SYSCALL, AUDIT_ARG, AUDIT_RESULT, ENOENT, EINVAL, EV_DENIED, EV_AUDIT_DROPPED, EV_APP_TRAPPED, AUDIT_EVENTS_PER_WINDOW, RATE_WINDOW_MS } from "../../assembly/abi";
import { audit_total, audit_field, audit_time_ms } from "../../assembly/exports";
import { auditRecord, auditFlushDropped } from "../../assembly/audit/ring";
import { boot, setClockMs } from "./kernel-support";

describe("audit ring", () => {
  it("keeps the last AUDIT_ENTRIES entries, in order, and forgets the oldest", () => {
    boot();
    const extra = 10;
    for (let i = 0; i < AUDIT_ENTRIES + extra; i++) {
      setClockMs(<f64>i * 1.5);
      auditRecord(EV_DENIED, i & 31, i & 15, i % 16, i * 7, -i);
    }
    expect(audit_total()).toBe(AUDIT_ENTRIES + extra);
    for (let seq = 0; seq < extra; seq++) {
      expect(audit_field(seq, AUDIT_KIND)).toBe(-ENOENT);
      expect(audit_time_ms(seq)).toBe(-1);
    }
    for (let seq = extra; seq < AUDIT_ENTRIES + extra; seq++) {
      expect(audit_field(seq, AUDIT_SEQ)).toBe(seq);
      expect(audit_field(seq, AUDIT_KIND)).toBe(EV_DENIED);
      expect(audit_field(seq, AUDIT_TASK)).toBe(seq & 31);
      expect(audit_field(seq, AUDIT_APP)).toBe(seq & 15);
      expect(audit_field(seq, AUDIT_SYSCALL)).toBe(seq % 16);
      expect(audit_field(seq, AUDIT_ARG)).toBe(seq * 7);
      expect(audit_field(seq, AUDIT_RESULT)).toBe(-seq);
      expect(audit_time_ms(seq)).toBe(<f64>seq * 1.5);
    }
  });
  it("answers -ENOENT for entries not yet written and -EINVAL for unknown fields", () => {
    boot();
    expect(audit_total()).toBe(0);
    expect(audit_field(0, AUDIT_KIND)).toBe(-ENOENT);
    auditRecord(EV_DENIED, 1, 2, 3, 4, 5);
    expect(audit_field(1, AUDIT_KIND)).toBe(-ENOENT);
    expect(audit_field(-1, AUDIT_KIND)).toBe(-ENOENT);
    expect(audit_field(0, 7)).toBe(-EINVAL);
    expect(audit_field(0, -1)).toBe(-EINVAL);
  });
  it("starts empty again at boot", () => {
    boot();
    auditRecord(EV_DENIED, 1, 2, 3, 4, 5);
    boot();
    expect(audit_total()).toBe(0);
  });
});

describe("audit: per-app rate", () => {
  it("records AUDIT_EVENTS_PER_WINDOW of an app's denials a window, counts the rest, and reports the count once", () => {
    boot();
    setClockMs(0);
    for (let i = 0; i < 100; i++) auditRecord(EV_DENIED, 3, 2, 4, i, -13);
    // Another app's denials are not held back by this one's.
    auditRecord(EV_DENIED, 4, 5, 4, 1000, -13);
    expect(audit_total()).toBe(AUDIT_EVENTS_PER_WINDOW + 1);
    for (let seq = 0; seq < AUDIT_EVENTS_PER_WINDOW; seq++) expect(audit_field(seq, AUDIT_ARG)).toBe(seq);
    // Not yet reported while the window lasts; at a slice's end after it, once.
    auditFlushDropped(3, 2, false, <f64>RATE_WINDOW_MS - 1);
    expect(audit_total()).toBe(AUDIT_EVENTS_PER_WINDOW + 1);
    setClockMs(<f64>RATE_WINDOW_MS);
    auditFlushDropped(3, 2, false, <f64>RATE_WINDOW_MS);
    expect(audit_total()).toBe(AUDIT_EVENTS_PER_WINDOW + 2);
    expect(audit_field(audit_total() - 1, AUDIT_KIND)).toBe(EV_AUDIT_DROPPED);
    expect(audit_field(audit_total() - 1, AUDIT_APP)).toBe(2);
    expect(audit_field(audit_total() - 1, AUDIT_ARG)).toBe(100 - AUDIT_EVENTS_PER_WINDOW);
    auditFlushDropped(3, 2, true, 0);
    expect(audit_total()).toBe(AUDIT_EVENTS_PER_WINDOW + 2);
    // A new window records again.
    auditRecord(EV_DENIED, 3, 2, 4, 7, -13);
    expect(audit_field(audit_total() - 1, AUDIT_ARG)).toBe(7);
  });
  it("never holds back lifecycle events", () => {
    boot();
    for (let i = 0; i < 40; i++) auditRecord(EV_APP_TRAPPED, 1, 1, -1, i, 0);
    expect(audit_total()).toBe(40);
  });
});
