// device-flash: a device that lives on its flash: boot from the core's installed-app list, deploy,
// replace and delete image packages, and the DeviceControl verbs (host/device-control.ts) over it.
//
// Mechanism only. The core (fs_store_*, appmgr/store.ts) decides where a package goes, checks it,
// mounts it, admits its manifest and commits the list; this file moves the package's bytes to the
// core in chunks, takes the EntryPoint module's bytes back from the core (the host never opens the
// flash to look for an app), prepares the module (the instrumented-module cache), and runs apps.
// After every change the host's view is synced from the core's entries: an app the core no longer
// holds is forgotten, one it newly admitted is adopted.
// Invariants: the host's installed apps are exactly the core's admitted entries after each verb;
// every message that came from a package is printable.
// Memory: one package in the caller's heap during a deploy; one module per adopted app.
// Must not: decide whether a package is accepted; read the flash's bytes itself.
import * as abi from "../assembly/abi.js";
import { Device, type DeviceConfig, type InstalledApp, InstallError, errnoName } from "./device.js";
import type { Flash } from "./flash.js";
import { guidText } from "./apps/imagepkg.js";
import { printable } from "./printable.js";
import type { SystemApps } from "./net/system-apps.js";
import {
  ControlError, type AppReport, type DeployReport, type DeviceControl, type ImageReport, type MemoryStatsReport, type QuotaReport,
} from "./device-control.js";

/** One entry of the core's installed-app list (SPEC.md, "Installed-app list", the 64-byte record). */
export interface StoreEntry {
  index: number;
  componentId: string;
  imageId: string;
  firstBlock: number;
  blocks: number;
  packageBytes: number;
  /** Its app slot, or -1 when it is not admitted. */
  appSlot: number;
  mount: number;
  /** 0 admitted, 1 not yet activated, or the -errno it was refused with. */
  status: number;
  entryPointBytes: number;
  version: number;
}

export function decodeEntry(index: number, r: Uint8Array): StoreEntry {
  if (r.length !== 64) throw new Error(`installed-app list: an entry record of ${r.length} bytes (64 expected)`);
  const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
  return {
    index, componentId: guidText(r.subarray(0, 16)), imageId: guidText(r.subarray(16, 32)),
    firstBlock: v.getUint32(32, true), blocks: v.getUint32(36, true), packageBytes: v.getUint32(40, true),
    appSlot: v.getInt32(44, true), mount: v.getInt32(48, true), status: v.getInt32(52, true),
    entryPointBytes: v.getUint32(56, true), version: v.getUint32(60, true),
  };
}

export interface BootOptions extends Omit<DeviceConfig, "flashDevice" | "flash"> {
  /** Start every admitted app (a booted device); false: the verbs on a stopped device. */
  startApps: boolean;
  /**
   * The OS image's system apps (host/net/system-apps.ts): through the boot loader, the verified
   * core image's (VerifiedCore.systemApps), never the host's tree.
   */
  systemApps?: SystemApps;
  /** With a network (DeviceConfig.network) and startApps: install and start the network manager of `systemApps`. */
  networkManager?: boolean;
  /** With a network and startApps: install and start the update agent of `systemApps` polling this feed. */
  updateAgent?: { feedUrl: string; pollSeconds?: number };
}

/** What boot did, a line per package and app. */
export interface BootReport { lines: string[]; mounted: number; refused: number; started: number }

export class FlashDevice implements DeviceControl {
  readonly device: Device;
  readonly bootReport: BootReport = { lines: [], mounted: 0, refused: 0, started: 0 };
  private readonly running: boolean;
  /** The ImageId each adopted app's module came from, by app slot: a replacement may reuse the slot. */
  private readonly adoptedImage = new Map<number, string>();

  private constructor(device: Device, running: boolean) {
    this.device = device;
    this.running = running;
  }

