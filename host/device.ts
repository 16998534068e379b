// Device: one wasphere device: a core, its peripherals, and the apps it runs.
//
// The device is the host's half of the design: it owns the mechanisms (the GPIO model, clock,
// flash, the app instances and their memories) and asks the core for every decision: whether a
// manifest is acceptable, whether an app fits in RAM, who runs next and for how much fuel, whether a
// syscall is allowed. Each app is its own WebAssembly instance; the device copies bytes between an
// app's memory and the core's and never gives an app a view of core memory.
// Invariants: one slice runs at a time; an app's trap ends that app's instance only; the core is
// told why every slice ended; an error of the host's own (not a trap) is never charged to the app:
// the app is stopped and the error leaves step() as a HostError.
import * as abi from "../assembly/abi.js";
import { Board, addBoardToCore, defaultBoardSpecs } from "./peripherals/board.js";
import type { SecurityProcessorLink } from "./pluton/link.js";
import type { NetworkLink } from "./net/link.js";
import { ModuleCore, CorePanic, coreModule, flashHal, type Core, type CoreTap, type Hal } from "./core.js";
import { EventRing } from "./events.js";
import { Flash, type FlashGeometry } from "./flash.js";
import { GpioBank } from "./peripherals/gpio.js";
import { type Clock, RealClock } from "./peripherals/clock.js";
import { type AppPackage } from "./apps/package.js";
import { checkInstrumentedModule } from "./apps/protocol.js";
import { AppInstantiateError, AppRunner, applibsImports, SLICE_REASONS, type SliceResult, type SyscallBinding } from "./apps/runner.js";
import { APP_IMPORTS, appInstrumentOptions } from "./apps/imports.js";
import { printable, printableLines } from "./printable.js";
import { HostYield, wallMs } from "./yield.js";
import { compileWasm, decodeUtf8 } from "./engine.js";
import type { InstrumentCache } from "./apps/instrument-cache.js";

/**
 * The instrumenter pulls in binaryen (about 15 MB): it is loaded on the first install of a raw
 * app only, so a host that installs pre-instrumented modules (`installInstrumented`) never loads it.
 */
const loadInstrumenter = async () => {
  try {
    return await import("./apps/instrument-async.js");
  } catch (err) {
    throw new Error(`this host cannot instrument a raw app (the instrumenter, binaryen, is not here: ${(err as Error).message}); install apps instrumented ahead of time (\`wasphere instrument\`) with installInstrumented`);
  }
};

export interface DeviceConfig {
  gpioPinCount?: number;
  /** The most RAM one app may ask for. */
  appQuotaCeilingBytes?: number;
  /** What an app gets when its manifest does not say. */
  defaultAppQuotaBytes?: number;
  clock?: Clock;
  flash?: FlashGeometry;
  /** A flash that already holds the device's bytes (a device folder's); takes the place of `flash`. */
  flashDevice?: Flash;
  eventCapacity?: number;
  /** core.wasm, compiled; by default read from the build folder (Node only). */
  coreModule?: WebAssembly.Module;
  /**
   * Real time one slice may take: at the first syscall after it, the slice ends even with fuel
   * left. Default: SLICE_WALL_BUDGET_MS on a real clock; none on a virtual one, whose runs must
   * be the same every time (there, host work is bounded by the fuel it is charged).
   */
  sliceWallBudgetMs?: number;
  /** The wall clock the slice budget is measured on (ms); by default performance.now (Date.now where an engine lacks it). */
  wallClockMs?: () => number;
  /** Sees every call across the core boundary (host/replay.ts). */
  coreTap?: CoreTap;
  /** Builds the core over the device's hal (another Core implementation); by default a ModuleCore over `coreModule`. */
  createCore?: (hal: Hal, tap?: CoreTap) => Core;
  /**
   * Where `install` keeps and finds instrumented modules (host/apps/instrument-cache.ts): with one,
   * installing a module instrumented before never loads binaryen. None by default.
   */
  instrumentCache?: InstrumentCache;
  /**
   * The peripheral interfaces and the parts wired to them (host/peripherals/board.ts); by default
   * the board `device create` describes (defaultBoardSpecs) with nothing attached.
   */
  board?: Board;
  /**
   * The security processor behind the mailbox (host/pluton/link.ts): the core's mailbox-post goes
   * to it and its responses come back through mailbox-deliver. None by default: mailbox-post
   * answers -ENODEV.
   */
  securityProcessor?: SecurityProcessorLink;
  /**
   * The network (host/net/network.ts on Node: real sockets): the core's net-control and net-read
   * go to it and its news comes back through net-notify. None by default: every connect and
   * listen answers -ENODEV. Apps reach it only once the network manager (a system app,
   * installSystem) has published networking as ready.
   */
  network?: NetworkLink;
  /**
   * The device's real-time clock at boot (UTC ms since the Unix epoch, host/rtc.ts): the core's
   * UTC clock starts there (clock-set-utc-ms). None: it counts from the epoch at boot, as a
   * device whose RTC lost power; a virtual-clock device given none reads the same every run.
   */
  utcMs?: number;
}

/**
 * A request to take the device down (EV_REBOOT_REQUESTED; SPEC.md "Reboot"): why (a
 * REBOOT_REASON_*), the app that asked (null: none), the seconds a power-down stays down (else
 * 0), and the device's uptime when it asked.
 */
export interface RebootRequest { reason: number; slot: number; appName: string | null; downSeconds: number; uptimeMs: number }

type ConfigFigures = Required<Omit<DeviceConfig, "clock" | "flash" | "flashDevice" | "eventCapacity" | "coreModule" | "wallClockMs" | "sliceWallBudgetMs" | "coreTap" | "createCore" | "instrumentCache" | "board" | "securityProcessor" | "network" | "utcMs">>;

export const DEFAULT_DEVICE: ConfigFigures = {
  gpioPinCount: 96,
  appQuotaCeilingBytes: abi.DEFAULT_APP_QUOTA_BYTES,
  defaultAppQuotaBytes: abi.DEFAULT_APP_QUOTA_BYTES,
};
/** About 50 times a full slice of compute (DESIGN.md, "Scheduling"): only host work gets there. */
export const SLICE_WALL_BUDGET_MS = 10;

export class InstallError extends Error {
  /** `message` must already be printable (see printable.ts); the origin is escaped here. */
  constructor(readonly origin: string, readonly code: number, message: string) { super(`${printable(origin)}: ${message}`); }
}

/** The host itself failed (a bug or a broken peripheral model), as opposed to an app. */
export class HostError extends Error {}

