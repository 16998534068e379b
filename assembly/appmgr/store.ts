// appmgr/store: the installed-app list on flash, and what the core does with it (SPEC.md,
// "Installed-app list"): where a package goes in the apps partition, taking its bytes from the
// host in chunks and programming them through the hal, checking it (pkg_parse), mounting its
// littlefs read-only where it lies, reading app_manifest.json from inside it, admitting it (the
// app-install path: manifest checks, pins owned by another app), and only then committing the
// list. Boot reads the list and admits each package again; a package that fails is refused alone.
//
// The list is the file LIST_PATH on the data partition's littlefs (the host mount, slot 0). It is
// replaced whole: written to LIST_TMP_PATH, closed (littlefs commits it), then renamed over
// LIST_PATH, which littlefs does atomically: after a power cut the list is the old one or the new
// one. Free space in the apps partition is derived from the committed list only, so a package
// written but never committed is reclaimed at the next deploy or boot.
// Invariants: `entries` mirrors the committed list in its order; no two entries' extents overlap
// and each lies inside the apps partition; an entry with appSlot >= 0 is admitted in the app table
// with its package mounted at mountSlot; a refusal changes neither the list on flash nor the
// entries, except that a replacement refused after the old app left the table puts it back.
// Budget: STORE_STATIC_BYTES static (the entry table, the list's write buffer, a read chunk, one
// pkg-info record, the partition table's entries); the manifest is read into MANIFEST_MAX_BYTES
// of heap held only during an admission; each mounted package costs fs_mount_ram_bytes.
// Must not: trap on any input, trust a byte read from flash before it is checked, or commit a
// package the core has not admitted.
import {
  EINVAL, EFBIG, ENOSPC, ENOENT, ECORRUPT, EIO, ENOMEM, MAX_APPS, MANIFEST_MAX_BYTES, PKG_MAX_BYTES,
  PTABLE_MAX_ENTRIES, PART_APPS, PART_DATA, FS_IO_CHUNK_BYTES, EV_INSTALL_REFUSED, EV_IMAGE_REFUSED, EPERM, EBUSY, EINPROGRESS,
  IMAGE_REFUSED_UNSIGNED, IMAGE_REFUSED_BAD_SIGNATURE, IMAGE_REFUSED_FIELD_MODE, SHA256_DIGEST_BYTES, EROLLBACK,
  UPDATE_REFUSED_PACKAGE, UPDATE_REFUSED_WRONG_COMPONENT, UPDATE_REFUSED_NOT_INSTALLED, UPDATE_REFUSED_OLDER,
} from "../abi";
import { verifyGate, verifyHolds, verifyReason, verifyDevelopment, verifyDigest, verifyRunning, attestGate, attestMeasurementsPtr } from "./verify";
import { msgClear, msgStr, msgInt, msgPtr, msgLen, msgBytes, msgUserBytes } from "../util/msg";
import { crc32 } from "../fs/crc";
import { flash_prog, flash_erase } from "../hal/index";
import { ptableParse } from "../flash/ptable";
import {
  pkgParse, PKG_INFO_BYTES, PKG_INFO_COMPONENT_ID, PKG_INFO_IMAGE_ID, PKG_INFO_VERSION, PKG_INFO_FS_BLOCK_BYTES,
  PKG_INFO_FS_BLOCK_COUNT,
} from "./imagepkg";
import { Mount, hostMount, mountAt } from "../fs/mount";
import {
  fsConfig, fsMount, fsUnmount, fsOpen, fsOpenWrite, fileRead, fileWrite, fileClose, fileSeek, fileSize,
  fsRename, fsRemove, fsStat, fsMountPackage, fsRelease, O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC,
} from "../fs/lfs";
import { appAt, appValid, appEntryPtr } from "./apps";
import { appInstall, appUninstall } from "./lifecycle";
import { kalloc, kfree } from "../kmem";
import { auditRecord } from "../audit/ring";
import { NO_TASK } from "../task/table";
import { storageAttachDataMount, storageErase, storageCollect } from "../storage/files";
import { guidWrite, GUID_TEXT_BYTES } from "../util/guid";

// ---- the list file (SPEC.md, "Installed-app list")
const LIST_MAGIC: u32 = 0x4c415357; // "WSAL"
const LIST_VERSION: u32 = 1;
const LIST_HEADER_BYTES: u32 = 16;
const LIST_ENTRY_BYTES: u32 = 48;
const LIST_MAX_BYTES: u32 = LIST_HEADER_BYTES + <u32>MAX_APPS * LIST_ENTRY_BYTES;
const LIST_PATH = "/.wasphere-apps";
const LIST_TMP_PATH = "/.wasphere-apps.new";
const MANIFEST_PATH = "app_manifest.json";

// ---- one entry in RAM: STORE_ENTRY_BYTES, what store_entry returns (SPEC.md gives the layout)
export const STORE_ENTRY_BYTES: u32 = 64;
const E_COMPONENT_ID = 0;   // 16 bytes, text order
const E_IMAGE_ID = 16;      // 16 bytes
const E_FIRST_BLOCK = 32;   // u32, flash block (from the flash's start)
const E_BLOCKS = 36;        // u32, flash blocks the package spans
const E_PACKAGE_BYTES = 40; // u32
const E_APP_SLOT = 44;      // i32, its app slot, or -1 when not admitted
const E_MOUNT = 48;         // i32, its package's mount id, or -1
const E_STATUS = 52;        // i32, 0 admitted, 1 not yet activated, or the -errno it was refused with
const E_ENTRY_BYTES = 56;   // u32, its EntryPoint module's size
const E_VERSION = 60;       // u32, the package's VERSION

