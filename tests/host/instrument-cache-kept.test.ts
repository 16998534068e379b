// The instrumented-module cache's compiled modules kept in memory (`load`): answered again only
// while the store's entry is byte for byte the one checked; a damaged, removed or replaced entry is
// checked afresh or rebuilt; a payload the engine rejects is rebuilt; a device drops what it kept
// for a package when the package is replaced or deleted, and keeps it while another app shares it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { instrumentApp } from "../../host/apps/instrument.js";
import { encodeEntry, InstrumentCache, MemoryModuleStore, type Instrumenter } from "../../host/apps/instrument-cache.js";
import { nodeSha256 } from "../../host/apps/instrument-cache-node.js";
import { appInstrumentOptions } from "../../host/apps/imports.js";
import { packImage } from "../../host/apps/imagepkg.js";
import { FlashDevice } from "../../host/device-flash.js";
import { trustedBoot, signed } from "./trust-support.js";
import type { Flash } from "../../host/flash.js";
import { ID_A, ID_B, MODULE, freshFlash, manifestOf } from "./device-flash-support.js";

const OPTS = appInstrumentOptions(128 * 1024);
const INSTRUMENTED = instrumentApp(MODULE, OPTS).bytes;

/** An instrumenter that counts its calls (the real one, in this thread). */
const counting = (calls: { n: number }): Instrumenter => async (wasm, opts) => { calls.n++; return instrumentApp(wasm, opts); };

/** The module with a custom section "k" holding the byte `k` at its end: another module, the same code. */
function variant(bytes: Uint8Array, k: number): Uint8Array {
  const out = new Uint8Array(bytes.length + 5);
  out.set(bytes);
  out.set([0, 3, 1, 0x6b, k], bytes.length); // section 0, 3 bytes: the name "k", then k
  return out;
}

async function warmCache(calls = { n: 0 }) {
  const store = new MemoryModuleStore();
  const cache = new InstrumentCache(store, { instrumenterVersion: "kept tests", instrument: counting(calls), sha256: nodeSha256 });
  const first = await cache.load(MODULE, OPTS);
  return { store, cache, first, key: first.key!, calls };
}

test("a second load of an unchanged entry answers the module kept compiled, without instrumenting", async () => {
  const { cache, first, key, calls } = await warmCache();
  assert.deepEqual([first.outcome, first.reused, calls.n, cache.keeps(key)], [{ hit: false, why: "absent" }, false, 1, true]);
  const again = await cache.load(MODULE, OPTS);
  assert.equal(again.module, first.module);
  assert.deepEqual([again.outcome, again.reused, again.instrumentedBytes, calls.n], [{ hit: true }, true, INSTRUMENTED.length, 1]);
  assert.deepEqual(cache.counts, { hits: 1, misses: 1, unusable: 0 });
  assert.equal(cache.reusedModules, 1);
  // The key is the same whatever computes the SHA-256.
  assert.equal(await new InstrumentCache(new MemoryModuleStore(), { instrumenterVersion: "kept tests" }).key(MODULE, OPTS), key);
});

test("a kept module is not answered once its entry is damaged: the entry is found unusable and rebuilt", async () => {
  const { store, cache, first, key, calls } = await warmCache();
  const good = store.entries.get(key)!;
  const bad = good.slice();
  bad[bad.length - 5] ^= 0x40;
  store.entries.set(key, bad);
  const out = await cache.load(MODULE, OPTS);
  assert.notEqual(out.module, first.module);
  assert.equal(out.reused, false);
  assert.ok(!out.outcome.hit && out.outcome.why === "unusable" && /does not match its SHA-256/.test(out.outcome.detail ?? ""), JSON.stringify(out.outcome));
  assert.equal(calls.n, 2);
  assert.deepEqual(store.entries.get(key), good, "the rebuilt entry replaced the bad one");
  // What is kept now is the rebuilt entry's module.
  const again = await cache.load(MODULE, OPTS);
  assert.deepEqual([again.module === out.module, again.reused, calls.n], [true, true, 2]);
});

test("a kept module is not answered once its entry is gone: the module is instrumented again", async () => {
  const { store, cache, first, key, calls } = await warmCache();
  store.entries.delete(key);
  const out = await cache.load(MODULE, OPTS);
  assert.deepEqual([out.outcome, out.reused, out.module === first.module, calls.n, store.entries.has(key)], [{ hit: false, why: "absent" }, false, false, 2, true]);
});

test("an entry replaced by another valid one is checked afresh, not answered from memory", async () => {
  const { store, cache, first, key, calls } = await warmCache();
  // A valid entry for the same key whose module differs (a custom section at its end).
  const other = variant(INSTRUMENTED, 7);
  store.entries.set(key, await encodeEntry(key, MODULE, other));
  const out = await cache.load(MODULE, OPTS);
  assert.deepEqual([out.outcome, out.reused, out.module === first.module, out.instrumentedBytes, calls.n], [{ hit: true }, false, false, other.length, 1]);
  assert.deepEqual(WebAssembly.Module.customSections(out.module, "k").map((b) => [...new Uint8Array(b)]), [[7]]);
});

test("forget drops the kept module: the next load checks and compiles the store's entry again", async () => {
  const { cache, first, key, calls } = await warmCache();
  cache.forget(key);
  assert.equal(cache.keeps(key), false);
  const out = await cache.load(MODULE, OPTS);
  assert.deepEqual([out.outcome, out.reused, out.module === first.module, calls.n, cache.keeps(key)], [{ hit: true }, false, false, 1, true]);
});

