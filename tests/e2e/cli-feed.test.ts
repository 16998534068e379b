// `wasphere feed publish | show` as a user runs them, and the folder served over HTTP on loopback
// (a plain Node static server, as any web server would serve it): what a device fetches verifies
// and hashes to what the feed says. Keys are made with node:crypto, as `openssl` would make them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, generateKeyPairSync } from "node:crypto";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { packImage } from "../../host/apps/imagepkg.js";
import { loadVerifyKey, openFeed } from "../../host/update-feed.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const wasphere = (args: string[]) => spawnSync(process.execPath, ["bin/wasphere.js", ...args], { cwd: root, encoding: "utf8", timeout: 120_000 });
const tmp = mkdtempSync(join(tmpdir(), "wasphere-feed-"));
const enc = (s: string) => new TextEncoder().encode(s);

function keys(name: string): { priv: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const priv = join(tmp, `${name}.pem`), pub = join(tmp, `${name}.pub`);
  writeFileSync(priv, privateKey.export({ type: "pkcs8", format: "pem" }));
  writeFileSync(pub, publicKey.export({ type: "spki", format: "pem" }));
  return { priv, pub };
}

async function pkg(componentId: string, version: number, name: string): Promise<string> {
  const manifest = enc(JSON.stringify({ SchemaVersion: 1, Name: name, ComponentId: componentId, EntryPoint: "a.wasm" }));
  const path = join(tmp, `${name}-${version}.imagepackage`);
  writeFileSync(path, await packImage({ files: [{ path: "app_manifest.json", bytes: manifest }, { path: "a.wasm", bytes: enc(name) }], componentId, imageVersion: version, buildTimeSeconds: 1_700_000_000, name }));
  return path;
}

test("publish, show --verify, and a device's fetch over HTTP of what the feed names", async () => {
  const k = keys("publisher");
  const feed = join(tmp, "feed");
  const blink = await pkg("1689d8b2-c835-2e27-27ad-e894d6d15fa9", 4, "blink");
  const pub = wasphere(["feed", "publish", "--key", k.priv, "--output", feed, blink, "--json"]);
  assert.equal(pub.status, 0, pub.stderr);
  const report = JSON.parse(pub.stdout);
  assert.equal(report.sequence, 1);
  assert.deepEqual(report.published.map((c: { Name: string; Version: number }) => [c.Name, c.Version]), [["blink", 4]]);

  const shown = wasphere(["feed", "show", feed, "--verify", k.pub, "--json"]);
  assert.equal(shown.status, 0, shown.stderr);
  assert.equal(JSON.parse(shown.stdout).verified, true);
  const text = wasphere(["feed", "show", feed]);
  assert.match(text.stdout, /sequence 1, .*signature not checked \(no --verify\)\n  1689d8b2-c835-2e27-27ad-e894d6d15fa9  v4  blink  \d+ B  sha256 [0-9a-f]{16}\.\.\.\n$/);

  const other = keys("other");
  const wrong = wasphere(["feed", "show", feed, "--verify", other.pub]);
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /^wasphere: .*feed\.json: the signature does not verify with key [0-9a-f]{32}\n$/);

  const server = createServer((req, res) => {
    const rel = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname)).replace(/^\/+/, "");
    try { res.end(readFileSync(join(feed, rel))); } catch { res.statusCode = 404; res.end(); }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    const feedBytes = new Uint8Array(await (await fetch(base + "feed.json")).arrayBuffer());
    const manifest = await openFeed(feedBytes, "fetched feed", await loadVerifyKey(readFileSync(k.pub, "utf8"), "pub"));
    const c = manifest.Components[0];
    const bytes = new Uint8Array(await (await fetch(base + c.File)).arrayBuffer());
    assert.equal(bytes.length, c.SizeBytes);
    assert.equal(createHash("sha256").update(bytes).digest("hex"), c.Sha256);
    assert.deepEqual(bytes, new Uint8Array(readFileSync(blink)));
  } finally {
    server.close();
  }
});