const STATUS_PENDING: i32 = 1;

const entries = memory.data(<i32>(<u32>MAX_APPS * STORE_ENTRY_BYTES), 8);
const listBuf = memory.data(<i32>LIST_MAX_BYTES, 8);
const chunkBuf = memory.data(FS_IO_CHUNK_BYTES, 8);
const info = memory.data(PKG_INFO_BYTES, 8);
const partBuf = memory.data(PTABLE_MAX_ENTRIES * 12, 4);
const savedMsg = memory.data(256, 4);
// Each entry's measurement: the SHA-256 of its package's signed bytes, as the security processor
// computed it when it verified the package (zero until then).
const measurements = memory.data(MAX_APPS * SHA256_DIGEST_BYTES, 8);
export const STORE_STATIC_BYTES: i32 = <i32>(<u32>MAX_APPS * STORE_ENTRY_BYTES + LIST_MAX_BYTES) + FS_IO_CHUNK_BYTES + PKG_INFO_BYTES + PTABLE_MAX_ENTRIES * 12 + 256 + GUID_TEXT_BYTES
  + MAX_APPS * SHA256_DIGEST_BYTES;

let count: i32 = 0;
let booted: bool = false;
let flashBlockBytes: u32 = 0;
let flashBlockCount: u32 = 0;
let appsFirst: u32 = 0;
let appsBlocks: u32 = 0;
// The deploy in progress (none when pendBytes is 0): its extent, bytes taken, blocks erased.
let pendFirst: u32 = 0;
let pendBlocks: u32 = 0;
let pendBytes: u32 = 0;
let pendWritten: u32 = 0;
let pendErased: u32 = 0;
// Whether the pending extent is an update's (drivers/update.ts) rather than the host's deploy.
let pendByUpdate: bool = false;

@inline function entryAt(i: i32): usize { return entries + <usize>i * <usize>STORE_ENTRY_BYTES; }
@inline function eu32(i: i32, field: i32): u32 { return load<u32>(entryAt(i) + <usize>field); }
@inline function ei32(i: i32, field: i32): i32 { return load<i32>(entryAt(i) + <usize>field); }
@inline function setE(i: i32, field: i32, v: u32): void { store<u32>(entryAt(i) + <usize>field, v); }

function fail(code: i32, part: string, what: string): i32 {
  msgClear(); msgStr(part); msgStr(": "); msgStr(what);
  return code;
}
function failNum(code: i32, part: string, what: string, v: i64, rest: string): i32 {
  msgClear(); msgStr(part); msgStr(": "); msgStr(what); msgInt(v); msgStr(rest);
  return code;
}
/** Puts "part: " before the message the callee left (a parser's or the manifest checker's). */
function prefixMsg(part: string): void {
  let n = msgLen();
  if (n > 200) n = 200;
  memory.copy(savedMsg, msgPtr(), <usize>n);
  msgClear(); msgStr(part); msgStr(": "); msgBytes(savedMsg, n);
}

function notBooted(): i32 { return fail(-EINVAL, "installed-app list", "the store is not booted (store_boot first)"); }

/** A path literal (ASCII) into chunkBuf at byte `at`; its length. */
function pathBytes(s: string, at: usize = 0): u32 {
  for (let i = 0; i < s.length; i++) store<u8>(chunkBuf + at + <usize>i, <u8>s.charCodeAt(i));
  return <u32>s.length;
}

// ---- boot

/**
 * Reads the partition table of a flash of `blockCount` erase blocks of `eraseBlockBytes`, mounts
 * the data partition (the host mount, slot 0) and reads the installed-app list. The number of
 * entries, or -errno with the part at fault in the message. Nothing is admitted yet (store_activate).
 */
export function storeBoot(eraseBlockBytes: u32, blockCount: u32): i32 {
  msgClear();
  if (booted) return fail(-EINVAL, "installed-app list", "already booted");
  const n = ptableParse(eraseBlockBytes, blockCount, partBuf);
  if (n < 0) return n;
  let dataFirst: u32 = 0, dataBlocks: u32 = 0;
  appsBlocks = 0;
  for (let i = 0; i < n; i++) {
    const e = partBuf + <usize>i * 12;
    const type = <i32>load<u16>(e);
    const first = load<u32>(e, 4) / eraseBlockBytes, blocks = load<u32>(e, 8) / eraseBlockBytes;
    if (type == PART_APPS) { appsFirst = first; appsBlocks = blocks; }
    if (type == PART_DATA) { dataFirst = first; dataBlocks = blocks; }
  }
  if (appsBlocks == 0) return fail(-EINVAL, "partition table", "has no apps partition");
  if (dataBlocks < 2) return fail(-EINVAL, "partition table", "has no data partition");
  flashBlockBytes = eraseBlockBytes;
  flashBlockCount = blockCount;
  const m = hostMount();
  if (m.mounted) fsUnmount(m);
  m.baseBlock = dataFirst; m.partBlocks = dataBlocks; m.flashShift = 0;
  const cache: u32 = eraseBlockBytes < 256 ? eraseBlockBytes : 256;
  let rc = fsConfig(m, eraseBlockBytes, dataBlocks, 16, 16, cache, 16, 500, 0, 0);
  if (rc == 0) rc = fsMount(m);
  if (rc < 0) return failNum(rc, "data partition", "cannot be mounted (littlefs error ", rc, ")");
  storageAttachDataMount();
  rc = readList();
  if (rc < 0) { fsUnmount(m); return rc; }
  // A delete whose storage erase a power cut interrupted left a directory no entry names.
  storageCollect(isListed);
  booted = true;
  pendBytes = 0;
  return count;
}

