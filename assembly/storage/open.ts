// storage/open: the table of storage files apps hold open (mutable files and package files),
// and the one entry the syscall dispatcher calls for every storage syscall.
//
// What it is: STORAGE_OPEN_MAX rows {app, kind, position, mount, path}. A storage handle's
// object is a row index here; the row names the file by path, so nothing littlefs holds stays
// open between calls (each call opens, works and closes: a write is committed when it returns).
// The implementation (storage/files.ts) needs littlefs; it is attached by the installed-app store
// at boot (storageAttach), so a core without a file system (the no-fs variant) links none of it
// and every storage call there is -ENODEV.
// Invariants: a row is free iff its app is -1; each taken row is counted in its app's share of
// POOL_STORAGE (sched/share.ts), so no app can take every row; a row is freed only by closing
// the handle that names it (handles/table.ts).
// Budget: STORAGE_OPEN_TABLE_BYTES static bytes; no heap.
// Must not: allocate, or touch littlefs (files.ts does).
import { STORAGE_OPEN_MAX, STORAGE_PATH_MAX_BYTES, ENODEV, ENFILE } from "../abi";
import { POOL_STORAGE, shareAllows, shareTake, shareGive } from "../sched/share";

export const OPEN_MUTABLE: i32 = 1;
export const OPEN_PACKAGE: i32 = 2;

@unmanaged class OpenRow {
  app: i32;
  kind: i32;
  pos: i32;
  mount: i32;   // the package's mount slot (OPEN_PACKAGE), else 0
  pathLen: i32;
}
const ROW_HEAD: usize = 20;
const ROW_BYTES: usize = ROW_HEAD + <usize>STORAGE_PATH_MAX_BYTES + 12;
const rows = memory.data(<i32>(<usize>STORAGE_OPEN_MAX * ROW_BYTES), 8);
export const STORAGE_OPEN_TABLE_BYTES: i32 = <i32>(<usize>STORAGE_OPEN_MAX * ROW_BYTES);
let rowsInUse: i32 = 0;
let ready = false;

function rowAt(i: i32): OpenRow { return changetype<OpenRow>(rows + <usize>i * ROW_BYTES); }

function init(): void {
  if (ready) return;
  for (let i = 0; i < STORAGE_OPEN_MAX; i++) rowAt(i).app = -1;
  ready = true;
}

/** Frees every row (core reset). */
export function storageOpenReset(): void { ready = false; rowsInUse = 0; init(); }

/** A row for app `app`, its path copied from `path`: the row index, or -ENFILE (table or share full). */
export function storageOpenTake(app: i32, kind: i32, mount: i32, path: usize, pathLen: i32): i32 {
  init();
  if (pathLen < 0 || pathLen > STORAGE_PATH_MAX_BYTES + 12) return -ENFILE;
  if (!shareAllows(POOL_STORAGE, app, STORAGE_OPEN_MAX, rowsInUse)) return -ENFILE;
  for (let i = 0; i < STORAGE_OPEN_MAX; i++) {
    const r = rowAt(i);
    if (r.app != -1) continue;
    r.app = app; r.kind = kind; r.pos = 0; r.mount = mount; r.pathLen = pathLen;
    memory.copy(rows + <usize>i * ROW_BYTES + ROW_HEAD, path, <usize>pathLen);
    rowsInUse++;
    shareTake(POOL_STORAGE, app);
    return i;
  }
  return -ENFILE;
}

/** Gives row `i` back (its handle closed). */
export function storageOpenFree(i: i32): void {
  init();
  if (i < 0 || i >= STORAGE_OPEN_MAX) return;
  const r = rowAt(i);
  if (r.app == -1) return;
  shareGive(POOL_STORAGE, r.app);
  r.app = -1;
  rowsInUse--;
}

export function storageOpenKind(i: i32): i32 { return rowAt(i).kind; }
export function storageOpenPos(i: i32): i32 { return rowAt(i).pos; }
export function storageOpenSetPos(i: i32, pos: i32): void { rowAt(i).pos = pos; }
export function storageOpenMount(i: i32): i32 { return rowAt(i).mount; }
export function storageOpenPath(i: i32): usize { return rows + <usize>i * ROW_BYTES + ROW_HEAD; }
export function storageOpenPathLen(i: i32): i32 { return rowAt(i).pathLen; }
export function storageOpenRowsInUse(): i32 { return rowsInUse; }

// ---- the implementation, attached at boot

/** A storage syscall: (task, app, nr, a0, a1, a2) -> result or -errno. */
export type StorageCall = (task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32) => i32;
/** The bytes app slot `app`'s mutable files cost on flash, or -errno. */
export type StorageUsage = (app: i32) => i32;

function noStorageCall(task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32): i32 { return -ENODEV; }
function noStorageUsage(app: i32): i32 { return -ENODEV; }
let callImpl: StorageCall = noStorageCall;
let usageImpl: StorageUsage = noStorageUsage;

/** Attaches the implementation (storage/files.ts, once a data partition is mounted). */
export function storageAttachImpl(call: StorageCall, usage: StorageUsage): void { callImpl = call; usageImpl = usage; }

export function storageCall(task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32): i32 { return callImpl(task, app, nr, a0, a1, a2); }
export function storageUsage(app: i32): i32 { return usageImpl(app); }
