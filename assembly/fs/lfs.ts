// fs/lfs: littlefs v2.1 (on-disk format 0x00020001), metadata pairs, directories and files.
//
// Built from the facts of littlefs's SPEC.md and DESIGN.md. The core talks to flash only through
// fs/bd (hal.flash_*). Ids used here are on-disk ids: a pending move's source entry is skipped
// by lookups and readdir (never renumbered), and every write finishes a pending move first, so
// writes always see a consistent pair.
// Invariants: every walk over disk data is bounded (offsets only grow inside a block, list walks
// stop after block_count pairs), so a corrupt or looping image is -ECORRUPT, never a hang or trap.
// Every function here that reads or changes file-system state takes its Mount (fs/mount) first:
// several mounts (the data partition, read-only app packages) live side by side, and results come
// back as return values (value or -errno in one i64, or a record the caller passes), never through
// module-level variables. What is module-level here is scratch one call uses and shares with no
// other mount's call (the core is single-threaded; DESIGN.md, "littlefs mounts").
// Budget per mount: read cache, and for a read-write mount program cache + lookahead, plus one
// cache per open file, all cache_size or lookahead_size bytes from kalloc at mount/open, and the
// mount's record (fs/mount, MOUNT_RECORD_BYTES); shared by all mounts: the static scratch that
// LFS_STATIC_BYTES sums (6,576 B, 4,352 B of it the commit attribute list);
// fs_mount_ram_bytes and fs_ram_bytes report them.
// Must not: allocate from the managed heap, trap on bad disk data, touch flash but through bd, or
// write on a read-only mount (every write entry point answers -EROFS first).

import { kalloc, kfree } from "../kmem";
import {
  ENOENT, EIO, EBADF, ENOMEM, EEXIST, ENOTDIR, EISDIR, EINVAL, EFBIG, ENOSPC, ENAMETOOLONG,
  ENOTEMPTY, ENODATA, ECORRUPT, EROFS, EBUSY, MAX_MOUNTS, MAX_APPS,
} from "../abi";
import {
  BLOCK_NULL, BLOCK_INLINE, Cache, cacheDrop, cacheZero, bdRead, bdProg, bdErase,
  bdFlush, bdSync, bdCmp, bdCrc, bdValidGeometry, CMP_EQUAL, CMP_FLASH_AFTER,
  bdGeneration, bdTouch, BD_STATIC_BYTES,
} from "./bd";
import {
  Mount, FILE_MAX_OPEN, DIR_MAX_OPEN, MOUNT_RECORD_BYTES, MOUNT_TABLE_BYTES, OWNER_SYSTEM, mountAt,
  mountNew, mountRelease, mountRecordHeapBytes, mountFlashBlocks,
} from "./mount";
export { FILE_MAX_OPEN, DIR_MAX_OPEN };
import { crc32, crc32u32, CRC_TABLE_BYTES } from "./crc";
import { CMP_FLASH_BEFORE } from "./bd";
import {
  TYPE_NAME, TYPE_REG, TYPE_DIR, TYPE_SUPERBLOCK, TYPE_STRUCT, TYPE_DIRSTRUCT, TYPE_INLINESTRUCT,
  TYPE_CTZSTRUCT, TYPE_USERATTR, TYPE_SPLICE, TYPE_CREATE, TYPE_DELETE, TYPE_FCRC, TYPE_TAIL,
  TYPE_SOFTTAIL, TYPE_HARDTAIL, TYPE_MOVESTATE, ID_NONE, SIZE_DELETED, mkTag, tagIsValid, tagType1,
  tagType3, tagChunk, tagSplice, tagId, tagSize, tagIsDelete, tagDsize, tagIsCcrc, seqNewer,
  ctzIndex, ctzOffset,
} from "./tag";

export const DISK_VERSION: u32 = 0x00020001;
export const NAME_MAX_DEFAULT: u32 = 255;
export const FILE_MAX_DEFAULT: u32 = 2147483647;
export const ATTR_MAX_DEFAULT: u32 = 1022;

// littlefs open flags.
export const O_RDONLY: u32 = 1;
export const O_WRONLY: u32 = 2;
export const O_RDWR: u32 = 3;
export const O_CREAT: u32 = 0x0100;
export const O_EXCL: u32 = 0x0200;
export const O_TRUNC: u32 = 0x0400;
export const O_APPEND: u32 = 0x0800;
// Internal file state.
const F_DIRTY: u32 = 0x010000;
const F_WRITING: u32 = 0x020000;
const F_READING: u32 = 0x040000;
const F_ERRED: u32 = 0x080000;
const F_INLINE: u32 = 0x100000;

export function fsConfig(m: Mount, bs: u32, bc: u32, rs: u32, ps: u32, cs: u32, la: u32, cycles: i32, nm: u32, im: u32): i32 {
  if (m.mounted) return -EINVAL;
  if (bs < 128 || rs == 0 || ps == 0 || cs == 0) return -EINVAL;
  if (cs % rs != 0 || cs % ps != 0 || bs % cs != 0) return -EINVAL;
  if (la == 0 || la % 4 != 0) return -EINVAL;
  if (nm > NAME_MAX_DEFAULT) return -EINVAL;
  if (cycles == 0) return -EINVAL;
  m.cfgBlockSize = bs; m.cfgBlockCount = bc; m.cfgReadSize = rs; m.cfgProgSize = ps; m.cfgCacheSize = cs;
  m.cfgLookaheadBytes = la; m.cfgBlockCycles = cycles; m.cfgNameMax = nm == 0 ? NAME_MAX_DEFAULT : nm;
  m.cfgInlineMax = im;
  m.configured = true;
  return 0;
}

// ---- metadata pairs in RAM

/** A fetched metadata pair: 40 bytes. */
@unmanaged export class MDir {
  pair0: u32;
  pair1: u32;
  rev: u32;
  off: u32;
  etag: u32;
  count: u32;
  erased: u32;
  split: u32;
  tail0: u32;
  tail1: u32;
}
const MDIR_BYTES: usize = 40;
const MDIR_SLOTS: i32 = 14;
const mdirPool: usize = memory.data(<i32>MDIR_BYTES * MDIR_SLOTS, 4);
@inline function mdirSlot(i: i32): MDir { return changetype<MDir>(mdirPool + <usize>i * MDIR_BYTES); }
function mdirCopy(dst: MDir, src: MDir): void { memory.copy(changetype<usize>(dst), changetype<usize>(src), MDIR_BYTES); }

// Named slots: each function that needs a scratch pair uses its own, so nothing is shared
// between a caller and a callee.
const MD_WALK = 0;     // list walks (mount, traverse, pred/parent search)
const MD_LOOKUP = 1;   // result of a path lookup (the pair holding the entry)
const MD_LOOKUP2 = 2;  // second lookup (rename target)
const MD_TMP = 3;      // general scratch
const MD_CHILD = 4;    // a directory's own pair (mkdir, remove)
const MD_PARENT = 5;   // parent/pred searches
const MD_SPLIT = 6;    // new pair of a split
const MD_COMMIT = 7;   // commit target copies
const MD_ROOT = 8;     // root pair
const MD_RELOC = 9;    // relocation fix-ups
const MD_FILE = 10;    // file sync target
const MD_MOVE = 11;    // move-finishing
const MD_DROP = 12;    // predecessor of a pair a commit empties
const MD_CHECK = 13;   // fsCheck's walks
// Open directory handles are the mount's own (Mount.dirMds).

const beBuf: usize = memory.data(16, 4);

@inline function bswap32(v: u32): u32 { return bswap<u32>(v); }

/** The u32 at (block, off): its value (0..2^32-1) or -errno. */
function readU32(m: Mount, block: u32, off: u32): i64 {
  const err = bdRead(m, null, block, off, beBuf, 4);
  if (err < 0) return err;
  return <i64>load<u32>(beBuf);
}

function isNullPair(p0: u32, p1: u32): bool { return p0 == BLOCK_NULL || p1 == BLOCK_NULL; }
function pairEq(a0: u32, a1: u32, b0: u32, b1: u32): bool {
  return (a0 == b0 && a1 == b1) || (a0 == b1 && a1 == b0);
}
function pairShares(a0: u32, a1: u32, b0: u32, b1: u32): bool {
  return a0 == b0 || a1 == b1 || a0 == b1 || a1 == b0;
}

/**
 * What a log parse noticed on its way through a pair's committed tags, for mount: where the
 * newest gstate delta is, and whether any superblock entry tag is there. Mount would otherwise
 * scan each pair's log backwards twice more to find them. 12 bytes, static.
 */
@unmanaged class ParseNotes {
  gstateOff: u32;  // data offset of the newest MOVESTATE tag, 0 if none
  gstateSize: u32;
  superblock: u32; // 1 if a SUPERBLOCK tag is committed
}
const mountNotes = changetype<ParseNotes>(memory.data(12, 4));

/** Parses one block of a pair; 0 when it holds a valid commit (d filled), 1 when not. */
function parseBlock(m: Mount, d: MDir, blk: u32, rev: u32, notes: ParseNotes | null): i32 {
  let off: u32 = 4;
  let ptag: u32 = 0xffffffff;
  let crc = crc32u32(0xffffffff, rev);
  let tempCount: i32 = 0;
  let tempTail0 = BLOCK_NULL, tempTail1 = BLOCK_NULL;
  let tempSplit: u32 = 0;
  let hasFcrc = false, fcrcSize: u32 = 0, fcrcCrc: u32 = 0;
  let okFcrc = false, okFcrcSize: u32 = 0, okFcrcCrc: u32 = 0;
  let committed = false;
  let maybeErased = false;
  let tempGOff: u32 = 0, tempGSize: u32 = 0, tempSb: u32 = 0;
  if (notes != null) { notes.gstateOff = 0; notes.gstateSize = 0; notes.superblock = 0; }
  while (true) {
    if (off + 4 > m.blockSize) break;
    // A parse reads on through the log: each miss loads a whole line.
    let err = bdRead(m, null, blk, off, beBuf, 4, m.blockSize - off);
    if (err < 0) { if (err == -ECORRUPT) break; return err; }
    const raw = load<u32>(beBuf);
    const tag = bswap32(raw) ^ ptag;
    if (!tagIsValid(tag)) { maybeErased = true; break; }
    const dsize = tagDsize(tag);
    if (off + dsize > m.blockSize) break;
    const ncrc = crc32u32(crc, raw);
    ptag = tag;
    if (tagIsCcrc(tag)) {
      err = bdRead(m, null, blk, off + 4, beBuf, 4);
      if (err < 0) { if (err == -ECORRUPT) break; return err; }
      if (ncrc != load<u32>(beBuf)) break;
      ptag ^= (tagChunk(tag) & 1) << 31;
      committed = true;
      d.off = off + dsize;
      d.etag = ptag;
      d.count = tempCount < 0 ? 0 : (tempCount > 0x3ff ? 0x3ff : <u32>tempCount);
      d.tail0 = tempTail0; d.tail1 = tempTail1; d.split = tempSplit;
      okFcrc = hasFcrc; okFcrcSize = fcrcSize; okFcrcCrc = fcrcCrc;
      hasFcrc = false;
      if (notes != null) { notes.gstateOff = tempGOff; notes.gstateSize = tempGSize; notes.superblock = tempSb; }
      crc = 0xffffffff;
      off += dsize;
      continue;
    }
    const cr = bdCrc(m, blk, off + 4, dsize - 4, ncrc, m.blockSize - off - 4);
    if (cr < 0) { if (cr == -ECORRUPT) break; return <i32>cr; }
    crc = <u32>cr;
    const t1 = tagType1(tag);
    if (tagType3(tag) == TYPE_MOVESTATE) { tempGOff = tagIsDelete(tag) ? 0 : off + 4; tempGSize = tagSize(tag); }
    if (tagType3(tag) == TYPE_SUPERBLOCK) tempSb = 1;
    if (t1 == TYPE_NAME) {
      if (<i32>tagId(tag) >= tempCount) tempCount = <i32>tagId(tag) + 1;
    } else if (t1 == TYPE_SPLICE) {
      tempCount += tagSplice(tag);
    } else if (t1 == TYPE_TAIL) {
      tempSplit = tagChunk(tag) & 1;
      err = bdRead(m, null, blk, off + 4, beBuf, 8);
      if (err < 0) { if (err == -ECORRUPT) break; return err; }
      tempTail0 = load<u32>(beBuf); tempTail1 = load<u32>(beBuf, 4);
    } else if (tagType3(tag) == TYPE_FCRC && tagSize(tag) >= 8) {
      err = bdRead(m, null, blk, off + 4, beBuf, 8);
      if (err < 0) { if (err == -ECORRUPT) break; return err; }
      hasFcrc = true; fcrcSize = load<u32>(beBuf); fcrcCrc = load<u32>(beBuf, 4);
    }
    off += dsize;
  }
  if (!committed) return 1;
  d.erased = 0;
  if (maybeErased && d.off % m.progSize == 0 && okFcrc && okFcrcSize <= m.blockSize - d.off) {
    const cr = bdCrc(m, blk, d.off, okFcrcSize, 0xffffffff);
    if (cr < 0 && cr != -ECORRUPT) return <i32>cr;
    if (cr >= 0 && <u32>cr == okFcrcCrc) d.erased = 1;
  }
  return 0;
}

// Fetched pairs, valid while bdGeneration is unchanged: readdir, lookups and getattr fetch the
// same pairs over and over, and a fetch CRCs the whole log. 8 x 48 bytes, static.
const FETCH_SLOTS: i32 = 8;
const FETCH_SLOT_BYTES: usize = 8 + MDIR_BYTES;
const fetchCache: usize = memory.data(<i32>FETCH_SLOT_BYTES * FETCH_SLOTS, 4);
let fetchNext: i32 = 0;
let fetchCacheOn = true;

/** Forgets every fetched pair: the flash may have changed behind the file system's back. */
export function fetchForget(): void { bdTouch(); }
export function setFetchCache(on: bool): void { fetchCacheOn = on; bdTouch(); }

/** Reads the newest valid state of pair {p0, p1} into d; with `notes`, always from flash. */
export function fetch(m: Mount, d: MDir, p0: u32, p1: u32, notes: ParseNotes | null = null): i32 {
  if (p0 >= m.blockCount || p1 >= m.blockCount) return -ECORRUPT;
  if (fetchCacheOn && notes == null) {
    for (let i = 0; i < FETCH_SLOTS; i++) {
      const e = fetchCache + <usize>i * FETCH_SLOT_BYTES;
      if (load<u32>(e) != bdGeneration + 1 || load<u32>(e, 4) != m.slot + 1) continue;
      const hd = changetype<MDir>(e + 8);
      if (!pairEq(hd.pair0, hd.pair1, p0, p1)) continue;
      mdirCopy(d, hd);
      return 0;
    }
  }
  const r = fetchUncached(m, d, p0, p1, notes);
  if (r == 0 && fetchCacheOn) {
    // fetchNext stays in [0, FETCH_SLOTS)
    const e = fetchCache + <usize>fetchNext * FETCH_SLOT_BYTES;
    fetchNext = (fetchNext + 1) % FETCH_SLOTS;
    store<u32>(e, bdGeneration + 1);
    store<u32>(e, m.slot + 1, 4);
    mdirCopy(changetype<MDir>(e + 8), d);
  }
  return r;
}

function fetchUncached(m: Mount, d: MDir, p0: u32, p1: u32, notes: ParseNotes | null): i32 {
  let rev0: u32 = 0, rev1: u32 = 0;
  const r0 = readU32(m, p0, 0), r1 = readU32(m, p1, 0);
  const ok0 = r0 >= 0, ok1 = r1 >= 0;
  if (ok0) rev0 = <u32>r0;
  if (ok1) rev1 = <u32>r1;
  const second = ok1 && (!ok0 || seqNewer(rev1, rev0));
  for (let i = 0; i < 2; i++) {
    const useSecond = (i == 0) == second;
    const blk = useSecond ? p1 : p0;
    const other = useSecond ? p0 : p1;
    const rev = useSecond ? rev1 : rev0;
    if (useSecond ? !ok1 : !ok0) continue;
    const r = parseBlock(m, d, blk, rev, notes);
    if (r < 0) return r;
    if (r == 0) {
      d.pair0 = blk; d.pair1 = other; d.rev = rev;
      return 0;
    }
  }
  return -ECORRUPT;
}

/** A tag dirFind found and the disk offset of its data, as one non-negative i64. */
@inline function found(tag: u32, dataOff: u32): i64 { return (<i64>dataOff << 32) | <i64>tag; }
@inline function foundTag(r: i64): u32 { return <u32>r; }
@inline function foundOff(r: i64): u32 { return <u32>(r >>> 32); }

/**
 * Finds the newest tag matching gtag under gmask, tracking id renumbering by splices: the tag
 * (with the id as asked) and its data's disk offset (found()), -ENOENT, or -errno.
 */
function dirFind(m: Mount, d: MDir, gmask: u32, gtag: u32): i64 {
  let off = d.off;
  let ntag = d.etag;
  let gdiff: u32 = 0;
  while (off >= 4 + tagDsize(ntag)) {
    off -= tagDsize(ntag);
    const tag = ntag;
    const err = bdRead(m, null, d.pair0, off, beBuf, 4);
    if (err < 0) return err;
    ntag = (bswap32(load<u32>(beBuf)) ^ tag) & 0x7fffffff;
    const want = gtag - gdiff;
    if ((gmask & mkTag(0, 0x3ff, 0)) != 0 && tagType1(tag) == TYPE_SPLICE && tagId(tag) <= tagId(want)) {
      if ((tag & 0x7ffffc00) == mkTag(TYPE_CREATE, tagId(want), 0)) return -ENOENT;
      gdiff += <u32>(tagSplice(tag) << 10);
    }
    if ((gmask & tag) == (gmask & (gtag - gdiff))) {
      if (tagIsDelete(tag)) return -ENOENT;
      return found((tag + gdiff) & 0x7fffffff, off + 4);
    }
  }
  return -ENOENT;
}

/**
 * dirFind, then copies up to `size` bytes of the tag's data from offset `goff` to dst
 * (zero-filling the rest). Returns the tag or -errno.
 */
export function dirGetSlice(m: Mount, d: MDir, gmask: u32, gtag: u32, goff: u32, dst: usize, size: u32): i32 {
  const r = dirFind(m, d, gmask, gtag);
  if (r < 0) return <i32>r;
  const tag = foundTag(r);
  if (size > 0) {
    const tsize = tagSize(tag);
    const avail = goff < tsize ? tsize - goff : 0;
    const n = min(avail, size);
    if (n > 0) {
      const e2 = bdRead(m, null, d.pair0, foundOff(r) + goff, dst, n);
      if (e2 < 0) return e2;
    }
    if (n < size) memory.fill(dst + n, 0, size - n);
  }
  return <i32>tag;
}

/** Where an entry's newest name and struct tags are (tag 0: none). 16 bytes. */
@unmanaged class EntryTags {
  nameTag: u32;   // as dirGet returns it: the id as asked
  nameOff: u32;   // disk offset of its data
  structTag: u32;
  structOff: u32;
}
const dirReadTags = changetype<EntryTags>(memory.data(16, 4));

/**
 * dirGet of entry `id`'s name (mask 0x780) and of its struct (mask 0x700) in one backward scan
 * of the log, which stops as soon as both are known: a directory listing needs both for every
 * entry, and two scans read the log twice. Returns 0 or -errno.
 */
