// The boot loader: secure boot of the OS image, and which OS slot it boots. It reads the signed core
// image from an OS slot of the device's flash (SPEC.md, "Core image": the core module and the OS
// image's system apps, one signature over both), has the security processor verify it against the
// roots the device trusts for the OS (SHA256_INIT / SHA256_UPDATE / VERIFY_TRUSTED frames over the
// processor's link, before any core exists), refuses a version below the processor's counter 0
// (anti-rollback), and only then compiles the core and reads the system app packages from the
// bytes that were verified; the device boot installs exactly those (host/net/system-apps.ts). The
// processor latches that image's digest as the boot measurement (ATTEST's first), so it names the
// system apps too. The slot is chosen by the boot-state logs in the slots' trailer blocks
// (host/boot-state.ts, SPEC.md "Boot state"): the primary, or a PENDING update booted on trial and
// confirmed once the device reached a healthy state, or rejected and the primary booted in the
// same boot (test-and-confirm). Also: the signed core image's format (sign, parse), provisioning
// the primary slot (write-core) and staging an update into the other one (update-core).
// Invariants: the module compiled and the system apps handed on are exactly bytes streamed to the
// processor (one copy, read once from flash); an image that is unsigned, signed by a key not
// trusted for the OS, altered, below counter 0, of another format or with a malformed system app
// table is never compiled, and the refusal is one line (BootError); counter 0 advances only after
// the slot of that version booted healthy and, for a trial, after its CONFIRMED record; a power cut
// (PowerCut) ends a boot where it happens, nothing is written after it.
// The core and each system app package are stored deflate-raw compressed (a 2 MiB device's OS
// slot is 128 KiB); the signature covers the stored bytes, and only verified bytes are inflated,
// each to the size its table entry declares (bounded).
// Memory: the image (at most an OS slot), the inflated core (at most CORE_MAX_BYTES), the inflated
// system app packages (at most SYSTEM_APPS_MAX of PKG_MAX_BYTES), one frame, the two trailer
// blocks' records.
// Must not: compile or hand on anything but verified bytes, rewrite the partition table or a
// boot-state record, or keep the link's answer callback after loading (it hands it back).
import * as abi from "../assembly/abi.js";
import { PowerCut, type Flash } from "./flash.js";
import { readTable, type Partition } from "./flash-layout.js";
import type { SecurityProcessorLink } from "./pluton/link.js";
import { CMD, STATUS, ROLE, VERDICT, MODE, encodeRequest, decodeResponse, MAILBOX_MAX_PAYLOAD_BYTES } from "./pluton/frame.js";
import { BOOT_STATE, TRAILER_BYTES, appendRecord, imageCapacity, maxSequence, planBoot, readSlotLog, type SlotView } from "./boot-state.js";
import { readSystemApp, type SystemApps } from "./net/system-apps.js";
import type { AppPackage } from "./apps/package.js";

export const CORE_IMAGE_MAGIC = 0x49435357; // "WSCI" little-endian
/** Format 2: the payload holds the core and the system app table (format 1 held the core alone). */
export const CORE_IMAGE_FORMAT = abi.CORE_IMAGE_FORMAT;
export const CORE_IMAGE_HEADER_BYTES = 96;
/** The signed bytes are the header's first 16 (magic, format, algorithm, sizes, version) and the payload. */
export const CORE_IMAGE_SIGNED_HEADER_BYTES = 16;

/** The most a stored core may inflate to (a bound against a deflate bomb). */
export const CORE_MAX_BYTES = 8 << 20;
/** The payload's fixed start: core stored bytes, core module bytes, system app count, reserved. */
export const CORE_PAYLOAD_HEAD_BYTES = 12;
/** One system app table entry: name (32), offset, stored bytes, package bytes, reserved. */
export const SYSTEM_APP_ENTRY_BYTES = 48;
/** The most system apps one OS image carries. */
export const SYSTEM_APPS_MAX = 8;
/** A system app's name field; the name is 1 to 31 bytes of a-z, 0-9 and '-', then NULs. */
export const SYSTEM_APP_NAME_FIELD_BYTES = 32;
const NAME_RE = /^[a-z0-9-]{1,31}$/;

export class BootError extends Error {}

