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

export interface Signature { params: string[]; results: string[] }
export const sigText = (s: Signature) => `(${s.params.join(", ")}) -> ${s.results.join(", ") || "void"}`;

/** The function signature of every import and export of a module, from its type, import, function and export sections. */
export function binarySignatures(bytes: Uint8Array): { imports: Map<string, Signature>; importModules: Map<string, string>; exports: Map<string, Signature> } {
  const VAL: Record<number, string> = { 0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64" };
  const types: Signature[] = [];
  const funcTypes: number[] = [];
  const imports = new Map<string, Signature>();
  const importModules = new Map<string, string>();
  const exports = new Map<string, Signature>();
  for (const { id, body: r } of sections(bytes)) {
    if (id === 1) {
      for (let n = r.u32(); n > 0; n--) {
        if (r.byte() !== 0x60) throw new Error("type section: not a function type");
        const params = Array.from({ length: r.u32() }, () => VAL[r.byte()]);
        const results = Array.from({ length: r.u32() }, () => VAL[r.byte()]);
        types.push({ params, results });
      }
    } else if (id === 2) {
      for (let n = r.u32(); n > 0; n--) {
        const mod = r.name(), field = r.name(), kind = r.byte();
        if (kind !== 0) throw new Error(`import ${mod}.${field} is not a function`);
        const t = r.u32();
        funcTypes.push(t);
        imports.set(field, types[t]);
        importModules.set(field, mod);
      }
    } else if (id === 3) {
      for (let n = r.u32(); n > 0; n--) funcTypes.push(r.u32());
    } else if (id === 7) {
      for (let n = r.u32(); n > 0; n--) {
        const field = r.name(), kind = r.byte(), index = r.u32();
        if (kind === 0) exports.set(field, types[funcTypes[index]]);
      }
    }
  }
  return { imports, importModules, exports };
}
