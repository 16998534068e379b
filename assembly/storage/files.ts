// storage/files: an app's mutable files on the data partition, and its own package's files
// (ABI.md "Storage"; SPEC.md "Mutable storage").
//
// What it is: the storage syscalls over littlefs. An app granted MutableStorage has a directory
// of its own on the data partition, /s/<ComponentId> (its identity, never a name it chose), and
// a flat namespace of at most STORAGE_FILES_PER_APP files in it; it names files, never paths, so
// it cannot reach another app's directory. Package files are read from the app's own package
// mount only, by a relative path with no "." or ".." component. Every call opens the littlefs
// file, works and closes it: a write or truncate is committed (power-safe: old or new) when it
// returns, and no littlefs file stays open between calls, so an app holds no file-system slot.
// The quota (MutableStorage.SizeKB) is charged what the app's files cost on flash: a file kept
// inline in the directory's metadata costs its bytes, its name and STORAGE_INLINE_OVERHEAD_BYTES;
// a file in blocks costs its CTZ skip-list's blocks (whole blocks) plus the same name and tags.
// The directory's own metadata pair is the device's cost, like an inode table. A write or
// truncate whose result would cost more than the quota is refused (-EDQUOT) before anything is
// written, so the committed data stays as it was.
// Invariants: every path handed to littlefs is built here from the app's identity and a checked
// name; nothing an app passes is used before it is copied into core memory and checked.
// Budget: STORAGE_FILES_STATIC_BYTES static bytes (an I/O chunk, a path buffer, a dir-entry
// buffer); no heap.
// Must not: keep a littlefs file open across calls, trust an app byte, or write past a quota.
import {
  EINVAL, EFAULT, ENOENT, EEXIST, EBADF, ENODEV, EDQUOT, EISDIR, ENAMETOOLONG, EV_FAULT, EV_LIMIT, LIMIT_STORAGE_OPEN,
  STORAGE_OPEN_CREATE, STORAGE_OPEN_TRUNCATE, STORAGE_NAME_MAX_BYTES, STORAGE_PATH_MAX_BYTES, STORAGE_FILES_PER_APP,
  STORAGE_IO_MAX_BYTES, STORAGE_INLINE_OVERHEAD_BYTES, MAX_MOUNTS,
  SYS_STORAGE_OPEN, SYS_STORAGE_READ, SYS_STORAGE_WRITE, SYS_STORAGE_SEEK, SYS_STORAGE_TRUNCATE, SYS_STORAGE_DELETE,
  SYS_STORAGE_USAGE, SYS_PACKAGE_OPEN,
} from "../abi";
import { app_copy_in, app_copy_out, app_memory_bytes } from "../hal/index";
import { auditRecord } from "../audit/ring";
import { Mount, hostMount, mountAt } from "../fs/mount";
import {
  fsOpen, fsOpenWrite, fileRead, fileWrite, fileClose, fileSeek, fileSize, fileTruncate, fsRemove, fsMkdir,
  fsStat, fsDirOpen, fsDirRead, fsDirClose, fsFileLayout, ctzBlocksFor, fsInlineMax, fsBlockBytes,
  LAYOUT_INLINE, O_RDONLY, O_RDWR, O_CREAT,
} from "../fs/lfs";
import { handleAlloc, handleResolve, handleClose, handleIndexOf, handleObject } from "../handles/table";
import { HANDLE_STORAGE, HANDLE_PACKAGE_FILE, KIND_STORAGE, KIND_PACKAGE_FILE } from "../drivers/storage";
import { appAt } from "../appmgr/apps";
import { capsOf } from "../lsm/caps";
import { guidWrite, GUID_TEXT_BYTES } from "../util/guid";
import { OPEN_MUTABLE, OPEN_PACKAGE, storageOpenTake, storageOpenPos, storageOpenSetPos, storageOpenMount, storageOpenPath, storageOpenPathLen, storageOpenFree, storageAttachImpl } from "./open";

const ioBuf = memory.data(STORAGE_IO_MAX_BYTES, 8);
// "/s/" + GUID + "/" + name: 3 + 36 + 1 + 32 bytes; also a package path (64).
const PATH_BYTES: i32 = 128;
const pathBuf = memory.data(PATH_BYTES, 4);
const nameIn = memory.data(STORAGE_PATH_MAX_BYTES + 4, 4);
const dirEntry = memory.data(64, 4);
const sizeOut = memory.data(8, 4);
export const STORAGE_FILES_STATIC_BYTES: i32 = STORAGE_IO_MAX_BYTES + PATH_BYTES + STORAGE_PATH_MAX_BYTES + 4 + 64 + 8 + 4 + 2;
const rootPath = memory.data<u8>([0x2f, 0x73]); // "/s"
const DIR_PREFIX_BYTES: i32 = 3 + GUID_TEXT_BYTES; // "/s/<guid>"

