// fs/exports: the core's file-system exports, wit/wasphere.wit's `fs` interface lowered by the
// canonical ABI (ABI.md, "File-system exports"); the build names them
// `wasphere:core/fs@0.1.0#fs-...` (tools/wit-exports.mjs).
//
// Paths and data come in as lists the host lowered into the cabi arena (assembly/cabi.ts); each
// export taking one checks it lies there and resets the arena on return. Data going out (file
// reads, attribute values and types, a directory entry's name) is written to `fsOut`, which only
// the core writes, and returned as a list pointing there, valid until the next call; records and
// result tags go into the export return area.
// They work on the selected mount: the host mount (slot 0, the data partition) unless fs_select
// chose one that fs_mount_at made (fs/mount's table).
// Invariants: every list is checked against the arena and FS_IO_CHUNK_BYTES before use; the
// selected mount is always in the table (fs_unmount of another mount selects slot 0 again).
// Budget: FS_IO_CHUNK_BYTES of `fsOut`: the longest attribute value (attr_max 1,022 B) or a
// file read chunk of the host's (FS_IO_CHUNK_BYTES); everything else is in fs/lfs and fs/mount.
// Must not: trap on any argument.

import { EINVAL, EROFS, EBADF, FS_IO_CHUNK_BYTES } from "../abi";
import { FS_WRITABLE } from "./bd";
import { exportRet, retList, retErr, retOk, arenaHolds, arenaReset } from "../cabi";
import {
  fsConfig, fsMount, fsStat, fsInfo, fsGetattr, fsListattrs, fsDirOpen,
  fsDirRead, fsDirClose, fsOpen, fileClose, fileRead, fileSeek, fileTell, fileSize, fsTraverse,
  fsSizeBlocks, fsFormat, fsOpenWrite, fileWrite, fileTruncate, fileSync, fsMkdir, fsRemove, fsRename,
  fsSetattr, fsGc, fsMkconsistent, fsStaticBytes, fsCheck, fsCheckDetail, fsMountAt, fsRelease,
  fsMountRamBytes, fsHeapBytes, fsMountInfo,
} from "./lfs";
import { Mount, mountAt, hostMount } from "./mount";

const FS_OUT_BYTES: u32 = <u32>FS_IO_CHUNK_BYTES;
const fsOut: usize = memory.data(<i32>FS_OUT_BYTES, 16);

// The mount the fs_* exports work on: the host mount (slot 0) unless fs_select chose another.
let selectedSlot: i32 = 0;
function cur(): Mount {
  const m = mountAt(selectedSlot);
  return m != null ? m : hostMount();
}

/** A list the host passed: in the arena and at most FS_IO_CHUNK_BYTES. */
function listOk(ptr: usize, len: i32): bool { return len >= 0 && <u32>len <= FS_OUT_BYTES && arenaHolds(ptr, len); }
/** The arena is empty again on every return of an export that took a list. */
function done<T>(r: T): T { arenaReset(); return r; }

export function fs_config(blockSize: i32, blockCount: i32, readSize: i32, progSize: i32, cacheSize: i32,
  lookaheadSize: i32, blockCycles: i32, nameMax: i32, inlineMax: i32): i32 {
  if (blockSize <= 0 || blockCount < 0 || readSize <= 0 || progSize <= 0 || cacheSize <= 0 ||
    lookaheadSize <= 0 || nameMax < 0 || inlineMax < 0) return -EINVAL;
  return fsConfig(cur(), <u32>blockSize, <u32>blockCount, <u32>readSize, <u32>progSize, <u32>cacheSize,
    <u32>lookaheadSize, blockCycles, <u32>nameMax, <u32>inlineMax);
}

export function fs_format(): i32 { return fsFormat(cur()); }
export function fs_mount(): i32 { return fsMount(cur()); }
export function fs_unmount(): i32 {
  // A mount fs_mount_at made leaves the table; the host's stays, unmounted.
  const r = fsRelease(cur());
  if (r == 0) selectedSlot = 0;
  return r;
}

// ---- several mounts (ABI.md, "File-system exports": fs_mount_at .. fs_mount_info)

/** Mounts the image in flash blocks [baseBlock, baseBlock + blockCount) with the host mount's
 *  configuration (fs_config): its mount id (1..MAX_MOUNTS-1) or -errno. owner: an app slot, -1
 *  for the system. */