/** The 4 MiB, as the core accounts for it. */
export interface MemoryMap {
  totalBytes: number;
  staticBytes: number;
  tableBytes: number;
  heapInUseBytes: number;
  heapPeakBytes: number;
  heapSpanBytes: number;
  appReservedBytes: number;
  freeBytes: number;
}

export interface AuditEntry {
  seq: number;
  timeMs: number;
  kind: number;
  task: number;
  app: number;
  syscall: number;
  arg: number;
  result: number;
}

export interface InstalledApp {
  slot: number;
  name: string;
  componentId: string;
  module: WebAssembly.Module;
  originalBytes: number;
  instrumentedBytes: number;
  quotaBytes: number;
  /**
   * SHA-256 (hex) of the module as loaded at install; each start and restart checks the package still holds it.
   * Empty for a package held in memory on an engine without WebCrypto (nothing to re-check).
   */
  moduleSha256: string;
  /** The instrumented-module cache's key for its module, null when it did not come through the cache. */
  cacheKey?: string | null;
}

/** A module made ready to install: instrumented, and compiled when the cache did it. */
interface PreparedModule { bytes: Uint8Array; originalBytes: number; module?: WebAssembly.Module; key?: string | null }

/** Device.appStatus: an installed app as the core accounts for it. */
export interface AppStatus {
  state: number;
  crashes: number;
  restarts: number;
  slices: number;
  memPeakBytes: number;
  memoryBytes: number;
  quotaBytes: number;
}

/** One slice as it ended: `value` is the exit code when `exited`, else 0. */
export interface SliceRecord {
  task: number;
  app: string;
  reason: SliceResult["reason"];
  fuelUsed: number;
  value: number;
}

interface LiveTask {
  task: number;
  app: InstalledApp;
  runner: AppRunner;
}

/** What each IMAGE_REFUSED_* reason of an EV_IMAGE_REFUSED entry means. */
const IMAGE_REFUSED_TEXT: Record<number, string> = {
  [abi.IMAGE_REFUSED_UNSIGNED]: "unsigned",
  [abi.IMAGE_REFUSED_UNTRUSTED_KEY]: "signed by a key the device does not trust for apps",
  [abi.IMAGE_REFUSED_BAD_SIGNATURE]: "its signature does not verify (altered after signing)",
  [abi.IMAGE_REFUSED_FIELD_MODE]: "the device is in field mode (no sideloading)",
  [abi.IMAGE_REFUSED_NO_PROCESSOR]: "no security processor to verify it",
};

/** What each UPDATE_REFUSED_* reason of an EV_UPDATE_REFUSED entry means. */
const UPDATE_REFUSED_TEXT: Record<number, string> = {
  [abi.UPDATE_REFUSED_FEED_UNTRUSTED_KEY]: "the feed is signed by a key the device does not trust for apps",
  [abi.UPDATE_REFUSED_FEED_BAD_SIGNATURE]: "the feed's signature does not verify",
  [abi.UPDATE_REFUSED_FEED_MALFORMED]: "the feed manifest is malformed",
  [abi.UPDATE_REFUSED_FEED_REPLAYED]: "the feed is older than the last one accepted (replayed)",
  [abi.UPDATE_REFUSED_TOO_BIG]: "the package is larger than a package may be",
  [abi.UPDATE_REFUSED_TRUNCATED]: "the download is shorter than its feed entry declares",
  [abi.UPDATE_REFUSED_HASH]: "the download's SHA-256 is not its feed entry's",
  [abi.UPDATE_REFUSED_WRONG_COMPONENT]: "the package is another component than its feed entry names",
  [abi.UPDATE_REFUSED_OLDER]: "the package is older than the installed one",
  [abi.UPDATE_REFUSED_PACKAGE]: "the package itself was refused",
  [abi.UPDATE_REFUSED_NOT_INSTALLED]: "the component is not installed here",
  [abi.UPDATE_REFUSED_OVERSIZE]: "the download is longer than its feed entry declares",
  [abi.UPDATE_REFUSED_NO_FEED]: "no feed was verified first",
  [abi.UPDATE_REFUSED_CORE_UNTRUSTED_KEY]: "the core image is signed by a key the device does not trust for the OS",
  [abi.UPDATE_REFUSED_CORE_BAD_SIGNATURE]: "the core image's signature does not verify",
  [abi.UPDATE_REFUSED_CORE_OLDER]: "the core image is below the device's OS version counter",
  [abi.UPDATE_REFUSED_CORE_MALFORMED]: "not a signed core image",
  [abi.UPDATE_REFUSED_CORE_ON_TRIAL]: "the running OS is on trial",
};

const SYSCALL_NAMES = new Map<number, string>(APP_IMPORTS.map((i) => [i.nr, i.name]));
const IMPORT_BY_NAME = new Map(APP_IMPORTS.map((i) => [i.name, i]));
/** Each errno's name, the first in the ABI's export order where two share a value (built once: an
 * audit description asks on every denial, and a scan of every ABI constant cost more than the slice). */
const ERRNO_NAMES = new Map<number, string>();
for (const [k, v] of Object.entries(abi)) if (typeof v === "number" && /^E[A-Z]+$/.test(k) && !ERRNO_NAMES.has(v)) ERRNO_NAMES.set(v, k);
export const errnoName = (code: number): string => ERRNO_NAMES.get(-code) ?? String(code);

export class Device {
  readonly core: Core;
  readonly gpio: GpioBank;
  /** The peripheral interfaces and their parts (host/peripherals/board.ts). */
  readonly board: Board;
  readonly clock: Clock;
  readonly flash: Flash | null;
  readonly events: EventRing;
  readonly config: ConfigFigures;
  private readonly wallClockMs: () => number;
  private readonly sliceWallBudgetMs: number;
  private readonly instrumentCache: InstrumentCache | null;
  private sliceWallStartMs = 0;
  private readonly apps = new Map<number, InstalledApp>();
  /** Where each installed app came from, to check at each start that it still holds the module. */
  private readonly packages = new Map<number, AppPackage>();
  private readonly live = new Map<number, LiveTask>();
  private running: LiveTask | null = null;
  /** Ends run()'s idle wait, while there is one (wake()). */
  private endIdle: (() => void) | null = null;
  /** The security processor (DeviceConfig.securityProcessor), or null. */
  readonly securityProcessor: SecurityProcessorLink | null;
  /** The network (DeviceConfig.network), or null. */
  readonly network: NetworkLink | null;
  /** Requests posted to it and not answered yet; the waiters for its next answer. */
  private mailboxInFlight = 0;
  private mailboxWaiters: (() => void)[] = [];
  private auditSeen = 0;
  /** The RTC reading the core's UTC clock started from (DeviceConfig.utcMs), null when none. */
  readonly utcAtBootMs: number | null;
  /**
   * The first request to take the device down since boot (EV_REBOOT_REQUESTED), null while none:
   * run() returns once there is one, and the host reboots the device (host/reboot.ts).
   */
  rebootRequest: RebootRequest | null = null;
  /** Called with each audit entry as the host reads it (a FlashDevice reacts to EV_UPDATE_APPLIED). */
  readonly auditListeners: ((entry: AuditEntry) => void)[] = [];
  /** Undo what this device hooked into hardware that outlives it (the board's and network's observers): shutdown runs them. */
  private readonly detachers: (() => void)[] = [];
  /** Told of every slice as it ends, before the core is (the conformance trace listens here). */
  onSlice: ((slice: SliceRecord) => void) | null = null;
  /** Slices run since boot, by why they ended. */
  readonly sliceCounts = { yielded: 0, blocked: 0, out_of_fuel: 0, exited: 0, trapped: 0 };

