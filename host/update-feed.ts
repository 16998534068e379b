// update-feed: an update feed as a folder of static files (SPEC.md, "Update feed"): `feed.json`,
// a signed manifest naming each component's newest image package, and the packages under
// `packages/`, each named by its SHA-256. Any HTTP server can serve the folder; a device's update
// agent checks the signature, then each download's size and SHA-256, before it stages anything.
//
// Invariants: feed.json is replaced by a rename, so a reader sees the old feed or the new one,
// never half of either; a package file is written before the feed that names it and is never
// rewritten (its name is its hash); the feed's Sequence only grows, so a device can refuse an old
// feed replayed to it; one entry per ComponentId; a publish never lowers a component's version.
// Crypto is WebCrypto (ECDSA P-256 with SHA-256, signatures as r || s, 64 bytes), as Node and
// browsers share it, with the key files of host/pluton/keys.ts (the keys that sign packages).
// Memory: the packages being published, one at a time, and the feed.
// Must not: interpret package bytes itself (the core's parser reads each package's identity), or
// leave a feed naming a package that is not in the folder.
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { parsePackage, PackageError } from "./apps/imagepkg.js";
import { printable } from "./printable.js";
import { KeyError, signerFromPem, verifierFromPem } from "./pluton/keys.js";
import { BootError, CORE_IMAGE_MAGIC, parseCoreImage } from "./boot-loader.js";
import * as abi from "../assembly/abi.js";

export const FEED_FILE = "feed.json";
export const FEED_FORMAT = "wasphere-feed/1";
export const PACKAGES_DIR = "packages";
/** The most components one feed names (the device's app table and two OS slots). */
export const FEED_MAX_COMPONENTS = 66;
/** feed.json's size bound: a device reads no more than this. */
export const FEED_MAX_BYTES = 64 * 1024;

export class FeedError extends Error {}

/** The ComponentId a feed gives the OS (its core images, ImageType 1); the device's core ignores it. */
export const OS_COMPONENT_ID = "3e0c9a7b-1d2f-4e58-8a6b-0c4d2e9f7a15";
export const IMAGE_TYPE_CORE = 1;

/** 16 bytes as lowercase GUID text (8-4-4-4-12). */
const guidText = (b: Uint8Array) => {
  const h = Buffer.from(b.subarray(0, 16)).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
};

/**
 * The feed identity of a signed core image (SPEC.md "Core image"): the OS's ComponentId, an
 * ImageId from the image's SHA-256 (so one image always has one id), its version.
 */
function coreImageInfo(bytes: Uint8Array, where: string, digest: Uint8Array) {
  let image;
  try { image = parseCoreImage(bytes, where); } catch (err) { throw new FeedError(err instanceof BootError ? err.message : printable(String(err))); }
  if (image.algorithm !== abi.PKG_SIG_ECDSA_P256_SHA256) throw new FeedError(`${where}: the core image is unsigned; a device boots only a signed one (wasphere core sign --key OS.pem)`);
  if (image.imageBytes !== bytes.length) throw new FeedError(`${where}: ${bytes.length - image.imageBytes} bytes follow the core image (not one signed core image)`);
  return { componentId: OS_COMPONENT_ID, imageId: guidText(digest), imageType: IMAGE_TYPE_CORE, version: image.version, name: "wasphere-core" };
}

export interface FeedComponent {
  ComponentId: string;
  ImageId: string;
  ImageType: number;
  Version: number;
  Name: string;
  SizeBytes: number;
  Sha256: string;
  File: string;
}

export interface FeedManifest {
  Format: string;
  Sequence: number;
  PublishedUtc: string;
  /** The signing key's id: the first 16 bytes of SHA-256 over its SubjectPublicKeyInfo (DER), as hex. */
  KeyId: string;
  Components: FeedComponent[];
}

/** feed.json: the manifest as the exact text that was signed, and the signature over its UTF-8 bytes. */
export interface FeedEnvelope {
  Manifest: string;
  Signature: { Algorithm: "ES256"; Value: string };
}

const subtle = () => {
  if (!globalThis.crypto?.subtle) throw new FeedError("this JavaScript engine has no WebCrypto (crypto.subtle)");
  return globalThis.crypto.subtle;
};
const hex = (b: ArrayBuffer | Uint8Array) => Buffer.from(b instanceof Uint8Array ? b : new Uint8Array(b)).toString("hex");

/** A publisher's public key (host/pluton/keys.ts), its id as hex. */
export interface VerifyKey { keyId: string; verify(bytes: Uint8Array, signature: Uint8Array): Promise<boolean> }

/** Key files' refusals (KeyError) become the feed's own. */
async function asFeedError<T>(load: () => Promise<T>): Promise<T> {
  try { return await load(); } catch (err) { throw err instanceof KeyError ? new FeedError(err.message) : err; }
}