function dirGetEntryTags(m: Mount, d: MDir, id: u32, out: EntryTags): i32 {
  out.nameTag = 0; out.nameOff = 0; out.structTag = 0; out.structOff = 0;
  const nameMask = mkTag(0x780, 0x3ff, 0), structMask = mkTag(0x700, 0x3ff, 0);
  const nameWant = mkTag(TYPE_NAME, id, 0), structWant = mkTag(TYPE_STRUCT, id, 0);
  let nameDone = false, structDone = false;
  let off = d.off;
  let ntag = d.etag;
  let gdiff: u32 = 0;
  while (off >= 4 + tagDsize(ntag) && !(nameDone && structDone)) {
    off -= tagDsize(ntag);
    const tag = ntag;
    const err = bdRead(m, null, d.pair0, off, beBuf, 4);
    if (err < 0) return err;
    ntag = (bswap32(load<u32>(beBuf)) ^ tag) & 0x7fffffff;
    if (tagType1(tag) == TYPE_SPLICE && tagId(tag) <= tagId(nameWant - gdiff)) {
      // The entry's creation: nothing older belongs to it.
      if ((tag & 0x7ffffc00) == mkTag(TYPE_CREATE, tagId(nameWant - gdiff), 0)) break;
      gdiff += <u32>(tagSplice(tag) << 10);
    }
    if (!nameDone && (nameMask & tag) == (nameMask & (nameWant - gdiff))) {
      nameDone = true;
      if (!tagIsDelete(tag)) { out.nameTag = (tag + gdiff) & 0x7fffffff; out.nameOff = off + 4; }
    }
    if (!structDone && (structMask & tag) == (structMask & (structWant - gdiff))) {
      structDone = true;
      if (!tagIsDelete(tag)) { out.structTag = (tag + gdiff) & 0x7fffffff; out.structOff = off + 4; }
    }
  }
  return 0;
}

export function dirGet(m: Mount, d: MDir, gmask: u32, gtag: u32, dst: usize): i32 {
  return dirGetSlice(m, d, gmask, gtag, 0, dst, tagSize(gtag));
}

const gBuf: usize = memory.data(12, 4);
/** Writes this pair's own gstate delta (tag, pair0, pair1; zeros when it has none) to dst. */
function dirGetGstate(m: Mount, d: MDir, dst: usize): i32 {
  const t = dirGet(m, d, mkTag(0x7ff, 0, 0), mkTag(TYPE_MOVESTATE, 0, 12), dst);
  if (t == -ENOENT) { memory.fill(dst, 0, 12); return 0; }
  return t < 0 ? t : 0;
}

function hasMove(m: Mount): bool { return (m.gsTag & 0x7ff00000) != 0; }
function moveId(m: Mount): u32 { return tagId(m.gsTag); }
function moveIsHere(m: Mount, p0: u32, p1: u32): bool {
  return hasMove(m) && pairEq(m.gsP0, m.gsP1, p0, p1);
}
function diskMoveIsHere(m: Mount, p0: u32, p1: u32): bool {
  return (m.gdTag & 0x7ff00000) != 0 && pairEq(m.gdP0, m.gdP1, p0, p1);
}

// ---- names


/** memcmp of a name on disk with one in memory, littlefs's order: on a common prefix the
 *  longer name sorts first. A CMP_* result (fs/bd) or -errno. */
function nameCmp(m: Mount, block: u32, off: u32, diskLen: u32, name: usize, nameLen: u32): i32 {
  const n = min(diskLen, nameLen);
  const r = bdCmp(m, block, off, name, n);
  if (r != CMP_EQUAL) return r;
  if (nameLen == diskLen) return CMP_EQUAL;
  return nameLen < diskLen ? CMP_FLASH_BEFORE : CMP_FLASH_AFTER;
}

/**
 * Looks for `name` among the committed entries of d. Returns its id, -1 if absent, or -errno.
 * Sets lk.insertId (where the name would sort) and lk.greater (a greater name exists here).
 */
function dirFindName(m: Mount, d: MDir, name: usize, nameLen: u32, lk: Found): i32 {
  let off: u32 = 4;
  let ptag: u32 = 0xffffffff;
  let best: i32 = -1;
  let gt: i32 = 0x3ff;
  while (off < d.off) {
    const err = bdRead(m, null, d.pair0, off, beBuf, 4, d.off - off);
    if (err < 0) return err;
    const tag = (bswap32(load<u32>(beBuf)) ^ ptag);
    ptag = tag;
    const dsize = tagDsize(tag);
    if (tagIsCcrc(tag)) {
      ptag ^= (tagChunk(tag) & 1) << 31;
    } else if (tagType1(tag) == TYPE_NAME && (tagType3(tag) & 0x780) == 0) {
      const id = <i32>tagId(tag);
      const c = nameCmp(m, d.pair0, off + 4, tagSize(tag), name, nameLen);
      if (c < 0) return c;
      if (c == CMP_EQUAL) best = id;
      else if (id == best) best = -1;
      if (c == CMP_FLASH_AFTER && id <= gt) gt = id;
    } else if (tagType1(tag) == TYPE_SPLICE) {
      const id = <i32>tagId(tag);
      const s = tagSplice(tag);
      if (best >= 0) {
        if (tagType3(tag) == TYPE_DELETE && id == best) best = -1;
        else if (id <= best) best += s;
      }
      if (gt != 0x3ff) {
        if (s > 0 && id <= gt) gt += 1;
        else if (s < 0 && id < gt) gt -= 1;
      }
    }
    off += dsize;
  }
  lk.greater = gt < <i32>d.count;
  lk.insertId = gt < <i32>d.count ? <u32>gt : d.count;
  if (best >= 0 && moveIsHere(m, d.pair0, d.pair1) && <u32>best == moveId(m)) best = -1;
  if (best >= <i32>d.count) best = -1;
  return best;
}

// ---- path lookup

/** What a path lookup found, filled by lookup for its caller: 24 bytes. */
@unmanaged class Found {
  tag: u32;        // tag of the entry found (type3 REG/DIR, id); root is DIR with id 0x3ff
  namePtr: usize;  // on -ENOENT: the missing component's name
  nameLen: u32;
  insertId: u32;   // where it would be created (in the pair lookup left in its MDir)
  isLast: bool;    // -ENOENT came from the last path component
  greater: bool;   // dirFindName: a greater name exists in the pair it searched
}
// Two result records: one per lookup a call keeps (rename keeps the source's and the target's).
const foundA = changetype<Found>(memory.data(24, 4));
const foundB = changetype<Found>(memory.data(24, 4));

const COMP_MAX = 64;
const compOff: usize = memory.data(COMP_MAX * 4, 4);
const compLen: usize = memory.data(COMP_MAX * 4, 4);
const dirStructBuf: usize = memory.data(8, 4);

/**
 * Resolves `path` (bytes at ptr): fills `d` with the pair holding the entry and `lk` with what
 * was found. On -ENOENT with lk.isLast, `d` is the pair where the name would go.
 */
function lookup(m: Mount, d: MDir, lk: Found, ptr: usize, len: u32): i32 {
  // Split into components, resolving "." and ".." textually.
  let n = 0;
  let i: u32 = 0;
  while (i < len) {
    while (i < len && load<u8>(ptr + i) == 0x2f) i++;
    if (i >= len) break;
    const start = i;
    while (i < len && load<u8>(ptr + i) != 0x2f) i++;
    const clen = i - start;
    if (clen == 1 && load<u8>(ptr + start) == 0x2e) continue;
    if (clen == 2 && load<u8>(ptr + start) == 0x2e && load<u8>(ptr + start + 1) == 0x2e) {
      if (n > 0) n--;
      continue;
    }
    if (n >= COMP_MAX) return -ENAMETOOLONG;
    // n < COMP_MAX: checked above
    store<u32>(compOff + (<usize>n << 2), start);
    store<u32>(compLen + (<usize>n << 2), clen);
    n++;
  }
  lk.isLast = false;
  let err = fetch(m, d, m.root0, m.root1);
  if (err < 0) return err;
  lk.tag = mkTag(TYPE_DIR, ID_NONE, 0);
  for (let c = 0; c < n; c++) {
    const nptr = ptr + load<u32>(compOff + (<usize>c << 2));
    const nlen = load<u32>(compLen + (<usize>c << 2));
    if (tagType3(lk.tag) != TYPE_DIR) return -ENOTDIR;
    if (tagId(lk.tag) != ID_NONE) {
      const t = dirGet(m, d, mkTag(0x700, 0x3ff, 0), mkTag(TYPE_STRUCT, tagId(lk.tag), 8), dirStructBuf);
      if (t < 0) return t;
      if (tagType3(<u32>t) != TYPE_DIRSTRUCT) return -ECORRUPT;
      err = fetch(m, d, load<u32>(dirStructBuf), load<u32>(dirStructBuf, 4));
      if (err < 0) return err;
    }
    // Walk the directory's pairs (hard tails) looking for the name.
    let steps: u32 = 0;
    while (true) {
      const id = dirFindName(m, d, nptr, nlen, lk);
      if (id < -1) return id;
      if (id >= 0) {
        const t = dirGet(m, d, mkTag(0x780, 0x3ff, 0), mkTag(TYPE_NAME, <u32>id, 0), 0);
        if (t < 0) return t == -ENOENT ? -ECORRUPT : t;
        lk.tag = <u32>t;
        break;
      }
      if (lk.greater || !d.split) {
        lk.isLast = c == n - 1;
        lk.namePtr = nptr; lk.nameLen = nlen;
        return -ENOENT;
      }
      if (++steps > m.blockCount) return -ECORRUPT;
      err = fetch(m, d, d.tail0, d.tail1);
      if (err < 0) return err;
    }
  }
  return 0;
}

// ---- mount / unmount

function freeAll(m: Mount): void {
  kfree(m.rcache.buf); m.rcache.buf = 0;
  kfree(m.pcache.buf); m.pcache.buf = 0;
  kfree(m.lookaheadBuf); m.lookaheadBuf = 0;
  m.ramBytes = 0;
}

function allocBuffers(m: Mount): i32 {
  m.blockSize = m.cfgBlockSize; m.blockCount = m.cfgBlockCount; m.readSize = m.cfgReadSize;
  m.progSize = m.cfgProgSize; m.cacheSize = m.cfgCacheSize;
  // A read-only mount never programs or allocates: no program cache, no lookahead.
  m.rcache.buf = kalloc(m.cfgCacheSize);
  if (!m.readOnly) {
    m.pcache.buf = kalloc(m.cfgCacheSize);
    m.lookaheadBuf = kalloc(m.cfgLookaheadBytes);
  }
  if (m.rcache.buf == 0 || (!m.readOnly && (m.pcache.buf == 0 || m.lookaheadBuf == 0))) { freeAll(m); return -ENOMEM; }
  cacheZero(m, m.rcache); cacheZero(m, m.pcache);
  m.ramBytes = m.readOnly ? m.cfgCacheSize : 2 * m.cfgCacheSize + m.cfgLookaheadBytes;
  m.nameMax = m.cfgNameMax; m.fileMax = FILE_MAX_DEFAULT; m.attrMax = ATTR_MAX_DEFAULT;
  return 0;
}

function computeInlineMax(m: Mount): void {
  let hd = min(m.cacheSize, min(m.attrMax, m.blockSize / 8));
  if (m.cfgInlineMax != 0 && m.cfgInlineMax < hd) hd = m.cfgInlineMax;
  m.inlineMax = hd;
}

const sbBuf: usize = memory.data(24, 4);
const magic: usize = memory.data<u8>([0x6c, 0x69, 0x74, 0x74, 0x6c, 0x65, 0x66, 0x73]);

export function fsMount(m: Mount): i32 {
  fetchForget();
  if (!m.configured) return -EINVAL;
  if (m.mounted) return -EINVAL;
  let err = allocBuffers(m);
  if (err < 0) return err;
  // The device may be smaller than the superblock claims until we read it: allow any block (of
  // the partition, when the mount has one) while looking for the superblock when block_count is 0.
  if (m.cfgBlockCount == 0) m.blockCount = m.partBlocks != 0 ? m.partBlocks : 0xfffffff0;
  err = mountScan(m);
  if (err < 0) { freeAll(m); m.blockCount = m.cfgBlockCount; return err; }
  computeInlineMax(m);
  // Lookahead starts at a pseudo-random block so wear spreads over mounts.
  m.laStart = m.blockCount > 0 ? m.seed % m.blockCount : 0;
  m.laSize = 0; m.laNext = 0; m.laCkpoint = m.blockCount;
  for (let i = 0; i < FILE_MAX_OPEN; i++) fileAt(m, i).flags = 0;
  for (let i = 0; i < DIR_MAX_OPEN; i++) store<u32>(m.dirUsed + (<usize>i << 2), 0);
  m.mounted = true;
  return 0;
}

function mountScan(m: Mount): i32 {
  const d = mdirSlot(MD_WALK);
  m.root0 = BLOCK_NULL; m.root1 = BLOCK_NULL;
  let gTag: u32 = 0, gP0: u32 = 0, gP1: u32 = 0;
  m.seed = 0;
  let t0: u32 = 0, t1: u32 = 1;
  let steps: u32 = 0;
  let found = false;
  while (!isNullPair(t0, t1)) {
    if (++steps > (m.blockCount == 0xfffffff0 ? 0x10000 : m.blockCount)) return -ECORRUPT;
    let err = fetch(m, d, t0, t1, mountNotes);
    if (err < 0) return err;
    m.seed = crc32u32(m.seed, d.rev);
    // A superblock entry makes this pair the root (no superblock tag at all: it cannot).
    const st = mountNotes.superblock != 0 ? dirGet(m, d, mkTag(0x7ff, 0x3ff, 0), mkTag(TYPE_SUPERBLOCK, 0, 8), beBuf) : -ENOENT;
    if (st < 0 && st != -ENOENT) return st;
    if (st >= 0 && memory.compare(beBuf, magic, 8) == 0) {
      m.root0 = d.pair0; m.root1 = d.pair1;
      const it = dirGet(m, d, mkTag(0x7ff, 0x3ff, 0), mkTag(TYPE_INLINESTRUCT, 0, 24), sbBuf);
      if (it < 0) return it == -ENOENT ? -ECORRUPT : it;
      const version = load<u32>(sbBuf);
      if ((version >>> 16) != 2 || (version & 0xffff) > 1) return -EINVAL;
      const bs = load<u32>(sbBuf, 4), bc = load<u32>(sbBuf, 8);
      if (bs != m.cfgBlockSize) return -EINVAL;
      if (m.cfgBlockCount != 0 && bc != m.cfgBlockCount) return -EINVAL;
      if (m.partBlocks != 0 && bc > m.partBlocks) return -EINVAL; // the image overruns its partition
      if (bc < 2) return -ECORRUPT;
      m.blockCount = bc;
      const nm = load<u32>(sbBuf, 12), fm = load<u32>(sbBuf, 16), am = load<u32>(sbBuf, 20);
      if (nm != 0) { if (nm > m.cfgNameMax) return -EINVAL; m.nameMax = nm; }
      if (fm != 0) { if (fm > FILE_MAX_DEFAULT) return -EINVAL; m.fileMax = fm; }
      if (am != 0) { if (am > ATTR_MAX_DEFAULT) return -EINVAL; m.attrMax = am; }
      m.diskVersion = version;
      m.needSuperblockRewrite = (version & 0xffff) < 1;
      found = true;
    }
    // This pair's gstate delta, where the parse saw the newest one (what dirGetGstate finds).
    if (mountNotes.gstateOff != 0) {
      memory.fill(gBuf, 0, 12);
      err = bdRead(m, null, d.pair0, mountNotes.gstateOff, gBuf, min<u32>(mountNotes.gstateSize, 12));
      if (err < 0) return err;
      gTag ^= load<u32>(gBuf); gP0 ^= load<u32>(gBuf, 4); gP1 ^= load<u32>(gBuf, 8);
    }
    t0 = d.tail0; t1 = d.tail1;
  }
  if (!found) return -ECORRUPT;
  m.gdTag = gTag & ~0x3ff; m.gdP0 = gP0; m.gdP1 = gP1;
  m.gsTag = m.gdTag; m.gsP0 = m.gdP0; m.gsP1 = m.gdP1;
  m.gxTag = 0; m.gxP0 = 0; m.gxP1 = 0;
  m.orphans = (m.gsTag & 0x80000000) != 0 ? 1 : 0;
  if (m.gsTag != 0 || m.gsP0 != 0 || m.gsP1 != 0) {
    const sound = moveSound(m);
    if (sound < 0) return sound;
    // Not a move any commit can have made: readers hide nothing, and the first write commits
    // the gstate without it (forceConsistency) instead of deleting the entry its bits name.
    if (sound == 0) { m.gsTag &= 0x80000000; m.gsP0 = 0; m.gsP1 = 0; }
  }
  return 0;
}

/**
 * 1 when the gstate holds no move, or a move a rename can have left: the delete of an id that a
 * pair on the metadata list holds, where a file or directory entry is named; else 0 (or -errno).
 * The gstate is the XOR of every listed pair's newest delta: when a pair is read at an older
 * state (its newer block fails its CRC, say bit rot in a commit), the delta of its lost commits
 * is missing and the others' deltas no longer cancel, leaving bits that name any pair and id.
 * Finishing such a "move" deletes that entry, the superblock entry too (an unmountable image).
 */
function moveSound(m: Mount): i32 {
  const type = tagType3(m.gsTag);
  if (type == 0 && m.gsP0 == 0 && m.gsP1 == 0 && tagId(m.gsTag) == 0) return 1;
  if (type != TYPE_DELETE) return 0;
  if (m.gsP0 >= m.blockCount || m.gsP1 >= m.blockCount || m.gsP0 == m.gsP1) return 0;
  const d = mdirSlot(MD_WALK);
  let t0: u32 = 0, t1: u32 = 1;
  let steps: u32 = 0;
  while (!isNullPair(t0, t1)) {
    if (++steps > m.blockCount) return -ECORRUPT;
    const err = fetch(m, d, t0, t1);
    if (err < 0) return err;
    if (pairEq(d.pair0, d.pair1, m.gsP0, m.gsP1)) {
      const id = tagId(m.gsTag);
      if (id >= d.count) return 0;
      const t = dirGetSlice(m, d, mkTag(0x780, 0x3ff, 0), mkTag(TYPE_NAME, id, 0), 0, 0, 0);
      if (t == -ENOENT) return 0;
      if (t < 0) return t;
      return tagType3(<u32>t) == TYPE_REG || tagType3(<u32>t) == TYPE_DIR ? 1 : 0;
    }
    t0 = d.tail0; t1 = d.tail1;
  }
  return 0;
}

export function fsUnmount(m: Mount): i32 {
  fetchForget();
  if (!m.mounted) return -EINVAL;
  for (let i = 0; i < FILE_MAX_OPEN; i++) if (fileAt(m, i).flags != 0) fileClose(m, i);
  for (let i = 0; i < DIR_MAX_OPEN; i++) store<u32>(m.dirUsed + (<usize>i << 2), 0);
  freeAll(m);
  m.mounted = false;
  return 0;
}

export function fsIsMounted(m: Mount): bool { return m.mounted; }
export function fsRamBytes(m: Mount): u32 { return m.ramBytes; }

// ---- the mount table (fs/mount): mounts beside the host's

/**
 * Mounts the littlefs image in flash blocks [baseBlock, baseBlock + blockCount) as a new mount
 * with `like`'s configuration (block, read, prog, cache and lookahead sizes, block cycles,
 * name_max, inline_max: the flash's properties), owned by app slot `owner` or OWNER_SYSTEM. The
 * image's block count comes from its superblock and must fit the partition. Returns the mount's
 * slot, or -EINVAL (bad partition or owner, `like` not configured), -EBUSY (the partition
 * overlaps a mounted one), -ENOMEM (mount table or heap full), or mount's own errors (-ECORRUPT).
 * Budget: MOUNT_RECORD_BYTES from kalloc, plus the buffers fsMount takes.
 */