/** Reads LIST_PATH into `entries`: the count, or -errno ("installed-app list: ..."). */
function readList(): i32 {
  const m = hostMount();
  count = 0;
  const fd = fsOpen(m, chunkBuf, pathBytes(LIST_PATH), O_RDONLY);
  if (fd == -ENOENT) return 0; // nothing installed yet
  if (fd < 0) return failNum(fd, "installed-app list", "cannot be opened (littlefs error ", fd, ")");
  const size = fileSize(m, fd);
  if (size < <i32>LIST_HEADER_BYTES || <u32>size > LIST_MAX_BYTES) {
    fileClose(m, fd);
    return failNum(-ECORRUPT, "installed-app list", "is ", size, " bytes; a list is 16 + 48 per app, at most 64 apps");
  }
  let got: i32 = 0;
  while (got < size) {
    const r = fileRead(m, fd, listBuf + <usize>got, <u32>(size - got));
    if (r <= 0) { fileClose(m, fd); return failNum(r < 0 ? r : -EIO, "installed-app list", "cannot be read (littlefs error ", r, ")"); }
    got += r;
  }
  fileClose(m, fd);
  if (load<u32>(listBuf) != LIST_MAGIC) return fail(-ECORRUPT, "installed-app list", "bad magic");
  if (<u32>load<u16>(listBuf, 4) != LIST_VERSION) return failNum(-ECORRUPT, "installed-app list", "version ", load<u16>(listBuf, 4), " is not 1");
  const n = <i32>load<u16>(listBuf, 6);
  if (load<u32>(listBuf, 8) != LIST_ENTRY_BYTES || <u32>size != LIST_HEADER_BYTES + <u32>n * LIST_ENTRY_BYTES || n > MAX_APPS) {
    return failNum(-ECORRUPT, "installed-app list", "its header does not frame its ", size, " bytes");
  }
  const crc = ~crc32(0xffffffff, listBuf + LIST_HEADER_BYTES, <u32>n * LIST_ENTRY_BYTES);
  if (crc != load<u32>(listBuf, 12)) return fail(-ECORRUPT, "installed-app list", "CRC mismatch");
  for (let i = 0; i < n; i++) {
    const src = listBuf + LIST_HEADER_BYTES + <usize>i * LIST_ENTRY_BYTES;
    const e = entryAt(i);
    memory.fill(e, 0, STORE_ENTRY_BYTES);
    memory.copy(e, src, 32);
    setE(i, E_FIRST_BLOCK, appsFirst + load<u32>(src, 32));
    setE(i, E_BLOCKS, load<u32>(src, 36));
    setE(i, E_PACKAGE_BYTES, load<u32>(src, 40));
    store<i32>(e + E_APP_SLOT, -1);
    store<i32>(e + E_MOUNT, -1);
    store<i32>(e + E_STATUS, STATUS_PENDING);
  }
  count = n;
  return n;
}

/**
 * Admits entry `i` of the list read at boot: checks its package, mounts it, admits its manifest.
 * Its app slot, or -errno with the reason in the message (the entry stays in the list, refused;
 * the refusal is audited).
 */
export function storeActivate(i: i32): i32 {
  if (!booted) return notBooted();
  if (i < 0 || i >= count) return failNum(-ENOENT, "installed-app list", "no entry ", i, "");
  if (ei32(i, E_APP_SLOT) >= 0) return ei32(i, E_APP_SLOT);
  const first = eu32(i, E_FIRST_BLOCK), blocks = eu32(i, E_BLOCKS), bytes = eu32(i, E_PACKAGE_BYTES);
  let rc: i32 = 0;
  if (first < appsFirst || <u64>first + <u64>blocks > <u64>appsFirst + <u64>appsBlocks || blocks != blocksFor(bytes)) {
    rc = fail(-ECORRUPT, "installed-app list", "its extent lies outside the apps partition");
  }
  for (let j = 0; rc == 0 && j < i; j++) {
    if (first < eu32(j, E_FIRST_BLOCK) + eu32(j, E_BLOCKS) && eu32(j, E_FIRST_BLOCK) < first + blocks) {
      rc = failNum(-ECORRUPT, "installed-app list", "its extent overlaps entry ", j, "'s");
    }
  }
  // Secure boot: the package's signature is checked through the security processor before it is
  // mounted; that takes the mailbox's answers, so the host calls again on -EINPROGRESS.
  // The check needs the package's signature fields once, when it starts; admit parses it again.
  if (rc == 0 && !verifyHolds(i, first, bytes)) rc = pkgParse(flashBlockBytes, first, bytes, info);
  if (rc == 0) {
    rc = verifyGate(i, flashBlockBytes, first, bytes, info);
    if (rc == -EINPROGRESS || rc == -EBUSY) return rc;
    if (rc < 0) {
      store<i32>(entryAt(i) + E_STATUS, rc);
      auditRecord(EV_IMAGE_REFUSED, NO_TASK, -1, verifyReason(), i, rc);
      return rc;
    }
    memory.copy(measurements + <usize>(i * SHA256_DIGEST_BYTES), verifyDigest(), SHA256_DIGEST_BYTES);
  }
  if (rc == 0) rc = admit(i, first, bytes, true);
  store<i32>(entryAt(i) + E_STATUS, rc < 0 ? rc : 0);
  if (rc < 0) {
    memory.fill(measurements + <usize>(i * SHA256_DIGEST_BYTES), 0, SHA256_DIGEST_BYTES);
    auditRecord(EV_INSTALL_REFUSED, NO_TASK, -1, -1, i, rc);
  }
  return rc;
}