  /** Boots the core over `flash`: the list, each package mounted and admitted, each app started when `startApps`. */
  static async boot(flash: Flash, opts: BootOptions): Promise<FlashDevice> {
    const device = new Device({ ...opts, flashDevice: flash });
    const me = new FlashDevice(device, opts.startApps);
    const e = device.core.exports;
    if (!e.fs_store_boot) throw new Error("this core has no installed-app list (fs_store_*): boot from flash needs the full core");
    const n = e.fs_store_boot(flash.blockSizeBytes, flash.blockCount);
    if (n < 0) throw new Error(printable(device.core.lastError() || `boot refused (${errnoName(n)})`));
    const log = me.bootReport;
    log.lines.push(`installed-app list: ${n} package${n === 1 ? "" : "s"}`);
    for (let i = 0; i < n; i++) {
      const slot = await me.untilAnswered(() => e.fs_store_activate(i));
      const entry = me.entry(i);
      if (slot < 0) {
        log.refused++;
        log.lines.push(`package ${entry.componentId}: refused, not started: ${printable(device.core.lastError() || errnoName(slot))}`);
        continue;
      }
      try {
        const app = await me.adoptEntry(entry);
        log.mounted++;
        log.lines.push(`package ${entry.componentId} "${printable(app.name)}": mounted read-only at flash block ${entry.firstBlock} (${entry.packageBytes} bytes, mount ${entry.mount}, ${e.fs_mount_ram_bytes(entry.mount)} B of RAM)`);
        if (opts.startApps) {
          device.start(app);
          log.started++;
          log.lines.push(`app "${printable(app.name)}": started`);
        }
      } catch (err) {
        log.refused++;
        log.lines.push(`package ${entry.componentId}: not started: ${printable(err instanceof Error ? err.message : String(err))}`);
      }
    }
    if (opts.networkManager && opts.network && opts.startApps) {
      const { startNetworkManager } = await import("./net/system-apps.js");
      const app = await startNetworkManager(device, opts.systemApps ?? new Map());
      log.lines.push(`system app "${printable(app.name)}": started`);
    }
    // An update the core applied (drivers/update.ts) replaced an entry: the host adopts its new
    // module and starts it, as after a deploy.
    device.auditListeners.push((a) => { if (a.kind === abi.EV_UPDATE_APPLIED) me.updateApplied(a.arg); });
    if (opts.updateAgent && opts.network && opts.startApps) {
      const { startUpdateAgent } = await import("./net/system-apps.js");
      const app = await startUpdateAgent(device, opts.systemApps ?? new Map(), opts.updateAgent.feedUrl, opts.updateAgent.pollSeconds);
      log.lines.push(`system app "${printable(app.name)}": started, feed ${printable(opts.updateAgent.feedUrl)}`);
    }
    return me;
  }

  /** The adoptions of applied updates in flight, in order (each waits for the one before). */
  private updates: Promise<void> = Promise.resolve();
  /** Resolves when every applied update seen so far is adopted (and started on a running device). */
  updatesSettled(): Promise<void> { return this.updates; }

  /** Entry `index` was replaced by an update from the feed: its new app is adopted, and started when the device runs. */
  private updateApplied(index: number): void {
    this.updates = this.updates.then(async () => {
      try {
        await this.sync();
        const x = this.entry(index);
        const app = this.device.installedApps().find((a) => a.slot === x.appSlot);
        if (app && this.running && !this.isRunning(app)) this.device.start(app);
        this.device.events.push(this.device.clock.nowMs(), { kind: "app", app: app?.name ?? `entry ${index}`, what: "updated", detail: `version ${x.version}` });
      } catch (err) {
        this.device.events.push(this.device.clock.nowMs(), { kind: "app", app: `entry ${index}`, what: "host error", detail: printable(err instanceof Error ? err.message : String(err)) });
      }
    });
  }

  /**
   * Calls `call` until it stops answering -EINPROGRESS: the core checks a package's signature
   * through the security processor (appmgr/verify.ts), whose answers come between calls.
   */
  async untilAnswered(call: () => number): Promise<number> {
    let rc = call();
    while (rc === -abi.EINPROGRESS) {
      await this.device.mailboxIdle();
      rc = call();
    }
    return rc;
  }

