// fs/mount: one littlefs mount as an instance (littlefs's lfs_t is the model), and the mount table.
//
// A Mount holds everything that belongs to one file system: its partition of the hal flash (a
// base block and a block count, so several littlefs images live on one flash), its configuration
// and geometry, its caches, lookahead, global state, open files and open directories. Every
// function of fs/bd and fs/lfs that reads or changes file-system state takes the Mount it works
// on as its first argument; nothing there keeps a mount's state in a module-level variable.
// What stays module-level in those files is scratch that lives only during one call (the commit
// writer, the attribute list, the scratch metadata pairs, small I/O buffers): the core is
// single-threaded and an fs call runs to its end on one mount before the next starts (flash
// calls are synchronous), so one copy serves every mount.
// Invariants: slot 0 is the host's mount (the data partition), always present, its record static;
// slots 1..MAX_MOUNTS-1 hold a record from kalloc while mounted, 0 when free. A mount's flash
// accesses stay inside [baseBlock, baseBlock + partition blocks) (fs/bd checks every block against
// the mount's block count, which never exceeds the partition).
// Budget: MOUNT_RECORD_BYTES (1,312 B) per mount: slot 0's is static, the others' come from kalloc
// at mount and go back at unmount; plus MOUNT_SLOTS * 4 B of table. The caches (read cache; a
// read-write mount also a program cache and the lookahead) and one cache per open file are kalloc'd
// as before (fs/lfs). MAX_MOUNTS (abi.ts) = 1 data partition + one read-only mount per app
// package (MAX_APPS): at most 65 * 1,312 B = 83 KiB of records when every app's package is mounted.
// Must not: hand out a slot twice, or free slot 0's record.

import { kalloc, kfree } from "../kmem";
import { MAX_MOUNTS } from "../abi";

/** A cache line: {block, off, size, buf}, 16 bytes. */
@unmanaged export class Cache {
  block: u32;
  off: u32;
  size: u32;
  buf: usize;
}

export const FILE_MAX_OPEN: i32 = 8;
export const DIR_MAX_OPEN: i32 = 8;
/** Who owns a mount that no app owns: the system (the data partition). */
export const OWNER_SYSTEM: i32 = -1;

@unmanaged export class Mount {
  // ---- the mount table's view
  slot: u32;
  baseBlock: u32;      // first flash block of the partition
  partBlocks: u32;     // blocks of the partition; 0: the rest of the flash (the host mount)
  owner: i32;          // an app slot, or OWNER_SYSTEM
  readOnly: bool;      // no write-side buffers; every write is -EROFS
  flashShift: u32;     // log2(flash block / fs block): a package's 512-byte blocks inside 4,096-byte erase blocks (read-only mounts only)
  configured: bool;
  mounted: bool;
  needSuperblockRewrite: bool;
  // ---- configuration (fs_config)
  cfgBlockSize: u32;
  cfgBlockCount: u32;
  cfgReadSize: u32;
  cfgProgSize: u32;
  cfgCacheSize: u32;
  cfgLookaheadBytes: u32;
  cfgBlockCycles: i32;
  cfgNameMax: u32;
  cfgInlineMax: u32;
  // ---- geometry the block device works with (block count from the superblock once mounted)
  blockSize: u32;
  blockCount: u32;
  readSize: u32;
  progSize: u32;
  cacheSize: u32;
  rcache: Cache;       // in this record
  pcache: Cache;       // in this record; its buffer 0 on a read-only mount
  // ---- mounted state
  nameMax: u32;
  fileMax: u32;
  attrMax: u32;
  inlineMax: u32;
  diskVersion: u32;
  root0: u32;
  root1: u32;
  ramBytes: u32;       // heap bytes this mount holds (caches, lookahead, open files' caches)
  lookaheadBuf: usize;
  laStart: u32;
  laSize: u32;
  laNext: u32;
  laCkpoint: u32;
  seed: u32;
  // Global state: gs* is what RAM wants, gd* what the disk holds (XOR of every pair's delta),
  // gx* deltas of dropped pairs still to be written somewhere.
  gsTag: u32; gsP0: u32; gsP1: u32;
  gdTag: u32; gdP0: u32; gdP1: u32;
  gxTag: u32; gxP0: u32; gxP1: u32;
  orphans: i32;
  // ---- tables in this record
  files: usize;        // FILE_MAX_OPEN open files (fs/lfs LFile, FILE_RECORD_BYTES each)
  fileCaches: usize;   // their Cache records
  dirUsed: usize;      // DIR_MAX_OPEN u32 flags
  dirId: usize;        // DIR_MAX_OPEN u32 positions
  dirMds: usize;       // DIR_MAX_OPEN metadata pairs (fs/lfs MDir, MDIR_RECORD_BYTES each)
}

