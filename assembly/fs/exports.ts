// fs/exports: the core's fs_* exports (ABI.md, "File-system exports").
//
// Strings and buffers cross through the file system's own I/O buffer (fs_io_buffer,
// FS_IO_BUFFER_BYTES): the host writes a path (or two, back to back) at its start and passes
// lengths; results are written at its start.
// They work on the selected mount: the host mount (slot 0, the data partition) unless fs_select
// chose one that fs_mount_at made (fs/mount's table).
// Invariants: every length from the host is checked against the buffer before use; the selected
// mount is always in the table (fs_unmount of another mount selects slot 0 again).
// Budget: the 2 KiB I/O buffer: room for the longest attribute value (attr_max 1,022 B) with a
// path of up to 1 KiB, or two paths of a rename; the host moves file data through it in 2 KiB
// chunks. Everything else is in fs/lfs.
// Must not: trap on any argument.

import { EINVAL, EROFS, EBADF } from "../abi";
import { FS_WRITABLE } from "./bd";
import {
  fsConfig, fsMount, fsStat, fsInfo, fsGetattr, fsListattrs, fsDirOpen,
  fsDirRead, fsDirClose, fsOpen, fileClose, fileRead, fileSeek, fileTell, fileSize, fsTraverse,
  fsSizeBlocks, fsFormat, fsOpenWrite, fileWrite, fileTruncate, fileSync, fsMkdir, fsRemove, fsRename,
  fsSetattr, fsGc, fsMkconsistent, fsStaticBytes, fsCheck, fsCheckDetail, fsMountAt, fsRelease,
  fsMountRamBytes, fsHeapBytes, fsMountInfo,
} from "./lfs";
import { Mount, mountAt, hostMount } from "./mount";

const FS_IO_BUFFER_BYTES: u32 = 2048;
const ioBuf: usize = memory.data(<i32>FS_IO_BUFFER_BYTES, 16);

export function fs_io_buffer(): i32 { return <i32>ioBuf; }
export function fs_io_buffer_bytes(): i32 { return <i32>FS_IO_BUFFER_BYTES; }

// The mount the fs_* exports work on: the host mount (slot 0) unless fs_select chose another.
let selectedSlot: i32 = 0;
function cur(): Mount {
  const m = mountAt(selectedSlot);
  return m != null ? m : hostMount();
}

function lenOk(len: i32): bool { return len >= 0 && <u32>len <= FS_IO_BUFFER_BYTES; }

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
/** Mount `mount` as the table holds it, five u32 at the buffer's start: base block, blocks,
 *  flags (bit 0 read-only, bit 1 mounted), owner (-1 system), RAM bytes. Returns 20 or -EBADF. */
export function fs_mount_info(mount: i32): i32 {
  const m = mountAt(mount);
  return m == null ? -EBADF : fsMountInfo(changetype<Mount>(m), ioBuf);
}

// littlefs's LFS_O_RDONLY, the only open the fs-readonly core accepts.
const O_RDONLY: i32 = 1;