export function fs_mount_at(baseBlock: i32, blockCount: i32, readOnly: i32, owner: i32): i32 {
  if (baseBlock < 0 || blockCount < 0 || (readOnly != 0 && readOnly != 1)) return -EINVAL;
  // The fs-readonly core mounts nothing writable.
  return fsMountAt(hostMount(), <u32>baseBlock, <u32>blockCount, readOnly != 0 || !FS_WRITABLE, owner);
}
/** Makes the fs_* exports work on `mount` (0: the host mount) until the next fs_select. */
export function fs_select(mount: i32): i32 {
  if (mountAt(mount) == null) return -EBADF;
  selectedSlot = mount;
  return 0;
}
/** The RAM `mount` holds: its record, caches, lookahead and open files' caches. */
export function fs_mount_ram_bytes(mount: i32): i32 {
  const m = mountAt(mount);
  return m == null ? -EBADF : <i32>fsMountRamBytes(changetype<Mount>(m));
}
/** result<mount-info, s32>: the mount as the table holds it, five u32 @4: base block, blocks,
 *  flags (bit 0 read-only, bit 1 mounted), owner (-1 system), RAM bytes; err -EBADF. */
export function fs_mount_info(mount: i32): usize {
  const m = mountAt(mount);
  if (m == null) return retErr(-EBADF);
  fsMountInfo(changetype<Mount>(m), exportRet + 4);
  return retOk();
}

// littlefs's LFS_O_RDONLY, the only open the fs-readonly core accepts.
const O_RDONLY: i32 = 1;

export function fs_open(pathPtr: usize, pathLen: i32, flags: i32): i32 {
  if (!listOk(pathPtr, pathLen)) return done(-EINVAL);
  // Any other flag could create, truncate or change a file.
  if (!FS_WRITABLE) return done(flags == O_RDONLY ? fsOpen(cur(), pathPtr, <u32>pathLen, <u32>flags) : -EROFS);
  return done(fsOpenWrite(cur(), pathPtr, <u32>pathLen, <u32>flags));
}
/** result<list<u8>, s32>: the bytes read (empty at end of file), in fsOut. */
export function fs_read(fd: i32, len: i32): usize {
  if (len < 0 || <u32>len > FS_OUT_BYTES) return retErr(-EINVAL);
  const n = fileRead(cur(), fd, fsOut, <u32>len);
  return n < 0 ? retErr(n) : retList(fsOut, n);
}
export function fs_write(fd: i32, dataPtr: usize, dataLen: i32): i32 {
  if (!listOk(dataPtr, dataLen)) return done(-EINVAL);
  return done(fileWrite(cur(), fd, dataPtr, <u32>dataLen));
}
export function fs_seek(fd: i32, off: i32, whence: i32): i32 { return fileSeek(cur(), fd, off, whence); }
export function fs_tell(fd: i32): i32 { return fileTell(cur(), fd); }
export function fs_file_size(fd: i32): i32 { return fileSize(cur(), fd); }
export function fs_truncate(fd: i32, size: i32): i32 {
  if (size < 0) return -EINVAL;
  return fileTruncate(cur(), fd, <u32>size);
}
export function fs_sync(fd: i32): i32 { return fileSync(cur(), fd); }
export function fs_close(fd: i32): i32 { return fileClose(cur(), fd); }
export function fs_mkdir(pathPtr: usize, pathLen: i32): i32 {
  if (!listOk(pathPtr, pathLen)) return done(-EINVAL);
  return done(fsMkdir(cur(), pathPtr, <u32>pathLen));
}
export function fs_remove(pathPtr: usize, pathLen: i32): i32 {
  if (!listOk(pathPtr, pathLen)) return done(-EINVAL);
  return done(fsRemove(cur(), pathPtr, <u32>pathLen));
}
export function fs_rename(oldPtr: usize, oldLen: i32, newPtr: usize, newLen: i32): i32 {
  if (!listOk(oldPtr, oldLen) || !listOk(newPtr, newLen)) return done(-EINVAL);
  return done(fsRename(cur(), oldPtr, <u32>oldLen, newPtr, <u32>newLen));
}

/** result<stat, s32>: stat { kind: u8 @4, size: u32 @8 }. */
export function fs_stat(pathPtr: usize, pathLen: i32): usize {
  if (!listOk(pathPtr, pathLen)) return done(retErr(-EINVAL));
  const r = fsStat(cur(), pathPtr, <u32>pathLen, exportRet + 8);
  if (r < 0) return done(retErr(r));
  store<u8>(exportRet, <u8>r, 4);
  return done(retOk());
}

