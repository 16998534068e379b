// Fuzz target `imagepkg`: image packages through the core's pkg_parse, then the whole of
// `image-package show`'s reading (host/apps/imagepkg.ts inspectPackage: littlefs mount, check,
// manifest).
//
// Inputs: real packages (two apps, built once by the host's writer) edited at random: byte-level
// edits anywhere, and field edits inside the metadata; after an edit the CRCs are recomputed
// some of the time, so the edit reaches the checks behind them (section fields, littlefs, the
// manifest inside). Properties checked on every case:
// - the core never traps, and answers 0 or -EINVAL/-EFBIG/-ECORRUPT/-EIO;
// - a refusal leaves one printable line that starts with "image package: ";
// - what it accepts agrees with a reference reading of SPEC.md's layout done here (trailer magic,
//   node's zlib CRC of the metadata and of the littlefs image, the image ending at the metadata);
// - the rest of the reading either succeeds or refuses with a PackageError, never another error;
// - pkg_parse takes no core heap.
// Memory: one core instance for pkg_parse, reused; inspectPackage makes its own.
import { crc32 as zlibCrc32 } from "node:zlib";
import * as abi from "../assembly/abi.js";
import { ModuleCore, flashHal, type Hal, type PkgInfoRecord } from "../host/core.js";
import { Flash } from "../host/flash.js";
import { inspectPackage, packImage, PackageError, PKG_FLASH_BLOCK_BYTES } from "../host/apps/imagepkg.js";
import { FuzzFailure, mutateBytes, type FuzzTarget, type Prng } from "./fuzz-lib.js";

const enc = new TextEncoder();
const MODULE = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

let bases: Promise<Uint8Array[]> | null = null;
/** The packages edits start from (the same bytes in every run: the writer is deterministic). */
function basePackages(): Promise<Uint8Array[]> {
  bases ??= Promise.all([
    packImage({
      files: [
        { path: "app_manifest.json", bytes: enc.encode(JSON.stringify({ SchemaVersion: 1, Name: "blink", ComponentId: "1689d8b2-c835-2e27-27ad-e894d6d15fa9", EntryPoint: "blink.wasm", Capabilities: { Gpio: [8] } })) },
        { path: "blink.wasm", bytes: MODULE },
      ],
      componentId: "1689d8b2-c835-2e27-27ad-e894d6d15fa9", imageVersion: 1, buildTimeSeconds: 0, name: "blink",
    }),
    packImage({
      files: [
        { path: "app_manifest.json", bytes: enc.encode(JSON.stringify({ SchemaVersion: 1, Name: "files", ComponentId: "3b1f5e2a-7c44-4d8e-9a61-0f2d8c7b5e13", EntryPoint: "bin/app.wasm" })) },
        { path: "bin/app.wasm", bytes: Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff) },
        { path: "etc/a.conf", bytes: enc.encode("x=1\n".repeat(50)) },
      ],
      componentId: "3b1f5e2a-7c44-4d8e-9a61-0f2d8c7b5e13", imageVersion: 9, buildTimeSeconds: 1764633600, name: "files",
    }),
  ]);
  return bases;
}

