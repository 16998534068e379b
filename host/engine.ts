// What differs between JavaScript engines, for the parts of the host that run everywhere (Node,
// browsers, gjs, jsc): UTF-8 decoding where TextDecoder is missing (jsc's shell), and compiling a
// module where the Promise forms of WebAssembly.compile are missing (gjs).
// Must not: differ from TextDecoder in one decoded character (the conformance trace compares log
// lines across engines; tests/host/engine.test.ts checks it against TextDecoder).

type Decoder = { decode(bytes: Uint8Array): string };
let decoder: Decoder | null = null;

/**
 * WHATWG's UTF-8 decode (what `new TextDecoder().decode` does): a leading BOM is dropped, each
 * maximal invalid subsequence becomes one U+FFFD.
 */
export function decodeUtf8Portable(bytes: Uint8Array): string {
  let out = "";
  let cp = 0, needed = 0, seen = 0, lower = 0x80, upper = 0xbf;
  const emit = (c: number) => { out += String.fromCodePoint(c); };
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (needed === 0) {
      if (b <= 0x7f) emit(b);
      else if (b >= 0xc2 && b <= 0xdf) { needed = 1; cp = b & 0x1f; }
      else if (b >= 0xe0 && b <= 0xef) { if (b === 0xe0) lower = 0xa0; if (b === 0xed) upper = 0x9f; needed = 2; cp = b & 0xf; }
      else if (b >= 0xf0 && b <= 0xf4) { if (b === 0xf0) lower = 0x90; if (b === 0xf4) upper = 0x8f; needed = 3; cp = b & 0x7; }
      else emit(0xfffd);
      continue;
    }
    if (b < lower || b > upper) {
      // The sequence ends before this byte, which is then read afresh.
      cp = needed = seen = 0; lower = 0x80; upper = 0xbf;
      emit(0xfffd);
      i--;
      continue;
    }
    lower = 0x80; upper = 0xbf;
    cp = (cp << 6) | (b & 0x3f);
    if (++seen === needed) { emit(cp); cp = needed = seen = 0; }
  }
  if (needed !== 0) emit(0xfffd);
  return out.charCodeAt(0) === 0xfeff ? out.slice(1) : out;
}

/** Decodes UTF-8 with TextDecoder where the engine has it, else `decodeUtf8Portable`. */
export function decodeUtf8(bytes: Uint8Array): string {
  if (!decoder) {
    const TD = (globalThis as { TextDecoder?: new () => Decoder }).TextDecoder;
    decoder = TD ? new TD() : { decode: decodeUtf8Portable };
  }
  return decoder.decode(bytes);
}

/**
 * Compiles a module: WebAssembly.compile (browsers allow only small modules to compile
 * synchronously on their main thread), else the synchronous constructor. gjs has a `compile` that
 * rejects ("WebAssembly Promise APIs not supported"), so a rejection that is not a CompileError
 * falls back too.
 */
export async function compileWasm(bytes: Uint8Array): Promise<WebAssembly.Module> {
  const wa = WebAssembly as { compile?: (b: BufferSource) => Promise<WebAssembly.Module> };
  const sync = () => new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  if (typeof wa.compile !== "function") return sync();
  try {
    return await wa.compile(bytes as Uint8Array<ArrayBuffer>);
  } catch (err) {
    if (err instanceof WebAssembly.CompileError) throw err;
    return sync();
  }
}
