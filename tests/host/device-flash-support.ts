// Shared by the device-on-flash tests: image packages made from the blink example's module with
// manifests of their own, a fresh device flash, and one instrumented-module cache for the run (so
// binaryen instruments the module once).
import { readFileSync } from "node:fs";
import { packImage, type PackFile } from "../../host/apps/imagepkg.js";
import { InstrumentCache, MemoryModuleStore } from "../../host/apps/instrument-cache.js";
import { createFlash } from "../../host/flash-layout.js";
import { FlashDevice } from "../../host/device-flash.js";
import type { Flash } from "../../host/flash.js";
import { devLink, signed, signedRaw } from "./trust-support.js";

export const MODULE = new Uint8Array(readFileSync(new URL("../../../examples/blink/build/blink.wasm", import.meta.url)));
export const ID_A = "1689d8b2-c835-2e27-27ad-e894d6d15fa9";
export const ID_B = "3b1f5e2a-7c44-4d8e-9a61-0f2d8c7b5e13";
export const ID_C = "5c2e9d41-0b7a-4f63-8e15-2a9d6c3b7f80";
const enc = new TextEncoder();

export const manifestOf = (name: string, id: string, pins: number[], over: Record<string, unknown> = {}) => enc.encode(JSON.stringify({
  SchemaVersion: 1, Name: name, ComponentId: id, EntryPoint: "blink.wasm", Capabilities: { Gpio: pins }, MemoryQuotaKiB: 128, ...over,
}));

export async function pkg(name: string, id: string, pins: number[], opts: { version?: number; extra?: PackFile[]; manifest?: Uint8Array } = {}): Promise<Uint8Array> {
  return signed(await packImage({
    files: [{ path: "app_manifest.json", bytes: opts.manifest ?? manifestOf(name, id, pins) }, { path: "blink.wasm", bytes: MODULE }, ...(opts.extra ?? [])],
    componentId: id, imageVersion: opts.version ?? 1, buildTimeSeconds: 1764633600, name,
  }));
}

export const cache = new InstrumentCache(new MemoryModuleStore(), { instrumenterVersion: "device-flash tests" });

export async function freshFlash(bytes = 2 * 1024 * 1024): Promise<Flash> { return (await createFlash(bytes)).flash; }

/** A stopped device over `flash` (the verbs, no app running). */
export const boot = async (flash: Flash, startApps = false) => FlashDevice.boot(flash, { startApps, instrumentCache: cache, gpioPinCount: 96, securityProcessor: await devLink() });

/** What is installed: name@version, in list order. */
export async function installed(dev: FlashDevice): Promise<string[]> {
  return (await dev.listInstalled()).map((x) => `${x.name}@${x.version}`);
}

/** A package from raw parts, bypassing packImage's own checks (so only the device's core judges it). */
export async function rawPkg(files: PackFile[], id: string, name: string): Promise<Uint8Array> {
  const { buildFsImage, metadataFor } = await import("../../host/apps/imagepkg.js");
  const image = await buildFsImage(files);
  const meta = metadataFor(image, 512, { componentId: id, imageVersion: 1, buildTimeSeconds: 0, name });
  const out = new Uint8Array(image.length + meta.length);
  out.set(image); out.set(meta, image.length);
  return signedRaw(out);
}
