// boot-state: which OS slot boots, as the append-only log in each OS slot's trailer block says
// (SPEC.md, "Boot state"). The partition table is never rewritten after `device create`: its
// ACTIVE flag names the factory slot only. Each OS slot's last erase block (4,096 bytes) holds
// 16-byte records (magic WSBS, state, sequence, CRC-32), appended with a program only, never
// rewritten; the slot is erased whole (trailer included) when an image is written into it.
//
// The pure part (parse a log, encode a record, plan a boot, name the last update's outcome)
// works on byte images, so every state a power cut can leave is testable without a device; the
// mechanism part (read a slot's log from a Flash, append one record) is a few lines over it.
// Invariants: a record is valid only with its magic, state 1..4, reserved 0 and CRC; a torn record
// (a program cut mid-record) is skipped when reading and never rewritten; the first all-0xff
// record is where the next append goes; a slot's state is its last valid record.
// Memory: one trailer block (4 KiB) a slot and the parsed records (at most 256 a slot).
// Must not: program anything but an erased 16-byte record, erase a trailer on its own, or decide
// from an image's bytes (the boot loader verifies images; this file only reads the log).
import { crc32 } from "./apps/imagepkg.js";
import type { Flash } from "./flash.js";

export const BOOT_RECORD_MAGIC = 0x53425357; // "WSBS" little-endian
export const BOOT_RECORD_BYTES = 16;
/** The trailer block: an OS slot's last erase block. A core image fits the slot less these bytes. */
export const TRAILER_BYTES = 4096;
export const RECORDS_PER_TRAILER = TRAILER_BYTES / BOOT_RECORD_BYTES;

export const BOOT_STATE = { PENDING: 1, TRYING: 2, CONFIRMED: 3, REJECTED: 4 } as const;
export type BootStateName = "pending" | "trying" | "confirmed" | "rejected";
export const STATE_NAMES: Record<number, BootStateName> = { 1: "pending", 2: "trying", 3: "confirmed", 4: "rejected" };

export class BootStateError extends Error {}

export interface BootRecord { state: number; sequence: number; offsetBytes: number }

/** One slot's log as its trailer holds it. */
export interface SlotLog {
  /** The valid records, in log order. */
  records: BootRecord[];
  /** Records neither erased nor valid (a torn program), skipped. */
  tornRecords: number;
  /** Where the next record goes (the first all-0xff record), or null when the trailer is full. */
  appendAtBytes: number | null;
  /** The slot's state: its last valid record, or null when it has none. */
  last: BootRecord | null;
}

/** The 16 bytes of a record. */
export function encodeRecord(state: number, sequence: number): Uint8Array {
  if (!(state >= BOOT_STATE.PENDING && state <= BOOT_STATE.REJECTED)) throw new BootStateError(`boot state ${state} is none of 1..4`);
  if (!Number.isInteger(sequence) || sequence < 0 || sequence > 0xffffffff) throw new BootStateError(`boot-state sequence ${sequence} is not a u32`);
  const out = new Uint8Array(BOOT_RECORD_BYTES);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, BOOT_RECORD_MAGIC, true);
  dv.setUint16(4, state, true);
  dv.setUint16(6, 0, true);
  dv.setUint32(8, sequence, true);
  dv.setUint32(12, crc32(out.subarray(0, 12)), true);
  return out;
}

const erased = (b: Uint8Array) => b.every((x) => x === 0xff);

/** The log in `trailer` (a slot's last erase block, or any whole number of records). */
export function parseLog(trailer: Uint8Array): SlotLog {
  const records: BootRecord[] = [];
  let torn = 0;
  let appendAt: number | null = null;
  const dv = new DataView(trailer.buffer, trailer.byteOffset, trailer.byteLength);
  for (let at = 0; at + BOOT_RECORD_BYTES <= trailer.length; at += BOOT_RECORD_BYTES) {
    const rec = trailer.subarray(at, at + BOOT_RECORD_BYTES);
    if (erased(rec)) { appendAt = at; break; }
    const state = dv.getUint16(at + 4, true);
    const valid = dv.getUint32(at, true) === BOOT_RECORD_MAGIC && state >= BOOT_STATE.PENDING && state <= BOOT_STATE.REJECTED
      && dv.getUint16(at + 6, true) === 0 && dv.getUint32(at + 12, true) === crc32(rec.subarray(0, 12));
    if (valid) records.push({ state, sequence: dv.getUint32(at + 8, true), offsetBytes: at });
    else torn++;
  }
  return { records, tornRecords: torn, appendAtBytes: appendAt, last: records.length ? records[records.length - 1] : null };
}

/** An OS slot as the boot loader weighs it: its name, whether it is the table's ACTIVE (factory) slot, its log. */
export interface SlotView { name: string; factory: boolean; log: SlotLog }

