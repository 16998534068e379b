// audit: the ring of security and lifecycle events (denials, bad handles, faults, installs,
// starts, exits, crashes, restarts).
//
// What it is: AUDIT_ENTRIES fixed rows {seq, kind, task, app, syscall, arg, result, timeMs},
// written in sequence order and overwritten oldest first. The host reads them by sequence number
// (`audit_field`), so a reader that falls behind sees -ENOENT for what it missed, never a
// newer entry in place of an older one.
// Invariants: entry `seq` lives in row seq % AUDIT_ENTRIES and is readable while
// seq >= auditTotal - AUDIT_ENTRIES. What an app causes (denials, bad handles, faults, limits)
// is recorded at most AUDIT_EVENTS_PER_WINDOW times per app per RATE_WINDOW_MS (rate.ts); the
// rest is counted and recorded as one EV_AUDIT_DROPPED entry, so an app cannot push its own first
// denials out of the ring (the host drains it after every slice, and one slice adds at most that
// many entries per app), and nothing is lost without a count.
// Budget: AUDIT_TABLE_BYTES static bytes, nothing on the heap, O(1) per record.
// Must not: allocate, or refuse to record (a full ring overwrites; it never blocks a syscall).
import {
  AUDIT_ENTRIES, AUDIT_SEQ, AUDIT_KIND, AUDIT_TASK, AUDIT_APP, AUDIT_SYSCALL, AUDIT_ARG, AUDIT_RESULT, ENOENT, EINVAL,
  EV_DENIED, EV_BAD_HANDLE, EV_FAULT, EV_LIMIT, EV_AUDIT_DROPPED, AUDIT_EVENTS_PER_WINDOW,
} from "../abi";
import { clock_now_ms } from "../hal/index";
import { RATE_AUDIT, rateAdmit, rateTakeDropped, rateTakeDroppedIfDue } from "./rate";

const ROW_BYTES: usize = 40; // seven i32 fields, 4 bytes of padding, the f64 time at 32
const TIME_OFFSET: usize = 32;
export const AUDIT_TABLE_BYTES: i32 = AUDIT_ENTRIES * <i32>ROW_BYTES;
const rows = memory.data(AUDIT_TABLE_BYTES, 8);
// Sequence numbers count up from 0; an i32 lasts 2^31 events, at which point the ring holds
// the newest entries and reports the total as saturated.
let auditTotal: i32 = 0;

export function auditReset(): void {
  memory.fill(rows, 0, <usize>AUDIT_TABLE_BYTES);
  auditTotal = 0;
}

export function auditCount(): i32 { return auditTotal; }

/** True for the kinds an app causes by what it calls, which are rate-limited per app. */
function causedByApp(kind: i32): bool {
  return kind == EV_DENIED || kind == EV_BAD_HANDLE || kind == EV_FAULT || kind == EV_LIMIT;
}

/**
 * Records an event. `app` is the app slot, or -1 when none is known. An app-caused event beyond
 * the app's rate is counted instead (auditFlushDropped reports the count).
 */
export function auditRecord(kind: i32, task: i32, app: i32, syscall: i32, arg: i32, result: i32): void {
  if (causedByApp(kind) && app >= 0) {
    const now = clock_now_ms();
    const due = rateTakeDroppedIfDue(app, RATE_AUDIT, now);
    if (due > 0) writeRow(EV_AUDIT_DROPPED, task, app, -1, due, 0);
    if (!rateAdmit(app, RATE_AUDIT, now, AUDIT_EVENTS_PER_WINDOW)) return;
  }
  writeRow(kind, task, app, syscall, arg, result);
}

/**
 * Records app `app`'s count of unrecorded events as one EV_AUDIT_DROPPED entry: when its window
 * has ended (`ended` false: a slice's end), or in any case (`ended` true: the app ends).
 */
export function auditFlushDropped(task: i32, app: i32, ended: bool, nowMs: f64): void {
  const n = ended ? rateTakeDropped(app, RATE_AUDIT) : rateTakeDroppedIfDue(app, RATE_AUDIT, nowMs);
  if (n > 0) writeRow(EV_AUDIT_DROPPED, task, app, -1, n, 0);
}

function writeRow(kind: i32, task: i32, app: i32, syscall: i32, arg: i32, result: i32): void {
  const seq = auditTotal;
  const row = rows + <usize>(seq % AUDIT_ENTRIES) * ROW_BYTES;
  store<i32>(row, seq, 0);
  store<i32>(row, kind, 4);
  store<i32>(row, task, 8);
  store<i32>(row, app, 12);
  store<i32>(row, syscall, 16);
  store<i32>(row, arg, 20);
  store<i32>(row, result, 24);
  store<f64>(row, clock_now_ms(), TIME_OFFSET);
  if (auditTotal < i32.MAX_VALUE) auditTotal++;
}

function rowOf(seq: i32): usize {
  if (seq < 0 || seq >= auditTotal || seq < auditTotal - AUDIT_ENTRIES) return 0;
  return rows + <usize>(seq % AUDIT_ENTRIES) * ROW_BYTES;
}

/** A field (AUDIT_*) of entry `seq`; -ENOENT once overwritten or not yet written. */
export function auditField(seq: i32, field: i32): i32 {
  const row = rowOf(seq);
  if (row == 0) return -ENOENT;
  if (field < AUDIT_SEQ || field > AUDIT_RESULT) return -EINVAL;
  // The fields are laid out in AUDIT_* order, 4 bytes apart.
  return load<i32>(row + <usize>field * 4);
}

export function auditTimeMs(seq: i32): f64 {
  const row = rowOf(seq);
  if (row == 0) return -1;
  return load<f64>(row, TIME_OFFSET);
}