  /**
   * The security processor's attestation over `nonce` (32 bytes): its statement (SPEC.md,
   * "Attestation": the boot measurement, then each running package's) and its signature.
   */
  async attest(nonce: Uint8Array): Promise<{ statement: Uint8Array; signature: Uint8Array }> {
    const e = this.device.core.exports;
    let r = e.fs_store_attest(nonce);
    while (r === -abi.EINPROGRESS) {
      await this.device.mailboxIdle();
      r = e.fs_store_attest(nonce);
    }
    if (typeof r === "number") throw new Error(printable(this.device.core.lastError() || `attestation refused (${errnoName(r)})`));
    return { statement: r.slice(0, r.length - 64), signature: r.slice(r.length - 64) };
  }

  entries(): StoreEntry[] {
    const n = this.device.core.exports.fs_store_count();
    return Array.from({ length: Math.max(0, n) }, (_, i) => this.entry(i));
  }

  private entry(i: number): StoreEntry {
    const r = this.device.core.exports.fs_store_entry(i);
    if (typeof r === "number") throw new ControlError("internal", printable(this.device.core.lastError()));
    return decodeEntry(i, r);
  }

  /** The EntryPoint module of entry `i`, streamed from the core in chunks. */
  readEntryPoint(entry: StoreEntry): Uint8Array {
    const out = new Uint8Array(entry.entryPointBytes);
    let at = 0;
    while (at < out.length) {
      const chunk = this.device.core.exports.fs_store_read_entry_point(entry.index, at, Math.min(abi.FS_IO_CHUNK_BYTES, out.length - at));
      if (typeof chunk === "number") throw new Error(printable(this.device.core.lastError() || errnoName(chunk)));
      if (chunk.length === 0) throw new Error(`image package: EntryPoint: ended at ${at} of ${out.length} bytes`);
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }

  private async adoptEntry(entry: StoreEntry): Promise<InstalledApp> {
    const app = await this.device.adopt(entry.appSlot, `package ${entry.componentId}`, this.readEntryPoint(entry));
    this.adoptedImage.set(entry.appSlot, entry.imageId);
    return app;
  }

  /** The host's apps made the core's admitted entries again (after a deploy or delete). */
  private async sync(): Promise<void> {
    const admitted = this.entries().filter((x) => x.appSlot >= 0);
    const bySlot = new Map(admitted.map((x) => [x.appSlot, x]));
    for (const app of this.device.installedApps()) {
      // The OS image's system apps (installSystem) are no entries of the list: they stay.
      if (!this.adoptedImage.has(app.slot)) continue;
      const x = bySlot.get(app.slot);
      if (!x || x.componentId !== app.componentId || this.adoptedImage.get(app.slot) !== x.imageId) {
        this.device.forget(app.slot);
        this.adoptedImage.delete(app.slot);
      }
    }
    const held = new Set(this.device.installedApps().map((a) => a.slot));
    for (const x of admitted) if (!held.has(x.appSlot)) await this.adoptEntry(x);
  }

  private report(x: StoreEntry): ImageReport {
    const app = this.device.installedApps().find((a) => a.slot === x.appSlot);
    return {
      componentId: x.componentId, imageId: x.imageId, name: printable(app?.name ?? ""), version: x.version,
      imageType: abi.PKG_IMAGE_TYPE_APPLICATION, packageBytes: x.packageBytes, offsetBytes: x.firstBlock * (this.device.flash?.blockSizeBytes ?? 0),
    };
  }

  async listInstalled(): Promise<ImageReport[]> { return this.entries().map((x) => this.report(x)); }

  async deploy(packageBytes: Uint8Array): Promise<DeployReport> {
    const e = this.device.core.exports;
    const before = new Map(this.entries().map((x) => [x.componentId, x]));
    const refuse = (rc: number): never => { throw new ControlError("refused", printable(this.device.core.lastError() || errnoName(rc))); };
    const begun = e.fs_store_deploy_begin(packageBytes.length);
    if (begun < 0) refuse(begun);
    for (let at = 0; at < packageBytes.length; at += abi.FS_IO_CHUNK_BYTES) {
      const rc = e.fs_store_deploy_write(packageBytes.subarray(at, at + abi.FS_IO_CHUNK_BYTES));
      if (rc < 0) refuse(rc);
    }
    // A running app about to be replaced loses its instance in the core's commit; whether the
    // commit happens is the core's decision, so its state is noted to restore it if it does not.
    const wasRunning = new Set(this.device.installedApps().filter((a) => this.isRunning(a)).map((a) => a.componentId));
    const idx = await this.untilAnswered(() => e.fs_store_deploy_commit());
    const message = idx < 0 ? printable(this.device.core.lastError() || errnoName(idx)) : "";
    await this.sync();
    if (idx < 0) {
      // A refused replacement put the old app back in the table: it runs again if it ran.
      for (const app of this.device.installedApps()) if (wasRunning.has(app.componentId) && !this.isRunning(app)) this.device.start(app);
      throw new ControlError("refused", message);
    }
    const x = this.entry(idx);
    if (this.running) {
      const app = this.device.installedApps().find((a) => a.slot === x.appSlot);
      if (app) this.device.start(app);
    }
    return { ...this.report(x), replaced: before.has(x.componentId) };
  }

  async remove(componentId: string): Promise<void> {
    const x = this.find(componentId);
    const rc = this.device.core.exports.fs_store_remove(x.index);
    if (rc < 0) throw new ControlError("refused", printable(this.device.core.lastError() || errnoName(rc)));
    await this.sync();
  }

  private find(componentId: string): StoreEntry {
    const x = this.entries().find((y) => y.componentId === componentId.toLowerCase());
    if (!x) throw new ControlError("not-installed", `no image package with ComponentId ${printable(componentId)} is installed`);
    return x;
  }

  private appOf(componentId: string): InstalledApp {
    const x = this.find(componentId);
    const app = this.device.installedApps().find((a) => a.slot === x.appSlot);
    if (!app) throw new ControlError("unavailable", `${x.componentId}: its package was refused at boot (${errnoName(x.status)}); deploy it again`);
    return app;
  }

  private isRunning(app: InstalledApp): boolean {
    return this.device.core.exports.app_field(app.slot, abi.APP_FIELD_TASK) >= 0;
  }

  async start(componentId: string): Promise<AppReport> {
    const app = this.appOf(componentId);
    if (!this.running) throw new ControlError("unavailable", "the device is not running: `wasphere device boot` it to start apps");
    if (!this.isRunning(app)) {
      try { this.device.start(app); } catch (err) {
        if (err instanceof InstallError) throw new ControlError("refused", err.message);
        throw err;
      }
    }
    return this.status(componentId);
  }

  async stop(componentId: string): Promise<AppReport> {
    const app = this.appOf(componentId);
    if (this.isRunning(app)) this.device.stop(app);
    return this.status(componentId);
  }

  async status(componentId: string): Promise<AppReport> {
    const app = this.appOf(componentId);
    const s = this.device.appStatus(app);
    const state: AppReport["state"] = s.state === abi.TASK_BACKOFF ? "waiting-restart" : s.state === abi.TASK_FAILED ? "gave-up"
      : this.isRunning(app) ? "running" : "stopped";
    return { componentId: app.componentId, name: printable(app.name), state, crashes: s.crashes, restarts: s.restarts };
  }

  /** The app's MutableStorage quota and what its files cost on flash, as the core counts them (0 and 0 without the capability). */
  async quota(componentId: string): Promise<QuotaReport> {
    const app = this.appOf(componentId);
    const e = this.device.core.exports;
    const quotaBytes = e.app_field(app.slot, abi.APP_FIELD_STORAGE_QUOTA_BYTES);
    const used = quotaBytes > 0 ? e.app_field(app.slot, abi.APP_FIELD_STORAGE_USED_BYTES) : 0;
    if (used < 0) throw new ControlError("internal", `${app.componentId}: its storage cannot be read (errno ${-used})`);
    return { componentId: app.componentId, name: printable(app.name), quotaBytes, usedBytes: used };
  }

  async memoryStats(componentId: string): Promise<MemoryStatsReport> {
    const app = this.appOf(componentId);
    const s = this.device.appStatus(app);
    return { componentId: app.componentId, name: printable(app.name), quotaBytes: s.quotaBytes, memoryBytes: s.memoryBytes, memPeakBytes: s.memPeakBytes };
  }
}
