// The boot measurement is what booted (host/pluton/processor.ts, SPEC.md "Attestation"): the
// security processor latches it only from the boot loader's role-3 check of the image it boots,
// never from the role-1 check of a core image staged as an update. A field-mode device booted
// without the boot loader attests 32 zero bytes, before and after it stages v2 from its feed; one
// booted through the boot loader from v1 attests v1 while v2 is staged, and v2 once v2 booted on
// trial. Each statement is checked against the device key with WebCrypto.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { bootOs, signCoreImage, writeCoreImage, CORE_IMAGE_HEADER_BYTES } from "../../host/boot-loader.js";
import { CORE_WASM_PATH } from "../../host/core.js";
import { FlashDevice } from "../../host/device-flash.js";
import { openSecurityProcessor } from "../../host/pluton/link.js";
import type { PlutonStore } from "../../host/pluton/processor.js";
import { cache, freshFlash } from "../host/device-flash-support.js";
import { testSigner } from "../host/trust-support.js";
import { FeedServer, bootRunning, coreFeed, fieldStore, sha, type Running } from "./ota-support.js";

const CORE = new Uint8Array(readFileSync(CORE_WASM_PATH));
const V1 = await signCoreImage(CORE, testSigner, 1);
const V2 = await signCoreImage(CORE, testSigner, 2);
/** A core image's measurement: SHA-256 of its signed bytes (the header's first 16, the stored core). */
const measurementOf = (image: Uint8Array) => sha(new Uint8Array([...image.subarray(0, 16), ...image.subarray(CORE_IMAGE_HEADER_BYTES)]));
const STAGED = "update: core image version 2 staged in the other OS slot (PENDING); reboot requested";

/** The boot measurement `dev` attests (hex), its statement's signature checked with the device key. */
async function attested(dev: FlashDevice, store: PlutonStore): Promise<string> {
  const nonce = new Uint8Array(32).fill(7);
  const { statement, signature } = await dev.attest(nonce);
  const { processor } = await openSecurityProcessor(store);
  const key = await crypto.subtle.importKey("raw", processor.identity().publicKey as Uint8Array<ArrayBuffer>, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  assert.ok(await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, signature as Uint8Array<ArrayBuffer>, statement as Uint8Array<ArrayBuffer>), "signed by the device key");
  assert.deepEqual(statement.subarray(24, 56), nonce);
  return Buffer.from(statement.subarray(56, 88)).toString("hex");
}

async function feedOfV2(): Promise<FeedServer> {
  const server = new FeedServer("/nonexistent");
  server.override.set("/feed.json", await coreFeed(1, 2, V2));
  server.override.set(`/packages/${sha(V2)}.imagepackage`, V2);
  await server.start();
  return server;
}

test("a device booted without the boot loader attests zeros, and staging v2 from its feed does not make v2 its measurement", async () => {
  const flash = await freshFlash();
  writeCoreImage(flash, V1);
  const server = await feedOfV2();
  const store = await fieldStore();
  const r = await bootRunning(flash, server.feedUrl, await openSecurityProcessor(store));
  try {
    assert.equal(await attested(r.dev, store), "00".repeat(32), "nothing verified booted");
    // Staging checks v2 through the processor (VERIFY_TRUSTED, role 1): verified, not a measurement.
    await r.until("update-agent", STAGED, 30000);
    assert.equal(await attested(r.dev, store), "00".repeat(32));
  } finally {
    await r.stop();
    await server.stop();
  }
});

test("booted through the boot loader, the measurement is v1's while v2 is staged, and v2's once v2 booted on trial", async () => {
  const flash = await freshFlash();
  writeCoreImage(flash, V1);
  const server = await feedOfV2();
  const store = await fieldStore();
  const powerOn = async () => (await openSecurityProcessor(store)).link;
  let r: Running | null = null;
  try {
    const os = await bootOs(flash, powerOn, async (core, link) => (r = await bootRunning(flash, server.feedUrl, { link }, "field", core.module)));
    assert.equal(os.core.slot, "os-a");
    const running = r as unknown as Running;
    assert.equal(await attested(running.dev, store), await measurementOf(V1));
    await running.until("update-agent", STAGED, 30000);
    assert.equal(await attested(running.dev, store), await measurementOf(V1), "the staged image is not what booted");
  } finally {
    await (r as Running | null)?.stop();
    await server.stop();
  }
  // The reboot the staging asked for: the boot loader tries os-b and confirms it.
  const again = await bootOs(flash, powerOn, (core, link) =>
    FlashDevice.boot(flash, { startApps: false, instrumentCache: cache, gpioPinCount: 96, securityProcessor: link, coreModule: core.module }));
  try {
    assert.deepEqual([again.core.slot, again.trial?.confirmed], ["os-b", true]);
    assert.equal(await attested(again.booted, store), await measurementOf(V2));
  } finally {
    again.booted.device.shutdown();
  }
});
