// Record and replay of a device run, exactly.
//
// A Recording holds everything that reached the core from outside it: the device configuration,
// each app package (manifest and module bytes), every clock reading in order, every pin change
// the outside world made (and where in the run it came), and every crossing of the core boundary
// (each export the host called and each hal import the core called, with arguments, results and
// the bytes moved through core memory), then the audit log and the event trace the run produced.
// Replay builds a fresh device from the recording, feeds it the recorded clock readings and pin
// changes at the same points, performs the same host actions (install, start, run, stop), and
// compares every crossing as it happens: the first that differs (name, arguments, result or bytes)
// is reported with its index and both versions. A replay without divergence ends with the audit
// log and the trace compared entry by entry, so the result is bit for bit or a named difference.
// Invariants: recording changes nothing the device does; a recording is plain JSON (bytes in
// base64), so it can be attached to a bug report; a pin change is replayed at the first point
// where as many clock readings and crossings have happened as when it was made.
// Must not: answer a crossing from the recording in place of the device (the device must reach
// the same answers itself, so a host or core change shows up as a divergence).
import { type CoreTap } from "./core.js";
import { Device, type AuditEntry, type DeviceConfig, type InstalledApp } from "./device.js";
import type { RecordedEvent } from "./events.js";
import type { AppPackage } from "./apps/package.js";
import type { Clock } from "./peripherals/clock.js";

export const RECORDING_FORMAT = "wasphere-recording/1";

/** [kind, name, args, result, bytes in (base64) or null, bytes out (base64) or null]. */
export type Crossing = [kind: "hal" | "export" | "write", name: string, args: number[], result: number | null, bytesIn: string | null, bytesOut: string | null];

/** What the host asked of the device, with how many clock readings and crossings came before. */
export type HostAction = { reads: number; crossings: number } & (
  | { action: "install"; app: number }
  | { action: "start"; app: number }
  | { action: "stop"; app: number }
  | { action: "run"; untilMs: number | null; maxSlices: number | null });

export interface RecordedApp { origin: string; manifest: string; modules: Record<string, string> }

export interface Recording {
  format: typeof RECORDING_FORMAT;
  device: { gpioPinCount: number; appQuotaCeilingBytes: number; defaultAppQuotaBytes: number; flash: { blockSizeBytes: number; blockCount: number } | null; eventCapacity: number; virtualClock: boolean };
  apps: RecordedApp[];
  actions: HostAction[];
  clock: number[];
  /** For each clock reading, how many crossings came before it. */
  clockAt: number[];
  /** Crossings the host made itself, outside any recorded action or pin change (a memory map). */
  hostCalls: number[];
  drives: { reads: number; crossings: number; pin: number; level: number }[];
  crossings: Crossing[];
  audit: AuditEntry[];
  trace: RecordedEvent[];
}

const b64 = (bytes: Uint8Array): string => {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
};
const unb64 = (text: string): Uint8Array => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

/**
 * Where a hal import moves bytes through core memory: [pointer arg, length arg, direction].
 * "in": the host writes core memory (read after the call); "out": the core's bytes are read.
 */
const HAL_BYTES: Record<string, [ptr: number, len: number, dir: "in" | "out"]> = {
  log_write: [1, 2, "out"],
  app_copy_in: [3, 2, "in"],
  app_copy_out: [1, 3, "out"],
  flash_read: [2, 3, "in"],
  flash_prog: [2, 3, "out"],
};

/** Numbers as JSON keeps them: -0 and NaN would not survive a round trip, so they are spelled out. */
const num = (v: unknown): number | null => (typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : v === undefined ? null : Number(v));

/** The boundary machinery shared by recording and replay: counts crossings and clock readings. */
abstract class Boundary implements CoreTap {
  protected memory: WebAssembly.Memory | null = null;
  crossingCount = 0;
  readCount = 0;
  active = true;
  /** Crossings in progress (a hal call inside an export is one level down). */
  private depth = 0;
  /** Told the index of each export crossing made at the top level (not from inside the core). */
  onTopLevel: ((index: number) => void) | null = null;

  attach(memory: WebAssembly.Memory): void { this.memory = memory; }

