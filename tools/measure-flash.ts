// measure-flash (`node dist/tools/measure-flash.js`): one-off figures of the device on flash (not a timed test): the image package's
// size against the module it holds, sideload time, boot time with N installed packages, the RAM
// each mounted package costs, and an app's start from the instrumented-module cache against
// WebAssembly.instantiate of the same instrumented module and against a start that instruments.
// Prints one line per figure; times are medians of many runs, in ms, each comparison's sides
// measured in the same run, alternating.
// App start: what FlashDevice.boot does for an installed app (its EntryPoint streamed from the
// core, Device.adopt through the cache: key, entry read, checks, compile) and then the instance;
// every side instantiates with the same imports. Bytes V8 compiled before in this process are
// compiled again from V8's own cache, on every side alike (the raw floor included).
// Secure boot: every package is signed and the device's security processor (in memory) trusts
// the key. Sign and verify times, each against raw WebCrypto over the same bytes; and the
// secure-boot cost per app at boot (the signature check of fs_store_activate, through the mailbox)
// against a raw WebCrypto verify of the same package, in the same run.
// Must not: write outside memory (the flashes and the cache's store are in RAM), but for the one
// temporary directory of the cache-on-disk figure, removed at its end.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { packImage } from "../host/apps/imagepkg.js";
import { encodeEntry, InstrumentCache, MemoryModuleStore } from "../host/apps/instrument-cache.js";
import { DiskModuleStore, nodeSha256 } from "../host/apps/instrument-cache-node.js";
import { APP_IMPORTS, appInstrumentOptions } from "../host/apps/imports.js";
import { AppRunner } from "../host/apps/runner.js";
import { createFlash } from "../host/flash-layout.js";
import { FlashDevice } from "../host/device-flash.js";
import type { Flash } from "../host/flash.js";
import { parsePackage, signPackage } from "../host/apps/imagepkg.js";
import { createKeyPairPem, publicKeyDerFromPem, signerFromPem } from "../host/pluton/keys.js";
import { memoryStore, openSecurityProcessor } from "../host/pluton/link.js";
import { createCapability } from "../host/pluton/capability.js";
import { verifyThroughProcessor } from "../host/boot-loader.js";
import { ROLE } from "../host/pluton/frame.js";

const KEY = await createKeyPairPem();
const signer = await signerFromPem(KEY.privatePem, "measure key");
const SPKI = await publicKeyDerFromPem(KEY.publicPem, "measure key");
/** A development-mode processor trusting the measure key (a link answers one device: one per boot). */
async function processor() {
  const { link, processor: p } = await openSecurityProcessor(memoryStore());
  await p.provision([{ role: "os", spkiDer: SPKI }, { role: "app", spkiDer: SPKI }]);
  await p.applyCapability(await createCapability(p.identity().deviceId, signer));
  return link;
}

const root = fileURLToPath(new URL("../../", import.meta.url));
const MODULE = new Uint8Array(readFileSync(`${root}examples/blink/build/blink.wasm`));
const QUOTA_BYTES = 128 * 1024;
const VERSION = "measure";
/** The store a device keeps on disk, here in memory; each cache over it is a process that has compiled nothing yet. */
const store = new MemoryModuleStore();
const newCache = () => new InstrumentCache(store, { instrumenterVersion: VERSION, sha256: nodeSha256 });
const cache = newCache();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const guid = (i: number) => `${(0x10000000 + i).toString(16)}-0000-4000-8000-000000000001`;
const enc = new TextEncoder();
const pkgOf = async (i: number, pins: number[] = []) => signPackage(await packImage({
  files: [
    { path: "app_manifest.json", bytes: enc.encode(JSON.stringify({ SchemaVersion: 1, Name: `app${i}`, ComponentId: guid(i), EntryPoint: "blink.wasm", Capabilities: { Gpio: pins }, MemoryQuotaKiB: QUOTA_BYTES / 1024 })) },
    { path: "blink.wasm", bytes: MODULE },
  ],
  componentId: guid(i), imageVersion: 1, buildTimeSeconds: 0, name: `app${i}`,
}), signer);
const boot = async (flash: Flash, startApps = false, instrumentCache = cache) => FlashDevice.boot(flash, { startApps, instrumentCache, gpioPinCount: 96, securityProcessor: await processor() });

/** Time spent in fs_store_activate's signature checks (each activation less its final, admitting call), and their count. */
const secureBoot = { ms: 0, checks: 0 };
const untilAnswered = FlashDevice.prototype.untilAnswered;
FlashDevice.prototype.untilAnswered = async function (call: () => number) {
  let lastMs = 0;
  const t = performance.now();
  const rc = await untilAnswered.call(this, () => { const s = performance.now(); const r = call(); lastMs = performance.now() - s; return r; });
  secureBoot.ms += performance.now() - t - lastMs;
  secureBoot.checks++;
  return rc;
};

