// Package signing (SPEC.md, "Image packages", section 6): keys from createKeyPairPem, packages
// signed by signPackage, and the signature checked by implementations other than the signer's:
// node:crypto's verify over the SPEC's signed range, and openssl when it is installed. Every byte
// of the signed range, flipped, fails verification; the trailer CRC still holds after signing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createPublicKey, createPrivateKey, verify as nodeVerify, sign as nodeSign, createHash, generateKeyPairSync } from "node:crypto";
import { crc32 as zlibCrc32 } from "node:zlib";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, statSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as abi from "../../assembly/abi.js";
import { packImage, parsePackage, signPackage, verifyPackageSignature, type PackInput } from "../../host/apps/imagepkg.js";
import { createKeyFiles, createKeyPairPem, KeyError, signerFromPem, verifierFromPem } from "../../host/pluton/keys.js";

const enc = new TextEncoder();
const ID = "1689d8b2-c835-2e27-27ad-e894d6d15fa9";
const input: PackInput = {
  files: [
    { path: "app_manifest.json", bytes: enc.encode(JSON.stringify({ SchemaVersion: 1, Name: "blink", ComponentId: ID, EntryPoint: "blink.wasm", Capabilities: {} })) },
    { path: "blink.wasm", bytes: Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]) },
  ],
  componentId: ID, imageVersion: 2, buildTimeSeconds: 1764633600, name: "blink",
};
const u32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset).getUint32(at, true);
const u16 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset).getUint16(at, true);

/** The signature section located from SPEC.md's offsets alone (trailer, header, section walk). */
function sigSection(pkg: Uint8Array) {
  const metaOffset = u32(pkg, pkg.length - 16), metaBytes = u32(pkg, pkg.length - 12);
  for (let at = metaOffset + 16; at < metaOffset + metaBytes;) {
    const type = u16(pkg, at), len = u32(pkg, at + 4);
    if (type === 6) return { header: at, payload: pkg.subarray(at + 8, at + 8 + len), metaOffset, metaBytes };
    at += 8 + ((len + 3) & ~3);
  }
  throw new Error("no signature section");
}

test("a signed package: its section holds algorithm 1, the SPKI key id and a signature node:crypto verifies over [0, section header)", async () => {
  const keys = await createKeyPairPem();
  const pkg = await signPackage(await packImage(input), await signerFromPem(keys.privatePem, "k"));
  const s = sigSection(pkg);
  assert.equal(u16(s.payload, 0), 1);
  assert.equal(u16(s.payload, 2), 0);
  const spki = createPublicKey(keys.publicPem).export({ type: "spki", format: "der" });
  assert.deepEqual(Buffer.from(s.payload.subarray(4, 20)), createHash("sha256").update(spki).digest().subarray(0, 16));
  const signed = pkg.subarray(0, s.header);
  assert.equal(parsePackage(pkg).signedBytes, s.header);
  assert.ok(nodeVerify("sha256", signed, { key: keys.publicPem, dsaEncoding: "ieee-p1363" }, s.payload.subarray(20, 84)));
  // The trailer's CRC covers the filled section (node's zlib CRC, not the writer's).
  assert.equal(u32(pkg, pkg.length - 8), zlibCrc32(pkg.subarray(s.metaOffset, s.metaOffset + s.metaBytes)));
  // Signing changes only the section's 84 bytes and the trailer CRC.
  const unsigned = await packImage(input);
  const differing = [...pkg].flatMap((b, i) => (b !== unsigned[i] ? [i] : []));
  assert.ok(differing.every((i) => (i >= s.header + 8 && i < s.header + 92) || (i >= pkg.length - 8 && i < pkg.length - 4)));
});

test("a key node:crypto made signs packages WebCrypto verifies, and the reverse direction too", async () => {
  const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const privatePem = pair.privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  const publicPem = pair.publicKey.export({ type: "spki", format: "pem" }) as string;
  const pkg = await signPackage(await packImage(input), await signerFromPem(privatePem, "k"));
  const info = parsePackage(pkg);
  assert.deepEqual(await verifyPackageSignature(pkg, info, await verifierFromPem(publicPem, "p")), { verified: true, reason: "the signature verifies" });
  // A signature node made over the same range, placed by hand, verifies through WebCrypto.
  const s = sigSection(pkg);
  const nodeSig = nodeSign("sha256", pkg.subarray(0, s.header), { key: createPrivateKey(privatePem), dsaEncoding: "ieee-p1363" });
  const v = await verifierFromPem(publicPem, "p");
  assert.equal(await v.verify(pkg.subarray(0, s.header), nodeSig), true);
});