let attached = false;

/** Attaches mutable storage to the data partition (the host mount), mounted read-write. */
export function storageAttachDataMount(): void {
  attached = true;
  storageAttachImpl(storageSyscall, storageUsedBytes);
}

// ---- paths

/** Writes "/s/<guid>" for (hi, lo) at pathBuf; its length. */
function dirPath(hi: u64, lo: u64): i32 {
  store<u8>(pathBuf, 0x2f); store<u8>(pathBuf, 0x73, 1); store<u8>(pathBuf, 0x2f, 2);
  guidWrite(pathBuf + 3, hi, lo);
  return DIR_PREFIX_BYTES;
}

/** Writes "/s/<guid>/<name>" (the name at nameIn); its length. */
function filePath(app: i32, nameLen: i32): i32 {
  const a = appAt(app);
  const n = dirPath(a.idHi, a.idLo);
  store<u8>(pathBuf + <usize>n, 0x2f);
  memory.copy(pathBuf + <usize>n + 1, nameIn, <usize>nameLen);
  return n + 1 + nameLen;
}

function nameByteOk(c: u32): bool {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2e || c == 0x5f || c == 0x2d;
}

/** A checked component at p of len bytes: [A-Za-z0-9._-], not "." or "..". */
function componentOk(p: usize, len: i32): bool {
  if (len <= 0) return false;
  if (len == 1 && load<u8>(p) == 0x2e) return false;
  if (len == 2 && load<u8>(p) == 0x2e && load<u8>(p + 1) == 0x2e) return false;
  for (let i = 0; i < len; i++) if (!nameByteOk(load<u8>(p + <usize>i))) return false;
  return true;
}

/** Copies `len` bytes of the app's at `ptr` into nameIn: 0, -EINVAL, -ENAMETOOLONG, -EFAULT (audited). */
function copyName(task: i32, app: i32, nr: i32, ptr: i32, len: i32, max: i32): i32 {
  if (len <= 0) return -EINVAL;
  if (len > max) return -ENAMETOOLONG;
  const rc = app_copy_in(task, ptr, len, nameIn);
  if (rc < 0) { auditRecord(EV_FAULT, task, app, nr, ptr, rc); return rc; }
  return 0;
}

/** A package path at nameIn: components split by "/", each componentOk; not absolute. */
function packagePathOk(len: i32): bool {
  let start = 0;
  for (let i = 0; i <= len; i++) {
    if (i == len || load<u8>(nameIn + <usize>i) == 0x2f) {
      if (!componentOk(nameIn + <usize>start, i - start)) return false;
      start = i + 1;
    }
  }
  return true;
}

// ---- cost

/** What a file of `size` bytes with a `nameLen`-byte name costs, kept inline or in blocks. */
function fileCost(m: Mount, inline: bool, size: u32, nameLen: i32): i64 {
  const meta = <i64>nameLen + <i64>STORAGE_INLINE_OVERHEAD_BYTES;
  if (inline) return meta + <i64>size;
  return meta + <i64>ctzBlocksFor(fsBlockBytes(m), size) * <i64>fsBlockBytes(m);
}

/**
 * The cost of app `app`'s files, the one named at nameIn (`skipLen` bytes; 0: none) left out; the
 * file count to countOut. -errno when the directory cannot be read; 0 with no directory.
 */
