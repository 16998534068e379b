// flash/ptable: the partition table parser (SPEC.md, "Flash layout").
//
// What it is: the core's reader of block 0 of the device flash, which says where the two OS
// (core) slots, the app image area, the update staging area and the littlefs data partition lie.
// It checks the header against the device it runs on, the CRC, and every entry (known type, each
// type once, block-aligned, inside the device, not over the table, no two overlapping).
// The validated entries go to the caller's buffer as wit kernel's partition-entry records;
// nothing is kept here between calls.
// Invariants: reads only [0, PTABLE_READ_BYTES) of the device; a refusal writes nothing to the
// result and leaves a message that starts with "partition table: " and the part at fault.
// Budget: PTABLE_STATIC_BYTES static bytes (one copy of the table); no heap.
// Must not: allocate, trap on any input, or write flash.
import { EINVAL, ECORRUPT, EIO, PTABLE_VERSION, PTABLE_MAX_ENTRIES, PART_OS_A, PART_OS_B, PART_DATA, PART_FLAG_ACTIVE } from "../abi";
import { msgClear, msgStr, msgInt, msgFail, msgFailNum } from "../util/msg";
import { crc32 } from "../fs/crc";
import { flashReadBytes, isPow2In } from "./read";

const TABLE_MAGIC: u32 = 0x54505357; // "WSPT"
const HEADER_BYTES: u32 = 16;
const ENTRY_BYTES: u32 = 16;
const PTABLE_READ_BYTES: u32 = HEADER_BYTES + <u32>PTABLE_MAX_ENTRIES * ENTRY_BYTES + 4;
const tableBuf = memory.data(<i32>PTABLE_READ_BYTES, 8);
export const PTABLE_STATIC_BYTES: i32 = <i32>PTABLE_READ_BYTES;
/** One partition-entry in the canonical ABI's layout: u16 type, u16 flags, u32 offset, u32 size. */
export const PARTITION_ENTRY_BYTES: i32 = 12;
/** The device's smallest and largest erase block this layout supports. */
const MIN_ERASE_BYTES: u32 = 512;
const MAX_ERASE_BYTES: u32 = 65536;

function fail(code: i32, part: string, what: string): i32 { return msgFail(code, "partition table", part, what); }
function failNum(code: i32, part: string, what: string, value: i64, rest: string): i32 {
  return msgFailNum(code, "partition table", part, what, value, rest);
}

function typeName(type: u32): string {
  switch (type) {
    case 1: return "os-a";
    case 2: return "os-b";
    case 3: return "apps";
    case 4: return "staging";
    case 5: return "data";
  }
  return "unknown";
}

/** Starts an entry's message: "entry N (type): ". */
function failEntry(i: u32, type: u32, what: string): i32 {
  msgClear();
  msgStr("partition table: entry ");
  msgInt(i);
  msgStr(" (");
  msgStr(typeName(type));
  msgStr("): ");
  msgStr(what);
  return -EINVAL;
}

/**
 * Parses the table in block 0 of a device of `blockCount` erase blocks of `eraseBlockBytes`.
 * On success writes the count entries as partition-entry records (PARTITION_ENTRY_BYTES each, in
 * the table's order) at `out` and returns the entry count; otherwise -EINVAL (malformed or not for this device), -ECORRUPT (CRC) or -EIO.
 */