export function fsMountAt(like: Mount, baseBlock: u32, blockCount: u32, readOnly: bool, owner: i32): i32 {
  if (!like.configured) return -EINVAL;
  if (blockCount < 2 || <u64>baseBlock + <u64>blockCount > 0xffffffff) return -EINVAL;
  if (owner < OWNER_SYSTEM || owner >= MAX_APPS) return -EINVAL;
  for (let i = 0; i < MAX_MOUNTS; i++) {
    const o = mountAt(i);
    if (o == null || !o.mounted) continue;
    if (baseBlock < o.baseBlock + mountFlashBlocks(o) && o.baseBlock < baseBlock + blockCount) return -EBUSY;
  }
  const mm = mountNew();
  if (mm == null) return -ENOMEM;
  const m = changetype<Mount>(mm);
  m.cfgBlockSize = like.cfgBlockSize; m.cfgBlockCount = 0; m.cfgReadSize = like.cfgReadSize;
  m.cfgProgSize = like.cfgProgSize; m.cfgCacheSize = like.cfgCacheSize;
  m.cfgLookaheadBytes = like.cfgLookaheadBytes; m.cfgBlockCycles = like.cfgBlockCycles;
  m.cfgNameMax = like.cfgNameMax; m.cfgInlineMax = like.cfgInlineMax;
  m.configured = true;
  m.baseBlock = baseBlock; m.partBlocks = blockCount;
  m.readOnly = readOnly; m.owner = owner;
  const err = fsMount(m);
  if (err < 0) { mountRelease(m); return err; }
  return <i32>m.slot;
}

/**
 * Mounts an image package's littlefs read-only where it lies: `fsBlockCount` blocks of
 * `fsBlockBytes` (a power of two, at most the flash block) from flash block `flashBlock` of
 * `flashBlockBytes`, with the geometry SPEC.md gives packages (read and program 16, cache 256,
 * lookahead 16). Its mount id, or -errno (-EBUSY: it overlaps a mount; -ENOMEM: table or heap full).
 */
export function fsMountPackage(flashBlockBytes: u32, flashBlock: u32, fsBlockBytes: u32, fsBlockCount: u32, owner: i32): i32 {
  if (fsBlockBytes < 128 || fsBlockBytes > flashBlockBytes || (fsBlockBytes & (fsBlockBytes - 1)) != 0 || (flashBlockBytes & (flashBlockBytes - 1)) != 0) return -EINVAL;
  if (fsBlockCount < 2 || owner < OWNER_SYSTEM || owner >= MAX_APPS) return -EINVAL;
  const shift = <u32>(ctz(flashBlockBytes) - ctz(fsBlockBytes));
  const spans = (fsBlockCount + (<u32>1 << shift) - 1) >> shift;
  for (let i = 0; i < MAX_MOUNTS; i++) {
    const o = mountAt(i);
    if (o == null || !o.mounted) continue;
    if (flashBlock < o.baseBlock + mountFlashBlocks(o) && o.baseBlock < flashBlock + spans) return -EBUSY;
  }
  const mm = mountNew();
  if (mm == null) return -ENOMEM;
  const m = changetype<Mount>(mm);
  const cache: u32 = fsBlockBytes < 256 ? fsBlockBytes : 256;
  m.cfgBlockSize = fsBlockBytes; m.cfgBlockCount = fsBlockCount; m.cfgReadSize = 16;
  m.cfgProgSize = 16; m.cfgCacheSize = cache; m.cfgLookaheadBytes = 16; m.cfgBlockCycles = -1;
  m.cfgNameMax = NAME_MAX_DEFAULT; m.cfgInlineMax = 0;
  m.configured = true;
  m.baseBlock = flashBlock; m.partBlocks = fsBlockCount; m.flashShift = shift;
  m.readOnly = true; m.owner = owner;
  const err = fsMount(m);
  if (err < 0) { mountRelease(m); return err; }
  return <i32>m.slot;
}

/** Unmounts a mount fsMountAt made and frees its slot (the host's mount only unmounts). */
export function fsRelease(m: Mount): i32 {
  const err = fsUnmount(m);
  if (err < 0) return err;
  if (m.slot != 0) mountRelease(m);
  return 0;
}

/** The RAM mount `m` holds: its record (static for the host's) and its heap buffers. */
export function fsMountRamBytes(m: Mount): u32 { return MOUNT_RECORD_BYTES + m.ramBytes; }

/** The heap bytes of every mount: records of the mounts beside the host's, and all buffers. */
export function fsHeapBytes(): u32 {
  let n: u32 = 0;
  for (let i = 0; i < MAX_MOUNTS; i++) {
    const o = mountAt(i);
    if (o != null) n += mountRecordHeapBytes(o) + o.ramBytes;
  }
  return n;
}

/** Mount `m` as the table sees it, 20 bytes at dst: base block, block count (the image's once
 *  mounted, else the partition's), flags (bit 0 read-only, bit 1 mounted), owner, RAM bytes. */
export function fsMountInfo(m: Mount, dst: usize): i32 {
  store<u32>(dst, m.baseBlock);
  store<u32>(dst, m.mounted ? m.blockCount : m.partBlocks, 4);
  store<u32>(dst, (m.readOnly ? 1 : 0) | (m.mounted ? 2 : 0), 8);
  store<i32>(dst, m.owner, 12);
  store<u32>(dst, fsMountRamBytes(m), 16);
  return 20;
}

// ---- stat / fsinfo

const structBuf: usize = memory.data(8, 4);

/** Size of entry `id` of d (0 for directories). */
function entrySize(m: Mount, d: MDir, id: u32, type: u32): i32 {
  if (type == TYPE_DIR) return 0;
  const t = dirGet(m, d, mkTag(0x700, 0x3ff, 0), mkTag(TYPE_STRUCT, id, 8), structBuf);
  if (t < 0) return t == -ENOENT ? -ECORRUPT : t;
  if (tagType3(<u32>t) == TYPE_CTZSTRUCT) return <i32>load<u32>(structBuf, 4);
  if (tagType3(<u32>t) == TYPE_INLINESTRUCT) return <i32>tagSize(<u32>t);
  return -ECORRUPT;
}

/** Where a file's data lives, from fsFileLayout. */
export const LAYOUT_INLINE: i32 = 0; // in its directory's metadata (its struct is an inline struct)
export const LAYOUT_BLOCKS: i32 = 1; // in a CTZ skip-list of blocks of its own

/**
 * How the file at `path` keeps its data: LAYOUT_INLINE or LAYOUT_BLOCKS, its size (u32) to
 * sizeDst; -EISDIR for a directory, -ENOENT, or another -errno. Storage quotas are charged from it.
 */
export function fsFileLayout(m: Mount, ptr: usize, len: u32, sizeDst: usize): i32 {
  const lk = foundA;
  if (!m.mounted) return -EINVAL;
  const d = mdirSlot(MD_LOOKUP);
  const err = lookup(m, d, lk, ptr, len);
  if (err < 0) return err;
  if (tagId(lk.tag) == ID_NONE || tagType3(lk.tag) == TYPE_DIR) return -EISDIR;
  const t = dirGet(m, d, mkTag(0x700, 0x3ff, 0), mkTag(TYPE_STRUCT, tagId(lk.tag), 8), structBuf);
  if (t < 0) return t == -ENOENT ? -ECORRUPT : t;
  if (tagType3(<u32>t) == TYPE_CTZSTRUCT) { store<u32>(sizeDst, load<u32>(structBuf, 4)); return LAYOUT_BLOCKS; }
  if (tagType3(<u32>t) == TYPE_INLINESTRUCT) { store<u32>(sizeDst, tagSize(<u32>t)); return LAYOUT_INLINE; }
  return -ECORRUPT;
}

/** The blocks a CTZ skip-list of `size` bytes spans on a file system of `blockSize` blocks. */
export function ctzBlocksFor(blockSize: u32, size: u32): u32 {
  return size == 0 ? 0 : ctzIndex(blockSize, size - 1) + 1;
}

/** The inline limit of mount `m` (a file this size or smaller may live in its directory's metadata). */
export function fsInlineMax(m: Mount): u32 { return m.inlineMax; }
/** The block size of mount `m`. */
export function fsBlockBytes(m: Mount): u32 { return m.blockSize; }

/** Type (1 file, 2 dir) of `path`; its size (u32) to sizeDst (which may overlap the path). */
export function fsStat(m: Mount, ptr: usize, len: u32, sizeDst: usize): i32 {
  const lk = foundA;
  if (!m.mounted) return -EINVAL;
  const d = mdirSlot(MD_LOOKUP);
  const err = lookup(m, d, lk, ptr, len);
  if (err < 0) return err;
  const type = tagType3(lk.tag);
  if (tagId(lk.tag) == ID_NONE) { store<u32>(sizeDst, 0); return 2; }
  const sz = entrySize(m, d, tagId(lk.tag), type);
  if (sz < 0) return sz;
  store<u32>(sizeDst, <u32>sz);
  return type == TYPE_DIR ? 2 : 1;
}

export function fsInfo(m: Mount, dst: usize): i32 {
  if (!m.mounted) return -EINVAL;
  store<u32>(dst, m.diskVersion);
  store<u32>(dst, m.blockSize, 4);
  store<u32>(dst, m.blockCount, 8);
  store<u32>(dst, m.nameMax, 12);
  store<u32>(dst, m.fileMax, 16);
  store<u32>(dst, m.attrMax, 20);
  return 24;
}

// ---- attributes

/** Reads user attribute `type` of `path` into dst (up to maxBytes); returns its full size. */
export function fsGetattr(m: Mount, ptr: usize, len: u32, type: u32, dst: usize, maxBytes: u32): i32 {
  const lk = foundA;
  if (!m.mounted) return -EINVAL;
  if (type > 255) return -EINVAL;
  const d = mdirSlot(MD_LOOKUP);
  let err = lookup(m, d, lk, ptr, len);
  if (err < 0) return err;
  let id = tagId(lk.tag);
  if (id == ID_NONE) {
    id = 0;
    err = fetch(m, d, m.root0, m.root1);
    if (err < 0) return err;
  }
  const r = dirFind(m, d, mkTag(0x7ff, 0x3ff, 0), mkTag(TYPE_USERATTR + type, id, 0));
  if (r < 0) return r == -ENOENT ? -ENODATA : <i32>r;
  const size = tagSize(foundTag(r));
  const n = min(size, maxBytes);
  if (n > 0) {
    const e2 = bdRead(m, null, d.pair0, foundOff(r), dst, n);
    if (e2 < 0) return e2;
  }
  return <i32>size;
}

/**
 * Writes the user-attribute types `path` holds, ascending, one byte each, to dst; returns how
 * many. One backward scan of the entry's pair instead of 256 getattr lookups.
 */
export function fsListattrs(m: Mount, ptr: usize, len: u32, dst: usize, maxBytes: u32): i32 {
  const lk = foundA;
  if (!m.mounted) return -EINVAL;
  const d = mdirSlot(MD_LOOKUP);
  let err = lookup(m, d, lk, ptr, len);
  if (err < 0) return err;
  let id = tagId(lk.tag);
  if (id == ID_NONE) {
    id = 0;
    err = fetch(m, d, m.root0, m.root1);
    if (err < 0) return err;
  }
  // userSeen: every type met (newest first wins); listSeen: those whose newest tag is a value.
  memory.fill(userSeen, 0, 32);
  memory.fill(listSeen, 0, 32);
  let off = d.off;
  let ntag = d.etag;
  let cur = id;
  while (off >= 4 + tagDsize(ntag)) {
    off -= tagDsize(ntag);
    const tag = ntag;
    err = bdRead(m, null, d.pair0, off, beBuf, 4);
    if (err < 0) return err;
    ntag = (bswap32(load<u32>(beBuf)) ^ tag) & 0x7fffffff;
    if (tagType1(tag) == TYPE_SPLICE && tagId(tag) <= cur) {
      if (tagType3(tag) == TYPE_CREATE && tagId(tag) == cur) break;
      cur -= <u32>tagSplice(tag);
      continue;
    }
    if (tagId(tag) != cur || tagType1(tag) != TYPE_USERATTR) continue;
    const ty = tagChunk(tag);
    const p = userSeen + (ty >>> 3);
    const bit = <u8>(<u32>1 << (ty & 7));
    if ((load<u8>(p) & bit) != 0) continue;
    store<u8>(p, load<u8>(p) | bit);
    if (!tagIsDelete(tag)) store<u8>(listSeen + (ty >>> 3), load<u8>(listSeen + (ty >>> 3)) | bit);
  }
  let n: u32 = 0;
  for (let ty: u32 = 0; ty < 256; ty++) {
    if ((load<u8>(listSeen + (ty >>> 3)) & <u8>(<u32>1 << (ty & 7))) == 0) continue;
    if (n >= maxBytes) return -ENOMEM;
    store<u8>(dst + n, <u8>ty);
    n++;
  }
  return <i32>n;
}
const listSeen: usize = memory.data(32, 4);

// ---- directories

@inline function dirMd(m: Mount, i: i32): MDir { return changetype<MDir>(m.dirMds + <usize>i * MDIR_BYTES); }

export function fsDirOpen(m: Mount, ptr: usize, len: u32): i32 {
  const lk = foundA;
  if (!m.mounted) return -EINVAL;
  let slot = -1;
  for (let i = 0; i < DIR_MAX_OPEN; i++) if (load<u32>(m.dirUsed + (<usize>i << 2)) == 0) { slot = i; break; }
  if (slot < 0) return -ENOMEM;
  const d = mdirSlot(MD_LOOKUP);
  let err = lookup(m, d, lk, ptr, len);
  if (err < 0) return err;
  if (tagType3(lk.tag) != TYPE_DIR) return -ENOTDIR;
  const hd = dirMd(m, slot);
  if (tagId(lk.tag) == ID_NONE) {
    err = fetch(m, hd, m.root0, m.root1);
  } else {
    const t = dirGet(m, d, mkTag(0x700, 0x3ff, 0), mkTag(TYPE_STRUCT, tagId(lk.tag), 8), dirStructBuf);
    if (t < 0) return t == -ENOENT ? -ECORRUPT : t;
    if (tagType3(<u32>t) != TYPE_DIRSTRUCT) return -ECORRUPT;
    err = fetch(m, hd, load<u32>(dirStructBuf), load<u32>(dirStructBuf, 4));
  }
  if (err < 0) return err;
  store<u32>(m.dirUsed + (<usize>slot << 2), 1);
  store<u32>(m.dirId + (<usize>slot << 2), 0);
  return slot;
}

function dirSlotOk(m: Mount, h: i32): bool {
  return h >= 0 && h < DIR_MAX_OPEN && load<u32>(m.dirUsed + (<usize>h << 2)) != 0;
}

/** Next entry of dir handle h into dst: u8 type, u32 size, u32 nameLen, name. 1, 0 at end. */
export function fsDirRead(m: Mount, h: i32, dst: usize, maxBytes: u32): i32 {
  if (!m.mounted) return -EINVAL;
  if (!dirSlotOk(m, h)) return -EBADF;
  const hd = dirMd(m, h);
  let steps: u32 = 0;
  while (true) {
    let id = load<u32>(m.dirId + (<usize>h << 2));
    // Re-read the pair: commits since the last call may have moved it within its blocks.
    let err = fetch(m, hd, hd.pair0, hd.pair1);
    if (err < 0) return err;
    if (id >= hd.count) {
      if (!hd.split) return 0;
      if (++steps > m.blockCount) return -ECORRUPT;
      err = fetch(m, hd, hd.tail0, hd.tail1);
      if (err < 0) return err;
      store<u32>(m.dirId + (<usize>h << 2), 0);
      continue;
    }
    store<u32>(m.dirId + (<usize>h << 2), id + 1);
    if (moveIsHere(m, hd.pair0, hd.pair1) && id == moveId(m)) continue;
    err = dirGetEntryTags(m, hd, id, dirReadTags);
    if (err < 0) return err;
    const t = dirReadTags.nameTag;
    if (t == 0) continue;
    const type = tagType3(t);
    if (type != TYPE_REG && type != TYPE_DIR) continue;
    const nlen = tagSize(t);
    if (<u32>9 + nlen > maxBytes) return -ENAMETOOLONG;
    err = bdRead(m, null, hd.pair0, dirReadTags.nameOff, dst + 9, nlen);
    if (err < 0) return err;
    // The entry's size, as entrySize reads it.
    let sz: u32 = 0;
    if (type != TYPE_DIR) {
      const st = dirReadTags.structTag;
      if (st != 0 && tagType3(st) == TYPE_CTZSTRUCT) {
        memory.fill(structBuf, 0, 8);
        err = bdRead(m, null, hd.pair0, dirReadTags.structOff, structBuf, min<u32>(tagSize(st), 8));
        if (err < 0) return err;
        sz = load<u32>(structBuf, 4);
      } else if (st != 0 && tagType3(st) == TYPE_INLINESTRUCT) {
        sz = tagSize(st);
      } else return -ECORRUPT;
    }
    store<u8>(dst, type == TYPE_DIR ? 2 : 1);
    store<u32>(dst + 1, sz);
    store<u32>(dst + 5, nlen);
    return 1;
  }
}

export function fsDirClose(m: Mount, h: i32): i32 {
  if (!dirSlotOk(m, h)) return -EBADF;
  store<u32>(m.dirUsed + (<usize>h << 2), 0);
  return 0;
}

// ---- files

/** An open file: 64 bytes. */
@unmanaged class LFile {
  flags: u32;
  pair0: u32;
  pair1: u32;
  id: u32;
  head: u32;    // CTZ head block, or BLOCK_INLINE
  csize: u32;   // size the struct on disk (or being built) describes
  size: u32;    // logical size
  pos: u32;
  block: u32;   // block of the current position (BLOCK_INLINE for inline data)
  off: u32;     // offset in that block
  cache: usize; // Cache record
  pad0: u32;
  // While F_READING: the block of the CTZ list, nearest above the one being read, that the
  // last skip-list walk passed through (index, block), so the next block of a sequential read
  // is found from there instead of from the head. Every write, flush, truncate or seek clears
  // F_READING, so it never outlives the list it was read from.
  anchorIndex: u32;
  anchorBlock: u32;
  // Pointer 0 of f.block (the block before it in the list) when known, else BLOCK_NULL: the
  // next block's pointers start with it, and knowing it saves reading it back.
  prevBlock: u32;
  pad4: u32;
}
const FILE_BYTES: usize = 64;
@inline function fileAt(m: Mount, i: i32): LFile { return changetype<LFile>(m.files + <usize>i * FILE_BYTES); }
@inline function fileCache(m: Mount, i: i32): Cache { return changetype<Cache>(m.fileCaches + <usize>i * 16); }

function fileOk(m: Mount, fd: i32): bool { return fd >= 0 && fd < FILE_MAX_OPEN && fileAt(m, fd).flags != 0; }

