// fs/lfs: littlefs v2.1 (on-disk format 0x00020001), metadata pairs, directories and files.
//
// Built from the facts of littlefs's SPEC.md and DESIGN.md. The core talks to flash only through
// fs/bd (hal.flash_*). Ids used here are on-disk ids: a pending move's source entry is skipped
// by lookups and readdir (never renumbered), and every write finishes a pending move first, so
// writes always see a consistent pair.
// Invariants: every walk over disk data is bounded (offsets only grow inside a block, list walks
// stop after block_count pairs), so a corrupt or looping image is -ECORRUPT, never a hang or trap.
// Budget: read cache + program cache + lookahead + one cache per open file, all cache_size or
// lookahead_size bytes from kalloc at mount/open; fixed tables for FILE_MAX files and DIR_MAX dirs.
// Must not: allocate from the managed heap, trap on bad disk data, or touch flash but through bd.

import { kalloc, kfree } from "../kmem";
import {
  ENOENT, EIO, EBADF, ENOMEM, EEXIST, ENOTDIR, EISDIR, EINVAL, EFBIG, ENOSPC, ENAMETOOLONG,
  ENOTEMPTY, ENODATA, ECORRUPT,
} from "../abi";
import {
  BLOCK_NULL, BLOCK_INLINE, Cache, rcache, pcache, cacheDrop, cacheZero, bdRead, bdProg, bdErase,
  bdFlush, bdSync, bdCmp, bdErr, bdCrc, bdCrcValue, bdSetGeometry, bdSetBlockCount, bdValidGeometry,
  blockSize, blockCount, readSize, progSize, cacheSize,
} from "./bd";
import { crc32, crc32u32 } from "./crc";
import {
  TYPE_NAME, TYPE_REG, TYPE_DIR, TYPE_SUPERBLOCK, TYPE_STRUCT, TYPE_DIRSTRUCT, TYPE_INLINESTRUCT,
  TYPE_CTZSTRUCT, TYPE_USERATTR, TYPE_SPLICE, TYPE_CREATE, TYPE_DELETE, TYPE_FCRC, TYPE_TAIL,
  TYPE_SOFTTAIL, TYPE_HARDTAIL, TYPE_MOVESTATE, ID_NONE, SIZE_DELETED, mkTag, tagIsValid, tagType1,
  tagType3, tagChunk, tagSplice, tagId, tagSize, tagIsDelete, tagDsize, tagIsCcrc, seqNewer,
  ctzIndex, ctzOffOut,
} from "./tag";

export const DISK_VERSION: u32 = 0x00020001;
export const NAME_MAX_DEFAULT: u32 = 255;
export const FILE_MAX_DEFAULT: u32 = 2147483647;
export const ATTR_MAX_DEFAULT: u32 = 1022;
export const FILE_MAX_OPEN: i32 = 8;
export const DIR_MAX_OPEN: i32 = 8;

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

// ---- configuration
let cfgBlockSize: u32 = 0;
let cfgBlockCount: u32 = 0;
let cfgReadSize: u32 = 0;
let cfgProgSize: u32 = 0;
let cfgCacheSize: u32 = 0;
let cfgLookaheadBytes: u32 = 0;
let cfgBlockCycles: i32 = -1;
let cfgNameMax: u32 = NAME_MAX_DEFAULT;
let cfgInlineMax: u32 = 0;
let configured = false;

// ---- mounted state
let mounted = false;
let nameMax: u32 = NAME_MAX_DEFAULT;
let fileMax: u32 = FILE_MAX_DEFAULT;
let attrMax: u32 = ATTR_MAX_DEFAULT;
let inlineMax: u32 = 0;
let diskVersion: u32 = DISK_VERSION;
let root0: u32 = BLOCK_NULL;
let root1: u32 = BLOCK_NULL;
let ramBytes: u32 = 0;
let lookaheadBuf: usize = 0;
let laStart: u32 = 0;
let laSize: u32 = 0;
let laNext: u32 = 0;
let laCkpoint: u32 = 0;
let seed: u32 = 0;

// Global state: gs* is what RAM wants, gd* what the disk holds (XOR of every pair's delta),
// gx* deltas of dropped pairs still to be written somewhere.
let gsTag: u32 = 0; let gsP0: u32 = 0; let gsP1: u32 = 0;
let gdTag: u32 = 0; let gdP0: u32 = 0; let gdP1: u32 = 0;
let gxTag: u32 = 0; let gxP0: u32 = 0; let gxP1: u32 = 0;
let orphans: i32 = 0;
let needSuperblockRewrite = false;

