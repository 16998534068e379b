// The instrumented-module cache: an app's module instrumented once is kept outside the device's
// 4 MiB (as a device executing in place keeps code in flash, not RAM), so installing it again
// (`wasphere run` in a new process, a device rebuilt from its packages) never runs binaryen.
//
// Key: SHA-256 of (KEY_DOMAIN, the instrumenter's version, the instrument options as JSON, the raw
// module bytes) as lowercase hex; a change to any of the three is a different entry. The entry's
// bytes are SPEC.md's "Instrumented-module cache entry": magic, the key it was stored under, the
// SHA-256 and length of the original module, the SHA-256 of the instrumented module, the module.
// Invariants: nothing read from the store is trusted. An entry is used only when its magic, key,
// original hash and length, and payload hash all match, and the payload passes the same
// install-time checks as a module the instrumenter has just produced (`checkInstrumented`: the
// slice protocol's shape and quota, engine validation, the growth budget). Anything else is a
// miss: the entry is removed and the module instrumented again. A store that fails (disk full,
// read-only) costs the cache, never the install.
// The cache cannot tell a module someone wrote into the store with a valid frame but no metering
// from a real one: the store is as trusted as a pre-instrumented package (DESIGN.md, "The
// instrumented-module cache").
// Memory: one entry at a time, in the caller's heap; nothing in core memory.
// Must not: import Node APIs (a browser keeps its store in memory or IndexedDB; the Node adapter
// is instrument-cache-node.ts) or binaryen (loaded only on a miss, through `instrument`).
import type { InstrumentedApp, InstrumentOptions } from "./instrument.js";
import { checkInstrumentedModule, INSTRUMENTED_GROWTH_FACTOR, INSTRUMENTED_GROWTH_SLACK_BYTES } from "./protocol.js";

/** Where entries live: any key-value store of bytes. Keys are 64 lowercase hex digits. */
export interface ModuleCacheStore {
  /** The bytes stored under `key`, or null when there are none. */
  read(key: string): Promise<Uint8Array | null>;
  /** Stores `bytes` under `key`, replacing what was there; a reader sees the old or the new entry whole. */
  write(key: string, bytes: Uint8Array): Promise<void>;
  remove(key: string): Promise<void>;
}

/** A store in this process's memory (tests, a browser tab without IndexedDB). */
export class MemoryModuleStore implements ModuleCacheStore {
  readonly entries = new Map<string, Uint8Array>();
  async read(key: string) { const e = this.entries.get(key); return e ? new Uint8Array(e) : null; }
  async write(key: string, bytes: Uint8Array) { this.entries.set(key, new Uint8Array(bytes)); }
  async remove(key: string) { this.entries.delete(key); }
}

/** What instruments a module on a miss: by default instrument-async.js, imported then. */
export type Instrumenter = (wasm: Uint8Array, opts: InstrumentOptions) => Promise<InstrumentedApp>;

/** How an install got its module: from the cache, or instrumented (with why the cache had none). */
export type CacheOutcome = { hit: true } | { hit: false; why: "absent" | "unusable" | "no-webcrypto"; detail?: string };

export const KEY_DOMAIN = "wasphere instrumented-module cache 1";
/** "wsphic" + version 1 + newline: the first 8 bytes of every entry. */
const MAGIC = [0x77, 0x73, 0x70, 0x68, 0x69, 0x63, 0x01, 0x0a];
const KEY_CHARS = 64;
const DIGEST_BYTES = 32;
const HEADER_BYTES = MAGIC.length + KEY_CHARS + DIGEST_BYTES + 4 + DIGEST_BYTES;

const loadDefaultInstrumenter: Instrumenter = async (wasm, opts) => (await import("./instrument-async.js")).instrumentOffThread(wasm, opts);

const hasWebCrypto = () => typeof globalThis.crypto?.subtle?.digest === "function";

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
}

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const equalBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The options as the key sees them: every field, in a fixed order. */
function optionsText(opts: InstrumentOptions): string {
  return JSON.stringify({ blockingImports: opts.blockingImports, quotaBytes: opts.quotaBytes, runtimeAreaBytes: opts.runtimeAreaBytes });
}

/** The cache key of `wasm` instrumented with `opts` by instrumenter `version`. Needs WebCrypto. */
export async function instrumentCacheKey(wasm: Uint8Array, opts: InstrumentOptions, version: string): Promise<string> {
  const prefix = new TextEncoder().encode(`${KEY_DOMAIN}\0${version}\0${optionsText(opts)}\0`);
  const all = new Uint8Array(prefix.length + wasm.length);
  all.set(prefix);
  all.set(wasm, prefix.length);
  return hex(await sha256(all));
}

/**
 * The install-time checks of an instrumented module, fresh from the instrumenter or from the
 * cache: the slice protocol's shape and the quota's memory maximum, the engine's validation and the
 * growth budget. Throws an Error naming what is wrong.
 */
export function checkInstrumented(bytes: Uint8Array, originalBytes: number, quotaBytes: number): void {
  checkInstrumentedModule(bytes, quotaBytes);
  if (!WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) throw new Error("the engine rejects the instrumented module");
  const allowed = INSTRUMENTED_GROWTH_FACTOR * originalBytes + INSTRUMENTED_GROWTH_SLACK_BYTES;
  if (bytes.length > allowed) throw new Error(`the instrumented module is ${bytes.length} bytes; the install budget allows ${allowed} for a ${originalBytes}-byte module`);
}

