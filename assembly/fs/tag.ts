// fs/tag: the littlefs metadata tag codec and CTZ skip-list index math.
//
// A tag is [valid:1][type:11][id:10][size:10], stored big-endian and XORed with the previous
// tag of its block. Types are the on-disk numbers of littlefs's SPEC.md.
// Invariants: pure functions of their arguments.
// Budget: none. Must not: touch memory.

export const TYPE_NAME: u32 = 0x000;
export const TYPE_REG: u32 = 0x001;
export const TYPE_DIR: u32 = 0x002;
export const TYPE_SUPERBLOCK: u32 = 0x0ff;
export const TYPE_STRUCT: u32 = 0x200;
export const TYPE_DIRSTRUCT: u32 = 0x200;
export const TYPE_INLINESTRUCT: u32 = 0x201;
export const TYPE_CTZSTRUCT: u32 = 0x202;
export const TYPE_USERATTR: u32 = 0x300;
export const TYPE_SPLICE: u32 = 0x400;
export const TYPE_CREATE: u32 = 0x401;
export const TYPE_DELETE: u32 = 0x4ff;
export const TYPE_CRC: u32 = 0x500;
export const TYPE_FCRC: u32 = 0x5ff;
export const TYPE_TAIL: u32 = 0x600;
export const TYPE_SOFTTAIL: u32 = 0x600;
export const TYPE_HARDTAIL: u32 = 0x601;
export const TYPE_GLOBALS: u32 = 0x700;
export const TYPE_MOVESTATE: u32 = 0x7ff;

export const ID_NONE: u32 = 0x3ff;
export const SIZE_DELETED: u32 = 0x3ff;

@inline export function mkTag(type: u32, id: u32, size: u32): u32 { return (type << 20) | (id << 10) | size; }
@inline export function tagIsValid(t: u32): bool { return (t & 0x80000000) == 0; }
@inline export function tagType1(t: u32): u32 { return (t & 0x70000000) >>> 20; }
@inline export function tagType3(t: u32): u32 { return (t & 0x7ff00000) >>> 20; }
@inline export function tagChunk(t: u32): u32 { return (t >>> 20) & 0xff; }
@inline export function tagSplice(t: u32): i32 { return <i32><i8>(<u8>tagChunk(t)); }
@inline export function tagId(t: u32): u32 { return (t >>> 10) & 0x3ff; }
@inline export function tagSize(t: u32): u32 { return t & 0x3ff; }
@inline export function tagIsDelete(t: u32): bool { return (t & 0x3ff) == 0x3ff; }
/** Bytes the tag occupies on disk: the tag word plus its data (a deleted tag has none). */
@inline export function tagDsize(t: u32): u32 { return 4 + ((t + (tagIsDelete(t) ? 1 : 0)) & 0x3ff); }
/** A commit CRC tag (0x500/0x501), not the FCRC (0x5ff). */
@inline export function tagIsCcrc(t: u32): bool { return (tagType3(t) & 0x780) == 0x500; }

/** Wrap-around comparison of revision counts: a is newer than b. */
@inline export function seqNewer(a: u32, b: u32): bool { return <i32>(a - b) > 0; }

// ---- CTZ skip-list index math (DESIGN.md "CTZ skip-lists").

/** Index of the block holding file position `pos`. */
export function ctzIndex(blockBytes: u32, pos: u32): u32 {
  const b = blockBytes - 8;
  const i = pos / b;
  if (i == 0) return 0;
  return (pos - 4 * (<u32>popcnt(i - 1) + 2)) / b;
}

/** Offset of file position `pos` inside its block (ctzIndex's block). */
export function ctzOffset(blockBytes: u32, pos: u32): u32 {
  const i = ctzIndex(blockBytes, pos);
  return pos - (blockBytes - 8) * i - 4 * <u32>popcnt(i);
}

/** Pointers stored at the start of block `index` (block 0 has none). */
@inline export function ctzPointerCount(index: u32): u32 { return index == 0 ? 0 : <u32>ctz(index) + 1; }