export function fsConfig(bs: u32, bc: u32, rs: u32, ps: u32, cs: u32, la: u32, cycles: i32, nm: u32, im: u32): i32 {
  if (mounted) return -EINVAL;
  if (bs < 128 || rs == 0 || ps == 0 || cs == 0) return -EINVAL;
  if (cs % rs != 0 || cs % ps != 0 || bs % cs != 0) return -EINVAL;
  if (la == 0 || la % 4 != 0) return -EINVAL;
  if (nm > NAME_MAX_DEFAULT) return -EINVAL;
  if (cycles == 0) return -EINVAL;
  cfgBlockSize = bs; cfgBlockCount = bc; cfgReadSize = rs; cfgProgSize = ps; cfgCacheSize = cs;
  cfgLookaheadBytes = la; cfgBlockCycles = cycles; cfgNameMax = nm == 0 ? NAME_MAX_DEFAULT : nm;
  cfgInlineMax = im;
  configured = true;
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
const MDIR_SLOTS: i32 = 24;
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
const MD_DIRS = 12;    // 12..19: open directory handles

const beBuf: usize = memory.data(16, 4);

@inline function bswap32(v: u32): u32 { return bswap<u32>(v); }

function readU32(block: u32, off: u32): i32 {
  const err = bdRead(null, block, off, beBuf, 4);
  if (err < 0) return err;
  u32Out = load<u32>(beBuf);
  return 0;
}
let u32Out: u32 = 0;

function isNullPair(p0: u32, p1: u32): bool { return p0 == BLOCK_NULL || p1 == BLOCK_NULL; }
function pairEq(a0: u32, a1: u32, b0: u32, b1: u32): bool {
  return (a0 == b0 && a1 == b1) || (a0 == b1 && a1 == b0);
}
function pairShares(a0: u32, a1: u32, b0: u32, b1: u32): bool {
  return a0 == b0 || a1 == b1 || a0 == b1 || a1 == b0;
}

/** Parses one block of a pair; 0 when it holds a valid commit (d filled), 1 when not. */
function parseBlock(d: MDir, blk: u32, rev: u32): i32 {
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
  while (true) {
    if (off + 4 > blockSize) break;
    let err = bdRead(null, blk, off, beBuf, 4);
    if (err < 0) { if (err == -ECORRUPT) break; return err; }
    const raw = load<u32>(beBuf);
    const tag = bswap32(raw) ^ ptag;
    if (!tagIsValid(tag)) { maybeErased = true; break; }
    const dsize = tagDsize(tag);
    if (off + dsize > blockSize) break;
    const ncrc = crc32u32(crc, raw);
    ptag = tag;
    if (tagIsCcrc(tag)) {
      err = bdRead(null, blk, off + 4, beBuf, 4);
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
      crc = 0xffffffff;
      off += dsize;
      continue;
    }
    err = bdCrc(blk, off + 4, dsize - 4, ncrc);
    if (err < 0) { if (err == -ECORRUPT) break; return err; }
    crc = bdCrcValue;
    const t1 = tagType1(tag);
    if (t1 == TYPE_NAME) {
      if (<i32>tagId(tag) >= tempCount) tempCount = <i32>tagId(tag) + 1;
    } else if (t1 == TYPE_SPLICE) {
      tempCount += tagSplice(tag);
    } else if (t1 == TYPE_TAIL) {
      tempSplit = tagChunk(tag) & 1;
      err = bdRead(null, blk, off + 4, beBuf, 8);
      if (err < 0) { if (err == -ECORRUPT) break; return err; }
      tempTail0 = load<u32>(beBuf); tempTail1 = load<u32>(beBuf, 4);
    } else if (tagType3(tag) == TYPE_FCRC && tagSize(tag) >= 8) {
      err = bdRead(null, blk, off + 4, beBuf, 8);
      if (err < 0) { if (err == -ECORRUPT) break; return err; }
      hasFcrc = true; fcrcSize = load<u32>(beBuf); fcrcCrc = load<u32>(beBuf, 4);
    }
    off += dsize;
  }
  if (!committed) return 1;
  d.erased = 0;
  if (maybeErased && d.off % progSize == 0 && okFcrc && okFcrcSize <= blockSize - d.off) {
    const err = bdCrc(blk, d.off, okFcrcSize, 0xffffffff);
    if (err < 0 && err != -ECORRUPT) return err;
    if (err == 0 && bdCrcValue == okFcrcCrc) d.erased = 1;
  }
  return 0;
}

/** Reads the newest valid state of pair {p0, p1} into d. */
export function fetch(d: MDir, p0: u32, p1: u32): i32 {
  if (p0 >= blockCount || p1 >= blockCount) return -ECORRUPT;
  let rev0: u32 = 0, rev1: u32 = 0;
  let ok0 = readU32(p0, 0) == 0; rev0 = u32Out;
  let ok1 = readU32(p1, 0) == 0; rev1 = u32Out;
  const second = ok1 && (!ok0 || seqNewer(rev1, rev0));
  for (let i = 0; i < 2; i++) {
    const useSecond = (i == 0) == second;
    const blk = useSecond ? p1 : p0;
    const other = useSecond ? p0 : p1;
    const rev = useSecond ? rev1 : rev0;
    if (useSecond ? !ok1 : !ok0) continue;
    const r = parseBlock(d, blk, rev);
    if (r < 0) return r;
    if (r == 0) {
      d.pair0 = blk; d.pair1 = other; d.rev = rev;
      return 0;
    }
  }
  return -ECORRUPT;
}

/** Disk offset of the data of the tag dirGet last found. */
let getDataOff: u32 = 0;

/**
 * Finds the newest tag matching gtag under gmask, tracking id renumbering by splices, and copies
 * up to `size` bytes of its data from offset `goff` to dst (zero-filling the rest). Returns the
 * tag (with the id as asked) or -ENOENT.
 */
export function dirGetSlice(d: MDir, gmask: u32, gtag: u32, goff: u32, dst: usize, size: u32): i32 {
  let off = d.off;
  let ntag = d.etag;
  let gdiff: u32 = 0;
  while (off >= 4 + tagDsize(ntag)) {
    off -= tagDsize(ntag);
    const tag = ntag;
    const err = bdRead(null, d.pair0, off, beBuf, 4);
    if (err < 0) return err;
    ntag = (bswap32(load<u32>(beBuf)) ^ tag) & 0x7fffffff;
    const want = gtag - gdiff;
    if ((gmask & mkTag(0, 0x3ff, 0)) != 0 && tagType1(tag) == TYPE_SPLICE && tagId(tag) <= tagId(want)) {
      if ((tag & 0x7ffffc00) == mkTag(TYPE_CREATE, tagId(want), 0)) return -ENOENT;
      gdiff += <u32>(tagSplice(tag) << 10);
    }
    if ((gmask & tag) == (gmask & (gtag - gdiff))) {
      if (tagIsDelete(tag)) return -ENOENT;
      getDataOff = off + 4;
      if (size > 0) {
        const tsize = tagSize(tag);
        const avail = goff < tsize ? tsize - goff : 0;
        const n = min(avail, size);
        if (n > 0) {
          const e2 = bdRead(null, d.pair0, off + 4 + goff, dst, n);
          if (e2 < 0) return e2;
        }
        if (n < size) memory.fill(dst + n, 0, size - n);
      }
      return <i32>((tag + gdiff) & 0x7fffffff);
    }
  }
  return -ENOENT;
}

export function dirGet(d: MDir, gmask: u32, gtag: u32, dst: usize): i32 {
  return dirGetSlice(d, gmask, gtag, 0, dst, tagSize(gtag));
}

/** This pair's own gstate delta, XORed into (gTmpTag, gTmpP0, gTmpP1). */
let gTmpTag: u32 = 0; let gTmpP0: u32 = 0; let gTmpP1: u32 = 0;
const gBuf: usize = memory.data(12, 4);
function dirGetGstate(d: MDir): i32 {
  const t = dirGet(d, mkTag(0x7ff, 0, 0), mkTag(TYPE_MOVESTATE, 0, 12), gBuf);
  if (t == -ENOENT) return 0;
  if (t < 0) return t;
  gTmpTag ^= load<u32>(gBuf); gTmpP0 ^= load<u32>(gBuf, 4); gTmpP1 ^= load<u32>(gBuf, 8);
  return 0;
}

function hasMove(): bool { return (gsTag & 0x7ff00000) != 0; }
function moveId(): u32 { return tagId(gsTag); }
function moveIsHere(p0: u32, p1: u32): bool {
  return hasMove() && pairEq(gsP0, gsP1, p0, p1);
}
function diskMoveIsHere(p0: u32, p1: u32): bool {
  return (gdTag & 0x7ff00000) != 0 && pairEq(gdP0, gdP1, p0, p1);
}

// ---- names

let findInsertId: u32 = 0;
let findGreater = false;

/** memcmp of a name on disk with one in memory, littlefs's order: on a common prefix the
 *  longer name sorts first. Result <0: disk sorts before; 0 equal; >0 after. */
function nameCmp(block: u32, off: u32, diskLen: u32, name: usize, nameLen: u32): i32 {
  const n = min(diskLen, nameLen);
  const r = bdCmp(block, off, name, n);
  if (bdErr < 0) return 0x7fffffff;
  if (r != 0) return r;
  if (nameLen == diskLen) return 0;
  return nameLen < diskLen ? -1 : 1;
}

/**
 * Looks for `name` among the committed entries of d. Returns its id, -1 if absent, or -errno.
 * Sets findInsertId (where the name would sort) and findGreater (a greater name exists here).
 */
function dirFindName(d: MDir, name: usize, nameLen: u32): i32 {
  let off: u32 = 4;
  let ptag: u32 = 0xffffffff;
  let best: i32 = -1;
  let gt: i32 = 0x3ff;
  while (off < d.off) {
    const err = bdRead(null, d.pair0, off, beBuf, 4);
    if (err < 0) return err;
    const tag = (bswap32(load<u32>(beBuf)) ^ ptag);
    ptag = tag;
    const dsize = tagDsize(tag);
    if (tagIsCcrc(tag)) {
      ptag ^= (tagChunk(tag) & 1) << 31;
    } else if (tagType1(tag) == TYPE_NAME && (tagType3(tag) & 0x780) == 0) {
      const id = <i32>tagId(tag);
      const c = nameCmp(d.pair0, off + 4, tagSize(tag), name, nameLen);
      if (c == 0x7fffffff) return bdErr;
      if (c == 0) best = id;
      else if (id == best) best = -1;
      if (c > 0 && id <= gt) gt = id;
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
  findGreater = gt < <i32>d.count;
  findInsertId = gt < <i32>d.count ? <u32>gt : d.count;
  if (best >= 0 && moveIsHere(d.pair0, d.pair1) && <u32>best == moveId()) best = -1;
  if (best >= <i32>d.count) best = -1;
  return best;
}

// ---- path lookup

let lkTag: u32 = 0;        // tag of the entry found (type3 REG/DIR, id); root is DIR with id 0x3ff
let lkIsLast = false;      // NOENT came from the last path component
let lkNamePtr: usize = 0;  // that component's name
let lkNameLen: u32 = 0;
let lkInsertId: u32 = 0;   // where it would be created (in the MD_LOOKUP-like pair)

const COMP_MAX = 64;
const compOff: usize = memory.data(COMP_MAX * 4, 4);
const compLen: usize = memory.data(COMP_MAX * 4, 4);
const dirStructBuf: usize = memory.data(8, 4);

/**
 * Resolves `path` (bytes at ptr): fills `d` with the pair holding the entry and sets lkTag.
 * On -ENOENT with lkIsLast, `d` is the pair where the name would go.
 */
function lookup(d: MDir, ptr: usize, len: u32): i32 {
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
  lkIsLast = false;
  let err = fetch(d, root0, root1);
  if (err < 0) return err;
  lkTag = mkTag(TYPE_DIR, ID_NONE, 0);
  for (let c = 0; c < n; c++) {
    const nptr = ptr + load<u32>(compOff + (<usize>c << 2));
    const nlen = load<u32>(compLen + (<usize>c << 2));
    if (tagType3(lkTag) != TYPE_DIR) return -ENOTDIR;
    if (tagId(lkTag) != ID_NONE) {
      const t = dirGet(d, mkTag(0x700, 0x3ff, 0), mkTag(TYPE_STRUCT, tagId(lkTag), 8), dirStructBuf);
      if (t < 0) return t;
      if (tagType3(<u32>t) != TYPE_DIRSTRUCT) return -ECORRUPT;
      err = fetch(d, load<u32>(dirStructBuf), load<u32>(dirStructBuf, 4));
      if (err < 0) return err;
    }
    // Walk the directory's pairs (hard tails) looking for the name.
    let steps: u32 = 0;
    while (true) {
      const id = dirFindName(d, nptr, nlen);
      if (id < -1) return id;
      if (id >= 0) {
        const t = dirGet(d, mkTag(0x780, 0x3ff, 0), mkTag(TYPE_NAME, <u32>id, 0), 0);
        if (t < 0) return t == -ENOENT ? -ECORRUPT : t;
        lkTag = <u32>t;
        break;
      }
      if (findGreater || !d.split) {
        lkIsLast = c == n - 1;
        lkNamePtr = nptr; lkNameLen = nlen;
        lkInsertId = findInsertId;
        return -ENOENT;
      }
      if (++steps > blockCount) return -ECORRUPT;
      err = fetch(d, d.tail0, d.tail1);
      if (err < 0) return err;
    }
  }
  return 0;
}

// ---- mount / unmount

function freeAll(): void {
  kfree(rcache.buf); rcache.buf = 0;
  kfree(pcache.buf); pcache.buf = 0;
  kfree(lookaheadBuf); lookaheadBuf = 0;
  ramBytes = 0;
}

function allocBuffers(): i32 {
  bdSetGeometry(cfgBlockSize, cfgBlockCount, cfgReadSize, cfgProgSize, cfgCacheSize);
  rcache.buf = kalloc(cfgCacheSize);
  pcache.buf = kalloc(cfgCacheSize);
  lookaheadBuf = kalloc(cfgLookaheadBytes);
  if (rcache.buf == 0 || pcache.buf == 0 || lookaheadBuf == 0) { freeAll(); return -ENOMEM; }
  cacheZero(rcache); cacheZero(pcache);
  ramBytes = 2 * cfgCacheSize + cfgLookaheadBytes;
  nameMax = cfgNameMax; fileMax = FILE_MAX_DEFAULT; attrMax = ATTR_MAX_DEFAULT;
  return 0;
}

function computeInlineMax(): void {
  let m = min(cacheSize, min(attrMax, blockSize / 8));
  if (cfgInlineMax != 0 && cfgInlineMax < m) m = cfgInlineMax;
  inlineMax = m;
}

const sbBuf: usize = memory.data(24, 4);
const magic: usize = memory.data<u8>([0x6c, 0x69, 0x74, 0x74, 0x6c, 0x65, 0x66, 0x73]);

export function fsMount(): i32 {
  if (!configured) return -EINVAL;
  if (mounted) return -EINVAL;
  let err = allocBuffers();
  if (err < 0) return err;
  // The device may be smaller than the superblock claims until we read it: allow any block
  // while looking for the superblock when block_count is 0.
  if (cfgBlockCount == 0) bdSetBlockCount(0xfffffff0);
  err = mountScan();
  if (err < 0) { freeAll(); bdSetBlockCount(cfgBlockCount); return err; }
  computeInlineMax();
  // Lookahead starts at a pseudo-random block so wear spreads over mounts.
  laStart = blockCount > 0 ? seed % blockCount : 0;
  laSize = 0; laNext = 0; laCkpoint = blockCount;
  for (let i = 0; i < FILE_MAX_OPEN; i++) fileAt(i).flags = 0;
  for (let i = 0; i < DIR_MAX_OPEN; i++) store<u32>(dirUsed + (<usize>i << 2), 0);
  mounted = true;
  return 0;
}

function mountScan(): i32 {
  const d = mdirSlot(MD_WALK);
  root0 = BLOCK_NULL; root1 = BLOCK_NULL;
  gTmpTag = 0; gTmpP0 = 0; gTmpP1 = 0;
  seed = 0;
  let t0: u32 = 0, t1: u32 = 1;
  let steps: u32 = 0;
  let found = false;
  while (!isNullPair(t0, t1)) {
    if (++steps > (blockCount == 0xfffffff0 ? 0x10000 : blockCount)) return -ECORRUPT;
    let err = fetch(d, t0, t1);
    if (err < 0) return err;
    seed = crc32u32(seed, d.rev);
    // A superblock entry makes this pair the root.
    const st = dirGet(d, mkTag(0x7ff, 0x3ff, 0), mkTag(TYPE_SUPERBLOCK, 0, 8), beBuf);
    if (st < 0 && st != -ENOENT) return st;
    if (st >= 0 && memory.compare(beBuf, magic, 8) == 0) {
      root0 = d.pair0; root1 = d.pair1;
      const it = dirGet(d, mkTag(0x7ff, 0x3ff, 0), mkTag(TYPE_INLINESTRUCT, 0, 24), sbBuf);
      if (it < 0) return it == -ENOENT ? -ECORRUPT : it;
      const version = load<u32>(sbBuf);
      if ((version >>> 16) != 2 || (version & 0xffff) > 1) return -EINVAL;
      const bs = load<u32>(sbBuf, 4), bc = load<u32>(sbBuf, 8);
      if (bs != cfgBlockSize) return -EINVAL;
      if (cfgBlockCount != 0 && bc != cfgBlockCount) return -EINVAL;
      if (bc < 2) return -ECORRUPT;
      bdSetBlockCount(bc);
      const nm = load<u32>(sbBuf, 12), fm = load<u32>(sbBuf, 16), am = load<u32>(sbBuf, 20);
      if (nm != 0) { if (nm > cfgNameMax) return -EINVAL; nameMax = nm; }
      if (fm != 0) { if (fm > FILE_MAX_DEFAULT) return -EINVAL; fileMax = fm; }
      if (am != 0) { if (am > ATTR_MAX_DEFAULT) return -EINVAL; attrMax = am; }
      diskVersion = version;
      needSuperblockRewrite = (version & 0xffff) < 1;
      found = true;
    }
    err = dirGetGstate(d);
    if (err < 0) return err;
    t0 = d.tail0; t1 = d.tail1;
  }
  if (!found) return -ECORRUPT;
  gdTag = gTmpTag & ~0x3ff; gdP0 = gTmpP0; gdP1 = gTmpP1;
  gsTag = gdTag; gsP0 = gdP0; gsP1 = gdP1;
  gxTag = 0; gxP0 = 0; gxP1 = 0;
  orphans = (gsTag & 0x80000000) != 0 ? 1 : 0;
  return 0;
}

export function fsUnmount(): i32 {
  if (!mounted) return -EINVAL;
  for (let i = 0; i < FILE_MAX_OPEN; i++) if (fileAt(i).flags != 0) fileClose(i);
  for (let i = 0; i < DIR_MAX_OPEN; i++) store<u32>(dirUsed + (<usize>i << 2), 0);
  freeAll();
  mounted = false;
  return 0;
}

export function fsIsMounted(): bool { return mounted; }
export function fsRamBytes(): u32 { return ramBytes; }

// ---- stat / fsinfo

let statSize: u32 = 0;
const structBuf: usize = memory.data(8, 4);

/** Size of entry `id` of d (0 for directories). */
function entrySize(d: MDir, id: u32, type: u32): i32 {
  if (type == TYPE_DIR) return 0;
  const t = dirGet(d, mkTag(0x700, 0x3ff, 0), mkTag(TYPE_STRUCT, id, 8), structBuf);
  if (t < 0) return t == -ENOENT ? -ECORRUPT : t;
  if (tagType3(<u32>t) == TYPE_CTZSTRUCT) return <i32>load<u32>(structBuf, 4);
  if (tagType3(<u32>t) == TYPE_INLINESTRUCT) return <i32>tagSize(<u32>t);
  return -ECORRUPT;
}

/** Type (1 file, 2 dir) of `path`; size in statSize. */
export function fsStat(ptr: usize, len: u32): i32 {
  if (!mounted) return -EINVAL;
  const d = mdirSlot(MD_LOOKUP);
  const err = lookup(d, ptr, len);
  if (err < 0) return err;
  const type = tagType3(lkTag);
  if (tagId(lkTag) == ID_NONE) { statSize = 0; return 2; }
  const sz = entrySize(d, tagId(lkTag), type);
  if (sz < 0) return sz;
  statSize = <u32>sz;
  return type == TYPE_DIR ? 2 : 1;
}
export function fsStatSize(): u32 { return statSize; }

export function fsInfo(dst: usize): i32 {
  if (!mounted) return -EINVAL;
  store<u32>(dst, diskVersion);
  store<u32>(dst, blockSize, 4);
  store<u32>(dst, blockCount, 8);
  store<u32>(dst, nameMax, 12);
  store<u32>(dst, fileMax, 16);
  store<u32>(dst, attrMax, 20);
  return 24;
}

// ---- attributes

/** Reads user attribute `type` of `path` into dst (up to maxBytes); returns its full size. */
export function fsGetattr(ptr: usize, len: u32, type: u32, dst: usize, maxBytes: u32): i32 {
  if (!mounted) return -EINVAL;
  if (type > 255) return -EINVAL;
  const d = mdirSlot(MD_LOOKUP);
  let err = lookup(d, ptr, len);
  if (err < 0) return err;
  let id = tagId(lkTag);
  if (id == ID_NONE) {
    id = 0;
    err = fetch(d, root0, root1);
    if (err < 0) return err;
  }
  const t = dirGetSlice(d, mkTag(0x7ff, 0x3ff, 0), mkTag(TYPE_USERATTR + type, id, 0), 0, dst, 0);
  if (t < 0) return t == -ENOENT ? -ENODATA : t;
  const size = tagSize(<u32>t);
  const n = min(size, maxBytes);
  if (n > 0) {
    const e2 = bdRead(null, d.pair0, getDataOff, dst, n);
    if (e2 < 0) return e2;
  }
  return <i32>size;
}

// ---- directories

const dirUsed: usize = memory.data(DIR_MAX_OPEN * 4, 4);
const dirId: usize = memory.data(DIR_MAX_OPEN * 4, 4);
@inline function dirMd(i: i32): MDir { return mdirSlot(MD_DIRS + i); }

export function fsDirOpen(ptr: usize, len: u32): i32 {
  if (!mounted) return -EINVAL;
  let slot = -1;
  for (let i = 0; i < DIR_MAX_OPEN; i++) if (load<u32>(dirUsed + (<usize>i << 2)) == 0) { slot = i; break; }
  if (slot < 0) return -ENOMEM;
  const d = mdirSlot(MD_LOOKUP);
  let err = lookup(d, ptr, len);
  if (err < 0) return err;
  if (tagType3(lkTag) != TYPE_DIR) return -ENOTDIR;
  const m = dirMd(slot);
  if (tagId(lkTag) == ID_NONE) {
    err = fetch(m, root0, root1);
  } else {
    const t = dirGet(d, mkTag(0x700, 0x3ff, 0), mkTag(TYPE_STRUCT, tagId(lkTag), 8), dirStructBuf);
    if (t < 0) return t == -ENOENT ? -ECORRUPT : t;
    if (tagType3(<u32>t) != TYPE_DIRSTRUCT) return -ECORRUPT;
    err = fetch(m, load<u32>(dirStructBuf), load<u32>(dirStructBuf, 4));
  }
  if (err < 0) return err;
  store<u32>(dirUsed + (<usize>slot << 2), 1);
  store<u32>(dirId + (<usize>slot << 2), 0);
  return slot;
}

function dirSlotOk(h: i32): bool {
  return h >= 0 && h < DIR_MAX_OPEN && load<u32>(dirUsed + (<usize>h << 2)) != 0;
}

/** Next entry of dir handle h into dst: u8 type, u32 size, u32 nameLen, name. 1, 0 at end. */
export function fsDirRead(h: i32, dst: usize, maxBytes: u32): i32 {
  if (!mounted) return -EINVAL;
  if (!dirSlotOk(h)) return -EBADF;
  const m = dirMd(h);
  let steps: u32 = 0;
  while (true) {
    let id = load<u32>(dirId + (<usize>h << 2));
    // Re-read the pair: commits since the last call may have moved it within its blocks.
    let err = fetch(m, m.pair0, m.pair1);
    if (err < 0) return err;
    if (id >= m.count) {
      if (!m.split) return 0;
      if (++steps > blockCount) return -ECORRUPT;
      err = fetch(m, m.tail0, m.tail1);
      if (err < 0) return err;
      store<u32>(dirId + (<usize>h << 2), 0);
      continue;
    }
    store<u32>(dirId + (<usize>h << 2), id + 1);
    if (moveIsHere(m.pair0, m.pair1) && id == moveId()) continue;
    const t = dirGetSlice(m, mkTag(0x780, 0x3ff, 0), mkTag(TYPE_NAME, id, 0), 0, 0, 0);
    if (t == -ENOENT) continue;
    if (t < 0) return t;
    const type = tagType3(<u32>t);
    if (type != TYPE_REG && type != TYPE_DIR) continue;
    const nlen = tagSize(<u32>t);
    if (<u32>9 + nlen > maxBytes) return -ENAMETOOLONG;
    err = bdRead(null, m.pair0, getDataOff, dst + 9, nlen);
    if (err < 0) return err;
    const sz = entrySize(m, id, type);
    if (sz < 0) return sz;
    store<u8>(dst, type == TYPE_DIR ? 2 : 1);
    store<u32>(dst + 1, <u32>sz);
    store<u32>(dst + 5, nlen);
    return 1;
  }
}

export function fsDirClose(h: i32): i32 {
  if (!dirSlotOk(h)) return -EBADF;
  store<u32>(dirUsed + (<usize>h << 2), 0);
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
  pad1: u32;
  pad2: u32;
  pad3: u32;
  pad4: u32;
}
const FILE_BYTES: usize = 64;
const fileTable: usize = memory.data(<i32>FILE_BYTES * FILE_MAX_OPEN, 4);
const fileCaches: usize = memory.data(16 * FILE_MAX_OPEN, 4);
@inline function fileAt(i: i32): LFile { return changetype<LFile>(fileTable + <usize>i * FILE_BYTES); }
@inline function fileCache(i: i32): Cache { return changetype<Cache>(fileCaches + <usize>i * 16); }

function fileOk(fd: i32): bool { return fd >= 0 && fd < FILE_MAX_OPEN && fileAt(fd).flags != 0; }

export function fsOpen(ptr: usize, len: u32, flags: u32): i32 {
  if (!mounted) return -EINVAL;
  const acc = flags & 3;
  if (acc == 0) return -EINVAL;
  if ((flags & ~(3 | O_CREAT | O_EXCL | O_TRUNC | O_APPEND)) != 0) return -EINVAL;
  let fd = -1;
  for (let i = 0; i < FILE_MAX_OPEN; i++) if (fileAt(i).flags == 0) { fd = i; break; }
  if (fd < 0) return -ENOMEM;
  const f = fileAt(fd);
  const d = mdirSlot(MD_LOOKUP);
  let err = lookup(d, ptr, len);
  if (err < 0 && !(err == -ENOENT && lkIsLast)) return err;
  let created = false;
  if (err == -ENOENT) {
    if ((flags & O_CREAT) == 0) return -ENOENT;
    if ((acc & O_WRONLY) == 0) return -ENOENT;
    err = createEntry(d, TYPE_REG);
    if (err < 0) return err;
    created = true;
  } else {
    if ((flags & O_CREAT) != 0 && (flags & O_EXCL) != 0) return -EEXIST;
    if (tagType3(lkTag) != TYPE_REG) return -EISDIR;
  }
  f.pair0 = d.pair0; f.pair1 = d.pair1; f.id = tagId(lkTag);
  f.pos = 0; f.block = BLOCK_NULL; f.off = 0;
  const c = fileCache(fd);
  c.buf = kalloc(cacheSize);
  if (c.buf == 0) return -ENOMEM;
  cacheZero(c);
  f.cache = changetype<usize>(c);
  f.flags = flags;
  if (created) {
    f.head = BLOCK_INLINE; f.csize = 0; f.size = 0;
    f.flags |= F_INLINE;
  } else {
    const t = dirGet(d, mkTag(0x700, 0x3ff, 0), mkTag(TYPE_STRUCT, f.id, 8), structBuf);
    if (t < 0) { closeFree(fd); return t == -ENOENT ? -ECORRUPT : t; }
    if (tagType3(<u32>t) == TYPE_CTZSTRUCT) {
      f.head = load<u32>(structBuf); f.csize = load<u32>(structBuf, 4); f.size = f.csize;
      if (f.size > 0 && f.head >= blockCount) { closeFree(fd); return -ECORRUPT; }
    } else if (tagType3(<u32>t) == TYPE_INLINESTRUCT) {
      f.head = BLOCK_INLINE; f.csize = tagSize(<u32>t); f.size = f.csize;
      f.flags |= F_INLINE;
    } else { closeFree(fd); return -ECORRUPT; }
    if ((flags & O_TRUNC) != 0 && (acc & O_WRONLY) != 0 && f.size > 0) {
      f.head = BLOCK_INLINE; f.csize = 0; f.size = 0;
      f.flags |= F_INLINE | F_DIRTY;
    }
  }
  if ((f.flags & F_INLINE) != 0 && f.size > 0) {
    // Inline data lives in the file's cache while open; an inline file bigger than this mount's
    // cache (written with a larger cache_size) is read straight from its pair.
    if (f.size <= cacheSize) {
      const t = dirGetSlice(d, mkTag(0x700, 0x3ff, 0), mkTag(TYPE_STRUCT, f.id, 0), 0, c.buf, f.size);
      if (t < 0) { closeFree(fd); return t; }
      c.block = BLOCK_INLINE; c.off = 0; c.size = f.size;
    }
  }
  ramBytes += cacheSize;
  return fd;
}

function closeFree(fd: i32): void {
  const c = fileCache(fd);
  kfree(c.buf); c.buf = 0;
  fileAt(fd).flags = 0;
}

export function fileClose(fd: i32): i32 {
  if (!fileOk(fd)) return -EBADF;
  const err = fileSync(fd);
  closeFree(fd);
  ramBytes -= cacheSize;
  return err;
}

/** Block and offset of file position pos in the CTZ list (head, size). */
let ctzBlockOut: u32 = 0;
function ctzFind(head: u32, size: u32, pos: u32): i32 {
  if (size == 0) { ctzBlockOut = BLOCK_NULL; ctzOffOut2 = 0; return 0; }
  let current = ctzIndex(blockSize, size - 1);
  const target = ctzIndex(blockSize, pos);
  const off = ctzOffOut;
  while (current > target) {
    const skip = min<u32>(<u32>ctz(current), 31 - <u32>clz(current - target));
    const err = bdRead(null, head, 4 * skip, beBuf, 4);
    if (err < 0) return err;
    head = load<u32>(beBuf);
    if (head >= blockCount) return -ECORRUPT;
    current -= 1 << skip;
  }
  ctzBlockOut = head;
  ctzOffOut2 = off;
  return 0;
}
let ctzOffOut2: u32 = 0;

/** Reads up to len bytes at the file position into dst. */
export function fileRead(fd: i32, dst: usize, len: u32): i32 {
  if (!fileOk(fd)) return -EBADF;
  const f = fileAt(fd);
  if ((f.flags & O_RDONLY) == 0) return -EBADF;
  if ((f.flags & F_WRITING) != 0) {
    const err = fileFlush(fd);
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
        let err = fetch(d, f.pair0, f.pair1);
        if (err < 0) return err;
        const t = dirGetSlice(d, mkTag(0x700, 0x3ff, 0), mkTag(TYPE_STRUCT, f.id, 0), f.pos, dst, n);
        if (t < 0) return t;
      }
      f.pos += n; dst += n; n = 0;
      break;
    }
    if ((f.flags & F_READING) == 0 || f.off == blockSize) {
      const err = ctzFind(f.head, f.csize, f.pos);
      if (err < 0) return err;
      f.block = ctzBlockOut; f.off = ctzOffOut2;
      f.flags |= F_READING;
    }
    const diff = min(n, blockSize - f.off);
    const err = bdRead(null, f.block, f.off, dst, diff);
    if (err < 0) return err;
    f.pos += diff; f.off += diff; dst += diff; n -= diff;
  }
  return <i32>total;
}

export function fileSeek(fd: i32, off: i32, whence: i32): i32 {
  if (!fileOk(fd)) return -EBADF;
  const f = fileAt(fd);
  let npos: i64 = 0;
  if (whence == 0) npos = off;
  else if (whence == 1) npos = <i64>f.pos + off;
  else if (whence == 2) npos = <i64>f.size + off;
  else return -EINVAL;
  if (npos < 0 || npos > <i64>fileMax) return -EINVAL;
  if ((f.flags & F_WRITING) != 0) {
    const err = fileFlush(fd);
    if (err < 0) return err;
  }
  if (<u32>npos != f.pos) f.flags &= ~F_READING;
  f.pos = <u32>npos;
  return <i32>f.pos;
}

export function fileTell(fd: i32): i32 { return fileOk(fd) ? <i32>fileAt(fd).pos : -EBADF; }
export function fileSize(fd: i32): i32 {
  if (!fileOk(fd)) return -EBADF;
  const f = fileAt(fd);
  return <i32>max(f.size, (f.flags & F_WRITING) != 0 ? f.pos : 0);
}

// ---- write path (fs/lfs write half): stubs until it lands
function createEntry(d: MDir, type: u32): i32 { return -38; }
function fileFlush(fd: i32): i32 { return 0; }
export function fileSync(fd: i32): i32 { return fileOk(fd) ? 0 : -EBADF; }

// ---- traversal

let travCount: u32 = 0;
let travMark = false; // mark blocks in the lookahead window instead of only counting

function visit(block: u32): i32 {
  if (block >= blockCount) return -ECORRUPT;
  travCount++;
  if (travMark) {
    const off = (block + blockCount - laStart) % blockCount;
    if (off < laSize) {
      const p = lookaheadBuf + (off >>> 3);
      store<u8>(p, load<u8>(p) | <u8>(<u32>1 << (off & 7)));
    }
  }
  return 0;
}

function ctzTraverse(head: u32, size: u32): i32 {
  if (size == 0) return 0;
  let index = ctzIndex(blockSize, size - 1);
  let steps: u32 = 0;
  while (true) {
    let err = visit(head);
    if (err < 0) return err;
    if (index == 0) return 0;
    if (++steps > blockCount) return -ECORRUPT;
    err = bdRead(null, head, 0, beBuf, 4);
    if (err < 0) return err;
    head = load<u32>(beBuf);
    index -= 1;
  }
}

/** Visits every block in use; with includeDirs, also pairs named by directory entries. */
function traverseAll(includeDirs: bool): i32 {
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
    if (++steps > blockCount) return -ECORRUPT;
    let err = visit(t0); if (err < 0) return err;
    err = visit(t1); if (err < 0) return err;
    err = fetch(d, t0, t1);
    if (err < 0) return err;
    for (let id: u32 = 0; id < d.count; id++) {
      const t = dirGet(d, mkTag(0x700, 0x3ff, 0), mkTag(TYPE_STRUCT, id, 8), structBuf);
      if (t == -ENOENT) continue;
      if (t < 0) return t;
      if (tagType3(<u32>t) == TYPE_CTZSTRUCT) {
        err = ctzTraverse(load<u32>(structBuf), load<u32>(structBuf, 4));
        if (err < 0) return err;
      } else if (includeDirs && tagType3(<u32>t) == TYPE_DIRSTRUCT) {
        err = visit(load<u32>(structBuf)); if (err < 0) return err;
        err = visit(load<u32>(structBuf, 4)); if (err < 0) return err;
      }
    }
    t0 = d.tail0; t1 = d.tail1;
  }
  // Open files hold blocks not yet committed.
  for (let i = 0; i < FILE_MAX_OPEN; i++) {
    const f = fileAt(i);
    if (f.flags == 0 || (f.flags & F_INLINE) != 0) continue;
    if ((f.flags & F_DIRTY) != 0) {
      const err = ctzTraverse(f.head, f.csize);
      if (err < 0) return err;
    }
    if ((f.flags & F_WRITING) != 0 && f.block != BLOCK_NULL && f.block != BLOCK_INLINE) {
      const err = ctzTraverse(f.block, f.pos);
      if (err < 0) return err;
    }
  }
  return 0;
}

export function fsTraverse(): i32 {
  if (!mounted) return -EINVAL;
  travCount = 0; travMark = false;
  const err = traverseAll(false);
  return err < 0 ? err : <i32>travCount;
}

export function fsSizeBlocks(): i32 { return fsTraverse(); }

