// Image packages (SPEC.md, "Image packages"): the bytes packImage writes, read back by the core
// (pkg_parse, its littlefs, its manifest parser) and by the independent littlefs reader, and the
// core's refusal of each malformed part with a message naming it.
// The layout checks here decode the package from SPEC.md's offsets with node's own zlib CRC, not
// with the writer's helpers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { crc32 as zlibCrc32 } from "node:zlib";
import { createHash } from "node:crypto";
import * as abi from "../../assembly/abi.js";
import { buildFsImage, inspectPackage, metadataFor, packImage, PackageError, parsePackage, type PackInput } from "../../host/apps/imagepkg.js";
import { RefReader } from "./lfs-ref-reader.js";

const enc = new TextEncoder();
const ID = "1689d8b2-c835-2e27-27ad-e894d6d15fa9";
const MODULE = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
const manifest = (over: Record<string, unknown> = {}) => enc.encode(JSON.stringify({ SchemaVersion: 1, Name: "blink", ComponentId: ID, EntryPoint: "blink.wasm", Capabilities: { Gpio: [8] }, ...over }));
const CONFIG = enc.encode("period_ms=250\n".repeat(100));

const input = (over: Partial<PackInput> = {}): PackInput => ({
  files: [
    { path: "app_manifest.json", bytes: manifest() },
    { path: "blink.wasm", bytes: MODULE },
    { path: "etc/config.txt", bytes: CONFIG },
  ],
  componentId: ID, imageVersion: 3, buildTimeSeconds: 1764633600, name: "blink", ...over,
});

