// SPI: a master interface (an ISU) with targets on its chip selects, as the wire sees them.
//
// Mechanism only: a transfer sequence runs with one chip select held low from its first segment
// to its last (Azure Sphere's SPIMaster_TransferSequential); every byte is a full-duplex exchange,
// so a write segment discards what the target sends back and a read segment sends 0x00. The
// target sees the bus as configured: a bit order the target does not use reverses each byte both
// ways; a clock phase (mode) it does not use shifts the stream by one bit; a clock faster than the
// target's maximum is not seen at all (the master reads the idle line, 0xff). That is what a
// misconfigured master gets from real parts: garbage, never an error.
// Errors are negative errnos as the SPI syscalls return them: -EINVAL for a chip select without a
// target, a mode outside 0-3, a speed of 0.
// Memory: the attached targets; a sequence's bytes only while it runs.
// Must not: be reachable from an app except through the core's syscalls.

export const EINVAL = -22;

/** A part on a chip select. */
export interface SpiTarget {
  /** The SPI modes (0-3: CPOL << 1 | CPHA) the part samples correctly. */
  readonly modes: readonly number[];
  readonly lsbFirst: boolean;
  readonly maxClockHz: number;
  /** Chip select went low: a new command begins. */
  select(nowMs: number): void;
  /** One byte in (MOSI), one byte out (MISO), in the part's own bit order. */
  exchange(mosi: number, nowMs: number): number;
  /** Chip select went high: the command ends (a program or erase starts here on flash parts). */
  deselect(nowMs: number): void;
}

export interface SpiConfig {
  /** 0-3 (CPOL << 1 | CPHA). */
  mode: number;
  lsbFirst: boolean;
  clockHz: number;
}

export type SpiSegment = { write: Uint8Array } | { readLength: number };

export const reverseBits = (b: number): number => {
  let r = 0;
  for (let i = 0; i < 8; i++) r |= ((b >> i) & 1) << (7 - i);
  return r;
};

export class SpiBus {
  private readonly targets = new Map<number, SpiTarget>();

  attach(chipSelect: number, target: SpiTarget): void {
    if (this.targets.has(chipSelect)) throw new RangeError(`SPI chip select ${chipSelect} already has a target`);
    this.targets.set(chipSelect, target);
  }

  /**
   * Runs `segments` under one chip select: the bytes of each read segment, concatenated, or a
   * negative errno before anything moves.
   */
  transfer(chipSelect: number, config: SpiConfig, segments: SpiSegment[], nowMs: number): Uint8Array | number {
    const target = this.targets.get(chipSelect);
    if (!target || !Number.isInteger(config.mode) || config.mode < 0 || config.mode > 3 || !(config.clockHz > 0)) return EINVAL;
    const readTotal = segments.reduce((n, s) => n + ("readLength" in s ? s.readLength : 0), 0);
    const out = new Uint8Array(readTotal);
    if (config.clockHz > target.maxClockHz) return out.fill(0xff);
    const reorder = config.lsbFirst !== target.lsbFirst ? reverseBits : (b: number) => b;
    // A master sampling on the other clock edge sees the part's bits one place late, and the part
    // sees the master's one place early: modelled as a one-bit shift of each stream.
    const shifted = !target.modes.includes(config.mode);
    let mosiCarry = 0, misoCarry = 0;
    const toTarget = (b: number): number => {
      if (!shifted) return reorder(b);
      const v = reorder(b);
      const seen = ((v << 1) & 0xff) | mosiCarry;
      mosiCarry = 0; // the bit that should have opened the next byte is lost at each edge
      return seen;
    };
    const fromTarget = (b: number): number => {
      if (!shifted) return reorder(b);
      const seen = (misoCarry << 7) | (b >> 1);
      misoCarry = b & 1;
      return reorder(seen);
    };
    target.select(nowMs);
    let at = 0;
    for (const s of segments) {
      if ("write" in s) for (const b of s.write) target.exchange(toTarget(b), nowMs);
      else for (let i = 0; i < s.readLength; i++) out[at++] = fromTarget(target.exchange(toTarget(0), nowMs));
    }
    target.deselect(nowMs);
    return out;
  }
}