export function fsOpen(m: Mount, ptr: usize, len: u32, flags: u32): i32 {
  const lk = foundA;
  if (!m.mounted) return -EINVAL;
  flags &= 0x7fffffff; // set by fsOpenWrite after it created the entry
  const acc = flags & 3;
  if (acc == 0) return -EINVAL;
  if ((flags & ~(3 | O_CREAT | O_EXCL | O_TRUNC | O_APPEND)) != 0) return -EINVAL;
  let fd = -1;
  for (let i = 0; i < FILE_MAX_OPEN; i++) if (fileAt(m, i).flags == 0) { fd = i; break; }
  if (fd < 0) return -ENOMEM;
  const f = fileAt(m, fd);
  const d = mdirSlot(MD_LOOKUP);
  let err = lookup(m, d, lk, ptr, len);
  if (err < 0 && !(err == -ENOENT && lk.isLast)) return err;
  let created = false;
  if (err == -ENOENT) {
    if ((flags & O_CREAT) == 0) return -ENOENT;
    if ((acc & O_WRONLY) == 0) return -ENOENT;
    err = createEntry(m, d, lk, TYPE_REG);
    if (err < 0) return err;
    created = true;
  } else {
    if ((flags & O_CREAT) != 0 && (flags & O_EXCL) != 0) return -EEXIST;
    if (tagType3(lk.tag) != TYPE_REG) return -EISDIR;
  }
  f.pair0 = d.pair0; f.pair1 = d.pair1; f.id = tagId(lk.tag);
  f.pos = 0; f.block = BLOCK_NULL; f.off = 0; f.prevBlock = BLOCK_NULL;
  const c = fileCache(m, fd);
  c.buf = kalloc(m.cacheSize);
  if (c.buf == 0) return -ENOMEM;
  cacheZero(m, c);
  f.cache = changetype<usize>(c);
  f.flags = flags;
  if (created) {
    f.head = BLOCK_INLINE; f.csize = 0; f.size = 0;
    f.flags |= F_INLINE;
  } else {
    const t = dirGet(m, d, mkTag(0x700, 0x3ff, 0), mkTag(TYPE_STRUCT, f.id, 8), structBuf);
    if (t < 0) { closeFree(m, fd); return t == -ENOENT ? -ECORRUPT : t; }
    if (tagType3(<u32>t) == TYPE_CTZSTRUCT) {
      f.head = load<u32>(structBuf); f.csize = load<u32>(structBuf, 4); f.size = f.csize;
      if (f.size > 0 && f.head >= m.blockCount) { closeFree(m, fd); return -ECORRUPT; }
    } else if (tagType3(<u32>t) == TYPE_INLINESTRUCT) {
      f.head = BLOCK_INLINE; f.csize = tagSize(<u32>t); f.size = f.csize;
      f.flags |= F_INLINE;
    } else { closeFree(m, fd); return -ECORRUPT; }
    if ((flags & O_TRUNC) != 0 && (acc & O_WRONLY) != 0 && f.size > 0) {
      f.head = BLOCK_INLINE; f.csize = 0; f.size = 0;
      f.flags |= F_INLINE | F_DIRTY;
    }
  }
  if ((f.flags & F_INLINE) != 0 && f.size > 0) {
    // Inline data lives in the file's cache while open; an inline file bigger than this mount's
    // cache (written with a larger cache_size) is read straight from its pair.
    if (f.size <= m.cacheSize) {
      const t = dirGetSlice(m, d, mkTag(0x700, 0x3ff, 0), mkTag(TYPE_STRUCT, f.id, 0), 0, c.buf, f.size);
      if (t < 0) { closeFree(m, fd); return t; }
      c.block = BLOCK_INLINE; c.off = 0; c.size = f.size;
    }
  }
  m.ramBytes += m.cacheSize;
  return fd;
}

function closeFree(m: Mount, fd: i32): void {
  const c = fileCache(m, fd);
  kfree(c.buf); c.buf = 0;
  fileAt(m, fd).flags = 0;
}

export function fileClose(m: Mount, fd: i32): i32 {
  if (!fileOk(m, fd)) return -EBADF;
  const err = fileSync(m, fd);
  closeFree(m, fd);
  m.ramBytes -= m.cacheSize;
  return err;
}

/** A block of a CTZ list and an offset in it, as one non-negative i64 (offsets < 2^31). */
@inline function ctzAt(block: u32, off: u32): i64 { return (<i64>off << 32) | <i64>block; }
@inline function atBlock(r: i64): u32 { return <u32>r; }
@inline function atOff(r: i64): u32 { return <u32>(r >>> 32); }

/** Block and offset (ctzAt) of file position pos in the CTZ list (head, size), or -errno. */
function ctzFind(m: Mount, head: u32, size: u32, pos: u32): i64 {
  if (size == 0) return ctzAt(BLOCK_NULL, 0);
  return ctzWalk(m, head, ctzIndex(m.blockSize, size - 1), pos, null);
}

/**
 * ctzFind from block `head` at list index `current` (at or above pos's block); with `f`, notes
 * in f's anchor the last block passed above the target.
 */
function ctzWalk(m: Mount, head: u32, current: u32, pos: u32, f: LFile | null): i64 {
  const target = ctzIndex(m.blockSize, pos);
  const off = ctzOffset(m.blockSize, pos);
  while (current > target) {
    if (f != null) { f.anchorIndex = current; f.anchorBlock = head; }
    const skip = min<u32>(<u32>ctz(current), 31 - <u32>clz(current - target));
    const err = bdRead(m, null, head, 4 * skip, beBuf, 4);
    if (err < 0) return err;
    head = load<u32>(beBuf);
    if (head >= m.blockCount) return -ECORRUPT;
    current -= 1 << skip;
  }
  return ctzAt(head, off);
}

/** Reads up to len bytes at the file position into dst. */
export function fileRead(m: Mount, fd: i32, dst: usize, len: u32): i32 {
  if (!fileOk(m, fd)) return -EBADF;
  const f = fileAt(m, fd);
  if ((f.flags & O_RDONLY) == 0) return -EBADF;
  if ((f.flags & F_WRITING) != 0) {
    const err = fileFlush(m, fd);
    if (err < 0) return err;
  }
  if (f.pos >= f.size) return 0;
  let n = min(len, f.size - f.pos);
  const total = n;
  const c = changetype<Cache>(f.cache);
  while (n > 0) {
    if ((f.flags & F_INLINE) != 0) {
      if (c.block == BLOCK_INLINE) {
        memory.copy(dst, c.buf + f.pos, n);
      } else {
        const d = mdirSlot(MD_FILE);
        let err = fetch(m, d, f.pair0, f.pair1);
        if (err < 0) return err;
        const t = dirGetSlice(m, d, mkTag(0x700, 0x3ff, 0), mkTag(TYPE_STRUCT, f.id, 0), f.pos, dst, n);
        if (t < 0) return t;
      }
      f.pos += n; dst += n; n = 0;
      break;
    }
    if ((f.flags & F_READING) == 0 || f.off == m.blockSize) {
      // Sequentially on into the next block: walk from the anchor when it lies at or above.
      const reading = (f.flags & F_READING) != 0 && f.anchorBlock != BLOCK_NULL &&
        f.anchorIndex >= ctzIndex(m.blockSize, f.pos);
      if (!reading) f.anchorBlock = BLOCK_NULL;
      const at = f.csize == 0 ? ctzFind(m, f.head, 0, f.pos)
        : reading ? ctzWalk(m, f.anchorBlock, f.anchorIndex, f.pos, f)
        : ctzWalk(m, f.head, ctzIndex(m.blockSize, f.csize - 1), f.pos, f);
      if (at < 0) return <i32>at;
      f.block = atBlock(at); f.off = atOff(at);
      f.flags |= F_READING;
    }
    const diff = min(n, m.blockSize - f.off);
    // Sequential small reads: fill a whole line; a large one goes straight into dst.
    const err = bdRead(m, null, f.block, f.off, dst, diff, m.cacheSize);
    if (err < 0) return err;
    f.pos += diff; f.off += diff; dst += diff; n -= diff;
  }
  return <i32>total;
}

export function fileSeek(m: Mount, fd: i32, off: i32, whence: i32): i32 {
  if (!fileOk(m, fd)) return -EBADF;
  const f = fileAt(m, fd);
  let npos: i64 = 0;
  if (whence == 0) npos = off;
  else if (whence == 1) npos = <i64>f.pos + off;
  else if (whence == 2) npos = <i64>f.size + off;
  else return -EINVAL;
  if (npos < 0 || npos > <i64>m.fileMax) return -EINVAL;
  if ((f.flags & F_WRITING) != 0) {
    const err = fileFlush(m, fd);
    if (err < 0) return err;
  }
  if (<u32>npos != f.pos) f.flags &= ~F_READING;
  f.pos = <u32>npos;
  return <i32>f.pos;
}

export function fileTell(m: Mount, fd: i32): i32 { return fileOk(m, fd) ? <i32>fileAt(m, fd).pos : -EBADF; }
export function fileSize(m: Mount, fd: i32): i32 {
  if (!fileOk(m, fd)) return -EBADF;
  const f = fileAt(m, fd);
  return <i32>max(f.size, (f.flags & F_WRITING) != 0 ? f.pos : 0);
}

export function fileSync(m: Mount, fd: i32): i32 { return fileOk(m, fd) ? fileSyncImpl(m, fd) : -EBADF; }

// ---- traversal

// What a traversal does with each block in use (Visitor.mode).
const VISIT_COUNT: u32 = 0;  // count them (fs_traverse)
const VISIT_MARK: u32 = 1;   // also mark those in the lookahead window as used (the allocator)
const VISIT_CHECK: u32 = 2;  // check each is on the device and used once (fsCheck)

/** A traversal's visitor, passed down to every visit: 32 bytes. */
@unmanaged class Visitor {
  mode: u32;
  count: u32;        // blocks visited (VISIT_COUNT, VISIT_MARK)
  owner0: u32;       // VISIT_CHECK: the pair whose blocks are being visited
  owner1: u32;
  windowStart: u32;  // VISIT_CHECK: the block window the bitmap covers
  windowBits: u32;
  bitmap: usize;
  fault: i32;        // VISIT_CHECK: the CHECK_* fault a visit found, 0 if none
}
// One visitor per kind of traversal: the allocator's may run inside an operation that counts.
const countVisitor = changetype<Visitor>(memory.data(32, 4));
const markVisitor = changetype<Visitor>(memory.data(32, 4));
const checkVisitor = changetype<Visitor>(memory.data(32, 4));

function visit(m: Mount, v: Visitor, block: u32): i32 {
  if (v.mode == VISIT_CHECK) return checkVisit(m, v, block);
  if (block >= m.blockCount) return -ECORRUPT;
  v.count++;
  if (v.mode == VISIT_MARK) {
    const off = (block + m.blockCount - m.laStart) % m.blockCount;
    if (off < m.laSize) {
      const p = m.lookaheadBuf + (off >>> 3);
      store<u8>(p, load<u8>(p) | <u8>(<u32>1 << (off & 7)));
    }
  }
  return 0;
}

function ctzTraverse(m: Mount, v: Visitor, pc: Cache | null, head: u32, size: u32): i32 {
  if (size == 0) return 0;
  let index = ctzIndex(m.blockSize, size - 1);
  let steps: u32 = 0;
  while (true) {
    let err = visit(m, v, head);
    if (err < 0) return err;
    if (index == 0) return 0;
    if (++steps > m.blockCount) return -ECORRUPT;
    // A block at an even index holds pointers to index - 1 and index - 2 side by side: one
    // read covers two steps.
    const pair = (index & 1) == 0;
    err = bdRead(m, pc, head, 0, beBuf, pair ? 8 : 4);
    if (err < 0) return err;
    if (pair) {
      err = visit(m, v, load<u32>(beBuf));
      if (err < 0) return err;
      head = load<u32>(beBuf, 4);
      index -= 2;
    } else {
      head = load<u32>(beBuf);
      index -= 1;
    }
  }
}

/** Visits every block in use; with includeDirs, also pairs named by directory entries. */
export function traverseAll(m: Mount, v: Visitor, includeDirs: bool): i32 {
  const d = mdirSlot(MD_WALK);
  let t0: u32 = 0, t1: u32 = 1;
  let steps: u32 = 0;
  // Brent's cycle detection on the pair list.
  let tort0 = BLOCK_NULL, tort1 = BLOCK_NULL;
  let power: u32 = 1, lam: u32 = 1;
  while (!isNullPair(t0, t1)) {
    if (pairEq(tort0, tort1, t0, t1)) return -ECORRUPT;
    if (lam == power) { tort0 = t0; tort1 = t1; power <<= 1; lam = 0; }
    lam++;
    if (++steps > m.blockCount) return -ECORRUPT;
    let err = visit(m, v, t0); if (err < 0) return err;
    err = visit(m, v, t1); if (err < 0) return err;
    err = fetch(m, d, t0, t1);
    if (err < 0) return err;
    for (let id: u32 = 0; id < d.count; id++) {
      const t = dirGet(m, d, mkTag(0x700, 0x3ff, 0), mkTag(TYPE_STRUCT, id, 8), structBuf);
      if (t == -ENOENT) continue;
      if (t < 0) return t;
      if (tagType3(<u32>t) == TYPE_CTZSTRUCT) {
        err = ctzTraverse(m, v, null, load<u32>(structBuf), load<u32>(structBuf, 4));
        if (err < 0) return err;
      } else if (includeDirs && tagType3(<u32>t) == TYPE_DIRSTRUCT) {
        err = visit(m, v, load<u32>(structBuf)); if (err < 0) return err;
        err = visit(m, v, load<u32>(structBuf, 4)); if (err < 0) return err;
      }
    }
    t0 = d.tail0; t1 = d.tail1;
  }
  // Open files hold blocks not yet committed.
  for (let i = 0; i < FILE_MAX_OPEN; i++) {
    const f = fileAt(m, i);
    if (f.flags == 0 || (f.flags & F_INLINE) != 0) continue;
    if ((f.flags & F_DIRTY) != 0) {
      const err = ctzTraverse(m, v, changetype<Cache>(f.cache), f.head, f.csize);
      if (err < 0) return err;
    }
    if ((f.flags & F_WRITING) != 0 && f.block != BLOCK_NULL && f.block != BLOCK_INLINE) {
      const err = ctzTraverse(m, v, changetype<Cache>(f.cache), f.block, f.pos);
      if (err < 0) return err;
    }
  }
  return 0;
}

export function fsTraverse(m: Mount): i32 {
  if (!m.mounted) return -EINVAL;
  const v = countVisitor;
  v.mode = VISIT_COUNT; v.count = 0;
  const err = traverseAll(m, v, false);
  return err < 0 ? err : <i32>v.count;
}

export function fsSizeBlocks(m: Mount): i32 { return fsTraverse(m); }

// ---- structural check (what readers of the format rely on; ABI.md, fs_check)

// Fault codes of fsCheck; the four detail words it writes are listed with each.
export const CHECK_OK: i32 = 0;
export const CHECK_LIST_LOOP: i32 = 1;      // the metadata list loops or is longer than the device
export const CHECK_BLOCK_RANGE: i32 = 2;    // block, owner pair0, owner pair1: a pointer past the device
export const CHECK_BLOCK_TWICE: i32 = 3;    // block: two owners
export const CHECK_DIR_UNLISTED: i32 = 4;   // dir pair0, pair1, parent pair0, id: not in the list
export const CHECK_DIR_TWICE: i32 = 5;      // dir pair0, pair1: named by two entries
export const CHECK_ORPHAN: i32 = 6;         // pair0, pair1: heads a directory no entry names
export const CHECK_EMPTY_PAIR: i32 = 7;     // pair0, pair1, predecessor pair0, pred pair1
export const CHECK_PENDING_MOVE: i32 = 8;   // gstate tag, pair0, pair1
export const CHECK_ORPHAN_STATE: i32 = 9;   // gstate tag
export const CHECK_HALF_ORPHAN: i32 = 10;   // dir pair0, pair1 (entry), list pair0, pair1
export const CHECK_DIR_IN_CHAIN: i32 = 11;  // dir pair0, pair1: reached by a hard tail
export const CHECK_PAIR_UNREADABLE: i32 = 12; // pair0, pair1, -errno

const checkOut: usize = memory.data(16, 4);
function checkSet(code: i32, a: u32, b: u32, c: u32, d: u32): i32 {
  store<u32>(checkOut, a); store<u32>(checkOut, b, 4); store<u32>(checkOut, c, 8); store<u32>(checkOut, d, 12);
  return code;
}
export function fsCheckDetail(): usize { return checkOut; }

/** visit() while checking: a block past the device or marked twice in this window is a fault. */
function checkVisit(m: Mount, v: Visitor, block: u32): i32 {
  if (block >= m.blockCount) { v.fault = checkSet(CHECK_BLOCK_RANGE, block, v.owner0, v.owner1, 0); return -ECORRUPT; }
  const off = block - v.windowStart;
  if (block < v.windowStart || off >= v.windowBits) return 0;
  const p = v.bitmap + (off >>> 3);
  const bit = <u8>(<u32>1 << (off & 7));
  if ((load<u8>(p) & bit) != 0) { v.fault = checkSet(CHECK_BLOCK_TWICE, block, v.owner0, v.owner1, 0); return -ECORRUPT; }
  store<u8>(p, load<u8>(p) | bit);
  return 0;
}

/**
 * Checks what readers of littlefs rely on, beyond each pair and file reading: the metadata list
 * ends; every block in use is on the device and used once; the list holds the superblock pairs,
 * then directories, each as its head (the root, or a pair some directory entry names exactly once,
 * reached by a soft tail) followed by its hard-tailed pairs, none of those empty; nothing else is
 * in the list; and the global state is clean (no pending move, no orphans), unless allowPending
 * (an image cut by power loss), where a pending move's source is skipped and the orphans the
 * gstate announces are allowed. Returns a CHECK_* code (details from fsCheckDetail) or -errno.
 * Budget: a block bitmap of at most 32 KiB and 12 bytes per listed pair, from kalloc, freed before
 * returning; the block scan repeats per 256 Ki-block window on larger devices.
 */
export function fsCheck(m: Mount, allowPending: bool): i32 {
  if (!m.mounted) return -EINVAL;
  const moving = (m.gdTag & 0x7ff00000) != 0;
  const orphanState = (m.gdTag & 0x80000000) != 0;
  if (!allowPending) {
    if (moving) return checkSet(CHECK_PENDING_MOVE, m.gdTag, m.gdP0, m.gdP1, 0);
    if (orphanState || m.gdP0 != 0 || m.gdP1 != 0 || m.gdTag != 0) return checkSet(CHECK_ORPHAN_STATE, m.gdTag, m.gdP0, m.gdP1, 0);
  }
  // The list, remembered: pair0, pair1, flags (1: reached by a soft tail or first, 2: named by an entry).
  const d = mdirSlot(MD_CHECK);
  let n: u32 = 0;
  let t0: u32 = 0, t1: u32 = 1;
  while (!isNullPair(t0, t1)) {
    if (++n > m.blockCount) return checkSet(CHECK_LIST_LOOP, t0, t1, 0, 0);
    if (t0 >= m.blockCount || t1 >= m.blockCount) return checkSet(CHECK_BLOCK_RANGE, t0 >= m.blockCount ? t0 : t1, t0, t1, 0);
    const err = fetch(m, d, t0, t1);
    if (err < 0) return checkSet(CHECK_PAIR_UNREADABLE, t0, t1, <u32>err, 0);
    t0 = d.tail0; t1 = d.tail1;
  }
  const list = kalloc(<usize>n * 12);
  if (list == 0) return -ENOMEM;
  const r = checkList(m, list, n, allowPending && moving, allowPending && orphanState);
  kfree(list);
  return r;
}