/** An entry as SPEC.md lays it out. */
export async function encodeEntry(key: string, original: Uint8Array, instrumented: Uint8Array): Promise<Uint8Array> {
  const out = new Uint8Array(HEADER_BYTES + instrumented.length);
  let at = 0;
  out.set(MAGIC, at); at += MAGIC.length;
  out.set(new TextEncoder().encode(key), at); at += KEY_CHARS;
  out.set(await sha256(original), at); at += DIGEST_BYTES;
  new DataView(out.buffer).setUint32(at, original.length, true); at += 4;
  out.set(await sha256(instrumented), at); at += DIGEST_BYTES;
  out.set(instrumented, at);
  return out;
}

/** The module an entry holds for `key` and `original`, or why it cannot be used (one line). */
export async function decodeEntry(entry: Uint8Array, key: string, original: Uint8Array): Promise<{ bytes: Uint8Array } | { unusable: string }> {
  if (entry.length < HEADER_BYTES) return { unusable: `the entry is ${entry.length} bytes, shorter than its ${HEADER_BYTES}-byte header (truncated)` };
  if (!MAGIC.every((b, i) => entry[i] === b)) return { unusable: "the entry does not start with the cache's magic" };
  let at = MAGIC.length;
  const storedKey = String.fromCharCode(...entry.subarray(at, at + KEY_CHARS)); at += KEY_CHARS;
  if (storedKey !== key) return { unusable: "the entry was stored under another key" };
  const originalDigest = entry.subarray(at, at + DIGEST_BYTES); at += DIGEST_BYTES;
  const originalLength = new DataView(entry.buffer, entry.byteOffset + at, 4).getUint32(0, true); at += 4;
  if (originalLength !== original.length || !equalBytes(originalDigest, await sha256(original))) return { unusable: "the entry was made from another module" };
  const payloadDigest = entry.subarray(at, at + DIGEST_BYTES); at += DIGEST_BYTES;
  const bytes = entry.slice(at);
  if (!equalBytes(payloadDigest, await sha256(bytes))) return { unusable: "the instrumented module does not match its SHA-256 (truncated or damaged)" };
  return { bytes };
}

export interface InstrumentCacheOptions {
  /** Identifies the instrumenter's code: a change must change it (instrument-cache-node.ts hashes the compiled files). */
  instrumenterVersion: string;
  /** Runs on a miss; by default the worker-thread instrumenter (binaryen, loaded then). */
  instrument?: Instrumenter;
}

export class InstrumentCache {
  private readonly instrumenter: Instrumenter;
  /** Installs answered from the store, and those that instrumented, since this cache was made. */
  readonly counts = { hits: 0, misses: 0, unusable: 0 };

  constructor(readonly store: ModuleCacheStore, private readonly options: InstrumentCacheOptions) {
    this.instrumenter = options.instrument ?? loadDefaultInstrumenter;
  }

  /**
   * `wasm` instrumented with `opts`: from the store when a usable entry is there, else by the
   * instrumenter (then stored). Rejects as the instrumenter does (InstrumentError), or with an
   * Error when a freshly instrumented module fails the install-time checks.
   */
  async instrument(wasm: Uint8Array, opts: InstrumentOptions): Promise<InstrumentedApp & { outcome: CacheOutcome }> {
    if (!hasWebCrypto()) return { ...await this.fresh(wasm, opts), outcome: { hit: false, why: "no-webcrypto" } };
    const key = await instrumentCacheKey(wasm, opts, this.options.instrumenterVersion);
    let entry: Uint8Array | null = null;
    try { entry = await this.store.read(key); } catch { /* an unreadable store is an empty one */ }
    let why: CacheOutcome = { hit: false, why: "absent" };
    if (entry) {
      const decoded = await decodeEntry(entry, key, wasm);
      let detail = "unusable" in decoded ? decoded.unusable : null;
      if ("bytes" in decoded) {
        try {
          checkInstrumented(decoded.bytes, wasm.length, opts.quotaBytes);
          this.counts.hits++;
          return { bytes: decoded.bytes, originalBytes: wasm.length, instrumentedBytes: decoded.bytes.length, outcome: { hit: true } };
        } catch (err) {
          detail = `the cached module fails the install checks: ${(err as Error).message}`;
        }
      }
      this.counts.unusable++;
      why = { hit: false, why: "unusable", detail: detail ?? undefined };
      try { await this.store.remove(key); } catch { /* rewritten below */ }
    }
    const out = await this.fresh(wasm, opts);
    try { await this.store.write(key, await encodeEntry(key, wasm, out.bytes)); } catch { /* the install goes on uncached */ }
    return { ...out, outcome: why };
  }

  private async fresh(wasm: Uint8Array, opts: InstrumentOptions): Promise<InstrumentedApp> {
    this.counts.misses++;
    const out = await this.instrumenter(wasm, opts);
    try {
      checkInstrumented(out.bytes, wasm.length, opts.quotaBytes);
    } catch (err) {
      throw new Error(`the instrumented module fails the install checks (an instrumentation bug): ${(err as Error).message}`);
    }
    return out;
  }
}
