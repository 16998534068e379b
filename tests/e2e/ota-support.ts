// Shared by the over-the-air update tests: the ota-counter test app packed as versions of one
// component, a feed folder served by Node's http on 127.0.0.1 (with a hook to answer a path with
// other bytes, as a lying server would), and a device on flash booted in field mode with the
// network manager and the update agent (the tree's system apps packed as a core image carries
// them) polling that feed every second on a real clock.
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { buildApp } from "../../host/apps/build.js";
import { packImage } from "../../host/apps/imagepkg.js";
import { FlashDevice } from "../../host/device-flash.js";
import { RealClock } from "../../host/peripherals/clock.js";
import { Network } from "../../host/net/network.js";
import { Flash, PowerCut, ERR_IO } from "../../host/flash.js";
import { cache } from "../host/device-flash-support.js";
import { signed, testSigner, trustedProcessor } from "../host/trust-support.js";
import { openSecurityProcessor, memoryStore, type SecurityProcessorLink } from "../../host/pluton/link.js";
import type { PlutonStore } from "../../host/pluton/processor.js";
import type { Signer } from "../../host/pluton/keys.js";
import { packSystemApps, systemAppsFromPackages } from "../../host/net/system-apps.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const counterWasm = await buildApp(join(root, "tests/apps/ota-counter/main.ts"), (p) => { try { return readFileSync(p, "utf8"); } catch { return null; } });

/** The tree's system apps as image packages (what `core sign` packs), and read as the boot loader reads them. */
export const SYSTEM_PACKAGES = await packSystemApps();
export const SYSTEM_APPS = await systemAppsFromPackages(SYSTEM_PACKAGES);

export const COUNTER_ID = "7d1e4b2a-9c3f-4a58-b6e0-2f8d1c5a7e93";
export const OTHER_ID = "2c9f7a14-5e3b-4d86-a1f0-8b6e2d4c9a71";

/**
 * An image package of `wasm` as the app `manifest` describes (its Name, ComponentId and
 * EntryPoint name the package and the module's file), at `version`, signed with the test key.
 */
export async function signedAppPkg(manifest: { Name: string; ComponentId: string; EntryPoint: string; [field: string]: unknown }, wasm: Uint8Array, version: number): Promise<Uint8Array> {
  return signed(await packImage({
    files: [{ path: "app_manifest.json", bytes: new TextEncoder().encode(JSON.stringify({ SchemaVersion: 1, ...manifest })) }, { path: manifest.EntryPoint, bytes: wasm }],
    componentId: manifest.ComponentId, imageVersion: version, buildTimeSeconds: 1764633600 + version, name: manifest.Name,
  }));
}

/** ota-counter as `componentId` at `version`, logging `build` (its CmdArgs[0]), signed with the test key. */
export async function counterPkg(version: number, build: string, componentId = COUNTER_ID, name = "ota-counter"): Promise<Uint8Array> {
  return signedAppPkg({
    Name: name, ComponentId: componentId, EntryPoint: "ota-counter.wasm", CmdArgs: [build],
    Capabilities: { MutableStorage: { SizeKB: 8 } }, MemoryQuotaKiB: 64,
  }, counterWasm, version);
}

/** A static server of the feed folder `dir` on 127.0.0.1; `override` answers a path (e.g. "/feed.json") with other bytes. */
export class FeedServer {
  readonly override = new Map<string, Uint8Array>();
  readonly hits: string[] = [];
  private server!: Server;
  port = 0;
  constructor(readonly dir: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const path = decodeURIComponent((req.url ?? "/").split("?")[0]);
      this.hits.push(path);
      const body = this.override.get(path) ?? (() => {
        const file = normalize(join(this.dir, path));
        if (!file.startsWith(this.dir)) return null;
        try { return new Uint8Array(readFileSync(file)); } catch { return null; }
      })();
      if (!body) { res.writeHead(404, { "content-length": "0" }); res.end(); return; }
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(body.length) });
      res.end(body);
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }
  get feedUrl(): string { return `http://127.0.0.1:${this.port}/feed.json`; }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface Running {
  dev: FlashDevice;
  network: Network;
  logs: (app: string) => string[];
  audits: () => string[];
  /** Waits until `app` logged a line equal to `line` (or matching it), or fails after `ms` with what it logged. */
  until: (app: string, line: string | RegExp, ms?: number) => Promise<string>;
  stop: () => Promise<void>;
}

