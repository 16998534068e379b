// fs/bd: littlefs's view of the flash: geometry, a read cache and program caches over the hal.
//
// Every flash access of the file system goes through here, and from here only through
// hal.flash_read/prog/erase/sync. Reads are served from a pending program cache first (data not
// yet on flash), then the read cache, then the device: a miss loads what the caller hints it
// will read, rounded to read_size and at most a cache line; a large read skips the cache.
// Programs collect in a cache line and reach flash padded to prog_size; each program is read
// back and compared, so a block that fails silently is caught as a bad block.
// Invariants: a cache holds data of at most one block; a program cache line never crosses a
// cache_size boundary, nor does a read cache line; the read cache never holds data older than
// flash.
// Each mount (fs/mount) is its own block device: a region of the hal flash starting at its base
// block; every block passed to the hal is the mount's block plus that base.
// Budget: per mount, one read cache and (read-write mounts) one program cache of cache_size bytes,
// from kalloc at mount, their records in the mount's record; 64 B static (BD_STATIC_BYTES, cmpBuf,
// shared scratch).
// Must not: read or program outside [0, block_count) x [0, block_size) of the mount: such a pointer
// came from disk and is reported as LFS_ERR_CORRUPT, never passed to the host; program, erase or
// sync on a read-only mount (-EROFS).

import { flash_read, flash_prog, flash_erase, flash_sync } from "../hal/index";
import { EIO, ECORRUPT, EINVAL, EROFS } from "../abi";
import { Cache, Mount } from "./mount";

// The fs-readonly core is built with `--use FS_READONLY=1`: there this block device answers
// -EROFS to every program, erase and sync before reaching the hal, so that build does not even
// import flash_prog, flash_erase or flash_sync (tests/host/core-imports.test pins it).
// @ts-ignore: FS_READONLY is defined only by that build
export const FS_WRITABLE: bool = !isDefined(FS_READONLY);

export const BLOCK_NULL: u32 = 0xffffffff;
/** A cache whose block is BLOCK_INLINE holds an inline file's bytes, not flash data. */
export const BLOCK_INLINE: u32 = 0xfffffffe;

export { Cache };

/**
 * Bumped by everything that can change what a read returns (a program into a cache, an erase, a
 * dropped program cache): a result computed from flash at an unchanged generation still holds.
 */
export let bdGeneration: u32 = 0;
export function bdTouch(): void { bdGeneration++; }

export function cacheDrop(c: Cache): void { c.block = BLOCK_NULL; c.size = 0; c.off = 0; }
export function cacheZero(m: Mount, c: Cache): void {
  bdGeneration++;
  if (c.buf != 0) memory.fill(c.buf, 0xff, m.cacheSize);
  c.block = BLOCK_NULL; c.size = 0; c.off = 0;
}

function hostErr(err: i32): i32 {
  // A bad block answers -EIO on program/erase: littlefs treats that as a corrupt block and
  // relocates; any other failure goes up as is.
  if (err == -EIO) return -ECORRUPT;
  return err < 0 ? err : -EIO;
}

/**
 * Reads `len` bytes at (block, off) into `dst`, seeing `pc` (a program cache with data not yet
 * on flash, or null) first, then the program cache, then the read cache.
 *
 * What a miss fetches is what the caller says it will read: `hintBytes` (at least `len`; 0
 * means just `len`) from `off`, rounded out to read_size and capped at one cache line. A scan
 * that walks a log backwards passes no hint: it reads only the read_size units holding tags,
 * and the tag before one in the same unit is still in the cache. A miss of at least cache_size bytes
 * at a read_size boundary goes straight into `dst`: a cache line could not hold it, and keeping
 * the read cache as it was costs nothing.
 */
