// imagepkg: image packages (SPEC.md, "Image packages"): writing one from an app's files, and
// looking inside one through the core.
//
// Writing is mechanism: the littlefs image is made by the core's littlefs (format, then each file
// written in path order), the metadata section and trailer are laid out here byte by byte as
// SPEC.md gives them. Reading is the core's: `inspectPackage` hands the bytes to the core's
// `pkg_parse` (trailer, metadata, sections, CRCs), mounts the littlefs image with the geometry
// the core reported, has the core check its structure, reads `app_manifest.json` out of it and
// has the core's manifest parser validate it. This file never interprets package bytes itself.
// Invariants: the same files, identity, version and build time give the same bytes (no clock, no
// randomness: the ImageId is derived from the content); every package `packImage` returns has
// passed `inspectPackage`.
// Memory: the package once, a RAM flash copy of it, and one core instance (4 MiB) per step.
// Must not: read anything but the bytes it is given, or print app text unescaped (callers print
// through host/printable.ts).
import { createHash } from "node:crypto";
import { addBoardToCore, defaultBoardSpecs } from "../peripherals/board.js";
import * as abi from "../../assembly/abi.js";
import { ModuleCore, flashHal } from "../core.js";
import { Flash } from "../flash.js";
import { FsError, LittleFs } from "../fs/littlefs.js";
import { defaultGeometry } from "../fs/image.js";
import { checkFs, listTree, mountConfig, type TreeEntry } from "../fs/cli.js";

/** The littlefs block size of the packages wasphere writes (the format allows 128..4096). */
export const PKG_FS_BLOCK_BYTES = 512;
/** Erase block of the RAM flash a package is read from (the device's, SPEC.md "Flash layout"). */
export const PKG_FLASH_BLOCK_BYTES = 4096;
/** At most this many files in a package. */
export const PKG_MAX_FILES = 64;

const META_MAGIC = 0x4d505357; // "WSPM"
const TRAILER_MAGIC = 0x4b505357; // "WSPK"
const SEC = { IDENTITY: 1, VERSION: 2, DEBUG: 3, ABI: 4, FILESYSTEM: 5, SIGNATURE: 6 } as const;
const SIGNATURE_BYTES = 84;

export class PackageError extends Error {}

export interface PackFile { path: string; bytes: Uint8Array }

export interface PackInput {
  /** Paths relative to the package root, `/`-separated; app_manifest.json among them. */
  files: PackFile[];
  /** The ComponentId, GUID text. */
  componentId: string;
  imageVersion: number;
  /** Seconds since the Unix epoch (UTC). */
  buildTimeSeconds: number;
  name: string;
}

export interface PackageInfo {
  imageType: number;
  componentId: string;
  imageId: string;
  version: number;
  buildTimeSeconds: number;
  name: string;
  abiVersion: number;
  fsBlockBytes: number;
  fsBlockCount: number;
  fsCrc32: number;
  metadataOffset: number;
  metadataBytes: number;
  signature: { algorithm: number; keyId: string; signature: string };
  signedBytes: number;
}

export interface InspectedPackage {
  info: PackageInfo;
  sizeBytes: number;
  manifestBytes: Uint8Array;
  /** What the core read back from the manifest after accepting it. */
  manifest: { name: string; componentId: string; entryPoint: string };
  files: TreeEntry[];
}

// ---- bytes ---------------------------------------------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 as zlib computes it. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The 16 bytes of a GUID given as text (8-4-4-4-12 hex, braces allowed), in text order. */
export function guidBytes(text: string): Uint8Array {
  const hex = text.replace(/^\{(.*)\}$/, "$1");
  if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(hex)) throw new PackageError(`"${text}" is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`);
  return Uint8Array.from(Buffer.from(hex.replace(/-/g, ""), "hex"));
}

