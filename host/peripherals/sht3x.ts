// Sht3x: a Sensirion SHT3x-DIS humidity and temperature sensor on I2C, as its datasheet describes
// it, for apps to read as they would the real part.
//
// What is modelled: the 16-bit commands of the datasheet (single shot with and without clock
// stretching at three repeatabilities, periodic acquisition at 0.5 to 10 measurements a second,
// ART, fetch data, break, soft reset, heater on/off, status read and clear); measurement durations
// (a read before a measurement without clock stretching is done gets no acknowledge, as on the
// part; with clock stretching the read is held until it is done); the status register's bits
// (alert pending, heater, reset detected, command status); CRC-8 over every 16-bit word
// (polynomial 0x31, init 0xff); the raw-value conversions S_T = (T + 45) / 175 * (2^16 - 1) and
// S_RH = RH / 100 * (2^16 - 1). A write whose command is unknown or not allowed in the current
// mode is acknowledged and not processed, and sets the command-status bit.
// Not modelled: alert limits (their commands set the command-status bit), the heater's warming,
// measurement noise.
// The environment it senses is set by the user: fixed values, or functions of device time.
// Must not: know anything about apps or the core; it is a part on a bus.
import type { I2cTarget } from "./i2c.js";

/** The part's address with its ADDR pin low (0x45 with it high). */
export const SHT3X_ADDRESS = 0x44;
export const SHT3X_ADDRESS_ALT = 0x45;