/**
 * Checks the package of `bytes` at flash block `first`, mounts it read-only, reads and admits its
 * manifest; on success fills entry `i` (its ids, extent, slot, mount) and returns the app slot.
 * `listed`: the entry's ids were read from the list and the package must still carry them.
 * On failure nothing stays mounted or installed.
 */
function admit(i: i32, first: u32, bytes: u32, listed: bool): i32 {
  let rc = pkgParse(flashBlockBytes, first, bytes, info);
  if (rc < 0) return rc;
  const e = entryAt(i);
  if (listed && (memory.compare(e + E_COMPONENT_ID, info + PKG_INFO_COMPONENT_ID, 16) != 0 || memory.compare(e + E_IMAGE_ID, info + PKG_INFO_IMAGE_ID, 16) != 0)) {
    return fail(-ECORRUPT, "installed-app list", "the package at its extent is not the one the list names (ComponentId or ImageId differ)");
  }
  const mount = fsMountPackage(flashBlockBytes, first, load<u32>(info + PKG_INFO_FS_BLOCK_BYTES), load<u32>(info + PKG_INFO_FS_BLOCK_COUNT), -1);
  if (mount < 0) return failNum(mount, "image package: littlefs image", "cannot be mounted (littlefs error ", mount, ")");
  const m = changetype<Mount>(mountAt(mount));
  const manifest = kalloc(<usize>MANIFEST_MAX_BYTES);
  if (manifest == 0) { fsRelease(m); return fail(-ENOMEM, "image package", "the core is out of memory to read app_manifest.json"); }
  rc = readManifest(m, manifest);
  let slot: i32 = -1;
  if (rc >= 0) {
    slot = appInstall(manifest, rc, false);
    if (slot < 0) { prefixMsg("image package: app_manifest.json"); rc = slot; }
  }
  kfree(manifest);
  if (rc >= 0) rc = checkAdmitted(m, slot);
  if (rc < 0) {
    if (slot >= 0) { copyMsg(); appUninstall(slot); restoreMsg(); }
    fsRelease(m);
    return rc;
  }
  memory.copy(e + E_COMPONENT_ID, info + PKG_INFO_COMPONENT_ID, 16);
  memory.copy(e + E_IMAGE_ID, info + PKG_INFO_IMAGE_ID, 16);
  setE(i, E_FIRST_BLOCK, first);
  setE(i, E_BLOCKS, blocksFor(bytes));
  setE(i, E_PACKAGE_BYTES, bytes);
  store<i32>(e + E_APP_SLOT, slot);
  store<i32>(e + E_MOUNT, mount);
  store<i32>(e + E_STATUS, 0);
  setE(i, E_ENTRY_BYTES, <u32>rc);
  setE(i, E_VERSION, load<u32>(info + PKG_INFO_VERSION));
  m.owner = slot;
  return slot;
}

let savedLen: i32 = 0;
function copyMsg(): void { savedLen = msgLen() < 256 ? msgLen() : 256; memory.copy(savedMsg, msgPtr(), <usize>savedLen); }
function restoreMsg(): void { msgClear(); msgBytes(savedMsg, savedLen); }

/** app_manifest.json of mount `m` into `dst`: its length, or -errno. */
function readManifest(m: Mount, dst: usize): i32 {
  const fd = fsOpen(m, chunkBuf, pathBytes(MANIFEST_PATH), O_RDONLY);
  if (fd < 0) return failNum(fd == -ENOENT ? -EINVAL : fd, "image package: app_manifest.json", fd == -ENOENT ? "missing from the package (littlefs error " : "cannot be opened (littlefs error ", fd, ")");
  const size = fileSize(m, fd);
  if (size < 0 || size > MANIFEST_MAX_BYTES) {
    fileClose(m, fd);
    return failNum(-EINVAL, "image package: app_manifest.json", "is ", size, " bytes; the limit is 8192");
  }
  let got: i32 = 0;
  while (got < size) {
    const r = fileRead(m, fd, dst + <usize>got, <u32>(size - got));
    if (r <= 0) { fileClose(m, fd); return failNum(r < 0 ? r : -EIO, "image package: app_manifest.json", "cannot be read (littlefs error ", r, ")"); }
    got += r;
  }
  fileClose(m, fd);
  return size;
}

