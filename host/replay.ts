// Record and replay of a device run, exactly.
//
// A Recording holds everything that reached the core from outside it: the device configuration,
// each app package (manifest and module bytes), every clock reading in order, every pin change
// the outside world made (and where in the run it came), and every crossing of the core boundary
// at the level of wit/wasphere.wit (each export the host called and each hal call the core made,
// with its arguments and result, lists as bytes), then the audit log and the event trace the run
// produced. Crossings are taken through the Core's tap, so a recording is the same whichever Core
// implementation ran it.
// Replay builds a fresh device from the recording, feeds it the recorded clock readings and pin
// changes at the same points, performs the same host actions (install, start, run, stop), and
// compares every crossing as it happens: the first that differs (name, arguments or result)
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

export const RECORDING_FORMAT = "wasphere-recording/2";

/**
 * A WIT value as JSON: numbers as they are, a list<u8> as {"b64": base64}, a record as an object
 * of such values (its field names as the Core gives them), none as null, a tuple as an array.
 */
export type WitJson = number | null | { b64: string } | WitJson[] | { [field: string]: WitJson };

/** [kind, WIT name (`_` for `-`), arguments, result (null for none)]. */
export type Crossing = [kind: "hal" | "export", name: string, args: WitJson[], result: WitJson];

/** What the host asked of the device, with how many clock readings and crossings came before. */
export type HostAction = { reads: number; crossings: number } & (
  | { action: "install"; app: number }
  | { action: "start"; app: number }
  | { action: "stop"; app: number }
  | { action: "run"; untilMs: number | null; maxSlices: number | null });

export interface RecordedApp { origin: string; manifest: string; modules: Record<string, string> }

export interface Recording {
  format: typeof RECORDING_FORMAT;
  device: { gpioPinCount: number; appQuotaCeilingBytes: number; defaultAppQuotaBytes: number; flash: { blockSizeBytes: number; blockCount: number } | null; eventCapacity: number; virtualClock: boolean; utcMs?: number | null };
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

/** A value crossing the boundary, as JSON (WitJson). */
export function toWitJson(v: unknown): WitJson {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (v === undefined || v === null) return null;
  if (v instanceof Uint8Array) return { b64: b64(v) };
  if (Array.isArray(v)) return v.map(toWitJson);
  if (typeof v === "object") return Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, toWitJson(x)]));
  return Number(v);
}
/** Back from WitJson, for the host's own calls a replay makes again. */
function fromWitJson(v: WitJson): unknown {
  if (v === null || typeof v === "number") return v;
  if (Array.isArray(v)) return v.map(fromWitJson);
  if (typeof (v as { b64?: unknown }).b64 === "string" && Object.keys(v).length === 1) return unb64((v as { b64: string }).b64);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromWitJson(x)]));
}

/** The boundary machinery shared by recording and replay: counts crossings and clock readings. */
abstract class Boundary implements CoreTap {
  crossingCount = 0;
  readCount = 0;
  active = true;
  /** Crossings in progress (a hal call inside an export is one level down). */
  private depth = 0;
  /** Told the index of each export crossing made at the top level (not from inside the core). */
  onTopLevel: ((index: number) => void) | null = null;

  wrap<F extends (...args: any[]) => any>(kind: "hal" | "export", name: string, fn: F): F {
    const witName = name.replace(/-/g, "_");
    return ((...args: unknown[]) => {
      if (!this.active) return fn(...args);
      this.beforeActivity();
      const index = this.crossingCount++;
      if (this.depth === 0 && kind === "export") this.onTopLevel?.(index);
      this.enter(index, [kind, witName, args.map(toWitJson), null]);
      this.depth++;
      let result: unknown;
      try { result = fn(...args); } finally { this.depth--; }
      this.leave(index, toWitJson(result));
      return result;
    }) as F;
  }

  /** Called before each crossing and each clock reading. */
  protected beforeActivity(): void {}
  protected abstract enter(index: number, c: Crossing): void;
  protected abstract leave(index: number, result: WitJson): void;
}

// ---------------------------------------------------------------------------------------------
// Recording.

class RecordingBoundary extends Boundary {
  readonly crossings: Crossing[] = [];
  protected enter(index: number, c: Crossing): void { this.crossings[index] = c; }
  protected leave(index: number, result: WitJson): void { this.crossings[index][3] = result; }
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
      waitUntil: (deadlineMs: number, woken?: Promise<void>) => inner.waitUntil(deadlineMs, woken),
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
        eventCapacity: device.events.capacity, virtualClock: device.clock.virtual, utcMs: device.utcAtBootMs,
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
  const [kind, name, args, result] = c;
  const text = (v: WitJson) => { const t = JSON.stringify(v); return t.length > 80 ? t.slice(0, 80) + "..." : t; };
  return `${kind} ${name}(${args.map(text).join(", ")}) -> ${text(result)}`;
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
    if (want[0] !== c[0] || want[1] !== c[1] || JSON.stringify(want[2]) !== JSON.stringify(c[2])) {
      this.diverge(`crossing ${index}`, describe(want), describe(c));
    }
  }

  protected leave(index: number, result: WitJson): void {
    const want = this.rec.crossings[index];
    if (JSON.stringify(want[3]) !== JSON.stringify(result)) {
      this.diverge(`crossing ${index} (its result)`, describe(want), describe([want[0], want[1], want[2], result]));
    }
  }

  /**
   * Brings the replay to where the recording was when the host took its next action: the host's
   * own calls of core exports outside the device's actions (a memory map, the version) are made
   * again from the recording, and its own clock readings are taken.
   */
  catchUp(reads: number, crossings: number, exports: object): void {
    for (;;) {
      this.beforeActivity(); // pin changes made before the host's call come first
      if (this.crossingCount >= crossings) break;
      const want = this.rec.crossings[this.crossingCount];
      if (!this.hostCalls.has(this.crossingCount)) this.diverge(`crossing ${this.crossingCount}`, describe(want), "nothing: the device did not make this call");
      const fn = (exports as Record<string, (...a: unknown[]) => unknown>)[want[1]];
      if (typeof fn !== "function") this.diverge(`crossing ${this.crossingCount}`, describe(want), "nothing: the core has no such export");
      fn(...want[2].map(fromWitJson));
    }
    if (this.readCount > reads) this.diverge(`clock reading ${this.readCount}`, `${reads} readings before the next action`, `${this.readCount}`);
    while (this.readCount < reads) { this.beforeActivity(); this.readCount++; }
  }

  drivesLeft(): number { return this.rec.drives.length - this.nextDrive; }
}

/**
 * Replays `rec` on a fresh device; `coreModule` lets a different core build be checked against it,
 * `createCore` another Core implementation (the component, host/core-component.ts).
 */
export async function replay(rec: Recording, opts: { coreModule?: WebAssembly.Module; createCore?: DeviceConfig["createCore"] } = {}): Promise<ReplayResult> {
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
    createCore: opts.createCore, utcMs: rec.device.utcMs ?? undefined,
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
