// measure-ota (`node dist/tools/measure-ota.js`): one-off figures of over-the-air updates on
// loopback (not a timed test). A field-mode device on flash runs blink v1 with the update agent
// polling a feed served by Node's http on 127.0.0.1 every second; v2 is published, and the
// figure is the time from the agent's request for v2's package to v2's start on the device (the
// download, the core's SHA-256 and signature checks through the security processor, the commit,
// the instrumented module from the cache, the start). For a core image: from the request for the
// image to its PENDING record (download, checks, the slot's erase and program), and the boot
// after it (the boot loader's trial, its confirmation) timed apart. The poll period is left out
// of both: it is the feed's, not the device's. Medians of RUNS runs, in ms.
// Must not: write outside memory (flashes, stores and the cache are in RAM), but for the feed
// folder in one temporary directory, removed at the end.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as abi from "../assembly/abi.js";
import { packImage, signPackage } from "../host/apps/imagepkg.js";
import { InstrumentCache, MemoryModuleStore } from "../host/apps/instrument-cache.js";
import { nodeSha256 } from "../host/apps/instrument-cache-node.js";
import { bootOs, signCoreImage, writeCoreImage } from "../host/boot-loader.js";
import { CORE_WASM_PATH } from "../host/core.js";
import { FlashDevice } from "../host/device-flash.js";
import { createFlash } from "../host/flash-layout.js";
import { Network } from "../host/net/network.js";
import { RealClock } from "../host/peripherals/clock.js";
import { createKeyPairPem, publicKeyDerFromPem, signerFromPem } from "../host/pluton/keys.js";
import { memoryStore, openSecurityProcessor } from "../host/pluton/link.js";
import { createCapability } from "../host/pluton/capability.js";
import { publishFeed } from "../host/update-feed.js";
import { packSystemApps, systemAppsFromPackages } from "../host/net/system-apps.js";

const RUNS = 5;
const KEY = await createKeyPairPem();
const signer = await signerFromPem(KEY.privatePem, "measure key");
const SPKI = await publicKeyDerFromPem(KEY.publicPem, "measure key");
const root = fileURLToPath(new URL("../../", import.meta.url));
const MODULE = new Uint8Array(readFileSync(`${root}examples/blink/build/blink.wasm`));
const ID = "5b2e8c41-7a0d-4f63-9e18-3c6d0a7f2b95";
const cache = new InstrumentCache(new MemoryModuleStore(), { instrumenterVersion: "measure-ota", sha256: nodeSha256 });
const enc = new TextEncoder();
/** The tree's system apps as a core image carries them, packed once. */
const SYSTEM = await packSystemApps();
const SYSTEM_APPS = await systemAppsFromPackages(SYSTEM);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

const blinkPkg = async (version: number) => signPackage(await packImage({
  files: [
    { path: "app_manifest.json", bytes: enc.encode(JSON.stringify({ SchemaVersion: 1, Name: "blink", ComponentId: ID, EntryPoint: "blink.wasm", CmdArgs: [`v${version}`], Capabilities: { Gpio: [9] }, MemoryQuotaKiB: 128 })) },
    { path: "blink.wasm", bytes: MODULE },
  ],
  componentId: ID, imageVersion: version, buildTimeSeconds: 1764633600 + version, name: "blink",
}), signer);

const V1 = await blinkPkg(1), V2 = await blinkPkg(2);

/** A processor store trusting the measure key; `development` for the factory's install. */
async function store(development: boolean) {
  const s = memoryStore();
  const { processor } = await openSecurityProcessor(s);
  await processor.provision([{ role: "os", spkiDer: SPKI }, { role: "app", spkiDer: SPKI }]);
  if (development) await processor.applyCapability(await createCapability(processor.identity().deviceId, signer));
  return s;
}