/** A P-256 private key (PKCS8 PEM) for signing, and its public half for verifying what it signs. */
export async function loadSigningKey(pem: string, where: string): Promise<{ keyId: string; sign(bytes: Uint8Array): Promise<Uint8Array>; publicKey: VerifyKey }> {
  const s = await asFeedError(() => signerFromPem(pem, where));
  const keyId = hex(s.keyId);
  return { keyId, sign: s.sign, publicKey: { keyId, verify: s.verifier.verify } };
}

/** A P-256 public key (SPKI PEM) for verifying. */
export async function loadVerifyKey(pem: string, where: string): Promise<VerifyKey> {
  const v = await asFeedError(() => verifierFromPem(pem, where));
  return { keyId: hex(v.keyId), verify: v.verify };
}

/** The feed in `dir`, checked against `verifyKey` when given (else its signature is not checked). */
export async function readFeed(dir: string, verifyKey?: VerifyKey): Promise<FeedManifest | null> {
  const path = join(dir, FEED_FILE);
  if (!existsSync(path)) return null;
  return openFeed(readFileSync(path), printable(path), verifyKey);
}

/**
 * feed.json's bytes as a device checks them: bounded, an envelope of the exact signed text and
 * its signature, the signature verified (when a key is given) before the manifest is trusted, then
 * every field checked. Throws FeedError naming the part at fault.
 */
export async function openFeed(bytes: Uint8Array, where: string, verifyKey?: VerifyKey): Promise<FeedManifest> {
  if (bytes.length > FEED_MAX_BYTES) throw new FeedError(`${where}: ${bytes.length} bytes; a feed is at most ${FEED_MAX_BYTES}`);
  let envelope: FeedEnvelope;
  try { envelope = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)); } catch (err) {
    throw new FeedError(`${where}: not UTF-8 JSON (${(err as Error).message})`);
  }
  if (typeof envelope?.Manifest !== "string" || envelope.Signature?.Algorithm !== "ES256" || typeof envelope.Signature.Value !== "string") {
    throw new FeedError(`${where}: not a feed envelope (Manifest text, Signature { Algorithm "ES256", Value })`);
  }
  const signed = new TextEncoder().encode(envelope.Manifest);
  const signature = new Uint8Array(Buffer.from(envelope.Signature.Value, "base64"));
  if (signature.length !== 64) throw new FeedError(`${where}: Signature.Value is ${signature.length} bytes; ES256 is 64 (r || s)`);
  if (verifyKey && !(await verifyKey.verify(signed, signature))) {
    throw new FeedError(`${where}: the signature does not verify with key ${verifyKey.keyId}`);
  }
  let manifest: FeedManifest;
  try { manifest = JSON.parse(envelope.Manifest); } catch (err) { throw new FeedError(`${where}: Manifest is not JSON (${(err as Error).message})`); }
  checkManifestFields(manifest, where);
  if (verifyKey && manifest.KeyId !== verifyKey.keyId) throw new FeedError(`${where}: KeyId ${printable(manifest.KeyId)} is not the verifying key's (${verifyKey.keyId})`);
  return manifest;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const isU32 = (n: unknown) => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 0xffffffff;

function checkManifestFields(m: FeedManifest, where: string): void {
  const fail = (what: string) => { throw new FeedError(`${where}: ${what}`); };
  if (m?.Format !== FEED_FORMAT) fail(`Format ${printable(String(m?.Format))} is not ${FEED_FORMAT}`);
  if (!Number.isSafeInteger(m.Sequence) || m.Sequence < 1) fail("Sequence must be a whole number from 1");
  if (typeof m.PublishedUtc !== "string" || Number.isNaN(Date.parse(m.PublishedUtc))) fail("PublishedUtc must be an ISO 8601 time");
  if (typeof m.KeyId !== "string" || !/^[0-9a-f]{32}$/.test(m.KeyId)) fail("KeyId must be 32 hex digits");
  if (!Array.isArray(m.Components) || m.Components.length > FEED_MAX_COMPONENTS) fail(`Components must be a list of at most ${FEED_MAX_COMPONENTS}`);
  const seen = new Set<string>();
  m.Components.forEach((c, i) => {
    const at = `Components[${i}]`;
    if (typeof c?.ComponentId !== "string" || !GUID.test(c.ComponentId)) fail(`${at}.ComponentId must be a lowercase GUID`);
    if (seen.has(c.ComponentId)) fail(`${at}: ComponentId ${c.ComponentId} appears twice`);
    seen.add(c.ComponentId);
    if (typeof c.ImageId !== "string" || !GUID.test(c.ImageId)) fail(`${at}.ImageId must be a lowercase GUID`);
    for (const k of ["ImageType", "Version", "SizeBytes"] as const) if (!isU32(c[k])) fail(`${at}.${k} must be a 32-bit unsigned number`);
    if (typeof c.Name !== "string" || c.Name.length === 0 || c.Name.length > 64) fail(`${at}.Name must be 1 to 64 characters`);
    if (typeof c.Sha256 !== "string" || !SHA256_HEX.test(c.Sha256)) fail(`${at}.Sha256 must be 64 lowercase hex digits`);
    if (c.File !== `${PACKAGES_DIR}/${c.Sha256}.imagepackage`) fail(`${at}.File must be ${PACKAGES_DIR}/<Sha256>.imagepackage`);
  });
}

