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
// slice protocol's shape and quota, engine validation, the growth budget; `load` validates by
// compiling, which fails exactly when validation does). Anything else is a miss: the entry is
// removed and the module instrumented again. A store that fails (disk full, read-only) costs the
// cache, never the install. Hashes are WebCrypto's, or the host's own synchronous SHA-256 (`sha256`).
// The cache cannot tell a module someone wrote into the store with a valid frame but no metering
// from a real one: the store is as trusted as a pre-instrumented package (DESIGN.md, "The
// instrumented-module cache").
// Compiled modules: `load` returns the module compiled, and keeps it in this process's memory
// under its key beside a copy of the entry it was checked from (at most `keptModules` of them,
// least recently used first out). A later load of the same key still reads the store: it uses the
// kept module only when the entry read now is byte for byte the one checked before (so a removed,
// replaced or damaged entry is never answered from memory); else the entry is checked afresh.
// `forget(key)` drops a kept module (a package replaced or deleted).
// Memory: one entry at a time in the caller's heap, plus the kept entries and modules (outside the
// device's 4 MiB, as the instrumented modules are); nothing in core memory.
// Must not: import Node APIs (a browser keeps its store in memory or IndexedDB; the Node adapter
// is instrument-cache-node.ts) or binaryen (loaded only on a miss, through `instrument`).
import type { InstrumentedApp, InstrumentOptions } from "./instrument.js";
import { compileWasm } from "../engine.js";
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

/**
 * SHA-256 of the concatenation of `parts`. The default is WebCrypto (a round trip off the thread
 * per digest); a host with a synchronous one (Node's node:crypto) passes it as `sha256`.
 */
export type Sha256 = (parts: Uint8Array[]) => Uint8Array | Promise<Uint8Array>;

const webCryptoSha256: Sha256 = async (parts) => {
  let bytes = parts[0] ?? new Uint8Array(0);
  if (parts.length > 1) {
    bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { bytes.set(p, at); at += p.length; }
  }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
};

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));
const hex = (bytes: Uint8Array) => { let s = ""; for (const b of bytes) s += HEX[b]; return s; };
function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The options as the key sees them: every field, in a fixed order. */
function optionsText(opts: InstrumentOptions): string {
  return JSON.stringify({ blockingImports: opts.blockingImports, quotaBytes: opts.quotaBytes, runtimeAreaBytes: opts.runtimeAreaBytes, fastSyscalls: opts.fastSyscalls === true });
}

/** The cache key of `wasm` instrumented with `opts` by instrumenter `version`. Needs WebCrypto unless given `sha256`. */
export async function instrumentCacheKey(wasm: Uint8Array, opts: InstrumentOptions, version: string, sha256: Sha256 = webCryptoSha256): Promise<string> {
  const prefix = new TextEncoder().encode(`${KEY_DOMAIN}\0${version}\0${optionsText(opts)}\0`);
  return hex(await sha256([prefix, wasm]));
}

/**
 * The install-time checks of an instrumented module, fresh from the instrumenter or from the
 * cache: the slice protocol's shape and the quota's memory maximum, the engine's validation and the
 * growth budget. Throws an Error naming what is wrong.
 */
export function checkInstrumented(bytes: Uint8Array, originalBytes: number, quotaBytes: number): void {
  checkInstrumentedModule(bytes, quotaBytes);
  if (!WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) throw new Error("the engine rejects the instrumented module");
  checkGrowth(bytes, originalBytes);
}

/**
 * checkInstrumented with the engine's validation done by compiling: the module, compiled. A
 * compile fails exactly when validation does, so a caller that needs the module anyway (an
 * install) pays for one pass over the code, not two.
 */
export async function checkAndCompileInstrumented(bytes: Uint8Array, originalBytes: number, quotaBytes: number): Promise<WebAssembly.Module> {
  // The compile may run off this thread (where the engine can) while the cheaper checks run here;
  // its module is answered only once they pass, and its failure is judged after theirs.
  const compiled = compileWasm(bytes);
  compiled.catch(() => { /* judged below */ });
  checkInstrumentedModule(bytes, quotaBytes);
  checkGrowth(bytes, originalBytes);
  try {
    return await compiled;
  } catch (err) {
    if (err instanceof WebAssembly.CompileError) throw new Error(`the engine rejects the instrumented module: ${err.message}`);
    throw err;
  }
}

function checkGrowth(bytes: Uint8Array, originalBytes: number): void {
  const allowed = INSTRUMENTED_GROWTH_FACTOR * originalBytes + INSTRUMENTED_GROWTH_SLACK_BYTES;
  if (bytes.length > allowed) throw new Error(`the instrumented module is ${bytes.length} bytes; the install budget allows ${allowed} for a ${originalBytes}-byte module`);
}

/** An entry as SPEC.md lays it out. */
export async function encodeEntry(key: string, original: Uint8Array, instrumented: Uint8Array, sha256: Sha256 = webCryptoSha256): Promise<Uint8Array> {
  const out = new Uint8Array(HEADER_BYTES + instrumented.length);
  let at = 0;
  out.set(MAGIC, at); at += MAGIC.length;
  out.set(new TextEncoder().encode(key), at); at += KEY_CHARS;
  out.set(await sha256([original]), at); at += DIGEST_BYTES;
  new DataView(out.buffer).setUint32(at, original.length, true); at += 4;
  out.set(await sha256([instrumented]), at); at += DIGEST_BYTES;
  out.set(instrumented, at);
  return out;
}

