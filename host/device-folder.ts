// device-folder: a device folder as a running device holds it (SPEC.md, "Device folder"): its
// flash written through to `flash.bin` on every program and erase (a SIGKILL loses nothing littlefs
// committed), a lock so that one device is booted once at a time, and the instrumented-module cache
// of its installed packages in `cache/`.
// Invariants: while a FolderFlash is open, flash.bin's bytes are its bytes after each call returns;
// the lock file holds the pid of the process that holds the device; a lock whose pid is dead is
// taken over.
// Memory: the whole flash image once (16 MiB by default).
// Must not: interpret the flash's bytes (the core does).
import { existsSync, closeSync, fstatSync, openSync, readFileSync, readSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { Flash } from "./flash.js";
import { ERASE_BLOCK_BYTES, MAX_FLASH_BYTES, LayoutError, boardSpecsOf, checkHardwareDefinition } from "./flash-layout.js";
import { Board } from "./peripherals/board.js";
import { wireParts, PartsError, type WiredParts } from "./peripherals/parts.js";
import { FLASH_FILE, HARDWARE_FILE } from "./device-cli.js";
import { nodeInstrumentCache } from "./apps/instrument-cache-node.js";
import type { InstrumentCache } from "./apps/instrument-cache.js";
import { printable } from "./printable.js";

export const LOCK_FILE = "lock";
export const CACHE_DIR = "cache";

export class DeviceFolderError extends Error {}

/** A flash whose every program and erase also reaches the file behind it, before the call returns. */
export class FolderFlash extends Flash {
  private fd: number;
  constructor(path: string) {
    const fd = openFlashFile(path);
    const size = fstatSync(fd).size;
    const bytes = new Uint8Array(size);
    let at = 0;
    while (at < size) { const n = readSync(fd, bytes, at, size - at, at); if (n <= 0) break; at += n; }
    super({ blockSizeBytes: ERASE_BLOCK_BYTES, blockCount: size / ERASE_BLOCK_BYTES }, bytes);
    this.fd = fd;
  }

  override prog(block: number, offset: number, src: Uint8Array): number {
    const rc = super.prog(block, offset, src);
    if (rc === 0) this.writeThrough(block * this.blockSizeBytes + offset, src.length);
    return rc;
  }

  override erase(block: number): number {
    const rc = super.erase(block);
    if (rc === 0) this.writeThrough(block * this.blockSizeBytes, this.blockSizeBytes);
    return rc;
  }

  private writeThrough(at: number, len: number): void {
    let done = 0;
    while (done < len) done += writeSync(this.fd, this.bytes, at + done, len - done, at + done);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

function openFlashFile(path: string): number {
  let fd: number;
  try { fd = openSync(path, "r+"); } catch { throw new DeviceFolderError(`${printable(path)}: cannot be opened (not a device folder? make one with \`wasphere device create\`)`); }
  const size = fstatSync(fd).size;
  if (size < 2 * ERASE_BLOCK_BYTES || size > MAX_FLASH_BYTES || size % ERASE_BLOCK_BYTES !== 0) {
    closeSync(fd);
    throw new DeviceFolderError(`${printable(path)}: ${size} bytes is not a flash of whole ${ERASE_BLOCK_BYTES}-byte blocks`);
  }
  return fd;
}

const alive = (pid: number): boolean => {
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === "EPERM"; }
};

/** Takes the device's lock for this process; throws when a live process holds it. Returns its release. */
export function lockDevice(dir: string): () => void {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => { try { if (readFileSync(path, "utf8").trim() === String(process.pid)) unlinkSync(path); } catch { /* gone already */ } };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw new DeviceFolderError(`${printable(path)}: cannot be created (${(err as Error).message})`);
    }
    let pid = NaN;
    try { pid = Number(readFileSync(path, "utf8").trim()); } catch { /* removed meanwhile: try again */ }
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) throw new DeviceFolderError(`${printable(dir)}: the device is running (process ${pid} holds ${LOCK_FILE}); stop it first, or use its control endpoint`);
    try { unlinkSync(path); } catch { /* another taker was first */ }
  }
  throw new DeviceFolderError(`${printable(path)}: could not take the lock`);
}

/** The device's GPIO pin count, from its hardware definition. */
export function devicePins(dir: string): number {
  try {
    const hw = JSON.parse(readFileSync(join(dir, HARDWARE_FILE), "utf8")) as { Peripherals?: { Type?: string }[] };
    return (hw.Peripherals ?? []).filter((p) => p.Type === "Gpio").length;
  } catch (err) {
    throw new DeviceFolderError(`${printable(join(dir, HARDWARE_FILE))}: cannot be read (${(err as Error).message})`);
  }
}

/** The device's board (its peripheral interfaces), from its hardware definition; no part attached. */
export function deviceBoard(dir: string): Board {
  const path = join(dir, HARDWARE_FILE);
  let hw: unknown;
  try { hw = JSON.parse(readFileSync(path, "utf8")); } catch (err) { throw new DeviceFolderError(`${printable(path)}: cannot be read (${(err as Error).message})`); }
  try {
    const { peripherals } = checkHardwareDefinition(hw, printable(path));
    return new Board(boardSpecsOf(peripherals, printable(path)));
  } catch (err) {
    if (err instanceof LayoutError) throw new DeviceFolderError(err.message);
    throw err;
  }
}

/** The file naming what is wired to the board (SPEC.md, "Parts"); optional. */
export const PARTS_FILE = "parts.json";

/** Wires the parts of DEV/parts.json (if any) to `board`. */
export function deviceParts(dir: string, board: Board): WiredParts {
  const path = join(dir, PARTS_FILE);
  if (!existsSync(path)) return { uartPorts: [], lines: [] };
  let entries: unknown;
  try { entries = JSON.parse(readFileSync(path, "utf8")); } catch (err) { throw new DeviceFolderError(`${printable(path)}: cannot be read (${(err as Error).message})`); }
  try { return wireParts(board, entries, printable(path)); } catch (err) {
    if (err instanceof PartsError) throw new DeviceFolderError(err.message);
    throw err;
  }
}

export const deviceFlashPath = (dir: string) => join(dir, FLASH_FILE);
/** The instrumented-module cache of the device's packages, in DEV/cache. */
export const deviceCache = (dir: string): InstrumentCache => nodeInstrumentCache(join(dir, CACHE_DIR));
