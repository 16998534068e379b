// P-256 signing keys on the host's disk and image-package signatures (SPEC.md, "Image packages",
// section 6 SIGNATURE). Crypto is WebCrypto (`crypto.subtle`) only, so a browser host runs the same
// code; node:fs is used only by the file helpers at the bottom.
// Invariants: a key id is the first 16 bytes of SHA-256 over the key's SubjectPublicKeyInfo (DER);
// a signature is ECDSA P-256 over SHA-256 of the signed bytes, r then s (32 B each, big-endian).
// The private key is imported non-extractable for signing; createKeyFiles writes it once (0600,
// refusing to overwrite). Memory: the package bytes plus one copy of the signed range.
// Must not: sign anything but the exact signed range, or accept a key that is not P-256.
import { openSync, writeSync, closeSync, readFileSync, existsSync } from "node:fs";

const subtle = globalThis.crypto.subtle;
const EC = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;
export const KEY_ID_BYTES = 16;
export const SIGNATURE_RAW_BYTES = 64;

export class KeyError extends Error {}

// WebCrypto takes any Uint8Array view; the cast only narrows its buffer type for the DOM typings.
const buf = (b: Uint8Array): BufferSource => b as unknown as BufferSource;

const pem = (label: string, der: Uint8Array) =>
  `-----BEGIN ${label}-----\n${Buffer.from(der).toString("base64").replace(/.{1,64}/g, "$&\n")}-----END ${label}-----\n`;

function unpem(text: string, label: string, where: string): Uint8Array {
  const m = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(text);
  if (!m) throw new KeyError(`${where}: not a PEM ${label}`);
  return new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ""), "base64"));
}

/** The key id of a public key: SHA-256 of its SPKI DER, first 16 bytes. */
export async function keyIdOf(spkiDer: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle.digest("SHA-256", buf(spkiDer))).slice(0, KEY_ID_BYTES);
}

/** A new P-256 key pair as PKCS8 and SPKI PEM text. */
export async function createKeyPairPem(): Promise<{ privatePem: string; publicPem: string }> {
  const pair = await subtle.generateKey(EC, true, ["sign", "verify"]);
  const pkcs8 = new Uint8Array(await subtle.exportKey("pkcs8", pair.privateKey));
  const spki = new Uint8Array(await subtle.exportKey("spki", pair.publicKey));
  return { privatePem: pem("PRIVATE KEY", pkcs8), publicPem: pem("PUBLIC KEY", spki) };
}

export interface Signer {
  keyId: Uint8Array;
  sign(bytes: Uint8Array): Promise<Uint8Array>;
  /** The public half, to check what this key signed (or an earlier signature of it). */
  verifier: Verifier;
}

/** A signer from a PKCS8 PEM private key; the key is imported non-extractable. */
export async function signerFromPem(text: string, where: string): Promise<Signer> {
  const pkcs8 = unpem(text, "PRIVATE KEY", where);
  let key: CryptoKey, jwk: JsonWebKey;
  try {
    // The public half is recovered through a short-lived extractable import (WebCrypto derives no
    // public key from a non-extractable private one); the signing key itself is non-extractable.
    jwk = await subtle.exportKey("jwk", await subtle.importKey("pkcs8", buf(pkcs8), EC, true, ["sign"]));
    key = await subtle.importKey("pkcs8", buf(pkcs8), EC, false, ["sign"]);
  } catch {
    throw new KeyError(`${where}: not a P-256 private key`);
  }
  const pub = await subtle.importKey("jwk", { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }, EC, true, ["verify"]);
  const keyId = await keyIdOf(new Uint8Array(await subtle.exportKey("spki", pub)));
  return {
    keyId,
    sign: async (bytes) => new Uint8Array(await subtle.sign(SIGN, key, buf(bytes))),
    verifier: { keyId, verify: verifyWith(pub) },
  };
}

const verifyWith = (key: CryptoKey) => async (bytes: Uint8Array, sig: Uint8Array) =>
  sig.length === SIGNATURE_RAW_BYTES && subtle.verify(SIGN, key, buf(sig), buf(bytes));

export interface Verifier { keyId: Uint8Array; verify(bytes: Uint8Array, signature: Uint8Array): Promise<boolean> }

/** A verifier from an SPKI PEM public key. */
export async function verifierFromPem(text: string, where: string): Promise<Verifier> {
  const spki = unpem(text, "PUBLIC KEY", where);
  let key: CryptoKey;
  try {
    key = await subtle.importKey("spki", buf(spki), EC, false, ["verify"]);
  } catch {
    throw new KeyError(`${where}: not a P-256 public key`);
  }
  return { keyId: await keyIdOf(spki), verify: verifyWith(key) };
}

/** The SPKI DER of a P-256 public key in PEM; refused for anything else. */
export async function publicKeyDerFromPem(text: string, where: string): Promise<Uint8Array> {
  await verifierFromPem(text, where);
  return unpem(text, "PUBLIC KEY", where);
}

/** Writes NAME.pem (0600) and NAME.pub; refuses if either exists. Returns the two paths. */
export async function createKeyFiles(name: string): Promise<{ privatePath: string; publicPath: string; keyId: string }> {
  const privatePath = `${name}.pem`, publicPath = `${name}.pub`;
  for (const p of [privatePath, publicPath]) if (existsSync(p)) throw new KeyError(`${p} exists; a key is never overwritten`);
  const { privatePem, publicPem } = await createKeyPairPem();
  // "wx": fails if the file appeared meanwhile; the mode is set at creation, never widened.
  const write = (path: string, text: string, mode: number) => {
    const fd = openSync(path, "wx", mode);
    try { writeSync(fd, text); } finally { closeSync(fd); }
  };
  write(privatePath, privatePem, 0o600);
  write(publicPath, publicPem, 0o644);
  const keyId = Buffer.from(await keyIdOf(unpem(publicPem, "PUBLIC KEY", publicPath))).toString("hex");
  return { privatePath, publicPath, keyId };
}

export const readKeyText = (path: string): string => {
  try { return readFileSync(path, "utf8"); } catch (err) { throw new KeyError(`${path}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`); }
};