/** A static server of `dir` on 127.0.0.1 that notes when each path was first asked for. */
async function serve(dir: string) {
  const firstHitMs = new Map<string, number>();
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (!firstHitMs.has(path)) firstHitMs.set(path, performance.now());
    let body: Uint8Array;
    try { body = new Uint8Array(readFileSync(join(dir, path))); } catch { res.writeHead(404, { "content-length": "0" }); res.end(); return; }
    res.writeHead(200, { "content-length": String(body.length) });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { firstHitMs, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/feed.json`, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

async function until(what: string, done: () => boolean, ms = 60000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`measure-ota: ${what} did not happen in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function appUpdate(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "wasphere-measure-ota-"));
  try {
    const { flash } = await createFlash(16 * 1024 * 1024);
    const factory = await FlashDevice.boot(flash, { startApps: false, instrumentCache: cache, gpioPinCount: 96, securityProcessor: (await openSecurityProcessor(await store(true))).link });
    await factory.deploy(V1);
    factory.device.shutdown();
    writeFileSync(join(dir, "v1.imagepackage"), V1);
    await publishFeed(join(dir, "feed"), KEY.privatePem, [join(dir, "v1.imagepackage")]);
    const server = await serve(join(dir, "feed"));
    const network = new Network({ resolve: async () => [] });
    const dev = await FlashDevice.boot(flash, {
      startApps: true, instrumentCache: cache, gpioPinCount: 96, securityProcessor: (await openSecurityProcessor(await store(false))).link,
      clock: new RealClock(), network, systemApps: SYSTEM_APPS, networkManager: true, updateAgent: { feedUrl: server.url, pollSeconds: 1 },
    });
    let startedMs = 0;
    let applied = false;
    const stop = dev.device.events.listen((e) => {
      if (e.kind === "audit" && e.entry?.kind === abi.EV_UPDATE_APPLIED) applied = true;
      if (applied && startedMs === 0 && e.kind === "app" && e.what === "started" && e.app === "blink") startedMs = performance.now();
    });
    const controller = new AbortController();
    const running = dev.device.run({ signal: controller.signal });
    try {
      await until("the agent's first poll", () => server.firstHitMs.has("/feed.json"));
      writeFileSync(join(dir, "v2.imagepackage"), V2);
      const p = await publishFeed(join(dir, "feed"), KEY.privatePem, [join(dir, "v2.imagepackage")]);
      const file = `/${p.published[0].File}`;
      await until("v2's start", () => startedMs !== 0);
      return startedMs - server.firstHitMs.get(file)!;
    } finally {
      stop();
      controller.abort();
      await running;
      await dev.updatesSettled();
      network.closeAll();
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function coreUpdate(): Promise<{ stageMs: number; bootMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), "wasphere-measure-ota-"));
  try {
    const core = new Uint8Array(readFileSync(CORE_WASM_PATH));
    const { flash } = await createFlash(16 * 1024 * 1024);
    writeCoreImage(flash, await signCoreImage(core, signer, 1, SYSTEM));
    writeFileSync(join(dir, "core.img"), await signCoreImage(core, signer, 2, SYSTEM));
    const s = await store(false);
    const server = await serve(join(dir, "feed"));
    const network = new Network({ resolve: async () => [] });
    const dev = await FlashDevice.boot(flash, {
      startApps: true, instrumentCache: cache, gpioPinCount: 96, securityProcessor: (await openSecurityProcessor(s)).link,
      clock: new RealClock(), network, systemApps: SYSTEM_APPS, networkManager: true, updateAgent: { feedUrl: server.url, pollSeconds: 1 },
    });
    const controller = new AbortController();
    const running = dev.device.run({ signal: controller.signal });
    let stageMs: number;
    try {
      const p = await publishFeed(join(dir, "feed"), KEY.privatePem, [join(dir, "core.img")]);
      await until("the PENDING record", () => dev.device.rebootRequest !== null);
      stageMs = performance.now() - server.firstHitMs.get(`/${p.published[0].File}`)!;
    } finally {
      controller.abort();
      await running;
      await dev.updatesSettled();
      network.closeAll();
      await server.close();
    }
    const t = performance.now();
    const os = await bootOs(flash, async () => (await openSecurityProcessor(s)).link, (c, link) =>
      FlashDevice.boot(flash, { startApps: true, instrumentCache: cache, gpioPinCount: 96, securityProcessor: link, coreModule: c.module }));
    const bootMs = performance.now() - t;
    if (!os.trial?.confirmed || os.core.image.version !== 2) throw new Error(`measure-ota: the core update was not confirmed (${os.lines.join("; ")})`);
    os.booted.device.shutdown();
    return { stageMs, bootMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const app: number[] = [];
const stage: number[] = [], trial: number[] = [];
await appUpdate(); // warms the cache and V8: the figures are the later runs'
for (let i = 0; i < RUNS; i++) app.push(await appUpdate());
for (let i = 0; i < RUNS; i++) { const c = await coreUpdate(); stage.push(c.stageMs); trial.push(c.bootMs); }
console.log(`app update, download to running (blink v2, ${V2.length} B package, loopback): median ${median(app).toFixed(1)} ms of ${RUNS} runs (${Math.min(...app).toFixed(1)}..${Math.max(...app).toFixed(1)})`);
console.log(`core update, download to PENDING (the other OS slot erased, programmed, checked): median ${median(stage).toFixed(1)} ms (${Math.min(...stage).toFixed(1)}..${Math.max(...stage).toFixed(1)})`);
console.log(`core update, the boot after it (trial, healthy boot, CONFIRMED, counter 0): median ${median(trial).toFixed(1)} ms (${Math.min(...trial).toFixed(1)}..${Math.max(...trial).toFixed(1)})`);