export function guidText(bytes: Uint8Array): string {
  const h = Buffer.from(bytes).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The ImageId: a UUID version 8 (RFC 9562) from the SHA-256 of the ComponentId, the version and
 * the littlefs image, so the same content always gets the same ImageId and any change a new one.
 */
export function deriveImageId(componentId: Uint8Array, version: number, fsImage: Uint8Array): Uint8Array {
  const v = new Uint8Array(4);
  new DataView(v.buffer).setUint32(0, version, true);
  const id = new Uint8Array(createHash("sha256").update("wasphere image id\0").update(componentId).update(v).update(fsImage).digest().subarray(0, 16));
  id[6] = (id[6] & 0x0f) | 0x80;
  id[8] = (id[8] & 0x3f) | 0x80;
  return id;
}

/** One section: u16 type, u16 flags (0), u32 length, the payload, zero padding to 4 bytes. */
function section(type: number, payload: Uint8Array): Uint8Array {
  const padded = (payload.length + 3) & ~3;
  const out = new Uint8Array(8 + padded);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, type, true);
  dv.setUint32(4, payload.length, true);
  out.set(payload, 8);
  return out;
}

function u32s(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => dv.setUint32(i * 4, v >>> 0, true));
  return out;
}

const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};

/** The applibs ABI version a package built here depends on: this core's major.minor. */
export const APPLIBS_ABI_VERSION = (abi.CORE_VERSION_MAJOR << 16) | (abi.CORE_VERSION_MINOR << 8);

/** The metadata section and trailer for a littlefs image (SPEC.md, "Image packages"). */
export function metadataFor(fsImage: Uint8Array, fsBlockBytes: number, input: Omit<PackInput, "files">): Uint8Array {
  const componentId = guidBytes(input.componentId);
  const name = new TextEncoder().encode(input.name);
  if (name.length < 1 || name.length > abi.APP_NAME_MAX_BYTES) throw new PackageError(`name is ${name.length} bytes; it must be 1 to ${abi.APP_NAME_MAX_BYTES}`);
  if (!Number.isInteger(input.imageVersion) || input.imageVersion < 1 || input.imageVersion > 0xffffffff) throw new PackageError(`image version must be an integer from 1 to 4294967295`);
  if (!Number.isSafeInteger(input.buildTimeSeconds) || input.buildTimeSeconds < 0) throw new PackageError(`build time must be whole seconds since 1970, not ${input.buildTimeSeconds}`);
  const identity = concat([u32s(abi.PKG_IMAGE_TYPE_APPLICATION), componentId, deriveImageId(componentId, input.imageVersion, fsImage)]);
  const debug = new Uint8Array(12 + name.length);
  const ddv = new DataView(debug.buffer);
  ddv.setBigUint64(0, BigInt(input.buildTimeSeconds), true);
  ddv.setUint32(8, name.length, true);
  debug.set(name, 12);
  const sections = [
    section(SEC.IDENTITY, identity),
    section(SEC.VERSION, u32s(input.imageVersion)),
    section(SEC.DEBUG, debug),
    section(SEC.ABI, u32s(1, abi.PKG_ABI_APPLIBS, APPLIBS_ABI_VERSION)),
    section(SEC.FILESYSTEM, u32s(fsBlockBytes, fsImage.length / fsBlockBytes, crc32(fsImage), 1)),
    section(SEC.SIGNATURE, new Uint8Array(SIGNATURE_BYTES)),
  ];
  const body = concat(sections);
  const header = new Uint8Array(16);
  const hdv = new DataView(header.buffer);
  hdv.setUint32(0, META_MAGIC, true);
  hdv.setUint16(4, abi.PKG_FORMAT_VERSION, true);
  hdv.setUint16(6, sections.length, true);
  hdv.setUint32(8, header.length + body.length, true);
  const metadata = concat([header, body]);
  return concat([metadata, u32s(fsImage.length, metadata.length, crc32(metadata), TRAILER_MAGIC)]);
}

// ---- the littlefs image --------------------------------------------------------------------

/** Writes `files` (sorted by path) into a fresh littlefs of `blockCount` blocks; null when they do not fit. */
async function tryImage(files: PackFile[], blockBytes: number, blockCount: number): Promise<Uint8Array | null> {
  const flash = new Flash({ blockSizeBytes: blockBytes, blockCount });
  const cfg = mountConfig(defaultGeometry(blockBytes, blockCount));
  await LittleFs.format(flash, cfg);
  const lfs = LittleFs.mount(flash, cfg);
  const made = new Set<string>();
  try {
    for (const f of files) {
      const steps = f.path.split("/");
      for (let i = 1; i < steps.length; i++) {
        const dir = "/" + steps.slice(0, i).join("/");
        if (!made.has(dir)) { lfs.mkdir(dir); made.add(dir); }
      }
      lfs.writeFile("/" + f.path, f.bytes);
    }
    lfs.unmount();
  } catch (err) {
    if (err instanceof FsError && err.code === -abi.ENOSPC) return null;
    throw err;
  }
  return flash.bytes;
}

