// flash/exports: the core's exports for formats that lie on raw flash (ABI.md, "Core exports";
// wit kernel's pkg-parse and ptable-parse): the image package parser and the partition table
// parser. Both read the device through hal.flash_read and return their result in the export
// return area (cabi.ts) in the canonical ABI's layout; the lists in it point into the static
// records below, valid until the next call into the core (as every list the core returns).
// Invariants: a refusal leaves the records below as the last accepted parse left them.
// Budget: PKG_INFO_BYTES + PTABLE_MAX_ENTRIES * PARTITION_ENTRY_BYTES static bytes; no heap.
// Must not: trap on any argument, or allocate.
import { PTABLE_MAX_ENTRIES } from "../abi";
import { exportRet, retErr, retList, retOk } from "../cabi";
import {
  pkgParse, PKG_INFO_BYTES, PKG_INFO_IMAGE_TYPE, PKG_INFO_COMPONENT_ID, PKG_INFO_IMAGE_ID, PKG_INFO_VERSION,
  PKG_INFO_BUILD_TIME, PKG_INFO_NAME_LEN, PKG_INFO_NAME, PKG_INFO_ABI_VERSION, PKG_INFO_FS_BLOCK_BYTES,
  PKG_INFO_FS_BLOCK_COUNT, PKG_INFO_FS_CRC, PKG_INFO_METADATA_OFFSET, PKG_INFO_METADATA_BYTES,
  PKG_INFO_SIG_ALGORITHM, PKG_INFO_SIG_KEY_ID, PKG_INFO_SIGNATURE, PKG_INFO_SIGNED_BYTES,
} from "../appmgr/imagepkg";
import { ptableParse, PARTITION_ENTRY_BYTES } from "./ptable";

/** The last accepted package's fields: what pkg-info's lists point into. */
const pkgInfo = memory.data(PKG_INFO_BYTES, 8);
/** The last accepted table's entries, as list<partition-entry> lays them out. */
const partitions = memory.data(PTABLE_MAX_ENTRIES * PARTITION_ENTRY_BYTES, 4);

/**
 * result<pkg-info, s32>. pkg-info holds a u64, so its alignment is 8 and the payload (ok or err)
 * starts at byte 8 of the return area; the record's fields lie at the offsets the canonical ABI gives
 * (u32 4-aligned, list<u8> a (ptr, len) pair, build-time at 24), 88 bytes in all.
 */
export function pkg_parse(flashBlockBytes: u32, firstBlock: u32, packageBytes: u32): usize {
  const rc = pkgParse(flashBlockBytes, firstBlock, packageBytes, pkgInfo);
  if (rc < 0) return retErr(rc, 8);
  const r = retOk() + 8;
  store<u32>(r, load<u32>(pkgInfo + PKG_INFO_IMAGE_TYPE));
  lowerBytes(r + 4, pkgInfo + PKG_INFO_COMPONENT_ID, 16);
  lowerBytes(r + 12, pkgInfo + PKG_INFO_IMAGE_ID, 16);
  store<u32>(r + 20, load<u32>(pkgInfo + PKG_INFO_VERSION));
  store<u64>(r + 24, load<u64>(pkgInfo + PKG_INFO_BUILD_TIME));
  lowerBytes(r + 32, pkgInfo + PKG_INFO_NAME, load<u32>(pkgInfo + PKG_INFO_NAME_LEN));
  store<u32>(r + 40, load<u32>(pkgInfo + PKG_INFO_ABI_VERSION));
  store<u32>(r + 44, load<u32>(pkgInfo + PKG_INFO_FS_BLOCK_BYTES));
  store<u32>(r + 48, load<u32>(pkgInfo + PKG_INFO_FS_BLOCK_COUNT));
  store<u32>(r + 52, load<u32>(pkgInfo + PKG_INFO_FS_CRC));
  store<u32>(r + 56, load<u32>(pkgInfo + PKG_INFO_METADATA_OFFSET));
  store<u32>(r + 60, load<u32>(pkgInfo + PKG_INFO_METADATA_BYTES));
  store<u32>(r + 64, load<u32>(pkgInfo + PKG_INFO_SIG_ALGORITHM));
  lowerBytes(r + 68, pkgInfo + PKG_INFO_SIG_KEY_ID, 16);
  lowerBytes(r + 76, pkgInfo + PKG_INFO_SIGNATURE, 64);
  store<u32>(r + 84, load<u32>(pkgInfo + PKG_INFO_SIGNED_BYTES));
  return exportRet;
}

/** A list<u8> field: (ptr, len). */
function lowerBytes(at: usize, ptr: usize, len: u32): void {
  store<u32>(at, <u32>ptr);
  store<u32>(at + 4, len);
}

/** result<list<partition-entry>, s32>. */
export function ptable_parse(eraseBlockBytes: u32, blockCount: u32): usize {
  const n = ptableParse(eraseBlockBytes, blockCount, partitions);
  return n < 0 ? retErr(n) : retList(partitions, n);
}
