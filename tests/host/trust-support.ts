// Shared by the tests of devices on flash: a signing key the tests' security processors trust for
// the OS and for apps, processors provisioned with it (in development mode unless asked for field
// mode), and packages signed with it, so every test runs under the device's rule that every image
// is signed by a trusted key.
import { createKeyPairPem, publicKeyDerFromPem, signerFromPem, type Signer } from "../../host/pluton/keys.js";
import { openSecurityProcessor, memoryStore } from "../../host/pluton/link.js";
import { createCapability } from "../../host/pluton/capability.js";
import { parsePackage, signPackage, withSignature } from "../../host/apps/imagepkg.js";
import { FlashDevice, type BootOptions } from "../../host/device-flash.js";
import type { Flash } from "../../host/flash.js";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { signCoreImage } from "../../host/boot-loader.js";
import { packSystemApps } from "../../host/net/system-apps.js";
import { CORE_WASM_PATH } from "../../host/core.js";
import { createDevice } from "../../host/device-cli.js";
import { enableDevelopment, folderProcessor } from "../../host/secure-device.js";

export async function newSigner(): Promise<Signer & { publicPem: string; privatePem: string; spkiDer: Uint8Array }> {
  const pair = await createKeyPairPem();
  const signer = await signerFromPem(pair.privatePem, "test key");
  return { ...signer, ...pair, spkiDer: await publicKeyDerFromPem(pair.publicPem, "test key") };
}

export const testSigner = await newSigner();

/** A processor (memory store) trusting `roots` for the OS and apps, in `mode`. */
export async function trustedProcessor(mode: "development" | "field" = "development", roots = [testSigner]) {
  const { link, processor } = await openSecurityProcessor(memoryStore());
  await processor.provision(roots.flatMap((r) => [{ role: "os" as const, spkiDer: r.spkiDer }, { role: "app" as const, spkiDer: r.spkiDer }]));
  if (mode === "development") await processor.applyCapability(await createCapability(processor.identity().deviceId, roots[0]));
  return { link, processor };
}

/** A new development-mode processor's link (a link answers one device: each boot gets its own). */
export const devLink = async () => (await trustedProcessor()).link;

/** `pkg` signed with the test key (checked as pack-application --sign checks it). */
export const signed = (pkg: Uint8Array, signer: Signer = testSigner) => signPackage(pkg, signer);

/**
 * `pkg` signed without the host's manifest check (for packages only the device's core should
 * judge); a package the core cannot parse is returned as it is (the core refuses it before any
 * signature matters).
 */
export async function signedRaw(pkg: Uint8Array, signer: Signer = testSigner): Promise<Uint8Array> {
  let info;
  try { info = parsePackage(pkg); } catch { return pkg; }
  return withSignature(pkg, info, signer);
}

/** FlashDevice.boot with a development-mode processor of its own unless `opts` names one. */
export async function trustedBoot(flash: Flash, opts: BootOptions): Promise<FlashDevice> {
  return FlashDevice.boot(flash, { ...opts, securityProcessor: opts.securityProcessor ?? await devLink() });
}

let testCorePaths: { pub: string; core: string } | null = null;
/** The test key's public half and the build's core signed with it, as files (made once a process). */
export async function testKeyFiles(): Promise<{ pub: string; core: string }> {
  if (testCorePaths) return testCorePaths;
  const dir = mkdtempSync(join(tmpdir(), "wasphere-trust-"));
  const pub = join(dir, "test.pub"), core = join(dir, "core.img");
  writeFileSync(pub, testSigner.publicPem);
  writeFileSync(core, await signCoreImage(new Uint8Array(readFileSync(CORE_WASM_PATH)), testSigner, 1, await packSystemApps()));
  testCorePaths = { pub, core };
  return testCorePaths;
}

/**
 * A device folder as `device create --trust test.pub --core core.img` makes it, then put in
 * development mode with a capability the test key signed: packages signed with `signed` install.
 */
export async function createTrustedDevice(dir: string, flashBytes = 2 * 1024 * 1024, pins = 16, mode: "development" | "field" = "development"): Promise<void> {
  const { pub, core } = await testKeyFiles();
  await createDevice(dir, flashBytes, pins, { trust: [pub], core });
  if (mode === "field") return;
  const cap = join(dirname(dir), `${basename(dir)}.capability`);
  const { deviceId } = (await folderProcessor(dir)).identity();
  writeFileSync(cap, await createCapability(deviceId, testSigner));
  await enableDevelopment(dir, cap);
}