export interface BootPlan {
  /** Index (0, 1) of the primary slot: the last CONFIRMED with the highest sequence, else the factory slot. */
  primary: number;
  /** The primary's sequence (0 for the factory state). */
  primarySequence: number;
  /** Whether the primary holds a CONFIRMED record (false: the factory state). */
  primaryConfirmed: boolean;
  /** Slots whose last record is TRYING: a trial cut before it was confirmed; each gets REJECTED. */
  rejectLeftover: number[];
  /** The slot to boot on trial (its last record PENDING above the primary's sequence), or null. */
  trial: number | null;
}

/** The highest sequence in either log (0 when both are empty). */
export function maxSequence(slots: readonly SlotView[]): number {
  let max = 0;
  for (const s of slots) for (const r of s.log.records) if (r.sequence > max) max = r.sequence;
  return max;
}

/** The boot loader's rules (SPEC.md, "Boot state") over two slots' logs. */
export function planBoot(slots: readonly [SlotView, SlotView]): BootPlan {
  const factory = slots[0].factory ? 0 : slots[1].factory ? 1 : -1;
  if (factory < 0 || (slots[0].factory && slots[1].factory)) throw new BootStateError("boot state: exactly one OS slot must be the table's ACTIVE (factory) slot");
  let primary = factory, primarySequence = 0, primaryConfirmed = false;
  for (let i = 0; i < 2; i++) {
    const last = slots[i].log.last;
    if (last?.state !== BOOT_STATE.CONFIRMED) continue;
    // Equal sequences cannot come from the rules; should they appear, the factory slot wins.
    if (!primaryConfirmed || last.sequence > primarySequence || (last.sequence === primarySequence && i === factory)) {
      primary = i; primarySequence = last.sequence; primaryConfirmed = true;
    }
  }
  const rejectLeftover = [0, 1].filter((i) => slots[i].log.last?.state === BOOT_STATE.TRYING);
  const other = 1 - primary;
  const o = slots[other].log.last;
  const trial = o && o.state === BOOT_STATE.PENDING && o.sequence > primarySequence ? other : null;
  return { primary, primarySequence, primaryConfirmed, rejectLeftover, trial };
}

export type UpdateOutcome = "pending" | "trying" | "confirmed" | "rolled-back";

/**
 * The last OS update staged (the PENDING record with the highest sequence in either log) and
 * what became of it: that slot's last record of the same sequence. Null when no slot holds a
 * PENDING record (no update since the slot was last written by provisioning).
 */
export function lastUpdate(slots: readonly SlotView[]): { slot: number; sequence: number; outcome: UpdateOutcome } | null {
  let best: { slot: number; sequence: number } | null = null;
  slots.forEach((s, i) => {
    for (const r of s.log.records) if (r.state === BOOT_STATE.PENDING && (!best || r.sequence > best.sequence)) best = { slot: i, sequence: r.sequence };
  });
  if (!best) return null;
  const { slot, sequence } = best as { slot: number; sequence: number };
  const mine = slots[slot].log.records.filter((r) => r.sequence === sequence);
  const state = mine[mine.length - 1].state;
  const outcome: UpdateOutcome = state === BOOT_STATE.CONFIRMED ? "confirmed" : state === BOOT_STATE.REJECTED ? "rolled-back" : state === BOOT_STATE.TRYING ? "trying" : "pending";
  return { slot, sequence, outcome };
}

// ---- over a device's flash ----------------------------------------------------------------------

/** An OS partition's place on flash (host/flash-layout.ts's Partition has these). */
export interface OsSlot { name: string; offsetBytes: number; sizeBytes: number }

/** The first byte of `slot`'s trailer block. */
export const trailerOffset = (slot: OsSlot) => slot.offsetBytes + slot.sizeBytes - TRAILER_BYTES;
/** The bytes a core image may take in `slot`: all but its trailer block. */
export const imageCapacity = (slot: OsSlot) => slot.sizeBytes - TRAILER_BYTES;

export function readSlotLog(flash: Flash, slot: OsSlot): SlotLog {
  const at = trailerOffset(slot);
  return parseLog(flash.bytes.subarray(at, at + TRAILER_BYTES));
}

/**
 * Appends one record to `slot`'s log with a single program of 16 erased bytes, then reads it
 * back. Throws BootStateError when the trailer is full or the program did not take; a power cut
 * (the flash's PowerCut) passes through.
 */
export function appendRecord(flash: Flash, slot: OsSlot, state: number, sequence: number): void {
  const log = readSlotLog(flash, slot);
  if (log.appendAtBytes === null) throw new BootStateError(`${slot.name}: its boot-state log is full (${RECORDS_PER_TRAILER} records); write an image into the slot to start it again`);
  const at = trailerOffset(slot) + log.appendAtBytes;
  const rc = flash.prog(Math.floor(at / flash.blockSizeBytes), at % flash.blockSizeBytes, encodeRecord(state, sequence));
  const back = readSlotLog(flash, slot).last;
  if (rc !== 0 || !back || back.offsetBytes !== log.appendAtBytes || back.state !== state || back.sequence !== sequence) {
    throw new BootStateError(`${slot.name}: the boot-state record (${STATE_NAMES[state]}, sequence ${sequence}) did not program (${rc})`);
  }
}
