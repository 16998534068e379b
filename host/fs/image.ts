// Image files: littlefs flash images on the host's disk, and the geometry to mount them with.
//
// An image is the raw flash, `blockSize * blockCount` bytes, erased bytes 0xff. littlefs stores
// block_size and block_count in its superblock, so both can be read from the file itself: the
// superblock entry is always the first entry of block 0 or block 1, with the name "littlefs" at
// byte 8 and the superblock struct (version, block_size, block_count, ...) right after it.
// Invariants: a detected geometry always satisfies blockSize * blockCount === file size;
// `saveImage` replaces the file atomically (temp file + rename), so a crash never leaves half an
// image behind. Memory: one copy of the image.
// Must not: interpret anything beyond the superblock entry (the core's littlefs does that).
import { readFileSync, renameSync, writeFileSync, unlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** What the file system is mounted with: littlefs's configuration, in bytes and blocks. */
export interface FsGeometry {
  blockSize: number;
  blockCount: number;
  readSize: number;
  progSize: number;
  cacheSize: number;
  lookaheadSize: number;
  /** Erase cycles before a metadata pair is moved; -1 disables wear leveling. */
  blockCycles: number;
}

/** Geometry flags as the user gave them; anything missing is detected or defaulted. */
export type GeometryOptions = Partial<FsGeometry>;

/** The superblock's own fields, as found in the image. */
export interface SuperblockInfo {
  /** Block (0 or 1) the entry was read from: the newer of the pair by revision count. */
  block: number;
  revision: number;
  version: number;
  blockSize: number;
  blockCount: number;
  nameMax: number;
  fileMax: number;
  attrMax: number;
}

export class ImageError extends Error {}

export const MIN_BLOCK_SIZE = 128;
export const MAX_BLOCK_SIZE = 65536;
const MAGIC = "littlefs";
const TAG_SUPERBLOCK_NAME = 0x0ff;
const TAG_INLINESTRUCT = 0x201;
const SUPERBLOCK_STRUCT_BYTES = 24;

/** Defaults for the unstored fields, the values the project's fixtures were written with. */
export function defaultGeometry(blockSize: number, blockCount: number): FsGeometry {
  const cacheSize = Math.min(blockSize, 256);
  return { blockSize, blockCount, readSize: 16, progSize: 16, cacheSize, lookaheadSize: 16, blockCycles: 500 };
}

/**
 * Reads the superblock entry at the start of `block` for a candidate block size. Returns null
 * when the bytes there are not a superblock entry written with that block size.
 */
export function readSuperblockAt(image: Uint8Array, blockSize: number, block: number): SuperblockInfo | null {
  const at = block * blockSize;
  if (at + 20 + SUPERBLOCK_STRUCT_BYTES > image.length) return null;
  for (let i = 0; i < MAGIC.length; i++) if (image[at + 8 + i] !== MAGIC.charCodeAt(i)) return null;
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  // Tags are big-endian and XOR-chained, the first against 0xffffffff.
  const nameTag = (view.getUint32(at + 4, false) ^ 0xffffffff) >>> 0;
  if (nameTag >>> 31 || ((nameTag >>> 20) & 0x7ff) !== TAG_SUPERBLOCK_NAME || (nameTag & 0x3ff) !== MAGIC.length) return null;
  const structTag = (view.getUint32(at + 16, false) ^ nameTag) >>> 0;
  if (structTag >>> 31 || ((structTag >>> 20) & 0x7ff) !== TAG_INLINESTRUCT || (structTag & 0x3ff) !== SUPERBLOCK_STRUCT_BYTES) return null;
  const sb: SuperblockInfo = {
    block,
    revision: view.getUint32(at, true),
    version: view.getUint32(at + 20, true),
    blockSize: view.getUint32(at + 24, true),
    blockCount: view.getUint32(at + 28, true),
    nameMax: view.getUint32(at + 32, true),
    fileMax: view.getUint32(at + 36, true),
    attrMax: view.getUint32(at + 40, true),
  };
  return sb.blockSize === blockSize ? sb : null;
}

/** The superblock of an image, or null. Candidate block sizes are powers of two from 128 to 64 KiB. */
export function findSuperblock(image: Uint8Array, blockSizeHint?: number): SuperblockInfo | null {
  const candidates: number[] = [];
  if (blockSizeHint) candidates.push(blockSizeHint);
  else for (let bs = MIN_BLOCK_SIZE; bs <= MAX_BLOCK_SIZE; bs *= 2) candidates.push(bs);
  for (const bs of candidates) {
    const a = readSuperblockAt(image, bs, 0);
    const b = readSuperblockAt(image, bs, 1);
    // The newer block of the pair, by sequence comparison (revision counts wrap).
    if (a && b) return ((b.revision - a.revision) | 0) > 0 ? b : a;
    if (a || b) return (a ?? b)!;
  }
  return null;
}

/**
 * The geometry to mount `image` with: flags win, the superblock fills in block size and count,
 * defaults fill in the rest. Throws ImageError naming `label` when the file is not a whole
 * littlefs image.
 */
export function detectGeometry(label: string, image: Uint8Array, flags: GeometryOptions = {}): FsGeometry {
  let blockSize = flags.blockSize;
  let blockCount = flags.blockCount;
  if (!blockSize || !blockCount) {
    const sb = findSuperblock(image, blockSize);
    if (!sb) {
      throw new ImageError(`${label}: not a littlefs image (no superblock found${blockSize ? ` for block size ${blockSize}` : ""})`);
    }
    blockSize ??= sb.blockSize;
    if (!blockCount) {
      if (image.length !== sb.blockSize * sb.blockCount) {
        throw new ImageError(
          `${label}: image is ${image.length} bytes but its superblock says ${sb.blockCount} blocks of ${sb.blockSize} bytes (${sb.blockCount * sb.blockSize}); truncated or padded`,
        );
      }
      blockCount = sb.blockCount;
    }
  }
  if (blockSize * blockCount !== image.length) {
    throw new ImageError(`${label}: image is ${image.length} bytes, not ${blockCount} blocks of ${blockSize} bytes`);
  }
  return { ...defaultGeometry(blockSize, blockCount), ...definedOnly(flags), blockSize, blockCount };
}

function definedOnly(flags: GeometryOptions): GeometryOptions {
  const out: GeometryOptions = {};
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) (out as Record<string, number>)[k] = v as number;
  return out;
}

/** Reads an image file; errors name the file and say why in one line. */
export function loadImage(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ENOENT") throw new ImageError(`${path}: no such file`);
    if (e.code === "EISDIR") throw new ImageError(`${path}: is a directory, not an image`);
    if (e.code === "EACCES") throw new ImageError(`${path}: permission denied`);
    throw new ImageError(`${path}: cannot read (${e.message})`);
  }
}

/** Replaces the file at `path` with `bytes`: written beside it first, then renamed over it. */
export function saveImage(path: string, bytes: Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* it was never written */ }
    throw new ImageError(`${path}: cannot write (${(err as Error).message})`);
  }
}