class TooLarge extends Error {}

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
    if (total > limit) { await reader.cancel(); throw new TooLarge(); }
    parts.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}
export const deflate = (b: Uint8Array) => pipeThrough(b, new CompressionStream("deflate-raw") as never, Number.MAX_SAFE_INTEGER);
/** `b` inflated; it must come to exactly `bytes` (what its table says), which bounds the work. */
export async function inflate(b: Uint8Array, where: string, what: string, bytes: number): Promise<Uint8Array> {
  let out: Uint8Array;
  try { out = await pipeThrough(b, new DecompressionStream("deflate-raw") as never, bytes); } catch (err) {
    if (err instanceof TooLarge) throw new BootError(`${where}: the verified ${what} inflates past the ${bytes} bytes its table says`);
    throw new BootError(`${where}: the verified ${what} does not inflate (${(err as Error).message.split("\n")[0]})`);
  }
  if (out.length !== bytes) throw new BootError(`${where}: the verified ${what} inflates to ${out.length} bytes, not the ${bytes} its table says`);
  return out;
}

/** A parsed core image header: `payload` is the signed bytes after the header (SPEC.md, "Core image"). */
export interface CoreImage { version: number; keyId: Uint8Array; signature: Uint8Array; algorithm: number; payload: Uint8Array; signed: Uint8Array; imageBytes: number }

/** A system app package to carry in a core image: its name (the manifest's Name) and image package bytes. */
export interface SystemAppInput { name: string; bytes: Uint8Array }

/** One entry of a payload's system app table: where its deflate-raw stream lies, and what it inflates to. */
export interface SystemAppEntry { name: string; offset: number; stored: Uint8Array; packageBytes: number }

/** A format-2 payload, parsed: the stored core and the system app table (nothing inflated yet). */
export interface CorePayload { storedCore: Uint8Array; coreBytes: number; apps: SystemAppEntry[] }

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** The signed bytes of a core image whose header is `head` (16 bytes) over `payload`. */
function signedBytes(head: Uint8Array, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(CORE_IMAGE_SIGNED_HEADER_BYTES + payload.length);
  out.set(head.subarray(0, CORE_IMAGE_SIGNED_HEADER_BYTES));
  out.set(payload, CORE_IMAGE_SIGNED_HEADER_BYTES);
  return out;
}

const nameOk = (name: string) => NAME_RE.test(name);

/**
 * A signed core image of `core` (core.wasm's bytes), version `version`, signed by `signer`,
 * carrying `systemApps` (image packages, host/net/system-apps.ts packSystemApps) in its payload.
 */
