// imagepkg: the image package parser (SPEC.md, "Image packages").
//
// What it is: the core's reader of a package as it lies on flash: a littlefs image, then a
// metadata section (header, typed sections), then a 16-byte trailer that says where the
// metadata starts. It finds the trailer from the package's end, checks the metadata's CRC, walks
// the sections, checks each field, then reads the whole littlefs image once to check its CRC.
// The result goes to the caller's buffer as the fixed PKG_INFO_* record below, which holds the
// bytes of wit kernel's pkg-info (flash/exports.ts lays that record out over it); nothing is
// kept here between calls.
// Invariants: every byte read lies inside [0, packageBytes) of the package; every length read
// from the package is checked against what holds it before it is used; a refusal writes nothing
// to the result and leaves a message that starts with the part at fault ("trailer: ...",
// "IDENTITY section: ...", "littlefs image: ...").
// Budget: PKG_STATIC_BYTES static bytes (the metadata and a read chunk); no heap.
// Must not: allocate, trap on any input, or read the image more than once.
import {
  EINVAL, EFBIG, ECORRUPT, EIO, CORE_VERSION_MAJOR, CORE_VERSION_MINOR,
  PKG_MAX_BYTES, PKG_METADATA_MAX_BYTES, PKG_TRAILER_BYTES, PKG_FORMAT_VERSION, PKG_IMAGE_TYPE_APPLICATION,
  PKG_ABI_APPLIBS, PKG_SIG_NONE, PKG_SIG_ECDSA_P256_SHA256, APP_NAME_MAX_BYTES,
} from "../abi";
import { msgClear, msgStr, msgInt, msgFail, msgFailNum } from "../util/msg";
import { crc32 } from "../fs/crc";
import { flashReadBytes, isPow2In } from "../flash/read";

// Magics, as the four bytes read little-endian: "WSPM" opens the metadata, "WSPK" ends the file.
const META_MAGIC: u32 = 0x4d505357;
const TRAILER_MAGIC: u32 = 0x4b505357;
const META_HEADER_BYTES: u32 = 16;
const SECTION_HEADER_BYTES: u32 = 8;

// Section types; each appears exactly once, SIGNATURE last.
const SEC_IDENTITY: u32 = 1;
const SEC_VERSION: u32 = 2;
const SEC_DEBUG: u32 = 3;
const SEC_ABI: u32 = 4;
const SEC_FILESYSTEM: u32 = 5;
const SEC_SIGNATURE: u32 = 6;
const SEC_COUNT: u32 = 6;

const IDENTITY_BYTES: u32 = 36;
const VERSION_BYTES: u32 = 4;
const DEBUG_FIXED_BYTES: u32 = 12;
const ABI_ENTRY_BYTES: u32 = 8;
const ABI_MAX_ENTRIES: u32 = 4;
const FILESYSTEM_BYTES: u32 = 16;
const SIGNATURE_BYTES: u32 = 84;
const FS_FLAG_READ_ONLY: u32 = 1;
const FS_MIN_BLOCK_BYTES: u32 = 128;
const FS_MAX_BLOCK_BYTES: u32 = 4096;

// The PKG_INFO_* record: byte offsets of each field (u32 unless named; ids and key id 16 bytes,
// the name APP_NAME_MAX_BYTES with its length before it, the signature 64 bytes). Internal to the
// core: the host gets pkg-info, whose lists point into such a record.
export const PKG_INFO_IMAGE_TYPE = 0;
export const PKG_INFO_COMPONENT_ID = 4;
export const PKG_INFO_IMAGE_ID = 20;
export const PKG_INFO_VERSION = 36;
export const PKG_INFO_BUILD_TIME = 40; // u64
export const PKG_INFO_NAME_LEN = 48;
export const PKG_INFO_NAME = 52;
export const PKG_INFO_ABI_VERSION = 116;
export const PKG_INFO_FS_BLOCK_BYTES = 120;
export const PKG_INFO_FS_BLOCK_COUNT = 124;
export const PKG_INFO_FS_CRC = 128;
export const PKG_INFO_METADATA_OFFSET = 132;
export const PKG_INFO_METADATA_BYTES = 136;
export const PKG_INFO_SIG_ALGORITHM = 140;
export const PKG_INFO_SIG_KEY_ID = 144;
export const PKG_INFO_SIGNATURE = 160;
export const PKG_INFO_SIGNED_BYTES = 224;
export const PKG_INFO_BYTES = 228;

