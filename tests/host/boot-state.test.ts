// The OS slots' boot-state log (SPEC.md, "Boot state") over byte images: the record's exact
// bytes, erased logs, torn records (a program cut mid-record), a full trailer, the primary-slot and
// trial rules (both CONFIRMED with different sequences, TRYING left over, PENDING not above the
// primary), the last update's outcome, and appends on a flash (a torn append is skipped, the next
// append goes after it).
import test from "node:test";
import assert from "node:assert/strict";
import {
  BOOT_STATE, TRAILER_BYTES, appendRecord, encodeRecord, lastUpdate, maxSequence, parseLog, planBoot, readSlotLog, type SlotView,
} from "../../host/boot-state.js";
import { Flash, PowerCut } from "../../host/flash.js";
import { crc32 } from "../../host/apps/imagepkg.js";

const { PENDING, TRYING, CONFIRMED, REJECTED } = BOOT_STATE;
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** A trailer block holding `records` (state, sequence) from its start, the rest erased. */
function trailer(...records: [number, number][]): Uint8Array {
  const t = new Uint8Array(TRAILER_BYTES).fill(0xff);
  records.forEach(([s, q], i) => t.set(encodeRecord(s, q), i * 16));
  return t;
}
const slot = (name: string, factory: boolean, t: Uint8Array): SlotView => ({ name, factory, log: parseLog(t) });
const pair = (a: Uint8Array, b: Uint8Array): [SlotView, SlotView] => [slot("os-a", true, a), slot("os-b", false, b)];

test("a record is magic WSBS, state, reserved 0, sequence, CRC-32 of its first 12 bytes", () => {
  const r = encodeRecord(CONFIRMED, 0x01020304);
  const crc = crc32(Uint8Array.of(0x57, 0x53, 0x42, 0x53, 3, 0, 0, 0, 4, 3, 2, 1));
  assert.equal(hex(r), "57534253" + "0300" + "0000" + "04030201" + hex(Uint8Array.of(crc & 0xff, (crc >>> 8) & 0xff, (crc >>> 16) & 0xff, crc >>> 24)));
  assert.throws(() => encodeRecord(0, 1), { message: "boot state 0 is none of 1..4" });
  assert.throws(() => encodeRecord(5, 1), { message: "boot state 5 is none of 1..4" });
  assert.throws(() => encodeRecord(PENDING, -1), { message: "boot-state sequence -1 is not a u32" });
});

test("an erased log is empty and appends at 0; a full one appends nowhere", () => {
  const empty = parseLog(new Uint8Array(TRAILER_BYTES).fill(0xff));
  assert.deepEqual(empty, { records: [], tornRecords: 0, appendAtBytes: 0, last: null });
  const full = parseLog(trailer(...Array.from({ length: 256 }, (_, i) => [i % 2 ? TRYING : PENDING, i] as [number, number])));
  assert.equal(full.records.length, 256);
  assert.equal(full.appendAtBytes, null);
  assert.deepEqual(full.last, { state: TRYING, sequence: 255, offsetBytes: 4080 });
});

test("a torn record (first half programmed, CRC missing) is skipped and never the slot's state; records after it count; the first erased record ends the log", () => {
  const t = trailer([PENDING, 7], [TRYING, 7]);
  // A program of CONFIRMED cut half way: its first 8 bytes reached the flash.
  t.set(encodeRecord(CONFIRMED, 7).subarray(0, 8), 32);
  let log = parseLog(t);
  assert.deepEqual(log.records.map((r) => [r.state, r.sequence]), [[PENDING, 7], [TRYING, 7]]);
  assert.deepEqual([log.tornRecords, log.appendAtBytes, log.last?.state], [1, 48, TRYING]);
  // The next append (REJECTED) goes after the torn one and becomes the state.
  t.set(encodeRecord(REJECTED, 7), 48);
  log = parseLog(t);
  assert.deepEqual([log.tornRecords, log.appendAtBytes, log.last?.state, log.last?.offsetBytes], [1, 64, REJECTED, 48]);
  // Any bit wrong is torn: magic, state out of range, reserved, CRC.
  for (const [at, v] of [[0, 0x56], [4, 9], [6, 1], [12, 0]] as const) {
    const u = trailer([PENDING, 1], [CONFIRMED, 1]);
    u[16 + at] = v;
    const l = parseLog(u);
    assert.deepEqual([l.records.length, l.tornRecords, l.last?.state], [1, 1, PENDING], `byte ${at}`);
  }
  // Records after the first erased one are not read.
  const gap = trailer([PENDING, 1]);
  gap.set(encodeRecord(CONFIRMED, 1), 48);
  assert.deepEqual([parseLog(gap).records.length, parseLog(gap).appendAtBytes], [1, 16]);
});

test("primary: the factory slot while neither log holds CONFIRMED; else the last CONFIRMED with the highest sequence", () => {
  const none = planBoot(pair(trailer(), trailer()));
  assert.deepEqual(none, { primary: 0, primarySequence: 0, primaryConfirmed: false, rejectLeftover: [], trial: null });
  // Both CONFIRMED, different sequences: the higher wins, whichever slot holds it.
  assert.deepEqual(planBoot(pair(trailer([CONFIRMED, 3]), trailer([PENDING, 4], [TRYING, 4], [CONFIRMED, 4]))), { primary: 1, primarySequence: 4, primaryConfirmed: true, rejectLeftover: [], trial: null });
  assert.deepEqual(planBoot(pair(trailer([PENDING, 5], [TRYING, 5], [CONFIRMED, 5]), trailer([CONFIRMED, 4]))).primary, 0);
  // A slot whose last record is not CONFIRMED is not primary, even with CONFIRMED earlier.
  assert.deepEqual(planBoot(pair(trailer(), trailer([PENDING, 1], [TRYING, 1], [CONFIRMED, 1], [REJECTED, 1]))).primary, 0);
  // The factory slot is the table's ACTIVE one, whichever it is.
  const bActive: [SlotView, SlotView] = [slot("os-a", false, trailer()), slot("os-b", true, trailer())];
  assert.equal(planBoot(bActive).primary, 1);
  assert.throws(() => planBoot([slot("os-a", true, trailer()), slot("os-b", true, trailer())]), { message: "boot state: exactly one OS slot must be the table's ACTIVE (factory) slot" });
});