/** The admitted manifest belongs to this package: its ComponentId, an EntryPoint file. The module's size, or -errno. */
function checkAdmitted(m: Mount, slot: i32): i32 {
  const a = appAt(slot);
  const p = info + PKG_INFO_COMPONENT_ID;
  if (bswap<u64>(load<u64>(p)) != a.idHi || bswap<u64>(load<u64>(p, 8)) != a.idLo) {
    return fail(-EINVAL, "image package: app_manifest.json", "its ComponentId is not the package's (IDENTITY section)");
  }
  const len = a.entryLen;
  if (len <= 0 || len > 255) return fail(-EINVAL, "image package: app_manifest.json", "EntryPoint is empty or too long");
  memory.copy(chunkBuf, appEntryPtr(slot), <usize>len);
  const kind = fsStat(m, chunkBuf, <u32>len, chunkBuf + 256);
  if (kind != 1) {
    msgClear(); msgStr("image package: EntryPoint \""); msgUserBytes(appEntryPtr(slot), len, 64); msgStr("\" is not a file of the package");
    return -EINVAL;
  }
  return load<i32>(chunkBuf + 256);
}

// ---- deploy

function blocksFor(bytes: u32): u32 { return (bytes + flashBlockBytes - 1) / flashBlockBytes; }

/**
 * Starts a deploy of a package of `packageBytes` bytes: chooses its extent (first fit in the apps
 * partition, outside every committed entry's). The extent's first flash block, or -errno:
 * -EFBIG over PKG_MAX_BYTES, -ENOSPC no free extent that size. A deploy begun before is dropped.
 */
export function storeDeployBegin(packageBytes: i32, byUpdate: bool = false): i32 {
  if (!booted) return notBooted();
  if (verifyRunning()) return fail(-EBUSY, "deploy", "a package is being verified; try again when it is done");
  // An update being staged owns the pending extent until it commits or is dropped (drivers/update.ts).
  if (pendBytes != 0 && pendByUpdate) return fail(-EBUSY, "deploy", "an update from the feed is being staged; try again when it is done");
  if (pendBytes != 0 && byUpdate) return fail(-EBUSY, "update", "a deploy is in progress; the update waits for its next poll");
  pendBytes = 0;
  pendByUpdate = byUpdate;
  if (packageBytes <= 0) return failNum(-EINVAL, "deploy", "a package of ", packageBytes, " bytes");
  if (packageBytes > PKG_MAX_BYTES) return failNum(-EFBIG, "deploy", "the package is ", packageBytes, " bytes; the limit is 2097152 (PKG_MAX_BYTES)");
  const need = blocksFor(<u32>packageBytes);
  let at = appsFirst;
  const end = appsFirst + appsBlocks;
  let moved = true;
  while (moved && at + need <= end) {
    moved = false;
    for (let j = 0; j < count; j++) {
      const f = eu32(j, E_FIRST_BLOCK), b = eu32(j, E_BLOCKS);
      if (at < f + b && f < at + need) { at = f + b; moved = true; }
    }
  }
  if (at + need > end) {
    let used: u32 = 0;
    for (let j = 0; j < count; j++) used += eu32(j, E_BLOCKS);
    msgClear(); msgStr("apps partition: full: the package needs "); msgInt(need); msgStr(" blocks of "); msgInt(flashBlockBytes);
    msgStr(" bytes and no free run is that long ("); msgInt(appsBlocks - used); msgStr(" of "); msgInt(appsBlocks); msgStr(" blocks free)");
    return -ENOSPC;
  }
  pendFirst = at; pendBlocks = need; pendBytes = <u32>packageBytes; pendWritten = 0; pendErased = 0;
  return <i32>at;
}

/**
 * The next `len` bytes of the package at `ptr` (in core memory): programmed at the extent, each
 * block erased when the bytes first reach it. Bytes taken so far, or -errno.
 */
export function storeDeployWrite(ptr: usize, len: u32, byUpdate: bool = false): i32 {
  if (!booted) return notBooted();
  if (pendBytes == 0 || pendByUpdate != byUpdate) return fail(-EINVAL, "deploy", "no deploy in progress (store_deploy_begin first)");
  if (verifyRunning()) return fail(-EBUSY, "deploy", "a package is being verified; its bytes cannot change now");
  if (len > pendBytes - pendWritten) {
    const announced = pendBytes;
    pendBytes = 0;
    return failNum(-EFBIG, "deploy", "more bytes came than the ", announced, " announced; the deploy is dropped");
  }
  let done: u32 = 0;
  while (done < len) {
    const at = pendWritten + done;
    const block = at / flashBlockBytes, off = at % flashBlockBytes;
    if (block >= pendErased) {
      const rc = flash_erase(pendFirst + block);
      if (rc != 0) { pendBytes = 0; return failNum(-EIO, "apps partition", "flash erase of block ", pendFirst + block, " failed"); }
      pendErased = block + 1;
    }
    let n = flashBlockBytes - off;
    if (n > len - done) n = len - done;
    const rc = flash_prog(pendFirst + block, off, ptr + <usize>done, n);
    if (rc != 0) { pendBytes = 0; return failNum(-EIO, "apps partition", "flash program of block ", pendFirst + block, " failed"); }
    done += n;
  }
  pendWritten += len;
  return <i32>pendWritten;
}

/** The 16-byte id at `p` (text order) as GUID text into the message. */
function msgGuid(p: usize): void {
  guidWrite(guidScratch, bswap<u64>(load<u64>(p)), bswap<u64>(load<u64>(p, 8)));
  msgBytes(guidScratch, GUID_TEXT_BYTES);
}

/** Entry index of the ComponentId at `id` (16 bytes), or -1. */
function findComponent(id: usize): i32 {
  for (let j = 0; j < count; j++) if (memory.compare(entryAt(j) + E_COMPONENT_ID, id, 16) == 0) return j;
  return -1;
}

