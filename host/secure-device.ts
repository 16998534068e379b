// secure-device: a device folder's trust, as its security processor holds it (SPEC.md, "Device
// folder", "Device capability", "Core image"): provisioning the trusted roots when the device is
// made, writing a signed core into its primary OS slot, its development and field modes.
//
// Two ways a device is made. With --trust / --trust-os / --trust-app: the given public keys are
// its roots and it starts in field mode (a device as it leaves the factory): sideload is refused
// until a capability signed by one of its roots enables development; its core must be written
// signed by an OS root (`--core IMG`, or `device write-core` later). Without any: a development
// device: a key pair is made in the folder (DEV/development-key.pem, .pub), trusted for the OS
// and for apps, the build's core (with the tree's system apps) is signed with it and written to the factory OS slot, and a
// capability signed with it puts the device in development mode. Either way every image the
// device runs is signed by a key it trusts; only who holds the key differs.
// Invariants: the processor's store is written only through PlutonProcessor's management calls;
// the development key is written once (0600) and never overwritten.
// Memory: one core image. Must not: trust a key that was not given (or made here), or change a
// running device's processor (the folder's lock is held).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Flash } from "./flash.js";
import { openSecurityProcessor } from "./pluton/link.js";
import { fileStore } from "./pluton/store-node.js";
import { TrustError, type PlutonProcessor, type RootRole } from "./pluton/processor.js";
import { createKeyFiles, publicKeyDerFromPem, readKeyText, signerFromPem } from "./pluton/keys.js";
import { createCapability } from "./pluton/capability.js";
import { BootError, loadVerifiedCore, parseCoreImage, readCounter, signCoreImage, writeCoreImage } from "./boot-loader.js";
import type { SecurityProcessorLink } from "./pluton/link.js";
import { CORE_WASM_PATH } from "./core.js";
import { lockDevice } from "./device-folder.js";
import { printable } from "./printable.js";

export const DEVELOPMENT_KEY = "development-key";