function checkList(m: Mount, list: usize, n: u32, skipMove: bool, orphansAllowed: bool): i32 {
  const d = mdirSlot(MD_CHECK);
  let t0: u32 = 0, t1: u32 = 1;
  let predSplit: u32 = 0;
  let p0: u32 = BLOCK_NULL, p1: u32 = BLOCK_NULL;
  let rootAt: i32 = -1;
  for (let i: u32 = 0; i < n; i++) {
    const e = list + <usize>i * 12;
    store<u32>(e, t0); store<u32>(e, t1, 4); store<u32>(e, i == 0 || predSplit == 0 ? 1 : 0, 8);
    let err = fetch(m, d, t0, t1);
    if (err < 0) return checkSet(CHECK_PAIR_UNREADABLE, t0, t1, <u32>err, 0);
    if (pairEq(t0, t1, m.root0, m.root1)) rootAt = <i32>i;
    // A pair a hard tail reaches continues a directory (or the superblock chain): never empty.
    if (i > 0 && predSplit != 0 && d.count == 0) return checkSet(CHECK_EMPTY_PAIR, t0, t1, p0, p1);
    predSplit = d.split;
    p0 = t0; p1 = t1;
    t0 = d.tail0; t1 = d.tail1;
  }
  if (rootAt < 0) return checkSet(CHECK_DIR_UNLISTED, m.root0, m.root1, BLOCK_NULL, ID_NONE);
  // Directory entries: each names, exactly once, a head of the list after the root.
  for (let i: u32 = 0; i < n; i++) {
    const e = list + <usize>i * 12;
    const q0 = load<u32>(e), q1 = load<u32>(e, 4);
    let err = fetch(m, d, q0, q1);
    if (err < 0) return checkSet(CHECK_PAIR_UNREADABLE, q0, q1, <u32>err, 0);
    for (let id: u32 = 0; id < d.count; id++) {
      if (skipMove && diskMoveIsHere(m, d.pair0, d.pair1) && id == tagId(m.gdTag)) continue;
      const t = dirGet(m, d, mkTag(0x7ff, 0x3ff, 0), mkTag(TYPE_DIRSTRUCT, id, 8), structBuf);
      if (t == -ENOENT) continue;
      if (t < 0) return checkSet(CHECK_PAIR_UNREADABLE, q0, q1, <u32>t, 0);
      const c0 = load<u32>(structBuf), c1 = load<u32>(structBuf, 4);
      let found = -1, shares = -1;
      for (let k: u32 = 0; k < n; k++) {
        const f = list + <usize>k * 12;
        if (pairEq(load<u32>(f), load<u32>(f, 4), c0, c1)) { found = <i32>k; break; }
        if (pairShares(load<u32>(f), load<u32>(f, 4), c0, c1)) shares = <i32>k;
      }
      if (found < 0) {
        if (shares >= 0) {
          if (orphansAllowed) continue;
          const f = list + <usize>shares * 12;
          return checkSet(CHECK_HALF_ORPHAN, c0, c1, load<u32>(f), load<u32>(f, 4));
        }
        return checkSet(CHECK_DIR_UNLISTED, c0, c1, q0, id);
      }
      const f = list + <usize>found * 12;
      const flags = load<u32>(f, 8);
      if ((flags & 2) != 0) return checkSet(CHECK_DIR_TWICE, c0, c1, q0, id);
      if ((flags & 1) == 0 || found <= rootAt) return checkSet(CHECK_DIR_IN_CHAIN, c0, c1, q0, id);
      store<u32>(f, flags | 2, 8);
    }
  }
  for (let i = <u32>rootAt + 1; i < n; i++) {
    const e = list + <usize>i * 12;
    const flags = load<u32>(e, 8);
    if ((flags & 1) != 0 && (flags & 2) == 0 && !orphansAllowed) return checkSet(CHECK_ORPHAN, load<u32>(e), load<u32>(e, 4), 0, 0);
  }
  // Blocks: every listed pair's two blocks and every file's CTZ blocks, each once.
  const windowBits = min<u32>(m.blockCount, 32768 * 8);
  const v = checkVisitor;
  v.mode = VISIT_CHECK; v.fault = 0;
  v.bitmap = kalloc(<usize>(windowBits + 7) >>> 3);
  if (v.bitmap == 0) return -ENOMEM;
  v.windowBits = windowBits;
  let r: i32 = 0;
  for (v.windowStart = 0; v.windowStart < m.blockCount && r == 0; v.windowStart += windowBits) {
    memory.fill(v.bitmap, 0, <usize>(windowBits + 7) >>> 3);
    r = checkBlocks(m, v, list, n, skipMove);
  }
  kfree(v.bitmap); v.bitmap = 0;
  if (r == -ECORRUPT && v.fault != 0) return v.fault;
  return r;
}

function checkBlocks(m: Mount, v: Visitor, list: usize, n: u32, skipMove: bool): i32 {
  const d = mdirSlot(MD_CHECK);
  for (let i: u32 = 0; i < n; i++) {
    const e = list + <usize>i * 12;
    const q0 = load<u32>(e), q1 = load<u32>(e, 4);
    v.owner0 = q0; v.owner1 = q1;
    let err = visit(m, v, q0); if (err < 0) return err;
    err = visit(m, v, q1); if (err < 0) return err;
    err = fetch(m, d, q0, q1);
    if (err < 0) return err;
    for (let id: u32 = 0; id < d.count; id++) {
      if (skipMove && diskMoveIsHere(m, d.pair0, d.pair1) && id == tagId(m.gdTag)) continue;
      const t = dirGet(m, d, mkTag(0x700, 0x3ff, 0), mkTag(TYPE_STRUCT, id, 8), structBuf);
      if (t == -ENOENT) continue;
      if (t < 0) return t;
      if (tagType3(<u32>t) != TYPE_CTZSTRUCT) continue;
      err = ctzTraverse(m, v, null, load<u32>(structBuf), load<u32>(structBuf, 4));
      if (err < 0) return err;
    }
  }
  return 0;
}


// =====================================================================================
// Write path
// =====================================================================================

const RETRY: i32 = 1; // dirCommit split the pair: the caller looks its entry up again
const EXPANDED: i32 = 2;     // compact expanded the superblock: the pair's entries moved to MD_SPLIT
const NOT_EXPANDED: i32 = 3; // no room to expand the superblock: compact {0,1} in place

// ---- allocator (lookahead bitmap over a window of the block space)

function allocAck(m: Mount): void { m.laCkpoint = m.blockCount; }

/** A free block (0..2^32-1) from the lookahead window, refilled by a traversal; or -errno. */
function alloc(m: Mount): i64 {
  if (m.readOnly) return -EROFS; // it has no lookahead
  while (true) {
    while (m.laNext < m.laSize) {
      const off = m.laNext;
      m.laNext++;
      if (m.laCkpoint > 0) m.laCkpoint--;
      const p = m.lookaheadBuf + (off >>> 3);
      const bit = <u8>(<u32>1 << (off & 7));
      if ((load<u8>(p) & bit) == 0) {
        store<u8>(p, load<u8>(p) | bit);
        return <i64>((m.laStart + off) % m.blockCount);
      }
    }
    if (m.laCkpoint == 0) return -ENOSPC;
    m.laStart = (m.laStart + m.laSize) % m.blockCount;
    m.laSize = min(m.cfgLookaheadBytes * 8, m.laCkpoint);
    m.laNext = 0;
    memory.fill(m.lookaheadBuf, 0, m.cfgLookaheadBytes);
    markVisitor.mode = VISIT_MARK; markVisitor.count = 0;
    const err = traverseAll(m, markVisitor, true);
    if (err < 0) { m.laSize = 0; return err; }
  }
}

// ---- commit writer

let cBlock: u32 = 0;
let cOff: u32 = 0;
let cPtag: u32 = 0;
let cCrc: u32 = 0;
let cEnd: u32 = 0;
const cBuf: usize = memory.data(64, 4);

function commitBegin(m: Mount, block: u32, off: u32, ptag: u32): void {
  cBlock = block; cOff = off; cPtag = ptag; cCrc = 0xffffffff; cEnd = m.blockSize - 8;
}

function commitProg(m: Mount, ptr: usize, len: u32): i32 {
  const err = bdProg(m, m.pcache, cBlock, cOff, ptr, len);
  if (err < 0) return err;
  cCrc = crc32(cCrc, ptr, len);
  cOff += len;
  return 0;
}

/** Appends one tag; data from memory (kind 0: p = ptr) or from flash (kind 1: p = block, q = off). */
function commitAttr(m: Mount, tag: u32, kind: u32, p: usize, q: u32): i32 {
  const dsize = tagDsize(tag);
  if (cOff + dsize > cEnd) return -ENOSPC;
  store<u32>(cBuf, bswap32((tag & 0x7fffffff) ^ cPtag));
  let err = commitProg(m, cBuf, 4);
  if (err < 0) return err;
  cPtag = tag & 0x7fffffff;
  if (tagIsDelete(tag)) return 0;
  const size = tagSize(tag);
  if (kind == 0) return size > 0 ? commitProg(m, p, size) : 0;
  let done: u32 = 0;
  while (done < size) {
    const n = min<u32>(64, size - done);
    err = bdRead(m, null, <u32>p, q + done, cBuf, n);
    if (err < 0) return err;
    err = commitProg(m, cBuf, n);
    if (err < 0) return err;
    done += n;
  }
  return 0;
}

const fcrcBuf: usize = memory.data(8, 4);
/** Ends the commit: FCRC of the next prog unit when there is room, CRC tag(s), padding. */
function commitCrc(m: Mount): i32 {
  const end = alignUp(min(cOff + 20, m.blockSize), m.progSize);
  while (cOff < end) {
    let noff = min<u32>(end - (cOff + 4), 0x3fe) + (cOff + 4);
    if (noff < end) noff = min(noff, end - 20);
    let eperturb: u32 = 0xff;
    if (noff >= end && noff <= m.blockSize - m.progSize) {
      let err = bdRead(m, null, cBlock, noff, cBuf, 1);
      if (err < 0) return err;
      eperturb = load<u8>(cBuf);
      const cr = bdCrc(m, cBlock, noff, m.progSize, 0xffffffff);
      if (cr < 0) return <i32>cr;
      store<u32>(fcrcBuf, m.progSize);
      store<u32>(fcrcBuf, <u32>cr, 4);
      err = commitAttr(m, mkTag(TYPE_FCRC, 0x3ff, 8), 0, fcrcBuf, 0);
      if (err < 0) return err;
    }
    const ntag = mkTag(0x500 + ((~eperturb & 0xff) >>> 7), 0x3ff, noff - (cOff + 4));
    store<u32>(cBuf, bswap32(ntag ^ cPtag));
    cCrc = crc32(cCrc, cBuf, 4);
    store<u32>(cBuf, cCrc, 4);
    let err = bdProg(m, m.pcache, cBlock, cOff, cBuf, 8);
    if (err < 0) return err;
    cOff = noff;
    cPtag = ntag ^ ((0x80 & ~eperturb) << 24);
    cCrc = 0xffffffff;
    if (noff >= end || noff >= m.pcache.off + m.cacheSize) {
      err = bdFlush(m, m.pcache);
      if (err < 0) return err;
    }
  }
  return bdSync(m, m.pcache);
}

@inline function alignUp(v: u32, a: u32): u32 { return ((v + a - 1) / a) * a; }

// ---- the attribute list of a commit

const ATTR_MAX_N: i32 = 272;
const aTag: usize = memory.data(ATTR_MAX_N * 4, 4);
const aKind: usize = memory.data(ATTR_MAX_N * 4, 4);
const aP: usize = memory.data(ATTR_MAX_N * 4, 4);
const aQ: usize = memory.data(ATTR_MAX_N * 4, 4);
let aN: i32 = 0;

function attrsReset(): void { aN = 0; }
function attrPush(tag: u32, kind: u32, p: usize, q: u32): bool {
  if (aN >= ATTR_MAX_N) return false;
  // aN < ATTR_MAX_N: checked above
  const o = <usize>aN << 2;
  store<u32>(aTag + o, tag); store<u32>(aKind + o, kind);
  store<u32>(aP + o, <u32>p); store<u32>(aQ + o, q);
  aN++;
  return true;
}
function attrsSize(): u32 {
  let s: u32 = 0;
  for (let i = 0; i < aN; i++) s += tagDsize(load<u32>(aTag + (<usize>i << 2)));
  return s;
}
function commitAttrs(m: Mount): i32 {
  for (let i = 0; i < aN; i++) {
    const o = <usize>i << 2;
    const err = commitAttr(m, load<u32>(aTag + o), load<u32>(aKind + o), <usize>load<u32>(aP + o), load<u32>(aQ + o));
    if (err < 0) return err;
  }
  return 0;
}

// ---- gstate

// On disk the move state's tag word carries only the sync bit for orphans: its size field is
// padding, zero (SPEC.md, LFS_TYPE_MOVESTATE; the reference's own power-cut images hold 0x80000000).
// How many orphans are pending is known in RAM only; a set bit reads back as one.
function wantedGTag(m: Mount): u32 { return (m.gsTag & 0x7ffffc00) | (m.orphans > 0 ? 0x80000000 : 0); }
function gDeltaZero(m: Mount): bool {
  return ((m.gdTag ^ wantedGTag(m) ^ m.gxTag) == 0) && ((m.gdP0 ^ m.gsP0 ^ m.gxP0) == 0) && ((m.gdP1 ^ m.gsP1 ^ m.gxP1) == 0);
}
/** Writes this pair's new gstate delta (its old one XOR what must change), if any. */
function commitGstate(m: Mount, src: MDir, compacting: bool): i32 {
  const changing = !gDeltaZero(m);
  if (!changing && !compacting) return 0;
  const err = dirGetGstate(m, src, gBuf);
  if (err < 0) return err;
  let gTag = load<u32>(gBuf), gP0 = load<u32>(gBuf, 4), gP1 = load<u32>(gBuf, 8);
  if (changing) {
    gTag ^= m.gdTag ^ wantedGTag(m) ^ m.gxTag;
    gP0 ^= m.gdP0 ^ m.gsP0 ^ m.gxP0;
    gP1 ^= m.gdP1 ^ m.gsP1 ^ m.gxP1;
  }
  gTag &= ~<u32>0x3ff;
  if (gTag == 0 && gP0 == 0 && gP1 == 0 && !(changing && !compacting)) return 0;
  store<u32>(gBuf, gTag); store<u32>(gBuf, gP0, 4); store<u32>(gBuf, gP1, 8);
  return commitAttr(m, mkTag(TYPE_MOVESTATE, 0x3ff, 12), 0, gBuf, 0);
}
function gstateCommitted(m: Mount): void {
  m.gdTag = wantedGTag(m); m.gdP0 = m.gsP0; m.gdP1 = m.gsP1;
  m.gxTag = 0; m.gxP0 = 0; m.gxP1 = 0;
}
function prepMove(m: Mount, id: u32, p0: u32, p1: u32): void {
  m.gsTag = (m.gsTag & ~mkTag(0x7ff, 0x3ff, 0)) | (id != ID_NONE ? mkTag(TYPE_DELETE, id, 0) : 0);
  m.gsP0 = id != ID_NONE ? p0 : 0;
  m.gsP1 = id != ID_NONE ? p1 : 0;
}

// ---- compaction

const userSeen: usize = memory.data(32, 4);

/**
 * The newest live tags of entry `id` of src (name, struct, user attributes), found by one
 * backward scan; written to the open commit as `newId` (`write`), or only measured. Returns the
 * bytes they take on disk or -errno.
 */
function emitLive(m: Mount, src: MDir, id: u32, newId: u32, write: bool): i32 {
  // The name goes first: it keeps "littlefs" at byte 8 of a superblock block.
  let bytes: u32 = 0;
  const nt = dirFind(m, src, mkTag(0x700, 0x3ff, 0), mkTag(TYPE_NAME, id, 0));
  if (nt < 0 && nt != -ENOENT) return <i32>nt;
  if (nt >= 0) {
    const out = (foundTag(nt) & ~mkTag(0, 0x3ff, 0)) | mkTag(0, newId, 0);
    if (write) {
      const err = commitAttr(m, out, 1, src.pair0, foundOff(nt));
      if (err < 0) return err;
    }
    bytes += tagDsize(out);
  }
  let seenName = true, seenStruct = false;
  memory.fill(userSeen, 0, 32);
  let off = src.off;
  let ntag = src.etag;
  let cur = id;
  while (off >= 4 + tagDsize(ntag)) {
    off -= tagDsize(ntag);
    const tag = ntag;
    let err = bdRead(m, null, src.pair0, off, beBuf, 4);
    if (err < 0) return err;
    ntag = (bswap32(load<u32>(beBuf)) ^ tag) & 0x7fffffff;
    const t1 = tagType1(tag);
    if (t1 == TYPE_SPLICE && tagId(tag) <= cur) {
      if (tagType3(tag) == TYPE_CREATE && tagId(tag) == cur) return <i32>bytes;
      cur -= <u32>tagSplice(tag);
      continue;
    }
    if (tagId(tag) != cur) continue;
    let fresh = false;
    if (t1 == TYPE_NAME) { fresh = !seenName; seenName = true; }
    else if (t1 == TYPE_STRUCT) { fresh = !seenStruct; seenStruct = true; }
    else if (t1 == TYPE_USERATTR) {
      const ty = tagChunk(tag);
      const p = userSeen + (ty >>> 3);
      const bit = <u8>(<u32>1 << (ty & 7));
      fresh = (load<u8>(p) & bit) == 0;
      store<u8>(p, load<u8>(p) | bit);
    }
    if (!fresh || tagIsDelete(tag)) continue;
    const out = (tag & ~mkTag(0, 0x3ff, 0)) | mkTag(0, newId, 0);
    if (write) {
      err = commitAttr(m, out, 1, src.pair0, off + 4);
      if (err < 0) return err;
    }
    bytes += tagDsize(out);
  }
  return <i32>bytes;
}

function liveSize(m: Mount, src: MDir, begin: u32, end: u32): i32 {
  let liveBytes: u32 = 0;
  for (let id = begin; id < end; id++) {
    const r = emitLive(m, src, id, id - begin, false);
    if (r < 0) return r;
    liveBytes += <u32>r;
  }
  return <i32>liveBytes;
}

// Data buffers of commit attributes. An attribute's data is read only when the commit is written,
// after compaction, allocation (a full traversal) and lookups have run, so each buffer below has
// exactly one writer and no attribute ever points at a buffer the commit path itself writes
// (dirStructBuf, beBuf, structBuf, gBuf, cBuf are such scratch buffers).
const compactTailBuf: usize = memory.data(8, 4); // compactWrite's own tail tag
const dropTailBuf: usize = memory.data(8, 4);    // dropPair / dropDir: the dropped pair's tail
const orphanTailBuf: usize = memory.data(8, 4);  // deorphan's tail fix-ups

/** Writes ids [begin, end) of src (renumbered from 0), a tail, the attrs and gstate into dst. */
function compactWrite(m: Mount, src: MDir, begin: u32, end: u32, dst: u32, rev: u32, tail0: u32, tail1: u32,
  hard: u32, withAttrs: bool, withGstate: bool): i32 {
  cacheZero(m, m.pcache);
  let err = bdErase(m, dst);
  if (err < 0) return err;
  commitBegin(m, dst, 0, 0xffffffff);
  store<u32>(cBuf, rev);
  err = commitProg(m, cBuf, 4);
  if (err < 0) return err;
  for (let id = begin; id < end; id++) {
    const r = emitLive(m, src, id, id - begin, true);
    if (r < 0) return r;
  }
  if (!isNullPair(tail0, tail1)) {
    store<u32>(compactTailBuf, tail0); store<u32>(compactTailBuf, tail1, 4);
    err = commitAttr(m, mkTag(TYPE_TAIL + hard, 0x3ff, 8), 0, compactTailBuf, 0);
    if (err < 0) return err;
  }
  if (withAttrs) {
    err = commitAttrs(m);
    if (err < 0) return err;
  }
  if (withGstate) {
    err = commitGstate(m, src, true);
    if (err < 0) return err;
  }
  return commitCrc(m);
}

// Relocations waiting for their parent and predecessor to learn the new pair.
const RELOC_MAX = 8;
const relocOld0: usize = memory.data(RELOC_MAX * 4, 4);
const relocOld1: usize = memory.data(RELOC_MAX * 4, 4);
const relocNew0: usize = memory.data(RELOC_MAX * 4, 4);
const relocNew1: usize = memory.data(RELOC_MAX * 4, 4);
let relocN = 0;