  constructor(config: DeviceConfig = {}) {
    this.config = { ...DEFAULT_DEVICE, ...stripUndefined(config) } as Device["config"];
    this.clock = config.clock ?? new RealClock();
    this.wallClockMs = config.wallClockMs ?? wallMs;
    this.instrumentCache = config.instrumentCache ?? null;
    this.sliceWallBudgetMs = config.sliceWallBudgetMs ?? (this.clock.virtual ? Infinity : SLICE_WALL_BUDGET_MS);
    this.gpio = new GpioBank(this.config.gpioPinCount);
    this.flash = config.flashDevice ?? (config.flash ? new Flash(config.flash) : null);
    this.events = new EventRing(config.eventCapacity ?? 4096);
    this.gpio.observe((pin, level, source) => this.events.push(this.clock.nowMs(), { kind: "gpio", pin, level, source }));
    // The core latches the change and wakes its waiter; the idle loop runs it now, not at a poll.
    this.gpio.onInputChange = (pin, level) => { this.core.exports.gpio_notify(pin, level); this.wake(); };
    const hal: Hal = {
      clockNowMs: () => this.clock.nowMs(),
      gpioConfigure: (pin, dir, initial) => this.gpio.configure(pin, dir, initial),
      gpioWrite: (pin, value) => this.gpio.write(pin, value),
      gpioRead: (pin) => this.gpio.read(pin),
      logWrite: (task, line) => this.events.push(this.clock.nowMs(), { kind: "log", app: this.appNameOfTask(task), text: decodeUtf8(line) }),
      appCopyIn: (task, ptr, len) => {
        const mem = this.memoryOfTask(task);
        if (!mem || ptr + len > mem.buffer.byteLength) return -abi.EFAULT;
        return new Uint8Array(mem.buffer, ptr, len).slice();
      },
      appCopyOut: (task, ptr, bytes) => {
        const mem = this.memoryOfTask(task);
        if (!mem || ptr + bytes.length > mem.buffer.byteLength) return -abi.EFAULT;
        new Uint8Array(mem.buffer).set(bytes, ptr);
        return 0;
      },
      appMemoryBytes: (task) => this.live.get(task)?.runner.memoryBytes() ?? 0,
      periphControl: (id, fn, op, arg, data) => this.board.control(id, fn, op, arg, data, this.clock.nowMs()),
      periphRead: (id, fn, op, arg, data, maxLen) => this.board.read(id, fn, op, arg, data, maxLen, this.clock.nowMs()),
      ...(config.securityProcessor ? { mailboxPost: (frame: Uint8Array) => this.mailboxPost(frame) } : {}),
      ...(config.network ? {
        netControl: (socket: number, op: number, arg: number, data: Uint8Array) => config.network!.control(socket, op, arg, data),
        netRead: (socket: number, op: number, arg: number, maxLen: number) => config.network!.read(socket, op, arg, maxLen),
      } : {}),
      ...(this.flash ? flashHal(this.flash) : {}),
    };
    this.securityProcessor = config.securityProcessor ?? null;
    // A core holds the processor from here: whatever it asks, the boot measurement is the boot loader's (or none).
    this.securityProcessor?.endBoot();
    this.network = config.network ?? null;
    this.board = config.board ?? new Board(defaultBoardSpecs(this.config.gpioPinCount));
    this.detachers.push(this.board.observe((iface, text) => this.events.push(this.clock.nowMs(), { kind: "periph", iface: iface.name, text })));
    // Input for an interface (a UART's bytes) reaches the core, and ends an idle wait, as a pin
    // change does; input that arrives while the board answers the core (a part wired to another's
    // output) is told right after that call returns, as the core is not re-entrant.
    const notify = (id: number) => { this.core.exports.periph_notify(id); this.wake(); };
    this.board.onInput = (id) => { if (this.board.inCall) void Promise.resolve().then(() => notify(id)); else notify(id); };
    this.core = config.createCore ? config.createCore(hal, config.coreTap) : new ModuleCore(hal, config.coreModule ?? coreModule(), config.coreTap);
    const rc = this.core.exports.core_boot(this.config.gpioPinCount, this.config.appQuotaCeilingBytes, this.config.defaultAppQuotaBytes);
    if (rc < 0) throw new Error(`core_boot failed: ${errnoName(rc)} ${this.core.lastError()}`);
    this.utcAtBootMs = config.utcMs ?? null;
    if (this.utcAtBootMs !== null) {
      const set = this.core.exports.clock_set_utc_ms(this.utcAtBootMs);
      if (set < 0) throw new Error(`the real-time clock reads ${this.utcAtBootMs} ms, which the core refuses (${errnoName(set)}): a UTC time from 1970 to 9999 in whole ms`);
    }
    const boardRefused = addBoardToCore(this.core.exports.board_add, () => this.core.lastError(), this.board.interfaces);
    if (boardRefused) throw new Error(boardRefused);
    // Responses reach the core from the processor's own promises, so never inside a core call.
    if (this.securityProcessor) this.securityProcessor.answer = (frame) => { this.mailboxDeliver(frame); };
    // A socket's news reaches the core from the network's own events, so never inside a core call.
    if (this.network) {
      this.network.closeAll();
      this.network.onNotify = (socket) => { this.core.exports.net_notify(socket); this.wake(); };
      this.detachers.push(this.network.observe((text) => this.events.push(this.clock.nowMs(), { kind: "net", text })));
    }
  }

