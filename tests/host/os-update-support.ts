// Shared by the OS update tests: the build's core signed as v1, v2, v3 with the test key; a
// security processor store (its counters survive power-offs) trusting that key, in development
// mode; a power-on of it (a fresh processor over the store, as each boot opens one); a boot as
// `device boot` does it (the boot loader over a FlashDevice); a device in the factory state with
// v1 in os-a, booted once.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { bootOs, readCounter, signCoreImage, writeCoreImage, type VerifiedCore } from "../../host/boot-loader.js";
import { FlashDevice } from "../../host/device-flash.js";
import { CORE_WASM_PATH } from "../../host/core.js";
import { openSecurityProcessor, memoryStore, type SecurityProcessorLink } from "../../host/pluton/link.js";
import { createCapability } from "../../host/pluton/capability.js";
import type { PlutonStore } from "../../host/pluton/processor.js";
import type { Flash } from "../../host/flash.js";
import { cache, freshFlash } from "./device-flash-support.js";
import { testSigner } from "./trust-support.js";

export const CORE = new Uint8Array(readFileSync(CORE_WASM_PATH));
export const V1 = await signCoreImage(CORE, testSigner, 1);
export const V2 = await signCoreImage(CORE, testSigner, 2);
export const V3 = await signCoreImage(CORE, testSigner, 3);

/** The device's processor store, trusting the test key for the OS and apps, in development mode. */
export async function processorStore(): Promise<PlutonStore> {
  const store = memoryStore();
  const { processor } = await openSecurityProcessor(store);
  await processor.provision([{ role: "os", spkiDer: testSigner.spkiDer }, { role: "app", spkiDer: testSigner.spkiDer }]);
  await processor.applyCapability(await createCapability(processor.identity().deviceId, testSigner));
  return store;
}
export const powerOn = (store: PlutonStore) => async () => (await openSecurityProcessor(store)).link;
export const counter0 = async (store: PlutonStore) => readCounter(await powerOn(store)(), 0);

/** A boot of `flash` as `device boot` does it: the boot loader, then the device booted over the core it verified. */
export const boot = (flash: Flash, store: PlutonStore, on = powerOn(store)) => bootOs(flash, on, (core: VerifiedCore, link: SecurityProcessorLink) =>
  FlashDevice.boot(flash, { startApps: true, instrumentCache: cache, gpioPinCount: 96, securityProcessor: link, coreModule: core.module }));

/** A device in the factory state holding v1 in os-a, booted once (counter 0 is then 1). */
export async function factoryV1(): Promise<{ flash: Flash; store: PlutonStore }> {
  const flash = await freshFlash();
  const store = await processorStore();
  assert.equal(writeCoreImage(flash, V1), "os-a");
  const first = await boot(flash, store);
  assert.deepEqual([first.core.slot, first.core.image.version, first.lines, first.trial], ["os-a", 1, ["counter 0 advanced from 0 to 1 (os-a, the primary slot, v1)"], null]);
  assert.equal(await counter0(store), 1);
  return { flash, store };
}