function noteRelocation(m: Mount, o0: u32, o1: u32, n0: u32, n1: u32): void {
  // In-RAM references follow at once.
  if (pairEq(m.root0, m.root1, o0, o1)) { m.root0 = n0; m.root1 = n1; }
  for (let i = 0; i < FILE_MAX_OPEN; i++) {
    const f = fileAt(m, i);
    if (f.flags != 0 && pairEq(f.pair0, f.pair1, o0, o1)) { f.pair0 = n0; f.pair1 = n1; }
  }
  for (let i = 0; i < DIR_MAX_OPEN; i++) {
    const hd = dirMd(m, i);
    if (load<u32>(m.dirUsed + (<usize>i << 2)) != 0 && pairEq(hd.pair0, hd.pair1, o0, o1)) { hd.pair0 = n0; hd.pair1 = n1; }
  }
  if (pairEq(m.gsP0, m.gsP1, o0, o1) && hasMove(m)) { m.gsP0 = n0; m.gsP1 = n1; }
  if (relocN >= RELOC_MAX) return;
  // relocN < RELOC_MAX: checked above
  const o = <usize>relocN << 2;
  store<u32>(relocOld0 + o, o0); store<u32>(relocOld1 + o, o1);
  store<u32>(relocNew0 + o, n0); store<u32>(relocNew1 + o, n1);
  relocN++;
}

/** Compacts d in place (or into a new block when it is worn or bad), with the commit's attrs. */
function compact(m: Mount, d: MDir, withAttrs: bool): i32 {
  const newRev = d.rev + 1;
  const isSuper = pairEq(d.pair0, d.pair1, 0, 1);
  let relocate = m.cfgBlockCycles > 0 && newRev % (<u32>((m.cfgBlockCycles + 1) | 1)) == 0;
  if (relocate && isSuper) {
    // The superblock pair cannot move: expand it instead, while there is room to.
    relocate = false;
    const used = fsTraverse(m);
    if (used >= 0 && m.blockCount - <u32>used > m.blockCount / 8) {
      // EXPANDED is positive like RETRY; only NOT_EXPANDED falls through to a plain compaction.
      const err = expandSuperblock(m, d);
      if (err != NOT_EXPANDED) return err;
    }
  }
  let dst = d.pair1;
  if (relocate) {
    const a = alloc(m);
    if (a < 0) { if (a != -ENOSPC) return <i32>a; relocate = false; } else dst = <u32>a;
  }
  return compactInto(m, d, d.count, dst, newRev, d.tail0, d.tail1, d.split, withAttrs, relocate);
}

/**
 * Writes ids [0, end) of d into block `dst` as revision `newRev` and makes it d's newest block.
 * A bad block moves the pair to a fresh block (never the superblock's), up to 8 times; a pair
 * that moved is recorded so its parent and the metadata list follow it.
 */
function compactInto(m: Mount, d: MDir, end: u32, dst: u32, newRev: u32, t0: u32, t1: u32, hard: u32, withAttrs: bool, relocated: bool): i32 {
  for (let attempt = 0; attempt < 8; attempt++) {
    const err = compactWrite(m, d, 0, end, dst, newRev, t0, t1, hard, withAttrs, true);
    if (err == 0) {
      const o0 = d.pair0, o1 = d.pair1;
      const e2 = fetch(m, d, dst, o0);
      if (e2 < 0) return e2;
      gstateCommitted(m);
      if (relocated) noteRelocation(m, o0, o1, dst, o0);
      return 0;
    }
    cacheZero(m, m.pcache);
    if (err != -ECORRUPT) return err;
    if (pairEq(d.pair0, d.pair1, 0, 1)) return -ENOSPC;
    const a = alloc(m);
    if (a < 0) return <i32>a;
    dst = <u32>a;
    relocated = true;
  }
  return -ENOSPC;
}

/** Allocates a fresh pair into md (not yet written): its revision continues the reused block's. */
function allocPair(m: Mount, md: MDir): i32 {
  const a0 = alloc(m); if (a0 < 0) return <i32>a0;
  const b0 = <u32>a0;
  const a1 = alloc(m); if (a1 < 0) return <i32>a1;
  const b1 = <u32>a1;
  let rev: u32 = 0;
  const r0 = readU32(m, b0, 0);
  if (r0 >= 0) rev = <u32>r0;
  if (m.cfgBlockCycles > 0) rev = alignUp(rev, <u32>((m.cfgBlockCycles + 1) | 1));
  md.pair0 = b0; md.pair1 = b1; md.rev = rev;
  md.off = 4; md.etag = 0xffffffff; md.count = 0; md.erased = 0; md.split = 0;
  md.tail0 = BLOCK_NULL; md.tail1 = BLOCK_NULL;
  return 0;
}

/** Moves ids [begin, end) of d into a new pair whose tail is (t0, t1, hard). Result in MD_SPLIT. */
function splitOff(m: Mount, d: MDir, begin: u32, end: u32, t0: u32, t1: u32, hard: u32): i32 {
  const nd = mdirSlot(MD_SPLIT);
  let err = allocPair(m, nd);
  if (err < 0) return err;
  for (let attempt = 0; attempt < 8; attempt++) {
    err = compactWrite(m, d, begin, end, nd.pair1, nd.rev + 1, t0, t1, hard, false, false);
    if (err == 0) break;
    cacheZero(m, m.pcache);
    if (err != -ECORRUPT) return err;
    const a = alloc(m); if (a < 0) return <i32>a;
    nd.pair1 = <u32>a;
  }
  if (err < 0) return err;
  const b0 = nd.pair0, b1 = nd.pair1;
  err = fetch(m, nd, b1, b0);
  if (err < 0) return err;
  // Open handles on the moved entries follow them.
  for (let i = 0; i < FILE_MAX_OPEN; i++) {
    const f = fileAt(m, i);
    if (f.flags != 0 && pairEq(f.pair0, f.pair1, d.pair0, d.pair1) && f.id >= begin && f.id < end) {
      f.pair0 = nd.pair0; f.pair1 = nd.pair1; f.id -= begin;
    }
  }
  return 0;
}

/** Superblock expansion: everything moves to a new pair, {0,1} keeps the superblock + a tail. */
function expandSuperblock(m: Mount, d: MDir): i32 {
  let err = splitOff(m, d, 0, d.count, d.tail0, d.tail1, d.split);
  if (err < 0) return err == -ENOSPC ? NOT_EXPANDED : err;
  const nd = mdirSlot(MD_SPLIT);
  const n0 = nd.pair0, n1 = nd.pair1;
  if (pairEq(m.root0, m.root1, d.pair0, d.pair1)) { m.root0 = n0; m.root1 = n1; }
  for (let i = 0; i < FILE_MAX_OPEN; i++) {
    const f = fileAt(m, i);
    if (f.flags != 0 && pairEq(f.pair0, f.pair1, n0, n1)) { f.id += 0; }
  }
  d.tail0 = n0; d.tail1 = n1; d.split = 1;
  const newRev = d.rev + 1;
  err = compactWrite(m, d, 0, 1, d.pair1, newRev, n0, n1, 1, false, true);
  if (err < 0) { cacheZero(m, m.pcache); return err; }
  const o0 = d.pair0;
  err = fetch(m, d, d.pair1, o0);
  if (err < 0) return err;
  gstateCommitted(m);
  return EXPANDED;
}

/**
 * Commits the attribute list to d: appended when the pair has room, else compacted into its other
 * block (or relocated). When the pair must split first, it splits and returns RETRY: the caller
 * finds its entry again and commits again. `noSplit` is for commits that only shrink the pair.
 */
function dirCommit(m: Mount, d: MDir, noSplit: bool): i32 {
  relocN = 0;
  // A commit that deletes the last entry of a pair that is not the first of its directory (its
  // predecessor reaches it by a hard tail) drops the pair instead: the predecessor takes over its
  // tail in one commit, so no directory ever holds an empty pair after its first (SPEC.md, tails;
  // readers expect none).
  if (attrsDelete() && attrsCountAfter(d) == 0) {
    const pred = mdirSlot(MD_DROP);
    const e = findPred(m, pred, d.pair0, d.pair1);
    if (e < 0 && e != -ENOENT) return e;
    if (e == 0 && pred.split != 0) {
      afterCommit(m, d);
      // Open directory handles on the dropped pair continue from where the predecessor ends.
      for (let i = 0; i < DIR_MAX_OPEN; i++) {
        const hd = dirMd(m, i);
        if (load<u32>(m.dirUsed + (<usize>i << 2)) == 0 || !pairEq(hd.pair0, hd.pair1, d.pair0, d.pair1)) continue;
        mdirCopy(hd, pred);
        store<u32>(m.dirId + (<usize>i << 2), pred.count);
      }
      return dropPair(m, pred, d);
    }
  }
  let r = dirCommitInner(m, d, noSplit);
  if (r < 0) return r;
  const fr = fixRelocations(m);
  if (fr < 0) return fr;
  if (fr == HEAD_MOVED && !inHalfOrphanPass) {
    // A directory head moved: should a fix-up have reached its predecessor through stale blocks,
    // a list pointer is left at the pair's old blocks (a half-orphan). Find and fix those now, so
    // a clean unmount leaves a consistent list (littlefs runs the same pass after relocations).
    const e = deorphanScan(m, false);
    if (e < 0) return e;
  }
  return r;
}
let inHalfOrphanPass = false;  // deorphanScan is running (a recursion guard, not a result)

function attrsDelete(): bool {
  for (let i = 0; i < aN; i++) if (tagType3(load<u32>(aTag + (<usize>i << 2))) == TYPE_DELETE) return true;
  return false;
}
/** Ids d holds once the attribute list is applied. */
function attrsCountAfter(d: MDir): i32 {
  let n = <i32>d.count;
  for (let i = 0; i < aN; i++) {
    const tag = load<u32>(aTag + (<usize>i << 2));
    if (tagType1(tag) == TYPE_SPLICE) n += tagSplice(tag);
  }
  return n;
}

/** Unlinks `child` from the metadata list: its predecessor `pred` takes over its tail, and its
 *  gstate delta moves to the next commit so the global state is unchanged. */
function dropPair(m: Mount, pred: MDir, child: MDir): i32 {
  let err = dirGetGstate(m, child, gBuf);
  if (err < 0) return err;
  m.gxTag ^= load<u32>(gBuf); m.gxP0 ^= load<u32>(gBuf, 4); m.gxP1 ^= load<u32>(gBuf, 8);
  store<u32>(dropTailBuf, child.tail0); store<u32>(dropTailBuf, child.tail1, 4);
  attrsReset();
  attrPush(mkTag(TYPE_TAIL + child.split, 0x3ff, 8), 0, dropTailBuf, 0);
  err = dirCommit(m, pred, true);
  return err < 0 ? err : 0;
}

function dirCommitInner(m: Mount, d: MDir, noSplit: bool): i32 {
  const need = attrsSize() + 16 + 28;
  if (d.erased != 0 && d.off + need <= m.blockSize - 8) {
    commitBegin(m, d.pair0, d.off, d.etag);
    let err = commitAttrs(m);
    if (err == 0) err = commitGstate(m, d, false);
    if (err == 0) err = commitCrc(m);
    if (err == 0) {
      const e2 = fetch(m, d, d.pair0, d.pair1);
      if (e2 < 0) return e2;
      gstateCommitted(m);
      afterCommit(m, d);
      return 0;
    }
    cacheZero(m, m.pcache);
    if (err != -ENOSPC && err != -ECORRUPT) return err;
  }
  // Compact: does the new state fit, or must the pair split?
  let live = liveSize(m, d, 0, d.count);
  if (live < 0) return live;
  const total = <u32>live + attrsSize();
  const halfLimit = min(m.blockSize - 40, alignUp(m.blockSize / 2, m.progSize));
  if (!noSplit && (total > halfLimit || d.count >= 0xff) && d.count > 1) {
    // Split off the upper half(s) until the rest fits, newest-last so tails chain in order.
    let end = d.count;
    let t0 = d.tail0, t1 = d.tail1, hard = d.split;
    let didSplit = false;
    while (true) {
      let s: u32 = 0;
      while (end - s > 1) {
        const sz = liveSize(m, d, s, end);
        if (sz < 0) return sz;
        if (end - s < 0xff && <u32>sz <= halfLimit) break;
        s = s + (end - s) / 2;
      }
      if (s == 0) break;
      const err = splitOff(m, d, s, end, t0, t1, hard);
      if (err < 0) { if (err == -ENOSPC) break; return err; }
      const nd = mdirSlot(MD_SPLIT);
      t0 = nd.pair0; t1 = nd.pair1; hard = 1;
      end = s;
      didSplit = true;
    }
    if (didSplit) {
      // Keep [0, end) here; the commit's attrs are not applied: the caller retries.
      const keepCount = d.count;
      d.tail0 = t0; d.tail1 = t1; d.split = hard;
      const saved = d.count;
      d.count = end;
      let err = compactRange(m, d, end, t0, t1, hard);
      d.count = saved;
      if (err < 0) return err;
      void keepCount;
      return RETRY;
    }
  }
  // Whether the compacted pair fits is decided by writing it: the only limit is the block
  // (its last 8 bytes kept for the CRC), as for the format's own commits.
  let err = compact(m, d, true);
  if (err == -ENOSPC && !noSplit && d.count > 1) {
    // Even compacted, the entries and the commit overflow one block: halve the pair and let the
    // caller commit again into the half its entry is in.
    err = splitOff(m, d, d.count / 2, d.count, d.tail0, d.tail1, d.split);
    if (err < 0) return err;
    const nd = mdirSlot(MD_SPLIT);
    const t0 = nd.pair0, t1 = nd.pair1;
    const saved = d.count;
    d.count = saved / 2;
    d.tail0 = t0; d.tail1 = t1; d.split = 1;
    err = compactRange(m, d, saved / 2, t0, t1, 1);
    if (err < 0) return err;
    return RETRY;
  }
  if (err == EXPANDED) {
    // Every entry of {0,1} now lives, under the same id, in the new pair, which also took over
    // {0,1}'s tail: the commit belongs there. Committing it to {0,1} instead would put a TAIL tag
    // after {0,1}'s new hard tail and cut the root directory off the metadata list.
    mdirCopy(d, mdirSlot(MD_SPLIT));
    return dirCommitInner(m, d, noSplit);
  }
  if (err != 0) return err;
  afterCommit(m, d);
  return 0;
}

/** Compacts ids [0, end) of d with the given tail, no attrs (the first half of a split). */
function compactRange(m: Mount, d: MDir, end: u32, t0: u32, t1: u32, hard: u32): i32 {
  return compactInto(m, d, end, d.pair1, d.rev + 1, t0, t1, hard, false, false);
}

/** Open files in d follow the ids the commit created or deleted. */
function afterCommit(m: Mount, d: MDir): void {
  for (let i = 0; i < aN; i++) {
    const tag = load<u32>(aTag + (<usize>i << 2));
    if (tagType1(tag) != TYPE_SPLICE) continue;
    const id = tagId(tag);
    for (let k = 0; k < FILE_MAX_OPEN; k++) {
      const f = fileAt(m, k);
      if (f.flags == 0 || !pairEq(f.pair0, f.pair1, d.pair0, d.pair1)) continue;
      if (f.id == 0x3ff) continue;
      if (tagType3(tag) == TYPE_DELETE) {
        if (f.id == id) f.id = 0x3ff;
        else if (f.id > id) f.id--;
      } else if (tagType3(tag) == TYPE_CREATE && f.id >= id) {
        f.id++;
      }
    }
  }
}

// ---- finding pairs that point at a pair

/** Finds the pair whose tail is (p0, p1): into md. 0 or -ENOENT. */
function findPred(m: Mount, md: MDir, p0: u32, p1: u32): i32 {
  let t0: u32 = 0, t1: u32 = 1;
  let steps: u32 = 0;
  while (!isNullPair(t0, t1)) {
    if (++steps > m.blockCount) return -ECORRUPT;
    const err = fetch(m, md, t0, t1);
    if (err < 0) return err;
    // Any shared block counts: a half-relocated pair is still "the same" pair.
    if (pairShares(md.tail0, md.tail1, p0, p1)) return 0;
    t0 = md.tail0; t1 = md.tail1;
  }
  return -ENOENT;
}

/** Finds the directory entry whose DIRSTRUCT is (p0, p1): its pair into md; its id, or -errno. */
function findParent(m: Mount, md: MDir, p0: u32, p1: u32): i32 {
  let t0: u32 = 0, t1: u32 = 1;
  let steps: u32 = 0;
  while (!isNullPair(t0, t1)) {
    if (++steps > m.blockCount) return -ECORRUPT;
    let err = fetch(m, md, t0, t1);
    if (err < 0) return err;
    for (let id: u32 = 0; id < md.count; id++) {
      const t = dirGet(m, md, mkTag(0x7ff, 0x3ff, 0), mkTag(TYPE_DIRSTRUCT, id, 8), dirStructBuf);
      if (t == -ENOENT) continue;
      if (t < 0) return t;
      if (pairShares(load<u32>(dirStructBuf), load<u32>(dirStructBuf, 4), p0, p1)) return <i32>id;
    }
    t0 = md.tail0; t1 = md.tail1;
  }
  return -ENOENT;
}

const relocPairBuf: usize = memory.data(8, 4);
/** fixRelocations: a parent took a new pointer (a directory's first pair moved). */
const HEAD_MOVED: i32 = 1;

/** Tells the parent and predecessor of every relocated pair where it went: 0, HEAD_MOVED or -errno. */
function fixRelocations(m: Mount): i32 {
  let rounds = 0;
  let headMoved = false;
  while (relocN > 0) {
    if (++rounds > 16) return -ECORRUPT;
    relocN--;
    // relocN >= 0 and < RELOC_MAX
    const o = <usize>relocN << 2;
    const o0 = load<u32>(relocOld0 + o), o1 = load<u32>(relocOld1 + o);
    const n0 = load<u32>(relocNew0 + o), n1 = load<u32>(relocNew1 + o);
    const md = mdirSlot(MD_RELOC);
    let hasParent = false;
    const parentId = findParent(m, md, o0, o1);
    let err = parentId < 0 ? parentId : followPending(m, md);
    if (err < 0 && err != -ENOENT) return err;
    if (err == 0) {
      hasParent = true;
      headMoved = true;
      m.orphans++;
      store<u32>(relocPairBuf, n0); store<u32>(relocPairBuf, n1, 4);
      attrsReset();
      attrPush(mkTag(TYPE_DIRSTRUCT, <u32>parentId, 8), 0, relocPairBuf, 0);
      const saved = relocN;
      err = dirCommitInner(m, md, true);
      if (err < 0) return err;
      if (relocN < saved) relocN = saved;
    }
    err = findPred(m, md, o0, o1);
    // The parent may be the predecessor too and have moved while it took the new pointer: the
    // list still names its old blocks until its own fix-up, so commit to where it is now.
    if (err == 0) err = followPending(m, md);
    if (err < 0 && err != -ENOENT) return err;
    if (err == 0) {
      if (hasParent) m.orphans--;
      store<u32>(relocPairBuf, n0); store<u32>(relocPairBuf, n1, 4);
      attrsReset();
      attrPush(mkTag(TYPE_TAIL + md.split, 0x3ff, 8), 0, relocPairBuf, 0);
      err = dirCommitInner(m, md, true);
      if (err < 0) return err;
    } else if (hasParent) {
      m.orphans--;
    }
  }
  return headMoved ? HEAD_MOVED : 0;
}

/** md was fetched through the metadata list: when it is the old image of a pair that moved and
 *  whose fix-up is still pending, fetch the pair where it lives now. */
function followPending(m: Mount, md: MDir): i32 {
  for (let i = relocN - 1; i >= 0; i--) {
    const o = <usize>i << 2;
    if (!pairEq(md.pair0, md.pair1, load<u32>(relocOld0 + o), load<u32>(relocOld1 + o))) continue;
    return fetch(m, md, load<u32>(relocNew0 + o), load<u32>(relocNew1 + o));
  }
  return 0;
}

// ---- consistency: pending moves, orphans, old superblock versions