const CHUNK_BYTES: u32 = 256;
const metaBuf = memory.data(PKG_METADATA_MAX_BYTES + PKG_TRAILER_BYTES, 8);
const chunkBuf = memory.data(CHUNK_BYTES, 8);
const recBuf = memory.data(PKG_INFO_BYTES, 8);
export const PKG_STATIC_BYTES: i32 = PKG_METADATA_MAX_BYTES + PKG_TRAILER_BYTES + CHUNK_BYTES + PKG_INFO_BYTES;

/** CRC-32 as zlib computes it (reflected 0xEDB88320, init and final XOR 0xffffffff). */
function zlibCrc(ptr: usize, len: u32): u32 { return ~crc32(0xffffffff, ptr, len); }

function fail(code: i32, part: string, what: string): i32 { return msgFail(code, "image package", part, what); }
function failNum(code: i32, part: string, what: string, value: i64, rest: string): i32 {
  return msgFailNum(code, "image package", part, what, value, rest);
}

function sectionName(type: u32): string {
  switch (type) {
    case SEC_IDENTITY: return "IDENTITY section";
    case SEC_VERSION: return "VERSION section";
    case SEC_DEBUG: return "DEBUG section";
    case SEC_ABI: return "ABI section";
    case SEC_FILESYSTEM: return "FILESYSTEM section";
    case SEC_SIGNATURE: return "SIGNATURE section";
  }
  return "section";
}

function allZero(ptr: usize, len: u32): bool {
  for (let i: u32 = 0; i < len; i++) if (load<u8>(ptr + <usize>i) != 0) return false;
  return true;
}

