// The boot loader: secure boot of the core. It reads the signed core image from the active OS slot
// of the device's flash (SPEC.md, "Core image"), has the security processor verify it against the
// roots the device trusts for the OS (SHA256_INIT / SHA256_UPDATE / VERIFY_TRUSTED frames over the
// processor's link, before any core exists), and only then compiles the core from the bytes that
// were verified. The processor latches that image's digest as the boot measurement (ATTEST's
// first). Also: the signed core image's format (sign, parse) and writing one into the OS slot.
// Invariants: the module compiled is exactly the bytes streamed to the processor (one copy, read
// once from flash); an image that is unsigned, signed by a key not trusted for the OS, or altered
// is never compiled, and the refusal is one line (BootError).
// The core is stored deflate-raw compressed (a 2 MiB device's OS slot is 128 KiB); the signature
// covers the stored bytes, and only verified bytes are inflated.
// Memory: the image (at most an OS slot), the inflated core (at most CORE_MAX_BYTES), one frame.
// Must not: compile anything but verified bytes, or keep the link's answer callback after loading.
import * as abi from "../assembly/abi.js";
import type { Flash } from "./flash.js";
import { readTable, type Partition } from "./flash-layout.js";
import type { SecurityProcessorLink } from "./pluton/link.js";
import { CMD, STATUS, ROLE, VERDICT, MODE, encodeRequest, decodeResponse, MAILBOX_MAX_PAYLOAD_BYTES } from "./pluton/frame.js";

export const CORE_IMAGE_MAGIC = 0x49435357; // "WSCI" little-endian
export const CORE_IMAGE_FORMAT = 1;
export const CORE_IMAGE_HEADER_BYTES = 96;
/** The signed bytes are the header's first 16 (magic, format, algorithm, sizes) and the core module. */
export const CORE_IMAGE_SIGNED_HEADER_BYTES = 16;

/** The most a stored core may inflate to (a bound against a deflate bomb). */
export const CORE_MAX_BYTES = 8 << 20;

export class BootError extends Error {}

/** deflate-raw through the platform's CompressionStream (Node and browsers alike). */
async function pipeThrough(bytes: Uint8Array, stream: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }, limit: number): Promise<Uint8Array> {
  const writer = stream.writable.getWriter();
  writer.write(bytes).catch(() => {});
  writer.close().catch(() => {});
  const parts: Uint8Array[] = [];
  let total = 0;
  const reader = stream.readable.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) { await reader.cancel(); throw new BootError(`the core inflates past ${limit} bytes`); }
    parts.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}
export const deflate = (b: Uint8Array) => pipeThrough(b, new CompressionStream("deflate-raw") as never, Number.MAX_SAFE_INTEGER);
export async function inflate(b: Uint8Array, where: string): Promise<Uint8Array> {
  try { return await pipeThrough(b, new DecompressionStream("deflate-raw") as never, CORE_MAX_BYTES); } catch (err) {
    throw new BootError(`${where}: the verified core does not inflate (${(err as Error).message.split("\n")[0]})`);
  }
}

/** A parsed core image: `stored` is the deflate-raw stream of the core module, as signed. */
export interface CoreImage { version: number; keyId: Uint8Array; signature: Uint8Array; algorithm: number; stored: Uint8Array; signed: Uint8Array; imageBytes: number }

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** The signed bytes of a core image whose header is `head` (16 bytes) over `core`. */
function signedBytes(head: Uint8Array, core: Uint8Array): Uint8Array {
  const out = new Uint8Array(CORE_IMAGE_SIGNED_HEADER_BYTES + core.length);
  out.set(head.subarray(0, CORE_IMAGE_SIGNED_HEADER_BYTES));
  out.set(core, CORE_IMAGE_SIGNED_HEADER_BYTES);
  return out;
}

