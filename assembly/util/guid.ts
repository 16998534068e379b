// guid: a ComponentId as text, 8-4-4-4-12 hex: written into core memory (lowercase) and read
// back from it (either case).
//
// Budget: no state. Must not: write more than GUID_TEXT_BYTES bytes, or read past them.

export const GUID_TEXT_BYTES: i32 = 36;

function hexDigit(v: i32): u8 { return <u8>(v < 10 ? 0x30 + v : 0x61 + v - 10); }

function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/**
 * Reads the GUID_TEXT_BYTES of 8-4-4-4-12 hex at `src` into (hi, lo), its 16 bytes big-endian:
 * hi as a u64 at `out`, lo at `out + 8`. False, with `out` untouched, when they are not a GUID.
 */
export function guidParse(src: usize, out: usize): bool {
  let hi: u64 = 0, lo: u64 = 0;
  let digits = 0;
  for (let i = 0; i < GUID_TEXT_BYTES; i++) {
    const c = <i32>load<u8>(src + <usize>i);
    if (i == 8 || i == 13 || i == 18 || i == 23) { if (c != 0x2d) return false; continue; }
    const h = hexValue(c);
    if (h < 0) return false;
    if (digits < 16) hi = (hi << 4) | <u64>h; else lo = (lo << 4) | <u64>h;
    digits++;
  }
  store<u64>(out, hi);
  store<u64>(out, lo, 8);
  return true;
}

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
