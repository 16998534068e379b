// Clocks: where the device's notion of time comes from.
//
// RealClock follows the wall; VirtualClock only moves when the device advances it to the next
// deadline, so tests run in no real time and always see the same schedule.
export interface Clock {
  nowMs(): number;
  /** Waits (really or virtually) until `deadlineMs`; returns when that time has come. */
  waitUntil(deadlineMs: number): Promise<void>;
  readonly virtual: boolean;
}

export class RealClock implements Clock {
  readonly virtual = false;
  private readonly startMs = performance.now();
  nowMs(): number { return performance.now() - this.startMs; }
  waitUntil(deadlineMs: number): Promise<void> {
    const delay = Math.max(0, deadlineMs - this.nowMs());
    return new Promise((resolve) => setTimeout(resolve, Math.min(delay, 2 ** 31 - 1)));
  }
}

export class VirtualClock implements Clock {
  readonly virtual = true;
  private now = 0;
  nowMs(): number { return this.now; }
  advance(ms: number): void { this.now += ms; }
  waitUntil(deadlineMs: number): Promise<void> {
    if (deadlineMs > this.now) this.now = deadlineMs;
    return Promise.resolve();
  }
}
