// appmgr/store-exports: the installed-app list's exports (ABI.md, "File-system exports", fs-store-*;
// wit fs), lowered by the canonical ABI. The policy is appmgr/store's; this file only
// checks what the host passed and lays out results.
// Invariants: a list the host passed is used only when it lies in the cabi arena, and the arena is
// reset on every return of the export that took it; a list returned points into store's static
// records, valid until the next call into the core.
// Budget: none of its own. Must not: trap on any argument.
import { EINVAL, ENOENT, FS_IO_CHUNK_BYTES, ATTEST_NONCE_BYTES } from "../abi";
import { arenaHolds, arenaReset, retErr, retList } from "../cabi";
import { msgClear, msgStr } from "../util/msg";
import {
  storeBoot, storeActivate, storeDeployBegin, storeDeployWrite, storeDeployCommit, storeRemove, storeCount,
  storeEntryPtr, storeEntryValid, storeReadEntryPoint, storeChunkPtr, storeAttest, STORE_ENTRY_BYTES,
} from "./store";
import { attestPtr } from "./verify";

export function fs_store_boot(eraseBlockBytes: i32, blockCount: i32): i32 {
  if (eraseBlockBytes <= 0 || blockCount <= 0) return -EINVAL;
  return storeBoot(<u32>eraseBlockBytes, <u32>blockCount);
}
export function fs_store_count(): i32 { return storeCount(); }
export function fs_store_activate(entry: i32): i32 { return storeActivate(entry); }
/** result<list<u8>, s32>: entry `entry`'s STORE_ENTRY_BYTES record (SPEC.md, "Installed-app list"). */
export function fs_store_entry(entry: i32): usize {
  if (!storeEntryValid(entry)) { msgClear(); msgStr("installed-app list: no such entry"); return retErr(-ENOENT); }
  return retList(storeEntryPtr(entry), <i32>STORE_ENTRY_BYTES);
}
export function fs_store_deploy_begin(packageBytes: i32): i32 { return storeDeployBegin(packageBytes); }
export function fs_store_deploy_write(dataPtr: usize, dataLen: i32): i32 {
  if (dataLen < 0 || dataLen > FS_IO_CHUNK_BYTES || !arenaHolds(dataPtr, dataLen)) { arenaReset(); return -EINVAL; }
  const rc = storeDeployWrite(dataPtr, <u32>dataLen);
  arenaReset();
  return rc;
}
export function fs_store_deploy_commit(): i32 { return storeDeployCommit(); }
export function fs_store_remove(entry: i32): i32 { return storeRemove(entry); }
/** result<list<u8>, s32>: up to `len` bytes of the entry's EntryPoint module from `offset` (empty at its end). */
export function fs_store_read_entry_point(entry: i32, offset: i32, len: i32): usize {
  const n = storeReadEntryPoint(entry, offset, len);
  return n < 0 ? retErr(n) : retList(storeChunkPtr(), n);
}
/**
 * result<list<u8>, s32>: the security processor's attestation over a 32-byte nonce, with the boot
 * measurement and each running package's (SPEC.md, "Attestation"): err -EINPROGRESS until the
 * mailbox answered, then the statement and its signature once; -EINVAL for another nonce length.
 */
export function fs_store_attest(noncePtr: usize, nonceLen: i32): usize {
  if (nonceLen != ATTEST_NONCE_BYTES || !arenaHolds(noncePtr, nonceLen)) { arenaReset(); return retErr(-EINVAL); }
  const n = storeAttest(noncePtr);
  arenaReset();
  return n < 0 ? retErr(n) : retList(attestPtr(), n);
}
