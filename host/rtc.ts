// The device's real-time clock: what the core's UTC clock starts from at each boot.
//
// What it is: a battery-backed RTC as the host models it, an offset over the host's own UTC clock
// (Date.now): a fresh one reads the host's time; when an app sets the device's clock (time_set,
// EV_TIME_SET) the host takes the core's new time into it, so it runs on from there through a
// simulated reboot or power-down (the core's memory, and its clock, are gone by then). A device
// folder keeps the offset in DEV/rtc.json (SPEC.md, "Real-time clock file"), so a device booted
// again, even after the process was killed, reads the time it was set to plus the time since.
// Invariants: nowMs() is a whole number of ms; an unreadable or malformed rtc.json never stops a
// boot: it is named in one line and the clock reads the host's time.
// Must not: hold the core's clock (the core does); write anything but rtc.json.
import { readFileSync, writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { TIME_MAX_MS } from "../assembly/abi.js";
import { printable } from "./printable.js";

export const RTC_FILE = "rtc.json";
export const RTC_FORMAT = "wasphere-rtc/1";

export class Rtc {
  constructor(private offsetMs = 0, private readonly hostUtcMs: () => number = Date.now) {}
  /** UTC ms now, as the device's RTC reads it (clamped to what the core accepts). */
  nowMs(): number { return Math.min(TIME_MAX_MS, Math.max(0, Math.round(this.hostUtcMs() + this.offsetMs))); }
  /** The RTC now reads `utcMs` (the core's clock after an app set it). */
  set(utcMs: number): void { this.offsetMs = Math.round(utcMs - this.hostUtcMs()); }
  get offset(): number { return this.offsetMs; }
}

/**
 * The RTC of device folder `dir`: its rtc.json's offset, or the host's time when there is none.
 * `note` is a line for the boot log when the file could not be used (else null).
 */
export function folderRtc(dir: string): { rtc: Rtc; note: string | null } {
  const path = join(dir, RTC_FILE);
  let text: string;
  try { text = readFileSync(path, "utf8"); } catch { return { rtc: new Rtc(), note: null }; }
  try {
    const o = JSON.parse(text) as { format?: unknown; offsetMs?: unknown };
    if (o.format !== RTC_FORMAT || typeof o.offsetMs !== "number" || !Number.isSafeInteger(o.offsetMs)) throw new Error(`expected {"format": "${RTC_FORMAT}", "offsetMs": an integer}`);
    return { rtc: new Rtc(o.offsetMs), note: null };
  } catch (err) {
    return { rtc: new Rtc(), note: `${printable(path)} cannot be used (${printable((err as Error).message)}); the clock starts from the host's time` };
  }
}

/** Writes `rtc`'s offset to `dir`/rtc.json (through a temporary file, so a cut leaves the old one). */
export function saveFolderRtc(dir: string, rtc: Rtc): void {
  const path = join(dir, RTC_FILE);
  writeFileSync(`${path}.tmp`, JSON.stringify({ format: RTC_FORMAT, offsetMs: rtc.offset }) + "\n");
  renameSync(`${path}.tmp`, path);
}
