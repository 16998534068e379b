// The conformance run: one scripted device run on a virtual clock whose trace every wasphere host
// must reproduce byte for byte (tests/conformance/script.json; the Node host's trace is the golden
// file tests/conformance/trace.golden; DESIGN.md, Embedding, gives the format).
//
// The run: boot; install every app of the script in order with its pre-instrumented module (an
// install the core refuses is traced, not fatal); start the installed apps in order; drive the
// script's input pin changes at their device times; run until `untilMs`; end with each app's
// counters and the core's memory map, as the core reports them.
// Trace lines: `<device time in whole µs, 9 digits> <event> <key=value ...>`, keys sorted, values
// decimal integers or quoted byte strings (printable ASCII kept except `"` and `\`, every other
// byte \xHH of its UTF-8 form). Device times are floored to µs (identical in every IEEE-754 engine);
// nothing engine-specific (trap messages, wall times, pointer values) enters the trace.
// No Node API here: gjs, jsc and browsers run this file as it is.
import * as abi from "../assembly/abi.js";
import { type Device, type AuditEntry, errnoName } from "./device.js";
import { type AppPackage } from "./apps/package.js";
import { type RecordedEvent } from "./events.js";

export interface ConformanceScript {
  device: { gpioPinCount: number; appQuotaCeilingBytes: number; defaultAppQuotaBytes: number };
  /** App directories, relative to the repository; each app's name in the trace comes from the core. */
  apps: string[];
  inputs: { atMs: number; pin: number; level: number }[];
  untilMs: number;
}

/** One app as a host receives it for the run: its manifest and its instrumented EntryPoint module. */
export interface ConformanceApp {
  dir: string;
  manifestBytes: Uint8Array;
  instrumentedModule: Uint8Array;
}

export const TRACE_HEADER = "# wasphere conformance trace v1";

/** The UTF-8 bytes of a JS string (TextEncoder is missing in some engines: jsc). */
export function utf8Bytes(text: string): number[] {
  const out: number[] = [];
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return out;
}

/** A trace string value: quoted, printable ASCII but `"` and `\` kept, every other byte \xHH. */
export function quoteBytes(bytes: ArrayLike<number>): string {
  let s = '"';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    s += b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return s + '"';
}

const quote = (text: string) => quoteBytes(utf8Bytes(text));

/** One canonical trace line. */
export function traceLine(timeMs: number, event: string, fields: Record<string, number | string>): string {
  const us = Math.floor(timeMs * 1000);
  const parts = Object.keys(fields).sort().map((k) => {
    const v = fields[k];
    return `${k}=${typeof v === "number" ? String(v) : quote(v)}`;
  });
  return [String(us).padStart(9, "0"), event, ...parts].join(" ");
}

const nameOf = (prefix: string, value: number): string => {
  const hit = Object.entries(abi).find(([k, v]) => k.startsWith(prefix) && v === value);
  return hit ? hit[0] : String(value);
};

function auditFields(a: AuditEntry): Record<string, number | string> {
  return { seq: a.seq, kind: nameOf("EV_", a.kind), task: a.task, app: a.app, syscall: a.syscall, arg: a.arg, result: a.result };
}

function eventLine(e: RecordedEvent): string | null {
  switch (e.kind) {
    case "gpio": return traceLine(e.timeMs, "gpio", { pin: e.pin, level: e.level, source: e.source });
    case "log": return traceLine(e.timeMs, "log", { app: e.app, text: e.text });
    case "audit": return e.entry ? traceLine(e.timeMs, "audit", auditFields(e.entry)) : null;
    case "periph": return traceLine(e.timeMs, "periph", { iface: e.iface, text: e.text });
    case "net": return traceLine(e.timeMs, "net", { text: e.text });
    case "app": return null; // the slice and audit lines say the same, without engine-specific detail
  }
}

/**
 * Runs `script` on `device` (fresh, booted with script.device on a virtual clock) with `apps` (in
 * script order) and returns the trace, one line per entry, newline-terminated.
 */
export async function runConformance(device: Device, script: ConformanceScript, apps: ConformanceApp[]): Promise<string> {
  if (!device.clock.virtual) throw new Error("the conformance run needs a device on a virtual clock");
  const lines: string[] = [TRACE_HEADER];
  const c = script.device;
  lines.push(traceLine(device.clock.nowMs(), "boot", { core: device.coreVersion, pins: c.gpioPinCount, quota_ceiling: c.appQuotaCeilingBytes, quota_default: c.defaultAppQuotaBytes }));
  const stopListening = device.events.listen((e) => {
    const line = eventLine(e);
    if (line) lines.push(line);
  });
  device.onSlice = (s) => lines.push(traceLine(device.clock.nowMs(), "slice", { task: s.task, app: s.app, reason: s.reason, fuel: s.fuelUsed, value: s.value }));
  try {
    const installed = [];
    for (const a of apps) {
      const pkg: AppPackage = { origin: a.dir, manifestBytes: a.manifestBytes, loadEntryPoint: async () => a.instrumentedModule };
      try {
        const app = await device.installInstrumented(pkg);
        lines.push(traceLine(device.clock.nowMs(), "install", { dir: a.dir, app: app.name, slot: app.slot, quota: app.quotaBytes, module_bytes: app.instrumentedBytes }));
        installed.push(app);
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (typeof code !== "number") throw err;
        lines.push(traceLine(device.clock.nowMs(), "install-refused", { dir: a.dir, error: errnoName(code) }));
      }
    }
    for (const app of installed) {
      const task = device.start(app);
      lines.push(traceLine(device.clock.nowMs(), "start", { app: app.name, task }));
    }
    const inputs = [...script.inputs].sort((x, y) => x.atMs - y.atMs);
    for (const input of inputs) {
      await device.run({ untilMs: input.atMs });
      await device.clock.waitUntil(input.atMs);
      lines.push(traceLine(device.clock.nowMs(), "input", { pin: input.pin, level: input.level }));
      device.gpio.drive(input.pin, input.level);
    }
    await device.run({ untilMs: script.untilMs });
    const e = device.core.exports;
    for (const app of installed) {
      const f = (field: number) => e.app_field(app.slot, field);
      lines.push(traceLine(device.clock.nowMs(), "app", {
        app: app.name, state: nameOf("TASK_", f(abi.APP_FIELD_STATE)), crashes: f(abi.APP_FIELD_CRASHES), restarts: f(abi.APP_FIELD_RESTARTS),
        slices: f(abi.APP_FIELD_SLICES), fuel_k: f(abi.APP_FIELD_FUEL_KILO), mem_peak: f(abi.APP_FIELD_MEM_PEAK_BYTES),
      }));
    }
    const m = device.memoryMap();
    lines.push(traceLine(device.clock.nowMs(), "memory", {
      total: m.totalBytes, static: m.staticBytes, tables: m.tableBytes, heap_in_use: m.heapInUseBytes, heap_peak: m.heapPeakBytes,
      apps_reserved: m.appReservedBytes, free: m.freeBytes,
    }));
    lines.push(traceLine(device.clock.nowMs(), "end", { audit_total: e.audit_total() }));
  } finally {
    stopListening();
    device.onSlice = null;
  }
  return lines.join("\n") + "\n";
}