export function bdRead(m: Mount, pc: Cache | null, block: u32, off: u32, dst: usize, len: u32, hintBytes: u32 = 0): i32 {
  if (block >= m.blockCount || off > m.blockSize || len > m.blockSize - off) return -ECORRUPT;
  // The end of what the caller expects to read, inside the block.
  const hintEnd = off + min(max(len, hintBytes), m.blockSize - off);
  while (len > 0) {
    let diff = len;
    if (pc != null && pc.block == block && off < pc.off + pc.size) {
      if (off >= pc.off) {
        diff = min(diff, pc.size - (off - pc.off));
        memory.copy(dst, pc.buf + (off - pc.off), diff);
        dst += diff; off += diff; len -= diff;
        continue;
      }
      diff = min(diff, pc.off - off);
    }
    if (m.pcache.block == block && off < m.pcache.off + m.pcache.size && changetype<usize>(pc) != changetype<usize>(m.pcache)) {
      if (off >= m.pcache.off) {
        diff = min(diff, m.pcache.size - (off - m.pcache.off));
        memory.copy(dst, m.pcache.buf + (off - m.pcache.off), diff);
        dst += diff; off += diff; len -= diff;
        continue;
      }
      diff = min(diff, m.pcache.off - off);
    }
    if (m.rcache.block == block && off < m.rcache.off + m.rcache.size) {
      if (off >= m.rcache.off) {
        diff = min(diff, m.rcache.size - (off - m.rcache.off));
        memory.copy(dst, m.rcache.buf + (off - m.rcache.off), diff);
        dst += diff; off += diff; len -= diff;
        continue;
      }
      diff = min(diff, m.rcache.off - off);
    }
    if (diff >= m.cacheSize && off % m.readSize == 0) {
      // diff >= cache_size >= read_size, so at least one read unit; the tail (less than a
      // unit) goes through the cache on the next turn.
      const direct = diff - diff % m.readSize;
      const err = flash_read(hwBlock(m, block), hwOff(m, block, off), dst, direct);
      if (err != 0) return hostErr(err);
      dst += direct; off += direct; len -= direct;
      continue;
    }
    // Load a line holding `off`. Like a program cache line it never crosses a cache_size
    // boundary (cache_size is a multiple of read_size and divides block_size): a copy that
    // interleaves reads with program read-backs then reloads no byte twice.
    const lineOff = off - off % m.readSize;
    const lineEnd = min(alignUpTo(hintEnd, m.readSize), off - off % m.cacheSize + m.cacheSize);
    m.rcache.block = block;
    m.rcache.off = lineOff;
    m.rcache.size = lineEnd - lineOff;
    const err = flash_read(hwBlock(m, block), hwOff(m, block, m.rcache.off), m.rcache.buf, m.rcache.size);
    if (err != 0) { cacheDrop(m.rcache); return hostErr(err); }
  }
  return 0;
}

// A mount whose fs blocks are smaller than the flash's (flashShift > 0: a package's 512-byte
// blocks, read in place) reads fs block b at flash block base + (b >> shift), at byte
// (b mod 2^shift) * block size of it; an fs block never crosses a flash block (both powers of two).
@inline function hwBlock(m: Mount, block: u32): u32 { return m.baseBlock + (block >> m.flashShift); }
@inline function hwOff(m: Mount, block: u32, off: u32): u32 { return (block & ((<u32>1 << m.flashShift) - 1)) * m.blockSize + off; }

@inline function alignUpTo(v: u32, a: u32): u32 { return v + (a - v % a) % a; }

/** Static bytes of this file: cmpBuf (each mount's cache records are in its record, fs/mount). */
export const BD_STATIC_BYTES: u32 = 64;

// Results of bdCmp (errors are negative).
export const CMP_EQUAL: i32 = 0;
export const CMP_FLASH_BEFORE: i32 = 1; // the bytes on flash sort before those in memory
export const CMP_FLASH_AFTER: i32 = 2;

/** Compares `len` bytes on flash with memory, like memcmp: a CMP_* result or -errno. */
const cmpBuf: usize = memory.data(64, 4);
export function bdCmp(m: Mount, block: u32, off: u32, src: usize, len: u32): i32 {
  let done: u32 = 0;
  while (done < len) {
    const n = min<u32>(64, len - done);
    const err = bdRead(m, null, block, off + done, cmpBuf, n, len - done);
    if (err < 0) return err;
    for (let i: u32 = 0; i < n; i++) {
      const a = load<u8>(cmpBuf + i), b = load<u8>(src + done + i);
      if (a != b) return a < b ? CMP_FLASH_BEFORE : CMP_FLASH_AFTER;
    }
    done += n;
  }
  return CMP_EQUAL;
}

