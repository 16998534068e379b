// A core image from the update feed: a field-mode device whose primary OS slot (os-a, the factory
// slot) holds core image version 1 takes version 2 from its feed through the update agent; the
// core checks the download's SHA-256, its signature with the OS roots (role 1) and counter 0,
// writes it into the other slot (os-b) and appends a PENDING record (sequence 1) to that slot's
// boot-state log, then asks for a reboot (EV_REBOOT_REQUESTED, reason 2), which ends the device's
// run. The boot after it (the boot loader, host/boot-loader.ts) tries os-b and confirms it, and
// the agent then finds the OS current. A feed offering an image signed by an untrusted key is
// refused, and the slot is left without PENDING: the primary boots.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as abi from "../../assembly/abi.js";
import { bootOs, signCoreImage, writeCoreImage } from "../../host/boot-loader.js";
import { CORE_WASM_PATH } from "../../host/core.js";
import { readTable } from "../../host/flash-layout.js";
import { crc32 } from "../../host/apps/imagepkg.js";
import { cache, freshFlash } from "../host/device-flash-support.js";
import { newSigner, testSigner } from "../host/trust-support.js";
import { FeedServer, OS_ID, bootRunning, coreFeed, fieldStore, sha } from "./ota-support.js";
import { FlashDevice } from "../../host/device-flash.js";
import { openSecurityProcessor } from "../../host/pluton/link.js";

const CORE = new Uint8Array(readFileSync(CORE_WASM_PATH));

test("a core image from the feed is written into the other OS slot, checked, marked PENDING, and the reboot it asks for boots it on trial and confirms it", async () => {
  const flash = await freshFlash();
  const v1 = await signCoreImage(CORE, testSigner, 1);
  const v2 = await signCoreImage(CORE, testSigner, 2);
  writeCoreImage(flash, v1);
  const osB = readTable(flash).find((p) => p.name === "os-b")!;
  const osA = readTable(flash).find((p) => p.name === "os-a")!;
  const trailer = () => flash.bytes.subarray(osB.offsetBytes + osB.sizeBytes - 4096, osB.offsetBytes + osB.sizeBytes);
  const server = new FeedServer("/nonexistent");
  server.override.set("/feed.json", await coreFeed(1, 2, v2));
  server.override.set(`/packages/${sha(v2)}.imagepackage`, v2);
  await server.start();
  const store = await fieldStore();
  const r = await bootRunning(flash, server.feedUrl, await openSecurityProcessor(store));
  const agent = "update-agent";
  try {
    await r.until(agent, "update: core image version 2 staged in the other OS slot (PENDING); reboot requested", 30000);
    assert.deepEqual(r.logs(agent).slice(1), [
      "feed: sequence 1 verified, 1 component",
      `update: wasphere-core ${OS_ID}: version 1 -> 2, ${v2.length} bytes from packages/${sha(v2)}.imagepackage`,
      "update: core image version 2 staged in the other OS slot (PENDING); reboot requested",
    ]);
    // os-b holds the image; its trailer's first record is PENDING, sequence 1, with its CRC; the rest erased.
    assert.deepEqual(flash.bytes.subarray(osB.offsetBytes, osB.offsetBytes + v2.length), v2);
    const t = trailer();
    const dv = new DataView(t.buffer, t.byteOffset, 16);
    assert.deepEqual([dv.getUint32(0, true), dv.getUint16(4, true), dv.getUint16(6, true), dv.getUint32(8, true)], [abi.BOOT_STATE_MAGIC, abi.BOOT_STATE_PENDING, 0, 1]);
    assert.equal(dv.getUint32(12, true), crc32(t.subarray(0, 12)));
    assert.ok(t.subarray(16).every((b) => b === 0xff));
    // os-a, the primary, is untouched.
    assert.deepEqual(flash.bytes.subarray(osA.offsetBytes, osA.offsetBytes + v1.length), v1);
    const reboot = r.dev.device.audit().filter((a) => a.kind === abi.EV_REBOOT_REQUESTED);
    assert.deepEqual(reboot.map((a) => [a.arg, a.result]), [[abi.REBOOT_REASON_OS_UPDATE, 1]]);
    // The request ends the device's run: the host reboots it.
    assert.equal(r.dev.device.rebootRequest?.reason, abi.REBOOT_REASON_OS_UPDATE);
  } finally {
    await r.stop();
  }
  // The reboot, as device boot does it: the boot loader tries os-b, and the healthy boot confirms it.
  const again = await bootOs(flash, async () => (await openSecurityProcessor(store)).link, (core, link) =>
    FlashDevice.boot(flash, { startApps: true, instrumentCache: cache, gpioPinCount: 96, securityProcessor: link, coreModule: core.module }));
  try {
    assert.deepEqual([again.core.slot, again.core.image.version, again.trial?.confirmed], ["os-b", 2, true]);
    assert.deepEqual(again.lines, ["os-b (v2) confirmed after its trial: the primary slot now; counter 0 advanced from 0 to 2"]);
  } finally {
    again.booted.device.shutdown();
  }
  // The agent on the new OS finds it current: nothing is fetched again.
  const hits = server.hits.length;
  const r2 = await bootRunning(flash, server.feedUrl, await openSecurityProcessor(store));
  try {
    await r2.until(agent, "feed: sequence 1 verified, 1 component", 30000);
    await new Promise((res) => setTimeout(res, 1500));
    assert.deepEqual(server.hits.slice(hits).filter((h) => h !== "/feed.json"), []);
  } finally {
    await r2.stop();
    await server.stop();
  }
});

test("a core image signed by a key the device does not trust for the OS is refused from the feed; its slot keeps no boot-state record", async () => {
  const flash = await freshFlash();
  writeCoreImage(flash, await signCoreImage(CORE, testSigner, 1));
  const osB = readTable(flash).find((p) => p.name === "os-b")!;
  const trailer = () => flash.bytes.subarray(osB.offsetBytes + osB.sizeBytes - 4096, osB.offsetBytes + osB.sizeBytes);
  const rogue = await signCoreImage(CORE, await newSigner(), 3);
  const server = new FeedServer("/nonexistent");
  server.override.set(`/packages/${sha(rogue)}.imagepackage`, rogue);
  server.override.set("/feed.json", await coreFeed(1, 3, rogue));
  await server.start();
  const r = await bootRunning(flash, server.feedUrl, await openSecurityProcessor(await fieldStore()));
  try {
    await r.until("update-agent", "update: refused: the core image is signed by a key this device does not trust for the OS", 30000);
    assert.ok(trailer().every((b) => b === 0xff), "a refused staging leaves the slot with no boot-state record");
    assert.equal(r.dev.device.audit().filter((a) => a.kind === abi.EV_REBOOT_REQUESTED).length, 0);
    assert.equal(r.dev.device.rebootRequest, null);
    assert.ok(r.audits().includes("update-agent: update refused (EUNTRUSTED): the core image is signed by a key the device does not trust for the OS"), r.audits().join("\n"));
  } finally {
    await r.stop();
    await server.stop();
  }
});