/** Checks one section's payload (at p, len bytes) and records it in the result at `out`. */
function checkSection(type: u32, p: usize, len: u32, out: usize): i32 {
  const part = sectionName(type);
  switch (type) {
    case SEC_IDENTITY: {
      if (len != IDENTITY_BYTES) return failNum(EINVAL, part, "is ", len, " bytes; it must be 36");
      const imageType = load<u32>(p);
      if (imageType != PKG_IMAGE_TYPE_APPLICATION) return failNum(EINVAL, part, "image type ", imageType, " is not an application (10)");
      if (allZero(p + 4, 16)) return fail(EINVAL, part, "the ComponentId is all zeros");
      if (allZero(p + 20, 16)) return fail(EINVAL, part, "the ImageId is all zeros");
      store<u32>(out + PKG_INFO_IMAGE_TYPE, imageType);
      memory.copy(out + PKG_INFO_COMPONENT_ID, p + 4, 16);
      memory.copy(out + PKG_INFO_IMAGE_ID, p + 20, 16);
      return 0;
    }
    case SEC_VERSION: {
      if (len != VERSION_BYTES) return failNum(EINVAL, part, "is ", len, " bytes; it must be 4");
      const version = load<u32>(p);
      if (version == 0) return fail(EINVAL, part, "the image version is 0; versions start at 1");
      store<u32>(out + PKG_INFO_VERSION, version);
      return 0;
    }
    case SEC_DEBUG: {
      if (len < DEBUG_FIXED_BYTES) return failNum(EINVAL, part, "is ", len, " bytes; it needs at least 12");
      const nameLen = load<u32>(p + 8);
      if (nameLen == 0 || nameLen > <u32>APP_NAME_MAX_BYTES) return failNum(EINVAL, part, "the name is ", nameLen, " bytes; it must be 1 to 64");
      if (len != DEBUG_FIXED_BYTES + nameLen) return failNum(EINVAL, part, "is ", len, " bytes; it must be 12 plus the name's length");
      for (let i: u32 = 0; i < nameLen; i++) {
        const b = <u32>load<u8>(p + 12 + <usize>i);
        if (b < 0x20 || b == 0x7f) return failNum(EINVAL, part, "the name holds a control character at byte ", i, "");
      }
      store<u64>(out + PKG_INFO_BUILD_TIME, load<u64>(p));
      store<u32>(out + PKG_INFO_NAME_LEN, nameLen);
      memory.copy(out + PKG_INFO_NAME, p + 12, nameLen);
      return 0;
    }
    case SEC_ABI: {
      if (len < 4) return failNum(EINVAL, part, "is ", len, " bytes; it needs at least 4");
      const count = load<u32>(p);
      if (count == 0 || count > ABI_MAX_ENTRIES) return failNum(EINVAL, part, "lists ", count, " ABIs; it must list 1 to 4");
      if (len != 4 + count * ABI_ENTRY_BYTES) return failNum(EINVAL, part, "is ", len, " bytes; it must be 4 plus 8 per ABI");
      let applibs: u32 = 0;
      for (let i: u32 = 0; i < count; i++) {
        const id = load<u32>(p + 4 + <usize>(i * ABI_ENTRY_BYTES));
        const version = load<u32>(p + 8 + <usize>(i * ABI_ENTRY_BYTES));
        if (id != PKG_ABI_APPLIBS) return failNum(EINVAL, part, "ABI id ", id, " is unknown (1 is applibs)");
        if (applibs != 0) return fail(EINVAL, part, "lists applibs twice");
        if (version == 0 || (version & 0xff) != 0) return failNum(EINVAL, part, "applibs version ", version, " is not major<<16 | minor<<8");
        const major = version >>> 16;
        const minor = (version >>> 8) & 0xff;
        if (major != <u32>CORE_VERSION_MAJOR || minor > <u32>CORE_VERSION_MINOR) {
          fail(EINVAL, part, "the app needs applibs ");
          msgInt(major); msgStr("."); msgInt(minor);
          msgStr("; this core provides "); msgInt(CORE_VERSION_MAJOR); msgStr("."); msgInt(CORE_VERSION_MINOR);
          return -EINVAL;
        }
        applibs = version;
      }
      store<u32>(out + PKG_INFO_ABI_VERSION, applibs);
      return 0;
    }
    case SEC_FILESYSTEM: {
      if (len != FILESYSTEM_BYTES) return failNum(EINVAL, part, "is ", len, " bytes; it must be 16");
      const bs = load<u32>(p);
      const count = load<u32>(p + 4);
      if (!isPow2In(bs, FS_MIN_BLOCK_BYTES, FS_MAX_BLOCK_BYTES)) return failNum(EINVAL, part, "block size ", bs, " is not a power of two from 128 to 4096");
      if (count < 2) return failNum(EINVAL, part, "block count ", count, " is below littlefs's 2");
      if (load<u32>(p + 12) != FS_FLAG_READ_ONLY) return failNum(EINVAL, part, "flags ", load<u32>(p + 12), " must be 1 (read-only)");
      store<u32>(out + PKG_INFO_FS_BLOCK_BYTES, bs);
      store<u32>(out + PKG_INFO_FS_BLOCK_COUNT, count);
      store<u32>(out + PKG_INFO_FS_CRC, load<u32>(p + 8));
      return 0;
    }
    case SEC_SIGNATURE: {
      if (len != SIGNATURE_BYTES) return failNum(EINVAL, part, "is ", len, " bytes; it must be 84");
      const alg = <u32>load<u16>(p);
      if (load<u16>(p + 2) != 0) return fail(EINVAL, part, "reserved bytes 2..3 are not zero");
      if (alg == PKG_SIG_NONE) {
        if (!allZero(p + 4, 80)) return fail(EINVAL, part, "unsigned (algorithm 0) but the key id or signature is not zero");
      } else if (alg != PKG_SIG_ECDSA_P256_SHA256) {
        return failNum(EINVAL, part, "algorithm ", alg, " is unknown (0 unsigned, 1 ECDSA P-256 SHA-256)");
      }
      store<u32>(out + PKG_INFO_SIG_ALGORITHM, alg);
      memory.copy(out + PKG_INFO_SIG_KEY_ID, p + 4, 16);
      memory.copy(out + PKG_INFO_SIGNATURE, p + 20, 64);
      return 0;
    }
  }
  return failNum(EINVAL, "metadata", "unknown section type ", type, "");
}