export interface TrustOptions {
  /** Public keys trusted for the OS and for apps. */
  trust?: string[];
  trustOs?: string[];
  trustApp?: string[];
  /** A signed core image to write into the factory OS slot. */
  core?: string;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Opens the folder's security processor (its store DEV/pluton.json, made on first use). */
export async function folderProcessor(dir: string): Promise<PlutonProcessor> {
  return (await openSecurityProcessor(fileStore(dir))).processor;
}

/** Provisions a new device in `dir` whose flash is `flash` (not yet saved): the lines to print. */
export async function provisionNewDevice(dir: string, flash: Flash, opts: TrustOptions): Promise<string[]> {
  const lines: string[] = [];
  const roots: { role: RootRole; spkiDer: Uint8Array; path: string }[] = [];
  const add = (paths: string[] | undefined, roles: RootRole[]) => Promise.all((paths ?? []).map(async (path) => {
    const der = await publicKeyDerFromPem(readKeyText(path), printable(path));
    for (const role of roles) roots.push({ role, spkiDer: der, path });
  }));
  await add(opts.trust, ["os", "app"]);
  await add(opts.trustOs, ["os"]);
  await add(opts.trustApp, ["app"]);
  const processor = await folderProcessor(dir);
  const id = hex(processor.identity().deviceId);
  if (roots.length > 0) {
    await processor.provision(roots);
    for (const r of processor.trustedRoots()) lines.push(`trusts key ${r.keyId} for ${r.role === "os" ? "the OS" : "apps"}`);
    if (opts.core) {
      lines.push(`${writeCoreImage(flash, new Uint8Array(readFileSync(opts.core)))}: core image from ${printable(opts.core)}`);
    } else {
      lines.push(`os-a: no core yet: write one signed by an OS key: wasphere core sign --key OS.pem --output core.img; wasphere device write-core ${printable(dir)} core.img`);
    }
    lines.push(`device ${id}: field mode (sideload refused; enable development with a capability: wasphere device capability create --key KEY.pem --device-id ${id} --output FILE)`);
    return lines;
  }
  if (opts.core) throw new TrustError("--core needs the key that signed it trusted: give --trust or --trust-os");
  const made = await createKeyFiles(join(dir, DEVELOPMENT_KEY));
  const signer = await signerFromPem(readKeyText(made.privatePath), made.privatePath);
  const core = new Uint8Array(readFileSync(CORE_WASM_PATH));
  const { packSystemApps } = await import("./net/system-apps.js");
  const slot = writeCoreImage(flash, await signCoreImage(core, signer, 1, await packSystemApps()));
  const spkiDer = await publicKeyDerFromPem(readKeyText(made.publicPath), made.publicPath);
  await processor.provision([{ role: "os", spkiDer }, { role: "app", spkiDer }]);
  await processor.applyCapability(await createCapability(processor.identity().deviceId, signer));
  lines.push(`no --trust given: a development device: key ${made.keyId} (${printable(made.privatePath)}) is trusted for the OS and apps; sign packages with --sign ${printable(made.privatePath)}`);
  lines.push(`${slot}: the build's core and system apps, signed with it`);
  lines.push(`device ${id}: development mode`);
  return lines;
}

/** Development mode for the stopped device in `dir`, from a capability file. */
export async function enableDevelopment(dir: string, capabilityPath: string): Promise<string> {
  const release = lockDevice(dir);
  try {
    const processor = await folderProcessor(dir);
    const bytes = new Uint8Array(readKeyBytes(capabilityPath));
    const r = await processor.applyCapability(bytes);
    return `device ${hex(processor.identity().deviceId)}: development mode (capability signed by key ${r.signerKeyId}, trusted for ${r.role === "os" ? "the OS" : "apps"}); sideload is allowed, every image must still be signed by a trusted key`;
  } finally { release(); }
}

/** Field mode again for the stopped device in `dir` (its capability dropped). */
export async function disableDevelopment(dir: string): Promise<string> {
  const release = lockDevice(dir);
  try {
    const processor = await folderProcessor(dir);
    await processor.clearCapability();
    return `device ${hex(processor.identity().deviceId)}: field mode (sideload refused; the device runs what its update feed signs)`;
  } finally { release(); }
}

function readKeyBytes(path: string): Buffer {
  try { return readFileSync(path); } catch (err) { throw new TrustError(`${printable(path)}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`); }
}

/** What the device's processor says about itself: id, public key, mode, roots. */
export async function securityReport(dir: string): Promise<{ deviceId: string; publicKey: string; mode: string; trustedRoots: { role: RootRole; keyId: string }[] }> {
  const processor = await folderProcessor(dir);
  const { deviceId, publicKey } = processor.identity();
  return { deviceId: hex(deviceId), publicKey: hex(publicKey), mode: processor.mode, trustedRoots: processor.trustedRoots() };
}

/**
 * Writes a signed core image into the stopped device's primary OS slot (provisioning: see
 * writeCoreImage); an image below the processor's counter 0 is refused, as it would never boot.
 */
export async function writeCoreToDevice(dir: string, imagePath: string, flash: Flash): Promise<string> {
  const image = new Uint8Array(readKeyBytes(imagePath));
  const { version } = parseCoreImage(image, "core image");
  const counter = await readCounter((await openSecurityProcessor(fileStore(dir))).link, 0);
  if (version < counter) throw new BootError(`write-core: core image version ${version} is below the security processor's counter 0 (${counter}): refused (anti-rollback; it would never boot)`);
  return `${writeCoreImage(flash, image)}: core image from ${printable(imagePath)} (${image.length} bytes); the boot loader verifies it at every boot`;
}

/**
 * Secure boot of a device folder for the verbs on a stopped device: its security processor
 * opened, the core in its primary OS slot verified by it and compiled; no trial, no record written. Throws BootError with the one-line reason a core is refused.
 */
export async function secureBootFolder(dir: string, flash: Flash): Promise<{ securityProcessor: SecurityProcessorLink; coreModule: WebAssembly.Module; line: string }> {
  const { link } = await openSecurityProcessor(fileStore(dir));
  const core = await loadVerifiedCore(flash, link);
  return {
    securityProcessor: link, coreModule: core.module,
    line: `${core.slot}: core image version ${core.image.version}, signed by key ${hex(core.image.keyId)}, verified (measurement ${hex(core.digest)})`,
  };
}
