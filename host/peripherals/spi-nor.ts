// SpiNorFlash: a serial NOR flash on SPI in the manner of Winbond's W25Q series, as its
// datasheets describe the standard single-I/O instructions, for apps to drive as the real part.
//
// What is modelled: JEDEC ID (9Fh), manufacturer/device ID (90h), release power-down / device ID
// (ABh), unique ID (4Bh), read status register-1 (05h: BUSY bit 0, WEL bit 1), write enable (06h)
// and disable (04h), read data (03h) and fast read (0Bh, one dummy byte), both continuing across
// pages and wrapping at the end of the array; page program (02h: up to 256 bytes, wrapping within
// the 256-byte page, bits only cleared, never set); sector (20h, 4 KiB), block (52h, 32 KiB; D8h,
// 64 KiB) and chip erase (C7h or 60h); power-down (B9h). A program or erase starts when chip select
// goes high, only with WEL set (which it then clears), and keeps BUSY for its typical duration;
// while BUSY or powered down every instruction but read status (and ABh in power-down) is ignored.
// Not modelled: status registers 2 and 3, block protection, dual/quad I/O, suspend/resume, SFDP.
// Memory: the whole array (16 MiB for the W25Q128JV preset).
// Must not: know anything about apps or the core; it is a part on a bus.
import type { SpiTarget } from "./spi.js";

export interface SpiNorPart {
  name: string;
  /** Manufacturer, memory type, capacity: what 9Fh returns. */
  jedecId: [number, number, number];
  /** What 90h and ABh return after the manufacturer byte. */
  deviceId: number;
  sizeBytes: number;
  /** Typical durations in ms (datasheet AC characteristics). */
  pageProgramMs: number;
  sectorEraseMs: number;
  block32EraseMs: number;
  block64EraseMs: number;
  chipEraseMs: number;
}

export const W25Q128JV: SpiNorPart = {
  name: "W25Q128JV", jedecId: [0xef, 0x40, 0x18], deviceId: 0x17, sizeBytes: 16 * 1024 * 1024,
  pageProgramMs: 0.4, sectorEraseMs: 45, block32EraseMs: 120, block64EraseMs: 150, chipEraseMs: 40_000,
};
export const W25Q80DV: SpiNorPart = {
  name: "W25Q80DV", jedecId: [0xef, 0x40, 0x14], deviceId: 0x13, sizeBytes: 1024 * 1024,
  pageProgramMs: 0.7, sectorEraseMs: 45, block32EraseMs: 120, block64EraseMs: 150, chipEraseMs: 2_500,
};

const PAGE_BYTES = 256;
const STATUS_BUSY = 1, STATUS_WEL = 2;

export class SpiNorFlash implements SpiTarget {
  readonly modes = [0, 3] as const;
  readonly lsbFirst = false;
  readonly maxClockHz = 133_000_000;
  readonly array: Uint8Array;
  /** 64-bit unique ID (4Bh). */
  readonly uniqueId: Uint8Array;
  private wel = false;
  private busyUntilMs = -Infinity;
  private poweredDown = false;
  /** The bytes of the command under way, chip select low. */
  private command: number[] = [];
  private readAddress = 0;
  /** Page program: bytes latched during the command, programmed at deselect. */
  private programBytes: number[] = [];
  /** Counts of what ran, for a test or a log. */
  readonly counters = { programs: 0, erases: 0, ignored: 0 };

  constructor(readonly part: SpiNorPart = W25Q128JV, uniqueId = Uint8Array.of(0xd1, 0x0e, 0x5a, 0x17, 0x00, 0x00, 0x00, 0x01)) {
    this.array = new Uint8Array(part.sizeBytes).fill(0xff);
    this.uniqueId = uniqueId;
  }

  busy(nowMs: number): boolean { return nowMs < this.busyUntilMs; }

  select(): void { this.command = []; this.programBytes = []; }

