// fs/crc: the CRC-32 littlefs puts on every metadata commit.
//
// Polynomial 0x04C11DB7 in reflected form (0xEDB88320), initial value 0xffffffff and no final
// XOR: littlefs chains CRCs across commits, so the raw register is what goes on disk.
// A nibble at a time, from a 16-entry table (64 B) instead of a byte at a time from a 256-entry
// one (1,024 B): measured on V8, 1 MiB of CRC took about 20 ms instead of 11-15 ms, and only
// metadata (commits, a fetch's log parse) is CRCed, never file data.
// Invariants: the table is constant data.
// Budget: 64 B static table.
// Must not: allocate, or depend on anything but memory it is given.

/** Entry n: the CRC register after shifting nibble n through four steps of the polynomial. */
const nibbleTable: usize = memory.data<u32>([
  0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac,
  0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
  0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
  0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
]);
export const CRC_TABLE_BYTES: u32 = 64;

@inline function crcNibbles(crc: u32, byte: u32): u32 {
  crc ^= byte;
  // index < 16: masked to four bits
  crc = (crc >>> 4) ^ load<u32>(nibbleTable + (<usize>(crc & 15) << 2));
  return (crc >>> 4) ^ load<u32>(nibbleTable + (<usize>(crc & 15) << 2));
}

/** Continues `crc` over `len` bytes at `ptr`. */
export function crc32(crc: u32, ptr: usize, len: usize): u32 {
  for (let i: usize = 0; i < len; i++) crc = crcNibbles(crc, <u32>load<u8>(ptr + i));
  return crc;
}

/** Continues `crc` over the 4 little-endian bytes of `v`. */
export function crc32u32(crc: u32, v: u32): u32 {
  for (let i: u32 = 0; i < 4; i++) crc = crcNibbles(crc, (v >>> (i << 3)) & 0xff);
  return crc;
}
