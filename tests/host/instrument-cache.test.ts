// The instrumented-module cache: a hit installs without the instrumenter, every kind of bad entry
// is rebuilt, keys follow the module, the options and the instrumenter's version, and the disk
// store writes atomically. `wasphere run` of an app run before never loads binaryen.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import binaryen from "binaryen";
import { APP_FEATURES, instrumentApp, InstrumentError, type InstrumentOptions } from "../../host/apps/instrument.js";
import { decodeEntry, encodeEntry, InstrumentCache, instrumentCacheKey, MemoryModuleStore, type Instrumenter } from "../../host/apps/instrument-cache.js";
import { DiskModuleStore, ENTRY_MAX_BYTES, nodeInstrumentCache, nodeInstrumenterVersion } from "../../host/apps/instrument-cache-node.js";
import { appInstrumentOptions } from "../../host/apps/imports.js";
import { Device } from "../../host/device.js";
import { VirtualClock } from "../../host/peripherals/clock.js";
import { appFromBytes } from "../../host/apps/package.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const OPTS: InstrumentOptions = appInstrumentOptions(2 * 65536);
const VERSION = "test-version-1";

function wat(text: string): Uint8Array {
  const mod = binaryen.parseText(text);
  mod.setFeatures(APP_FEATURES);
  const bytes = mod.emitBinary();
  mod.dispose();
  return bytes;
}

/** An app that exits with `code` after a loop of `n` iterations. */
const exiter = (code: number, n = 1000) => wat(`(module (memory (export "memory") 1)
  (func (export "main") (result i32) (local $i i32)
    (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const ${n}))))
    (i32.const ${code})))`);

const realInstrumenter = (calls: { n: number }): Instrumenter => async (wasm, opts) => { calls.n++; return instrumentApp(wasm, opts); };
const refusingInstrumenter: Instrumenter = async () => { throw new Error("the instrumenter ran"); };

const manifest = { SchemaVersion: 1, Name: "cached", ComponentId: "00000000-0000-4000-8000-0000000ca001", EntryPoint: "c.wasm", MemoryQuotaKiB: 128 };

/** Installs `wasm` on a fresh device with `cache`, runs it to its exit and returns the exit code. */
async function installAndRun(cache: InstrumentCache, wasm: Uint8Array): Promise<number> {
  const dev = new Device({ clock: new VirtualClock(), instrumentCache: cache });
  const app = await dev.install(appFromBytes("cached", manifest, wasm));
  dev.start(app);
  await dev.run({ maxSlices: 100 });
  const exited = dev.events.of("app").find((e) => e.what === "exited");
  assert.ok(exited, "the app ran to its exit");
  return Number(exited.detail?.replace("code ", ""));
}

test("a hit installs and runs the app without calling the instrumenter", async () => {
  const store = new MemoryModuleStore();
  const calls = { n: 0 };
  const wasm = exiter(7);
  assert.equal(await installAndRun(new InstrumentCache(store, { instrumenterVersion: VERSION, instrument: realInstrumenter(calls) }), wasm), 7);
  assert.equal(calls.n, 1);
  assert.equal(store.entries.size, 1);
  const warm = new InstrumentCache(store, { instrumenterVersion: VERSION, instrument: refusingInstrumenter });
  assert.equal(await installAndRun(warm, wasm), 7);
  assert.deepEqual(warm.counts, { hits: 1, misses: 0, unusable: 0 });
});

test("a miss that the instrumenter refuses stores nothing and fails the install as before", async () => {
  const store = new MemoryModuleStore();
  const cache = new InstrumentCache(store, { instrumenterVersion: VERSION, instrument: realInstrumenter({ n: 0 }) });
  const noEntry = wat(`(module (memory (export "memory") 1))`);
  await assert.rejects(cache.instrument(noEntry, OPTS), (err: Error) => err instanceof InstrumentError && /exports no entry/.test(err.message));
  assert.equal(store.entries.size, 0);
});