test("openssl verifies the signature over the signed range (DER form of r, s)", { skip: spawnSync("openssl", ["version"]).status !== 0 && "no openssl" }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "wasphere-sign-"));
  const keys = await createKeyPairPem();
  const pkg = await signPackage(await packImage(input), await signerFromPem(keys.privatePem, "k"));
  const s = sigSection(pkg);
  const der = (x: Uint8Array) => { let i = 0; while (i < 31 && x[i] === 0) i++; const v = x.subarray(i); return v[0] & 0x80 ? Buffer.concat([Buffer.from([2, v.length + 1, 0]), v]) : Buffer.concat([Buffer.from([2, v.length]), v]); };
  const r = der(s.payload.subarray(20, 52)), sv = der(s.payload.subarray(52, 84));
  writeFileSync(join(dir, "sig.der"), Buffer.concat([Buffer.from([0x30, r.length + sv.length]), r, sv]));
  writeFileSync(join(dir, "key.pub"), keys.publicPem);
  writeFileSync(join(dir, "signed.bin"), pkg.subarray(0, s.header));
  const out = execFileSync("openssl", ["dgst", "-sha256", "-verify", join(dir, "key.pub"), "-signature", join(dir, "sig.der"), join(dir, "signed.bin")]).toString();
  assert.match(out, /Verified OK/);
  writeFileSync(join(dir, "signed.bin"), pkg.subarray(0, s.header - 1));
  assert.notEqual(spawnSync("openssl", ["dgst", "-sha256", "-verify", join(dir, "key.pub"), "-signature", join(dir, "sig.der"), join(dir, "signed.bin")]).status, 0);
});

test("a flip of any byte of the signed range fails verification; another key, an unsigned package are refused with their reason", async () => {
  const keys = await createKeyPairPem();
  const pkg = await signPackage(await packImage(input), await signerFromPem(keys.privatePem, "k"));
  const info = parsePackage(pkg);
  const v = await verifierFromPem(keys.publicPem, "p");
  const sig = Buffer.from(info.signature.signature, "hex");
  let failures = 0;
  for (let i = 0; i < info.signedBytes; i++) {
    const t = pkg.slice(0, info.signedBytes);
    t[i] ^= 0x01;
    if (!(await v.verify(t, sig))) failures++;
  }
  assert.equal(failures, info.signedBytes);
  // Through the whole path: a tampered package (CRC refreshed so the parse accepts it) fails.
  const t = pkg.slice();
  t[100] ^= 0x80;
  assert.equal((await verifyPackageSignature(t, info, v)).verified, false);
  const other = await createKeyPairPem();
  assert.match((await verifyPackageSignature(pkg, info, await verifierFromPem(other.publicPem, "o"))).reason, /^signed by key [0-9a-f]{32}, not by the given key/);
  const unsigned = await packImage(input);
  assert.deepEqual(await verifyPackageSignature(unsigned, parsePackage(unsigned), v), { verified: false, reason: "the package is unsigned" });
  assert.equal(info.signature.algorithm, abi.PKG_SIG_ECDSA_P256_SHA256);
});

test("keys create writes a 0600 PKCS8 key and an SPKI key node:crypto reads, and refuses to overwrite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wasphere-keys-"));
  const made = await createKeyFiles(join(dir, "app"));
  assert.equal(statSync(made.privatePath).mode & 0o777, 0o600);
  const priv = createPrivateKey(readFileSync(made.privatePath));
  assert.equal(priv.asymmetricKeyDetails?.namedCurve, "prime256v1");
  const spki = createPublicKey(readFileSync(made.publicPath)).export({ type: "spki", format: "der" });
  assert.equal(made.keyId, createHash("sha256").update(spki).digest().subarray(0, 16).toString("hex"));
  const before = readFileSync(made.privatePath, "utf8");
  await assert.rejects(createKeyFiles(join(dir, "app")), (e: Error) => e instanceof KeyError && /exists; a key is never overwritten/.test(e.message));
  assert.equal(readFileSync(made.privatePath, "utf8"), before);
  await assert.rejects(signerFromPem(readFileSync(made.publicPath, "utf8"), "x.pub"), /x.pub: not a PEM PRIVATE KEY/);
  assert.ok(existsSync(made.publicPath));
});