  get coreVersion(): string {
    const v = this.core.exports.core_version();
    return `${v >> 16}.${(v >> 8) & 0xff}.${v & 0xff}`;
  }

  memoryMap(): MemoryMap {
    const e = this.core.exports;
    return {
      totalBytes: this.core.memoryBytes(),
      staticBytes: e.mem_static_bytes(),
      tableBytes: e.mem_table_bytes(),
      heapInUseBytes: e.mem_heap_in_use_bytes(),
      heapPeakBytes: e.mem_heap_peak_bytes(),
      heapSpanBytes: e.mem_heap_span_bytes(),
      appReservedBytes: e.mem_app_reserved_bytes(),
      freeBytes: e.mem_free_bytes(),
    };
  }

  /**
   * Installs an app: the core validates the manifest and the device's hardware claims, then the
   * host checks and instruments the module. Throws InstallError with the core's message.
   */
  async install(pkg: AppPackage): Promise<InstalledApp> { return this.installApp(pkg, false); }

  /**
   * Installs a system app of the OS image (the network manager, sdk/system/): as install, and
   * its manifest may hold the system capabilities no user manifest can (SPEC.md, "Capabilities").
   * Only the boot loader calls this, with apps it took from the OS image.
   */
  async installSystem(pkg: AppPackage): Promise<InstalledApp> { return this.installApp(pkg, true); }

  private async installApp(pkg: AppPackage, system: boolean): Promise<InstalledApp> {
    const cache = this.instrumentCache;
    return this.installWith(pkg, system, async (wasm, quotaBytes) => {
      if (cache) return cache.load(wasm, appInstrumentOptions(quotaBytes));
      const { instrumentOffThread } = await loadInstrumenter();
      // In a worker where the host has one: the apps already running keep their schedule meanwhile.
      const out = await instrumentOffThread(wasm, appInstrumentOptions(quotaBytes));
      return { bytes: out.bytes, originalBytes: out.originalBytes };
    });
  }

  /**
   * Installs an app whose EntryPoint module was instrumented ahead of time (`wasphere instrument`).
   * The module's shape and memory maximum are checked against the slice protocol and the quota the
   * core grants (host/apps/protocol.ts); its metering is trusted, not re-checked: install modules
   * this way only from a build you trust. Never loads binaryen.
   */
  async installInstrumented(pkg: AppPackage): Promise<InstalledApp> {
    return this.installWith(pkg, false, async (wasm, quotaBytes) => {
      checkInstrumentedModule(wasm, quotaBytes);
      return { bytes: wasm, originalBytes: wasm.length };
    });
  }

  /**
   * What the core makes of a manifest, for tools that prepare an app ahead of time: its name,
   * EntryPoint and the quota it would get here. Throws InstallError when refused. Nothing stays
   * installed (the audit ring records the install and its removal).
   */
  describeManifest(origin: string, manifestBytes: Uint8Array): { name: string; entryPoint: string; quotaBytes: number } {
    const slot = this.admit(origin, manifestBytes);
    const out = {
      name: this.appString(slot, abi.APP_STRING_NAME),
      entryPoint: this.appString(slot, abi.APP_STRING_ENTRY_POINT),
      quotaBytes: this.core.exports.app_field(slot, abi.APP_FIELD_QUOTA_BYTES),
    };
    this.core.exports.app_uninstall(slot);
    this.drainAudit();
    return out;
  }

  /** The core validates the manifest and takes a slot for it, or the install is refused. */
  private admit(origin: string, manifestBytes: Uint8Array, system = false): number {
    if (manifestBytes.length > abi.MANIFEST_MAX_BYTES) {
      throw new InstallError(origin, -abi.EINVAL, `app_manifest.json is ${manifestBytes.length} bytes; the limit is ${abi.MANIFEST_MAX_BYTES}`);
    }
    const slot = system ? this.core.exports.app_install_system(manifestBytes) : this.core.exports.app_install(manifestBytes);
    this.drainAudit();
    if (slot < 0) throw new InstallError(origin, slot, `app_manifest.json refused (${errnoName(slot)}): ${printable(this.core.lastError() || "no detail")}`);
    return slot;
  }

  private async installWith(pkg: AppPackage, system: boolean, prepare: (wasm: Uint8Array, quotaBytes: number) => Promise<PreparedModule>): Promise<InstalledApp> {
    const e = this.core.exports;
    const slot = this.admit(pkg.origin, pkg.manifestBytes, system);
    let loading = true;
    try {
      const entryPoint = this.appString(slot, abi.APP_STRING_ENTRY_POINT);
      const quotaBytes = e.app_field(slot, abi.APP_FIELD_QUOTA_BYTES);
      const wasm = await pkg.loadEntryPoint(entryPoint);
      loading = false;
      // A package that can change (files) is re-checked at each start against this hash; one held
      // in memory cannot change, so an engine without WebCrypto (gjs, jsc) may install it unhashed.
      const moduleSha256 = pkg.moduleSha256Now || globalThis.crypto?.subtle ? await sha256Hex(wasm) : "";
      const out = await prepare(wasm, quotaBytes);
      const app: InstalledApp = {
        slot,
        name: this.appString(slot, abi.APP_STRING_NAME),
        componentId: this.appString(slot, abi.APP_STRING_COMPONENT_ID),
        module: out.module ?? await compileWasm(out.bytes),
        originalBytes: out.originalBytes,
        instrumentedBytes: out.bytes.length,
        quotaBytes,
        moduleSha256,
        cacheKey: out.key ?? null,
      };
      this.apps.set(slot, app);
      this.packages.set(slot, pkg);
      this.events.push(this.clock.nowMs(), { kind: "app", app: app.name, what: "installed" });
      return app;
    } catch (err: unknown) {
      e.app_uninstall(slot);
      const message = err instanceof Error ? err.message : String(err);
      // The package's own message may be a build log of several lines; any other is one line.
      throw new InstallError(pkg.origin, -abi.EINVAL, loading ? printableLines(message) : printable(message));
    }
  }

