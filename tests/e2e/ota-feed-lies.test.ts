// A feed that lies is refused with its reason and changes nothing: a field-mode device running
// version 2 of an app polls a feed whose every new Sequence tells another lie (a download that is
// not the bytes its entry hashes, a truncated one, a longer one, a package of another component, an older
// package behind a newer version number, an enormous size, a manifest altered after signing, one
// signed by a key the device does not trust, an older feed replayed, a feed that is not JSON).
// After each, the agent's log has the core's one-line reason and the audit ring an
// EV_UPDATE_REFUSED entry; at the end the installed-app list and the running app are as before.
import test from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { FlashDevice } from "../../host/device-flash.js";
import { cache, freshFlash, installed } from "../host/device-flash-support.js";
import { newSigner, testSigner, trustedProcessor } from "../host/trust-support.js";
import type { Signer } from "../../host/pluton/keys.js";
import { COUNTER_ID, OTHER_ID, FeedServer, bootRunning, counterPkg } from "./ota-support.js";

const V1 = await counterPkg(1, "v1");
const V2 = await counterPkg(2, "v2");
const V3 = await counterPkg(3, "v3");
const OTHER3 = await counterPkg(3, "other", OTHER_ID, "other");
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

interface Claim { version: number; bytes: Uint8Array; componentId?: string; sizeBytes?: number }
const entry = (c: Claim) => ({
  ComponentId: c.componentId ?? COUNTER_ID, ImageId: "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", ImageType: 10, Version: c.version, Name: "ota-counter",
  SizeBytes: c.sizeBytes ?? c.bytes.length, Sha256: sha(c.bytes), File: `packages/${sha(c.bytes)}.imagepackage`,
});

/** feed.json of Sequence `sequence` naming `claims`, signed by `signer` (its text then edited by `alter`, after signing). */
async function feed(sequence: number, claims: Claim[], signer: Signer = testSigner, alter = (t: string) => t): Promise<Uint8Array> {
  const manifest = { Format: "wasphere-feed/1", Sequence: sequence, PublishedUtc: "2026-12-03T12:00:00.000Z", KeyId: hex(signer.keyId), Components: claims.map(entry) };
  const text = JSON.stringify(manifest, null, 2);
  const signature = await signer.sign(new TextEncoder().encode(text));
  return new TextEncoder().encode(JSON.stringify({ Manifest: alter(text), Signature: { Algorithm: "ES256", Value: Buffer.from(signature).toString("base64") } }));
}

