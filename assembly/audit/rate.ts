// rate: per-app rate limits on what an app makes the device record (log lines, audit entries).
//
// What it is: one row per (app slot, RATE_*) {windowStartMs, admitted, dropped}. A window is
// RATE_WINDOW_MS of core time starting at the first event after the previous window ended; in a
// window an app may have `perWindow` events admitted, the rest are only counted. The count of
// what was dropped is handed out once (rateTakeDroppedIfDue / rateTakeDropped), so the caller
// reports it as one line instead of losing it silently.
// Invariants: `dropped` counts the events refused since it was last taken, so a count is never
// lost when a new window starts; a row is all zero for an app not started since boot.
// Budget: RATE_TABLE_BYTES static bytes; O(1) per event; nothing on the heap.
// Must not: allocate, or call the host (the caller passes the time).
import { MAX_APPS, RATE_WINDOW_MS } from "../abi";

export const RATE_LOG: i32 = 0;
export const RATE_AUDIT: i32 = 1;
const RATE_KINDS: i32 = 2;
const ROW_BYTES: usize = 16; // f64 windowStartMs, i32 admitted, i32 dropped
export const RATE_TABLE_BYTES: i32 = MAX_APPS * RATE_KINDS * <i32>ROW_BYTES;
const rows = memory.data(RATE_TABLE_BYTES, 8);

function rowOf(app: i32, kind: i32): usize { return rows + (<usize>(app * RATE_KINDS + kind)) * ROW_BYTES; }

/** Forgets every app's windows (boot). */
export function rateResetAll(): void { memory.fill(rows, 0, <usize>RATE_TABLE_BYTES); }

/** Forgets app `app`'s windows (a fresh start). Its undelivered count must have been taken. */
export function rateReset(app: i32): void {
  if (app < 0 || app >= MAX_APPS) return;
  memory.fill(rowOf(app, RATE_LOG), 0, ROW_BYTES * <usize>RATE_KINDS);
}

/** True when an event of `kind` by `app` at `nowMs` fits its window; else it is counted as dropped. */
export function rateAdmit(app: i32, kind: i32, nowMs: f64, perWindow: i32): bool {
  if (app < 0 || app >= MAX_APPS) return true;
  const row = rowOf(app, kind);
  let admitted = load<i32>(row, 8);
  if (admitted == 0 || nowMs - load<f64>(row) >= <f64>RATE_WINDOW_MS) {
    // A new window; a count still held from the old one stays until it is taken.
    store<f64>(row, nowMs);
    admitted = 0;
  }
  if (admitted < perWindow) { store<i32>(row, admitted + 1, 8); return true; }
  const dropped = load<i32>(row, 12);
  if (dropped < i32.MAX_VALUE) store<i32>(row, dropped + 1, 12);
  return false;
}

/** The dropped count of `app`'s `kind` once its window has ended (0 before), and clears it. */
export function rateTakeDroppedIfDue(app: i32, kind: i32, nowMs: f64): i32 {
  if (app < 0 || app >= MAX_APPS) return 0;
  const row = rowOf(app, kind);
  if (nowMs - load<f64>(row) < <f64>RATE_WINDOW_MS) return 0;
  return rateTakeDropped(app, kind);
}

/** The dropped count of `app`'s `kind`, whatever the window, and clears it (the app ends). */
export function rateTakeDropped(app: i32, kind: i32): i32 {
  if (app < 0 || app >= MAX_APPS) return 0;
  const row = rowOf(app, kind);
  const dropped = load<i32>(row, 12);
  store<i32>(row, 0, 12);
  return dropped;
}
