// I2C: a bus of targets at 7-bit addresses, as a device's I2C master interface (an ISU) sees it.
//
// Mechanism only: the bus delivers a master's transfers (write, read, write-then-read with a
// repeated start) to the target at an address and reports what the wire would: bytes read, or no
// acknowledge. Whether an app may use the interface, and which one, is the core's decision. A user
// adds a part by implementing I2cTarget and attaching it; nothing else changes.
// Errors are negative errnos, as the I2C syscalls return them: -ENXIO when no target acknowledges
// its address (or the target does not acknowledge the read), -EINVAL for an address outside
// 0x08..0x77 (the reserved ones), -ETIMEDOUT when the target holds the clock (stretches) longer
// than the bus timeout.
// Memory: the attached targets; a transfer's bytes only while it runs.
// Must not: be reachable from an app except through the core's syscalls.

export const ENXIO = -6;
export const EINVAL = -22;
export const ETIMEDOUT = -110;

/** What a target answers to its address. */
export interface I2cTarget {
  /**
   * A write transfer of `bytes` (the address acknowledged): false when the target does not
   * acknowledge them (the master sees -ENXIO), true otherwise.
   */
  write(bytes: Uint8Array, nowMs: number): boolean;
  /**
   * A read transfer of `length` bytes: the bytes, or null when the target does not acknowledge
   * its read header. `stretchMs` is how long it may hold the clock low before answering (a part
   * with clock stretching answers late rather than refusing); beyond it the bus times out.
   */
  read(length: number, nowMs: number): { bytes: Uint8Array; stretchMs?: number } | null;
}

/** 7-bit addresses a target may have: 0x00-0x07 and 0x78-0x7f are reserved by the I2C specification. */
export const isTargetAddress = (address: number): boolean => Number.isInteger(address) && address >= 0x08 && address <= 0x77;

export class I2cBus {
  private readonly targets = new Map<number, I2cTarget>();
  /** Bus clock in Hz (100 kHz standard mode by default); a transfer's bytes take 9 clocks each. */
  busSpeedHz = 100_000;
  /** How long the master waits for a stretched clock (Azure Sphere's I2CMaster_SetTimeout). */
  timeoutMs = 10_000;

  attach(address: number, target: I2cTarget): void {
    if (!isTargetAddress(address)) throw new RangeError(`I2C address 0x${address.toString(16)} is reserved or not 7-bit`);
    if (this.targets.has(address)) throw new RangeError(`I2C address 0x${address.toString(16)} already has a target on this bus`);
    this.targets.set(address, target);
  }

  detach(address: number): void { this.targets.delete(address); }

  /** Bytes written, or a negative errno. */
  write(address: number, bytes: Uint8Array, nowMs: number): number {
    const target = this.target(address);
    if (typeof target === "number") return target;
    return target.write(bytes, nowMs) ? bytes.length : ENXIO;
  }

  /** The bytes read, or a negative errno. */
  read(address: number, length: number, nowMs: number): Uint8Array | number {
    if (!Number.isInteger(length) || length < 0) return EINVAL;
    const target = this.target(address);
    if (typeof target === "number") return target;
    const answer = target.read(length, nowMs);
    if (!answer) return ENXIO;
    if ((answer.stretchMs ?? 0) > this.timeoutMs) return ETIMEDOUT;
    return answer.bytes.length === length ? answer.bytes : padded(answer.bytes, length);
  }

  /** A write, a repeated start, then a read of `readLength` bytes (I2CMaster_WriteThenRead). */
  writeThenRead(address: number, bytes: Uint8Array, readLength: number, nowMs: number): Uint8Array | number {
    const written = this.write(address, bytes, nowMs);
    if (written < 0) return written;
    return this.read(address, readLength, nowMs);
  }

  /** How long `bytes` bytes take on the wire at the bus speed (address byte included), in ms. */
  transferMs(bytes: number): number { return ((bytes + 1) * 9 * 1000) / this.busSpeedHz; }

  private target(address: number): I2cTarget | number {
    if (!isTargetAddress(address)) return EINVAL;
    return this.targets.get(address) ?? ENXIO;
  }
}

/** A target that stops sending before `length` bytes: the master reads the bus's idle level (0xff) for the rest. */
function padded(bytes: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length).fill(0xff);
  out.set(bytes.subarray(0, length));
  return out;
}