/** Sign and verify of one package: the device's paths against raw WebCrypto over the same bytes, alternated. */
async function signVerify(pkg: Uint8Array): Promise<void> {
  const subtle = globalThis.crypto.subtle;
  const signedBytes = pkg.subarray(0, parsePackage(pkg).signedBytes) as unknown as BufferSource;
  const raw = await subtle.importKey("pkcs8", new Uint8Array(Buffer.from(KEY.privatePem.replace(/-----[^-]+-----|\s/g, ""), "base64")), { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  const pub = await subtle.importKey("spki", SPKI as unknown as BufferSource, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  const ALG = { name: "ECDSA", hash: "SHA-256" };
  const sig = await subtle.sign(ALG, raw, signedBytes);
  const link = await processor();
  const info = parsePackage(pkg);
  const keyId = Buffer.from(info.signature.keyId, "hex"), sigBytes = Buffer.from(info.signature.signature, "hex");
  const sides: Record<string, number[]> = { sign: [], rawSign: [], verify: [], rawVerify: [] };
  for (let r = 0; r < 41; r++) {
    const order: [string, () => Promise<unknown>][] = [
      ["sign", () => signPackage(pkg, signer)], ["rawSign", () => subtle.sign(ALG, raw, signedBytes)],
      ["verify", async () => { const v = await verifyThroughProcessor(link, ROLE.APP, keyId, sigBytes, pkg.subarray(0, info.signedBytes)); if (v.verdict !== 0) throw new Error("not verified"); }],
      ["rawVerify", () => subtle.verify(ALG, pub, sig, signedBytes)],
    ];
    for (let i = 0; i < order.length; i++) { const [k, f] = order[(r + i) % order.length]; sides[k].push(await timed(f)); }
  }
  const m = (k: string) => median(sides[k]);
  console.log(`sign a ${pkg.length} B package (pack-application --sign: parse, sign, CRC, read back by the core): ${m("sign").toFixed(3)} ms (x${(m("sign") / m("rawSign")).toFixed(2)} of a raw WebCrypto sign of its ${info.signedBytes} signed bytes, ${m("rawSign").toFixed(3)} ms)`);
  console.log(`verify it through the security processor (SHA256_INIT, ${Math.ceil(info.signedBytes / 4092)} UPDATE frames, VERIFY_TRUSTED): ${m("verify").toFixed(3)} ms (x${(m("verify") / m("rawVerify")).toFixed(2)} of a raw WebCrypto verify, ${m("rawVerify").toFixed(3)} ms)`);
  rawVerifyMs = m("rawVerify");
}
let rawVerifyMs = 0;

/** The stub imports of a raw instance: a function for every import. */
const importsFor = (m: WebAssembly.Module) => {
  const imports: Record<string, Record<string, unknown>> = {};
  for (const i of WebAssembly.Module.imports(m)) (imports[i.module] ??= {})[i.name] = () => 0;
  return imports as WebAssembly.Imports;
};

/** The instance as the device makes it (Device.instantiate: an AppRunner), its applibs the same stubs. */
const STUB_APPLIBS = Object.fromEntries(APP_IMPORTS.map((i) => [i.name, () => 0]));
const instance = (m: WebAssembly.Module) => new AppRunner(m, STUB_APPLIBS, { syscalls: { task: 0, syscallCharged: () => 0n, syscall: () => 0, takeFuel: () => 0, wallCheck: null } });

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

async function main() {
  const one = await pkgOf(0);
  console.log(`package size: ${one.length} B holding a ${MODULE.length} B module (${(one.length / MODULE.length).toFixed(2)}x; littlefs 512-byte blocks + metadata)`);
  await signVerify(one);
  const base = (await createFlash(16 * 1024 * 1024)).flash;
  await (await boot(base.clone())).deploy(one); // warms the cache: instrumented once
  const sideload: number[] = [];
  for (let r = 0; r < 9; r++) {
    const dev = await boot(base.clone());
    sideload.push(await timed(() => dev.deploy(one)));
  }
  console.log(`sideload (deploy of that package, module from the cache): ${median(sideload).toFixed(2)} ms`);
  for (const n of [1, 8, 24]) {
    const flash = base.clone();
    const dev = await boot(flash);
    for (let i = 0; i < n; i++) await dev.deploy(await pkgOf(i));
    const times: number[] = [];
    let ramLine = "";
    secureBoot.ms = 0; secureBoot.checks = 0;
    for (let r = 0; r < 9; r++) {
      const f = flash.clone();
      const fresh = newCache(); // a boot is a new process: nothing compiled yet
      let d: FlashDevice | null = null;
      times.push(await timed(async () => { d = await boot(f, true, fresh); }));
      const booted = d! as FlashDevice;
      if (booted.bootReport.started !== n) throw new Error(`started ${booted.bootReport.started} of ${n}`);
      const mountRam = booted.entries().map((x) => booted.device.core.exports.fs_mount_ram_bytes(x.mount));
      ramLine = `${Math.min(...mountRam)}..${Math.max(...mountRam)} B per mounted package, ${mountRam.reduce((a, b) => a + b, 0)} B for ${n}`;
    }
    console.log(`boot from flash with ${n} installed apps (mount, admit, stream, cache, compile, start; the apps share one module): ${median(times).toFixed(1)} ms; RAM: ${ramLine}`);
    const perApp = secureBoot.ms / secureBoot.checks;
    console.log(`  secure boot: ${perApp.toFixed(3)} ms per app (its signature checked through the mailbox; x${(perApp / rawVerifyMs).toFixed(2)} of a raw WebCrypto verify of the package, ${rawVerifyMs.toFixed(3)} ms, measured in this run), ${(100 * secureBoot.ms / times.reduce((a, b) => a + b, 0)).toFixed(1)} % of the boot`);
  }

  // App start of an installed package, alternating the sides in each run.
  const opts = appInstrumentOptions(QUOTA_BYTES);
  const instrumented = (await cache.instrument(MODULE, opts)).bytes;
  const withOne = base.clone();
  await (await boot(withOne)).deploy(one);
  const dev = await boot(withOne.clone());
  const entry = dev.entries()[0];
  const origin = `package ${entry.componentId}`;
  const key = await cache.key(MODULE, opts);
  const shape = new WebAssembly.Module(instrumented as Uint8Array<ArrayBuffer>);
  const raw: number[] = [], rawAsDevice: number[] = [], restart: number[] = [], first: number[] = [], read: number[] = [];
  const startOn = async (d: FlashDevice) => { const app = await d.device.adopt(entry.appSlot, origin, d.readEntryPoint(entry)); instance(app.module); };
  const RUNS = 44; // a multiple of the 4 sides: each goes first, second, third and last equally often
  for (let r = 0; r < RUNS + 8; r++) {
    const keep = r >= 8; // the first runs warm up
    // Booted before any side is timed, so each side runs after the same work.
    const firstCache = newCache();
    const firstDev = await boot(withOne.clone(), false, firstCache);
    firstCache.forget(key); // what its boot kept: its start below compiles
    const sides: [number[], () => Promise<unknown>][] = [
      [raw, () => WebAssembly.instantiate(instrumented as Uint8Array<ArrayBuffer>, importsFor(shape))],
      [rawAsDevice, async () => instance(await WebAssembly.compile(instrumented as Uint8Array<ArrayBuffer>))],
      // Start again in this process (a reboot or a replacement of the same module): the cache keeps the module compiled.
      [restart, () => startOn(dev)],
      // First start in a process: a device whose cache has compiled nothing (entry read, every check, compile).
      [first, () => startOn(firstDev)],
    ];
    for (let i = 0; i < sides.length; i++) {
      const [out, side] = sides[(r + i) % sides.length];
      const ms = await timed(side);
      if (keep) out.push(ms);
    }
    const readMs = await timed(async () => dev.readEntryPoint(entry));
    if (keep) read.push(readMs);
  }
  if (cache.reusedModules < RUNS + 8) throw new Error(`the restarts reused ${cache.reusedModules} kept modules, not ${RUNS + 8}`);
  // First start in a process with the cache on disk, as a device keeps it (its folder's cache/).
  const diskDir = mkdtempSync(join(tmpdir(), "wasphere-measure-"));
  const diskRaw: number[] = [], diskFirst: number[] = [];
  try {
    const onDisk = () => new InstrumentCache(new DiskModuleStore(diskDir), { instrumenterVersion: VERSION, sha256: nodeSha256 });
    await onDisk().instrument(MODULE, opts);
    for (let r = 0; r < RUNS; r++) {
      const c = onDisk();
      const d = await boot(withOne.clone(), false, c);
      c.forget(key);
      const sides: [number[], () => Promise<unknown>][] = [
        [diskRaw, () => WebAssembly.instantiate(instrumented as Uint8Array<ArrayBuffer>, importsFor(shape))],
        [diskFirst, () => startOn(d)],
      ];
      for (let i = 0; i < sides.length; i++) { const [out, side] = sides[(r + i) % sides.length]; out.push(await timed(side)); }
      if (c.counts.hits !== 2) throw new Error("the disk cache's starts were not hits");
    }
  } finally {
    rmSync(diskDir, { recursive: true, force: true });
  }
  // A start that instruments: nothing in the store (binaryen in its worker, then the same compile and instance).
  const instrumenting: number[] = [];
  for (let r = 0; r < 5; r++) {
    const coldStore = new MemoryModuleStore();
    const cold = new InstrumentCache(coldStore, { instrumenterVersion: VERSION, sha256: nodeSha256 });
    const coldDev = await boot(withOne.clone(), false, cold);
    coldStore.entries.clear(); // what its boot instrumented: this start instruments again
    cold.forget(key);
    instrumenting.push(await timed(() => startOn(coldDev)));
    if (cold.counts.misses !== 2) throw new Error("the instrumenting start did not instrument");
  }
  // A start in a new process: bytes the engine has never compiled, on both sides. Each run takes
  // two variants of the module, told apart by a custom section at its end (which the instrumenter
  // keeps where it is: checked once below), one for each side, so neither finds the other's code.
  const variant = (bytes: Uint8Array, k: number) => {
    const out = new Uint8Array(bytes.length + 8);
    out.set(bytes);
    out.set([0, 6, 1, 0x6b, k & 0xff, (k >> 8) & 0xff, (k >> 16) & 0xff, k >>> 24], bytes.length); // section 0, 6 bytes, name "k", the u32
    return out;
  };
  const viaInstrumenter = (await newCache().instrument(variant(MODULE, 0), opts)).bytes;
  const sameAsInstrumenter = viaInstrumenter.length === instrumented.length + 8 && variant(instrumented, 0).every((b, i) => b === viaInstrumenter[i]);
  const coldRaw: number[] = [], coldCache: number[] = [];
  if (sameAsInstrumenter) {
    for (let k = 1; k <= 2 * RUNS; k += 2) {
      const wasm = variant(MODULE, k);
      const k2 = await cache.key(wasm, opts);
      await store.write(k2, await encodeEntry(k2, wasm, variant(instrumented, k), nodeSha256));
    }
    const coldLoads = newCache();
    for (let r = 0; r < RUNS; r++) {
      const rawBytes = variant(instrumented, 2 * r + 2);
      const wasm = variant(MODULE, 2 * r + 1);
      const sides: [number[], () => Promise<unknown>][] = [
        [coldRaw, () => WebAssembly.instantiate(rawBytes as Uint8Array<ArrayBuffer>, importsFor(shape))],
        [coldCache, async () => instance((await coldLoads.load(wasm, opts)).module)],
      ];
      for (let i = 0; i < sides.length; i++) { const [out, side] = sides[(r + i) % sides.length]; out.push(await timed(side)); }
    }
    if (coldLoads.counts.hits !== RUNS || coldLoads.reusedModules !== 0) throw new Error(`the new-process starts were not all first hits (${JSON.stringify(coldLoads.counts)})`);
  }

  const rawMs = median(raw);
  const vs = (ms: number) => `${ms.toFixed(3)} ms (x${(ms / rawMs).toFixed(2)}; x${(ms / median(rawAsDevice)).toFixed(2)} of the second floor)`;
  console.log(`app start of the installed ${MODULE.length} B module, instrumented ${instrumented.length} B (medians of ${RUNS}, sides alternated in each run):`);
  console.log(`  floor: raw WebAssembly.instantiate of the same instrumented bytes: ${rawMs.toFixed(3)} ms; second floor, the instance as the device makes it (WebAssembly.compile, then AppRunner): ${median(rawAsDevice).toFixed(3)} ms`);
  console.log(`  from the cache, first in the process (EntryPoint streamed from the package (${median(read).toFixed(3)} ms of it), key, entry read, checked, compiled, AppRunner): ${vs(median(first))}`);
  console.log(`  the same with the cache on disk, as a device keeps it (raw floor of these runs ${median(diskRaw).toFixed(3)} ms): ${median(diskFirst).toFixed(3)} ms (x${(median(diskFirst) / median(diskRaw)).toFixed(2)})`);
  console.log(`  from the cache, module kept compiled (EntryPoint streamed, key, entry read and compared with the one checked, AppRunner): ${vs(median(restart))}`);
  console.log(`  instrumenting (nothing in the store: binaryen in its worker, then the same; medians of 5): ${vs(median(instrumenting))}`);
  if (!sameAsInstrumenter) console.log("  in a new process: not measured (the instrumenter does not keep a trailing custom section as it is)");
  else {
    console.log(`  in a new process (code the engine has not compiled, on both sides; no EntryPoint stream): raw WebAssembly.instantiate ${median(coldRaw).toFixed(3)} ms; ` +
      `from the cache (key, entry read, checked, compiled, AppRunner) ${median(coldCache).toFixed(3)} ms (x${(median(coldCache) / median(coldRaw)).toFixed(2)})`);
  }
}
await main();
