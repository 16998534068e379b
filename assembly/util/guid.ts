// guid: a ComponentId as text, 8-4-4-4-12 lowercase hex, written into core memory.
//
// Budget: no state. Must not: write more than GUID_TEXT_BYTES bytes.

export const GUID_TEXT_BYTES: i32 = 36;

function hexDigit(v: i32): u8 { return <u8>(v < 10 ? 0x30 + v : 0x61 + v - 10); }

/** Writes the GUID (hi, lo: its 16 bytes big-endian) at dst; returns GUID_TEXT_BYTES. */
export function guidWrite(dst: usize, hi: u64, lo: u64): i32 {
  let out = dst;
  for (let i = 0; i < 32; i++) {
    if (i == 8 || i == 12 || i == 16 || i == 20) { store<u8>(out, 0x2d); out++; }
    const word = i < 16 ? hi : lo;
    const shift = <u64>(60 - (i & 15) * 4);
    store<u8>(out, hexDigit(<i32>((word >> shift) & 0xf)));
    out++;
  }
  return GUID_TEXT_BYTES;
}
