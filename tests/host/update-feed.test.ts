// The update feed (host/update-feed.ts, SPEC.md "Update feed"): what `feed publish` writes is
// checked with node:crypto (OpenSSL), not the WebCrypto that signed it: the key id, the signature
// over the exact manifest text, each package file's name and hash. Each refusal leaves the folder
// byte for byte as it was. A tampered feed, another key, a bad envelope: each refused by name.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createPublicKey, generateKeyPairSync, verify } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packImage } from "../../host/apps/imagepkg.js";
import { FEED_FILE, FeedError, loadVerifyKey, openFeed, publishFeed, type FeedEnvelope, type FeedManifest } from "../../host/update-feed.js";

const enc = (s: string) => new TextEncoder().encode(s);
const A = "11111111-2222-4333-8444-555555555555";
const B = "99999999-2222-4333-8444-555555555555";

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return {
    privatePem: privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    publicPem: publicKey.export({ type: "spki", format: "pem" }) as string,
    keyId: createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest("hex").slice(0, 32),
  };
}

async function pkg(dir: string, componentId: string, version: number, payload = "x"): Promise<string> {
  const manifest = enc(JSON.stringify({ SchemaVersion: 1, Name: `app-${componentId.slice(0, 4)}`, ComponentId: componentId, EntryPoint: "a.wasm" }));
  const bytes = await packImage({ files: [{ path: "app_manifest.json", bytes: manifest }, { path: "a.wasm", bytes: enc(payload) }], componentId, imageVersion: version, buildTimeSeconds: 1_700_000_000, name: `app-${componentId.slice(0, 4)}` });
  const path = join(dir, `${componentId.slice(0, 4)}-v${version}-${payload}.imagepackage`);
  writeFileSync(path, bytes);
  return path;
}

