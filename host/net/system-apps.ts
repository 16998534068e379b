// The system apps of the OS image (system/ in this tree): Wasm apps the boot loader installs with
// Device.installSystem, whose manifests may hold capabilities no user manifest can (SPEC.md,
// "System apps"). Today: the network manager (system/network-manager), which owns the
// networking-ready status apps read and the core requires before any connect or listen.
// Must not: be reachable from a user package (sideload, deploy and the feed install user apps only).
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { appFromDirectory } from "../apps/package.js";
import type { Device, InstalledApp } from "../device.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** The directory of system app `name` (system/NAME). */
export function systemAppDir(name: string): string { return join(ROOT, "system", name); }

/**
 * Installs and starts the network manager on `device` (which must have a network, or its probe
 * answers -ENODEV and networking stays not ready). The app, running.
 */
export async function startNetworkManager(device: Device): Promise<InstalledApp> {
  const app = await device.installSystem(appFromDirectory(systemAppDir("network-manager")));
  device.start(app);
  return app;
}
