// flash/exports: the core's exports for formats that lie on raw flash (ABI.md, "Core exports"):
// the image package parser and the partition table parser. Both read the device through
// hal.flash_read and write their result at the start of the core's I/O buffer.
// Must not: trap on any argument, or allocate.
import { EINVAL } from "../abi";
import { ioBufferPtr } from "../util/io";
import { pkgParse } from "../appmgr/imagepkg";
import { ptableParse } from "./ptable";

export function pkg_parse(flashBlockBytes: i32, firstBlock: i32, packageBytes: i32): i32 {
  if (flashBlockBytes <= 0 || firstBlock < 0 || packageBytes < 0) return -EINVAL;
  return pkgParse(<u32>flashBlockBytes, <u32>firstBlock, <u32>packageBytes, ioBufferPtr());
}

export function ptable_parse(eraseBlockBytes: i32, blockCount: i32): i32 {
  if (eraseBlockBytes <= 0 || blockCount <= 0) return -EINVAL;
  return ptableParse(<u32>eraseBlockBytes, <u32>blockCount, ioBufferPtr());
}