/** Every file of the feed folder and its bytes: what a refused publish must leave unchanged. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    if (!existsSync(join(dir, rel))) return;
    for (const n of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${n.name}` : n.name;
      if (n.isDirectory()) walk(p); else out[p] = readFileSync(join(dir, p)).toString("hex");
    }
  };
  walk("");
  return out;
}

function envelope(dir: string): { env: FeedEnvelope; manifest: FeedManifest } {
  const env = JSON.parse(readFileSync(join(dir, FEED_FILE), "utf8")) as FeedEnvelope;
  return { env, manifest: JSON.parse(env.Manifest) };
}

test("publish: node:crypto verifies the signature over the manifest text, the key id, and every package file by its hash", async () => {
  const work = mkdtempSync(join(tmpdir(), "feed-"));
  const feed = join(work, "feed");
  const key = keyPair();
  const report = await publishFeed(feed, key.privatePem, [await pkg(work, B, 1), await pkg(work, A, 3)], new Date("2026-12-02T12:00:00Z"));
  assert.equal(report.sequence, 1);
  assert.equal(report.keyId, key.keyId);
  const { env, manifest } = envelope(feed);
  assert.equal(env.Signature.Algorithm, "ES256");
  const ok = verify("sha256", Buffer.from(env.Manifest, "utf8"), { key: createPublicKey(key.publicPem), dsaEncoding: "ieee-p1363" }, Buffer.from(env.Signature.Value, "base64"));
  assert.equal(ok, true, "OpenSSL verifies what WebCrypto signed");
  assert.equal(manifest.KeyId, key.keyId);
  assert.equal(manifest.PublishedUtc, "2026-12-02T12:00:00.000Z");
  assert.deepEqual(manifest.Components.map((c) => [c.ComponentId, c.Version]), [[A, 3], [B, 1]], "sorted by ComponentId");
  for (const c of manifest.Components) {
    const bytes = readFileSync(join(feed, c.File));
    assert.equal(c.Sha256, createHash("sha256").update(bytes).digest("hex"));
    assert.equal(c.File, `packages/${c.Sha256}.imagepackage`);
    assert.equal(c.SizeBytes, bytes.length);
    assert.equal(c.ImageType, 10);
  }
  assert.deepEqual(await openFeed(readFileSync(join(feed, FEED_FILE)), "feed", await loadVerifyKey(key.publicPem, "pub")), manifest);
});

test("a second publish replaces one component, keeps the other and its file, and raises the sequence", async () => {
  const work = mkdtempSync(join(tmpdir(), "feed-"));
  const feed = join(work, "feed");
  const key = keyPair();
  await publishFeed(feed, key.privatePem, [await pkg(work, A, 1), await pkg(work, B, 1)]);
  const before = envelope(feed).manifest;
  const r = await publishFeed(feed, key.privatePem, [await pkg(work, A, 2, "y")]);
  assert.equal(r.sequence, 2);
  assert.deepEqual(r.kept.map((c) => c.ComponentId), [B]);
  const after = envelope(feed).manifest;
  assert.equal(after.Components.find((c) => c.ComponentId === A)!.Version, 2);
  assert.deepEqual(after.Components.find((c) => c.ComponentId === B), before.Components.find((c) => c.ComponentId === B));
  assert.ok(existsSync(join(feed, before.Components.find((c) => c.ComponentId === A)!.File)), "a device mid-download of the old file still finds it");
  assert.equal(readdirSync(join(feed, "packages")).length, 3);
});

test("refused, with the folder unchanged: a lower version, the same version with other bytes, two of one ComponentId, a corrupt package, another key, a feed edited by hand", async () => {
  const work = mkdtempSync(join(tmpdir(), "feed-"));
  const feed = join(work, "feed");
  const key = keyPair();
  await publishFeed(feed, key.privatePem, [await pkg(work, A, 2)]);
  const refuse = async (pattern: RegExp, packages: string[], pem = key.privatePem) => {
    const before = snapshot(feed);
    await assert.rejects(publishFeed(feed, pem, packages), (err: Error) => err instanceof FeedError && pattern.test(err.message));
    assert.deepEqual(snapshot(feed), before);
  };
  await refuse(/version 1 of .*; the feed has version 2 \(a feed never goes back\)/, [await pkg(work, A, 1)]);
  await refuse(/version 2 of .*the feed has version 2 with other bytes/, [await pkg(work, A, 2, "other")]);
  await refuse(/a second package of ComponentId/, [await pkg(work, B, 1), await pkg(work, B, 2)]);
  const corrupt = join(work, "corrupt.imagepackage");
  const good = readFileSync(await pkg(work, B, 1));
  good[good.length - 20] ^= 0xff;
  writeFileSync(corrupt, good);
  await refuse(/corrupt\.imagepackage: image package: /, [corrupt]);
  await refuse(/signed by key [0-9a-f]{32}, not by --key/, [await pkg(work, B, 1)], keyPair().privatePem);
  await refuse(/not a PEM PRIVATE KEY/, [await pkg(work, B, 1)], key.publicPem);
  // Edit the manifest text by hand (a version bumped): the signature no longer covers it.
  const { env } = envelope(feed);
  writeFileSync(join(feed, FEED_FILE), JSON.stringify({ ...env, Manifest: env.Manifest.replace('"Version": 2', '"Version": 9') }));
  await refuse(/the signature does not verify with key/, [await pkg(work, B, 1)]);
});

test("openFeed refuses by name: a tampered manifest, another key, a short signature, an oversized feed, a bad field", async () => {
  const work = mkdtempSync(join(tmpdir(), "feed-"));
  const feed = join(work, "feed");
  const key = keyPair();
  await publishFeed(feed, key.privatePem, [await pkg(work, A, 1)]);
  const pub = await loadVerifyKey(key.publicPem, "pub");
  const { env } = envelope(feed);
  const open = (e: unknown, k = pub) => openFeed(enc(JSON.stringify(e)), "f", k);
  await assert.rejects(open({ ...env, Manifest: env.Manifest.replace(A, B) }), /f: the signature does not verify/);
  await assert.rejects(open(env, await loadVerifyKey(keyPair().publicPem, "other")), /the signature does not verify/);
  await assert.rejects(open({ ...env, Signature: { Algorithm: "ES256", Value: Buffer.alloc(63).toString("base64") } }), /63 bytes; ES256 is 64/);
  await assert.rejects(open({ ...env, Signature: { Algorithm: "RS256", Value: env.Signature.Value } }), /not a feed envelope/);
  await assert.rejects(openFeed(new Uint8Array(64 * 1024 + 1), "f"), /65537 bytes; a feed is at most 65536/);
  await assert.rejects(openFeed(Uint8Array.of(0xff, 0xfe), "f"), /not UTF-8 JSON/);
  // Unsigned content checks (no key): each field by name.
  const m = JSON.parse(env.Manifest) as FeedManifest;
  const bad = (edit: (m: FeedManifest) => void) => { const c = structuredClone(m); edit(c); return openFeed(enc(JSON.stringify({ ...env, Manifest: JSON.stringify(c) })), "f"); };
  await assert.rejects(bad((c) => { c.Sequence = 0; }), /Sequence must be a whole number from 1/);
  await assert.rejects(bad((c) => { c.Components.push({ ...c.Components[0] }); }), /Components\[1\]: ComponentId .* appears twice/);
  await assert.rejects(bad((c) => { c.Components[0].File = "../../etc/passwd"; }), /Components\[0\]\.File must be packages\/<Sha256>\.imagepackage/);
  await assert.rejects(bad((c) => { c.Components[0].ComponentId = "AAAAAAAA-2222-4333-8444-555555555555"; }), /ComponentId must be a lowercase GUID/);
  await assert.rejects(bad((c) => { c.Format = "x"; }), /Format x is not wasphere-feed\/1/);
});