function dirCost(m: Mount, app: i32, skipLen: i32, countOut: usize): i64 {
  store<i32>(countOut, 0);
  const a = appAt(app);
  const dl = dirPath(a.idHi, a.idLo);
  const h = fsDirOpen(m, pathBuf, <u32>dl);
  if (h == -ENOENT) return 0;
  if (h < 0) return h;
  let total: i64 = 0, count = 0;
  while (true) {
    const r = fsDirRead(m, h, dirEntry, 64);
    if (r <= 0) { fsDirClose(m, h); if (r < 0) return r; break; }
    if (load<u8>(dirEntry) != 1) continue;
    const nl = <i32>load<u32>(dirEntry, 5);
    count++;
    if (skipLen > 0 && nl == skipLen && memory.compare(dirEntry + 9, nameIn, <usize>nl) == 0) continue;
    // The layout needs the entry's path: "/s/<guid>/<name>".
    store<u8>(pathBuf + <usize>dl, 0x2f);
    memory.copy(pathBuf + <usize>dl + 1, dirEntry + 9, <usize>nl);
    const layout = fsFileLayout(m, pathBuf, <u32>(dl + 1 + nl), sizeOut);
    if (layout < 0) { fsDirClose(m, h); return layout; }
    total += fileCost(m, layout == LAYOUT_INLINE, load<u32>(sizeOut), nl);
  }
  store<i32>(countOut, count);
  return total;
}
const countBuf = memory.data(4, 4);

/** The bytes app `app`'s mutable files cost on flash now, or -errno. */
export function storageUsedBytes(app: i32): i32 {
  if (!attached) return -ENODEV;
  const c = dirCost(hostMount(), app, 0, countBuf);
  return c < 0 ? <i32>c : c > <i64>i32.MAX_VALUE ? i32.MAX_VALUE : <i32>c;
}

/**
 * May the file at nameIn (`nameLen`), now kept as `layout` with `size` bytes, become `newSize`
 * bytes? 0, or -EDQUOT / -errno.
 */
function quotaAllows(m: Mount, app: i32, nameLen: i32, layout: i32, newSize: u32): i32 {
  const others = dirCost(m, app, nameLen, countBuf);
  if (others < 0) return <i32>others;
  const inline = layout == LAYOUT_INLINE && newSize <= fsInlineMax(m);
  const total = others + fileCost(m, inline, newSize, nameLen);
  return total > <i64>capsOf(app).storageQuotaBytes ? -EDQUOT : 0;
}

// ---- the calls

/** The package mount app `app` was admitted from, or null (an app not installed from flash). */
function packageMountOf(app: i32): Mount | null {
  for (let i = 1; i < MAX_MOUNTS; i++) {
    const mm = mountAt(i);
    if (mm != null && mm.readOnly && mm.mounted && mm.owner == app) return mm;
  }
  return null;
}

/** A handle of `kind` for a new open row: the handle, or -errno (the row given back). */
function openHandle(task: i32, app: i32, nr: i32, openKind: i32, handleKindId: i32, mount: i32, pathLen: i32): i32 {
  const row = storageOpenTake(app, openKind, mount, pathBuf, pathLen);
  if (row < 0) { auditRecord(EV_LIMIT, task, app, nr, LIMIT_STORAGE_OPEN, row); return row; }
  const h = handleAlloc(task, handleKindId, row);
  if (h < 0) storageOpenFree(row); // no handle names it yet
  return h;
}

function sysOpen(task: i32, app: i32, namePtr: i32, nameLen: i32, flags: i32): i32 {
  if ((flags & ~(STORAGE_OPEN_CREATE | STORAGE_OPEN_TRUNCATE)) != 0) return -EINVAL;
  let rc = copyName(task, app, SYS_STORAGE_OPEN, namePtr, nameLen, STORAGE_NAME_MAX_BYTES);
  if (rc < 0) return rc;
  if (!componentOk(nameIn, nameLen)) return -EINVAL;
  if (!attached) return -ENODEV;
  const m = hostMount();
  const pl = filePath(app, nameLen);
  let kind = fsStat(m, pathBuf, <u32>pl, sizeOut);
  if (kind == 2) return -EISDIR;
  if (kind < 0 && kind != -ENOENT) return kind;
  if (kind == -ENOENT) {
    if ((flags & STORAGE_OPEN_CREATE) == 0) return -ENOENT;
    const cost = dirCost(m, app, 0, countBuf);
    if (cost < 0) return <i32>cost;
    if (load<i32>(countBuf) >= STORAGE_FILES_PER_APP) return -EDQUOT;
    if (cost + fileCost(m, true, 0, nameLen) > <i64>capsOf(app).storageQuotaBytes) return -EDQUOT;
  }
  // Take the handle before changing anything on flash, so a refusal for a limit changes nothing.
  const h = openHandle(task, app, SYS_STORAGE_OPEN, OPEN_MUTABLE, HANDLE_STORAGE, 0, pl);
  if (h < 0) return h;
  if (kind == -ENOENT) {
    rc = fsMkdir(m, rootPath, 2);
    if (rc < 0 && rc != -EEXIST) { handleClose(handleIndexOf(h)); return rc; }
    const a = appAt(app);
    const dl = dirPath(a.idHi, a.idLo);
    rc = fsMkdir(m, pathBuf, <u32>dl);
    if (rc < 0 && rc != -EEXIST) { handleClose(handleIndexOf(h)); return rc; }
    filePath(app, nameLen);
  }
  const fd = fsOpenWrite(m, pathBuf, <u32>pl, O_RDWR | O_CREAT);
  if (fd < 0) { handleClose(handleIndexOf(h)); return fd; }
  // rc may still hold a mkdir's -EEXIST (a directory made by an earlier, cut-short open).
  rc = (flags & STORAGE_OPEN_TRUNCATE) != 0 ? fileTruncate(m, fd, 0) : 0;
  const c = fileClose(m, fd);
  if (rc < 0 || c < 0) { handleClose(handleIndexOf(h)); return rc < 0 ? rc : c; }
  return h;
}