export function fs_dir_open(pathPtr: usize, pathLen: i32): i32 {
  if (!listOk(pathPtr, pathLen)) return done(-EINVAL);
  return done(fsDirOpen(cur(), pathPtr, <u32>pathLen));
}
/** result<option<dir-entry>, s32>: option tag @4; dir-entry { kind u8 @8, size u32 @12,
 *  name (ptr @16, len @20) }, the name in fsOut. */
export function fs_dir_read(dirfd: i32): usize {
  const r = fsDirRead(cur(), dirfd, fsOut, FS_OUT_BYTES);
  if (r < 0) return retErr(r);
  if (r == 0) { store<u8>(exportRet, 0, 4); return retOk(); }
  // fsDirRead's entry: u8 type, u32 size, u32 name length, the name.
  store<u8>(exportRet, 1, 4);
  store<u8>(exportRet, load<u8>(fsOut), 8);
  store<u32>(exportRet, load<u32>(fsOut, 1), 12);
  store<u32>(exportRet, <u32>(fsOut + 9), 16);
  store<u32>(exportRet, load<u32>(fsOut, 5), 20);
  return retOk();
}
export function fs_dir_close(dirfd: i32): i32 { return fsDirClose(cur(), dirfd); }

/** result<list<u8>, s32>: the attribute's value, in fsOut; err -ENODATA when absent. */
export function fs_getattr(pathPtr: usize, pathLen: i32, type: i32): usize {
  if (!listOk(pathPtr, pathLen) || type < 0 || type > 255) return done(retErr(-EINVAL));
  const n = fsGetattr(cur(), pathPtr, <u32>pathLen, <u32>type, fsOut, FS_OUT_BYTES);
  if (n < 0) return done(retErr(n));
  return done(retList(fsOut, <u32>n < FS_OUT_BYTES ? n : <i32>FS_OUT_BYTES));
}
/** result<list<u8>, s32>: the user-attribute types the entry holds, one byte each, ascending. */
export function fs_listattrs(pathPtr: usize, pathLen: i32): usize {
  if (!listOk(pathPtr, pathLen)) return done(retErr(-EINVAL));
  const n = fsListattrs(cur(), pathPtr, <u32>pathLen, fsOut, FS_OUT_BYTES);
  return done(n < 0 ? retErr(n) : retList(fsOut, n));
}
export function fs_setattr(pathPtr: usize, pathLen: i32, type: i32, valuePtr: usize, valueLen: i32): i32 {
  if (!listOk(pathPtr, pathLen) || !listOk(valuePtr, valueLen)) return done(-EINVAL);
  if (type < 0 || type > 255) return done(-EINVAL);
  return done(fsSetattr(cur(), pathPtr, <u32>pathLen, <u32>type, valuePtr, <u32>valueLen, false));
}
export function fs_removeattr(pathPtr: usize, pathLen: i32, type: i32): i32 {
  if (!listOk(pathPtr, pathLen) || type < 0 || type > 255) return done(-EINVAL);
  return done(fsSetattr(cur(), pathPtr, <u32>pathLen, <u32>type, fsOut, 0, true));
}

/** result<fs-info, s32>: six u32 (disk version, block size and count, name, file and attr max) @4. */
export function fs_fsinfo(): usize {
  const r = fsInfo(cur(), exportRet + 4);
  return r < 0 ? retErr(r) : retOk();
}
export function fs_size_blocks(): i32 { return fsSizeBlocks(cur()); }
export function fs_traverse(): i32 { return fsTraverse(cur()); }
export function fs_gc(): i32 { return fsGc(cur()); }
export function fs_mkconsistent(): i32 { return fsMkconsistent(cur()); }
/** All the RAM the file system holds: its static data (fsOut and the host mount's record
 *  included) and the heap of every mount. */
export function fs_ram_bytes(): i32 { return <i32>(fsStaticBytes() + FS_OUT_BYTES + fsHeapBytes()); }
/** The static part of fs_ram_bytes, which does not depend on the configuration. */
export function fs_ram_static_bytes(): i32 { return <i32>(fsStaticBytes() + FS_OUT_BYTES); }
/** Structural check (flags bit 0: allow a power-cut image's pending move and orphans):
 *  result<fs-fault, s32>: the fault code @4 (0 when sound) and its four u32 detail words @8. */
export function fs_check(flags: i32): usize {
  const r = fsCheck(cur(), (flags & 1) != 0);
  if (r < 0) return retErr(r);
  store<u32>(exportRet, <u32>r, 4);
  if (r > 0) memory.copy(exportRet + 8, fsCheckDetail(), 16);
  else memory.fill(exportRet + 8, 0, 16);
  return retOk();
}