const u32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at, true);
const u16 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint16(at, true);
const put32 = (b: Uint8Array, at: number, v: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(at, v >>> 0, true);
const put16 = (b: Uint8Array, at: number, v: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).setUint16(at, v, true);

/** Where each part lies, from the trailer (SPEC.md). */
function layout(pkg: Uint8Array) {
  const t = pkg.length - 16;
  const metaOffset = u32(pkg, t);
  const metaBytes = u32(pkg, t + 4);
  const sections: { type: number; at: number; len: number }[] = [];
  for (let at = metaOffset + 16; at < metaOffset + metaBytes;) {
    const len = u32(pkg, at + 4);
    sections.push({ type: u16(pkg, at), at, len });
    at += 8 + ((len + 3) & ~3);
  }
  return { t, metaOffset, metaBytes, sections, payload: (type: number) => sections.find((s) => s.type === type)!.at + 8 };
}

/** Recomputes the metadata CRC in the trailer (so an edit reaches the check behind it). */
function resealMeta(pkg: Uint8Array): Uint8Array {
  const l = layout(pkg);
  put32(pkg, l.t + 8, zlibCrc32(pkg.subarray(l.metaOffset, l.metaOffset + l.metaBytes)));
  return pkg;
}
/** Recomputes the littlefs image's CRC in the FILESYSTEM section, then the metadata CRC. */
function resealFs(pkg: Uint8Array): Uint8Array {
  const l = layout(pkg);
  put32(pkg, l.payload(5) + 8, zlibCrc32(pkg.subarray(0, l.metaOffset)));
  return resealMeta(pkg);
}

async function refusal(pkg: Uint8Array): Promise<string> {
  try {
    await inspectPackage(pkg);
  } catch (err) {
    assert.ok(err instanceof PackageError, `a PackageError, not ${(err as Error).stack}`);
    assert.doesNotMatch(err.message, /[\n\r\u0000-\u001f]/);
    return err.message;
  }
  assert.fail("the package was accepted");
}

const good = await packImage(input());

test("pack -> show round trip: the core reads back every field and file", async () => {
  const p = await inspectPackage(good);
  assert.equal(p.sizeBytes, good.length);
  assert.deepEqual({ ...p.info, imageId: "", signature: null }, {
    imageType: 10, componentId: ID, imageId: "", version: 3, buildTimeSeconds: 1764633600, name: "blink",
    abiVersion: (abi.CORE_VERSION_MAJOR << 16) | (abi.CORE_VERSION_MINOR << 8),
    fsBlockBytes: 512, fsBlockCount: p.info.metadataOffset / 512, fsCrc32: zlibCrc32(good.subarray(0, p.info.metadataOffset)),
    metadataOffset: p.info.metadataOffset, metadataBytes: good.length - 16 - p.info.metadataOffset, signature: null,
    signedBytes: layout(good).sections[5].at,
  });
  assert.deepEqual(p.info.signature, { algorithm: 0, keyId: "0".repeat(32), signature: "0".repeat(128) });
  assert.match(p.info.imageId, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.deepEqual(p.manifest, { name: "blink", componentId: ID, entryPoint: "blink.wasm" });
  const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
  assert.deepEqual(p.files.map((f) => [f.path, f.type, f.size, f.sha256]), [
    ["/app_manifest.json", "file", manifest().length, sha(manifest())],
    ["/blink.wasm", "file", MODULE.length, sha(MODULE)],
    ["/etc", "dir", undefined, undefined],
    ["/etc/config.txt", "file", CONFIG.length, sha(CONFIG)],
  ]);
});

test("the littlefs image reads back file by file with the independent reader", () => {
  const l = layout(good);
  const listing = new RefReader(good.subarray(0, l.metaOffset), 512, l.metaOffset / 512).listing();
  const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
  assert.deepEqual(listing.tree.map((e) => [e.path, e.type, e.size, e.sha256]), [
    ["/app_manifest.json", "file", manifest().length, sha(manifest())],
    ["/blink.wasm", "file", MODULE.length, sha(MODULE)],
    ["/etc", "dir", undefined, undefined],
    ["/etc/config.txt", "file", CONFIG.length, sha(CONFIG)],
  ]);
});

test("every byte of the metadata and trailer is where SPEC.md puts it", () => {
  const l = layout(good);
  const m = l.metaOffset;
  assert.equal(m % 512, 0);
  assert.equal(Buffer.from(good.subarray(m, m + 4)).toString("latin1"), "WSPM");
  assert.equal(u16(good, m + 4), 1);
  assert.equal(u16(good, m + 6), 6);
  assert.equal(u32(good, m + 8), l.metaBytes);
  assert.equal(u32(good, m + 12), 0);
  assert.deepEqual(l.sections.map((s) => [s.type, s.len]), [[1, 36], [2, 4], [3, 17], [4, 12], [5, 16], [6, 84]]);
  const p = l.payload;
  assert.equal(u32(good, p(1)), 10);
  assert.equal(Buffer.from(good.subarray(p(1) + 4, p(1) + 20)).toString("hex"), ID.replace(/-/g, ""));
  assert.equal(u32(good, p(2)), 3);
  assert.equal(new DataView(good.buffer).getBigUint64(p(3), true), 1764633600n);
  assert.equal(u32(good, p(3) + 8), 5);
  assert.equal(Buffer.from(good.subarray(p(3) + 12, p(3) + 17)).toString(), "blink");
  assert.deepEqual([0, 1, 2].map((i) => good[p(3) + 17 + i]), [0, 0, 0]); // padding
  assert.deepEqual([u32(good, p(4)), u32(good, p(4) + 4), u32(good, p(4) + 8)], [1, 1, (abi.CORE_VERSION_MAJOR << 16) | (abi.CORE_VERSION_MINOR << 8)]);
  assert.deepEqual([u32(good, p(5)), u32(good, p(5) + 4), u32(good, p(5) + 8), u32(good, p(5) + 12)], [512, m / 512, zlibCrc32(good.subarray(0, m)), 1]);
  assert.ok(good.subarray(p(6), p(6) + 84).every((b) => b === 0));
  assert.equal(l.sections[5].at + 8 + 84, m + l.metaBytes);
  assert.deepEqual([u32(good, l.t), u32(good, l.t + 4), u32(good, l.t + 8)], [m, l.metaBytes, zlibCrc32(good.subarray(m, m + l.metaBytes))]);
  assert.equal(Buffer.from(good.subarray(l.t + 12)).toString("latin1"), "WSPK");
  assert.equal(good.length, l.t + 16);
});

test("deterministic: the same inputs give the same bytes; the file order given does not matter", async () => {
  assert.deepEqual(await packImage(input()), good);
  const shuffled = input();
  shuffled.files.reverse();
  assert.deepEqual(await packImage(shuffled), good);
});

test("the build time changes only the DEBUG section; content changes the ImageId", async () => {
  const later = await packImage(input({ buildTimeSeconds: 1764633601 }));
  const l = layout(good);
  const diff = [...good.keys()].filter((i) => good[i] !== later[i]);
  assert.ok(diff.length > 0);
  assert.ok(diff.every((i) => (i >= l.payload(3) && i < l.payload(3) + 8) || i >= l.t + 8 && i < l.t + 12), `differs only in the build time and the metadata CRC: ${diff}`);
  const other = input();
  other.files[2] = { path: "etc/config.txt", bytes: enc.encode("period_ms=500\n") };
  const changed = await inspectPackage(await packImage(other));
  assert.notEqual(changed.info.imageId, (await inspectPackage(good)).info.imageId);
  assert.notEqual((await inspectPackage(await packImage(input({ imageVersion: 4 })))).info.imageId, (await inspectPackage(good)).info.imageId);
});

test("the littlefs image is the smallest whole number of blocks that holds the files", async () => {
  const files = input().files;
  const image = await buildFsImage(files);
  const { LittleFs } = await import("../../host/fs/littlefs.js");
  const { Flash } = await import("../../host/flash.js");
  const { defaultGeometry } = await import("../../host/fs/image.js");
  const { mountConfig } = await import("../../host/fs/cli.js");
  // One block fewer does not hold them.
  const n = image.length / 512 - 1;
  const flash = new Flash({ blockSizeBytes: 512, blockCount: n });
  await LittleFs.format(flash, mountConfig(defaultGeometry(512, n)));
  const lfs = LittleFs.mount(flash, mountConfig(defaultGeometry(512, n)));
  assert.throws(() => {
    lfs.mkdir("/etc");
    for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : 1))) lfs.writeFile("/" + f.path, f.bytes);
    lfs.unmount();
  }, /ENOSPC/);
});