/**
 * Ends the deploy: checks and admits the package written, then commits the list with it (in
 * place of the installed one of the same ComponentId, whose app leaves the table and whose
 * package is unmounted). Its entry index, or -errno; on -errno the list and the apps are as before.
 */
export function storeDeployCommit(): i32 { return commitPending(false, 0); }

/**
 * storeDeployCommit for an update from the feed (drivers/update.ts), whose bytes' SHA-256 the
 * caller checked against its feed entry: the package must be the ComponentId at `componentId`
 * (16 bytes, text order), already installed, with a VERSION not below the installed one; it is
 * then checked and committed as a deploy is, except that field mode does not refuse it (the feed
 * is how a field device takes updates). As storeDeployCommit: -EINPROGRESS while the security
 * processor checks its signature (call again after its answer); its refusals' UPDATE_REFUSED_*
 * reason is storeUpdateReason().
 */
export function storeUpdateCommit(componentId: usize): i32 { return commitPending(true, componentId); }
let updateReason: i32 = 0;
export function storeUpdateReason(): i32 { return updateReason; }

/** Bytes of the pending update staged so far, or -1 when no update owns the pending extent. */
export function storeUpdateWritten(): i32 { return pendBytes != 0 && pendByUpdate ? <i32>pendWritten : -1; }
/** The pending extent's first flash block and the flash's erase-block size (for a read-back). */
export function storePendingFirst(): u32 { return pendFirst; }
export function storeBlockBytes(): u32 { return flashBlockBytes; }
/** The flash's erase blocks (0 before store_boot). */
export function storeBlockCount(): u32 { return booted ? flashBlockCount : 0; }
/** Drops the pending update (its handle closed before a commit): the extent is free again. */
export function storeUpdateDrop(): void { if (pendByUpdate) { pendBytes = 0; pendByUpdate = false; } }

/** The VERSION of the installed package of the ComponentId at `id` (16 bytes, text order), or -ENOENT. */
export function storeInstalledVersion(id: usize): i32 {
  if (!booted) return notBooted();
  const j = findComponent(id);
  if (j < 0) return -ENOENT;
  return <i32>(eu32(j, E_VERSION) & 0x7fffffff);
}

function commitPending(byUpdate: bool, componentId: usize): i32 {
  if (!booted) return notBooted();
  updateReason = 0;
  if (pendBytes == 0 || pendByUpdate != byUpdate) return fail(-EINVAL, "deploy", "no deploy in progress (store_deploy_begin first)");
  const bytes = pendBytes, first = pendFirst;
  if (pendWritten != bytes) { pendBytes = 0; return failNum(-EINVAL, "deploy", "the package was announced as ", bytes, " bytes and not all of them came"); }
  // Which entry it replaces is known only once the package is parsed.
  const rcParse = pkgParse(flashBlockBytes, first, bytes, info);
  if (rcParse < 0) { pendBytes = 0; if (byUpdate) updateReason = UPDATE_REFUSED_PACKAGE; return rcParse; }
  if (byUpdate) {
    // The feed's rules, before any signature work: the component the feed entry named, installed
    // here, and not older than what is installed.
    if (memory.compare(info + PKG_INFO_COMPONENT_ID, componentId, 16) != 0) {
      pendBytes = 0; updateReason = UPDATE_REFUSED_WRONG_COMPONENT;
      msgClear(); msgStr("update: refused: the package is ComponentId "); msgGuid(info + PKG_INFO_COMPONENT_ID);
      msgStr(", not the feed entry's "); msgGuid(componentId);
      return -EINVAL;
    }
    const j = findComponent(componentId);
    if (j < 0) {
      pendBytes = 0; updateReason = UPDATE_REFUSED_NOT_INSTALLED;
      msgClear(); msgStr("update: refused: ComponentId "); msgGuid(componentId); msgStr(" is not installed on this device (the feed updates installed apps only)");
      return -ENOENT;
    }
    const version = load<u32>(info + PKG_INFO_VERSION), installedVersion = eu32(j, E_VERSION);
    if (version < installedVersion) {
      pendBytes = 0; updateReason = UPDATE_REFUSED_OLDER;
      msgClear(); msgStr("update: refused: the package is version "); msgInt(version); msgStr(", older than the installed version "); msgInt(installedVersion);
      return -EROLLBACK;
    }
  }
  // A sideload: the device must be in development mode, and the package signed by a key it
  // trusts for apps (both the security processor's to say); the host calls again on -EINPROGRESS.
  // An update: the signature alone (the feed is how a field device takes updates).
  const verified = verifyGate(-1, flashBlockBytes, first, bytes, info);
  if (verified == -EINPROGRESS || verified == -EBUSY) return verified;
  pendBytes = 0;
  const reason = verifyReason();
  if (byUpdate && verified < 0) {
    updateReason = UPDATE_REFUSED_PACKAGE;
    if (reason != 0) auditRecord(EV_IMAGE_REFUSED, NO_TASK, -1, reason, -1, verified);
    return verified;
  }
  const modeKnown = verified == 0 || (verified == -EPERM && reason >= IMAGE_REFUSED_UNSIGNED && reason <= IMAGE_REFUSED_BAD_SIGNATURE);
  if (!byUpdate && modeKnown && !verifyDevelopment()) {
    msgClear();
    msgStr("sideload: refused: the device is in field mode and runs only what its update feed signs; to sideload, put it in development mode: wasphere device enable-development DEV --capability FILE");
    auditRecord(EV_IMAGE_REFUSED, NO_TASK, -1, IMAGE_REFUSED_FIELD_MODE, -1, -EPERM);
    return -EPERM;
  }
  if (verified < 0) {
    if (reason != 0) auditRecord(EV_IMAGE_REFUSED, NO_TASK, -1, reason, -1, verified);
    return verified;
  }
  memory.copy(pendDigest, verifyDigest(), SHA256_DIGEST_BYTES);
  const twin = findComponent(info + PKG_INFO_COMPONENT_ID);
  const idx = twin >= 0 ? twin : count;
  if (idx >= MAX_APPS) return fail(-ENOSPC, "installed-app list", "64 apps are installed (MAX_APPS): delete one first");
  // The old app leaves the app table first, so that the new one may take its pins.
  let oldSlot: i32 = -1, oldMount: i32 = -1;
  const oldEntry = changetype<usize>(savedEntry);
  if (twin >= 0) {
    memory.copy(oldEntry, entryAt(twin), STORE_ENTRY_BYTES);
    oldSlot = ei32(twin, E_APP_SLOT); oldMount = ei32(twin, E_MOUNT);
    if (oldSlot >= 0) appUninstall(oldSlot);
  }
  const slot = admit(idx, first, bytes, false);
  let rc = slot;
  if (rc >= 0) {
    const n = twin >= 0 ? count : count + 1;
    rc = writeList(n);
    if (rc < 0) { copyMsg(); appUninstall(slot); const mm = mountAt(ei32(idx, E_MOUNT)); if (mm != null) fsRelease(changetype<Mount>(mm)); restoreMsg(); }
    else count = n;
  }
  if (rc < 0) {
    if (byUpdate) updateReason = UPDATE_REFUSED_PACKAGE;
    if (twin >= 0) {
      memory.copy(entryAt(twin), oldEntry, STORE_ENTRY_BYTES);
      if (oldSlot >= 0) { copyMsg(); reinstate(twin); restoreMsg(); }
    }
    return rc;
  }
  if (oldMount >= 0) { const om = mountAt(oldMount); if (om != null) fsRelease(changetype<Mount>(om)); }
  memory.copy(measurements + <usize>(idx * SHA256_DIGEST_BYTES), pendDigest, SHA256_DIGEST_BYTES);
  return idx;
}
const savedEntry = memory.data(<i32>STORE_ENTRY_BYTES, 8);
const pendDigest = memory.data(SHA256_DIGEST_BYTES, 8);

