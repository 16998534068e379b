// drivers/storage: the storage syscalls (ABI.md "Storage"): an app's mutable files and its own
// package's files.
//
// What it is: a driver unit (unit.ts) owning SYS_STORAGE_* and SYS_PACKAGE_OPEN and handle kinds
// HANDLE_STORAGE and HANDLE_PACKAGE_FILE, whose object is a row of the open-file table
// (storage/open.ts). The calls themselves need littlefs and are attached at boot by the
// installed-app store (storage/files.ts); a core without a file system answers -ENODEV.
// Needs: MutableStorage for the calls that name a mutable file (open, delete, usage); the
// handle calls need only compute (the handle proves the grant); package_open needs nothing: an
// app may always read its own package.
// Fuel: SYSCALL_FUEL + STORAGE_OP_FUEL (a littlefs open, maybe a commit) + COPY_BYTE_FUEL per byte
// a read or write moved.
// Invariants: closing a handle frees its row; nothing littlefs holds outlives a call.
// Budget: no memory of its own (the open-file table is storage/open.ts's).
// Must not: touch littlefs itself.
import {
  SYS_STORAGE_OPEN, SYS_STORAGE_READ, SYS_STORAGE_WRITE, SYS_STORAGE_DELETE, SYS_STORAGE_USAGE, SYS_PACKAGE_OPEN,
  SYSCALL_FUEL, STORAGE_OP_FUEL, COPY_BYTE_FUEL,
} from "../abi";
import { CAP_COMPUTE, CAP_STORAGE } from "../lsm/caps";
import { storageCall, storageOpenFree } from "../storage/open";
import { OP_OWNS, OP_NEEDS, OP_CALL, OP_FUEL, OP_OWNS_KIND, OP_CLOSE } from "./unit";

export const HANDLE_STORAGE: i32 = 4;       // a mutable file (storage/open.ts row)
export const HANDLE_PACKAGE_FILE: i32 = 5;  // a file of the app's own package (storage/open.ts row)
export const KIND_STORAGE: i32 = 1 << HANDLE_STORAGE;
export const KIND_PACKAGE_FILE: i32 = 1 << HANDLE_PACKAGE_FILE;

// @ts-ignore: decorator
@inline export function storageOp(op: i32, task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  switch (op) {
    case OP_CALL: return storageCall(task, app, nr, a0, a1, a2);
    case OP_FUEL: {
      // a2 is what the call returned.
      const moved = (nr == SYS_STORAGE_READ || nr == SYS_STORAGE_WRITE) && a2 > 0 ? a2 : 0;
      return SYSCALL_FUEL + STORAGE_OP_FUEL + moved * COPY_BYTE_FUEL;
    }
    case OP_OWNS: return nr >= SYS_STORAGE_OPEN && nr <= SYS_PACKAGE_OPEN ? 1 : 0;
    case OP_NEEDS: return <i32>(nr == SYS_STORAGE_OPEN || nr == SYS_STORAGE_DELETE || nr == SYS_STORAGE_USAGE ? CAP_STORAGE : CAP_COMPUTE);
    case OP_OWNS_KIND: return a0 == HANDLE_STORAGE || a0 == HANDLE_PACKAGE_FILE ? 1 : 0;
    case OP_CLOSE: storageOpenFree(a1); return 0;
  }
  return 0;
}
