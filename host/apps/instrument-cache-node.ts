// The instrumented-module cache on Node: entries as files in one directory, and the instrumenter's
// version as a hash of its own compiled code.
//
// Where: $WASPHERE_CACHE_DIR, else $XDG_CACHE_HOME/wasphere, else ~/.cache/wasphere; entries in
// `instrumented/<key>.wasphere-cache` (SPEC.md, "Instrumented-module cache entry").
// Invariants: a write is atomic (a fresh file in the same directory, renamed over the old one), so
// a reader sees a whole old entry, a whole new one, or none; a crash mid-write leaves at most a
// stray temporary file, never a short entry under a key. Reads are bounded (ENTRY_MAX_BYTES).
// Keys are checked to be 64 hex digits before they become file names.
// Must not: be imported by anything that must run outside Node (instrument-cache.ts is the
// engine-neutral part), or trust what it reads (instrument-cache.ts checks every entry).
import { mkdir, open, rename, rm } from "node:fs/promises";
import { closeSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { randomBytes, createHash } from "node:crypto";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { InstrumentCache, type InstrumentCacheOptions, type ModuleCacheStore, type Sha256 } from "./instrument-cache.js";

/** Larger than any entry the install budget allows (a 1 MiB module grown 8x, plus the header). */
export const ENTRY_MAX_BYTES = 9 * 1024 * 1024;
const ENTRY_SUFFIX = ".wasphere-cache";
const KEY = /^[0-9a-f]{64}$/;

/** The cache directory the environment names (see the file header). */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.WASPHERE_CACHE_DIR) return env.WASPHERE_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "wasphere");
}

export class DiskModuleStore implements ModuleCacheStore {
  readonly dir: string;
  constructor(cacheDir: string) { this.dir = join(cacheDir, "instrumented"); }

  private path(key: string): string {
    if (!KEY.test(key)) throw new Error(`not a cache key: ${JSON.stringify(key).slice(0, 80)}`);
    return join(this.dir, key + ENTRY_SUFFIX);
  }

  /**
   * Read on this thread: an entry is one small local file, and an app's start waits on it; the
   * thread pool's round trips (stat, then read) cost several times what the read does. The size
   * is the open file's own, so the bound holds for the bytes read; a file changed meanwhile reads
   * short or torn, which the cache's checks refuse.
   */
  async read(key: string): Promise<Uint8Array | null> {
    const path = this.path(key);
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
    try {
      const size = fstatSync(fd).size;
      if (size > ENTRY_MAX_BYTES) return null;
      const out = new Uint8Array(size);
      let at = 0;
      for (let n = 1; at < size && n > 0; at += n) n = readSync(fd, out, at, size - at, at);
      return at === size ? out : out.subarray(0, at);
    } finally {
      closeSync(fd);
    }
  }

  async write(key: string, bytes: Uint8Array): Promise<void> {
    const path = this.path(key);
    await mkdir(this.dir, { recursive: true });
    const tmp = join(this.dir, `.${key}.${randomBytes(6).toString("hex")}.tmp`);
    const file = await open(tmp, "wx", 0o644);
    try {
      await file.writeFile(bytes);
      await file.sync();
    } catch (err) {
      await file.close();
      await rm(tmp, { force: true });
      throw err;
    }
    await file.close();
    await rename(tmp, path);
  }

  async remove(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }
}

/** The compiled files whose code decides what the instrumenter writes. */
const INSTRUMENTER_FILES = ["instrument.js", "instrument-resume.js", "instrument-gates.js", "protocol.js", "imports.js", "../../assembly/abi.js"];

/**
 * The instrumenter's version: SHA-256 over binaryen's version and the bytes of the instrumenter's
 * compiled files, so any change to its code, its constants or binaryen gives new keys.
 */
export function nodeInstrumenterVersion(dir = dirname(fileURLToPath(import.meta.url)), files = INSTRUMENTER_FILES): string {
  const h = createHash("sha256");
  const binaryenPackage = fileURLToPath(import.meta.resolve("binaryen/package.json"));
  h.update(`binaryen ${JSON.parse(readFileSync(binaryenPackage, "utf8")).version}`);
  for (const f of files) h.update(`\0${f}\0`).update(readFileSync(join(dir, f)));
  return h.digest("hex");
}

/** SHA-256 by node:crypto: on this thread, without WebCrypto's round trip per digest (the same digests). */
export const nodeSha256: Sha256 = (parts) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

/** The cache `wasphere run` and a device use: on disk in `cacheDir`, keyed by this instrumenter's version, hashed by node:crypto. */
export function nodeInstrumentCache(cacheDir = defaultCacheDir(), options: Partial<InstrumentCacheOptions> = {}): InstrumentCache {
  return new InstrumentCache(new DiskModuleStore(cacheDir), { ...options, instrumenterVersion: options.instrumenterVersion ?? nodeInstrumenterVersion(), sha256: options.sha256 ?? nodeSha256 });
}