/** The smallest littlefs image (in whole blocks) that holds `files`. */
export async function buildFsImage(files: PackFile[], blockBytes = PKG_FS_BLOCK_BYTES): Promise<Uint8Array> {
  const dirs = new Set(files.flatMap((f) => f.path.split("/").slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join("/"))));
  // A lower bound: the root pair, a pair per directory, and each file's data blocks.
  let count = 2 + 2 * dirs.size + files.reduce((n, f) => n + Math.floor(f.bytes.length / blockBytes), 0);
  const maxCount = Math.floor(abi.PKG_MAX_BYTES / blockBytes);
  for (let step = 1; count <= maxCount; count += step) {
    const image = await tryImage(files, blockBytes, count);
    if (image) return image;
    // Close to the bound, one block at a time (the image is the smallest that fits); far from
    // it (many small files), in growing steps.
    if (count > 8 && step < count >> 3) step++;
  }
  throw new PackageError(`the files do not fit a package of ${abi.PKG_MAX_BYTES} bytes`);
}

/** Refuses a package path that is not relative, `/`-separated, without empty or `..` steps. */
function checkPath(path: string): void {
  const steps = path.split("/");
  if (path.length === 0 || steps.some((s) => s === "" || s === "." || s === "..") || path.includes("\\") || /[\u0000-\u001f\u007f]/.test(path)) {
    throw new PackageError(`"${path}" is not a path a package may hold`);
  }
  if (steps.some((s) => new TextEncoder().encode(s).length > 255)) throw new PackageError(`"${path}": a name is longer than 255 bytes`);
}

/**
 * The image package of `input`, checked by the core before it is returned. `system`: a system app
 * of the OS image, whose manifest the core admits as app-install-system does (SPEC.md, "System
 * apps"); only the core image's builder packs one.
 */