/** Puts entry `i`'s app back in the table from its still-mounted package (a replacement failed). */
function reinstate(i: i32): void {
  const mount = ei32(i, E_MOUNT);
  store<i32>(entryAt(i) + E_APP_SLOT, -1);
  const mm = mountAt(mount);
  if (mm == null) return;
  const m = changetype<Mount>(mm);
  const manifest = kalloc(<usize>MANIFEST_MAX_BYTES);
  if (manifest == 0) return;
  const len = readManifest(m, manifest);
  const slot = len >= 0 ? appInstall(manifest, len, false) : len;
  kfree(manifest);
  store<i32>(entryAt(i) + E_APP_SLOT, slot >= 0 ? slot : -1);
  store<i32>(entryAt(i) + E_STATUS, slot >= 0 ? 0 : slot);
  if (slot >= 0) m.owner = slot;
}

/** Writes entries [0, n) (the entry at index `skip` left out) as the list, atomically. 0 or -errno. */
function writeList(n: i32, skip: i32 = -1): i32 {
  let k: i32 = 0;
  for (let i = 0; i < n; i++) {
    if (i == skip) continue;
    const dst = listBuf + LIST_HEADER_BYTES + <usize>k * LIST_ENTRY_BYTES;
    memory.copy(dst, entryAt(i), 32);
    store<u32>(dst, eu32(i, E_FIRST_BLOCK) - appsFirst, 32);
    store<u32>(dst, eu32(i, E_BLOCKS), 36);
    store<u32>(dst, eu32(i, E_PACKAGE_BYTES), 40);
    store<u32>(dst, 0, 44);
    k++;
  }
  store<u32>(listBuf, LIST_MAGIC);
  store<u16>(listBuf, <u16>LIST_VERSION, 4);
  store<u16>(listBuf, <u16>k, 6);
  store<u32>(listBuf, LIST_ENTRY_BYTES, 8);
  store<u32>(listBuf, ~crc32(0xffffffff, listBuf + LIST_HEADER_BYTES, <u32>k * LIST_ENTRY_BYTES), 12);
  const total = LIST_HEADER_BYTES + <u32>k * LIST_ENTRY_BYTES;
  const m = hostMount();
  const fd = fsOpenWrite(m, chunkBuf, pathBytes(LIST_TMP_PATH), O_WRONLY | O_CREAT | O_TRUNC);
  if (fd < 0) return listFail(fd, "cannot be created");
  const w = fileWrite(m, fd, listBuf, total);
  const c = fileClose(m, fd);
  if (w < 0 || c < 0) { fsRemove(m, chunkBuf, pathBytes(LIST_TMP_PATH)); return listFail(w < 0 ? w : c, "cannot be written"); }
  const tl = pathBytes(LIST_TMP_PATH, 64);
  const pl = pathBytes(LIST_PATH);
  const r = fsRename(m, chunkBuf + 64, tl, chunkBuf, pl);
  if (r < 0) return listFail(r, "cannot be renamed into place");
  return 0;
}