// ---- refusals, each naming its part ---------------------------------------------------------

const copy = () => good.slice();

test("refused: truncated, padded, oversized", async () => {
  assert.equal(await refusal(good.subarray(0, good.length - 1)), "image package: trailer: bad magic (not an image package, or truncated)");
  assert.equal(await refusal(good.subarray(0, 100)), "image package: package: is 100 bytes; too short to hold a littlefs image, metadata and trailer (truncated?)");
  const cut = good.slice(512); // the first block gone, the tail intact
  assert.equal(await refusal(cut), `image package: trailer: metadata at ${layout(good).metaOffset} does not end where the trailer starts (truncated or padded)`);
  assert.equal(await refusal(new Uint8Array(abi.PKG_MAX_BYTES + 1)), `image package: is ${abi.PKG_MAX_BYTES + 1} bytes; the limit is ${abi.PKG_MAX_BYTES}`);
  // The core refuses the size itself, before reading anything.
  assert.throws(() => parsePackage(new Uint8Array(abi.PKG_MAX_BYTES + 4096)), { message: `image package: package: is ${abi.PKG_MAX_BYTES + 4096} bytes; the limit is 2097152` });
  assert.equal(await refusal(new Uint8Array(4096)), "image package: trailer: bad magic (not an image package, or truncated)");
});