function demove(m: Mount): i32 {
  if (!hasMove(m)) return 0;
  const d = mdirSlot(MD_MOVE);
  let err = fetch(m, d, m.gsP0, m.gsP1);
  if (err < 0) return err;
  const id = moveId(m);
  prepMove(m, ID_NONE, 0, 0);
  attrsReset();
  attrPush(mkTag(TYPE_DELETE, id, 0), 0, 0, 0);
  err = dirCommit(m, d, true);
  return err < 0 ? err : 0;
}

function deorphan(m: Mount): i32 {
  if (m.orphans == 0) return 0;
  const err = deorphanScan(m, true);
  if (err < 0) return err;
  m.orphans = 0;
  return 0;
}

/**
 * Walks the metadata list fixing half-orphans (a list pointer naming the old blocks of a pair that
 * moved) and, with dropFull, dropping orphans (directory pairs no entry names). Without dropFull
 * it is safe between the two commits of a mkdir, whose new pair is an orphan on purpose.
 */
function deorphanScan(m: Mount, dropFull: bool): i32 {
  // Its commits may relocate pairs; their own half-orphan pass would reuse this walk's slots.
  const outer = inHalfOrphanPass;
  inHalfOrphanPass = true;
  const r = deorphanWalk(m, dropFull);
  inHalfOrphanPass = outer;
  return r;
}

function deorphanWalk(m: Mount, dropFull: bool): i32 {
  const pd = mdirSlot(MD_TMP);
  const d = mdirSlot(MD_CHILD);
  const par = mdirSlot(MD_PARENT);
  for (let pass = 0; pass < 2; pass++) {
    let err = fetch(m, pd, 0, 1);
    if (err < 0) return err;
    let steps: u32 = 0;
    while (!isNullPair(pd.tail0, pd.tail1)) {
      if (++steps > m.blockCount) return -ECORRUPT;
      err = fetch(m, d, pd.tail0, pd.tail1);
      if (err < 0) return err;
      if (pd.split == 0) {
        // d heads a directory: something must point at it.
        const parentId = findParent(m, par, d.pair0, d.pair1);
        err = parentId < 0 ? parentId : 0;
        if (err < 0 && err != -ENOENT) return err;
        const isRoot = pairEq(d.pair0, d.pair1, m.root0, m.root1);
        if (err == -ENOENT && !isRoot && dropFull) {
          // An orphan: drop it from the list, keeping its gstate delta.
          err = dropPair(m, pd, d);
          if (err < 0) return err;
          continue;
        }
        if (err == 0) {
          const t = dirGet(m, par, mkTag(0x7ff, 0x3ff, 0), mkTag(TYPE_DIRSTRUCT, <u32>parentId, 8), dirStructBuf);
          if (t < 0) return t;
          const q0 = load<u32>(dirStructBuf), q1 = load<u32>(dirStructBuf, 4);
          if (!(q0 == d.pair0 && q1 == d.pair1) && !(q0 == d.pair1 && q1 == d.pair0)) {
            // Half-orphan: the list still names the old blocks of a relocated pair.
            store<u32>(orphanTailBuf, q0); store<u32>(orphanTailBuf, q1, 4);
            attrsReset();
            attrPush(mkTag(TYPE_TAIL + pd.split, 0x3ff, 8), 0, orphanTailBuf, 0);
            err = dirCommit(m, pd, true);
            if (err < 0) return err;
            continue;
          }
        }
      }
      mdirCopy(pd, d);
    }
  }
  return 0;
}

const sbOut: usize = memory.data(24, 4);
function fillSuperblock(m: Mount): void {
  store<u32>(sbOut, DISK_VERSION);
  store<u32>(sbOut, m.blockSize, 4);
  store<u32>(sbOut, m.blockCount, 8);
  store<u32>(sbOut, m.nameMax, 12);
  store<u32>(sbOut, m.fileMax, 16);
  store<u32>(sbOut, m.attrMax, 20);
}

function desuperblock(m: Mount): i32 {
  if (!m.needSuperblockRewrite) return 0;
  const d = mdirSlot(MD_ROOT);
  let err = fetch(m, d, m.root0, m.root1);
  if (err < 0) return err;
  fillSuperblock(m);
  attrsReset();
  attrPush(mkTag(TYPE_INLINESTRUCT, 0, 24), 0, sbOut, 0);
  err = dirCommit(m, d, true);
  if (err < 0) return err;
  m.needSuperblockRewrite = false;
  m.diskVersion = DISK_VERSION;
  return 0;
}

/** Before any write: finish what a power loss left (old version, pending move, orphans). */
function forceConsistency(m: Mount): i32 {
  allocAck(m);
  let err = desuperblock(m);
  if (err < 0) return err;
  err = demove(m);
  if (err < 0) return err;
  err = deorphan(m);
  if (err < 0) return err;
  if (!gDeltaZero(m)) {
    // Write the cleaned gstate into the root pair.
    const d = mdirSlot(MD_ROOT);
    err = fetch(m, d, m.root0, m.root1);
    if (err < 0) return err;
    attrsReset();
    err = dirCommit(m, d, true);
    if (err < 0) return err;
  }
  return 0;
}

export function fsMkconsistent(m: Mount): i32 {
  if (!m.mounted) return -EINVAL;
  if (m.readOnly) return -EROFS;
  return forceConsistency(m);
}

export function fsGc(m: Mount): i32 {
  if (!m.mounted) return -EINVAL;
  if (m.readOnly) return -EROFS;
  const err = forceConsistency(m);
  if (err < 0) return err;
  // Refill the lookahead window now, so the next allocation does not scan.
  m.laCkpoint = m.blockCount;
  m.laNext = m.laSize;
  return 0;
}

// ---- format

export function fsFormat(m: Mount): i32 {
  fetchForget();
  if (m.readOnly) return -EROFS;
  if (!m.configured || m.mounted) return -EINVAL;
  if (m.cfgBlockCount < 2) return -EINVAL;
  let err = allocBuffers(m);
  if (err < 0) return err;
  m.blockCount = m.cfgBlockCount;
  computeInlineMax(m);
  m.laStart = 0; m.laSize = min(m.cfgLookaheadBytes * 8, m.blockCount); m.laNext = 0; m.laCkpoint = m.blockCount;
  memory.fill(m.lookaheadBuf, 0, m.cfgLookaheadBytes);
  store<u8>(m.lookaheadBuf, load<u8>(m.lookaheadBuf) | 3);
  m.gsTag = 0; m.gsP0 = 0; m.gsP1 = 0; m.gdTag = 0; m.gdP0 = 0; m.gdP1 = 0; m.gxTag = 0; m.gxP0 = 0; m.gxP1 = 0;
  m.orphans = 0;
  const d = mdirSlot(MD_ROOT);
  d.pair0 = 0; d.pair1 = 1; d.rev = 0; d.off = 4; d.etag = 0xffffffff; d.count = 0;
  d.erased = 0; d.split = 0; d.tail0 = BLOCK_NULL; d.tail1 = BLOCK_NULL;
  fillSuperblock(m);
  attrsReset();
  attrPush(mkTag(TYPE_SUPERBLOCK, 0, 8), 0, magic, 0);
  attrPush(mkTag(TYPE_INLINESTRUCT, 0, 24), 0, sbOut, 0);
  err = compactWrite(m, d, 0, 0, 1, 1, BLOCK_NULL, BLOCK_NULL, 0, true, false);
  if (err == 0) {
    // Write the other block too, so no older file system in block 0 can be mistaken for ours.
    err = fetch(m, d, 1, 0);
    if (err == 0) err = compactWrite(m, d, 0, d.count, 0, 2, BLOCK_NULL, BLOCK_NULL, 0, false, false);
    if (err == 0) err = fetch(m, d, 0, 1);
  }
  cacheZero(m, m.pcache);
  freeAll(m);
  return err < 0 ? err : 0;
}

// ---- creating entries

/** Creates entry `type` named lk.name* at lk.insertId in d (both from lookup); sets lk.tag. */
function createEntry(m: Mount, d: MDir, lk: Found, type: u32): i32 {
  if (lk.nameLen > m.nameMax) return -ENAMETOOLONG;
  attrsReset();
  attrPush(mkTag(TYPE_CREATE, lk.insertId, 0), 0, 0, 0);
  attrPush(mkTag(type, lk.insertId, lk.nameLen), 0, lk.namePtr, 0);
  attrPush(mkTag(TYPE_INLINESTRUCT, lk.insertId, 0), 0, 0, 0);
  const err = dirCommit(m, d, false);
  if (err < 0) return err;
  if (err == RETRY) return RETRY;
  lk.tag = mkTag(type, lk.insertId, 0);
  return 0;
}


export function fsOpenWrite(m: Mount, ptr: usize, len: u32, flags: u32): i32 {
  // As in the fs-readonly core: any flag but O_RDONLY could create, truncate or change a file.
  if (m.readOnly) return flags == O_RDONLY ? fsOpen(m, ptr, len, flags) : -EROFS;
  const lk = foundA;
  if ((flags & 3) == O_RDONLY || (flags & O_CREAT) == 0) return fsOpen(m, ptr, len, flags);
  if (!m.mounted) return -EINVAL;
  let err = forceConsistency(m);
  if (err < 0) return err;
  // Create first if needed (retrying when the pair splits), then open normally.
  for (let attempt = 0; attempt < 8; attempt++) {
    const d = mdirSlot(MD_LOOKUP);
    err = lookup(m, d, lk, ptr, len);
    if (err == 0) return fsOpen(m, ptr, len, flags);
    if (!(err == -ENOENT && lk.isLast)) return err;
    if (!hasFreeFile(m)) return -ENOMEM;
    err = createEntry(m, d, lk, TYPE_REG);
    if (err < 0) return err;
    if (err == 0) return fsOpen(m, ptr, len, (flags & ~O_EXCL) | 0x80000000);
  }
  return -ENOSPC;
}

function hasFreeFile(m: Mount): bool {
  for (let i = 0; i < FILE_MAX_OPEN; i++) if (fileAt(m, i).flags == 0) return true;
  return false;
}

export function fsMkdir(m: Mount, ptr: usize, len: u32): i32 {
  const lk = foundA;
  if (!m.mounted) return -EINVAL;
  if (m.readOnly) return -EROFS;
  let err = forceConsistency(m);
  if (err < 0) return err;
  for (let attempt = 0; attempt < 8; attempt++) {
    const d = mdirSlot(MD_LOOKUP);
    err = lookup(m, d, lk, ptr, len);
    if (err == 0) return -EEXIST;
    if (!(err == -ENOENT && lk.isLast)) return err;
    if (lk.nameLen > m.nameMax) return -ENAMETOOLONG;
    allocAck(m);
    // The new directory joins the metadata list after the parent's last pair.
    const pred = mdirSlot(MD_PARENT);
    mdirCopy(pred, d);
    let steps: u32 = 0;
    while (pred.split != 0) {
      if (++steps > m.blockCount) return -ECORRUPT;
      err = fetch(m, pred, pred.tail0, pred.tail1);
      if (err < 0) return err;
    }
    const nd = mdirSlot(MD_CHILD);
    err = allocPair(m, nd);
    if (err < 0) return err;
    err = -ECORRUPT;
    for (let k = 0; k < 8 && err == -ECORRUPT; k++) {
      err = compactWrite(m, nd, 0, 0, nd.pair1, nd.rev + 1, pred.tail0, pred.tail1, 0, false, false);
      if (err == -ECORRUPT) { cacheZero(m, m.pcache); const a = alloc(m); if (a < 0) return <i32>a; nd.pair1 = <u32>a; }
    }
    if (err < 0) { cacheZero(m, m.pcache); return err; }
    const c0 = nd.pair1, c1 = nd.pair0;
    store<u32>(mkdirPairBuf, c0); store<u32>(mkdirPairBuf, c1, 4);
    const samePair = pairEq(pred.pair0, pred.pair1, d.pair0, d.pair1);
    if (!samePair) {
      // Two commits: link the new pair into the list (an orphan until the entry exists).
      m.orphans++;
      attrsReset();
      attrPush(mkTag(TYPE_SOFTTAIL, 0x3ff, 8), 0, mkdirPairBuf, 0);
      err = dirCommit(m, pred, true);
      if (err < 0) return err;
      m.orphans--;
      err = lookup(m, d, lk, ptr, len);
      if (err != -ENOENT) return err < 0 ? err : -EEXIST;
    }
    attrsReset();
    attrPush(mkTag(TYPE_CREATE, lk.insertId, 0), 0, 0, 0);
    attrPush(mkTag(TYPE_DIR, lk.insertId, lk.nameLen), 0, lk.namePtr, 0);
    attrPush(mkTag(TYPE_DIRSTRUCT, lk.insertId, 8), 0, mkdirPairBuf, 0);
    if (samePair) attrPush(mkTag(TYPE_SOFTTAIL, 0x3ff, 8), 0, mkdirPairBuf, 0);
    err = dirCommit(m, d, false);
    if (err < 0) return err;
    if (err == 0) return 0;
    // RETRY: the parent pair split before the entry went in; the new pair is already linked
    // when !samePair (an orphan a later deorphan drops), so start over.
    if (!samePair) { m.orphans++; err = deorphan(m); if (err < 0) return err; }
  }
  return -ENOSPC;
}
const mkdirPairBuf: usize = memory.data(8, 4);

// ---- remove / rename

/** Removes the pair list entry of directory pair (c0, c1): its predecessor skips it. */
function dropDir(m: Mount, c0: u32, c1: u32): i32 {
  const pred = mdirSlot(MD_PARENT);
  let err = findPred(m, pred, c0, c1);
  if (err == -ENOENT) return 0;
  if (err < 0) return err;
  const child = mdirSlot(MD_CHILD);
  err = fetch(m, child, c0, c1);
  if (err < 0) return err;
  return dropPair(m, pred, child);
}

/** 0 when directory entry `id` of d is empty, else -ENOTEMPTY or -errno; its pair (as the entry
 *  names it) to the 8 bytes at pairDst. */
function dirIsEmpty(m: Mount, d: MDir, id: u32, pairDst: usize): i32 {
  const t = dirGet(m, d, mkTag(0x700, 0x3ff, 0), mkTag(TYPE_STRUCT, id, 8), pairDst);
  if (t < 0) return t == -ENOENT ? -ECORRUPT : t;
  if (tagType3(<u32>t) != TYPE_DIRSTRUCT) return -ECORRUPT;
  const c = mdirSlot(MD_CHILD);
  const err = fetch(m, c, load<u32>(pairDst), load<u32>(pairDst, 4));
  if (err < 0) return err;
  return (c.count > 0 || c.split != 0) ? -ENOTEMPTY : 0;
}

export function fsRemove(m: Mount, ptr: usize, len: u32): i32 {
  const lk = foundA;
  if (!m.mounted) return -EINVAL;
  if (m.readOnly) return -EROFS;
  let err = forceConsistency(m);
  if (err < 0) return err;
  const d = mdirSlot(MD_LOOKUP);
  err = lookup(m, d, lk, ptr, len);
  if (err < 0) return err;
  const id = tagId(lk.tag);
  if (id == ID_NONE) return -EINVAL;
  const isDir = tagType3(lk.tag) == TYPE_DIR;
  if (isDir) {
    err = dirIsEmpty(m, d, id, removedDirPair);
    if (err < 0) return err;
    m.orphans++;
  }
  const c0 = load<u32>(removedDirPair), c1 = load<u32>(removedDirPair, 4);
  attrsReset();
  attrPush(mkTag(TYPE_DELETE, id, 0), 0, 0, 0);
  err = dirCommit(m, d, true);
  if (err < 0) return err;
  if (isDir) {
    m.orphans--;
    err = dropDir(m, c0, c1);
    if (err < 0) return err;
  }
  return 0;
}

const renameUserTypes: usize = memory.data(32, 4);
// The pair of a directory remove or rename replaces (dirIsEmpty's result).
const removedDirPair: usize = memory.data(8, 4);

export function fsRename(m: Mount, oldPtr: usize, oldLen: u32, newPtr: usize, newLen: u32): i32 {
  const lk = foundA;
  if (!m.mounted) return -EINVAL;
  if (m.readOnly) return -EROFS;
  let err = forceConsistency(m);
  if (err < 0) return err;
  for (let attempt = 0; attempt < 8; attempt++) {
    const od = mdirSlot(MD_LOOKUP2);
    err = lookup(m, od, foundB, oldPtr, oldLen);
    if (err < 0) return err;
    const oldTag = foundB.tag;
    const oldId = tagId(oldTag);
    if (oldId == ID_NONE) return -EINVAL;
    const nd = mdirSlot(MD_LOOKUP);
    err = lookup(m, nd, lk, newPtr, newLen);
    if (err < 0 && !(err == -ENOENT && lk.isLast)) return err;
    const exists = err == 0;
    let newId: u32 = 0;
    let replacedDir = false;
    if (exists) {
      newId = tagId(lk.tag);
      if (newId == ID_NONE) return -EINVAL;
      if (tagType3(lk.tag) != tagType3(oldTag)) return tagType3(lk.tag) == TYPE_DIR ? -EISDIR : -ENOTDIR;
      if (pairEq(od.pair0, od.pair1, nd.pair0, nd.pair1) && newId == oldId) return 0;
      if (tagType3(lk.tag) == TYPE_DIR) {
        err = dirIsEmpty(m, nd, newId, removedDirPair);
        if (err < 0) return err;
        replacedDir = true;
      }
    } else {
      if (lk.nameLen > m.nameMax) return -ENAMETOOLONG;
      newId = lk.insertId;
    }
    const rc0 = load<u32>(removedDirPair), rc1 = load<u32>(removedDirPair, 4);
    const namePtr = exists ? newPtr + lastComponentOff(newPtr, newLen) : lk.namePtr;
    const nameLen = exists ? lastComponentLen(newPtr, newLen) : lk.nameLen;
    const samePair = pairEq(od.pair0, od.pair1, nd.pair0, nd.pair1);
    let newOldId = oldId;
    if (samePair && !exists && newId <= oldId) newOldId++;
    // Build: (delete) create, name, then every tag of the old entry, then (same pair) delete old.
    attrsReset();
    if (exists) attrPush(mkTag(TYPE_DELETE, newId, 0), 0, 0, 0);
    attrPush(mkTag(TYPE_CREATE, newId, 0), 0, 0, 0);
    attrPush(mkTag(tagType3(oldTag), newId, nameLen), 0, namePtr, 0);
    const st = dirFind(m, od, mkTag(0x700, 0x3ff, 0), mkTag(TYPE_STRUCT, oldId, 0));
    if (st < 0) return st == -ENOENT ? -ECORRUPT : <i32>st;
    attrPush((foundTag(st) & ~mkTag(0, 0x3ff, 0)) | mkTag(0, newId, 0), 1, od.pair0, foundOff(st));
    err = collectUserTypes(m, od, oldId);
    if (err < 0) return err;
    for (let ty: u32 = 0; ty < 256; ty++) {
      if ((load<u8>(renameUserTypes + (ty >>> 3)) & <u8>(<u32>1 << (ty & 7))) == 0) continue;
      const t = dirFind(m, od, mkTag(0x7ff, 0x3ff, 0), mkTag(TYPE_USERATTR + ty, oldId, 0));
      if (t == -ENOENT) continue;
      if (t < 0) return <i32>t;
      if (!attrPush((foundTag(t) & ~mkTag(0, 0x3ff, 0)) | mkTag(0, newId, 0), 1, od.pair0, foundOff(t))) return -ENOSPC;
    }
    if (samePair) attrPush(mkTag(TYPE_DELETE, newOldId, 0), 0, 0, 0);
    if (replacedDir) m.orphans++;
    if (!samePair) prepMove(m, oldId, od.pair0, od.pair1);
    // Entries open at the old name do not follow: they keep their pair and id.
    err = dirCommit(m, nd, false);
    if (err < 0) { if (!samePair) prepMove(m, ID_NONE, 0, 0); if (replacedDir) m.orphans--; return err; }
    if (err == RETRY) {
      if (!samePair) prepMove(m, ID_NONE, 0, 0);
      if (replacedDir) m.orphans--;
      continue;
    }
    if (!samePair) {
      err = demove(m);
      if (err < 0) return err;
    }
    if (replacedDir) {
      m.orphans--;
      err = dropDir(m, rc0, rc1);
      if (err < 0) return err;
    }
    return 0;
  }
  return -ENOSPC;
}