/** CRC-8 of the datasheet (polynomial x^8 + x^5 + x^4 + 1, init 0xff, no reflection, no final XOR). */
export function sht3xCrc8(bytes: ArrayLike<number>): number {
  let crc = 0xff;
  for (let i = 0; i < bytes.length; i++) {
    crc ^= bytes[i] & 0xff;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x80 ? ((crc << 1) ^ 0x31) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

/** The raw 16-bit temperature word for `celsius` (clamped to the word's range). */
export const rawTemperature = (celsius: number): number => clampWord(Math.round(((celsius + 45) / 175) * 65535));
/** The raw 16-bit humidity word for `percent` relative humidity. */
export const rawHumidity = (percent: number): number => clampWord(Math.round((percent / 100) * 65535));
/** The datasheet's conversions back to physical values. */
export const temperatureOf = (raw: number): number => -45 + (175 * raw) / 65535;
export const humidityOf = (raw: number): number => (100 * raw) / 65535;
const clampWord = (v: number): number => Math.min(65535, Math.max(0, v));

type Repeatability = "high" | "medium" | "low";
/** Maximum measurement durations (datasheet, table of timing: t_MEAS). */
const MEASURE_MS: Record<Repeatability, number> = { high: 15, medium: 6, low: 4 };

const SINGLE_SHOT: Record<number, [Repeatability, boolean]> = {
  0x2c06: ["high", true], 0x2c0d: ["medium", true], 0x2c10: ["low", true],
  0x2400: ["high", false], 0x240b: ["medium", false], 0x2416: ["low", false],
};
/** Periodic acquisition: command -> [repeatability, measurements per second]. */
const PERIODIC: Record<number, [Repeatability, number]> = {
  0x2032: ["high", 0.5], 0x2024: ["medium", 0.5], 0x202f: ["low", 0.5],
  0x2130: ["high", 1], 0x2126: ["medium", 1], 0x212d: ["low", 1],
  0x2236: ["high", 2], 0x2220: ["medium", 2], 0x222b: ["low", 2],
  0x2334: ["high", 4], 0x2322: ["medium", 4], 0x2329: ["low", 4],
  0x2737: ["high", 10], 0x2721: ["medium", 10], 0x272a: ["low", 10],
  0x2b32: ["high", 4], // ART: accelerated response time, 4 Hz
};
const FETCH = 0xe000, BREAK = 0x3093, SOFT_RESET = 0x30a2, HEATER_ON = 0x306d, HEATER_OFF = 0x3066;
const READ_STATUS = 0xf32d, CLEAR_STATUS = 0x3041;

const STATUS_ALERT = 1 << 15, STATUS_HEATER = 1 << 13, STATUS_RESET = 1 << 4, STATUS_COMMAND = 1 << 1, STATUS_WRITE_CRC = 1 << 0;

export interface Sht3xEnvironment {
  /** °C, or a function of device time in ms. */
  temperatureC: number | ((nowMs: number) => number);
  /** %RH, or a function of device time in ms. */
  humidityPercent: number | ((nowMs: number) => number);
}

export class Sht3x implements I2cTarget {
  private status = STATUS_ALERT | STATUS_RESET;
  /** Single shot: when the pending measurement is done (and whether a read may stretch for it). */
  private single: { doneMs: number; stretch: boolean; takenMs: number } | null = null;
  /** Periodic mode: the period and when it started; `lastFetchedMs` is the sample last read. */
  private periodic: { periodMs: number; startMs: number; measureMs: number } | null = null;
  private lastFetchedSampleMs = -Infinity;
  /** What a read transfer returns next (set by the command before it), consumed by the read. */
  private pendingRead: Uint8Array | "measurement" | null = null;
  /** Commands the part processed, for a test or a log to look at. */
  readonly commands: number[] = [];

  constructor(readonly environment: Sht3xEnvironment) {}

  write(bytes: Uint8Array, nowMs: number): boolean {
    if (bytes.length < 2) return true; // acknowledged, nothing to do: a command is two bytes
    const command = (bytes[0] << 8) | bytes[1];
    this.pendingRead = null;
    if (!this.process(command, nowMs)) { this.status |= STATUS_COMMAND; return true; }
    this.status &= ~STATUS_COMMAND;
    this.commands.push(command);
    return true;
  }

  read(length: number, nowMs: number): { bytes: Uint8Array; stretchMs?: number } | null {
    const pending = this.pendingRead;
    if (pending instanceof Uint8Array) { this.pendingRead = null; return { bytes: pending.subarray(0, length) }; }
    if (pending !== "measurement") return null;
    if (this.single) {
      const { doneMs, stretch, takenMs } = this.single;
      if (nowMs < doneMs && !stretch) return null; // still measuring: no acknowledge
      this.single = null;
      this.pendingRead = null;
      return { bytes: this.sample(takenMs).subarray(0, length), stretchMs: Math.max(0, doneMs - nowMs) };
    }
    if (this.periodic) {
      // The newest sample done by now; none new since the last fetch: no acknowledge.
      const { periodMs, startMs, measureMs } = this.periodic;
      const n = Math.floor((nowMs - startMs - measureMs) / periodMs);
      const sampleMs = startMs + n * periodMs;
      if (n < 0 || sampleMs <= this.lastFetchedSampleMs) { this.pendingRead = null; return null; }
      this.lastFetchedSampleMs = sampleMs;
      this.pendingRead = null;
      return { bytes: this.sample(sampleMs + measureMs).subarray(0, length) };
    }
    return null;
  }

  /** Carries out `command`; false when it is unknown or not allowed now (the command-status bit). */
  private process(command: number, nowMs: number): boolean {
    if (command === SOFT_RESET) { this.reset(); return true; }
    if (command === READ_STATUS) { this.pendingRead = word(this.status); return true; }
    if (command === CLEAR_STATUS) { this.status &= ~(STATUS_ALERT | STATUS_RESET | (1 << 11) | (1 << 10)); return true; }
    if (command === HEATER_ON) { this.status |= STATUS_HEATER; return true; }
    if (command === HEATER_OFF) { this.status &= ~STATUS_HEATER; return true; }
    if (this.periodic) {
      if (command === FETCH) { this.pendingRead = "measurement"; return true; }
      if (command === BREAK) { this.periodic = null; return true; }
      return false; // in periodic mode only fetch, break, reset, heater and status commands are taken
    }
    const single = SINGLE_SHOT[command];
    if (single) {
      if (this.single && nowMs < this.single.doneMs) return false; // busy measuring
      const [repeatability, stretch] = single;
      this.single = { doneMs: nowMs + MEASURE_MS[repeatability], stretch, takenMs: nowMs + MEASURE_MS[repeatability] };
      this.pendingRead = "measurement";
      return true;
    }
    const periodic = PERIODIC[command];
    if (periodic) {
      const [repeatability, perSecond] = periodic;
      this.single = null;
      this.periodic = { periodMs: 1000 / perSecond, startMs: nowMs, measureMs: MEASURE_MS[repeatability] };
      this.lastFetchedSampleMs = -Infinity;
      return true;
    }
    return false; // unknown, or fetch and break outside periodic mode
  }

  private reset(): void {
    this.status = STATUS_ALERT | STATUS_RESET;
    this.single = null;
    this.periodic = null;
    this.pendingRead = null;
  }

  /** T word, CRC, RH word, CRC, as sensed at `atMs`. */
  private sample(atMs: number): Uint8Array {
    const env = this.environment;
    const t = typeof env.temperatureC === "function" ? env.temperatureC(atMs) : env.temperatureC;
    const rh = typeof env.humidityPercent === "function" ? env.humidityPercent(atMs) : env.humidityPercent;
    const out = new Uint8Array(6);
    out.set(word(rawTemperature(t)), 0);
    out.set(word(rawHumidity(Math.min(100, Math.max(0, rh)))), 3);
    return out;
  }
}

/** A 16-bit word as the part sends it: MSB, LSB, CRC. */
function word(value: number): Uint8Array {
  const bytes = [(value >> 8) & 0xff, value & 0xff];
  return Uint8Array.of(bytes[0], bytes[1], sht3xCrc8(bytes));
}

export { STATUS_ALERT, STATUS_HEATER, STATUS_RESET, STATUS_COMMAND, STATUS_WRITE_CRC };