test("refused: trailer and metadata header", async () => {
  const l = layout(good);
  let p = copy(); put32(p, l.t + 4, 2000);
  assert.equal(await refusal(p), "image package: trailer: metadata length 2000 is outside 16..1024");
  p = copy(); p[l.metaOffset + 20] ^= 1;
  assert.equal(await refusal(p), "image package: metadata: CRC-32 does not match the trailer's");
  p = copy(); p[l.metaOffset] = 0x58;
  assert.equal(await refusal(resealMeta(p)), "image package: metadata: bad magic");
  p = copy(); put16(p, l.metaOffset + 4, 2);
  assert.equal(await refusal(resealMeta(p)), "image package: metadata: format version 2 is not 1");
  p = copy(); put16(p, l.metaOffset + 6, 5);
  assert.equal(await refusal(resealMeta(p)), "image package: metadata: holds 5 sections; format 1 has 6");
  p = copy(); put32(p, l.metaOffset + 8, l.metaBytes - 4);
  assert.equal(await refusal(resealMeta(p)), "image package: metadata: header length does not match the trailer's");
  p = copy(); put32(p, l.metaOffset + 12, 1);
  assert.equal(await refusal(resealMeta(p)), "image package: metadata: reserved header bytes are not zero");
});

test("refused: section framing (unknown, twice, not last, past the end, flags)", async () => {
  const l = layout(good);
  let p = copy(); put16(p, l.sections[1].at, 9);
  assert.equal(await refusal(resealMeta(p)), "image package: metadata: unknown section type 9");
  p = copy(); put16(p, l.sections[1].at, 1);
  assert.equal(await refusal(resealMeta(p)), "image package: IDENTITY section: appears twice");
  p = copy(); put16(p, l.sections[1].at + 2, 1);
  assert.equal(await refusal(resealMeta(p)), "image package: VERSION section: flags are not zero");
  p = copy(); put32(p, l.sections[5].at + 4, 200);
  assert.equal(await refusal(resealMeta(p)), "image package: SIGNATURE section: runs past the end of the metadata");
  // The signature section moved before the filesystem section: swap the last two sections.
  p = copy();
  const fs = good.slice(l.sections[4].at, l.sections[5].at);
  const sig = good.slice(l.sections[5].at, l.metaOffset + l.metaBytes);
  p.set(sig, l.sections[4].at); p.set(fs, l.sections[4].at + sig.length);
  assert.equal(await refusal(resealMeta(p)), "image package: SIGNATURE section: is not the last section");
  p = copy(); good.slice(0);
  p[l.sections[2].at + 8 + 17] = 1; // DEBUG padding
  assert.equal(await refusal(resealMeta(p)), "image package: DEBUG section: padding is not zero");
});