function lastComponentOff(ptr: usize, len: u32): u32 {
  let end = len;
  while (end > 0 && load<u8>(ptr + end - 1) == 0x2f) end--;
  let start = end;
  while (start > 0 && load<u8>(ptr + start - 1) != 0x2f) start--;
  return start;
}
function lastComponentLen(ptr: usize, len: u32): u32 {
  let end = len;
  while (end > 0 && load<u8>(ptr + end - 1) == 0x2f) end--;
  return end - lastComponentOff(ptr, len);
}

/** Marks in renameUserTypes every user attribute type tagged on any id of d (a superset). */
function collectUserTypes(m: Mount, d: MDir, id: u32): i32 {
  memory.fill(renameUserTypes, 0, 32);
  let off: u32 = 4;
  let ptag: u32 = 0xffffffff;
  while (off < d.off) {
    const err = bdRead(m, null, d.pair0, off, beBuf, 4, d.off - off);
    if (err < 0) return err;
    const tag = bswap32(load<u32>(beBuf)) ^ ptag;
    ptag = tag;
    if (tagIsCcrc(tag)) ptag ^= (tagChunk(tag) & 1) << 31;
    else if (tagType1(tag) == TYPE_USERATTR) {
      const ty = tagChunk(tag);
      const p = renameUserTypes + (ty >>> 3);
      store<u8>(p, load<u8>(p) | <u8>(<u32>1 << (ty & 7)));
    }
    off += tagDsize(tag);
  }
  void id;
  return 0;
}

// ---- attributes

export function fsSetattr(m: Mount, ptr: usize, len: u32, type: u32, value: usize, valueLen: u32, remove: bool): i32 {
  const lk = foundA;
  if (!m.mounted) return -EINVAL;
  if (m.readOnly) return -EROFS;
  if (type > 255) return -EINVAL;
  if (!remove && valueLen > m.attrMax) return -ENOSPC;
  let err = forceConsistency(m);
  if (err < 0) return err;
  for (let attempt = 0; attempt < 8; attempt++) {
    const d = mdirSlot(MD_LOOKUP);
    err = lookup(m, d, lk, ptr, len);
    if (err < 0) return err;
    let id = tagId(lk.tag);
    if (id == ID_NONE) {
      id = 0;
      err = fetch(m, d, m.root0, m.root1);
      if (err < 0) return err;
    }
    attrsReset();
    attrPush(mkTag(TYPE_USERATTR + type, id, remove ? SIZE_DELETED : valueLen), 0, value, 0);
    err = dirCommit(m, d, remove);
    if (err < 0) return err;
    if (err == 0) return 0;
  }
  return -ENOSPC;
}

// ---- file writes

const zeroBuf: usize = memory.data(64, 4);

/** Extends f's CTZ list whose last block is `head` (f.block) holding `size` bytes: returns the new
 *  block and the write offset in it (ctzAt; pointers written through file cache c), or -errno;
 *  the new block's pointer 0, when known, in f.prevBlock. */
function ctzExtend(m: Mount, f: LFile, c: Cache, head: u32, size: u32): i64 {
  const headPtr0 = f.prevBlock;
  f.prevBlock = BLOCK_NULL;
  for (let attempt = 0; attempt < 8; attempt++) {
    const a = alloc(m);
    if (a < 0) return a;
    const nblock = <u32>a;
    let err = bdErase(m, nblock);
    if (err == -ECORRUPT) continue;
    if (err < 0) return err;
    cacheZero(m, c);
    if (size == 0) return ctzAt(nblock, 0);
    let index = ctzIndex(m.blockSize, size - 1);
    const noff = ctzOffset(m.blockSize, size - 1) + 1;
    if (noff != m.blockSize) {
      // The last block is partly full: copy it (pointers and data) into the new block.
      let bad = false;
      let done: u32 = 0;
      while (done < noff) {
        const n = min<u32>(64, noff - done);
        err = bdRead(m, null, head, done, cBuf, n);
        if (err < 0) return err;
        // The copy carries the old block's pointers, pointer 0 first.
        if (done == 0 && index > 0) f.prevBlock = load<u32>(cBuf);
        err = bdProg(m, c, nblock, done, cBuf, n);
        if (err == -ECORRUPT) { bad = true; break; }
        if (err < 0) return err;
        done += n;
      }
      if (bad) continue;
      return ctzAt(nblock, noff);
    }
    index += 1;
    const skips = <u32>ctz(index) + 1;
    let nhead = head;
    let bad = false;
    for (let i: u32 = 0; i < skips; i++) {
      store<u32>(cBuf, nhead);
      err = bdProg(m, c, nblock, 4 * i, cBuf, 4);
      if (err == -ECORRUPT) { bad = true; break; }
      if (err < 0) return err;
      if (i != skips - 1) {
        if (i == 0 && headPtr0 != BLOCK_NULL) {
          nhead = headPtr0;
          continue;
        }
        err = bdRead(m, null, nhead, 4 * i, beBuf, 4);
        if (err < 0) return err;
        nhead = load<u32>(beBuf);
        if (nhead >= m.blockCount) return -ECORRUPT;
      }
    }
    if (bad) continue;
    f.prevBlock = head;
    return ctzAt(nblock, 4 * skips);
  }
  return -ENOSPC;
}

/** Moves the block being written to a fresh one after a program failure. */
function fileRelocate(m: Mount, f: LFile): i32 {
  const c = changetype<Cache>(f.cache);
  for (let attempt = 0; attempt < 8; attempt++) {
    const a = alloc(m);
    if (a < 0) return <i32>a;
    const nblock = <u32>a;
    let err = bdErase(m, nblock);
    if (err == -ECORRUPT) continue;
    if (err < 0) return err;
    // Copy what is already on flash of the old block; the cache still holds the rest.
    const flashed = c.block == f.block ? c.off : f.off;
    let bad = false;
    let done: u32 = 0;
    while (done < flashed) {
      const n = min<u32>(64, flashed - done);
      err = bdRead(m, null, f.block, done, cBuf, n);
      if (err < 0) return err;
      err = bdProg(m, m.pcache, nblock, done, cBuf, n);
      if (err == -ECORRUPT) { bad = true; break; }
      if (err < 0) return err;
      done += n;
    }
    if (!bad) { err = bdFlush(m, m.pcache); if (err == -ECORRUPT) bad = true; else if (err < 0) return err; }
    cacheZero(m, m.pcache);
    if (bad) continue;
    if (c.block == f.block) c.block = nblock;
    f.block = nblock;
    return 0;
  }
  return -ENOSPC;
}

function fileOutline(m: Mount, f: LFile): i32 {
  // Inline bytes sit in the cache at offsets [0, len): exactly block 0 of a CTZ list.
  const c = changetype<Cache>(f.cache);
  const len = max(f.size, f.pos);
  for (let attempt = 0; attempt < 8; attempt++) {
    const a = alloc(m);
    if (a < 0) return <i32>a;
    const nblock = <u32>a;
    const err = bdErase(m, nblock);
    if (err == -ECORRUPT) continue;
    if (err < 0) return err;
    c.block = nblock; c.off = 0; c.size = min(c.size, len);
    if (len > c.size) memory.fill(c.buf + c.size, 0, len - c.size);
    c.size = len;
    f.block = nblock;
    f.prevBlock = BLOCK_NULL;
    f.off = f.pos;
    store<u32>(changetype<usize>(f) + 44, len); // outlineEnd
    f.flags = (f.flags & ~F_INLINE) | F_WRITING;
    f.head = BLOCK_NULL; f.csize = 0;
    return 0;
  }
  return -ENOSPC;
}

function fileFlush(m: Mount, fd: i32): i32 {
  const f = fileAt(m, fd);
  if ((f.flags & F_READING) != 0) f.flags &= ~F_READING;
  if ((f.flags & F_WRITING) == 0) return 0;
  const c = changetype<Cache>(f.cache);
  if ((f.flags & F_INLINE) != 0) {
    if (f.pos > f.size) f.size = f.pos;
    f.csize = f.size;
    f.flags = (f.flags & ~F_WRITING) | F_DIRTY;
    return 0;
  }
  const userPos = f.pos;
  const outlineEnd = load<u32>(changetype<usize>(f) + 44);
  if (outlineEnd > f.pos && f.block == c.block && f.off + (outlineEnd - f.pos) <= m.blockSize) {
    f.off += outlineEnd - f.pos;
    f.pos = outlineEnd;
  }
  store<u32>(changetype<usize>(f) + 44, 0);
  // Copy the rest of the old file after the written part, one old block at a time: the skip
  // list is walked once per block, and each read says how much of the block follows, so the
  // read cache loads whole lines between two program read-backs.
  let oldBlock = BLOCK_NULL;
  let oldOff: u32 = 0;
  while (f.pos < f.size && f.head != BLOCK_NULL) {
    if (oldBlock == BLOCK_NULL || oldOff == m.blockSize) {
      const at = ctzFind(m, f.head, f.csize, f.pos);
      if (at < 0) return <i32>at;
      oldBlock = atBlock(at); oldOff = atOff(at);
    }
    // Start the next new block first: that reads the new list's pointers, which would evict
    // the old block's line read below.
    let err = fileWriteBlock(m, f);
    if (err < 0) return err;
    const rest = min(f.size - f.pos, m.blockSize - oldOff);
    // A chunk ends at a line boundary: the read-back of the line just programmed evicts the
    // read cache, and a chunk across the boundary would load the next line twice.
    const n = min<u32>(min<u32>(64, rest), m.cacheSize - oldOff % m.cacheSize);
    err = bdRead(m, null, oldBlock, oldOff, zeroCopy, n, rest);
    if (err < 0) return err;
    err = fileWriteRaw(m, f, zeroCopy, n);
    if (err < 0) return err;
    oldOff += n;
  }
  // Flush the cache, relocating on a bad block.
  for (let attempt = 0; attempt < 8; attempt++) {
    const err = bdFlush(m, c);
    if (err == 0) break;
    if (err != -ECORRUPT) return err;
    const e2 = fileRelocate(m, f);
    if (e2 < 0) return e2;
  }
  f.head = f.block;
  f.csize = f.pos;
  f.size = f.pos;
  f.flags = (f.flags & ~F_WRITING) | F_DIRTY;
  f.pos = userPos;
  return 0;
}
const zeroCopy: usize = memory.data(64, 4);

/** Makes sure f.block is a block being written with room at f.off: starts or extends the list. */
function fileWriteBlock(m: Mount, f: LFile): i32 {
  if ((f.flags & F_WRITING) != 0 && f.off != m.blockSize) return 0;
  const c = changetype<Cache>(f.cache);
  if ((f.flags & F_INLINE) == 0) {
    if ((f.flags & F_WRITING) == 0 && f.pos > 0) {
      const at = ctzFind(m, f.head, f.csize, f.pos - 1);
      if (at < 0) return <i32>at;
      f.block = atBlock(at); f.off = atOff(at) + 1; f.prevBlock = BLOCK_NULL;
      cacheZero(m, c);
    }
    const at = ctzExtend(m, f, c, f.block, f.pos);
    if (at < 0) return <i32>at;
    f.block = atBlock(at); f.off = atOff(at);
  } else {
    f.block = BLOCK_INLINE; f.off = f.pos;
    c.block = BLOCK_INLINE;
  }
  f.flags |= F_WRITING;
  return 0;
}

/** Writes at f.pos without size bookkeeping (used by write and flush). */
function fileWriteRaw(m: Mount, f: LFile, src: usize, len: u32): i32 {
  const c = changetype<Cache>(f.cache);
  while (len > 0) {
    const e0 = fileWriteBlock(m, f);
    if (e0 < 0) return e0;
    const diff = min(len, m.blockSize - f.off);
    if ((f.flags & F_INLINE) != 0) {
      memory.copy(c.buf + f.off, src, diff);
      if (f.off + diff > c.size) c.size = f.off + diff;
    } else {
      let err = bdProg(m, c, f.block, f.off, src, diff);
      let tries = 0;
      while (err == -ECORRUPT && tries++ < 8) {
        const e2 = fileRelocate(m, f);
        if (e2 < 0) return e2;
        err = bdProg(m, c, f.block, f.off, src, diff);
      }
      if (err < 0) return err;
    }
    f.pos += diff; f.off += diff; src += diff; len -= diff;
  }
  return 0;
}

export function fileWrite(m: Mount, fd: i32, src: usize, len: u32): i32 {
  if (!fileOk(m, fd)) return -EBADF;
  if (m.readOnly) return -EROFS;
  const f = fileAt(m, fd);
  if ((f.flags & O_WRONLY) == 0) return -EBADF;
  if ((f.flags & F_ERRED) != 0) return -EIO;
  if (f.id == 0x3ff) return -ENOENT;
  if ((f.flags & F_READING) != 0) f.flags &= ~F_READING;
  if ((f.flags & O_APPEND) != 0 && f.pos < f.size) f.pos = f.size;
  if (<u64>f.pos + len > <u64>m.fileMax) return -EFBIG;
  allocAck(m);
  let err: i32 = 0;
  if ((f.flags & F_WRITING) == 0 && f.pos > f.size) {
    // Fill the hole with zeros.
    const target = f.pos;
    f.pos = f.size;
    while (f.pos < target) {
      const n = min<u32>(64, target - f.pos);
      memory.fill(zeroBuf, 0, 64);
      err = fileWriteChecked(m, f, zeroBuf, n);
      if (err < 0) { f.flags |= F_ERRED; return err; }
    }
  }
  err = fileWriteChecked(m, f, src, len);
  if (err < 0) { f.flags |= F_ERRED; return err; }
  f.flags |= F_DIRTY;
  return <i32>len;
}

function fileWriteChecked(m: Mount, f: LFile, src: usize, len: u32): i32 {
  if ((f.flags & F_INLINE) != 0) {
    const end = max(max(f.size, f.pos), f.pos + len);
    const c = changetype<Cache>(f.cache);
    if (c.block != BLOCK_INLINE && f.size > 0) return -ENOMEM; // inline file larger than our cache
    c.block = BLOCK_INLINE;
    if (end > m.inlineMax) {
      const err = fileOutline(m, f);
      if (err < 0) return err;
    }
  }
  const err = fileWriteRaw(m, f, src, len);
  if (err < 0) return err;
  if ((f.flags & F_INLINE) != 0 && f.pos > f.size) f.size = f.pos;
  return 0;
}

function fileSyncImpl(m: Mount, fd: i32): i32 {
  const f = fileAt(m, fd);
  if ((f.flags & F_ERRED) != 0) return 0;
  let err = fileFlush(m, fd);
  if (err < 0) { f.flags |= F_ERRED; return err; }
  if ((f.flags & F_DIRTY) == 0 || f.id == 0x3ff) return 0;
  err = forceConsistency(m);
  if (err < 0) return err;
  const c = changetype<Cache>(f.cache);
  for (let attempt = 0; attempt < 8; attempt++) {
    const d = mdirSlot(MD_FILE);
    err = fetch(m, d, f.pair0, f.pair1);
    if (err < 0) return err;
    attrsReset();
    if ((f.flags & F_INLINE) != 0) {
      attrPush(mkTag(TYPE_INLINESTRUCT, f.id, f.size), 0, c.buf, 0);
    } else {
      store<u32>(fileStructBuf, f.head); store<u32>(fileStructBuf, f.csize, 4);
      attrPush(mkTag(TYPE_CTZSTRUCT, f.id, 8), 0, fileStructBuf, 0);
    }
    err = dirCommit(m, d, false);
    if (err < 0) { f.flags |= F_ERRED; return err; }
    if (err == 0) { f.flags &= ~F_DIRTY; return 0; }
  }
  return -ENOSPC;
}
const fileStructBuf: usize = memory.data(8, 4);

export function fileTruncate(m: Mount, fd: i32, size: u32): i32 {
  if (!fileOk(m, fd)) return -EBADF;
  if (m.readOnly) return -EROFS;
  const f = fileAt(m, fd);
  if ((f.flags & O_WRONLY) == 0) return -EBADF;
  if (size > m.fileMax) return -EINVAL;
  const oldSize = <u32>fileSize(m, fd);
  const pos = f.pos;
  if (size < oldSize) {
    const err = fileFlush(m, fd);
    if (err < 0) return err;
    const c = changetype<Cache>(f.cache);
    if ((f.flags & F_INLINE) != 0) {
      f.size = size; f.csize = size; c.size = min(c.size, size);
    } else if (size == 0) {
      cacheZero(m, c);
      c.block = BLOCK_INLINE; c.off = 0; c.size = 0;
      f.head = BLOCK_INLINE; f.csize = 0; f.size = 0;
      f.flags |= F_INLINE;
    } else {
      const at = ctzFind(m, f.head, f.csize, size - 1);
      if (at < 0) return <i32>at;
      f.head = atBlock(at); f.csize = size; f.size = size;
      cacheZero(m, c);
    }
    f.flags = (f.flags & ~F_READING) | F_DIRTY;
  } else if (size > oldSize) {
    f.pos = oldSize;
    if ((f.flags & F_WRITING) != 0) { const e = fileFlush(m, fd); if (e < 0) return e; f.pos = oldSize; }
    while (f.pos < size) {
      const n = min<u32>(64, size - f.pos);
      memory.fill(zeroBuf, 0, 64);
      const e = fileWriteChecked(m, f, zeroBuf, n);
      if (e < 0) return e;
    }
    f.flags |= F_DIRTY;
    const e = fileFlush(m, fd);
    if (e < 0) return e;
  }
  f.pos = pos;
  return 0;
}

// ---- RAM

/**
 * Bytes of static data this file holds: every memory.data above, by name (alignment padding
 * aside). tests/host/fs-ram.test.ts checks this sum against the source, table by table. The
 * commit attribute list (aTag, aKind, aP, aQ) is the largest.
 */
export const LFS_ATTR_LIST_BYTES: u32 = 4 * 4 * <u32>ATTR_MAX_N;
export const LFS_STATIC_BYTES: u32 =
  <u32>(MDIR_BYTES * <usize>MDIR_SLOTS) + <u32>(FETCH_SLOT_BYTES * <usize>FETCH_SLOTS) + // mdirPool, fetchCache
  2 * 4 * <u32>COMP_MAX +                                                               // compOff/Len
  LFS_ATTR_LIST_BYTES + 4 * 4 * <u32>RELOC_MAX +                                       // aTag.., relocOld0..
  16 + 12 + 16 + 12 + 8 + 24 + 8 + 8 + 32 +                                            // beBuf mountNotes dirReadTags gBuf dirStructBuf sbBuf magic structBuf listSeen
  64 + 8 + 32 + 8 + 24 + 8 + 32 + 64 + 64 + 8 +                                       // cBuf fcrcBuf userSeen relocPairBuf sbOut mkdirPairBuf renameUserTypes zeroBuf zeroCopy fileStructBuf
  16 + 8 + 8 + 8 + 24 + 24 + 8 + 3 * 32;                                                        // checkOut compactTailBuf dropTailBuf orphanTailBuf foundA foundB removedDirPair, the three visitors

/** Static bytes of the whole file system but its I/O buffer (fs/exports adds that). */
export function fsStaticBytes(): u32 { return LFS_STATIC_BYTES + BD_STATIC_BYTES + CRC_TABLE_BYTES + MOUNT_RECORD_BYTES + MOUNT_TABLE_BYTES; }
