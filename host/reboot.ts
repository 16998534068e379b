// Reboot: what the host does when the core asks for the device to go down (EV_REBOOT_REQUESTED).
//
// What it is: the one decision and the one run-log line for a reboot request, whatever asked for
// it (an app's PowerControls, an OS update staged, a power-down; SPEC.md "Reboot"), for both hosts
// that boot devices (`wasphere run`, host/run.ts, and `wasphere device boot`, host/device-boot.ts).
// A reboot is simulated by what a reboot does: every app is stopped, the core's memory is dropped
// (a new Device, a new core instance) and the device boots again the way it booted first (run:
// the same apps installed and started; device boot: through the boot loader, re-reading flash).
// Only the hardware carries over: the flash, the security processor, the board's parts, and the
// real-time clock (host/rtc.ts), which runs on from the time an app set.
// Reboot loops are bounded: a request that comes less than REBOOT_QUICK_UPTIME_MS after boot is
// quick; after REBOOT_LOOP_MAX quick reboots in a row the next quick request is refused (the app
// that asked is stopped, the others run on), so an app that reboots at every start cannot keep the
// device booting forever. A request after a longer uptime is always honoured and ends the streak.
// Invariants: every request gets exactly one run-log line; app-supplied names are escaped.
// Must not: decide anything the core decides (who may ask: the core's PowerControls check did).
import * as abi from "../assembly/abi.js";
import { REBOOT_REASON_TEXT, type Device, type RebootRequest } from "./device.js";
import { printable } from "./printable.js";

/** Quick reboots in a row the host honours before it calls it a loop. */
export const REBOOT_LOOP_MAX = 3;
/** A request that comes within this much device uptime of boot is quick. */
export const REBOOT_QUICK_UPTIME_MS = 10_000;

export interface RebootDecision {
  /** true: stop every app and boot again (after `downMs`, a power-down's time down). */
  reboot: boolean;
  downMs: number;
  /** The run-log line. */
  line: string;
}

/** Who asked, for the run log: `by 'NAME' (PowerControls)`, `(OS update staged)`. */
function askedBy(req: RebootRequest): string {
  const why = REBOOT_REASON_TEXT[req.reason] ?? `reason ${req.reason}`;
  return req.appName !== null ? `by '${printable(req.appName)}' (${why})` : `(${why})`;
}

export class RebootGuard {
  private quickInARow = 0;

  /** Honour `req`, or refuse it as a reboot loop; the line says which. */
  decide(req: RebootRequest): RebootDecision {
    const what = req.reason === abi.REBOOT_REASON_POWER_DOWN ? "power-down" : "reboot";
    const quick = req.uptimeMs < REBOOT_QUICK_UPTIME_MS;
    if (!quick) this.quickInARow = 0;
    else if (this.quickInARow >= REBOOT_LOOP_MAX) {
      const who = req.appName !== null ? `'${printable(req.appName)}' is stopped, the other apps run on` : "the apps run on";
      return {
        reboot: false, downMs: 0,
        line: `device: ${what} requested ${askedBy(req)} refused: the last ${REBOOT_LOOP_MAX} boots each ended in a reboot within ${REBOOT_QUICK_UPTIME_MS / 1000} s (a reboot loop); ${who}`,
      };
    } else this.quickInARow++;
    if (req.reason === abi.REBOOT_REASON_POWER_DOWN) {
      return { reboot: true, downMs: req.downSeconds * 1000, line: `device: power-down requested ${askedBy(req)}; down for ${req.downSeconds} s, then booting again (simulated)` };
    }
    return { reboot: true, downMs: 0, line: `device: reboot requested ${askedBy(req)}; rebooting (simulated)` };
  }
}

/**
 * Runs `device` until `endWallMs` (performance.now time; Infinity: no end), the signal, or a
 * reboot the guard honours: that decision, or null when the run ended otherwise. Each request
 * gets its line; one refused as a loop stops the app that asked, and the run goes on.
 */
export async function runUntilReboot(device: Device, guard: RebootGuard, endWallMs: number, out: (line: string) => void, signal?: AbortSignal): Promise<RebootDecision | null> {
  while (true) {
    await device.run({ untilMs: Number.isFinite(endWallMs) ? device.clock.nowMs() + Math.max(0, endWallMs - performance.now()) : undefined, signal });
    const req = device.rebootRequest;
    if (req === null || signal?.aborted) return null;
    const decision = guard.decide(req);
    out(decision.line);
    if (decision.reboot) return decision;
    device.refuseReboot();
  }
}

/** Waits out a power-down: `ms`, cut at `endWallMs` (performance.now time) or when `signal` aborts. */
export function downFor(ms: number, endWallMs: number, signal?: AbortSignal): Promise<void> {
  const waitMs = Math.min(ms, Math.max(0, endWallMs - performance.now()));
  return new Promise((resolve) => {
    if (waitMs <= 0 || signal?.aborted) { resolve(); return; }
    const t = setTimeout(resolve, waitMs);
    signal?.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
  });
}
