// Power loss while the core stages a core image from the update feed (drivers/update.ts: the other
// OS slot erased, trailer block first, the image programmed, the PENDING record appended): a
// field-mode device whose primary slot holds core v1 takes v2 from its feed, with the flash cut
// at its 1st, 2nd, ... program or erase after the feed appears (lost and torn, alternately),
// until one staging runs uncut. After every cut the bytes left boot through the boot loader into
// v1 or v2, never neither, counter 0 never above the version booted; the uncut run boots v2 on
// trial and confirms it. The cut count is printed.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { bootOs, readCounter, signCoreImage, writeCoreImage } from "../../host/boot-loader.js";
import { CORE_WASM_PATH } from "../../host/core.js";
import { FlashDevice } from "../../host/device-flash.js";
import { Flash } from "../../host/flash.js";
import { openSecurityProcessor } from "../../host/pluton/link.js";
import type { PlutonStore } from "../../host/pluton/processor.js";
import { cache, freshFlash } from "../host/device-flash-support.js";
import { testSigner } from "../host/trust-support.js";
import { FeedServer, SnapshotFlash, bootRunning, coreFeed, fieldStore, sha } from "./ota-support.js";

const CORE = new Uint8Array(readFileSync(CORE_WASM_PATH));
const V1 = await signCoreImage(CORE, testSigner, 1);
const V2 = await signCoreImage(CORE, testSigner, 2);

/** What `bytes` boot as through the boot loader over `store`: the version booted, and counter 0 after. */
async function bootsAs(flash: Flash, bytes: Uint8Array, store: PlutonStore): Promise<{ version: number; counter: number; lines: string[] }> {
  const copy = new Flash({ blockSizeBytes: flash.blockSizeBytes, blockCount: flash.blockCount }, bytes.slice());
  const os = await bootOs(copy, async () => (await openSecurityProcessor(store)).link, (core, link) =>
    FlashDevice.boot(copy, { startApps: false, instrumentCache: cache, gpioPinCount: 96, securityProcessor: link, coreModule: core.module }));
  os.booted.device.shutdown();
  return { version: os.core.image.version, counter: await readCounter((await openSecurityProcessor(store)).link, 0), lines: os.lines };
}

test("a power cut at every flash program and erase of a core image staged from the feed: the device boots v1 or v2, never neither", async () => {
  const base = await freshFlash();
  writeCoreImage(base, V1);
  const feedV2 = await coreFeed(1, 2, V2);
  const server = new FeedServer("/nonexistent");
  server.override.set(`/packages/${sha(V2)}.imagepackage`, V2);
  await server.start();
  let cuts = 0;
  const seen = new Set<number>();
  try {
    for (let at = 1; ; at++) {
      const flash = new SnapshotFlash({ blockSizeBytes: base.blockSizeBytes, blockCount: base.blockCount }, base.bytes.slice());
      const store = await fieldStore();
      server.override.set("/feed.json", new Uint8Array(0));
      const r = await bootRunning(flash, server.feedUrl, await openSecurityProcessor(store));
      let cut = false;
      try {
        await r.until("network-manager", /^networking ready/);
        flash.armPowerCut(at, at % 2 ? "torn" : "lost");
        server.override.set("/feed.json", feedV2);
        const deadline = Date.now() + 30000;
        while (flash.atCut === null && r.dev.device.rebootRequest === null) {
          if (Date.now() > deadline) throw new Error(`cut ${at}: neither a cut nor a staged core; agent: ${JSON.stringify(r.logs("update-agent"))}`);
          await new Promise((res) => setTimeout(res, 5));
        }
        cut = flash.atCut !== null;
      } finally {
        await r.stop();
      }
      const booted = await bootsAs(flash, flash.atCut ?? flash.bytes, store);
      seen.add(booted.version);
      assert.ok(booted.version === 1 || booted.version === 2, `cut ${at}: booted v${booted.version}`);
      assert.ok(booted.counter <= booted.version, `cut ${at}: counter 0 is ${booted.counter} over v${booted.version}`);
      if (!cut) {
        assert.equal(booted.version, 2, booted.lines.join("; "));
        assert.deepEqual(booted.lines, ["os-b (v2) confirmed after its trial: the primary slot now; counter 0 advanced from 0 to 2"]);
        break;
      }
      cuts++;
    }
  } finally {
    await server.stop();
  }
  // The slot's 32 erase blocks, the image's programs, the record: every one was cut.
  assert.ok(cuts > 40, `only ${cuts} cuts`);
  assert.deepEqual([...seen].sort(), [1, 2]);
  console.log(`# cuts: ${cuts}`);
});
