// Power loss during an over-the-air app update: a field-mode device running version 1 takes
// version 2 from its feed through the update agent, with the flash cut (lost: the interrupted
// program or erase not done; torn: half done) at its 1st, 2nd, ... program or erase after the feed appears, until
// one update runs uncut. The flash's bytes at the cut are what a power loss leaves (the running
// host is only told the operation failed, so nothing is thrown through the core); after every cut
// those bytes boot with the app wholly version 1 or wholly version 2, admitted, the list intact:
// never neither. The cut count is printed.
import test from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { Flash } from "../../host/flash.js";
import { FlashDevice } from "../../host/device-flash.js";
import { publishFeed } from "../../host/update-feed.js";
import { cache, freshFlash } from "../host/device-flash-support.js";
import { testSigner, trustedProcessor } from "../host/trust-support.js";
import { FeedServer, SnapshotFlash, bootRunning, counterPkg } from "./ota-support.js";

const V1 = await counterPkg(1, "v1");
const V2 = await counterPkg(2, "v2");

/** What a fresh boot of `bytes` admits: name@version of every entry (each must be admitted). */
async function bootsWith(flash: Flash, bytes: Uint8Array): Promise<string> {
  const copy = new Flash({ blockSizeBytes: flash.blockSizeBytes, blockCount: flash.blockCount }, bytes.slice());
  const dev = await FlashDevice.boot(copy, { startApps: false, instrumentCache: cache, gpioPinCount: 96, securityProcessor: (await trustedProcessor("field")).link });
  assert.equal(dev.bootReport.refused, 0, dev.bootReport.lines.join("\n"));
  for (const x of dev.entries()) assert.equal(x.status, 0);
  return (await dev.listInstalled()).map((x) => `${x.name}@${x.version}`).join(",");
}

test("a power cut at every flash program and erase of an app update from the feed: the device boots version 1 or version 2, never neither", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wasphere-ota-cut-"));
  const base = await freshFlash();
  const factory = await FlashDevice.boot(base, { startApps: false, instrumentCache: cache, gpioPinCount: 96, securityProcessor: (await trustedProcessor("development")).link });
  await factory.deploy(V1);
  writeFileSync(join(dir, "v2.imagepackage"), V2);
  await publishFeed(join(dir, "feed"), testSigner.privatePem, [join(dir, "v2.imagepackage")]);
  const feedV2 = new Uint8Array(readFileSync(join(dir, "feed", "feed.json")));
  const server = new FeedServer(join(dir, "feed"));
  await server.start();
  let cuts = 0;
  const seen = new Set<string>();
  try {
    // Each operation cut twice over: lost (not done at all) and torn (half done).
    for (const mode of ["lost", "torn"] as const) for (let at = 1; ; at++) {
      const flash = new SnapshotFlash({ blockSizeBytes: base.blockSizeBytes, blockCount: base.blockCount }, base.bytes.slice());
      // No feed until the device runs version 1; then the feed names version 2 and the cut is armed.
      server.override.set("/feed.json", new Uint8Array(0));
      const r = await bootRunning(flash, server.feedUrl);
      let cut = false;
      try {
        await r.until("ota-counter", "v1: start 1");
        flash.armPowerCut(at, mode);
        server.override.set("/feed.json", feedV2);
        const deadline = Date.now() + 20000;
        while (flash.atCut === null && !r.logs("ota-counter").includes("v2: start 2")) {
          if (Date.now() > deadline) throw new Error(`cut ${at}: neither a cut nor version 2; agent: ${JSON.stringify(r.logs("update-agent"))}`);
          await new Promise((res) => setTimeout(res, 10));
        }
        cut = flash.atCut !== null;
      } finally {
        await r.stop();
      }
      const state = await bootsWith(flash, flash.atCut ?? flash.bytes);
      seen.add(state);
      if (!cut) {
        assert.equal(state, "ota-counter@2");
        break;
      }
      cuts++;
      assert.ok(state === "ota-counter@1" || state === "ota-counter@2", `cut ${at} (${flash.powerCutKind}): the device boots with ${state}`);
    }
  } finally {
    await server.stop();
  }
  assert.ok(cuts > 20, `only ${cuts} cuts: the update must erase and program the package's blocks and the list`);
  assert.deepEqual([...seen].sort(), ["ota-counter@1", "ota-counter@2"]);
  console.log(`# cuts: ${cuts}`);
});