  exchange(mosi: number, nowMs: number): number {
    const c = this.command;
    c.push(mosi);
    const op = c[0];
    const at = c.length - 1; // index of this byte in the command
    if (op === 0x05) return at === 0 ? 0xff : this.status(nowMs);
    if (this.poweredDown) {
      if (op === 0xab && at >= 4) return this.part.deviceId;
      return 0xff;
    }
    if (this.busy(nowMs)) return 0xff;
    switch (op) {
      case 0x9f: return at >= 1 && at <= 3 ? this.part.jedecId[at - 1] : 0xff;
      case 0x90: return at === 4 ? this.part.jedecId[0] : at === 5 ? this.part.deviceId : 0xff;
      case 0xab: return at >= 4 ? this.part.deviceId : 0xff;
      case 0x4b: return at >= 5 && at <= 12 ? this.uniqueId[at - 5] : 0xff;
      case 0x03: case 0x0b: {
        const first = op === 0x03 ? 4 : 5; // address bytes, and the fast read's dummy byte
        if (at === 3) this.readAddress = this.addressOf(c);
        if (at < first) return 0xff;
        const b = this.array[this.readAddress];
        this.readAddress = (this.readAddress + 1) % this.part.sizeBytes;
        return b;
      }
      case 0x02: if (at >= 4) this.programBytes.push(mosi); return 0xff;
      default: return 0xff;
    }
  }

  deselect(nowMs: number): void {
    const c = this.command;
    this.command = [];
    if (c.length === 0) return;
    const op = c[0];
    if (this.poweredDown) {
      if (op === 0xab) this.poweredDown = false;
      else if (op !== 0x05) this.counters.ignored++;
      return;
    }
    if (op === 0x05) return;
    if (this.busy(nowMs)) { this.counters.ignored++; return; }
    switch (op) {
      case 0x06: if (c.length === 1) this.wel = true; return;
      case 0x04: if (c.length === 1) this.wel = false; return;
      case 0xb9: if (c.length === 1) this.poweredDown = true; return;
      case 0x02: if (c.length >= 5) this.program(c, nowMs); else this.counters.ignored++; return;
      case 0x20: return this.erase(c, 4096, this.part.sectorEraseMs, nowMs);
      case 0x52: return this.erase(c, 32 * 1024, this.part.block32EraseMs, nowMs);
      case 0xd8: return this.erase(c, 64 * 1024, this.part.block64EraseMs, nowMs);
      case 0xc7: case 0x60:
        if (c.length !== 1 || !this.wel) { this.counters.ignored++; return; }
        this.array.fill(0xff);
        this.finish(this.part.chipEraseMs, nowMs);
        return;
      default: return;
    }
  }

  private status(nowMs: number): number { return (this.busy(nowMs) ? STATUS_BUSY : 0) | (this.wel ? STATUS_WEL : 0); }

  private program(c: number[], nowMs: number): void {
    if (!this.wel) { this.counters.ignored++; return; }
    const start = this.addressOf(c);
    const pageBase = start - (start % PAGE_BYTES);
    // More than a page: only the last 256 bytes are kept, as the part latches them.
    const bytes = this.programBytes.slice(-PAGE_BYTES);
    let offset = start % PAGE_BYTES;
    for (const b of bytes) {
      this.array[pageBase + offset] &= b;
      offset = (offset + 1) % PAGE_BYTES;
    }
    this.counters.programs++;
    this.finish(this.part.pageProgramMs, nowMs);
  }

  private erase(c: number[], bytes: number, durationMs: number, nowMs: number): void {
    if (c.length !== 4 || !this.wel) { this.counters.ignored++; return; }
    const base = this.addressOf(c) - (this.addressOf(c) % bytes);
    this.array.fill(0xff, base, base + bytes);
    this.counters.erases++;
    this.finish(durationMs, nowMs);
  }

  private finish(durationMs: number, nowMs: number): void {
    this.wel = false;
    this.busyUntilMs = nowMs + durationMs;
  }

  /** The 24-bit address in bytes 1-3 of command `c`, within the array. */
  private addressOf(c: number[]): number { return (((c[1] << 16) | (c[2] << 8) | c[3]) >>> 0) % this.part.sizeBytes; }
}