test("trial: the other slot's last record PENDING above the primary's sequence; TRYING left over is rejected, not tried", () => {
  assert.equal(planBoot(pair(trailer(), trailer([PENDING, 1]))).trial, 1);
  // PENDING not above the primary (a stale one, or write-core provisioned the primary above it): no trial.
  assert.equal(planBoot(pair(trailer([CONFIRMED, 2]), trailer([PENDING, 1]))).trial, null);
  assert.equal(planBoot(pair(trailer([CONFIRMED, 2]), trailer([PENDING, 2]))).trial, null);
  assert.equal(planBoot(pair(trailer([CONFIRMED, 2]), trailer([PENDING, 3]))).trial, 1);
  // A torn TRYING after PENDING: the trial was cut before TRYING took; the slot is still PENDING and tried.
  const tornTrying = trailer([PENDING, 1]);
  tornTrying.set(encodeRecord(TRYING, 1).subarray(0, 8), 16);
  assert.equal(planBoot(pair(trailer(), tornTrying)).trial, 1);
  // TRYING left over (cut after TRYING, before CONFIRMED): rejected, the primary boots.
  assert.deepEqual(planBoot(pair(trailer(), trailer([PENDING, 1], [TRYING, 1]))), { primary: 0, primarySequence: 0, primaryConfirmed: false, rejectLeftover: [1], trial: null });
  // A torn CONFIRMED after TRYING is still TRYING.
  const tornConfirm = trailer([PENDING, 1], [TRYING, 1]);
  tornConfirm.set(encodeRecord(CONFIRMED, 1).subarray(0, 8), 32);
  assert.deepEqual(planBoot(pair(trailer(), tornConfirm)).rejectLeftover, [1]);
  // The primary slot's own PENDING never makes a trial.
  assert.equal(planBoot(pair(trailer([PENDING, 1]), trailer())).trial, null);
  assert.equal(maxSequence(pair(trailer([CONFIRMED, 2]), trailer([PENDING, 9], [REJECTED, 9]))), 9);
});

test("the last update is the highest PENDING and what its slot's log says of it", () => {
  assert.equal(lastUpdate(pair(trailer(), trailer())), null);
  assert.equal(lastUpdate(pair(trailer([CONFIRMED, 1]), trailer())), null);
  assert.deepEqual(lastUpdate(pair(trailer(), trailer([PENDING, 1]))), { slot: 1, sequence: 1, outcome: "pending" });
  assert.deepEqual(lastUpdate(pair(trailer(), trailer([PENDING, 1], [TRYING, 1]))), { slot: 1, sequence: 1, outcome: "trying" });
  assert.deepEqual(lastUpdate(pair(trailer(), trailer([PENDING, 1], [TRYING, 1], [CONFIRMED, 1]))), { slot: 1, sequence: 1, outcome: "confirmed" });
  assert.deepEqual(lastUpdate(pair(trailer([PENDING, 2], [TRYING, 2], [REJECTED, 2]), trailer([PENDING, 1], [TRYING, 1], [CONFIRMED, 1]))), { slot: 0, sequence: 2, outcome: "rolled-back" });
});

test("appendRecord programs 16 erased bytes in the slot's last block only; a cut one is torn and the next goes after it", () => {
  const flash = new Flash({ blockSizeBytes: 4096, blockCount: 8 });
  const s = { name: "os-b", offsetBytes: 4096 * 2, sizeBytes: 4096 * 4 };
  appendRecord(flash, s, PENDING, 1);
  assert.equal(hex(flash.bytes.subarray(4096 * 5, 4096 * 5 + 16)), hex(encodeRecord(PENDING, 1)));
  assert.equal(flash.bytes.subarray(0, 4096 * 5).every((x) => x === 0xff) && flash.bytes.subarray(4096 * 5 + 16).every((x) => x === 0xff), true);
  flash.armPowerCut(1, "torn");
  assert.throws(() => appendRecord(flash, s, TRYING, 1), PowerCut);
  flash.armPowerCut(0);
  let log = readSlotLog(flash, s);
  assert.deepEqual([log.records.length, log.tornRecords, log.last?.state], [1, 1, PENDING]);
  appendRecord(flash, s, REJECTED, 1);
  log = readSlotLog(flash, s);
  assert.deepEqual([log.records.map((r) => r.offsetBytes), log.last?.state], [[0, 32], REJECTED]);
  // A program that does not take (a worn block) is an error, not a silent record.
  flash.badBlocks.add(5);
  assert.throws(() => appendRecord(flash, s, PENDING, 2), { message: "os-b: the boot-state record (pending, sequence 2) did not program (-5)" });
  const fullFlash = new Flash({ blockSizeBytes: 4096, blockCount: 8 });
  fullFlash.bytes.set(trailer(...Array.from({ length: 256 }, () => [REJECTED, 1] as [number, number])), 4096 * 5);
  assert.throws(() => appendRecord(fullFlash, s, PENDING, 2), { message: "os-b: its boot-state log is full (256 records); write an image into the slot to start it again" });
});