  /**
   * Takes on an app the core has already admitted in `slot` (from the installed-app list on flash,
   * fs_store_*): the host only prepares its module, `wasm` as the core streamed it from the
   * package, through the instrumented-module cache (or binaryen without one). Throws InstallError;
   * the core's slot is left as it is (the caller decides nothing: the core's list does).
   */
  async adopt(slot: number, origin: string, wasm: Uint8Array): Promise<InstalledApp> {
    const e = this.core.exports;
    const quotaBytes = e.app_field(slot, abi.APP_FIELD_QUOTA_BYTES);
    if (quotaBytes < 0) throw new InstallError(origin, quotaBytes, `the core has no app in slot ${slot}`);
    let out: PreparedModule;
    try {
      // From the cache, compiled there (or the module kept compiled since an earlier load of it).
      if (this.instrumentCache) out = await this.instrumentCache.load(wasm, appInstrumentOptions(quotaBytes));
      else {
        const { instrumentOffThread } = await loadInstrumenter();
        const r = await instrumentOffThread(wasm, appInstrumentOptions(quotaBytes));
        out = { bytes: r.bytes, originalBytes: r.originalBytes };
      }
    } catch (err) {
      throw new InstallError(origin, -abi.EINVAL, printableLines(err instanceof Error ? err.message : String(err)));
    }
    const app: InstalledApp = {
      slot,
      name: this.appString(slot, abi.APP_STRING_NAME),
      componentId: this.appString(slot, abi.APP_STRING_COMPONENT_ID),
      module: out.module ?? await compileWasm(out.bytes),
      originalBytes: out.originalBytes,
      instrumentedBytes: out.bytes.length,
      quotaBytes,
      moduleSha256: "",
      cacheKey: out.key ?? null,
    };
    this.apps.set(slot, app);
    this.packages.delete(slot);
    this.events.push(this.clock.nowMs(), { kind: "app", app: app.name, what: "installed" });
    return app;
  }

  /**
   * Forgets the app in `slot` after the core removed it (a replacement or a delete on flash); the
   * cache drops the module it kept compiled for it unless another installed app has the same.
   */
  forget(slot: number): void {
    for (const [task, t] of this.live) if (t.app.slot === slot) this.live.delete(task);
    const key = this.apps.get(slot)?.cacheKey;
    this.apps.delete(slot);
    this.packages.delete(slot);
    if (key && this.instrumentCache && ![...this.apps.values()].some((a) => a.cacheKey === key)) this.instrumentCache.forget(key);
  }

  /** Starts an installed app: the core reserves its quota from the RAM pool and spawns its task. */
  start(app: InstalledApp): number {
    const changed = this.moduleChanged(app);
    if (changed) throw new InstallError(app.name, -abi.EINVAL, `not started: ${changed}`);
    const task = this.core.exports.app_start(app.slot);
    this.drainAudit();
    if (task < 0) throw new InstallError(app.name, task, `cannot start (${errnoName(task)}): ${printable(this.core.lastError() || "no detail")}`);
    this.events.push(this.clock.nowMs(), { kind: "app", app: app.name, what: "started" });
    this.wake();
    return task;
  }

  /**
   * Something outside the core's deadlines happened (an input changed, an app started): an idle
   * run() asks the core again now instead of sleeping to its next deadline. Anything that changes
   * what the core could run, other than time passing, calls this. A virtual-clock run never
   * sleeps on the wall, so this changes nothing there (its runs stay the same every time).
   */
  wake(): void {
    const end = this.endIdle;
    this.endIdle = null;
    end?.();
  }

  /**
   * The core's mailbox-post: the frame goes to the security processor, which answers later, so
   * the core is never re-entered from inside its own call. Counted until its response comes.
   */
  private mailboxPost(frame: Uint8Array): number {
    this.mailboxInFlight++;
    this.securityProcessor!.post(frame);
    return 0;
  }

  /**
   * Hands a response frame of the security processor to the core (mailbox-deliver), outside any
   * core call, and wakes an idle run: what the core answered (1 woke a task, 0 dropped for a task
   * that ended, or -errno: refused, changing nothing).
   */
  mailboxDeliver(frame: Uint8Array): number {
    if (this.mailboxInFlight > 0) this.mailboxInFlight--;
    const rc = this.core.exports.mailbox_deliver(frame);
    this.wake();
    for (const w of this.mailboxWaiters.splice(0)) w();
    return rc;
  }

  /** Settles once no request the core posted is outstanding at the security processor. */
  async mailboxIdle(): Promise<void> {
    while (this.mailboxInFlight > 0) await this.mailboxAnswered();
  }

  /** Settles at the next response of the security processor. */
  private mailboxAnswered(): Promise<void> {
    return new Promise((resolve) => this.mailboxWaiters.push(resolve));
  }

  stop(app: InstalledApp): void {
    const task = this.core.exports.app_field(app.slot, abi.APP_FIELD_TASK);
    const rc = this.core.exports.app_stop(app.slot);
    if (rc < 0) throw new Error(printable(`${app.name}: cannot stop (${errnoName(rc)}): ${this.core.lastError()}`));
    if (task >= 0) this.live.delete(task);
    this.events.push(this.clock.nowMs(), { kind: "app", app: app.name, what: "stopped" });
  }

  installedApps(): InstalledApp[] { return [...this.apps.values()]; }

  /**
   * Takes the device down before a reboot or power-down: every app with a task is stopped (the
   * core frees its RAM, handles and sockets), and the network's sockets are closed. The device is
   * not used again: the host boots a new one (host/reboot.ts).
   */
  shutdown(): void {
    for (const app of this.apps.values()) {
      if (this.core.exports.app_field(app.slot, abi.APP_FIELD_TASK) >= 0) this.stop(app);
    }
    this.network?.closeAll();
    this.drainAudit();
    for (const detach of this.detachers.splice(0)) detach();
  }

  /**
   * The host refused the pending reboot request (a reboot loop, host/reboot.ts): the app that
   * asked, waiting for the device to go down, is stopped; the rest run on, and a later request
   * is heard again.
   */
  refuseReboot(): void {
    const req = this.rebootRequest;
    this.rebootRequest = null;
    const app = req && req.slot >= 0 ? this.apps.get(req.slot) : undefined;
    if (app && this.core.exports.app_field(app.slot, abi.APP_FIELD_TASK) >= 0) this.stop(app);
    this.drainAudit();
  }

  /** Bytes of linear memory the app's running instance has now (0 when not running). */
  appMemoryBytes(app: InstalledApp): number {
    for (const t of this.live.values()) if (t.app.slot === app.slot) return t.runner.memory.buffer.byteLength;
    return 0;
  }

  /**
   * What the core says of an installed app now, for a display (the dashboard): its task state
   * (a TASK_* value), crash and restart counts, slices run, the peak and current bytes of its
   * instance's memory, and its quota.
   */
  appStatus(app: InstalledApp): AppStatus {
    const f = (field: number) => this.core.exports.app_field(app.slot, field);
    return {
      state: f(abi.APP_FIELD_STATE), crashes: f(abi.APP_FIELD_CRASHES), restarts: f(abi.APP_FIELD_RESTARTS),
      slices: f(abi.APP_FIELD_SLICES), memPeakBytes: f(abi.APP_FIELD_MEM_PEAK_BYTES),
      memoryBytes: this.appMemoryBytes(app), quotaBytes: app.quotaBytes,
    };
  }