/** The module an entry holds for `key` and `original` (a view into `entry`), or why it cannot be used (one line). */
export async function decodeEntry(entry: Uint8Array, key: string, original: Uint8Array, sha256: Sha256 = webCryptoSha256): Promise<{ bytes: Uint8Array } | { unusable: string }> {
  if (entry.length < HEADER_BYTES) return { unusable: `the entry is ${entry.length} bytes, shorter than its ${HEADER_BYTES}-byte header (truncated)` };
  if (!MAGIC.every((b, i) => entry[i] === b)) return { unusable: "the entry does not start with the cache's magic" };
  let at = MAGIC.length;
  const storedKey = String.fromCharCode(...entry.subarray(at, at + KEY_CHARS)); at += KEY_CHARS;
  if (storedKey !== key) return { unusable: "the entry was stored under another key" };
  const originalDigest = entry.subarray(at, at + DIGEST_BYTES); at += DIGEST_BYTES;
  const originalLength = new DataView(entry.buffer, entry.byteOffset + at, 4).getUint32(0, true); at += 4;
  if (originalLength !== original.length || !equalBytes(originalDigest, await sha256([original]))) return { unusable: "the entry was made from another module" };
  const payloadDigest = entry.subarray(at, at + DIGEST_BYTES); at += DIGEST_BYTES;
  const bytes = entry.subarray(at);
  if (!equalBytes(payloadDigest, await sha256([bytes]))) return { unusable: "the instrumented module does not match its SHA-256 (truncated or damaged)" };
  return { bytes };
}

export interface InstrumentCacheOptions {
  /** Identifies the instrumenter's code: a change must change it (instrument-cache-node.ts hashes the compiled files). */
  instrumenterVersion: string;
  /** Runs on a miss; by default the worker-thread instrumenter (binaryen, loaded then). */
  instrument?: Instrumenter;
  /** The SHA-256 the keys and entries are made with; by default WebCrypto's (instrument-cache-node.ts passes node:crypto's, synchronous). */
  sha256?: Sha256;
  /** How many compiled modules `load` keeps in memory (see the file header); 0 keeps none. Default KEPT_MODULES_DEFAULT. */
  keptModules?: number;
}

/** One per app the core can hold (abi.MAX_APPS): every installed app's module stays compiled. */
export const KEPT_MODULES_DEFAULT = 64;

/** `load`'s answer: the instrumented module compiled, and the key it is cached under (null: not cached, no hash). */
export interface LoadedApp extends InstrumentedApp {
  module: WebAssembly.Module;
  outcome: CacheOutcome;
  key: string | null;
  /** True when the module was the one kept compiled in memory (the store's entry unchanged since it was checked). */
  reused: boolean;
}

/** A check run on the instrumented bytes before they are used: throws an Error naming what is wrong. */
type Check<T> = (bytes: Uint8Array, originalBytes: number, quotaBytes: number) => T | Promise<T>;

const validateOnly: Check<null> = (bytes, originalBytes, quotaBytes) => { checkInstrumented(bytes, originalBytes, quotaBytes); return null; };

export class InstrumentCache {
  private readonly instrumenter: Instrumenter;
  private readonly sha256: Sha256;
  private readonly keptMax: number;
  /** By key: the entry `load` checked and the module compiled from it, least recently used first. */
  private readonly kept = new Map<string, { entry: Uint8Array; module: WebAssembly.Module }>();
  /** Installs answered from the store, and those that instrumented, since this cache was made. */
  readonly counts = { hits: 0, misses: 0, unusable: 0 };
  /** Of the hits, those `load` answered with a module kept compiled (no hash of the entry, no compile). */
  reusedModules = 0;

  constructor(readonly store: ModuleCacheStore, private readonly options: InstrumentCacheOptions) {
    this.instrumenter = options.instrument ?? loadDefaultInstrumenter;
    this.sha256 = options.sha256 ?? webCryptoSha256;
    this.keptMax = Math.max(0, options.keptModules ?? KEPT_MODULES_DEFAULT);
  }

  /** The key `wasm` with `opts` is cached under. */
  key(wasm: Uint8Array, opts: InstrumentOptions): Promise<string> {
    return instrumentCacheKey(wasm, opts, this.options.instrumenterVersion, this.sha256);
  }

  /** Whether a compiled module is kept for `key` now. */
  keeps(key: string): boolean { return this.kept.has(key); }

  /** Drops the compiled module kept for `key`, if any (its package was replaced or deleted). The store's entry stays. */
  forget(key: string): void { this.kept.delete(key); }