  protected coreBytes(ptr: number, len: number): Uint8Array {
    return new Uint8Array(this.memory!.buffer).slice(ptr >>> 0, (ptr >>> 0) + (len >>> 0));
  }

  wrap(kind: "hal" | "export", name: string, fn: (...args: number[]) => any): (...args: number[]) => any {
    const moves = kind === "hal" ? HAL_BYTES[name] : undefined;
    return (...args: number[]) => {
      if (!this.active) return fn(...args);
      this.beforeActivity();
      const index = this.crossingCount++;
      if (this.depth === 0 && kind === "export") this.onTopLevel?.(index);
      const bytesOut = moves && moves[2] === "out" ? b64(this.coreBytes(args[moves[0]], args[moves[1]])) : null;
      this.enter(index, [kind, name, args.map((a) => num(a)!), null, null, bytesOut]);
      this.depth++;
      let result: unknown;
      try { result = fn(...args); } finally { this.depth--; }
      const bytesIn = moves && moves[2] === "in" ? b64(this.coreBytes(args[moves[0]], args[moves[1]])) : null;
      this.leave(index, num(result), bytesIn);
      return result;
    };
  }

  hostWrite(corePtr: number, bytes: Uint8Array): void {
    if (!this.active) return;
    this.beforeActivity();
    const index = this.crossingCount++;
    this.enter(index, ["write", "io", [corePtr], null, b64(bytes), null]);
    this.leave(index, null, b64(bytes));
  }

  /** Called before each crossing and each clock reading. */
  protected beforeActivity(): void {}
  protected abstract enter(index: number, c: Crossing): void;
  protected abstract leave(index: number, result: number | null, bytesIn: string | null): void;
}

// ---------------------------------------------------------------------------------------------
// Recording.

class RecordingBoundary extends Boundary {
  readonly crossings: Crossing[] = [];
  protected enter(index: number, c: Crossing): void { this.crossings[index] = c; }
  protected leave(index: number, result: number | null, bytesIn: string | null): void {
    const c = this.crossings[index];
    c[3] = result;
    if (bytesIn !== null) c[4] = bytesIn;
  }
}

/**
 * Records one device's run. Use `config()` for the Device's configuration, then `attach(device)`;
 * from then on install/start/stop/run and gpio.drive of that device are recorded. `finish()`
 * stops recording and returns the Recording.
 */
export class Recorder {
  private readonly boundary = new RecordingBoundary();
  private readonly clockReadings: number[] = [];
  private readonly clockAt: number[] = [];
  private readonly hostCalls: number[] = [];
  /** Inside a recorded action or pin change: crossings then are the device's, not the host's own. */
  private inDevice = 0;
  private readonly drives: Recording["drives"] = [];
  private readonly actions: HostAction[] = [];
  private readonly apps: RecordedApp[] = [];
  private readonly installed = new Map<InstalledApp, number>();
  private device: Device | null = null;

  /** The device configuration to record with: `base` plus the recording clock and core tap. */
  config(base: DeviceConfig = {}): DeviceConfig {
    if (base.clock === undefined) throw new Error("Recorder.config needs the device's clock (e.g. new RealClock())");
    const inner = base.clock;
    const b = this.boundary;
    const readings = this.clockReadings;
    const readingsAt = this.clockAt;
    const clock: Clock = {
      get virtual() { return inner.virtual; },
      nowMs: () => { const t = inner.nowMs(); if (b.active) { readings.push(t); readingsAt.push(b.crossingCount); b.readCount++; } return t; },
      chargeFuel: inner.chargeFuel ? (fuel: number) => inner.chargeFuel!(fuel) : undefined,
      waitUntil: (deadlineMs: number) => inner.waitUntil(deadlineMs),
    };
    // The slice's wall budget is read on the same clock, so its readings are recorded and replayed too.
    return { ...base, clock, coreTap: this.boundary, wallClockMs: () => clock.nowMs() };
  }

