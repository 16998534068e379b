// The system apps of the OS image (system/ in this tree): Wasm apps the boot loader installs with
// Device.installSystem, whose manifests may hold capabilities no user manifest can (SPEC.md,
// "System apps"). The network manager (system/network-manager), which owns the networking-ready
// status apps read and the core requires before any connect or listen; the update agent
// (system/update-agent), which polls the device's update feed and has the core verify and apply
// what it offers. The agent's AllowedConnections and CmdArgs are composed here from the feed URL
// of the device's configuration: its manifest in the tree holds UpdateAgent and no connections,
// so it can reach the feed's host and nothing else.
// Must not: be reachable from a user package (sideload, deploy and the feed install user apps only).
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { appFromDirectory, type AppPackage } from "../apps/package.js";
import { printable } from "../printable.js";
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

/** Seconds between the update agent's polls of the feed, unless configured. */
export const UPDATE_POLL_SECONDS = 60;

/**
 * Installs and starts the update agent on `device` polling `feedUrl` (an http:// URL of a feed's
 * feed.json, or of its folder) every `pollSeconds`. Throws on a URL the agent cannot fetch.
 */
export async function startUpdateAgent(device: Device, feedUrl: string, pollSeconds = UPDATE_POLL_SECONDS): Promise<InstalledApp> {
  let url: URL;
  try { url = new URL(feedUrl); } catch { throw new Error(`--feed ${printable(feedUrl)}: not a URL (http://host[:port]/path/feed.json)`); }
  if (url.protocol !== "http:" || url.username || url.password || url.search || url.hash) {
    throw new Error(`--feed ${printable(feedUrl)}: the update agent fetches http:// URLs without user, query or fragment`);
  }
  if (!Number.isInteger(pollSeconds) || pollSeconds < 1 || pollSeconds > 86400) throw new Error(`the feed's poll period must be 1 to 86400 seconds, not ${pollSeconds}`);
  const base = appFromDirectory(systemAppDir("update-agent"));
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