test("an entry whose module the engine rejects (well framed, the right shape) is rebuilt by load and by instrument", async () => {
  for (const use of ["load", "instrument"] as const) {
    const { store, key, calls } = await warmCache();
    const good = store.entries.get(key)!;
    // A type section after the code: out of order, which only the engine's validation sees.
    const rejected = new Uint8Array(INSTRUMENTED.length + 3);
    rejected.set(INSTRUMENTED);
    rejected.set([1, 1, 0], INSTRUMENTED.length);
    assert.equal(WebAssembly.validate(rejected), false);
    store.entries.set(key, await encodeEntry(key, MODULE, rejected));
    const cache = new InstrumentCache(store, { instrumenterVersion: "kept tests", instrument: counting(calls), sha256: nodeSha256 });
    const out = use === "load" ? await cache.load(MODULE, OPTS) : await cache.instrument(MODULE, OPTS);
    assert.ok(!out.outcome.hit && out.outcome.why === "unusable", use);
    assert.match(out.outcome.detail ?? "", /^the cached module fails the install checks: the engine rejects the instrumented module/, use);
    assert.equal(calls.n, 2, use);
    assert.deepEqual(store.entries.get(key), good, use);
  }
});

test("keptModules bounds what is kept (least recently used out); 0 keeps none", async () => {
  const store = new MemoryModuleStore();
  const calls = { n: 0 };
  const cache = new InstrumentCache(store, { instrumenterVersion: "kept tests", instrument: counting(calls), sha256: nodeSha256, keptModules: 2 });
  const keys: string[] = [];
  for (const k of [1, 2, 3]) keys.push((await cache.load(variant(MODULE, k), OPTS)).key!);
  assert.deepEqual(keys.map((k) => cache.keeps(k)), [false, true, true]);
  await cache.load(variant(MODULE, 2), OPTS); // now the most recently used
  await cache.load(variant(MODULE, 1), OPTS); // from the store, compiled, kept: 3 goes
  assert.deepEqual(keys.map((k) => cache.keeps(k)), [true, true, false]);
  const none = new InstrumentCache(store, { instrumenterVersion: "kept tests", instrument: counting(calls), sha256: nodeSha256, keptModules: 0 });
  const a = await none.load(MODULE, OPTS), b = await none.load(MODULE, OPTS);
  assert.deepEqual([a.reused, b.reused, a.module === b.module, none.keeps(a.key!)], [false, false, false, false]);
});

const pkgWith = async (id: string, module: Uint8Array, version = 1) => signed(await packImage({
  files: [{ path: "app_manifest.json", bytes: manifestOf(`app-${id.slice(0, 4)}`, id, []) }, { path: "blink.wasm", bytes: module }],
  componentId: id, imageVersion: version, buildTimeSeconds: 0, name: `app-${id.slice(0, 4)}`,
}));

test("a device drops the kept module of a package replaced or deleted, and keeps one another app still shares", async () => {
  const cache = new InstrumentCache(new MemoryModuleStore(), { instrumenterVersion: "kept tests", sha256: nodeSha256 });
  const keyOf = (m: Uint8Array) => cache.key(m, OPTS);
  const [k1, k2] = [await keyOf(MODULE), await keyOf(variant(MODULE, 2))];
  const flash: Flash = await freshFlash();
  const dev = await trustedBoot(flash, { startApps: false, instrumentCache: cache, gpioPinCount: 96 });
  await dev.deploy(await pkgWith(ID_A, MODULE));
  await dev.deploy(await pkgWith(ID_B, MODULE));
  assert.equal(cache.keeps(k1), true);
  await dev.remove(ID_B); // A still runs the same module
  assert.equal(cache.keeps(k1), true);
  await dev.deploy(await pkgWith(ID_A, variant(MODULE, 2), 2)); // A replaced by a package with another module
  assert.deepEqual([cache.keeps(k1), cache.keeps(k2)], [false, true]);
  await dev.remove(ID_A);
  assert.deepEqual([cache.keeps(k1), cache.keeps(k2)], [false, false]);
});

test("a boot whose cache kept the module still rebuilds a damaged entry, and runs the app", async () => {
  const calls = { n: 0 };
  const store = new MemoryModuleStore();
  const cache = new InstrumentCache(store, { instrumenterVersion: "kept tests", instrument: counting(calls), sha256: nodeSha256 });
  const flash = await freshFlash();
  await (await trustedBoot(flash, { startApps: false, instrumentCache: cache, gpioPinCount: 96 })).deploy(await pkgWith(ID_A, MODULE));
  const key = await cache.key(MODULE, OPTS);
  assert.deepEqual([calls.n, cache.keeps(key)], [1, true]);
  const entry = store.entries.get(key)!;
  entry[entry.length - 1] ^= 0xff;
  const dev = await trustedBoot(flash.clone(), { startApps: true, instrumentCache: cache, gpioPinCount: 96 });
  assert.deepEqual([dev.bootReport.started, calls.n, cache.counts.unusable], [1, 2, 1]);
  assert.equal(dev.device.step(), true, "its first slice ran");
  assert.equal(dev.device.sliceCounts.trapped, 0);
});
