// The audit ring: entries by sequence number, overwritten oldest first, -ENOENT for what is gone.
import { AUDIT_ENTRIES, AUDIT_SEQ, AUDIT_KIND, AUDIT_TASK, AUDIT_APP, AUDIT_SYSCALL, AUDIT_ARG, AUDIT_RESULT, ENOENT, EINVAL, EV_DENIED } from "../../assembly/abi";
import { audit_total, audit_field, audit_time_ms } from "../../assembly/exports";
import { auditRecord } from "../../assembly/audit/ring";
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