/** Each way an entry can go bad: it is rebuilt (the instrumenter runs again) and replaced by a good one. */
const damages: [string, (entry: Uint8Array, key: string, wasm: Uint8Array) => Promise<Uint8Array> | Uint8Array, RegExp][] = [
  ["truncated", (e) => e.slice(0, e.length - 10), /does not match its SHA-256/],
  ["cut inside its header", (e) => e.slice(0, 40), /shorter than its .*header/],
  ["with a payload byte flipped", (e) => { const d = e.slice(); d[d.length - 5] ^= 0x40; return d; }, /does not match its SHA-256/],
  ["with a wrong magic", (e) => { const d = e.slice(); d[0] = 0; return d; }, /magic/],
  ["made from another module", async (_e, key) => encodeEntry(key, exiter(9), instrumentApp(exiter(9), OPTS).bytes), /another module/],
  ["stored under another key", async (_e, _key, wasm) => encodeEntry("f".repeat(64), wasm, instrumentApp(wasm, OPTS).bytes), /another key/],
  // A well-formed entry whose module is not instrumented: the install-time checks catch it.
  ["holding the uninstrumented module", async (_e, key, wasm) => encodeEntry(key, wasm, wasm), /fails the install checks: the module does not export the global __wasphere_fuel/],
  ["holding a module whose memory exceeds the quota", async (_e, key, wasm) => encodeEntry(key, wasm, instrumentApp(wasm, appInstrumentOptions(16 * 65536)).bytes), /exceeds the app's quota/],
];

for (const [what, damage, reason] of damages) {
  test(`an entry ${what} is rebuilt, never used`, async () => {
    const store = new MemoryModuleStore();
    const wasm = exiter(5);
    const calls = { n: 0 };
    await new InstrumentCache(store, { instrumenterVersion: VERSION, instrument: realInstrumenter(calls) }).instrument(wasm, OPTS);
    const key = await instrumentCacheKey(wasm, OPTS, VERSION);
    const good = store.entries.get(key)!;
    const bad = await damage(good, key, wasm);
    const decodedBad = await decodeEntry(bad, key, wasm);
    if ("unusable" in decodedBad) assert.match(decodedBad.unusable, reason);
    store.entries.set(key, bad);
    const cache = new InstrumentCache(store, { instrumenterVersion: VERSION, instrument: realInstrumenter(calls) });
    const out = await cache.instrument(wasm, OPTS);
    assert.equal(out.outcome.hit, false);
    assert.ok(!out.outcome.hit && out.outcome.why === "unusable");
    assert.match((out.outcome as { detail?: string }).detail ?? "", reason);
    assert.equal(calls.n, 2, "instrumented again");
    assert.deepEqual(cache.counts, { hits: 0, misses: 1, unusable: 1 });
    assert.deepEqual(store.entries.get(key), good, "the rebuilt entry replaced the bad one");
    assert.equal(await installAndRun(new InstrumentCache(store, { instrumenterVersion: VERSION, instrument: refusingInstrumenter }), wasm), 5);
  });
}

test("keys differ with the module, each option and the instrumenter's version, and only then", async () => {
  const wasm = exiter(1);
  const base = await instrumentCacheKey(wasm, OPTS, VERSION);
  assert.match(base, /^[0-9a-f]{64}$/);
  assert.equal(await instrumentCacheKey(wasm.slice(), { ...OPTS, blockingImports: [...OPTS.blockingImports] }, VERSION), base);
  const others = [
    await instrumentCacheKey(exiter(2), OPTS, VERSION),
    await instrumentCacheKey(wasm, { ...OPTS, quotaBytes: OPTS.quotaBytes * 2 }, VERSION),
    await instrumentCacheKey(wasm, { ...OPTS, runtimeAreaBytes: OPTS.runtimeAreaBytes * 2 }, VERSION),
    await instrumentCacheKey(wasm, { ...OPTS, blockingImports: OPTS.blockingImports.slice(1) }, VERSION),
    await instrumentCacheKey(wasm, OPTS, "test-version-2"),
  ];
  assert.equal(new Set([base, ...others]).size, others.length + 1);
});

test("an entry made by another instrumenter version is not found: the module is instrumented again", async () => {
  const store = new MemoryModuleStore();
  const calls = { n: 0 };
  const wasm = exiter(3);
  await new InstrumentCache(store, { instrumenterVersion: "v1", instrument: realInstrumenter(calls) }).instrument(wasm, OPTS);
  const out = await new InstrumentCache(store, { instrumenterVersion: "v2", instrument: realInstrumenter(calls) }).instrument(wasm, OPTS);
  assert.deepEqual(out.outcome, { hit: false, why: "absent" });
  assert.equal(calls.n, 2);
  assert.equal(store.entries.size, 2);
});

test("the Node instrumenter version changes when any of its files or binaryen's version would", () => {
  const dir = mkdtempSync(join(tmpdir(), "wasphere-iv-"));
  try {
    const src = dirname(fileURLToPath(import.meta.resolve("../../host/apps/instrument.js")));
    for (const f of ["instrument.js", "protocol.js"]) copyFileSync(join(src, f), join(dir, f));
    const files = ["instrument.js", "protocol.js"];
    const before = nodeInstrumenterVersion(dir, files);
    assert.equal(nodeInstrumenterVersion(dir, files), before);
    writeFileSync(join(dir, "protocol.js"), readFileSync(join(dir, "protocol.js"), "utf8") + "\n// changed\n");
    assert.notEqual(nodeInstrumenterVersion(dir, files), before);
    // The real one covers the instrumenter, the slice protocol, the imports and the ABI's numbers.
    assert.match(nodeInstrumenterVersion(), /^[0-9a-f]{64}$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the disk store writes whole entries by rename, reads back (bounded), removes, and refuses names that are not keys", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wasphere-cache-"));
  try {
    const store = new DiskModuleStore(dir);
    const key = "a".repeat(64);
    assert.equal(await store.read(key), null);
    await store.write(key, new Uint8Array([1, 2, 3]));
    await store.write(key, new Uint8Array([4, 5]));
    assert.deepEqual(await store.read(key), new Uint8Array([4, 5]));
    assert.deepEqual(readdirSync(store.dir), [`${key}.wasphere-cache`], "no temporary file left");
    // An entry larger than any the install budget allows is not read at all.
    truncateSync(join(store.dir, `${key}.wasphere-cache`), ENTRY_MAX_BYTES + 1);
    assert.equal(await store.read(key), null);
    truncateSync(join(store.dir, `${key}.wasphere-cache`), ENTRY_MAX_BYTES);
    assert.equal((await store.read(key))?.length, ENTRY_MAX_BYTES);
    await store.remove(key);
    assert.equal(await store.read(key), null);
    await assert.rejects(store.read("../../etc/passwd"), /not a cache key/);
    await assert.rejects(store.write("A".repeat(64), new Uint8Array(1)), /not a cache key/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a disk cache that cannot be written costs the cache, not the install", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wasphere-cache-"));
  try {
    writeFileSync(join(dir, "instrumented"), "a file where the entries' directory should be");
    const cache = nodeInstrumentCache(dir, { instrumenterVersion: VERSION, instrument: realInstrumenter({ n: 0 }) });
    assert.equal(await installAndRun(cache, exiter(4)), 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("wasphere run of an app run before installs it without loading binaryen", () => {
  const dir = mkdtempSync(join(tmpdir(), "wasphere-cache-"));
  try {
    // A resolve hook that fails the process if anything imports binaryen or the instrumenter. The
    // worker thread that instruments starts without it, but only after this thread imported
    // instrument-async.js to start it: that import fails here.
    const hooks = join(dir, "no-binaryen-hooks.mjs");
    writeFileSync(hooks, `export async function resolve(specifier, context, next) {
      if (specifier === "binaryen" || specifier.includes("/binaryen/") || /(^|\\/)instrument(-async|-worker)?\\.js$/.test(specifier)) throw new Error("binaryen was loaded: " + specifier);
      return next(specifier, context);
    }\n`);
    const register = join(dir, "register.mjs");
    writeFileSync(register, `import { register } from "node:module"; register(${JSON.stringify("file://" + hooks)});\n`);
    const env = { ...process.env, WASPHERE_CACHE_DIR: join(dir, "cache") };
    const run = (extra: string[]) => spawnSync(process.execPath, [...extra, "bin/wasphere.js", "run", "--seconds", "0.3", "examples/blink"], { cwd: ROOT, env, encoding: "utf8", timeout: 120_000 });
    const cold = run([]);
    assert.equal(cold.status, 0, cold.stderr);
    assert.equal(readdirSync(join(dir, "cache", "instrumented")).length, 2, "the cold run stored blink and the network manager");
    const refused = run(["--import", register]);
    assert.equal(refused.status, 0, refused.stderr);
    assert.match(refused.stdout, /GPIO 8 -> high/);
    // The hook works: with an empty cache the same run must load binaryen and fail.
    rmSync(join(dir, "cache"), { recursive: true });
    const uncached = run(["--import", register]);
    assert.notEqual(uncached.status, 0);
    assert.match(uncached.stderr, /binaryen was loaded/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