function sysPackageOpen(task: i32, app: i32, pathPtr: i32, pathLen: i32): i32 {
  const rc = copyName(task, app, SYS_PACKAGE_OPEN, pathPtr, pathLen, STORAGE_PATH_MAX_BYTES);
  if (rc < 0) return rc;
  if (!packagePathOk(pathLen)) return -EINVAL;
  const mm = packageMountOf(app);
  if (mm == null) return -ENODEV;
  const m = changetype<Mount>(mm);
  memory.copy(pathBuf, nameIn, <usize>pathLen);
  const kind = fsStat(m, pathBuf, <u32>pathLen, sizeOut);
  if (kind == 2) return -EISDIR;
  if (kind < 0) return kind;
  return openHandle(task, app, SYS_PACKAGE_OPEN, OPEN_PACKAGE, HANDLE_PACKAGE_FILE, <i32>m.slot, pathLen);
}

/** The mount and path (at pathBuf) of open row `row`; null when its package is no longer mounted. */
function rowMount(row: i32): Mount | null {
  memory.copy(pathBuf, storageOpenPath(row), <usize>storageOpenPathLen(row));
  const mount = storageOpenMount(row);
  if (mount == 0) return attached ? hostMount() : null;
  return mountAt(mount);
}

function appRangeOk(task: i32, ptr: i32, len: i32): bool {
  const memBytes = app_memory_bytes(task);
  return memBytes >= 0 && <u64><u32>ptr + <u64><u32>len <= <u64><u32>memBytes;
}

function sysRead(task: i32, app: i32, handle: i32, ptr: i32, len: i32): i32 {
  const index = handleResolve(task, app, handle, KIND_STORAGE | KIND_PACKAGE_FILE, SYS_STORAGE_READ);
  if (index < 0) return index;
  if (len < 0) return -EINVAL;
  if (!appRangeOk(task, ptr, len)) { auditRecord(EV_FAULT, task, app, SYS_STORAGE_READ, ptr, -EFAULT); return -EFAULT; }
  const row = handleObject(index);
  const mm = rowMount(row);
  if (mm == null) return -ENODEV;
  const m = changetype<Mount>(mm);
  const n = len < STORAGE_IO_MAX_BYTES ? len : STORAGE_IO_MAX_BYTES;
  const fd = fsOpen(m, pathBuf, <u32>storageOpenPathLen(row), O_RDONLY);
  if (fd < 0) return fd;
  let r = fileSeek(m, fd, storageOpenPos(row), 0);
  if (r >= 0) r = n == 0 ? 0 : fileRead(m, fd, ioBuf, <u32>n);
  fileClose(m, fd);
  if (r < 0) return r;
  if (r > 0) {
    const c = app_copy_out(task, ioBuf, ptr, r);
    if (c < 0) { auditRecord(EV_FAULT, task, app, SYS_STORAGE_READ, ptr, c); return c; }
  }
  storageOpenSetPos(row, storageOpenPos(row) + r);
  return r;
}