const u32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at, true);
const put32 = (b: Uint8Array, at: number, v: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(at, v >>> 0, true);

/** SPEC.md's layout read here, independently of the core: null when the trailer does not frame it. */
function reference(pkg: Uint8Array): { metaOffset: number; metaBytes: number; fsSection: number } | null {
  if (pkg.length < 16) return null;
  const t = pkg.length - 16;
  if (Buffer.from(pkg.subarray(t + 12)).toString("latin1") !== "WSPK") return null;
  const metaOffset = u32(pkg, t), metaBytes = u32(pkg, t + 4);
  if (metaOffset + metaBytes !== t || metaBytes < 16) return null;
  let fsSection = -1;
  for (let at = metaOffset + 16; at + 8 <= t;) {
    const len = u32(pkg, at + 4);
    if (new DataView(pkg.buffer, pkg.byteOffset).getUint16(at, true) === 5) fsSection = at + 8;
    at += 8 + ((len + 3) & ~3);
    if (len > metaBytes) break;
  }
  return { metaOffset, metaBytes, fsSection };
}

/** Recomputes the CRCs the reference layout can find (FILESYSTEM's, then the trailer's). */
function reseal(pkg: Uint8Array, fsToo: boolean): void {
  const r = reference(pkg);
  if (!r) return;
  if (fsToo && r.fsSection >= 0 && r.fsSection + 12 <= r.metaOffset + r.metaBytes) put32(pkg, r.fsSection + 8, zlibCrc32(pkg.subarray(0, r.metaOffset)));
  put32(pkg, pkg.length - 8, zlibCrc32(pkg.subarray(r.metaOffset, r.metaOffset + r.metaBytes)));
}

/** The flash the shared core reads: each case's package, swapped in before pkg_parse. */
let caseFlash = new Flash({ blockSizeBytes: PKG_FLASH_BLOCK_BYTES, blockCount: 1 });
const hal: Hal = { flashRead: (block, offset, len) => flashHal(caseFlash).flashRead!(block, offset, len) };
let core: ModuleCore | null = null;
const sharedCore = () => (core ??= new ModuleCore(hal));

const INTERESTING = [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 16, 64, 65, 127, 128, 255, 256, 512, 1024, 4096, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

export const imagepkgTarget: FuzzTarget = {
  name: "imagepkg",
  summary: "image packages through the core's pkg_parse and show's reading: no trap, agreement with a reference reading of the layout, refusals one printable line, no other error",
  hangMs: 4000,

  async generate(rng: Prng): Promise<Uint8Array> {
    const base = rng.pick(await basePackages());
    let pkg: Uint8Array = base.slice();
    const r = reference(pkg)!;
    const how = rng.below(8);
    if (how < 3) {
      for (let n = rng.range(1, 6); n > 0; n--) pkg = mutateBytes(rng, pkg, abi.PKG_MAX_BYTES);
    } else if (how < 6) {
      // Field edits in the metadata (header and sections), at 4-byte or 2-byte granularity.
      for (let n = rng.range(1, 3); n > 0; n--) {
        const at = r.metaOffset + rng.below(r.metaBytes - 2);
        if (rng.chance(0.5) && at + 4 <= r.metaOffset + r.metaBytes) put32(pkg, at, rng.pick(INTERESTING));
        else pkg[at] = rng.pick(INTERESTING) & 0xff;
      }
    } else if (how === 6) {
      // A few bytes of the littlefs image changed (the superblock, metadata or file data).
      for (let n = rng.range(1, 4); n > 0; n--) pkg[rng.below(r.metaOffset)] = rng.u32() & 0xff;
    } else {
      pkg = rng.chance(0.5) ? pkg.slice(0, rng.below(pkg.length)) : Uint8Array.from([...pkg, ...rng.bytes(rng.range(1, 64))]);
    }
    if (rng.chance(0.7)) reseal(pkg, how === 6 || rng.chance(0.5));
    return pkg;
  },

  async execute(input: Uint8Array): Promise<void> {
    const c = sharedCore();
    const blocks = Math.max(1, Math.ceil(input.length / PKG_FLASH_BLOCK_BYTES));
    const image = new Uint8Array(blocks * PKG_FLASH_BLOCK_BYTES).fill(0xff);
    image.set(input);
    caseFlash = new Flash({ blockSizeBytes: PKG_FLASH_BLOCK_BYTES, blockCount: blocks }, image);
    const heapBefore = c.exports.mem_heap_in_use_bytes();
    let rc: number;
    let info: PkgInfoRecord | null = null;
    try {
      const r = c.exports.pkg_parse(PKG_FLASH_BLOCK_BYTES, 0, input.length);
      if (typeof r === "number") rc = r; else { rc = 0; info = r; }
    } catch (err) {
      core = null;
      throw new FuzzFailure(`the core trapped on pkg_parse: ${(err as Error).message}`);
    }
    if (c.exports.mem_heap_in_use_bytes() !== heapBefore) throw new FuzzFailure("pkg_parse took core heap");
    if (rc < 0) {
      if (![-abi.EINVAL, -abi.EFBIG, -abi.ECORRUPT, -abi.EIO].includes(rc)) throw new FuzzFailure(`pkg_parse answered ${rc}`);
      const message = c.lastError();
      if (!message.startsWith("image package: ")) throw new FuzzFailure(`the refusal does not start with "image package: ": ${JSON.stringify(message)}`);
      if (/[\u0000-\u001f\u007f]/.test(message)) throw new FuzzFailure(`the refusal holds a control character: ${JSON.stringify(message)}`);
    } else {
      const ref = reference(input);
      if (!ref) throw new FuzzFailure("pkg_parse accepted a package whose trailer does not frame its metadata");
      if (zlibCrc32(input.subarray(ref.metaOffset, ref.metaOffset + ref.metaBytes)) !== u32(input, input.length - 8)) throw new FuzzFailure("pkg_parse accepted a metadata CRC zlib disagrees with");
      if (ref.fsSection < 0 || zlibCrc32(input.subarray(0, ref.metaOffset)) !== u32(input, ref.fsSection + 8)) throw new FuzzFailure("pkg_parse accepted a littlefs image CRC zlib disagrees with");
      if (u32(input, ref.fsSection) * u32(input, ref.fsSection + 4) !== ref.metaOffset) throw new FuzzFailure("pkg_parse accepted a littlefs image that does not end at the metadata");
      if (info!.metadataOffset !== ref.metaOffset || info!.metadataBytes !== ref.metaBytes) throw new FuzzFailure(`pkg_parse reported metadata at ${info!.metadataOffset}+${info!.metadataBytes}; the trailer says ${ref.metaOffset}+${ref.metaBytes}`);
      if (info!.fsBlockBytes !== u32(input, ref.fsSection) || info!.fsBlockCount !== u32(input, ref.fsSection + 4)) throw new FuzzFailure("pkg_parse reported another littlefs geometry than the FILESYSTEM section's");
    }
    try {
      await inspectPackage(input);
      if (rc < 0) throw new FuzzFailure("show's reading accepted what pkg_parse refused");
    } catch (err) {
      if (err instanceof FuzzFailure) throw err;
      if (!(err instanceof PackageError)) throw new FuzzFailure(`show's reading failed with ${(err as Error).name}: ${(err as Error).message}`);
      if (/[\u0000-\u001f\u007f]/.test(err.message)) throw new FuzzFailure(`a refusal holds a control character: ${JSON.stringify(err.message)}`);
    }
  },
};