  /**
   * Runs one scheduling decision: asks the core who runs, runs that app for its slice of fuel,
   * and reports why it stopped. Returns false when no task is ready now.
   */
  step(): boolean {
    const e = this.core.exports;
    const task = e.sched_next(this.clock.nowMs());
    if (task < 0) { this.drainAudit(); return false; }
    const fuel = e.sched_slice_fuel();
    let liveTask = this.live.get(task);
    if (!liveTask || e.task_needs_instance(task)) {
      let fresh: LiveTask | null;
      try {
        fresh = this.instantiate(task);
      } catch (err) {
        if (!(err instanceof AppInstantiateError)) throw err;
        return this.instantiateFailed(task, err);
      }
      if (!fresh) { this.drainAudit(); return true; } // refused: the core stopped the app
      liveTask = fresh;
    }
    this.running = liveTask;
    // Read only when a budget is set: a virtual-clock run never reads the wall clock (nor records it).
    if (this.sliceWallBudgetMs !== Infinity) this.sliceWallStartMs = this.wallClockMs();
    const runner = liveTask.runner;
    let code: number;
    try {
      code = runner.run(fuel);
    } catch (err: unknown) {
      this.running = null;
      throw this.hostFailed(liveTask, err);
    } finally {
      this.running = null;
    }
    const value = runner.lastValue;
    switch (code) {
      case abi.STOP_YIELDED: this.sliceCounts.yielded++; break;
      case abi.STOP_BLOCKED: this.sliceCounts.blocked++; break;
      case abi.STOP_OUT_OF_FUEL: this.sliceCounts.out_of_fuel++; break;
      case abi.STOP_EXITED:
        this.sliceCounts.exited++;
        this.live.delete(task);
        this.events.push(this.clock.nowMs(), { kind: "app", app: liveTask.app.name, what: "exited", detail: `code ${value}` });
        break;
      default:
        this.sliceCounts.trapped++;
        this.live.delete(task);
        this.events.push(this.clock.nowMs(), { kind: "app", app: liveTask.app.name, what: "trapped", detail: runner.lastError?.message });
    }
    const fuelUsed = Math.max(0, Math.min(runner.lastFuelUsed, 0x7fffffff));
    if (this.onSlice !== null) this.onSlice({ task, app: liveTask.app.name, reason: SLICE_REASONS[code], fuelUsed, value });
    this.clock.chargeFuel?.(fuelUsed);
    e.sched_report(task, code, value, fuelUsed);
    this.drainAudit();
    return true;
  }

  /**
   * The host failed while an app ran (its code threw something that is neither a trap nor an
   * exit): not the app's fault, so no crash is charged to it; but its instance died mid-slice,
   * so the app is stopped. Returns the error for step() to throw: run() ends with it.
   */
  private hostFailed(liveTask: LiveTask, err: unknown): HostError {
    const message = err instanceof Error ? err.message : String(err);
    this.live.delete(liveTask.task);
    if (this.core.exports.app_field(liveTask.app.slot, abi.APP_FIELD_TASK) === liveTask.task) this.stop(liveTask.app);
    this.events.push(this.clock.nowMs(), { kind: "app", app: liveTask.app.name, what: "host error", detail: message });
    return new HostError(`host error while ${liveTask.app.name} ran (the app was stopped, not charged): ${message}`, { cause: err });
  }

  /**
   * Runs the scheduler until `untilMs` of device time, `maxSlices` slices, or the signal aborts.
   * When nothing is ready it waits (really or virtually) for the core's next deadline; on a real
   * clock an input change or an app start (wake()) ends that wait at once, with no poll.
   */
  async run(opts: { untilMs?: number; maxSlices?: number; signal?: AbortSignal } = {}): Promise<void> {
    const untilMs = opts.untilMs ?? Infinity;
    let slices = 0;
    const hostYield = new HostYield();
    while (!opts.signal?.aborted && this.rebootRequest === null && this.clock.nowMs() < untilMs && slices < (opts.maxSlices ?? Infinity)) {
      if (this.step()) {
        slices++;
        // Let timers and input events of the host (a button, Ctrl-C) in now and then.
        if (!this.clock.virtual && hostYield.due()) await hostYield.yield();
        continue;
      }
      // On a virtual clock the security processor answers in no device time: before time moves,
      // its outstanding answers come in (so a run is the same every time).
      if (this.clock.virtual && this.mailboxInFlight > 0) { await this.mailboxAnswered(); continue; }
      // Likewise a connect or a name being resolved finishes before virtual time moves on.
      if (this.clock.virtual && this.network && this.network.pendingOperations > 0) { await this.network.settled(); continue; }
      const deadline = this.core.exports.sched_next_deadline_ms();
      if (deadline < 0 && this.clock.virtual) break; // nothing will ever be ready: idle for good
      const target = Math.min(deadline < 0 ? Infinity : deadline, untilMs);
      if (this.clock.virtual) await this.clock.waitUntil(target);
      else {
        const woken = this.idleWoken(opts.signal);
        await this.clock.waitUntil(target, woken.promise);
        woken.end();
      }
    }
  }

  /**
   * What ends an idle wait before its deadline: `promise` settles at the next wake() or when
   * `signal` aborts; `end` settles it now (idempotent), and takes its listener off the signal.
   */
  private idleWoken(signal?: AbortSignal): { promise: Promise<void>; end: () => void } {
    let end = () => {};
    const promise = new Promise<void>((resolve) => {
      end = () => {
        signal?.removeEventListener("abort", end);
        if (this.endIdle === end) this.endIdle = null;
        resolve();
      };
    });
    this.endIdle = end;
    signal?.addEventListener("abort", end);
    return { promise, end };
  }

  /** The core's audit ring, oldest retained entry first. */
  audit(fromSeq = 0): AuditEntry[] {
    const e = this.core.exports;
    const total = e.audit_total();
    const out: AuditEntry[] = [];
    for (let seq = Math.max(fromSeq, total - abi.AUDIT_ENTRIES); seq < total; seq++) {
      const kind = e.audit_field(seq, abi.AUDIT_KIND);
      if (kind < 0) continue;
      out.push({
        seq, timeMs: e.audit_time_ms(seq), kind,
        task: e.audit_field(seq, abi.AUDIT_TASK), app: e.audit_field(seq, abi.AUDIT_APP),
        syscall: e.audit_field(seq, abi.AUDIT_SYSCALL), arg: e.audit_field(seq, abi.AUDIT_ARG),
        result: e.audit_field(seq, abi.AUDIT_RESULT),
      });
    }
    return out;
  }

