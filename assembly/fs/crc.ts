// fs/crc: the CRC-32 littlefs puts on every metadata commit.
//
// Polynomial 0x04C11DB7 in reflected form (0xEDB88320), initial value 0xffffffff and no final
// XOR: littlefs chains CRCs across commits, so the raw register is what goes on disk.
// Invariants: the table is built once, on first use, and never changes.
// Budget: 1 KiB static table.
// Must not: allocate, or depend on anything but memory it is given.

const table: usize = memory.data(1024, 4);
let tableReady = false;

function buildTable(): void {
  for (let n: u32 = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = (c & 1) ? (0xedb88320 ^ (c >>> 1)) : (c >>> 1);
    store<u32>(table + (<usize>n << 2), c);
  }
  tableReady = true;
}

/** Continues `crc` over `len` bytes at `ptr`. */
export function crc32(crc: u32, ptr: usize, len: usize): u32 {
  if (!tableReady) buildTable();
  for (let i: usize = 0; i < len; i++) {
    // index < 256: the xor of two bytes masked to 8 bits
    const idx = <usize>((crc ^ <u32>load<u8>(ptr + i)) & 0xff);
    crc = load<u32>(table + (idx << 2)) ^ (crc >>> 8);
  }
  return crc;
}

/** Continues `crc` over the 4 little-endian bytes of `v`. */
export function crc32u32(crc: u32, v: u32): u32 {
  if (!tableReady) buildTable();
  for (let i = 0; i < 4; i++) {
    const idx = <usize>((crc ^ (v >>> (<u32>i << 3))) & 0xff);
    crc = load<u32>(table + (idx << 2)) ^ (crc >>> 8);
  }
  return crc;
}
