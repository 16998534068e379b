// flash/read: bounded byte reads of the raw flash device, for the parsers of formats that sit on
// flash outside any file system (the partition table, image packages).
//
// The hal addresses flash as (block, offset, length) inside one erase block; this turns a byte
// range of the device into such reads, split at block boundaries, so a parser can read a range
// that spans blocks without knowing the geometry.
// Invariants: nothing is read outside [0, blockBytes * 2^31) nor into more than `len` bytes at dst.
// Budget: no state, no heap.
// Must not: trap on any range (a failed or refused read is -EIO), or write flash.
import { flash_read } from "../hal/index";
import { EIO } from "../abi";

/** True when `bytes` is a power of two in [min, max]. */
export function isPow2In(bytes: u32, min: u32, max: u32): bool {
  return bytes >= min && bytes <= max && (bytes & (bytes - 1)) == 0;
}

/**
 * Reads `len` bytes at byte `offset` of the device whose erase blocks are `blockBytes` (a power
 * of two) into `dst`. 0, or -EIO when the host refused a part of it.
 */
export function flashReadBytes(blockBytes: u32, offset: u64, dst: usize, len: u32): i32 {
  let done: u32 = 0;
  while (done < len) {
    const at = offset + <u64>done;
    const block = at / <u64>blockBytes;
    if (block > <u64>i32.MAX_VALUE) return -EIO;
    const off = <u32>(at % <u64>blockBytes);
    let n = blockBytes - off;
    if (n > len - done) n = len - done;
    if (flash_read(<u32>block, off, dst + <usize>done, n) != 0) return -EIO;
    done += n;
  }
  return 0;
}