  /** Turns an audit entry into a sentence a person can act on. */
  describeAudit(a: AuditEntry): string {
    const app = printable(this.apps.get(a.app)?.name ?? `app ${a.app}`);
    const call = SYSCALL_NAMES.get(a.syscall) ?? `syscall ${a.syscall}`;
    switch (a.kind) {
      case abi.EV_DENIED: return `${app}: ${call}(${a.arg}) denied with ${errnoName(a.result)}: not granted by its manifest`;
      case abi.EV_BAD_HANDLE: return `${app}: ${call} on handle ${a.arg} refused with EBADF (forged, closed or not its own)`;
      case abi.EV_FAULT: return `${app}: ${call} passed a pointer outside its memory (EFAULT)`;
      case abi.EV_APP_INSTALLED: return `${app}: installed`;
      case abi.EV_INSTALL_REFUSED: return `install refused: ${errnoName(a.result)}`;
      case abi.EV_UPDATE_APPLIED: return `${app}: update applied: entry ${a.arg} is now version ${a.result}`;
      case abi.EV_UPDATE_REFUSED: return `${app}: update refused (${errnoName(a.result)}): ${UPDATE_REFUSED_TEXT[a.syscall] ?? "see the agent's log"}`;
      case abi.EV_FEED_ACCEPTED: return `${app}: feed sequence ${a.arg} accepted`;
      case abi.EV_IMAGE_REFUSED: return `image package ${a.arg < 0 ? "sideloaded" : `entry ${a.arg}`} refused (${errnoName(a.result)}): ${IMAGE_REFUSED_TEXT[a.syscall] ?? `reason ${a.syscall}`}`;
      case abi.EV_APP_STARTED: return `${app}: started`;
      case abi.EV_APP_EXITED: return `${app}: exited with code ${a.arg}`;
      case abi.EV_APP_TRAPPED: return `${app}: trapped`;
      case abi.EV_APP_RESTART: return `${app}: restarting in ${a.arg} ms`;
      case abi.EV_APP_GAVE_UP: return `${app}: crashed ${a.arg} times; giving up`;
      case abi.EV_APP_STOPPED: return `${app}: stopped`;
      case abi.EV_CORE_NOMEM: return `core out of memory (${a.arg} bytes)`;
      case abi.EV_LOG_DROPPED: return `${app}: ${withCommas(a.arg)} log lines dropped (rate limit)`;
      case abi.EV_AUDIT_DROPPED: return `${app}: ${withCommas(a.arg)} more denials not recorded (rate limit)`;
      case abi.EV_REBOOT_REQUESTED: return `${a.app >= 0 ? `${app}: ` : ""}asked ${a.arg === abi.REBOOT_REASON_POWER_DOWN ? `to power the device down for at most ${a.result} s` : "for a reboot"} (${REBOOT_REASON_TEXT[a.arg] ?? `reason ${a.arg}`})`;
      case abi.EV_TIME_SET: return `${app}: set the device clock (${a.arg >= 0 ? "forward" : "back"} ${withCommas(Math.abs(a.arg))} s)`;
      case abi.EV_LIMIT:
        if (a.arg === abi.LIMIT_CPU_BUDGET) {
          const budget = this.core.exports.app_field(a.app, abi.APP_FIELD_CPU_BUDGET_KFUEL);
          return `${app}: used its CPU budget of ${budget >= 0 ? `${withCommas(budget)},000` : "?"} fuel a second; held back until its next window`;
        }
        if (a.syscall < 0) return `${a.app < 0 ? "install" : `${app}: start`} refused with ${errnoName(a.result)}: ${LIMIT_TEXT[a.arg] ?? `limit ${a.arg}`}`;
        return `${app}: ${call} refused with ${errnoName(a.result)}: ${LIMIT_TEXT[a.arg] ?? `limit ${a.arg}`}`;
      default: return `${app}: event ${a.kind}`;
    }
  }

  private drainAudit(): void {
    const total = this.core.exports.audit_total();
    if (total === this.auditSeen) return;
    const lost = total - abi.AUDIT_ENTRIES - this.auditSeen;
    if (lost > 0) this.events.push(this.clock.nowMs(), { kind: "audit", app: "", text: `audit: ${withCommas(lost)} entries overwritten before they were read` });
    for (const a of this.audit(this.auditSeen)) {
      const app = this.apps.get(a.app)?.name ?? "";
      this.events.push(a.timeMs, { kind: "audit", app, text: this.describeAudit(a), entry: a });
      if (a.kind === abi.EV_REBOOT_REQUESTED && this.rebootRequest === null) {
        this.rebootRequest = {
          reason: a.arg, slot: a.app, appName: a.app >= 0 ? (this.apps.get(a.app)?.name ?? null) : null,
          downSeconds: a.arg === abi.REBOOT_REASON_POWER_DOWN ? Math.max(0, a.result) : 0, uptimeMs: a.timeMs,
        };
      }
      for (const f of this.auditListeners) f(a);
    }
    this.auditSeen = total;
  }

  /** A module that cannot be instantiated ends that app as a trap does; the core decides what next. */
  private instantiateFailed(task: number, err: AppInstantiateError): boolean {
    this.live.delete(task);
    const app = this.apps.get(this.core.exports.task_app(task));
    this.events.push(this.clock.nowMs(), { kind: "app", app: app?.name ?? `task ${task}`, what: "trapped", detail: err.message });
    this.sliceCounts.trapped++;
    this.core.exports.sched_report(task, abi.STOP_TRAPPED, 0, 0);
    this.drainAudit();
    return true;
  }

  private instantiate(task: number): LiveTask | null {
    const slot = this.core.exports.task_app(task);
    const app = this.apps.get(slot);
    if (!app) throw new CorePanic(`core scheduled task ${task} of app slot ${slot}, which the host never installed`);
    const changed = this.moduleChanged(app);
    if (changed) {
      this.core.exports.app_stop(slot);
      return null;
    }
    const owner: { runner: AppRunner | null } = { runner: null };
    const runner = new AppRunner(app.module, this.trampolines(task, owner, applibsImports(app.module)), { syscalls: this.syscallBinding(task, owner) });
    owner.runner = runner;
    const liveTask = { task, app, runner };
    this.live.set(task, liveTask);
    return liveTask;
  }