/** A signed core image of `core` (core.wasm's bytes), version `version`, signed by `signer`. */
export async function signCoreImage(core: Uint8Array, signer: { keyId: Uint8Array; sign(b: Uint8Array): Promise<Uint8Array> }, version = 1): Promise<Uint8Array> {
  if (core.length < 8 || core[0] !== 0 || core[1] !== 0x61 || core[2] !== 0x73 || core[3] !== 0x6d) throw new BootError("the core to sign is not a WebAssembly module (no \\0asm magic)");
  if (!Number.isInteger(version) || version < 0 || version > 0xffffffff) throw new BootError(`--version ${version}: must be an integer from 0 to 4294967295`);
  const out = new Uint8Array(CORE_IMAGE_HEADER_BYTES);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, CORE_IMAGE_MAGIC, true);
  dv.setUint16(4, CORE_IMAGE_FORMAT, true);
  dv.setUint16(6, abi.PKG_SIG_ECDSA_P256_SHA256, true);
  dv.setUint32(12, version, true);
  const stored = await deflate(core);
  const image = new Uint8Array(CORE_IMAGE_HEADER_BYTES + stored.length);
  image.set(out.subarray(0, CORE_IMAGE_HEADER_BYTES));
  new DataView(image.buffer).setUint32(8, stored.length, true);
  image.set(signer.keyId, 16);
  image.set(stored, CORE_IMAGE_HEADER_BYTES);
  image.set(await signer.sign(signedBytes(image, stored)), 32);
  return image;
}

/** The core image at the start of `bytes` (an OS slot's, or a file's); `where` names it in errors. */
export function parseCoreImage(bytes: Uint8Array, where: string): CoreImage {
  if (bytes.length < CORE_IMAGE_HEADER_BYTES) throw new BootError(`${where}: ${bytes.length} bytes is too short for a core image header (96)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = dv.getUint32(0, true);
  if (magic === 0xffffffff) throw new BootError(`${where}: holds no core image (erased)`);
  if (magic !== CORE_IMAGE_MAGIC) throw new BootError(`${where}: not a core image (bad magic; a signed core starts with "WSCI")`);
  if (dv.getUint16(4, true) !== CORE_IMAGE_FORMAT) throw new BootError(`${where}: core image format ${dv.getUint16(4, true)} is not 1`);
  const algorithm = dv.getUint16(6, true);
  const n = dv.getUint32(8, true);
  if (n > bytes.length - CORE_IMAGE_HEADER_BYTES) throw new BootError(`${where}: the core image says it stores ${n} bytes; only ${bytes.length - CORE_IMAGE_HEADER_BYTES} follow the header (truncated)`);
  const stored = bytes.slice(CORE_IMAGE_HEADER_BYTES, CORE_IMAGE_HEADER_BYTES + n);
  return {
    version: dv.getUint32(12, true), algorithm, keyId: bytes.slice(16, 32), signature: bytes.slice(32, 96), stored,
    signed: signedBytes(bytes, stored), imageBytes: CORE_IMAGE_HEADER_BYTES + n,
  };
}

/** A request/response client over the processor's link, for the boot loader (no core runs yet). */
function bootMailbox(link: SecurityProcessorLink) {
  let nextId = 1;
  const waiting = new Map<number, (r: { status: number; payload: Uint8Array }) => void>();
  link.answer = (frame) => {
    const r = decodeResponse(frame);
    if (r) waiting.get(r.requestId)?.(r);
    if (r) waiting.delete(r.requestId);
  };
  const call = (command: number, payload: Uint8Array) => new Promise<{ status: number; payload: Uint8Array }>((resolve) => {
    const id = nextId++;
    waiting.set(id, resolve);
    link.post(encodeRequest(command, id, payload));
  });
  return { call, close: () => { link.answer = null; } };
}

export interface BootVerdict { digest: Uint8Array; verdict: number; development: boolean }

/** Streams `message` into a hash context of the processor and asks VERIFY_TRUSTED for `role`. */
export async function verifyThroughProcessor(link: SecurityProcessorLink, role: number, keyId: Uint8Array, signature: Uint8Array, message: Uint8Array): Promise<BootVerdict> {
  const mb = bootMailbox(link);
  try {
    const init = await mb.call(CMD.SHA256_INIT, new Uint8Array(0));
    if (init.status !== STATUS.OK) throw new BootError(`secure boot: the security processor refused a hash context (status ${init.status})`);
    const context = init.payload.subarray(0, 4);
    const step = MAILBOX_MAX_PAYLOAD_BYTES - 4;
    for (let at = 0; at < message.length; at += step) {
      const chunk = message.subarray(at, at + step);
      const p = new Uint8Array(4 + chunk.length);
      p.set(context); p.set(chunk, 4);
      const r = await mb.call(CMD.SHA256_UPDATE, p);
      if (r.status !== STATUS.OK) throw new BootError(`secure boot: the security processor refused the image's bytes (status ${r.status}${r.status === STATUS.OVERSIZED ? ": larger than a hash context" : ""})`);
    }
    const req = new Uint8Array(88);
    const dv = new DataView(req.buffer);
    req.set(context);
    dv.setUint16(4, role, true);
    req.set(keyId, 8);
    req.set(signature, 24);
    const v = await mb.call(CMD.VERIFY_TRUSTED, req);
    if (v.status !== STATUS.OK || v.payload.length !== 40) throw new BootError(`secure boot: the security processor refused the check (status ${v.status})`);
    const vdv = new DataView(v.payload.buffer, v.payload.byteOffset, 40);
    return { digest: v.payload.slice(0, 32), verdict: vdv.getUint32(32, true), development: vdv.getUint32(36, true) === MODE.DEVELOPMENT };
  } finally {
    mb.close();
  }
}