  attach(device: Device): void {
    this.device = device;
    const b = this.boundary;
    b.onTopLevel = (index) => { if (this.inDevice === 0) this.hostCalls.push(index); };
    const drive = device.gpio.drive.bind(device.gpio);
    device.gpio.drive = (pin: number, level: number) => {
      if (b.active) this.drives.push({ reads: b.readCount, crossings: b.crossingCount, pin, level });
      this.inDevice++;
      try { drive(pin, level); } finally { this.inDevice--; }
    };
    const install = device.install.bind(device);
    device.install = async (pkg: AppPackage) => {
      const recorded: RecordedApp = { origin: pkg.origin, manifest: b64(pkg.manifestBytes), modules: {} };
      const index = this.apps.push(recorded) - 1;
      this.actions.push({ ...this.at(), action: "install", app: index });
      this.inDevice++;
      const app = await install({
        origin: pkg.origin,
        manifestBytes: pkg.manifestBytes,
        loadEntryPoint: async (entry: string) => { const wasm = await pkg.loadEntryPoint(entry); recorded.modules[entry] = b64(wasm); return wasm; },
      }).finally(() => this.inDevice--);
      this.installed.set(app, index);
      return app;
    };
    const start = device.start.bind(device);
    device.start = (app: InstalledApp) => { this.actions.push({ ...this.at(), action: "start", app: this.appIndex(app) }); return this.inside(() => start(app)); };
    const stop = device.stop.bind(device);
    device.stop = (app: InstalledApp) => { this.actions.push({ ...this.at(), action: "stop", app: this.appIndex(app) }); return this.inside(() => stop(app)); };
    const run = device.run.bind(device);
    device.run = (opts = {}) => {
      this.actions.push({ ...this.at(), action: "run", untilMs: Number.isFinite(opts.untilMs) ? opts.untilMs! : null, maxSlices: Number.isFinite(opts.maxSlices) ? opts.maxSlices! : null });
      this.inDevice++;
      return run(opts).finally(() => this.inDevice--);
    };
  }

  private inside<T>(fn: () => T): T {
    this.inDevice++;
    try { return fn(); } finally { this.inDevice--; }
  }

  private at(): { reads: number; crossings: number } {
    return { reads: this.boundary.readCount, crossings: this.boundary.crossingCount };
  }

  private appIndex(app: InstalledApp): number {
    const i = this.installed.get(app);
    if (i === undefined) throw new Error(`${app.name} was not installed while recording`);
    return i;
  }