test("refused: each section's fields", async () => {
  const l = layout(good);
  const edit = async (f: (p: Uint8Array) => void) => { const p = copy(); f(p); return refusal(resealMeta(p)); };
  assert.equal(await edit((p) => put32(p, l.payload(1), 11)), "image package: IDENTITY section: image type 11 is not an application (10)");
  assert.equal(await edit((p) => p.fill(0, l.payload(1) + 4, l.payload(1) + 20)), "image package: IDENTITY section: the ComponentId is all zeros");
  assert.equal(await edit((p) => p.fill(0, l.payload(1) + 20, l.payload(1) + 36)), "image package: IDENTITY section: the ImageId is all zeros");
  assert.equal(await edit((p) => put32(p, l.payload(2), 0)), "image package: VERSION section: the image version is 0; versions start at 1");
  assert.equal(await edit((p) => { p[l.payload(3) + 13] = 0x0a; }), "image package: DEBUG section: the name holds a control character at byte 1");
  assert.equal(await edit((p) => put32(p, l.payload(3) + 8, 0)), "image package: DEBUG section: the name is 0 bytes; it must be 1 to 64");
  assert.equal(await edit((p) => put32(p, l.payload(3) + 8, 4)), "image package: DEBUG section: is 17 bytes; it must be 12 plus the name's length");
  assert.equal(await edit((p) => put32(p, l.payload(4) + 8, ((abi.CORE_VERSION_MAJOR + 1) << 16))), `image package: ABI section: the app needs applibs ${abi.CORE_VERSION_MAJOR + 1}.0; this core provides ${abi.CORE_VERSION_MAJOR}.${abi.CORE_VERSION_MINOR}`);
  assert.equal(await edit((p) => put32(p, l.payload(4) + 8, (abi.CORE_VERSION_MAJOR << 16) | ((abi.CORE_VERSION_MINOR + 1) << 8))), `image package: ABI section: the app needs applibs ${abi.CORE_VERSION_MAJOR}.${abi.CORE_VERSION_MINOR + 1}; this core provides ${abi.CORE_VERSION_MAJOR}.${abi.CORE_VERSION_MINOR}`);
  assert.equal(await edit((p) => put32(p, l.payload(4) + 4, 7)), "image package: ABI section: ABI id 7 is unknown (1 is applibs)");
  assert.equal(await edit((p) => put32(p, l.payload(4), 0)), "image package: ABI section: lists 0 ABIs; it must list 1 to 4");
  assert.equal(await edit((p) => put32(p, l.payload(5), 100)), "image package: FILESYSTEM section: block size 100 is not a power of two from 128 to 4096");
  assert.equal(await edit((p) => put32(p, l.payload(5) + 4, 1)), "image package: FILESYSTEM section: block count 1 is below littlefs's 2");
  assert.equal(await edit((p) => put32(p, l.payload(5) + 4, l.metaOffset / 512 + 1)), `image package: FILESYSTEM section: littlefs image of ${l.metaOffset + 512} bytes does not end where the metadata starts`);
  assert.equal(await edit((p) => put32(p, l.payload(5) + 12, 0)), "image package: FILESYSTEM section: flags 0 must be 1 (read-only)");
  assert.equal(await edit((p) => { p[l.payload(6) + 30] = 1; }), "image package: SIGNATURE section: unsigned (algorithm 0) but the key id or signature is not zero");
  assert.equal(await edit((p) => put16(p, l.payload(6), 2)), "image package: SIGNATURE section: algorithm 2 is unknown (0 unsigned, 1 ECDSA P-256 SHA-256)");
  // Algorithm 1 is a well-formed signed package as far as the format goes (verifying it is the
  // security processor's work).
  const signed = copy(); put16(signed, l.payload(6), 1); signed.fill(0xab, l.payload(6) + 4, l.payload(6) + 84);
  assert.deepEqual((await inspectPackage(resealMeta(signed))).info.signature, { algorithm: 1, keyId: "ab".repeat(16), signature: "ab".repeat(64) });
});

test("refused: a damaged littlefs image (bad CRC; and with the CRC fixed, a corrupt file system)", async () => {
  let p = copy(); p[700] ^= 0x40;
  assert.equal(await refusal(p), "image package: littlefs image: CRC-32 does not match the FILESYSTEM section's (damaged)");
  // Both superblock copies damaged, the CRC recomputed: the core's littlefs cannot mount it.
  p = copy(); p.fill(0, 0, 1024);
  assert.equal(await refusal(resealFs(p)), "image package: littlefs image: cannot be mounted (mount: ECORRUPT: the file system is corrupt)");
});

/** A package from raw parts, bypassing packImage's own check (so the core sees what is inside). */
async function rawPackage(files: PackInput["files"]): Promise<Uint8Array> {
  const image = await buildFsImage(files);
  const meta = metadataFor(image, 512, { componentId: ID, imageVersion: 1, buildTimeSeconds: 0, name: "blink" });
  const out = new Uint8Array(image.length + meta.length);
  out.set(image); out.set(meta, image.length);
  return out;
}