test("each lie of a feed is refused with its reason in the agent's log and the audit ring; the installed app keeps running unchanged", async () => {
  const flash = await freshFlash();
  const factory = await FlashDevice.boot(flash, { startApps: false, instrumentCache: cache, gpioPinCount: 96, securityProcessor: (await trustedProcessor("development")).link });
  await factory.deploy(V2);
  const listBefore = factory.entries().map((x) => [x.componentId, x.firstBlock, x.packageBytes, x.version]);
  const server = new FeedServer("/nonexistent");
  server.override.set("/feed.json", await feed(1, [{ version: 2, bytes: V2 }]));
  await server.start();
  const r = await bootRunning(flash, server.feedUrl);
  const agent = "update-agent";
  /** Serves `feedBytes` (and `files`), then waits for the agent's `lines` in order after what it logged so far. */
  const lie = async (feedBytes: Uint8Array, lines: string[], files: [Uint8Array, Uint8Array][] = []) => {
    const from = r.logs(agent).length;
    for (const [claimed, served] of files) server.override.set(`/packages/${sha(claimed)}.imagepackage`, served);
    server.override.set("/feed.json", feedBytes);
    await r.until(agent, lines[lines.length - 1], 20000);
    assert.deepEqual(r.logs(agent).slice(from), lines);
  };
  const downloading = (version: number, bytes: Uint8Array, installedVersion = 2) =>
    `update: ota-counter ${COUNTER_ID}: version ${installedVersion} -> ${version}, ${bytes.length} bytes from packages/${sha(bytes)}.imagepackage`;
  try {
    await r.until("ota-counter", "v2: start 1");
    await r.until(agent, "feed: sequence 1 verified, 1 component");

    const flipped = V3.slice(); flipped[200] ^= 1;
    await lie(await feed(2, [{ version: 3, bytes: V3 }]), [
      "feed: sequence 2 verified, 1 component", downloading(3, V3),
      "update: refused: the download's SHA-256 is not the one its feed entry names (altered in transit or at the server)",
    ], [[V3, flipped]]);

    const half = Math.floor(V3.length / 2);
    await lie(await feed(3, [{ version: 3, bytes: V3 }]), [
      "feed: sequence 3 verified, 1 component", downloading(3, V3),
      `update: refused: the download is truncated: ${half} of the ${V3.length} bytes its feed entry declares`,
    ], [[V3, V3.subarray(0, half)]]);

    const longer = new Uint8Array(V3.length + 100); longer.set(V3);
    await lie(await feed(30, [{ version: 3, bytes: V3 }]), [
      "feed: sequence 30 verified, 1 component", downloading(3, V3),
      `update: refused: packages/${sha(V3)}.imagepackage is longer than the ${V3.length} bytes its feed entry declares`,
    ], [[V3, longer]]);

    await lie(await feed(31, [{ version: 3, bytes: OTHER3 }]), [
      "feed: sequence 31 verified, 1 component", downloading(3, OTHER3),
      `update: refused: the package is ComponentId ${OTHER_ID}, not the feed entry's ${COUNTER_ID}`,
    ], [[OTHER3, OTHER3]]);

    await lie(await feed(32, [{ version: 5, bytes: V1 }]), [
      "feed: sequence 32 verified, 1 component", downloading(5, V1),
      "update: refused: the package is version 1, older than the installed version 2",
    ], [[V1, V1]]);

    const enormous = 3 * 1024 * 1024;
    await lie(await feed(33, [{ version: 3, bytes: V3, sizeBytes: enormous }]), [
      "feed: sequence 33 verified, 1 component",
      `update: ota-counter ${COUNTER_ID}: version 2 -> 3, ${enormous} bytes from packages/${sha(V3)}.imagepackage`,
      `update: refused: the feed entry declares ${enormous} bytes; a package is at most 2097152 (PKG_MAX_BYTES)`,
    ]);

    await lie(await feed(34, [{ version: 3, bytes: V3 }], testSigner, (t) => t.replace('"Version": 3', '"Version": 4')), [
      "feed: refused: its signature does not verify (the manifest was altered after it was signed)",
    ]);
    await lie(await feed(34, [{ version: 3, bytes: V3 }], await newSigner()), [
      "feed: refused: signed by a key this device does not trust for apps",
    ]);
    await lie(await feed(1, [{ version: 3, bytes: V3 }]), [
      "feed: refused: Sequence 1 is older than the last accepted (33): a replayed feed",
    ]);
    await lie(new TextEncoder().encode("{"), ["feed: refused: feed.json is not a JSON object (a key expected at offset 1)"]);

    // Nothing changed: the same list, the same app, still running, never restarted.
    await r.dev.updatesSettled();
    assert.deepEqual(await installed(r.dev), ["ota-counter@2"]);
    assert.deepEqual(r.dev.entries().map((x) => [x.componentId, x.firstBlock, x.packageBytes, x.version]), listBefore);
    assert.deepEqual(r.logs("ota-counter"), ["v2: start 1"]);
    assert.equal((await r.dev.status(COUNTER_ID)).state, "running");
    // Only packages whose size was plausible were fetched; the enormous one never was.
    assert.equal(server.hits.filter((h) => h === `/packages/${sha(V3)}.imagepackage`).length, 3);
    const refusals = r.audits().filter((t) => t.startsWith("update-agent: update refused"));
    assert.deepEqual(refusals, [
      "update-agent: update refused (EINTEGRITY): the download's SHA-256 is not its feed entry's",
      "update-agent: update refused (ENODATA): the download is shorter than its feed entry declares",
      "update-agent: update refused (EINVAL): the package is another component than its feed entry names",
      "update-agent: update refused (EROLLBACK): the package is older than the installed one",
      "update-agent: update refused (EFBIG): the package is larger than a package may be",
      "update-agent: update refused (EINTEGRITY): the feed's signature does not verify",
      "update-agent: update refused (EUNTRUSTED): the feed is signed by a key the device does not trust for apps",
      "update-agent: update refused (EROLLBACK): the feed is older than the last one accepted (replayed)",
    ]);
  } finally {
    await r.stop();
    await server.stop();
  }
});