  /**
   * `wasm` instrumented with `opts`: from the store when a usable entry is there, else by the
   * instrumenter (then stored). Rejects as the instrumenter does (InstrumentError), or with an
   * Error when a freshly instrumented module fails the install-time checks.
   */
  async instrument(wasm: Uint8Array, opts: InstrumentOptions): Promise<InstrumentedApp & { outcome: CacheOutcome }> {
    const r = await this.lookup(wasm, opts, validateOnly);
    return { ...r.app, outcome: r.outcome };
  }

  /**
   * What an install or a boot needs: `wasm` instrumented with `opts` and compiled, the compile
   * standing for the engine's validation (checkAndCompileInstrumented). When the store's entry is
   * byte for byte the one this cache checked and compiled before, that module is answered again.
   * Rejects as `instrument` does.
   */
  async load(wasm: Uint8Array, opts: InstrumentOptions): Promise<LoadedApp> {
    if (this.keptMax > 0 && this.canHash()) {
      const key = await this.key(wasm, opts);
      const kept = this.kept.get(key);
      if (kept) {
        let entry: Uint8Array | null = null;
        try { entry = await this.store.read(key); } catch { /* an unreadable store is an empty one */ }
        this.kept.delete(key);
        if (entry && equalBytes(entry, kept.entry)) {
          this.kept.set(key, kept); // most recently used
          this.counts.hits++;
          this.reusedModules++;
          const bytes = entry.subarray(HEADER_BYTES);
          return { bytes, originalBytes: wasm.length, instrumentedBytes: bytes.length, module: kept.module, outcome: { hit: true }, key, reused: true };
        }
        // Removed, replaced or damaged since it was checked: what was kept is not what the store holds.
        return this.loaded(await this.lookup(wasm, opts, checkAndCompileInstrumented, key, entry));
      }
      return this.loaded(await this.lookup(wasm, opts, checkAndCompileInstrumented, key));
    }
    return this.loaded(await this.lookup(wasm, opts, checkAndCompileInstrumented));
  }

  private loaded(r: Looked<WebAssembly.Module>): LoadedApp {
    if (r.key && r.entry && this.keptMax > 0) {
      this.kept.delete(r.key);
      this.kept.set(r.key, { entry: r.entry, module: r.checked });
      while (this.kept.size > this.keptMax) this.kept.delete(this.kept.keys().next().value!);
    }
    return { ...r.app, module: r.checked, outcome: r.outcome, key: r.key, reused: false };
  }

  private canHash(): boolean { return this.sha256 !== webCryptoSha256 || hasWebCrypto(); }

  /**
   * The lookup both `instrument` and `load` make: the store's entry for the key (`entry` when the
   * caller has read it already), decoded and checked by `check`; else the instrumenter, then stored.
   * `entry` in the answer is what the store now holds for the key, null when nothing was stored.
   */
  private async lookup<T>(wasm: Uint8Array, opts: InstrumentOptions, check: Check<T>, knownKey?: string, knownEntry?: Uint8Array | null): Promise<Looked<T>> {
    if (!this.canHash()) {
      const out = await this.fresh(wasm, opts, check);
      return { app: out.app, checked: out.checked, outcome: { hit: false, why: "no-webcrypto" }, key: null, entry: null };
    }
    const key = knownKey ?? await this.key(wasm, opts);
    let entry: Uint8Array | null = knownEntry ?? null;
    if (knownEntry === undefined) {
      try { entry = await this.store.read(key); } catch { /* an unreadable store is an empty one */ }
    }
    let why: CacheOutcome = { hit: false, why: "absent" };
    if (entry) {
      const decoded = await decodeEntry(entry, key, wasm, this.sha256);
      let detail = "unusable" in decoded ? decoded.unusable : null;
      if ("bytes" in decoded) {
        try {
          const checked = await check(decoded.bytes, wasm.length, opts.quotaBytes);
          this.counts.hits++;
          return { app: { bytes: decoded.bytes, originalBytes: wasm.length, instrumentedBytes: decoded.bytes.length }, checked, outcome: { hit: true }, key, entry };
        } catch (err) {
          detail = `the cached module fails the install checks: ${(err as Error).message}`;
        }
      }
      this.counts.unusable++;
      why = { hit: false, why: "unusable", detail: detail ?? undefined };
      try { await this.store.remove(key); } catch { /* rewritten below */ }
    }
    const out = await this.fresh(wasm, opts, check);
    let stored: Uint8Array | null = null;
    try {
      const encoded = await encodeEntry(key, wasm, out.app.bytes, this.sha256);
      await this.store.write(key, encoded);
      stored = encoded;
    } catch { /* the install goes on uncached */ }
    return { app: out.app, checked: out.checked, outcome: why, key, entry: stored };
  }

  private async fresh<T>(wasm: Uint8Array, opts: InstrumentOptions, check: Check<T>): Promise<{ app: InstrumentedApp; checked: T }> {
    this.counts.misses++;
    const app = await this.instrumenter(wasm, opts);
    try {
      return { app, checked: await check(app.bytes, wasm.length, opts.quotaBytes) };
    } catch (err) {
      throw new Error(`the instrumented module fails the install checks (an instrumentation bug): ${(err as Error).message}`);
    }
  }
}

interface Looked<T> { app: InstrumentedApp; checked: T; outcome: CacheOutcome; key: string | null; entry: Uint8Array | null }