const MOUNT_STATE_BYTES: u32 = 256;
const FILE_RECORD_BYTES: u32 = 64;
const MDIR_RECORD_BYTES: u32 = 40;
/** One mount's record: its state, two cache records, its open-file and open-directory tables. */
export const MOUNT_RECORD_BYTES: u32 = MOUNT_STATE_BYTES + 2 * 16 + FILE_MAX_OPEN * FILE_RECORD_BYTES + FILE_MAX_OPEN * 16 + DIR_MAX_OPEN * 8 + DIR_MAX_OPEN * MDIR_RECORD_BYTES;
const MOUNT_SLOTS: i32 = 65;

const hostRecord: usize = memory.data(<i32>MOUNT_RECORD_BYTES, 16);
export const MOUNT_TABLE_BYTES: u32 = <u32>MOUNT_SLOTS * 4;
const mountTable: usize = memory.data(MOUNT_SLOTS * 4, 4);

/** Lays out a zeroed record at `p` for slot `slot`. */
function initRecord(p: usize, slot: u32): Mount {
  if (offsetof<Mount>() > <usize>MOUNT_STATE_BYTES) ERROR("Mount outgrew MOUNT_STATE_BYTES");
  if (MOUNT_SLOTS != MAX_MOUNTS) ERROR("MOUNT_SLOTS must equal MAX_MOUNTS");
  memory.fill(p, 0, MOUNT_RECORD_BYTES);
  const m = changetype<Mount>(p);
  let at = p + MOUNT_STATE_BYTES;
  m.rcache = changetype<Cache>(at); at += 16;
  m.pcache = changetype<Cache>(at); at += 16;
  m.files = at; at += <usize>FILE_MAX_OPEN * FILE_RECORD_BYTES;
  m.fileCaches = at; at += <usize>FILE_MAX_OPEN * 16;
  m.dirUsed = at; at += <usize>DIR_MAX_OPEN * 4;
  m.dirId = at; at += <usize>DIR_MAX_OPEN * 4;
  m.dirMds = at;
  m.slot = slot;
  m.owner = OWNER_SYSTEM;
  m.cfgBlockCycles = -1;
  m.rcache.block = 0xffffffff;
  m.pcache.block = 0xffffffff;
  return m;
}

let hostReady = false;
/** The host's mount (slot 0), always there. */
export function hostMount(): Mount {
  if (!hostReady) {
    initRecord(hostRecord, 0);
    store<usize>(mountTable, hostRecord);
    hostReady = true;
  }
  return changetype<Mount>(hostRecord);
}

/** The mount in `slot`, or null when the slot is out of range or free. */
export function mountAt(slot: i32): Mount | null {
  if (slot == 0) return hostMount();
  if (slot < 0 || slot >= MOUNT_SLOTS) return null;
  const p = load<usize>(mountTable + (<usize>slot << 2));
  return p == 0 ? null : changetype<Mount>(p);
}

/** A fresh record in a free slot (1..), or null when the table is full or the heap is. */
export function mountNew(): Mount | null {
  hostMount();
  for (let i = 1; i < MOUNT_SLOTS; i++) {
    const e = mountTable + (<usize>i << 2);
    if (load<usize>(e) != 0) continue;
    const p = kalloc(MOUNT_RECORD_BYTES);
    if (p == 0) return null;
    store<usize>(e, p);
    return initRecord(p, <u32>i);
  }
  return null;
}

/** Gives back slot `m` (never slot 0). The mount must be unmounted. */
export function mountRelease(m: Mount): void {
  if (m.slot == 0 || m.slot >= <u32>MOUNT_SLOTS) return;
  store<usize>(mountTable + (<usize>m.slot << 2), 0);
  kfree(changetype<usize>(m));
}

/** Slots in use, the host's included. */
export function mountsInUse(): i32 {
  hostMount();
  let n = 0;
  for (let i = 0; i < MOUNT_SLOTS; i++) if (load<usize>(mountTable + (<usize>i << 2)) != 0) n++;
  return n;
}

/** Flash blocks the mount spans from its base block (its fs blocks, rounded up to whole flash blocks). */
export function mountFlashBlocks(m: Mount): u32 {
  const n = m.mounted ? m.blockCount : m.partBlocks;
  return (n + (<u32>1 << m.flashShift) - 1) >> m.flashShift;
}

/** The heap bytes of a mount's record: 0 for the host's, whose record is static. */
export function mountRecordHeapBytes(m: Mount): u32 { return m.slot == 0 ? 0 : MOUNT_RECORD_BYTES; }
