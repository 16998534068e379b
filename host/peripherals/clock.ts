// Clocks: where the device's notion of time comes from.
//
// RealClock follows the wall; VirtualClock only moves when the device advances it to the next
// deadline, so tests run in no real time and always see the same schedule.
import { wallMs } from "../yield.js";

export interface Clock {
  nowMs(): number;
  /** Virtual clocks charge app work to time; real clocks need not (time passes by itself). */
  chargeFuel?(fuel: number): void;
  /**
   * Waits (really or virtually) until `deadlineMs`; returns when that time has come, or, on a real
   * clock, as soon as `woken` settles (the device was told of an event: an input changed), dropping
   * its timer. A virtual clock ignores `woken`: its time moves only to deadlines, so a run on it
   * is the same every time.
   */
  waitUntil(deadlineMs: number, woken?: Promise<void>): Promise<void>;
  readonly virtual: boolean;
}

export class RealClock implements Clock {
  readonly virtual = false;
  private readonly startMs = wallMs();
  nowMs(): number { return wallMs() - this.startMs; }
  waitUntil(deadlineMs: number, woken?: Promise<void>): Promise<void> {
    const delay = Math.max(0, deadlineMs - this.nowMs());
    return new Promise((resolve) => {
      // Even an infinite deadline has a timer: it keeps the process alive while the device waits.
      const timer = setTimeout(resolve, Math.min(delay, 2 ** 31 - 1));
      woken?.then(() => { clearTimeout(timer); resolve(); });
    });
  }
}

/**
 * How much app work one virtual millisecond holds. One unit of fuel is about one Wasm
 * instruction (host/apps/instrument.ts); 10 million a millisecond is a fast core's pace. Without
 * this a spinning app would stop virtual time and every sleeper with it.
 */
export const VIRTUAL_FUEL_PER_MS = 10_000_000;
/** Even a slice that does nothing (a yield) takes a little time. */
export const VIRTUAL_MIN_SLICE_MS = 0.001;

export class VirtualClock implements Clock {
  readonly virtual = true;
  private now = 0;
  nowMs(): number { return this.now; }
  /** Charges a slice's work to virtual time. */
  chargeFuel(fuel: number): void { this.now += Math.max(VIRTUAL_MIN_SLICE_MS, fuel / VIRTUAL_FUEL_PER_MS); }
  advance(ms: number): void { this.now += ms; }
  waitUntil(deadlineMs: number): Promise<void> {
    if (deadlineMs > this.now) this.now = deadlineMs;
    return Promise.resolve();
  }
}