export function fs_open(pathLen: i32, flags: i32): i32 {
  if (!lenOk(pathLen)) return -EINVAL;
  // Any other flag could create, truncate or change a file.
  if (!FS_WRITABLE) return flags == O_RDONLY ? fsOpen(cur(), ioBuf, <u32>pathLen, <u32>flags) : -EROFS;
  return fsOpenWrite(cur(), ioBuf, <u32>pathLen, <u32>flags);
}
export function fs_read(fd: i32, len: i32): i32 {
  if (!lenOk(len)) return -EINVAL;
  return fileRead(cur(), fd, ioBuf, <u32>len);
}
export function fs_write(fd: i32, len: i32): i32 {
  if (!lenOk(len)) return -EINVAL;
  return fileWrite(cur(), fd, ioBuf, <u32>len);
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
export function fs_mkdir(pathLen: i32): i32 {
  if (!lenOk(pathLen)) return -EINVAL;
  return fsMkdir(cur(), ioBuf, <u32>pathLen);
}
export function fs_remove(pathLen: i32): i32 {
  if (!lenOk(pathLen)) return -EINVAL;
  return fsRemove(cur(), ioBuf, <u32>pathLen);
}
export function fs_rename(oldLen: i32, newLen: i32): i32 {
  if (!lenOk(oldLen) || !lenOk(newLen) || <u32>oldLen + <u32>newLen > FS_IO_BUFFER_BYTES) return -EINVAL;
  return fsRename(cur(), ioBuf, <u32>oldLen, ioBuf + <usize>oldLen, <u32>newLen);
}

export function fs_stat(pathLen: i32): i32 {
  if (!lenOk(pathLen)) return -EINVAL;
  // The size goes where the path was, once the lookup is done with it.
  return fsStat(cur(), ioBuf, <u32>pathLen, ioBuf);
}

export function fs_dir_open(pathLen: i32): i32 {
  if (!lenOk(pathLen)) return -EINVAL;
  return fsDirOpen(cur(), ioBuf, <u32>pathLen);
}
export function fs_dir_read(dirfd: i32): i32 { return fsDirRead(cur(), dirfd, ioBuf, FS_IO_BUFFER_BYTES); }
export function fs_dir_close(dirfd: i32): i32 { return fsDirClose(cur(), dirfd); }

export function fs_getattr(pathLen: i32, type: i32): i32 {
  if (!lenOk(pathLen) || type < 0 || type > 255) return -EINVAL;
  return fsGetattr(cur(), ioBuf, <u32>pathLen, <u32>type, ioBuf, FS_IO_BUFFER_BYTES);
}
export function fs_listattrs(pathLen: i32): i32 {
  if (!lenOk(pathLen)) return -EINVAL;
  return fsListattrs(cur(), ioBuf, <u32>pathLen, ioBuf, FS_IO_BUFFER_BYTES);
}
export function fs_setattr(pathLen: i32, type: i32, valueLen: i32): i32 {
  if (!lenOk(pathLen) || !lenOk(valueLen) || <u32>pathLen + <u32>valueLen > FS_IO_BUFFER_BYTES) return -EINVAL;
  if (type < 0 || type > 255) return -EINVAL;
  return fsSetattr(cur(), ioBuf, <u32>pathLen, <u32>type, ioBuf + <usize>pathLen, <u32>valueLen, false);
}
export function fs_removeattr(pathLen: i32, type: i32): i32 {
  if (!lenOk(pathLen) || type < 0 || type > 255) return -EINVAL;
  return fsSetattr(cur(), ioBuf, <u32>pathLen, <u32>type, ioBuf, 0, true);
}

export function fs_fsinfo(): i32 { return fsInfo(cur(), ioBuf); }
export function fs_size_blocks(): i32 { return fsSizeBlocks(cur()); }
export function fs_traverse(): i32 { return fsTraverse(cur()); }
export function fs_gc(): i32 { return fsGc(cur()); }
export function fs_mkconsistent(): i32 { return fsMkconsistent(cur()); }
/** All the RAM the file system holds: its static data (I/O buffer and the host mount's record
 *  included) and the heap of every mount. */
export function fs_ram_bytes(): i32 { return <i32>(fsStaticBytes() + FS_IO_BUFFER_BYTES + fsHeapBytes()); }
/** The static part of fs_ram_bytes, which does not depend on the configuration. */
export function fs_ram_static_bytes(): i32 { return <i32>(fsStaticBytes() + FS_IO_BUFFER_BYTES); }
/** Structural check (flags bit 0: allow a power-cut image's pending move and orphans): a fault
 *  code, 0 when sound, or -errno; the fault's four u32 detail words at the buffer's start. */
export function fs_check(flags: i32): i32 {
  const r = fsCheck(cur(), (flags & 1) != 0);
  if (r > 0) memory.copy(ioBuf, fsCheckDetail(), 16);
  return r;
}