test("refused: the manifest inside (invalid, another ComponentId, EntryPoint missing, absent)", async () => {
  assert.equal(await refusal(await rawPackage([{ path: "app_manifest.json", bytes: manifest({ Capabilities: { Gpio: [200] } }) }, { path: "blink.wasm", bytes: MODULE }])),
    `image package: app_manifest.json: Capabilities.Gpio[0]: pin 200 does not exist on this device (pins 0..${abi.MAX_GPIO_PINS - 1})`);
  assert.equal(await refusal(await rawPackage([{ path: "app_manifest.json", bytes: manifest({ ComponentId: "3b1f5e2a-7c44-4d8e-9a61-0f2d8c7b5e13" }) }, { path: "blink.wasm", bytes: MODULE }])),
    `image package: app_manifest.json: ComponentId 3b1f5e2a-7c44-4d8e-9a61-0f2d8c7b5e13 is not the package's (${ID})`);
  assert.equal(await refusal(await rawPackage([{ path: "app_manifest.json", bytes: manifest() }])),
    `image package: app_manifest.json: EntryPoint "blink.wasm" is not a file of the package`);
  assert.equal(await refusal(await rawPackage([{ path: "blink.wasm", bytes: MODULE }])), "image package: littlefs image: holds no app_manifest.json");
  await assert.rejects(packImage(input({ files: [{ path: "blink.wasm", bytes: MODULE }] })), { message: "no app_manifest.json among the files" });
  await assert.rejects(packImage(input({ files: [...input().files, { path: "../x", bytes: MODULE }] })), { message: '"../x" is not a path a package may hold' });
});

/** The package with its metadata replaced by `meta` (header's length, trailer and CRC made to match). */
function withMetadata(pkg: Uint8Array, meta: Uint8Array): Uint8Array {
  const l = layout(pkg);
  const out = new Uint8Array(l.metaOffset + meta.length + 16);
  out.set(pkg.subarray(0, l.metaOffset));
  out.set(meta, l.metaOffset);
  put32(out, l.metaOffset + 8, meta.length);
  const t = out.length - 16;
  put32(out, t, l.metaOffset);
  put32(out, t + 4, meta.length);
  put32(out, t + 8, zlibCrc32(out.subarray(l.metaOffset, l.metaOffset + meta.length)));
  out.set(pkg.subarray(pkg.length - 4), t + 12);
  return out;
}

test("refused or accepted at the bounds: metadata of 16 and 1,024 bytes, a DEBUG section of exactly 12, a space in the name", async () => {
  const l = layout(good);
  const meta = good.slice(l.metaOffset, l.metaOffset + l.metaBytes);
  // 1,024 bytes is inside the bound: the refusal is for what follows the last section.
  const padded = new Uint8Array(1024);
  padded.set(meta);
  assert.equal(await refusal(withMetadata(good, padded)), `image package: metadata: has ${1024 - l.metaBytes} bytes after the last section`);
  // 16 bytes (a header, no sections) is inside the bound too: what is missing is the sections.
  assert.equal(await refusal(withMetadata(good, meta.slice(0, 16))), "image package: metadata: section 0 header runs past the metadata");
  const headerOnly = meta.slice(0, 16);
  put16(headerOnly, 6, 0);
  assert.equal(await refusal(withMetadata(good, headerOnly)), "image package: metadata: holds 0 sections; format 1 has 6");
  // A DEBUG section of exactly its 12 fixed bytes: long enough, but its name is empty.
  const debug = l.sections[2];
  const fixed = new Uint8Array(8 + 12);
  fixed.set(good.subarray(debug.at, debug.at + 8 + 12));
  put32(fixed, 4, 12);
  put32(fixed, 8 + 8, 0);
  const debugEnd = debug.at + 8 + ((debug.len + 3) & ~3);
  const spliced = new Uint8Array(meta.length - (debugEnd - debug.at) + fixed.length);
  spliced.set(meta.subarray(0, debug.at - l.metaOffset));
  spliced.set(fixed, debug.at - l.metaOffset);
  spliced.set(meta.subarray(debugEnd - l.metaOffset), debug.at - l.metaOffset + fixed.length);
  assert.equal(await refusal(withMetadata(good, spliced)), "image package: DEBUG section: the name is 0 bytes; it must be 1 to 64");
  // A space is no control character.
  assert.equal((await inspectPackage(await packImage(input({ name: "my blink" })))).info.name, "my blink");
});