  finish(): Recording {
    const device = this.device;
    if (!device) throw new Error("Recorder.finish: no device was attached");
    this.boundary.active = false;
    return {
      format: RECORDING_FORMAT,
      device: {
        gpioPinCount: device.config.gpioPinCount, appQuotaCeilingBytes: device.config.appQuotaCeilingBytes,
        defaultAppQuotaBytes: device.config.defaultAppQuotaBytes,
        flash: device.flash ? { blockSizeBytes: device.flash.blockSizeBytes, blockCount: device.flash.blockCount } : null,
        eventCapacity: device.events.capacity, virtualClock: device.clock.virtual,
      },
      apps: this.apps, actions: this.actions, clock: this.clockReadings, clockAt: this.clockAt, hostCalls: this.hostCalls, drives: this.drives,
      crossings: this.boundary.crossings, audit: device.audit(), trace: device.events.all(),
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Replay.

export interface Divergence {
  /** Which crossing (or "clock reading", "audit entry", "trace event") differs first. */
  where: string;
  expected: string;
  actual: string;
}

export interface ReplayResult {
  divergence: Divergence | null;
  crossings: number;
  clockReadings: number;
  auditEntries: number;
  traceEvents: number;
}

/** Thrown inside the device to stop a replay; the replay reports what it stores, not this. */
class ReplayStop extends Error {}

const describe = (c: Crossing | undefined): string => {
  if (!c) return "nothing (the recording ends here)";
  const [kind, name, args, result, bytesIn, bytesOut] = c;
  const bytes = (label: string, v: string | null) => (v === null ? "" : ` ${label} ${v.length > 60 ? v.slice(0, 60) + "..." : v}`);
  return `${kind} ${name}(${args.join(", ")}) -> ${result}${bytes("bytes in", bytesIn)}${bytes("bytes out", bytesOut)}`;
};

class ReplayBoundary extends Boundary {
  divergence: Divergence | null = null;
  private injecting = false;
  private nextDrive = 0;
  private readonly hostCalls: Set<number>;
  constructor(private readonly rec: Recording, private readonly drive: () => ((pin: number, level: number) => void) | null) {
    super();
    this.hostCalls = new Set(rec.hostCalls);
  }

  diverge(where: string, expected: string, actual: string): never {
    if (!this.divergence) this.divergence = { where, expected, actual };
    throw new ReplayStop(where);
  }

  /** The outside world's pin changes, made when the run reaches the point they were made at. */
  protected beforeActivity(): void {
    if (this.divergence) throw new ReplayStop("after divergence");
    if (this.injecting) return;
    const drive = this.drive();
    while (drive && this.nextDrive < this.rec.drives.length) {
      const d = this.rec.drives[this.nextDrive];
      if (d.reads !== this.readCount || d.crossings !== this.crossingCount) break;
      this.nextDrive++;
      this.injecting = true;
      try { drive(d.pin, d.level); } finally { this.injecting = false; }
    }
  }

  readClock(): number {
    if (!this.active) throw new ReplayStop("clock read after the replay ended");
    this.beforeActivity();
    if (this.readCount >= this.rec.clock.length) throw new ReplayStop("end of recording");
    const recordedAt = this.rec.clockAt[this.readCount];
    if (recordedAt > this.crossingCount) {
      this.diverge(`crossing ${this.crossingCount}`, describe(this.rec.crossings[this.crossingCount]), `nothing: clock reading ${this.readCount} came first`);
    }
    if (recordedAt < this.crossingCount) {
      this.diverge(`clock reading ${this.readCount}`, `the clock read before crossing ${recordedAt}`, `not read until crossing ${this.crossingCount}`);
    }
    return this.rec.clock[this.readCount++];
  }

  protected enter(index: number, c: Crossing): void {
    const want = this.rec.crossings[index];
    if (!want) this.diverge(`crossing ${index}`, describe(undefined), describe(c));
    if (want[0] !== c[0] || want[1] !== c[1] || JSON.stringify(want[2]) !== JSON.stringify(c[2]) || (c[5] !== null && want[5] !== c[5])) {
      this.diverge(`crossing ${index}`, describe(want), describe(c));
    }
  }

  protected leave(index: number, result: number | null, bytesIn: string | null): void {
    const want = this.rec.crossings[index];
    if (JSON.stringify(want[3]) !== JSON.stringify(result) || (bytesIn !== null && want[4] !== bytesIn)) {
      this.diverge(`crossing ${index} (its result)`, describe(want), describe([want[0], want[1], want[2], result, bytesIn, want[5]]));
    }
  }

  /**
   * Brings the replay to where the recording was when the host took its next action: the host's
   * own calls of core exports outside the device's actions (a memory map, the version) are made
   * again from the recording, and its own clock readings are taken.
   */
  catchUp(reads: number, crossings: number, exports: Record<string, unknown>): void {
    for (;;) {
      this.beforeActivity(); // pin changes made before the host's call come first
      if (this.crossingCount >= crossings) break;
      const want = this.rec.crossings[this.crossingCount];
      if (!this.hostCalls.has(this.crossingCount)) this.diverge(`crossing ${this.crossingCount}`, describe(want), "nothing: the device did not make this call");
      (exports[want[1]] as (...a: number[]) => unknown)(...want[2]);
    }
    if (this.readCount > reads) this.diverge(`clock reading ${this.readCount}`, `${reads} readings before the next action`, `${this.readCount}`);
    while (this.readCount < reads) { this.beforeActivity(); this.readCount++; }
  }

  drivesLeft(): number { return this.rec.drives.length - this.nextDrive; }
}

/** Replays `rec` on a fresh device; `coreModule` lets a different core build be checked against it. */
export async function replay(rec: Recording, opts: { coreModule?: WebAssembly.Module } = {}): Promise<ReplayResult> {
  if (rec.format !== RECORDING_FORMAT) throw new Error(`not a wasphere recording (format ${JSON.stringify(rec.format)}; expected ${RECORDING_FORMAT})`);
  let device: Device | null = null;
  const boundary = new ReplayBoundary(rec, () => (device ? device.gpio.drive.bind(device.gpio) : null));
  const clock: Clock = {
    virtual: rec.device.virtualClock,
    nowMs: () => boundary.readClock(),
    waitUntil: () => Promise.resolve(),
  };
  const config: DeviceConfig = {
    gpioPinCount: rec.device.gpioPinCount, appQuotaCeilingBytes: rec.device.appQuotaCeilingBytes,
    defaultAppQuotaBytes: rec.device.defaultAppQuotaBytes, flash: rec.device.flash ?? undefined,
    eventCapacity: rec.device.eventCapacity, clock, coreTap: boundary, coreModule: opts.coreModule, wallClockMs: () => clock.nowMs(),
  };
  const installed: InstalledApp[] = [];
  let stoppedEarly = false;
  try {
    device = new Device(config);
    for (const step of rec.actions) {
      boundary.catchUp(step.reads, step.crossings, device.core.exports);
      if (step.action === "install") installed[step.app] = await device.install(packageOf(rec.apps[step.app]));
      else if (step.action === "start") device.start(installed[step.app]);
      else if (step.action === "stop") device.stop(installed[step.app]);
      else await device.run({ untilMs: step.untilMs ?? undefined, maxSlices: step.maxSlices ?? undefined });
    }
  } catch (err) {
    // A divergence stops the device wherever it is; anything it threw on the way is a consequence.
    if (!boundary.divergence) {
      if (!(err instanceof ReplayStop)) throw err;
      stoppedEarly = true;
    }
  }
  if (!boundary.divergence && !stoppedEarly && device) {
    try { boundary.catchUp(rec.clock.length, rec.crossings.length, device.core.exports); } catch (err) { if (!(err instanceof ReplayStop)) throw err; }
  }
  boundary.active = false;
  const result = (divergence: Divergence | null): ReplayResult => ({
    divergence, crossings: boundary.crossingCount, clockReadings: boundary.readCount,
    auditEntries: device ? device.audit().length : 0, traceEvents: device ? device.events.all().length : 0,
  });
  if (boundary.divergence) return result(boundary.divergence);
  if (!device) return result({ where: "boot", expected: "a device", actual: "none" });
  if (boundary.crossingCount !== rec.crossings.length) {
    return result({ where: `crossing ${boundary.crossingCount}`, expected: describe(rec.crossings[boundary.crossingCount]), actual: `the replay ended${stoppedEarly ? " (its clock readings ran out)" : ""}` });
  }
  if (boundary.readCount !== rec.clock.length) return result({ where: `clock reading ${boundary.readCount}`, expected: `${rec.clock.length} readings`, actual: `${boundary.readCount} were taken` });
  if (boundary.drivesLeft() > 0) return result({ where: "pin changes", expected: `${rec.drives.length} made`, actual: `${rec.drives.length - boundary.drivesLeft()} replayed` });
  const audit = device.audit();
  const auditDiff = firstDifference(rec.audit, audit, "audit entry");
  if (auditDiff) return result(auditDiff);
  const traceDiff = firstDifference(rec.trace, device.events.all(), "trace event");
  return result(traceDiff);
}

function firstDifference(expected: unknown[], actual: unknown[], what: string): Divergence | null {
  for (let i = 0; i < Math.max(expected.length, actual.length); i++) {
    const a = JSON.stringify(expected[i]);
    const b = JSON.stringify(actual[i]);
    if (a !== b) return { where: `${what} ${i}`, expected: a ?? "nothing", actual: b ?? "nothing" };
  }
  return null;
}

function packageOf(app: RecordedApp): AppPackage {
  return {
    origin: app.origin,
    manifestBytes: unb64(app.manifest),
    loadEntryPoint: async (entry: string) => {
      const wasm = app.modules[entry];
      if (wasm === undefined) throw new Error(`the recording holds no module ${JSON.stringify(entry)} for ${app.origin}`);
      return unb64(wasm);
    },
  };
}

/** A recording as the text of a file, and back. */
export const recordingToJson = (rec: Recording): string => JSON.stringify(rec);
export function recordingFromJson(text: string): Recording {
  let rec: Recording;
  try { rec = JSON.parse(text) as Recording; } catch { throw new Error("not a wasphere recording (not JSON)"); }
  if (!rec || rec.format !== RECORDING_FORMAT) throw new Error(`not a wasphere recording (expected format ${RECORDING_FORMAT})`);
  return rec;
}
