// demo-device: makes the device `npm start` boots: a fresh device folder (default
// build/demo-device) with the example apps packed as image packages (examples/blink,
// examples/button) and deployed onto its flash through the core, as `wasphere device sideload
// deploy` does on a stopped device, each signed with the development key `device create` made
// in the folder (the device trusts it). Prints one line per package.
// Must not: write anywhere but the device folder it is given (it is replaced whole).
import { rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createDevice } from "../host/device-cli.js";
import { packDirectory } from "../host/imagepkg-cli.js";
import { openStoppedDevice } from "../host/device-offline.js";
import { signPackage } from "../host/apps/imagepkg.js";
import { readKeyText, signerFromPem } from "../host/pluton/keys.js";
import { DEVELOPMENT_KEY } from "../host/secure-device.js";

const root = fileURLToPath(new URL("../../", import.meta.url));

export async function makeDemoDevice(dir: string, out: (line: string) => void): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  await createDevice(dir);
  const keyPath = join(dir, `${DEVELOPMENT_KEY}.pem`);
  const signer = await signerFromPem(readKeyText(keyPath), keyPath);
  const dev = await openStoppedDevice(dir);
  try {
    for (const app of ["blink", "button"]) {
      const { bytes } = await packDirectory(join(root, "examples", app));
      const r = await dev.deploy(await signPackage(bytes, signer));
      out(`${dir}: deployed ${r.name} (${r.componentId}), ${r.packageBytes} B image package at flash offset 0x${r.offsetBytes.toString(16)}`);
    }
  } finally {
    await dev.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await makeDemoDevice(process.argv[2] ?? join(root, "build", "demo-device"), (l) => process.stdout.write(l + "\n"));
}