/** The active OS slot of `flash` (the partition table's OS partition flagged active). */
export function activeOsSlot(flash: Flash): Partition {
  const slot = readTable(flash).find((p) => (p.type === abi.PART_OS_A || p.type === abi.PART_OS_B) && (p.flags & abi.PART_FLAG_ACTIVE) !== 0);
  if (!slot) throw new BootError("secure boot: the partition table has no active OS slot");
  return slot;
}

/**
 * Secure boot: the core image in the active OS slot, verified by the security processor against
 * the roots it trusts for the OS, compiled. Throws BootError with the one-line reason.
 */
export async function loadVerifiedCore(flash: Flash, link: SecurityProcessorLink): Promise<{ module: WebAssembly.Module; image: CoreImage; slot: string; digest: Uint8Array }> {
  const slot = activeOsSlot(flash);
  const where = `secure boot: ${slot.name}`;
  const bytes = flash.bytes.subarray(slot.offsetBytes, slot.offsetBytes + slot.sizeBytes);
  if (bytes.length >= 4 && new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) === 0xffffffff) {
    throw new BootError(`${where}: holds no core image (erased); write one signed by a key the device trusts for the OS: wasphere core sign --key OS.pem --output core.img; wasphere device write-core DEV core.img`);
  }
  const image = parseCoreImage(bytes, where);
  if (image.algorithm === abi.PKG_SIG_NONE) throw new BootError(`${where}: the core image is unsigned; the device boots only a core signed by a key it trusts for the OS`);
  if (image.algorithm !== abi.PKG_SIG_ECDSA_P256_SHA256) throw new BootError(`${where}: unknown signature algorithm ${image.algorithm}`);
  const v = await verifyThroughProcessor(link, ROLE.OS, image.keyId, image.signature, image.signed);
  if (v.verdict === VERDICT.UNTRUSTED_KEY) throw new BootError(`${where}: the core image is signed by key ${hex(image.keyId)}, which this device does not trust for the OS; not booted`);
  if (v.verdict !== VERDICT.VERIFIED) throw new BootError(`${where}: the core image's signature does not verify with trusted key ${hex(image.keyId)} (altered after signing); not booted`);
  let module: WebAssembly.Module;
  const core = await inflate(image.stored, where);
  try { module = await WebAssembly.compile(core as unknown as BufferSource); } catch (err) {
    throw new BootError(`${where}: the verified core does not compile (${(err as Error).message.split("\n")[0]})`);
  }
  return { module, image, slot: slot.name, digest: v.digest };
}

/** Writes `image` (a signed core image) into the active OS slot, erasing what it spans. */
export function writeCoreImage(flash: Flash, image: Uint8Array): string {
  parseCoreImage(image, "core image");
  const slot = activeOsSlot(flash);
  if (image.length > slot.sizeBytes) throw new BootError(`core image: ${image.length} bytes does not fit ${slot.name} (${slot.sizeBytes} bytes)`);
  const first = slot.offsetBytes / flash.blockSizeBytes;
  for (let b = 0; b < slot.sizeBytes / flash.blockSizeBytes; b++) {
    if (flash.erase(first + b) !== 0) throw new BootError(`${slot.name}: flash erase of block ${first + b} failed`);
  }
  for (let at = 0; at < image.length; at += flash.blockSizeBytes) {
    if (flash.prog(first + at / flash.blockSizeBytes, 0, image.subarray(at, at + flash.blockSizeBytes)) !== 0) throw new BootError(`${slot.name}: flash program failed`);
  }
  return slot.name;
}