export function ptableParse(eraseBlockBytes: u32, blockCount: u32, out: usize): i32 {
  if (!isPow2In(eraseBlockBytes, MIN_ERASE_BYTES, MAX_ERASE_BYTES)) return failNum(EINVAL, "device", "erase block size ", eraseBlockBytes, " is not a power of two from 512 to 65536");
  if (blockCount < 2) return failNum(EINVAL, "device", "has ", blockCount, " blocks; a table needs at least 2");
  if (flashReadBytes(eraseBlockBytes, 0, tableBuf, HEADER_BYTES) != 0) return fail(EIO, "header", "cannot be read from flash");
  if (load<u32>(tableBuf) != TABLE_MAGIC) return fail(EINVAL, "header", "bad magic (block 0 holds no partition table)");
  const version = <u32>load<u16>(tableBuf + 4);
  if (version != PTABLE_VERSION) return failNum(EINVAL, "header", "version ", version, " is not 1");
  const count = <u32>load<u16>(tableBuf + 6);
  if (count == 0 || count > <u32>PTABLE_MAX_ENTRIES) return failNum(EINVAL, "header", "entry count ", count, " is outside 1..16");
  const tableEraseBytes = load<u32>(tableBuf + 8);
  if (tableEraseBytes != eraseBlockBytes) return failNum(EINVAL, "header", "erase block size ", tableEraseBytes, " is not this device's");
  const tableBlocks = load<u32>(tableBuf + 12);
  if (tableBlocks != blockCount) return failNum(EINVAL, "header", "block count ", tableBlocks, " is not this device's");
  const bodyBytes = HEADER_BYTES + count * ENTRY_BYTES;
  if (bodyBytes + 4 > eraseBlockBytes) return fail(EINVAL, "header", "the table does not fit block 0");
  if (flashReadBytes(eraseBlockBytes, 0, tableBuf, bodyBytes + 4) != 0) return fail(EIO, "entries", "cannot be read from flash");
  if (~crc32(0xffffffff, tableBuf, bodyBytes) != load<u32>(tableBuf + <usize>bodyBytes)) return fail(ECORRUPT, "CRC", "CRC-32 does not match (damaged table)");

  const deviceBytes = <u64>eraseBlockBytes * <u64>blockCount;
  let seen: u32 = 0;
  let activeOs: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    const e = tableBuf + <usize>(HEADER_BYTES + i * ENTRY_BYTES);
    const type = <u32>load<u16>(e);
    const flags = <u32>load<u16>(e + 2);
    const offset = load<u32>(e + 4);
    const size = load<u32>(e + 8);
    if (type < <u32>PART_OS_A || type > <u32>PART_DATA) return failEntry(i, type, "unknown partition type");
    if ((seen & (1 << type)) != 0) return failEntry(i, type, "a second partition of this type");
    seen |= 1 << type;
    const isOs = type == <u32>PART_OS_A || type == <u32>PART_OS_B;
    if ((flags & ~(isOs ? <u32>PART_FLAG_ACTIVE : 0)) != 0) return failEntry(i, type, "flags hold a bit this type does not define");
    if ((flags & <u32>PART_FLAG_ACTIVE) != 0) activeOs++;
    if (load<u32>(e + 12) != 0) return failEntry(i, type, "reserved bytes are not zero");
    if (size == 0) return failEntry(i, type, "is empty");
    if (offset % eraseBlockBytes != 0 || size % eraseBlockBytes != 0) return failEntry(i, type, "offset or size is not a whole number of erase blocks");
    if (offset < eraseBlockBytes) return failEntry(i, type, "overlaps the table in block 0");
    if (<u64>offset + <u64>size > deviceBytes) return failEntry(i, type, "ends past the end of the device");
    for (let j: u32 = 0; j < i; j++) {
      const o = tableBuf + <usize>(HEADER_BYTES + j * ENTRY_BYTES);
      const oOff = <u64>load<u32>(o + 4);
      const oEnd = oOff + <u64>load<u32>(o + 8);
      if (<u64>offset < oEnd && oOff < <u64>offset + <u64>size) {
        failEntry(i, type, "overlaps entry ");
        msgInt(j);
        return -EINVAL;
      }
    }
  }
  for (let t: u32 = <u32>PART_OS_A; t <= <u32>PART_DATA; t++) {
    if ((seen & (1 << t)) == 0) { fail(EINVAL, "entries", "no "); msgStr(typeName(t)); msgStr(" partition"); return -EINVAL; }
  }
  if (activeOs != 1) return failNum(EINVAL, "entries", "", activeOs, " OS slots are marked active; exactly one must be");
  for (let i: u32 = 0; i < count; i++) {
    const e = tableBuf + <usize>(HEADER_BYTES + i * ENTRY_BYTES);
    const r = out + <usize>(i * <u32>PARTITION_ENTRY_BYTES);
    store<u16>(r, load<u16>(e));
    store<u16>(r + 2, load<u16>(e + 2));
    store<u32>(r + 4, load<u32>(e + 4));
    store<u32>(r + 8, load<u32>(e + 8));
  }
  msgClear();
  return <i32>count;
}