/**
 * A device over `flash` in `mode` with the network manager and the update agent polling `feedUrl`
 * every second; `coreModule` is the core the boot loader verified (default: the build's, no boot loader).
 */
export async function bootRunning(flash: Flash, feedUrl: string, processor?: { link: SecurityProcessorLink }, mode: "field" | "development" = "field", coreModule?: WebAssembly.Module): Promise<Running> {
  const network = new Network({ resolve: async () => [] });
  const link = (processor ?? await trustedProcessor(mode)).link;
  const dev = await FlashDevice.boot(flash, {
    startApps: true, instrumentCache: cache, gpioPinCount: 96, securityProcessor: link, clock: new RealClock(), network,
    systemApps: SYSTEM_APPS, networkManager: true, updateAgent: { feedUrl, pollSeconds: 1 }, ...(coreModule ? { coreModule } : {}),
  });
  const controller = new AbortController();
  const running = dev.device.run({ signal: controller.signal });
  const logs = (app: string) => dev.device.events.of("log").filter((e) => e.app === app).map((e) => e.text);
  return {
    dev, network, logs,
    audits: () => dev.device.audit().map((a) => dev.device.describeAudit(a)),
    until: async (app, line, ms = 15000) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const hit = logs(app).find((l) => (typeof line === "string" ? l === line : line.test(l)));
        if (hit !== undefined) return hit;
        if (Date.now() > deadline) throw new Error(`${app} did not log ${String(line)}; it logged: ${JSON.stringify(logs(app))}; agent: ${JSON.stringify(logs("update-agent"))}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop: async () => { controller.abort(); await running; await dev.updatesSettled(); network.closeAll(); },
  };
}

/** A flash that keeps its bytes as a power cut left them (`atCut`) and answers the cut operation with an I/O error. */
export class SnapshotFlash extends Flash {
  atCut: Uint8Array | null = null;
  private snap(op: () => number): number {
    try { return op(); } catch (err) {
      if (!(err instanceof PowerCut) || this.atCut) throw err;
      this.atCut = this.bytes.slice();
      return ERR_IO;
    }
  }
  override prog(block: number, offset: number, src: Uint8Array): number { return this.snap(() => super.prog(block, offset, src)); }
  override erase(block: number): number { return this.snap(() => super.erase(block)); }
}

/** The OS's ComponentId in a feed (the core ignores it; `feed publish` writes this one). */
export const OS_ID = "3e0c9a7b-1d2f-4e58-8a6b-0c4d2e9f7a15";
export const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** A feed.json naming one core image at `version`, signed by `signer`, as Sequence `sequence`. */
export async function coreFeed(sequence: number, version: number, image: Uint8Array, signer: Signer = testSigner, entry: Record<string, unknown> = {}): Promise<Uint8Array> {
  const manifest = {
    Format: "wasphere-feed/1", Sequence: sequence, PublishedUtc: "2026-12-03T12:00:00.000Z", KeyId: Buffer.from(signer.keyId).toString("hex"),
    Components: [{ ComponentId: OS_ID, ImageId: "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", ImageType: 1, Version: version, Name: "wasphere-core",
      SizeBytes: image.length, Sha256: sha(image), File: `packages/${sha(image)}.imagepackage`, ...entry }],
  };
  const text = JSON.stringify(manifest, null, 2);
  const signature = await signer.sign(new TextEncoder().encode(text));
  return new TextEncoder().encode(JSON.stringify({ Manifest: text, Signature: { Algorithm: "ES256", Value: Buffer.from(signature).toString("base64") } }));
}

/** A field-mode processor store trusting the test key for the OS and apps; each power-on opens it anew. */
export async function fieldStore(): Promise<PlutonStore> {
  const store = memoryStore();
  const { processor } = await openSecurityProcessor(store);
  await processor.provision([{ role: "os", spkiDer: testSigner.spkiDer }, { role: "app", spkiDer: testSigner.spkiDer }]);
  return store;
}
