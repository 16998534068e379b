// A feed that lies about a core image: each lie is refused by the core with its reason (the
// agent's log line and the EV_UPDATE_REFUSED audit line), and changes nothing: the other OS slot
// keeps no boot-state record, no reboot is asked for, and counter 0 stays where it was. The lies:
// bytes that are not the entry's SHA-256, a file shorter or longer than the entry declares, an
// image altered after signing (its SHA-256 published), bytes that are no core image, an image
// below counter 0, and an entry declaring more bytes than an OS slot holds.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as abi from "../../assembly/abi.js";
import { advanceCounter, signCoreImage, writeCoreImage, CORE_IMAGE_HEADER_BYTES } from "../../host/boot-loader.js";
import { CORE_WASM_PATH } from "../../host/core.js";
import { readTable } from "../../host/flash-layout.js";
import { freshFlash } from "../host/device-flash-support.js";
import { testSigner } from "../host/trust-support.js";
import { FeedServer, bootRunning, coreFeed, fieldStore, sha } from "./ota-support.js";
import { openSecurityProcessor } from "../../host/pluton/link.js";

const CORE = new Uint8Array(readFileSync(CORE_WASM_PATH));

interface Lie { name: string; feed: (good: Uint8Array) => Promise<{ feed: Uint8Array; served: Uint8Array; file: string }>; counter0?: number; agent: (good: Uint8Array) => string | RegExp; audit: string | null }

const at = (image: Uint8Array) => `/packages/${sha(image)}.imagepackage`;
const LIES: Lie[] = [
  { name: "bytes that are not the entry's SHA-256",
    feed: async (good) => { const bad = good.slice(); bad[bad.length - 1] ^= 1; return { feed: await coreFeed(1, 2, good), served: bad, file: at(good) }; },
    agent: () => /^update: refused: /, audit: "update-agent: update refused (EINTEGRITY): the download's SHA-256 is not its feed entry's" },
  { name: "a file shorter than its entry",
    feed: async (good) => ({ feed: await coreFeed(1, 2, good), served: good.subarray(0, good.length - 100), file: at(good) }),
    agent: () => /^update: refused: /, audit: "update-agent: update refused (ENODATA): the download is shorter than its feed entry declares" },
  { name: "a file longer than its entry",
    feed: async (good) => { const long = new Uint8Array(good.length + 100); long.set(good); return { feed: await coreFeed(1, 2, good), served: long, file: at(good) }; },
    // The agent's download stops at the declared size: the core is never handed the extra bytes.
    agent: (good) => `update: refused: packages/${sha(good)}.imagepackage is longer than the ${good.length} bytes its feed entry declares`, audit: null },
  { name: "an image altered after signing, its altered SHA-256 published",
    feed: async (good) => { const bad = good.slice(); bad[CORE_IMAGE_HEADER_BYTES + 40] ^= 1; return { feed: await coreFeed(1, 2, bad), served: bad, file: at(bad) }; },
    agent: () => "update: refused: the core image's signature does not verify (altered after signing)",
    audit: "update-agent: update refused (EINTEGRITY): the core image's signature does not verify" },
  { name: "bytes that are no core image",
    feed: async () => { const junk = new Uint8Array(4096).map((_, i) => (i * 131) & 0xff); return { feed: await coreFeed(1, 2, junk), served: junk, file: at(junk) }; },
    agent: () => /^update: refused: /, audit: "update-agent: update refused (EINVAL): not a signed core image" },
  { name: "an image below counter 0", counter0: 5,
    feed: async (good) => ({ feed: await coreFeed(1, 6, good), served: good, file: at(good) }),
    agent: () => /^update: refused: /, audit: "update-agent: update refused (EROLLBACK): the core image is below the device's OS version counter" },
  { name: "an entry declaring more bytes than an OS slot holds",
    feed: async (good) => ({ feed: await coreFeed(1, 2, good, testSigner, { SizeBytes: 1 << 30 }), served: good, file: at(good) }),
    agent: () => /^update: refused: /, audit: "update-agent: update refused (EFBIG): the package is larger than a package may be" },
];

for (const lie of LIES) {
  test(`a feed that lies about a core image is refused and changes nothing: ${lie.name}`, async () => {
    const flash = await freshFlash();
    writeCoreImage(flash, await signCoreImage(CORE, testSigner, 1));
    const osB = readTable(flash).find((p) => p.name === "os-b")!;
    const slotB = () => flash.bytes.subarray(osB.offsetBytes, osB.offsetBytes + osB.sizeBytes);
    const good = await signCoreImage(CORE, testSigner, 2);
    const { feed, served, file } = await lie.feed(good);
    const server = new FeedServer("/nonexistent");
    server.override.set(file, served);
    server.override.set("/feed.json", feed);
    await server.start();
    const store = await fieldStore();
    const processor = await openSecurityProcessor(store);
    if (lie.counter0 !== undefined) await advanceCounter(processor.link, 0, lie.counter0);
    const r = await bootRunning(flash, server.feedUrl, processor);
    try {
      const line = await r.until("update-agent", lie.agent(good), 30000);
      assert.ok(!/[\u0000-\u001f]/.test(line), line);
      if (lie.audit !== null) assert.ok(r.audits().includes(lie.audit), `wanted ${lie.audit}; audit: ${r.audits().join("\n")}`);
      else assert.equal(r.dev.device.audit().filter((a) => a.kind === abi.EV_UPDATE_REFUSED).length, 0);
      assert.equal(r.dev.device.audit().filter((a) => a.kind === abi.EV_REBOOT_REQUESTED).length, 0);
      assert.equal(r.dev.device.rebootRequest, null);
      assert.equal(r.dev.device.audit().filter((a) => a.kind === abi.EV_UPDATE_APPLIED).length, 0);
    } finally {
      await r.stop();
      await server.stop();
    }
    // The slot's trailer (the boot-state log) holds no record: nothing boots it.
    assert.ok(slotB().subarray(osB.sizeBytes - 4096).every((b) => b === 0xff), "no boot-state record in os-b");
  });
}
