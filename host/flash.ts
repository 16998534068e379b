// Flash: the device's NOR-style block device, in RAM.
//
// Mechanism only: it reads, programs and erases bytes, and counts what it did. The file system in
// the core decides what to write. Erased bytes read as 0xff; a program can only clear bits (as NOR
// flash does), so a program over unerased bytes is visible rather than silently "working".
// Tests use its fault hooks: bad blocks, and a power cut at the Nth program or erase (the
// operation is lost entirely or torn half-written). With `haltOnPowerCut`, a cut device stays
// dark: every later read, program or erase throws too, so nothing a caller does after catching
// the cut can reach the bytes (a real device stops executing when power goes).
// Must not: know anything about littlefs.

export interface FlashGeometry { blockSizeBytes: number; blockCount: number }

export interface FlashCounters {
  readBytes: number;
  progBytes: number;
  eraseCount: number;
  readOps: number;
  progOps: number;
}

export type PowerCutMode = "lost" | "torn";

/** Thrown out of prog/erase when the scheduled power cut happens; the test catches it. */
export class PowerCut extends Error {
  constructor(public readonly operation: number) { super(`power cut at device operation ${operation}`); }
}

export const ERR_IO = -5;
export const ERR_INVAL = -22;

export class Flash {
  readonly blockSizeBytes: number;
  readonly blockCount: number;
  readonly bytes: Uint8Array;
  readonly eraseCounts: Uint32Array;
  readonly counters: FlashCounters = { readBytes: 0, progBytes: 0, eraseCount: 0, readOps: 0, progOps: 0 };
  /** Blocks that fail on program or erase with -EIO, as worn-out flash does. */
  readonly badBlocks = new Set<number>();
  /** Programs and erases refused because their block is in `badBlocks`. */
  badBlockRefusals = 0;
  /** Program+erase operations since the last resetCounters/armPowerCut. */
  mutatingOps = 0;
  private powerCutAt = 0;
  private powerCutMode: PowerCutMode = "lost";
  /** Opt-in: after a cut, refuse every operation until the next armPowerCut. */
  haltOnPowerCut = false;
  /** The operation the last cut interrupted, or null when none happened since arming. */
  powerCutKind: "prog" | "erase" | null = null;
  private halted = false;

  constructor(geometry: FlashGeometry, image?: Uint8Array) {
    this.blockSizeBytes = geometry.blockSizeBytes;
    this.blockCount = geometry.blockCount;
    const size = geometry.blockSizeBytes * geometry.blockCount;
    if (image && image.length !== size) {
      throw new Error(`flash image is ${image.length} bytes, expected ${size} (${geometry.blockCount} blocks of ${geometry.blockSizeBytes})`);
    }
    this.bytes = image ? new Uint8Array(image) : new Uint8Array(size).fill(0xff);
    this.eraseCounts = new Uint32Array(geometry.blockCount);
  }

  /** Cut power at the Nth program or erase from now (1-based); 0 disarms. */
  armPowerCut(operation: number, mode: PowerCutMode = "lost"): void {
    this.mutatingOps = 0;
    this.powerCutAt = operation;
    this.powerCutMode = mode;
    this.powerCutKind = null;
    this.halted = false;
  }

  /** A new device holding a copy of these bytes, with fresh counters and no faults armed. */
  clone(): Flash {
    return new Flash({ blockSizeBytes: this.blockSizeBytes, blockCount: this.blockCount }, this.bytes);
  }

  resetCounters(): void {
    Object.assign(this.counters, { readBytes: 0, progBytes: 0, eraseCount: 0, readOps: 0, progOps: 0 });
  }

  private check(block: number, offset: number, len: number): boolean {
    return block >>> 0 === block && block < this.blockCount && offset >= 0 && len >= 0 && offset + len <= this.blockSizeBytes;
  }

  read(block: number, offset: number, dst: Uint8Array): number {
    if (this.halted) throw new PowerCut(this.mutatingOps);
    if (!this.check(block, offset, dst.length)) return ERR_INVAL;
    const at = block * this.blockSizeBytes + offset;
    dst.set(this.bytes.subarray(at, at + dst.length));
    this.counters.readBytes += dst.length;
    this.counters.readOps++;
    return 0;
  }

  prog(block: number, offset: number, src: Uint8Array): number {
    if (this.halted) throw new PowerCut(this.mutatingOps);
    if (!this.check(block, offset, src.length)) return ERR_INVAL;
    if (this.badBlocks.has(block)) { this.badBlockRefusals++; return ERR_IO; }
    const at = block * this.blockSizeBytes + offset;
    const cut = this.tick("prog");
    const len = cut && this.powerCutMode === "torn" ? src.length >> 1 : cut ? 0 : src.length;
    for (let i = 0; i < len; i++) this.bytes[at + i] &= src[i];
    if (cut) throw new PowerCut(this.mutatingOps);
    this.counters.progBytes += src.length;
    this.counters.progOps++;
    return 0;
  }

  erase(block: number): number {
    if (this.halted) throw new PowerCut(this.mutatingOps);
    if (!this.check(block, 0, 0)) return ERR_INVAL;
    if (this.badBlocks.has(block)) { this.badBlockRefusals++; return ERR_IO; }
    const at = block * this.blockSizeBytes;
    const cut = this.tick("erase");
    if (cut && this.powerCutMode === "torn") this.bytes.fill(0xff, at, at + (this.blockSizeBytes >> 1));
    if (cut) throw new PowerCut(this.mutatingOps);
    this.bytes.fill(0xff, at, at + this.blockSizeBytes);
    this.eraseCounts[block]++;
    this.counters.eraseCount++;
    return 0;
  }

  private tick(kind: "prog" | "erase"): boolean {
    this.mutatingOps++;
    const cut = this.powerCutAt > 0 && this.mutatingOps === this.powerCutAt;
    if (cut) {
      this.powerCutKind = kind;
      this.halted = this.haltOnPowerCut;
    }
    return cut;
  }
}