/** Opens row `row`'s mutable file read-write and checks that it may become `newSize` bytes: the fd, or -errno. */
function openForChange(m: Mount, app: i32, row: i32, newSizeOf: i32, grows: bool): i32 {
  const pl = storageOpenPathLen(row);
  const layout = fsFileLayout(m, pathBuf, <u32>pl, sizeOut);
  if (layout < 0) return layout == -EISDIR ? -EBADF : layout;
  const size = load<u32>(sizeOut);
  const newSize = grows ? (<u32>newSizeOf > size ? <u32>newSizeOf : size) : <u32>newSizeOf;
  if (newSize > size || layout != LAYOUT_INLINE) {
    // The name is the path's last component.
    const nameLen = pl - DIR_PREFIX_BYTES - 1;
    memory.copy(nameIn, pathBuf + <usize>(DIR_PREFIX_BYTES + 1), <usize>nameLen);
    if (newSize > size) {
      const q = quotaAllows(m, app, nameLen, layout, newSize);
      if (q < 0) return q;
    }
  }
  return fsOpenWrite(m, pathBuf, <u32>pl, O_RDWR);
}

function sysWrite(task: i32, app: i32, handle: i32, ptr: i32, len: i32): i32 {
  const index = handleResolve(task, app, handle, KIND_STORAGE, SYS_STORAGE_WRITE);
  if (index < 0) return index;
  if (len < 0) return -EINVAL;
  const n = len < STORAGE_IO_MAX_BYTES ? len : STORAGE_IO_MAX_BYTES;
  if (n > 0) {
    const c = app_copy_in(task, ptr, n, ioBuf);
    if (c < 0) { auditRecord(EV_FAULT, task, app, SYS_STORAGE_WRITE, ptr, c); return c; }
  }
  const row = handleObject(index);
  const mm = rowMount(row);
  if (mm == null) return -ENODEV;
  const m = changetype<Mount>(mm);
  const pos = storageOpenPos(row);
  if (<i64>pos + <i64>n > <i64>i32.MAX_VALUE) return -EINVAL;
  if (n == 0) return 0;
  const fd = openForChange(m, app, row, pos + n, true);
  if (fd < 0) return fd;
  let r = fileSeek(m, fd, pos, 0);
  if (r >= 0) r = fileWrite(m, fd, ioBuf, <u32>n);
  const c = fileClose(m, fd);
  if (r < 0) return r;
  if (c < 0) return c;
  storageOpenSetPos(row, pos + r);
  return r;
}

function sysSeek(task: i32, app: i32, handle: i32, offset: i32, whence: i32): i32 {
  const index = handleResolve(task, app, handle, KIND_STORAGE | KIND_PACKAGE_FILE, SYS_STORAGE_SEEK);
  if (index < 0) return index;
  const row = handleObject(index);
  let base: i64 = 0;
  if (whence == 1) base = storageOpenPos(row);
  else if (whence == 2) {
    const mm = rowMount(row);
    if (mm == null) return -ENODEV;
    const kind = fsStat(changetype<Mount>(mm), pathBuf, <u32>storageOpenPathLen(row), sizeOut);
    if (kind < 0) return kind;
    base = <i64>load<u32>(sizeOut);
  } else if (whence != 0) return -EINVAL;
  const pos = base + <i64>offset;
  if (pos < 0 || pos > <i64>i32.MAX_VALUE) return -EINVAL;
  storageOpenSetPos(row, <i32>pos);
  return <i32>pos;
}

function sysTruncate(task: i32, app: i32, handle: i32, size: i32): i32 {
  const index = handleResolve(task, app, handle, KIND_STORAGE, SYS_STORAGE_TRUNCATE);
  if (index < 0) return index;
  if (size < 0) return -EINVAL;
  const row = handleObject(index);
  const mm = rowMount(row);
  if (mm == null) return -ENODEV;
  const m = changetype<Mount>(mm);
  const fd = openForChange(m, app, row, size, false);
  if (fd < 0) return fd;
  const r = fileTruncate(m, fd, <u32>size);
  const c = fileClose(m, fd);
  return r < 0 ? r : c < 0 ? c : 0;
}

function sysDelete(task: i32, app: i32, namePtr: i32, nameLen: i32): i32 {
  const rc = copyName(task, app, SYS_STORAGE_DELETE, namePtr, nameLen, STORAGE_NAME_MAX_BYTES);
  if (rc < 0) return rc;
  if (!componentOk(nameIn, nameLen)) return -EINVAL;
  if (!attached) return -ENODEV;
  const pl = filePath(app, nameLen);
  return fsRemove(hostMount(), pathBuf, <u32>pl);
}

