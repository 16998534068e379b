// A DeviceControl for the control endpoint's tests, over the host's Device (host/device.ts): a
// deploy has the core parse the package (pkg_parse), mounts its littlefs, installs the app from
// the package's own app_manifest.json and EntryPoint, and keeps the package in an in-memory apps
// area (first fit, whole 4,096-byte blocks) whose size is the device's apps partition. Replacing
// an installed ComponentId uninstalls the old app and reinstalls it when the new one is refused.
// Tests only: the device's real implementation is the booted device of `wasphere device boot`.
import binaryen from "binaryen";
import * as abi from "../../assembly/abi.js";
import { ControlError, type AppReport, type DeployReport, type DeviceControl, type ImageReport, type MemoryStatsReport, type QuotaReport } from "../../host/device-control.js";
import { Device, InstallError, type InstalledApp } from "../../host/device.js";
import { mountPackageFs, packImage, PackageError, parsePackage } from "../../host/apps/imagepkg.js";
import { APP_FEATURES } from "../../host/apps/instrument.js";
import { type AppPackage } from "../../host/apps/package.js";

export function wat(text: string): Uint8Array {
  const mod = binaryen.parseText(text);
  mod.setFeatures(APP_FEATURES);
  const bytes = mod.emitBinary();
  mod.dispose();
  return bytes;
}

/** An app that sleeps 20 ms at a time, forever. */
export const SLEEPER = wat(`(module (import "applibs" "sleep_ms" (func $sleep (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "main") (result i32) (loop $l (drop (call $sleep (i32.const 20))) (br $l)) (i32.const 0)))`);

const enc = new TextEncoder();
export async function tinyPackage(name: string, componentId: string, opts: { version?: number; manifest?: Record<string, unknown>; module?: Uint8Array } = {}): Promise<Uint8Array> {
  const manifest = { SchemaVersion: 1, Name: name, ComponentId: componentId, EntryPoint: "app.wasm", MemoryQuotaKiB: 128, ...opts.manifest };
  return signed(await packImage({
    files: [{ path: "app_manifest.json", bytes: enc.encode(JSON.stringify(manifest)) }, { path: "app.wasm", bytes: opts.module ?? SLEEPER }],
    componentId, imageVersion: opts.version ?? 1, buildTimeSeconds: 1764633600, name,
  }));
}

interface Held { app: InstalledApp; image: ImageReport; pkg: AppPackage; quotaBytes: number }

const BLOCK = 4096;

export class TestDeviceControl implements DeviceControl {
  readonly device = new Device();
  private readonly held = new Map<string, Held>();
  /** Calls seen, in order (the tests check the server's serialisation with it). */
  readonly calls: string[] = [];
  /** While set, every call waits for it first (a slow device). */
  gate: Promise<void> | null = null;
  private readonly abort = new AbortController();
  private readonly running: Promise<void>;

  constructor(readonly appsAreaBytes: number, readonly appsAreaOffset = 0x201000) {
    this.running = this.device.run({ signal: this.abort.signal });
  }

  async shutdown(): Promise<void> { this.abort.abort(); await this.running; }

  private async enter(what: string) { this.calls.push(what); if (this.gate) await this.gate; }

  private find(componentId: string): Held {
    const h = this.held.get(componentId);
    if (!h) throw new ControlError("not-installed", `no app with ComponentId ${componentId} is installed`);
    return h;
  }

  private place(bytes: number, except?: string): number {
    const used = [...this.held.values()].filter((h) => h.image.componentId !== except).map((h) => [h.image.offsetBytes - this.appsAreaOffset, Math.ceil(h.image.packageBytes / BLOCK) * BLOCK]).sort((a, b) => a[0] - b[0]);
    let at = 0;
    for (const [off, len] of used) { if (off - at >= bytes) break; at = off + len; }
    if (at + bytes > this.appsAreaBytes) throw new ControlError("refused", `apps partition full: no room for ${bytes} bytes`);
    return this.appsAreaOffset + at;
  }

  async listInstalled(): Promise<ImageReport[]> { await this.enter("listInstalled"); return [...this.held.values()].map((h) => h.image); }

  async deploy(bytes: Uint8Array): Promise<DeployReport> {
    await this.enter("deploy");
    let info;
    try { info = parsePackage(bytes); } catch (err) { throw new ControlError("refused", (err as PackageError).message); }
    const lfs = mountPackageFs(bytes, info);
    let manifestBytes: Uint8Array;
    try { manifestBytes = lfs.readFile("/app_manifest.json"); } catch (err) { throw new ControlError("refused", `image package: app_manifest.json: ${(err as Error).message}`); }
    const pkg: AppPackage = { origin: info.name, manifestBytes, loadEntryPoint: async (ep) => lfs.readFile(`/${ep}`) };
    const old = this.held.get(info.componentId);
    const offsetBytes = this.place(Math.ceil(bytes.length / BLOCK) * BLOCK, info.componentId);
    if (old) this.uninstall(old);
    let app: InstalledApp;
    try { app = await this.device.install(pkg); } catch (err) {
      if (old) { old.app = await this.device.install(old.pkg); this.held.set(info.componentId, old); }
      throw new ControlError("refused", err instanceof InstallError ? err.message : String(err));
    }
    if (app.componentId !== info.componentId) { this.uninstall({ app } as Held); throw new ControlError("refused", `image package: app_manifest.json: ComponentId ${app.componentId} is not the package's (${info.componentId})`); }
    const image: ImageReport = { componentId: info.componentId, imageId: info.imageId, name: info.name, version: info.version, imageType: info.imageType, packageBytes: bytes.length, offsetBytes };
    const storage = (JSON.parse(new TextDecoder().decode(manifestBytes)) as { MutableStorage?: { SizeKB?: number } }).MutableStorage;
    this.held.set(info.componentId, { app, image, pkg, quotaBytes: (storage?.SizeKB ?? 0) * 1024 });
    return { ...image, replaced: old !== undefined };
  }

