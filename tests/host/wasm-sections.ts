// Reads a Wasm binary section by section, for the tests that check what a build really holds
// (signatures, data layout) where Node's WebAssembly.Module reflection stops (no types, no data).
// Only what those tests need: LEB128 integers, names, and the sections' ids and bounds.

/** A cursor over a module's bytes. */
export class WasmReader {
  constructor(readonly bytes: Uint8Array, public pos = 0) {}
  byte(): number { return this.bytes[this.pos++]; }
  /** An unsigned LEB128 (u32). */
  u32(): number {
    let r = 0, shift = 0, b;
    do { b = this.bytes[this.pos++]; r |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80);
    return r >>> 0;
  }
  /** A signed LEB128 (an i32.const immediate). */
  s32(): number {
    let r = 0, shift = 0, b;
    do { b = this.bytes[this.pos++]; r |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80);
    return shift < 32 && (b & 0x40) ? r | (-1 << shift) : r | 0;
  }
  name(): string {
    const n = this.u32();
    const text = new TextDecoder().decode(this.bytes.subarray(this.pos, this.pos + n));
    this.pos += n;
    return text;
  }
}

/** Each section of a module: its id and a reader at the start of its body, which ends at `end`. */
export function* sections(bytes: Uint8Array): Generator<{ id: number; body: WasmReader; end: number }> {
  const r = new WasmReader(bytes, 8);
  while (r.pos < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    yield { id, body: new WasmReader(bytes, r.pos), end };
    r.pos = end;
  }
}