/**
 * Parses the package of `packageBytes` bytes that starts at block `firstBlock` of the flash
 * (erase blocks of `flashBlockBytes`). On success writes the PKG_INFO_* record (PKG_INFO_BYTES)
 * at `out` and returns 0; otherwise -EINVAL (malformed), -EFBIG (too large), -ECORRUPT (a CRC
 * does not match) or -EIO (the flash could not be read), with a message naming the part.
 */
export function pkgParse(flashBlockBytes: u32, firstBlock: u32, packageBytes: u32, out: usize): i32 {
  if (!isPow2In(flashBlockBytes, 128, 65536)) return failNum(EINVAL, "flash", "block size ", flashBlockBytes, " is not a power of two from 128 to 65536");
  if (packageBytes > <u32>PKG_MAX_BYTES) return failNum(EFBIG, "package", "is ", packageBytes, " bytes; the limit is 2097152");
  const base = <u64>firstBlock * <u64>flashBlockBytes;
  const minBytes = FS_MIN_BLOCK_BYTES * 2 + META_HEADER_BYTES + <u32>PKG_TRAILER_BYTES;
  if (packageBytes < minBytes) return failNum(EINVAL, "package", "is ", packageBytes, " bytes; too short to hold a littlefs image, metadata and trailer (truncated?)");

  // The trailer: where the metadata starts and how long it is.
  const trailer = metaBuf + PKG_METADATA_MAX_BYTES;
  if (flashReadBytes(flashBlockBytes, base + <u64>(packageBytes - PKG_TRAILER_BYTES), trailer, PKG_TRAILER_BYTES) != 0) return fail(EIO, "trailer", "cannot be read from flash");
  if (load<u32>(trailer + 12) != TRAILER_MAGIC) return fail(EINVAL, "trailer", "bad magic (not an image package, or truncated)");
  const metaOffset = load<u32>(trailer);
  const metaBytes = load<u32>(trailer + 4);
  if (metaBytes < META_HEADER_BYTES || metaBytes > <u32>PKG_METADATA_MAX_BYTES) return failNum(EINVAL, "trailer", "metadata length ", metaBytes, " is outside 16..1024");
  if (<u64>metaOffset + <u64>metaBytes + <u64>PKG_TRAILER_BYTES != <u64>packageBytes) {
    return failNum(EINVAL, "trailer", "metadata at ", metaOffset, " does not end where the trailer starts (truncated or padded)");
  }
  if (flashReadBytes(flashBlockBytes, base + <u64>metaOffset, metaBuf, metaBytes) != 0) return fail(EIO, "metadata", "cannot be read from flash");
  if (zlibCrc(metaBuf, metaBytes) != load<u32>(trailer + 8)) return fail(ECORRUPT, "metadata", "CRC-32 does not match the trailer's");

  // The metadata header.
  if (load<u32>(metaBuf) != META_MAGIC) return fail(EINVAL, "metadata", "bad magic");
  const formatVersion = <u32>load<u16>(metaBuf + 4);
  if (formatVersion != PKG_FORMAT_VERSION) return failNum(EINVAL, "metadata", "format version ", formatVersion, " is not 1");
  const sectionCount = <u32>load<u16>(metaBuf + 6);
  if (sectionCount != SEC_COUNT) return failNum(EINVAL, "metadata", "holds ", sectionCount, " sections; format 1 has 6");
  if (load<u32>(metaBuf + 8) != metaBytes) return fail(EINVAL, "metadata", "header length does not match the trailer's");
  if (load<u32>(metaBuf + 12) != 0) return fail(EINVAL, "metadata", "reserved header bytes are not zero");

  // The sections: walked into a scratch record, copied out only when the whole package passed.
  const rec = recBuf;
  memory.fill(rec, 0, <usize>PKG_INFO_BYTES);
  let seen: u32 = 0;
  let at: u32 = META_HEADER_BYTES;
  let signatureAt: u32 = 0;
  for (let i: u32 = 0; i < sectionCount; i++) {
    if (at + SECTION_HEADER_BYTES > metaBytes) return failNum(EINVAL, "metadata", "section ", i, " header runs past the metadata");
    const type = <u32>load<u16>(metaBuf + <usize>at);
    const flags = <u32>load<u16>(metaBuf + <usize>at + 2);
    const len = load<u32>(metaBuf + <usize>at + 4);
    if (type == 0 || type > SEC_COUNT) return failNum(EINVAL, "metadata", "unknown section type ", type, "");
    const part = sectionName(type);
    if ((seen & (1 << type)) != 0) return fail(EINVAL, part, "appears twice");
    seen |= 1 << type;
    if (flags != 0) return fail(EINVAL, part, "flags are not zero");
    const padded = <u64>len + 3 & ~(<u64>3);
    if (<u64>at + <u64>SECTION_HEADER_BYTES + padded > <u64>metaBytes) return fail(EINVAL, part, "runs past the end of the metadata");
    if (type == SEC_SIGNATURE) {
      if (i != sectionCount - 1) return fail(EINVAL, part, "is not the last section");
      signatureAt = at;
    }
    const payload = metaBuf + <usize>at + SECTION_HEADER_BYTES;
    const r = checkSection(type, payload, len, rec);
    if (r < 0) return r;
    if (!allZero(payload + <usize>len, <u32>padded - len)) return fail(EINVAL, part, "padding is not zero");
    at += SECTION_HEADER_BYTES + <u32>padded;
  }
  if (at != metaBytes) return failNum(EINVAL, "metadata", "has ", metaBytes - at, " bytes after the last section");

  // The littlefs image: exactly the bytes before the metadata, CRC as recorded.
  const fsBlockBytes = load<u32>(rec + PKG_INFO_FS_BLOCK_BYTES);
  const fsBlockCount = load<u32>(rec + PKG_INFO_FS_BLOCK_COUNT);
  if (<u64>fsBlockBytes * <u64>fsBlockCount != <u64>metaOffset) {
    return failNum(EINVAL, "FILESYSTEM section", "littlefs image of ", <i64>fsBlockBytes * <i64>fsBlockCount, " bytes does not end where the metadata starts");
  }
  const wantCrc = load<u32>(rec + PKG_INFO_FS_CRC);
  store<u32>(rec + PKG_INFO_METADATA_OFFSET, metaOffset);
  store<u32>(rec + PKG_INFO_METADATA_BYTES, metaBytes);
  store<u32>(rec + PKG_INFO_SIGNED_BYTES, metaOffset + signatureAt);
  let crc: u32 = 0xffffffff;
  for (let done: u32 = 0; done < metaOffset; done += CHUNK_BYTES) {
    const n = metaOffset - done < CHUNK_BYTES ? metaOffset - done : CHUNK_BYTES;
    if (flashReadBytes(flashBlockBytes, base + <u64>done, chunkBuf, n) != 0) return fail(EIO, "littlefs image", "cannot be read from flash");
    crc = crc32(crc, chunkBuf, n);
  }
  if (~crc != wantCrc) return fail(ECORRUPT, "littlefs image", "CRC-32 does not match the FILESYSTEM section's (damaged)");
  memory.copy(out, rec, <usize>PKG_INFO_BYTES);
  msgClear();
  return 0;
}