export async function signCoreImage(core: Uint8Array, signer: { keyId: Uint8Array; sign(b: Uint8Array): Promise<Uint8Array> }, version = 1, systemApps: readonly SystemAppInput[] = []): Promise<Uint8Array> {
  if (core.length < 8 || core[0] !== 0 || core[1] !== 0x61 || core[2] !== 0x73 || core[3] !== 0x6d) throw new BootError("the core to sign is not a WebAssembly module (no \\0asm magic)");
  if (core.length > CORE_MAX_BYTES) throw new BootError(`the core to sign is ${core.length} bytes; the limit is ${CORE_MAX_BYTES}`);
  if (!Number.isInteger(version) || version < 0 || version > 0xffffffff) throw new BootError(`--version ${version}: must be an integer from 0 to 4294967295`);
  if (systemApps.length > SYSTEM_APPS_MAX) throw new BootError(`${systemApps.length} system apps; a core image carries at most ${SYSTEM_APPS_MAX}`);
  const seen = new Set<string>();
  for (const a of systemApps) {
    if (!nameOk(a.name)) throw new BootError(`system app name ${JSON.stringify(a.name)}: must be 1 to 31 bytes of a-z, 0-9 and -`);
    if (seen.has(a.name)) throw new BootError(`system app "${a.name}" is given twice`);
    seen.add(a.name);
    if (a.bytes.length === 0 || a.bytes.length > abi.PKG_MAX_BYTES) throw new BootError(`system app "${a.name}": its package is ${a.bytes.length} bytes; 1 to ${abi.PKG_MAX_BYTES}`);
  }
  const storedCore = await deflate(core);
  const storedApps = await Promise.all(systemApps.map((a) => deflate(a.bytes)));
  const tableEnd = CORE_PAYLOAD_HEAD_BYTES + SYSTEM_APP_ENTRY_BYTES * systemApps.length;
  const payloadBytes = tableEnd + storedCore.length + storedApps.reduce((n, b) => n + b.length, 0);
  const image = new Uint8Array(CORE_IMAGE_HEADER_BYTES + payloadBytes);
  const dv = new DataView(image.buffer);
  dv.setUint32(0, CORE_IMAGE_MAGIC, true);
  dv.setUint16(4, CORE_IMAGE_FORMAT, true);
  dv.setUint16(6, abi.PKG_SIG_ECDSA_P256_SHA256, true);
  dv.setUint32(8, payloadBytes, true);
  dv.setUint32(12, version, true);
  image.set(signer.keyId, 16);
  const p = CORE_IMAGE_HEADER_BYTES;
  dv.setUint32(p, storedCore.length, true);
  dv.setUint32(p + 4, core.length, true);
  dv.setUint16(p + 8, systemApps.length, true);
  let at = tableEnd;
  image.set(storedCore, p + at);
  at += storedCore.length;
  systemApps.forEach((a, i) => {
    const e = p + CORE_PAYLOAD_HEAD_BYTES + SYSTEM_APP_ENTRY_BYTES * i;
    image.set(new TextEncoder().encode(a.name), e);
    dv.setUint32(e + 32, at, true);
    dv.setUint32(e + 36, storedApps[i].length, true);
    dv.setUint32(e + 40, a.bytes.length, true);
    image.set(storedApps[i], p + at);
    at += storedApps[i].length;
  });
  image.set(await signer.sign(signedBytes(image, image.subarray(p))), 32);
  return image;
}