test("bad input: one line and exit 1: a missing key file, a folder without a feed, a file that is no package", () => {
  const k = keys("k2");
  const r1 = wasphere(["feed", "publish", "--key", join(tmp, "nope.pem"), "--output", join(tmp, "f2"), join(tmp, "x")]);
  assert.equal(r1.status, 1);
  assert.match(r1.stderr, /^wasphere: --key .*nope\.pem: ENOENT\n$/);
  const r2 = wasphere(["feed", "show", tmp]);
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /^wasphere: .*: no feed\.json \(not a feed folder; make one with `wasphere feed publish`\)\n$/);
  const junk = join(tmp, "junk.imagepackage");
  writeFileSync(junk, "\x1b[31mnot a package");
  const r3 = wasphere(["feed", "publish", "--key", k.priv, "--output", join(tmp, "f3"), junk]);
  assert.equal(r3.status, 1);
  assert.match(r3.stderr, /^wasphere: .*junk\.imagepackage: image package: [^\n]*\n$/);
  assert.doesNotMatch(r3.stderr, /\x1b/);
});

test("a signed core image publishes as the OS's entry beside the packages; an unsigned or padded one is refused", async () => {
  const k = keys("os-publisher");
  const feed = join(tmp, "feed-os");
  const img = join(tmp, "core-v7.img");
  const signed = wasphere(["core", "sign", "--key", k.priv, "--output", img, "--version", "7"]);
  assert.equal(signed.status, 0, signed.stderr);
  const app = await pkg("1689d8b2-c835-2e27-27ad-e894d6d15fa9", 2, "blink");
  const pub = wasphere(["feed", "publish", "--key", k.priv, "--output", feed, app, img, "--json"]);
  assert.equal(pub.status, 0, pub.stderr);
  const m = await openFeed(readFileSync(join(feed, "feed.json")), "feed.json", await loadVerifyKey(readFileSync(k.pub, "utf8"), "pub"));
  const bytes = new Uint8Array(readFileSync(img));
  const sha = createHash("sha256").update(bytes).digest("hex");
  const os = m.Components.find((c) => c.ImageType === 1)!;
  assert.deepEqual(os, {
    ComponentId: "3e0c9a7b-1d2f-4e58-8a6b-0c4d2e9f7a15", ImageId: `${sha.slice(0, 8)}-${sha.slice(8, 12)}-${sha.slice(12, 16)}-${sha.slice(16, 20)}-${sha.slice(20, 32)}`,
    ImageType: 1, Version: 7, Name: "wasphere-core", SizeBytes: bytes.length, Sha256: sha, File: `packages/${sha}.imagepackage`,
  });
  assert.deepEqual(new Uint8Array(readFileSync(join(feed, os.File))), bytes);
  assert.equal(m.Components.length, 2);
  // A lower version of the OS is refused, as for any component; so are an unsigned image and one with bytes after it.
  const old = join(tmp, "core-v6.img");
  assert.equal(wasphere(["core", "sign", "--key", k.priv, "--output", old, "--version", "6"]).status, 0);
  const lower = wasphere(["feed", "publish", "--key", k.priv, "--output", feed, old]);
  assert.equal(lower.status, 1);
  assert.match(lower.stderr, /version 6 of 3e0c9a7b-1d2f-4e58-8a6b-0c4d2e9f7a15; the feed has version 7/);
  const unsigned = join(tmp, "core-unsigned.img");
  const u = new Uint8Array(bytes);
  new DataView(u.buffer).setUint16(6, 0, true);
  writeFileSync(unsigned, u);
  const r1 = wasphere(["feed", "publish", "--key", k.priv, "--output", feed, unsigned]);
  assert.equal(r1.status, 1);
  assert.match(r1.stderr, /the core image is unsigned/);
  const padded = join(tmp, "core-padded.img");
  writeFileSync(padded, new Uint8Array([...bytes, 0]));
  const r2 = wasphere(["feed", "publish", "--key", k.priv, "--output", feed, padded]);
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /1 bytes follow the core image/);
});
