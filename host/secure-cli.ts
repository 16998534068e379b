// `wasphere device id | write-core | capability create | enable-development | enable-cloud-test |
// disable-development` and `wasphere core sign`: the device's trust from the command line
// (host/secure-device.ts does the work; SPEC.md "Core image", "Device capability").
// Invariants: an error is one line on stderr and exit code 1; a private key is never printed.
// Must not: change a running device's security processor (the verbs take the folder's lock).
import { readFileSync, writeFileSync } from "node:fs";
import { Command, InvalidArgumentError } from "commander";
import { KeyError, readKeyText, signerFromPem } from "./pluton/keys.js";
import { createCapability } from "./pluton/capability.js";
import { BootError, signCoreImage } from "./boot-loader.js";
import { CORE_WASM_PATH } from "./core.js";
import { disableDevelopment, enableDevelopment, securityReport, writeCoreToDevice } from "./secure-device.js";
import { FolderFlash, deviceFlashPath, lockDevice } from "./device-folder.js";
import { printable } from "./printable.js";

type Action = <A extends unknown[]>(fn: (...args: A) => Promise<void> | void) => (...args: A) => Promise<void>;
const out = (line: string): void => { process.stdout.write(`${line}\n`); };

function deviceIdOption(value: string): Uint8Array {
  if (!/^[0-9a-fA-F]{32}$/.test(value)) throw new InvalidArgumentError("a device id is 32 hex digits (wasphere device id DEV prints it)");
  return new Uint8Array(Buffer.from(value, "hex"));
}

export function registerSecureDeviceCommands(device: Command, action: Action): void {
  device.command("id")
    .description("print the device's security processor: its device id, public key, mode (field or development) and the keys it trusts")
    .argument("<DEV>", "the device folder")
    .option("--json", "print one JSON object")
    .action(action(async (dir: string, opts: { json?: boolean }) => {
      const r = await securityReport(dir);
      if (opts.json) { out(JSON.stringify(r, null, 1)); return; }
      out(`device id:  ${r.deviceId}`);
      out(`public key: ${r.publicKey}`);
      out(`mode:       ${r.mode}`);
      for (const k of r.trustedRoots) out(`trusts:     ${k.keyId} for ${k.role === "os" ? "the OS" : "apps"}`);
      if (r.trustedRoots.length === 0) out("trusts:     no key (nothing can boot or be installed)");
    }));
  device.command("write-core")
    .description("write a signed core image (wasphere core sign) into the stopped device's primary OS slot (provisioning; an update goes through device update-core); the boot loader verifies it at every boot")
    .argument("<DEV>", "the device folder")
    .argument("<IMG>", "the signed core image")
    .action(action(async (dir: string, img: string) => {
      const release = lockDevice(dir);
      const flash = new FolderFlash(deviceFlashPath(dir));
      try { out(await writeCoreToDevice(dir, img, flash)); } finally { flash.close(); release(); }
    }));
  device.command("capability")
    .description("device capabilities (signed permissions for one device)")
    .command("create")
    .description("make a capability that enables development mode on one device, signed by KEY.pem (a key the device trusts)")
    .requiredOption("--key <KEY.pem>", "the signing key (its public half must be one of the device's trusted keys)")
    .requiredOption("--device-id <ID>", "the device's id, 32 hex digits (wasphere device id DEV)", deviceIdOption)
    .requiredOption("--output <FILE>", "where to write the 104-byte capability")
    .action(action(async (opts: { key: string; deviceId: Uint8Array; output: string }) => {
      const signer = await signerFromPem(readKeyText(opts.key), printable(opts.key));
      writeFileSync(opts.output, await createCapability(opts.deviceId, signer), { flag: "wx" });
      out(`${printable(opts.output)}: enables development on device ${Buffer.from(opts.deviceId).toString("hex")}, signed by key ${Buffer.from(signer.keyId).toString("hex")}`);
    }));
  device.command("enable-development")
    .description("put the stopped device in development mode (sideload allowed; every image must still be signed by a trusted key)")
    .argument("<DEV>", "the device folder")
    .requiredOption("--capability <FILE>", "a capability for this device signed by a key it trusts (wasphere device capability create)")
    .action(action(async (dir: string, opts: { capability: string }) => out(await enableDevelopment(dir, opts.capability))));
  for (const [name, what] of [["enable-cloud-test", "as a device in the field is tested"], ["disable-development", "undoing enable-development"]]) {
    device.command(name)
      .description(`put the stopped device back in field mode (${what}): sideload is refused, its capability is dropped`)
      .argument("<DEV>", "the device folder")
      .action(action(async (dir: string) => out(await disableDevelopment(dir))));
  }
}

/** One-line errors for `core sign` (the device verbs use device-cli's). */
const guard: Action = (fn) => async (...args) => {
  try { await fn(...args); } catch (err) {
    if (err instanceof KeyError || err instanceof BootError || err instanceof InvalidArgumentError || (err as NodeJS.ErrnoException).code) {
      process.stderr.write(`wasphere: ${printable((err as Error).message.split("\n")[0])}\n`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
};

export function registerCoreCommands(program: Command, action: Action = guard): void {
  const core = program.command("core").description("the core image the boot loader verifies");
  core.command("sign")
    .description("make a signed core image (SPEC.md, \"Core image\"): core.wasm and the system apps (system/*, built), for `device create --core`, `device write-core`, `device update-core` or `feed publish`")
    .requiredOption("--key <KEY.pem>", "the OS signing key")
    .requiredOption("--output <IMG>", "where to write the image")
    .option("--core <core.wasm>", "the core module (default: the build's)", CORE_WASM_PATH)
    .option("--version <N>", "the image's version (for anti-rollback)", (v: string) => {
      if (!/^\d+$/.test(v) || Number(v) > 0xffffffff) throw new InvalidArgumentError("an integer from 0 to 4294967295");
      return Number(v);
    }, 1)
    .action(action(async (opts: { key: string; output: string; core: string; version: number }) => {
      const signer = await signerFromPem(readKeyText(opts.key), printable(opts.key));
      let bytes: Uint8Array;
      try { bytes = new Uint8Array(readFileSync(opts.core)); } catch { throw new InvalidArgumentError(`${printable(opts.core)}: cannot be read`); }
      // The OS image carries the tree's system apps (system/NAME, built), under the same signature.
      const { packSystemApps } = await import("./net/system-apps.js");
      let apps: Awaited<ReturnType<typeof packSystemApps>>;
      try { apps = await packSystemApps(); } catch (err) { throw new BootError(`the system apps to pack: ${(err as Error).message.split("\n")[0]}`); }
      const image = await signCoreImage(bytes, signer, opts.version, apps);
      writeFileSync(opts.output, image);
      out(`${printable(opts.output)}: core image, ${image.length} bytes, version ${opts.version}, system apps ${apps.map((a) => a.name).join(", ")}, signed by key ${Buffer.from(signer.keyId).toString("hex")}`);
    }));
}