export async function packImage(input: PackInput, system = false): Promise<Uint8Array> {
  if (input.files.length > PKG_MAX_FILES) throw new PackageError(`${input.files.length} files; a package holds at most ${PKG_MAX_FILES}`);
  const files = [...input.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (let i = 0; i < files.length; i++) {
    checkPath(files[i].path);
    if (i > 0 && files[i].path === files[i - 1].path) throw new PackageError(`"${files[i].path}" is listed twice`);
  }
  if (!files.some((f) => f.path === "app_manifest.json")) throw new PackageError("no app_manifest.json among the files");
  const fsImage = await buildFsImage(files);
  const pkg = concat([fsImage, metadataFor(fsImage, PKG_FS_BLOCK_BYTES, input)]);
  if (pkg.length > abi.PKG_MAX_BYTES) throw new PackageError(`the package is ${pkg.length} bytes; the limit is ${abi.PKG_MAX_BYTES}`);
  await inspectPackage(pkg, system);
  return pkg;
}

// ---- reading, through the core --------------------------------------------------------------

/** The bytes on a RAM flash of whole erase blocks (the rest erased), as a device would hold them. */
function onFlash(bytes: Uint8Array, blockBytes: number): Flash {
  const blockCount = Math.max(1, Math.ceil(bytes.length / blockBytes));
  const image = new Uint8Array(blockCount * blockBytes).fill(0xff);
  image.set(bytes);
  return new Flash({ blockSizeBytes: blockBytes, blockCount }, image);
}

const hexOf = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** The core's parse of the package's trailer, metadata and CRCs; throws PackageError with its message. */
export function parsePackage(bytes: Uint8Array): PackageInfo {
  const core = new ModuleCore(flashHal(onFlash(bytes, PKG_FLASH_BLOCK_BYTES)));
  const info = core.exports.pkg_parse(PKG_FLASH_BLOCK_BYTES, 0, bytes.length);
  if (typeof info === "number") throw new PackageError(core.lastError() || `image package: refused (${info})`);
  return {
    imageType: info.imageType,
    componentId: guidText(info.componentId),
    imageId: guidText(info.imageId),
    version: info.version,
    buildTimeSeconds: Number(info.buildTime),
    name: new TextDecoder().decode(info.name),
    abiVersion: info.abiVersion,
    fsBlockBytes: info.fsBlockBytes,
    fsBlockCount: info.fsBlockCount,
    fsCrc32: info.fsCrc,
    metadataOffset: info.metadataOffset,
    metadataBytes: info.metadataBytes,
    signature: { algorithm: info.sigAlgorithm, keyId: hexOf(info.sigKeyId), signature: hexOf(info.signature) },
    signedBytes: info.signedBytes,
  };
}

/** The package's littlefs image (a copy), mounted through the core with the geometry the core reported; callers only read it. */
export function mountPackageFs(bytes: Uint8Array, info: PackageInfo): LittleFs {
  const flash = new Flash({ blockSizeBytes: info.fsBlockBytes, blockCount: info.fsBlockCount }, bytes.slice(0, info.metadataOffset));
  try {
    return LittleFs.mount(flash, mountConfig(defaultGeometry(info.fsBlockBytes, info.fsBlockCount)));
  } catch (err) {
    throw new PackageError(`image package: littlefs image: cannot be mounted (${(err as Error).message})`);
  }
}

/** A device big enough for any manifest a device could accept: every pin, the whole RAM as ceiling. */
const CHECK_QUOTA_CEILING_BYTES = 64 * abi.WASM_PAGE_BYTES;

/**
 * The core's verdict on manifest bytes: what it read back, or a PackageError with its message.
 * `system`: admitted as a system app's (app-install-system), which may hold the system capabilities.
 */
export function checkManifest(manifestBytes: Uint8Array, where: string, system = false): { name: string; componentId: string; entryPoint: string } {
  if (manifestBytes.length > abi.MANIFEST_MAX_BYTES) throw new PackageError(`${where}: ${manifestBytes.length} bytes; the limit is ${abi.MANIFEST_MAX_BYTES}`);
  const core = new ModuleCore({});
  const booted = core.exports.core_boot(abi.MAX_GPIO_PINS, CHECK_QUOTA_CEILING_BYTES, abi.DEFAULT_APP_QUOTA_BYTES);
  if (booted < 0) throw new PackageError(`core_boot failed: ${core.lastError()}`);
  // The interfaces `device create` describes, without the pins they mux: which pins those are is a
  // device's, and a device checks them again at install.
  const boardRefused = addBoardToCore(core.exports.board_add, () => core.lastError(), defaultBoardSpecs(abi.MAX_GPIO_PINS).map((s) => ({ ...s, pins: [] })));
  if (boardRefused) throw new PackageError(boardRefused);
  const slot = system ? core.exports.app_install_system(manifestBytes) : core.exports.app_install(manifestBytes);
  if (slot < 0) throw new PackageError(`${where}: ${core.lastError()}`);
  const str = (which: number) => {
    const text = core.exports.app_string(slot, which);
    if (typeof text === "number") throw new PackageError(`${where}: the core has no string ${which} of the installed app (${text})`);
    return new TextDecoder().decode(text);
  };
  return { name: str(abi.APP_STRING_NAME), componentId: str(abi.APP_STRING_COMPONENT_ID), entryPoint: str(abi.APP_STRING_ENTRY_POINT) };
}

/**
 * Everything `image-package show` prints, each part read by the core: the metadata (pkg_parse),
 * the littlefs image (mount, structural check, every file read), the manifest inside it (the
 * core's manifest parser), and that the manifest's ComponentId is the package's and its
 * EntryPoint a file of the package.
 */
export async function inspectPackage(bytes: Uint8Array, system = false): Promise<InspectedPackage> {
  if (bytes.length > abi.PKG_MAX_BYTES) throw new PackageError(`image package: is ${bytes.length} bytes; the limit is ${abi.PKG_MAX_BYTES}`);
  const info = parsePackage(bytes);
  const lfs = mountPackageFs(bytes, info);
  let files: TreeEntry[];
  let manifestBytes: Uint8Array;
  try {
    checkFs(lfs, "image package: littlefs image");
    files = listTree(lfs, true).tree;
    if (!files.some((f) => f.path === "/app_manifest.json" && f.type === "file")) throw new PackageError("image package: littlefs image: holds no app_manifest.json");
    manifestBytes = lfs.readFile("/app_manifest.json");
  } catch (err) {
    if (err instanceof PackageError) throw err;
    throw new PackageError(`image package: littlefs image: ${(err as Error).message.split("\n")[0]}`);
  } finally {
    try { lfs.unmount(); } catch { /* the failure above is the one to report */ }
  }
  const manifest = checkManifest(manifestBytes, "image package: app_manifest.json", system);
  if (manifest.componentId !== info.componentId) {
    throw new PackageError(`image package: app_manifest.json: ComponentId ${manifest.componentId} is not the package's (${info.componentId})`);
  }
  if (!files.some((f) => f.path === `/${manifest.entryPoint}` && f.type === "file")) {
    throw new PackageError(`image package: app_manifest.json: EntryPoint ${JSON.stringify(manifest.entryPoint)} is not a file of the package`);
  }
  return { info, sizeBytes: bytes.length, manifestBytes, manifest, files };
}

// ---- signing (SPEC.md, section 6 SIGNATURE) -------------------------------------------------

/** Who signs: a key id and a function giving the 64-byte raw ECDSA P-256 signature of bytes. */
export interface PackageSigner { keyId: Uint8Array; sign(bytes: Uint8Array): Promise<Uint8Array> }

/**
 * A copy of `pkg` with its signature section filled: algorithm, key id and the signature over
 * bytes [0, signedBytes), then the trailer's metadata CRC recomputed (it covers the section).
 * The result is read back by the core before it is returned.
 */
export async function signPackage(pkg: Uint8Array, signer: PackageSigner): Promise<Uint8Array> {
  const out = await withSignature(pkg, parsePackage(pkg), signer);
  await inspectPackage(out);
  return out;
}

/** A copy of the parsed `pkg` with its signature section filled by `signer` and the trailer's CRC recomputed; no other check. */
export async function withSignature(pkg: Uint8Array, info: PackageInfo, signer: PackageSigner): Promise<Uint8Array> {
  const signature = await signer.sign(pkg.subarray(0, info.signedBytes));
  if (signature.length !== 64 || signer.keyId.length !== 16) throw new PackageError("the signer gave a signature or key id of the wrong size");
  const out = pkg.slice();
  const payload = info.signedBytes + 8;
  const dv = new DataView(out.buffer);
  dv.setUint16(payload, abi.PKG_SIG_ECDSA_P256_SHA256, true);
  dv.setUint16(payload + 2, 0, true);
  out.set(signer.keyId, payload + 4);
  out.set(signature, payload + 20);
  dv.setUint32(out.length - 8, crc32(out.subarray(info.metadataOffset, info.metadataOffset + info.metadataBytes)), true);
  return out;
}

/** The signature check of a parsed package against one public key: a verdict with its reason. */
export async function verifyPackageSignature(
  pkg: Uint8Array, info: PackageInfo, verifier: { keyId: Uint8Array; verify(bytes: Uint8Array, sig: Uint8Array): Promise<boolean> },
): Promise<{ verified: boolean; reason: string }> {
  if (info.signature.algorithm === 0) return { verified: false, reason: "the package is unsigned" };
  if (info.signature.algorithm !== abi.PKG_SIG_ECDSA_P256_SHA256) return { verified: false, reason: `unknown signature algorithm ${info.signature.algorithm}` };
  if (info.signature.keyId !== hexOf(verifier.keyId)) return { verified: false, reason: `signed by key ${info.signature.keyId}, not by the given key ${hexOf(verifier.keyId)}` };
  const ok = await verifier.verify(pkg.subarray(0, info.signedBytes), Buffer.from(info.signature.signature, "hex"));
  return ok ? { verified: true, reason: "the signature verifies" } : { verified: false, reason: "the signature does not verify (the package was altered or signed by another key)" };
}
