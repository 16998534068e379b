// The system apps of the OS image: Wasm apps installed with Device.installSystem, whose manifests
// may hold capabilities no user manifest can (SPEC.md, "System apps"). The network manager
// (system/network-manager), which owns the networking-ready status apps read and the core requires
// before any connect or listen; the update agent (system/update-agent), which polls the device's
// update feed and has the core verify and apply what it offers.
// Where they come from: on a device booted through the boot loader, from the verified core image
// only (host/boot-loader.ts hands readSystemApp the inflated packages of the signed payload), so
// secure boot covers them and an OS update replaces them. Whoever builds a core image packs them
// from this tree's build (packSystemApps: system/NAME with its build/ module, as image packages).
// `wasphere run` and tests that boot no OS image take them from the tree (systemAppsFromTree).
// The agent's AllowedConnections and CmdArgs are composed here from the feed URL of the device's
// configuration: its manifest holds UpdateAgent and no connections, so it can reach the feed's host
// and nothing else.
// Invariants: an app from an image is exactly its package's app_manifest.json and EntryPoint file,
// read through the core's package parser; its name is the table's and the manifest's alike.
// Memory: each system app's manifest and module, held for the boot.
// Must not: be reachable from a user package (sideload, deploy and the feed install user apps
// only); read a system app from the tree for a device booted through the boot loader.
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { appFromDirectory, type AppPackage } from "../apps/package.js";
import { inspectPackage, mountPackageFs } from "../apps/imagepkg.js";
import { printable } from "../printable.js";
import type { Device, InstalledApp } from "../device.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** The system apps this tree builds, in the order a core image carries them. */
export const SYSTEM_APP_NAMES = ["network-manager", "update-agent"] as const;

/** The system apps of one OS image, by name (the manifest's Name). */
export type SystemApps = ReadonlyMap<string, AppPackage>;

/** The directory of system app `name` (system/NAME). */
export function systemAppDir(name: string): string { return join(ROOT, "system", name); }

/**
 * The tree's system apps as image packages, for a core image (`core sign`, `device create`):
 * each system/NAME packed as `image-package pack-application` packs it (its build/ module, built
 * first when stale), its manifest admitted as a system app's.
 */
export async function packSystemApps(names: readonly string[] = SYSTEM_APP_NAMES): Promise<{ name: string; bytes: Uint8Array }[]> {
  const { packDirectory } = await import("../imagepkg-cli.js");
  const out: { name: string; bytes: Uint8Array }[] = [];
  for (const name of names) out.push({ name, bytes: (await packDirectory(systemAppDir(name), { system: true })).bytes });
  return out;
}

/**
 * The installable app in image package `bytes`, system app `name` of a verified core image: the
 * core parses and checks the package (inspectPackage, as a system app's manifest), and its
 * EntryPoint file is read from the package's littlefs. Throws (one line) when the package is not
 * a valid system app package or its manifest's Name is not `name`.
 */
export async function readSystemApp(name: string, bytes: Uint8Array): Promise<AppPackage> {
  const p = await inspectPackage(bytes, true);
  if (p.manifest.name !== name) throw new Error(`its package's manifest names it "${printable(p.manifest.name)}"`);
  const lfs = mountPackageFs(bytes, p.info);
  let module: Uint8Array;
  try { module = lfs.readFile(`/${p.manifest.entryPoint}`); } finally { lfs.unmount(); }
  const entryPoint = p.manifest.entryPoint;
  return {
    origin: `system app ${name} (core image)`,
    manifestBytes: p.manifestBytes,
    loadEntryPoint: async (e) => {
      if (e !== entryPoint) throw new Error(`EntryPoint ${printable(e)} is not the package's (${printable(entryPoint)})`);
      return new Uint8Array(module);
    },
  };
}

/** Image packages (as packSystemApps gives them) read as readSystemApp reads an image's, for devices booted without the boot loader. */
export async function systemAppsFromPackages(pkgs: readonly { name: string; bytes: Uint8Array }[]): Promise<SystemApps> {
  const out = new Map<string, AppPackage>();
  for (const p of pkgs) out.set(p.name, await readSystemApp(p.name, p.bytes));
  return out;
}

/** The tree's system apps (system/NAME), for `wasphere run` and devices that boot no OS image. */
export function systemAppsFromTree(): SystemApps {
  return new Map(SYSTEM_APP_NAMES.map((n) => [n, appFromDirectory(systemAppDir(n))]));
}

function systemApp(apps: SystemApps, name: string): AppPackage {
  const pkg = apps.get(name);
  if (!pkg) throw new Error(`the OS image carries no system app "${name}" (it carries ${apps.size === 0 ? "none" : [...apps.keys()].join(", ")}): sign the core with its system apps (wasphere core sign)`);
  return pkg;
}

/**
 * Installs and starts the network manager of `apps` on `device` (which must have a network, or its
 * probe answers -ENODEV and networking stays not ready). The app, running.
 */
export async function startNetworkManager(device: Device, apps: SystemApps): Promise<InstalledApp> {
  const app = await device.installSystem(systemApp(apps, "network-manager"));
  device.start(app);
  return app;
}

/** Seconds between the update agent's polls of the feed, unless configured. */
export const UPDATE_POLL_SECONDS = 60;

/**
 * Installs and starts the update agent of `apps` on `device` polling `feedUrl` (an http:// URL of
 * a feed's feed.json, or of its folder) every `pollSeconds`. Throws on a URL the agent cannot fetch.
 */
export async function startUpdateAgent(device: Device, apps: SystemApps, feedUrl: string, pollSeconds = UPDATE_POLL_SECONDS): Promise<InstalledApp> {
  let url: URL;
  try { url = new URL(feedUrl); } catch { throw new Error(`--feed ${printable(feedUrl)}: not a URL (http://host[:port]/path/feed.json)`); }
  if (url.protocol !== "http:" || url.username || url.password || url.search || url.hash) {
    throw new Error(`--feed ${printable(feedUrl)}: the update agent fetches http:// URLs without user, query or fragment`);
  }
  if (!Number.isInteger(pollSeconds) || pollSeconds < 1 || pollSeconds > 86400) throw new Error(`the feed's poll period must be 1 to 86400 seconds, not ${pollSeconds}`);
  const base = systemApp(apps, "update-agent");
  const manifest = JSON.parse(new TextDecoder().decode(base.manifestBytes)) as Record<string, unknown> & { Capabilities: Record<string, unknown> };
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const feedJson = url.pathname.endsWith("/") ? `${url.origin}${url.pathname}feed.json` : url.href;
  manifest.Capabilities = { ...manifest.Capabilities, AllowedConnections: [host] };
  manifest.CmdArgs = [feedJson, String(pollSeconds)];
  const pkg: AppPackage = { ...base, manifestBytes: new TextEncoder().encode(JSON.stringify(manifest)), loadEntryPoint: (e) => base.loadEntryPoint(e) };
  const app = await device.installSystem(pkg);
  device.start(app);
  return app;
}