export interface PublishReport { sequence: number; keyId: string; published: FeedComponent[]; kept: FeedComponent[] }

/**
 * Publishes `packages` (file paths) into the feed folder `dir`, signed with `signingKeyPem`:
 * each package's identity is read by the core's parser, its bytes are stored under their hash,
 * and the feed names it in place of that ComponentId's previous entry; other components keep
 * theirs. Refused, with nothing changed: a package the core refuses, two packages of one
 * ComponentId, a version lower than the one the feed has (the same version with other bytes
 * too), an existing feed signed by another key or not verifying.
 */
export async function publishFeed(dir: string, signingKeyPem: string, packages: string[], nowUtc = new Date()): Promise<PublishReport> {
  const signer = await loadSigningKey(signingKeyPem, "--key");
  const feedPath = join(dir, FEED_FILE);
  const onDisk = existsSync(feedPath) ? readFileSync(feedPath) : null;
  const previous = onDisk ? await openFeed(onDisk, printable(feedPath)) : null;
  if (previous && previous.KeyId !== signer.keyId) {
    throw new FeedError(`${printable(feedPath)}: signed by key ${previous.KeyId}, not by --key (${signer.keyId}); publish with the feed's own key`);
  }
  // The feed on disk must verify with the signing key's public half: a feed edited by hand is not built upon.
  if (onDisk) await openFeed(onDisk, printable(feedPath), signer.publicKey);
  const byId = new Map((previous?.Components ?? []).map((c) => [c.ComponentId, c]));
  const fresh: { entry: FeedComponent; bytes: Uint8Array }[] = [];
  for (const path of packages) {
    let bytes: Uint8Array;
    try { bytes = new Uint8Array(readFileSync(path)); } catch (err) { throw new FeedError(`${printable(path)}: ${(err as Error).message}`); }
    const digest = new Uint8Array(await subtle().digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
    const sha256 = hex(digest);
    let info;
    // A signed core image ("WSCI") is the OS's entry; anything else must be an image package.
    const isCore = bytes.length >= 4 && new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) === CORE_IMAGE_MAGIC;
    if (isCore) info = coreImageInfo(bytes, printable(path), digest);
    else {
      try { info = parsePackage(bytes); } catch (err) {
        throw new FeedError(`${printable(path)}: ${err instanceof PackageError ? err.message : printable(String(err))}`);
      }
    }
    if (fresh.some((f) => f.entry.ComponentId === info.componentId)) throw new FeedError(`${printable(path)}: a second ${isCore ? "core image" : `package of ComponentId ${info.componentId}`} in one publish`);
    const old = byId.get(info.componentId);
    if (old && (info.version < old.Version || (info.version === old.Version && sha256 !== old.Sha256))) {
      throw new FeedError(`${printable(path)}: version ${info.version} of ${info.componentId}; the feed has version ${old.Version}${info.version === old.Version ? " with other bytes" : ""} (a feed never goes back)`);
    }
    fresh.push({
      bytes,
      entry: {
        ComponentId: info.componentId, ImageId: info.imageId, ImageType: info.imageType, Version: info.version,
        Name: info.name, SizeBytes: bytes.length, Sha256: sha256, File: `${PACKAGES_DIR}/${sha256}.imagepackage`,
      },
    });
  }
  for (const f of fresh) byId.set(f.entry.ComponentId, f.entry);
  if (byId.size > FEED_MAX_COMPONENTS) throw new FeedError(`the feed would name ${byId.size} components; at most ${FEED_MAX_COMPONENTS}`);
  const manifest: FeedManifest = {
    Format: FEED_FORMAT,
    Sequence: (previous?.Sequence ?? 0) + 1,
    PublishedUtc: nowUtc.toISOString(),
    KeyId: signer.keyId,
    Components: [...byId.values()].sort((a, b) => (a.ComponentId < b.ComponentId ? -1 : 1)),
  };
  const text = JSON.stringify(manifest, null, 2);
  const signature = await signer.sign(new TextEncoder().encode(text));
  const envelope: FeedEnvelope = { Manifest: text, Signature: { Algorithm: "ES256", Value: Buffer.from(signature).toString("base64") } };
  // Packages first, each under its hash; then the feed, by rename.
  mkdirSync(join(dir, PACKAGES_DIR), { recursive: true });
  for (const f of fresh) {
    const to = join(dir, f.entry.File);
    if (!existsSync(to)) { writeFileSync(`${to}.tmp`, f.bytes); renameSync(`${to}.tmp`, to); }
  }
  writeFileSync(`${feedPath}.tmp`, JSON.stringify(envelope, null, 2) + "\n");
  renameSync(`${feedPath}.tmp`, feedPath);
  const publishedIds = new Set(fresh.map((f) => f.entry.ComponentId));
  return { sequence: manifest.Sequence, keyId: signer.keyId, published: fresh.map((f) => f.entry), kept: manifest.Components.filter((c) => !publishedIds.has(c.ComponentId)) };
}