  /**
   * How one task's instance reaches the core: the core's own `syscall_charged` (a Wasm export
   * of a module core, so the runner's fast path calls it Wasm-to-Wasm), `syscall` and
   * `task_take_fuel` (for the JS path), and,
   * with a wall budget, the check after calls (instrument-gates.ts says which) that ends the slice once host work has spent it.
   */
  private syscallBinding(task: number, owner: { runner: AppRunner | null }): SyscallBinding {
    const e = this.core.exports;
    const budgetMs = this.sliceWallBudgetMs;
    const wallCheck = budgetMs === Infinity ? null : () => {
      if (this.wallClockMs() - this.sliceWallStartMs >= budgetMs) owner.runner?.endSliceSoon();
    };
    return { task, syscallCharged: e.syscall_charged, syscall: e.syscall, takeFuel: e.task_take_fuel, wallCheck };
  }

  /**
   * The `applibs` imports of one task in JS, those in `names` (the ones its module imports: a
   * closure each, made at every start): each calls the core's syscall with the caller's task
   * id (the core checks that it is the running task, the hook, the handle; it counts the fuel)
   * through the runner (AppRunner.syscall: the fuel charged, the wall budget checked).
   * `owner.runner` is the instance the imports belong to, set once it exists: an import of an
   * instance that is not the one running the slice now answers -EPERM without asking the core
   * (which would refuse it as well: the task is not the running one).
   * In a module with syscall gates (host/apps/instrument-gates.ts) the non-blocking ones (but exit)
   * are no imports: the gates call the core themselves, and that refusal is the core's. A non-blocking call never
   * suspends, so it has no rewind to finish (runner.ts).
   */
  private trampolines(task: number, owner: { runner: AppRunner | null }, names: readonly string[]): Record<string, (a0?: number, a1?: number, a2?: number, a3?: number) => number> {
    const e = this.core.exports;
    const imports: Record<string, (a0?: number, a1?: number, a2?: number, a3?: number) => number> = {};
    for (const name of names) {
      const imp = IMPORT_BY_NAME.get(name);
      if (!imp) continue; // the runner names what the host does not provide
      const nr = imp.nr;
      imports[name] = imp.blocking
        ? (a0 = 0, a1 = 0, a2 = 0, a3 = 0) => {
          const runner = owner.runner;
          if (runner !== this.running?.runner || runner === null) return -abi.EPERM;
          if (runner.isRewinding()) return runner.finishRewind(e.task_take_result(task));
          const rc = runner.syscall(nr, a0 | 0, a1 | 0, a2 | 0, a3 | 0);
          if (nr === abi.SYS_YIELD && rc >= 0) return runner.suspend("yielded");
          if (rc === abi.SYSCALL_SUSPEND) return runner.suspend("blocked");
          return rc;
        }
        : (a0 = 0, a1 = 0, a2 = 0, a3 = 0) => {
          const runner = owner.runner;
          if (runner !== this.running?.runner || runner === null) return -abi.EPERM;
          const rc = runner.syscall(nr, a0 | 0, a1 | 0, a2 | 0, a3 | 0);
          if (nr === abi.SYS_EXIT) runner.exit(a0 | 0);
          return rc;
        };
    }
    return imports;
  }

  /**
   * Null when the app's package still holds the module installed from it; otherwise why not, in
   * one printable line, after recording the refusal in the event log.
   */
  private moduleChanged(app: InstalledApp): string | null {
    const pkg = this.packages.get(app.slot);
    if (!pkg?.moduleSha256Now) return null; // a package held in memory cannot change
    let why: string | null;
    try {
      const now = pkg.moduleSha256Now();
      why = now === app.moduleSha256 ? null
        : `its module changed since install (SHA-256 ${now.slice(0, 16)}..., installed ${app.moduleSha256.slice(0, 16)}...); install it again`;
    } catch (err) {
      why = `its module can no longer be read: ${printable(err instanceof Error ? err.message : String(err))}`;
    }
    if (why) this.events.push(this.clock.nowMs(), { kind: "app", app: app.name, what: "refused", detail: why });
    return why;
  }

  private memoryOfTask(task: number): WebAssembly.Memory | null {
    return this.live.get(task)?.runner.memory ?? null;
  }

  private appNameOfTask(task: number): string {
    return this.live.get(task)?.app.name ?? `task ${task}`;
  }

  private appString(slot: number, which: number): string {
    const bytes = this.core.exports.app_string(slot, which);
    return typeof bytes === "number" ? "" : decodeUtf8(bytes);
  }
}

/** 12345 -> "12,345", the same on every host (no locale). */
export function withCommas(n: number): string { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }

/** What each REBOOT_REASON_* of an EV_REBOOT_REQUESTED entry means. */
export const REBOOT_REASON_TEXT: Record<number, string> = {
  [abi.REBOOT_REASON_POWER_CONTROLS]: "PowerControls",
  [abi.REBOOT_REASON_OS_UPDATE]: "OS update staged",
  [abi.REBOOT_REASON_POWER_DOWN]: "PowerControls",
};

/** What each LIMIT_* is, for EV_LIMIT. */
const shareText = (pool: string, rows: number) =>
  `its share of the device's ${rows} ${pool} is used up (${Math.floor(rows / abi.SHARE_MAX_DIVISOR)} at most per app, ${Math.floor(rows / abi.MAX_APPS)} kept for each other installed app)`;
const LIMIT_TEXT: Record<number, string> = {
  [abi.LIMIT_TASK_HANDLES]: `it holds ${abi.HANDLES_PER_TASK_MAX} handles, the most one task may hold`,
  [abi.LIMIT_APP_HANDLES]: shareText("handles", abi.MAX_HANDLES - 1),
  [abi.LIMIT_APP_TIMERS]: shareText("timers", abi.MAX_TIMERS),
  [abi.LIMIT_APPS]: `app table full (MAX_APPS=${abi.MAX_APPS})`,
  [abi.LIMIT_TASKS]: `task table full (MAX_TASKS=${abi.MAX_TASKS})`,
  [abi.LIMIT_APP_RAM]: "its quota does not fit the app RAM pool",
};

/** SHA-256 of `bytes` as lowercase hex, by WebCrypto (Node and browsers have it; gjs and jsc do not). */
async function sha256Hex(bytes: Uint8Array): Promise<string> {
  if (!globalThis.crypto?.subtle) throw new Error("this JavaScript engine has no WebCrypto (crypto.subtle): the device cannot record what it installs");
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