function listFail(rc: i32, what: string): i32 {
  msgClear(); msgStr("installed-app list: the new list "); msgStr(what); msgStr(" on the data partition (littlefs error "); msgInt(rc);
  msgStr(rc == -ENOSPC ? "; the data partition is full)" : ")");
  return rc < 0 ? rc : -EIO;
}

// ---- delete, list, stream

/** Deletes entry `i`: the list is committed without it, then its app leaves the table and its package is unmounted. 0 or -errno. */
export function storeRemove(i: i32): i32 {
  if (!booted) return notBooted();
  if (i < 0 || i >= count) return failNum(-ENOENT, "installed-app list", "no entry ", i, "");
  const rc = writeList(count, i);
  if (rc < 0) return rc;
  const slot = ei32(i, E_APP_SLOT), mount = ei32(i, E_MOUNT);
  // The list no longer names it: its storage goes (what a power cut leaves, the next boot collects).
  const idp = entryAt(i) + E_COMPONENT_ID;
  storageErase(bswap<u64>(load<u64>(idp)), bswap<u64>(load<u64>(idp, 8)));
  if (slot >= 0 && appValid(slot)) appUninstall(slot);
  const mm = mount >= 0 ? mountAt(mount) : null;
  if (mm != null) fsRelease(changetype<Mount>(mm));
  for (let j = i; j < count - 1; j++) {
    memory.copy(entryAt(j), entryAt(j + 1), STORE_ENTRY_BYTES);
    memory.copy(measurements + <usize>(j * SHA256_DIGEST_BYTES), measurements + <usize>((j + 1) * SHA256_DIGEST_BYTES), SHA256_DIGEST_BYTES);
  }
  count--;
  return 0;
}

const guidScratch = memory.data(GUID_TEXT_BYTES, 4);
/** Is the 36-byte GUID text at p the ComponentId of an entry of the list? */
function isListed(p: usize): bool {
  for (let i = 0; i < count; i++) {
    const idp = entryAt(i) + E_COMPONENT_ID;
    guidWrite(guidScratch, bswap<u64>(load<u64>(idp)), bswap<u64>(load<u64>(idp, 8)));
    if (memory.compare(guidScratch, p, <usize>GUID_TEXT_BYTES) == 0) return true;
  }
  return false;
}

export function storeCount(): i32 { return booted ? count : notBooted(); }
export function storeEntryPtr(i: i32): usize { return entryAt(i); }
export function storeEntryValid(i: i32): bool { return booted && i >= 0 && i < count; }

/**
 * Up to `len` (at most FS_IO_CHUNK_BYTES) bytes of entry `i`'s EntryPoint module from byte
 * `offset`, read from its package's mount into chunkBuf: the count (0 at the end), or -errno.
 */
export function storeReadEntryPoint(i: i32, offset: i32, len: i32): i32 {
  if (!booted) return notBooted();
  if (i < 0 || i >= count) return failNum(-ENOENT, "installed-app list", "no entry ", i, "");
  if (offset < 0 || len < 0 || len > FS_IO_CHUNK_BYTES) return fail(-EINVAL, "read", "offset and length must be >= 0, the length at most 2048");
  const slot = ei32(i, E_APP_SLOT);
  const mm = mountAt(ei32(i, E_MOUNT));
  if (slot < 0 || mm == null) return fail(-ENOENT, "read", "the entry was not admitted");
  const m = changetype<Mount>(mm);
  const a = appAt(slot);
  memory.copy(chunkBuf, appEntryPtr(slot), <usize>a.entryLen);
  const fd = fsOpen(m, chunkBuf, <u32>a.entryLen, O_RDONLY);
  if (fd < 0) return failNum(fd, "image package: EntryPoint", "cannot be opened (littlefs error ", fd, ")");
  let r = fileSeek(m, fd, offset, 0);
  if (r >= 0) r = fileRead(m, fd, chunkBuf, <u32>len);
  fileClose(m, fd);
  if (r < 0) return failNum(r, "image package: EntryPoint", "cannot be read (littlefs error ", r, ")");
  return r;
}
export function storeChunkPtr(): usize { return chunkBuf; }

/** Entry `i`'s measurement (32 bytes; zero unless its package was verified and admitted). */
export function storeMeasurementPtr(i: i32): usize { return measurements + <usize>(i * SHA256_DIGEST_BYTES); }

/**
 * An attestation over the 32-byte nonce at `nonce`: the processor's statement with the boot
 * measurement first, then the measurement of each entry whose app is running, in list order.
 * As attestGate: -EINPROGRESS until it is answered, then its length (at attestPtr()) or -errno.
 */
export function storeAttest(nonce: usize): i32 {
  if (!booted) return notBooted();
  // The running entries' measurements go straight to where ATTEST's payload takes them.
  const list = attestMeasurementsPtr();
  let n = 0;
  for (let i = 0; i < count; i++) {
    const slot = ei32(i, E_APP_SLOT);
    if (slot < 0 || !appValid(slot) || appAt(slot).task == NO_TASK) continue;
    memory.copy(list + <usize>(n * SHA256_DIGEST_BYTES), storeMeasurementPtr(i), SHA256_DIGEST_BYTES);
    n++;
  }
  return attestGate(nonce, n);
}