/** The core image at the start of `bytes` (an OS slot's, or a file's): its header; `where` names it in errors. */
export function parseCoreImage(bytes: Uint8Array, where: string): CoreImage {
  if (bytes.length < CORE_IMAGE_HEADER_BYTES) throw new BootError(`${where}: ${bytes.length} bytes is too short for a core image header (96)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = dv.getUint32(0, true);
  if (magic === 0xffffffff) throw new BootError(`${where}: holds no core image (erased)`);
  if (magic !== CORE_IMAGE_MAGIC) throw new BootError(`${where}: not a core image (bad magic; a signed core starts with "WSCI")`);
  const format = dv.getUint16(4, true);
  if (format === 1) throw new BootError(`${where}: core image format 1 carries no system apps; this boot loader boots format 2 only (sign the core again: wasphere core sign)`);
  if (format !== CORE_IMAGE_FORMAT) throw new BootError(`${where}: core image format ${format} is not 2`);
  const algorithm = dv.getUint16(6, true);
  const n = dv.getUint32(8, true);
  if (n > bytes.length - CORE_IMAGE_HEADER_BYTES) throw new BootError(`${where}: the core image says its payload is ${n} bytes; only ${bytes.length - CORE_IMAGE_HEADER_BYTES} follow the header (truncated)`);
  const payload = bytes.slice(CORE_IMAGE_HEADER_BYTES, CORE_IMAGE_HEADER_BYTES + n);
  return {
    version: dv.getUint32(12, true), algorithm, keyId: bytes.slice(16, 32), signature: bytes.slice(32, 96), payload,
    signed: signedBytes(bytes, payload), imageBytes: CORE_IMAGE_HEADER_BYTES + n,
  };
}

/**
 * A format-2 payload's table (SPEC.md, "Core image"): the stored core and each system app's
 * stored package, every bound checked, nothing inflated. Throws BootError (one line, `where`
 * first) for a payload shorter than its table, more than SYSTEM_APPS_MAX entries, a bad or
 * repeated name, a section out of range or over another, an oversize declaration, or bytes that
 * belong to no section.
 */
export function parseCorePayload(payload: Uint8Array, where: string): CorePayload {
  const n = payload.length;
  if (n < CORE_PAYLOAD_HEAD_BYTES) throw new BootError(`${where}: the payload is ${n} bytes, shorter than its ${CORE_PAYLOAD_HEAD_BYTES}-byte head (truncated)`);
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const storedCoreBytes = dv.getUint32(0, true), coreBytes = dv.getUint32(4, true), count = dv.getUint16(8, true);
  if (dv.getUint16(10, true) !== 0) throw new BootError(`${where}: payload bytes [10, 12) are reserved and must be 0`);
  if (count > SYSTEM_APPS_MAX) throw new BootError(`${where}: the system app table holds ${count} entries; at most ${SYSTEM_APPS_MAX}`);
  const tableEnd = CORE_PAYLOAD_HEAD_BYTES + SYSTEM_APP_ENTRY_BYTES * count;
  if (tableEnd > n) throw new BootError(`${where}: the system app table's ${count} entries end at byte ${tableEnd}; the payload is ${n} bytes (truncated)`);
  if (coreBytes < 8 || coreBytes > CORE_MAX_BYTES) throw new BootError(`${where}: the core is said to inflate to ${coreBytes} bytes; 8 to ${CORE_MAX_BYTES}`);
  if (storedCoreBytes === 0 || tableEnd + storedCoreBytes > n) throw new BootError(`${where}: the stored core [${tableEnd}, ${tableEnd + storedCoreBytes}) does not fit the payload's ${n} bytes (truncated)`);
  const coreEnd = tableEnd + storedCoreBytes;
  const apps: SystemAppEntry[] = [];
  for (let i = 0; i < count; i++) {
    const e = CORE_PAYLOAD_HEAD_BYTES + SYSTEM_APP_ENTRY_BYTES * i;
    const field = payload.subarray(e, e + SYSTEM_APP_NAME_FIELD_BYTES);
    const len = field.indexOf(0);
    const name = len < 0 ? "" : new TextDecoder().decode(field.subarray(0, len));
    if (len < 1 || !field.subarray(len).every((b) => b === 0) || !nameOk(name)) throw new BootError(`${where}: system app entry ${i}: its name is not 1 to 31 bytes of a-z, 0-9 and - followed by NULs`);
    if (apps.some((a) => a.name === name)) throw new BootError(`${where}: system app "${name}" is in the table twice (entries ${apps.findIndex((a) => a.name === name)} and ${i})`);
    const offset = dv.getUint32(e + 32, true), stored = dv.getUint32(e + 36, true), packageBytes = dv.getUint32(e + 40, true);
    if (dv.getUint32(e + 44, true) !== 0) throw new BootError(`${where}: system app "${name}": entry bytes [44, 48) are reserved and must be 0`);
    if (packageBytes === 0 || packageBytes > abi.PKG_MAX_BYTES) throw new BootError(`${where}: system app "${name}": its package is said to inflate to ${packageBytes} bytes; 1 to ${abi.PKG_MAX_BYTES}`);
    if (stored === 0 || offset < coreEnd || offset + stored > n) throw new BootError(`${where}: system app "${name}": its stored package [${offset}, ${offset + stored}) is not inside the payload's package area [${coreEnd}, ${n})`);
    const over = apps.find((a) => offset < a.offset + a.stored.length && a.offset < offset + stored);
    if (over) throw new BootError(`${where}: system app "${name}": its stored package [${offset}, ${offset + stored}) overlaps "${over.name}"'s [${over.offset}, ${over.offset + over.stored.length})`);
    apps.push({ name, offset, stored: payload.subarray(offset, offset + stored), packageBytes });
  }
  const used = coreEnd + apps.reduce((t, a) => t + a.stored.length, 0);
  if (used !== n) throw new BootError(`${where}: ${n - used} of the payload's ${n} bytes belong to no section (the table, the core, a system app)`);
  return { storedCore: payload.subarray(tableEnd, coreEnd), coreBytes, apps };
}

/** Inflates and reads a verified payload's system apps (host/net/system-apps.ts readSystemApp). */
async function readSystemApps(table: CorePayload, where: string): Promise<SystemApps> {
  const out = new Map<string, AppPackage>();
  for (const a of table.apps) {
    const what = `system app "${a.name}"`;
    const bytes = await inflate(a.stored, where, `${what}'s package`, a.packageBytes);
    try { out.set(a.name, await readSystemApp(a.name, bytes)); } catch (err) {
      throw new BootError(`${where}: ${what}: ${(err as Error).message.split("\n")[0]}`);
    }
  }
  return out;
}

/**
 * A request/response client over the processor's link, for the boot loader. Before a core runs it
 * has the link to itself; after a boot (the counter advance) the device's core holds the link, so
 * frames for other ids go on to whoever answered before, which gets the link back on close. Its
 * ids start at `firstId`: high (BOOT_LOADER_LATE_ID) once a core may have ids of its own out.
 */
function bootMailbox(link: SecurityProcessorLink, firstId = 1) {
  let nextId = firstId;
  const before = link.answer;
  const waiting = new Map<number, (r: { status: number; payload: Uint8Array }) => void>();
  link.answer = (frame) => {
    const r = decodeResponse(frame);
    const mine = r ? waiting.get(r.requestId) : undefined;
    if (r && mine) { waiting.delete(r.requestId); mine(r); } else before?.(frame);
  };
  const call = (command: number, payload: Uint8Array) => new Promise<{ status: number; payload: Uint8Array }>((resolve) => {
    const id = nextId++;
    waiting.set(id, resolve);
    link.post(encodeRequest(command, id, payload));
  });
  return { call, close: () => { link.answer = before; } };
}
/** The boot loader's first request id once a core runs over the link (the core counts from 1). */
const BOOT_LOADER_LATE_ID = 0xf000;

/** Security processor counter `index` (COUNTER_READ). */
export async function readCounter(link: SecurityProcessorLink, index: number, late = false): Promise<number> {
  const mb = bootMailbox(link, late ? BOOT_LOADER_LATE_ID : 1);
  try {
    const p = new Uint8Array(4);
    new DataView(p.buffer).setUint32(0, index, true);
    const r = await mb.call(CMD.COUNTER_READ, p);
    if (r.status !== STATUS.OK || r.payload.length !== 8) throw new BootError(`secure boot: the security processor refused to read counter ${index} (status ${r.status})`);
    return Number(new DataView(r.payload.buffer, r.payload.byteOffset, 8).getBigUint64(0, true));
  } finally { mb.close(); }
}

/** Advances security processor counter `index` to `value` (COUNTER_ADVANCE; persisted before it answers). */
export async function advanceCounter(link: SecurityProcessorLink, index: number, value: number, late = false): Promise<number> {
  const mb = bootMailbox(link, late ? BOOT_LOADER_LATE_ID : 1);
  try {
    const p = new Uint8Array(12);
    const dv = new DataView(p.buffer);
    dv.setUint32(0, index, true);
    dv.setBigUint64(4, BigInt(value), true);
    const r = await mb.call(CMD.COUNTER_ADVANCE, p);
    if (r.status !== STATUS.OK || r.payload.length !== 8) throw new BootError(`secure boot: the security processor refused to advance counter ${index} to ${value} (status ${r.status})`);
    return Number(new DataView(r.payload.buffer, r.payload.byteOffset, 8).getBigUint64(0, true));
  } finally { mb.close(); }
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

/** The table's ACTIVE OS slot of `flash`: the factory slot (SPEC.md, "Boot state"). */
export function activeOsSlot(flash: Flash): Partition {
  const slot = readTable(flash).find((p) => (p.type === abi.PART_OS_A || p.type === abi.PART_OS_B) && (p.flags & abi.PART_FLAG_ACTIVE) !== 0);
  if (!slot) throw new BootError("secure boot: the partition table has no active OS slot");
  return slot;
}

/** Both OS slots (os-a, os-b) and their boot-state logs. */
export function readOsSlots(flash: Flash): { parts: [Partition, Partition]; views: [SlotView, SlotView] } {
  const table = readTable(flash);
  const a = table.find((p) => p.type === abi.PART_OS_A), b = table.find((p) => p.type === abi.PART_OS_B);
  if (!a || !b) throw new BootError("secure boot: the partition table lacks an OS slot");
  const view = (p: Partition): SlotView => ({ name: p.name, factory: (p.flags & abi.PART_FLAG_ACTIVE) !== 0, log: readSlotLog(flash, p) });
  return { parts: [a, b], views: [view(a), view(b)] };
}

/** The slot that boots when no trial is due: the primary (SPEC.md, "Boot state"). */
export function primaryOsSlot(flash: Flash): Partition {
  const { parts, views } = readOsSlots(flash);
  return parts[planBoot(views).primary];
}

/** The bytes a core image may take in `slot` (all but its trailer block). */
const imageArea = (flash: Flash, slot: Partition) => flash.bytes.subarray(slot.offsetBytes, slot.offsetBytes + imageCapacity(slot));

/** The version in `slot`'s image header (unverified: for log lines only), or null without an image. */
function headerVersion(flash: Flash, slot: Partition): number | null {
  try { return parseCoreImage(imageArea(flash, slot), slot.name).version; } catch { return null; }
}

/**
 * A core that secure boot let through: its module, the system apps its image carries (by name,
 * read from the verified bytes: the only ones a device booted through the boot loader installs),
 * the slot, the processor's digest of the signed bytes (the boot measurement) and counter 0.
 */
export interface VerifiedCore { module: WebAssembly.Module; systemApps: SystemApps; image: CoreImage; slot: string; digest: Uint8Array; counter: number }

const belowCounter = (version: number, counter: number) => `core image version ${version} is below the security processor's counter 0 (${counter}): a rolled-back image never boots`;

/**
 * Secure boot: the core image in `slot` (by default the primary), verified by the security
 * processor against the roots it trusts for the OS, its version not below counter 0, compiled.
 * Throws BootError with the one-line reason.
 */
export async function loadVerifiedCore(flash: Flash, link: SecurityProcessorLink, slot: Partition = primaryOsSlot(flash)): Promise<VerifiedCore> {
  const where = `secure boot: ${slot.name}`;
  const bytes = imageArea(flash, slot);
  if (bytes.length >= 4 && new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) === 0xffffffff) {
    throw new BootError(`${where}: holds no core image (erased); write one signed by a key the device trusts for the OS: wasphere core sign --key OS.pem --output core.img; wasphere device write-core DEV core.img`);
  }
  const image = parseCoreImage(bytes, where);
  if (image.algorithm === abi.PKG_SIG_NONE) throw new BootError(`${where}: the core image is unsigned; the device boots only a core signed by a key it trusts for the OS`);
  if (image.algorithm !== abi.PKG_SIG_ECDSA_P256_SHA256) throw new BootError(`${where}: unknown signature algorithm ${image.algorithm}`);
  const v = await verifyThroughProcessor(link, ROLE.BOOT, image.keyId, image.signature, image.signed);
  if (v.verdict === VERDICT.UNTRUSTED_KEY) throw new BootError(`${where}: the core image is signed by key ${hex(image.keyId)}, which this device does not trust for the OS; not booted`);
  if (v.verdict !== VERDICT.VERIFIED) throw new BootError(`${where}: the core image's signature does not verify with trusted key ${hex(image.keyId)} (altered after signing); not booted`);
  // The version is among the signed bytes, so it is checked once the signature is.
  const counter = await readCounter(link, 0);
  if (image.version < counter) throw new BootError(`${where}: ${belowCounter(image.version, counter)}`);
  // The table is among the signed bytes too: read only now, and only from the bytes verified.
  const table = parseCorePayload(image.payload, where);
  let module: WebAssembly.Module;
  const core = await inflate(table.storedCore, where, "core", table.coreBytes);
  try { module = await WebAssembly.compile(core as unknown as BufferSource); } catch (err) {
    throw new BootError(`${where}: the verified core does not compile (${(err as Error).message.split("\n")[0]})`);
  }
  const systemApps = await readSystemApps(table, where);
  return { module, systemApps, image, slot: slot.name, digest: v.digest, counter };
}

/**
 * Erases all of `slot` and programs `image` from its first byte; then reads it back. The trailer
 * goes first: from the first erase on, the slot's old records (a PENDING update being replaced)
 * no longer speak for an image that is half erased.
 */
function eraseAndProgram(flash: Flash, slot: Partition, image: Uint8Array): void {
  const first = slot.offsetBytes / flash.blockSizeBytes, count = slot.sizeBytes / flash.blockSizeBytes;
  for (let i = 0; i < count; i++) {
    const b = first + (i + count - 1) % count;
    if (flash.erase(b) !== 0) throw new BootError(`${slot.name}: flash erase of block ${b} failed`);
  }
  for (let at = 0; at < image.length; at += flash.blockSizeBytes) {
    if (flash.prog(first + at / flash.blockSizeBytes, 0, image.subarray(at, at + flash.blockSizeBytes)) !== 0) throw new BootError(`${slot.name}: flash program failed`);
  }
  const back = new Uint8Array(image.length);
  for (let at = 0; at < image.length; at += flash.blockSizeBytes) {
    if (flash.read(first + at / flash.blockSizeBytes, 0, back.subarray(at, at + flash.blockSizeBytes)) !== 0) throw new BootError(`${slot.name}: flash read failed`);
  }
  if (!back.every((x, i) => x === image[i])) throw new BootError(`${slot.name}: the core image read back differs from what was programmed`);
}

function fits(image: Uint8Array, slot: Partition): void {
  if (image.length > imageCapacity(slot)) throw new BootError(`core image: ${image.length} bytes does not fit ${slot.name} (${imageCapacity(slot)} bytes: the slot's ${slot.sizeBytes} less its ${TRAILER_BYTES}-byte boot-state trailer)`);
}

/**
 * Provisioning (`device create --core`, `device write-core`): writes `image` (a signed core
 * image) into the primary slot, erasing the whole slot. On a device whose logs are empty (the
 * factory state) that is the table's ACTIVE slot and no record is written; otherwise the slot gets
 * CONFIRMED with a sequence above both logs, so it stays primary and a staged update not yet
 * booted is dropped. A cut before that record leaves the other slot primary (or the factory slot):
 * write again.
 */
export function writeCoreImage(flash: Flash, image: Uint8Array): string {
  parseCoreImage(image, "core image");
  const { parts, views } = readOsSlots(flash);
  const slot = parts[planBoot(views).primary];
  fits(image, slot);
  const recorded = views.some((v) => v.log.records.length > 0);
  const sequence = maxSequence(views) + 1;
  eraseAndProgram(flash, slot, image);
  if (recorded) appendRecord(flash, slot, BOOT_STATE.CONFIRMED, sequence);
  return slot.name;
}

/** The reason of a refusal without its `secure boot: SLOT: ` prefix (the boot log line names the slot). */
const reasonOf = (err: unknown, slot: string) => String(err instanceof Error ? err.message : err).split("\n")[0].replace(`secure boot: ${slot}: `, "");

/**
 * Stages an OS update (SPEC.md, "Boot state"): `image` checked (signed by a key trusted for the
 * OS, version not below counter 0) before anything is erased, then written into the non-primary
 * slot (erased whole), read back and verified through the processor again, then PENDING appended
 * with a sequence above both logs. A cut anywhere before PENDING leaves that slot not bootable.
 * Refused while the other slot's trial is unresolved (its last record TRYING: EBUSY).
 */
export async function stageCoreUpdate(flash: Flash, link: SecurityProcessorLink, image: Uint8Array): Promise<{ slot: string; version: number; sequence: number }> {
  const parsed = parseCoreImage(image, "core image");
  const { parts, views } = readOsSlots(flash);
  const plan = planBoot(views);
  const target = 1 - plan.primary;
  const slot = parts[target];
  if (views[target].log.last?.state === BOOT_STATE.TRYING) {
    throw new BootError(`update-core: ${slot.name} is on trial (its last boot-state record is TRYING), busy (EBUSY): boot the device so the boot loader confirms or rejects it, then update`);
  }
  fits(image, slot);
  if (parsed.algorithm !== abi.PKG_SIG_ECDSA_P256_SHA256) throw new BootError("update-core: the core image is unsigned; the device boots only a core signed by a key it trusts for the OS");
  const check = async (img: CoreImage, what: string) => {
    const v = await verifyThroughProcessor(link, ROLE.OS, img.keyId, img.signature, img.signed);
    if (v.verdict === VERDICT.UNTRUSTED_KEY) throw new BootError(`update-core: ${what} is signed by key ${hex(img.keyId)}, which this device does not trust for the OS; refused`);
    if (v.verdict !== VERDICT.VERIFIED) throw new BootError(`update-core: ${what}'s signature does not verify with trusted key ${hex(img.keyId)} (altered after signing); refused`);
  };
  await check(parsed, "the core image");
  // A malformed table would fail its trial; refused here instead, before anything is erased.
  parseCorePayload(parsed.payload, "update-core");
  const counter = await readCounter(link, 0);
  if (parsed.version < counter) throw new BootError(`update-core: core image version ${parsed.version} is below the security processor's counter 0 (${counter}): refused (anti-rollback)`);
  const sequence = maxSequence(views) + 1;
  eraseAndProgram(flash, slot, image);
  await check(parseCoreImage(imageArea(flash, slot), slot.name), `the core image read back from ${slot.name}`);
  appendRecord(flash, slot, BOOT_STATE.PENDING, sequence);
  return { slot: slot.name, version: parsed.version, sequence };
}

/** What the boot loader did: the booted device, its verified core, and a line per boot-state step. */
export interface OsBoot<T> {
  booted: T;
  core: VerifiedCore;
  /** The security processor link the booted core holds. */
  link: SecurityProcessorLink;
  lines: string[];
  /** The trial this boot ran, or null. */
  trial: { slot: string; version: number | null; confirmed: boolean; reason?: string } | null;
}

/**
 * Boots the OS by the boot-state rules (SPEC.md, "Boot state"): leftover TRYING records become
 * REJECTED; a PENDING slot above the primary gets TRYING and boots on trial: verified, version not
 * below counter 0, then `start` (instantiate the core, start the system apps) must resolve; it
 * then gets CONFIRMED and counter 0 advances to its version. A failed trial gets REJECTED and the
 * primary boots in the same call, from a fresh power-on of the processor (`powerOn`). After the
 * primary boots (confirmed, or the factory slot), counter 0 advances to its version when below.
 * A power cut (the flash's PowerCut) ends the boot where it happens.
 */
export async function bootOs<T>(flash: Flash, powerOn: () => Promise<SecurityProcessorLink>, start: (core: VerifiedCore, link: SecurityProcessorLink) => Promise<T>): Promise<OsBoot<T>> {
  const { parts, views } = readOsSlots(flash);
  const plan = planBoot(views);
  const lines: string[] = [];
  const label = (i: number) => { const v = headerVersion(flash, parts[i]); return `${parts[i].name} (${v === null ? "no core image" : `v${v}`})`; };
  for (const i of plan.rejectLeftover) {
    appendRecord(flash, parts[i], BOOT_STATE.REJECTED, views[i].log.last!.sequence);
    lines.push(`${label(i)} failed its trial (cut before it was confirmed: a power loss or crash); rolled back to ${label(plan.primary)}`);
  }
  let trial: OsBoot<T>["trial"] = null;
  if (plan.trial !== null) {
    const t = parts[plan.trial], sequence = views[plan.trial].log.last!.sequence;
    appendRecord(flash, t, BOOT_STATE.TRYING, sequence);
    const link = await powerOn();
    let ok: { core: VerifiedCore; booted: T } | null = null, reason = "";
    try {
      const core = await loadVerifiedCore(flash, link, t);
      ok = { core, booted: await start(core, link) };
    } catch (err) {
      if (err instanceof PowerCut) throw err;
      reason = reasonOf(err, t.name);
    }
    if (ok) {
      appendRecord(flash, t, BOOT_STATE.CONFIRMED, sequence);
      const { version } = ok.core.image;
      let advanced = "";
      if (version > ok.core.counter) advanced = `; counter 0 advanced from ${ok.core.counter} to ${await advanceCounter(link, 0, version, true)}`;
      lines.push(`${t.name} (v${version}) confirmed after its trial: the primary slot now${advanced}`);
      return { booted: ok.booted, core: ok.core, link, lines, trial: { slot: t.name, version, confirmed: true } };
    }
    appendRecord(flash, t, BOOT_STATE.REJECTED, sequence);
    lines.push(`${label(plan.trial)} failed its trial (${reason}); rolled back to ${label(plan.primary)}`);
    trial = { slot: t.name, version: headerVersion(flash, t), confirmed: false, reason };
  }
  const link = await powerOn();
  const p = parts[plan.primary];
  const core = await loadVerifiedCore(flash, link, p);
  const booted = await start(core, link);
  const { version } = core.image;
  if (version > core.counter) lines.push(`counter 0 advanced from ${core.counter} to ${await advanceCounter(link, 0, version, true)} (${p.name}, the primary slot, v${version})`);
  return { booted, core, link, lines, trial };
}