  private uninstall(h: Held): void {
    if (this.device.core.exports.app_field(h.app.slot, abi.APP_FIELD_TASK) >= 0) this.device.stop(h.app);
    this.device.core.exports.app_uninstall(h.app.slot);
    this.held.delete(h.app.componentId);
  }

  async remove(componentId: string): Promise<void> { await this.enter(`remove ${componentId}`); this.uninstall(this.find(componentId)); }

  private report(h: Held): AppReport {
    const s = this.device.appStatus(h.app);
    const state = s.state === abi.TASK_BACKOFF ? "waiting-restart" : s.state === abi.TASK_FAILED ? "gave-up"
      : s.state === abi.TASK_READY || s.state === abi.TASK_RUNNING || s.state === abi.TASK_BLOCKED ? "running" : "stopped";
    return { componentId: h.app.componentId, name: h.app.name, state, crashes: s.crashes, restarts: s.restarts };
  }

  async start(componentId: string): Promise<AppReport> {
    await this.enter(`start ${componentId}`);
    const h = this.find(componentId);
    if (this.report(h).state === "running") throw new ControlError("refused", `${h.app.name}: already running`);
    try { this.device.start(h.app); } catch (err) { throw new ControlError("refused", (err as Error).message); }
    return this.report(h);
  }

  async stop(componentId: string): Promise<AppReport> {
    await this.enter(`stop ${componentId}`);
    const h = this.find(componentId);
    if (this.report(h).state !== "stopped") this.device.stop(h.app);
    return this.report(h);
  }

  async status(componentId: string): Promise<AppReport> { await this.enter(`status ${componentId}`); return this.report(this.find(componentId)); }

  async quota(componentId: string): Promise<QuotaReport> {
    await this.enter(`quota ${componentId}`);
    const h = this.find(componentId);
    return { componentId, name: h.app.name, quotaBytes: h.quotaBytes, usedBytes: 0 };
  }

  async memoryStats(componentId: string): Promise<MemoryStatsReport> {
    await this.enter(`memoryStats ${componentId}`);
    const h = this.find(componentId);
    const s = this.device.appStatus(h.app);
    return { componentId, name: h.app.name, quotaBytes: s.quotaBytes, memoryBytes: s.memoryBytes, memPeakBytes: s.memPeakBytes };
  }
}

// ---- sockets and folders ------------------------------------------------------------------

import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTrustedDevice, signed } from "./trust-support.js";

/** A device folder (2 MiB flash: an apps partition of 1,044,480 bytes) in a fresh private folder. */
export async function deviceFolder(): Promise<string> {
  const dev = join(mkdtempSync(join(tmpdir(), "wsc-")), "dev");
  await createTrustedDevice(dev, 2 * 1024 * 1024, 16);
  chmodSync(dev, 0o700);
  return dev;
}
export const APPS_PARTITION_BYTES = 2 * 1024 * 1024 / 2 - 4096;

/** A socket at `path` whose process was killed (SIGKILL): the file stays, nothing listens. */
export async function staleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(path)}, () => console.log("up"))`], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve) => child.stdout!.once("data", () => resolve()));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

/** A line client of the test's own over a raw socket: what it sends is exactly what the test wrote. */
export class RawClient {
  private buffered = "";
  private readonly lines: string[] = [];
  private waiter: (() => void) | null = null;
  ended = false;
  readonly closed: Promise<void>;
  private constructor(readonly socket: Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => {
      this.buffered += d;
      for (let nl = this.buffered.indexOf("\n"); nl >= 0; nl = this.buffered.indexOf("\n")) {
        this.lines.push(this.buffered.slice(0, nl));
        this.buffered = this.buffered.slice(nl + 1);
      }
      this.waiter?.();
    });
    socket.on("error", () => undefined);
    this.closed = new Promise((resolve) => socket.on("close", () => { this.ended = true; this.waiter?.(); resolve(); }));
  }
  static connect(path: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path);
      s.once("connect", () => resolve(new RawClient(s)));
      s.once("error", reject);
    });
  }
  send(text: string | Uint8Array): void { this.socket.write(text); }
  /** The next line the server sent, parsed; throws when none comes within `timeoutMs` or the connection ends first. */
  async next(timeoutMs = 5000): Promise<unknown> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.ended) throw new Error("connection closed with no line");
      if (Date.now() >= deadline) throw new Error(`no line within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => { this.waiter = resolve; setTimeout(resolve, Math.max(1, deadline - Date.now())); });
      this.waiter = null;
    }
    return JSON.parse(this.lines.shift()!);
  }
  async ask(request: object): Promise<unknown> { this.send(JSON.stringify(request) + "\n"); return this.next(); }
  close(): void { this.socket.destroy(); }
}