import { crc32 } from "./crc";
/**
 * CRC of `len` bytes on flash, continuing `crc`: the CRC (0..2^32-1) or -errno. `hintBytes` as
 * for bdRead (a log parse passes the rest of the block: it reads on past this tag).
 */
export function bdCrc(m: Mount, block: u32, off: u32, len: u32, crc: u32, hintBytes: u32 = 0): i64 {
  let done: u32 = 0;
  while (done < len) {
    const n = min<u32>(64, len - done);
    const err = bdRead(m, null, block, off + done, cmpBuf, n, max(len, hintBytes) - done);
    if (err < 0) return err;
    crc = crc32(crc, cmpBuf, n);
    done += n;
  }
  return <i64>crc;
}

/** Writes a program cache out to flash (padded to prog_size) and verifies it by reading back. */
export function bdFlush(m: Mount, pc: Cache): i32 {
  if (!FS_WRITABLE || m.readOnly) return -EROFS;
  if (pc.block == BLOCK_NULL || pc.block == BLOCK_INLINE) return 0;
  if (pc.block >= m.blockCount) return -ECORRUPT;
  const diff = min<u32>(((pc.size + m.progSize - 1) / m.progSize) * m.progSize, m.blockSize - pc.off);
  let err = flash_prog(m.baseBlock + pc.block, pc.off, pc.buf, diff);
  if (err != 0) { cacheZero(m, pc); return hostErr(err); }
  // The read cache may hold the pre-program bytes of this line: read back through it.
  if (m.rcache.block == pc.block) cacheDrop(m.rcache);
  m.rcache.block = pc.block;
  m.rcache.off = pc.off;
  m.rcache.size = diff;
  err = flash_read(m.baseBlock + pc.block, pc.off, m.rcache.buf, diff);
  if (err != 0) { cacheDrop(m.rcache); cacheZero(m, pc); return hostErr(err); }
  const bad = memory.compare(m.rcache.buf, pc.buf, diff) != 0;
  cacheZero(m, pc);
  return bad ? -ECORRUPT : 0;
}

/** Programs `len` bytes at (block, off) through program cache `pc`. */
export function bdProg(m: Mount, pc: Cache, block: u32, off: u32, src: usize, len: u32): i32 {
  if (block >= m.blockCount || off > m.blockSize || len > m.blockSize - off) return -ECORRUPT;
  bdGeneration++;
  while (len > 0) {
    if (pc.block == block && off >= pc.off && off < pc.off + m.cacheSize) {
      const diff = min(len, m.cacheSize - (off - pc.off));
      memory.copy(pc.buf + (off - pc.off), src, diff);
      src += diff; off += diff; len -= diff;
      if (off - pc.off > pc.size) pc.size = off - pc.off;
      if (pc.size == m.cacheSize) {
        const err = bdFlush(m, pc);
        if (err < 0) return err;
      }
      continue;
    }
    if (pc.block != BLOCK_NULL) {
      const err = bdFlush(m, pc);
      if (err < 0) return err;
    }
    pc.block = block;
    pc.off = off - off % m.progSize;
    pc.size = off - pc.off;
  }
  return 0;
}

export function bdErase(m: Mount, block: u32): i32 {
  if (!FS_WRITABLE || m.readOnly) return -EROFS;
  if (block >= m.blockCount) return -ECORRUPT;
  if (m.rcache.block == block) cacheDrop(m.rcache);
  bdGeneration++;
  const err = flash_erase(m.baseBlock + block);
  return err != 0 ? hostErr(err) : 0;
}

export function bdSync(m: Mount, pc: Cache): i32 {
  if (!FS_WRITABLE || m.readOnly) return -EROFS;
  const err = bdFlush(m, pc);
  if (err < 0) return err;
  const e2 = flash_sync();
  return e2 != 0 ? hostErr(e2) : 0;
}

export function bdValidGeometry(m: Mount): bool {
  if (m.blockSize < 128 || m.readSize == 0 || m.progSize == 0 || m.cacheSize == 0) return false;
  if (m.cacheSize % m.readSize != 0 || m.cacheSize % m.progSize != 0 || m.blockSize % m.cacheSize != 0) return false;
  return true;
}

export { EINVAL };