/** Every storage syscall, after the security hook allowed it. */
export function storageSyscall(task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32): i32 {
  switch (nr) {
    case SYS_STORAGE_OPEN: return sysOpen(task, app, a0, a1, a2);
    case SYS_STORAGE_READ: return sysRead(task, app, a0, a1, a2);
    case SYS_STORAGE_WRITE: return sysWrite(task, app, a0, a1, a2);
    case SYS_STORAGE_SEEK: return sysSeek(task, app, a0, a1, a2);
    case SYS_STORAGE_TRUNCATE: return sysTruncate(task, app, a0, a1);
    case SYS_STORAGE_DELETE: return sysDelete(task, app, a0, a1);
    case SYS_STORAGE_USAGE: return storageUsedBytes(app);
    case SYS_PACKAGE_OPEN: return sysPackageOpen(task, app, a0, a1);
  }
  return -EBADF;
}

// ---- the app manager's calls

/**
 * Erases the mutable storage of the app whose ComponentId is (hi, lo): every file of its
 * directory, then the directory. 0, or -errno (what is left is collected at the next boot).
 */
export function storageErase(hi: u64, lo: u64): i32 {
  if (!attached) return 0;
  const m = hostMount();
  const dl = dirPath(hi, lo);
  // Each remove changes the directory, so it is opened again after each.
  for (let guard = 0; guard <= STORAGE_FILES_PER_APP * 4; guard++) {
    const h = fsDirOpen(m, pathBuf, <u32>dl);
    if (h == -ENOENT) return 0;
    if (h < 0) return h;
    let found = false;
    while (true) {
      const r = fsDirRead(m, h, dirEntry, 64);
      if (r < 0) { fsDirClose(m, h); return r; }
      if (r == 0) break;
      const nl = <i32>load<u32>(dirEntry, 5);
      if (load<u8>(dirEntry) == 2 && nl <= 2 && load<u8>(dirEntry + 9) == 0x2e) continue; // "." and ".."
      store<u8>(pathBuf + <usize>dl, 0x2f);
      memory.copy(pathBuf + <usize>dl + 1, dirEntry + 9, <usize>nl);
      found = true;
      fsDirClose(m, h);
      const rr = fsRemove(m, pathBuf, <u32>(dl + 1 + nl));
      if (rr < 0) return rr;
      break;
    }
    if (!found) { fsDirClose(m, h); return fsRemove(m, pathBuf, <u32>dl); }
  }
  return 0;
}


/**
 * Erases every app directory under /s whose ComponentId `listed` does not name (a delete whose
 * erase a power cut interrupted). `listed(guidTextPtr)` says whether the 36-byte GUID text is an
 * installed app's. 0 or -errno.
 */
export function storageCollect(listed: (guidText: usize) => bool): i32 {
  if (!attached) return 0;
  const m = hostMount();
  for (let guard = 0; guard < 1024; guard++) {
    const h = fsDirOpen(m, rootPath, 2);
    if (h == -ENOENT) return 0;
    if (h < 0) return h;
    let stale = false;
    let hi: u64 = 0, lo: u64 = 0;
    while (true) {
      const r = fsDirRead(m, h, dirEntry, 64);
      if (r < 0) { fsDirClose(m, h); return r; }
      if (r == 0) break;
      if (load<u8>(dirEntry) != 2 || load<u32>(dirEntry, 5) != <u32>GUID_TEXT_BYTES) continue;
      if (listed(dirEntry + 9)) continue;
      if (!guidTextToWords(dirEntry + 9)) continue;
      hi = guidHi; lo = guidLo;
      stale = true;
      break;
    }
    fsDirClose(m, h);
    if (!stale) return 0;
    const rc = storageErase(hi, lo);
    if (rc < 0) return rc;
  }
  return 0;
}

let guidHi: u64 = 0, guidLo: u64 = 0;
/** Reads 36 bytes of lowercase 8-4-4-4-12 GUID text into guidHi/guidLo (file-local); false if not one. */
function guidTextToWords(p: usize): bool {
  let hi: u64 = 0, lo: u64 = 0, digits = 0;
  for (let i = 0; i < GUID_TEXT_BYTES; i++) {
    const c = <u32>load<u8>(p + <usize>i);
    if (i == 8 || i == 13 || i == 18 || i == 23) { if (c != 0x2d) return false; continue; }
    let v: u64;
    if (c >= 0x30 && c <= 0x39) v = <u64>(c - 0x30);
    else if (c >= 0x61 && c <= 0x66) v = <u64>(c - 0x61 + 10);
    else return false;
    if (digits < 16) hi = (hi << 4) | v; else lo = (lo << 4) | v;
    digits++;
  }
  guidHi = hi; guidLo = lo;
  return true;
}
