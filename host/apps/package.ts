// AppPackage: an app as the device receives it: the raw manifest bytes and the entry module.
//
// The host does not interpret the manifest: the core parses and validates it. The host reads only
// EntryPoint, after the core has accepted the manifest, to find the module.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildApp, REPO_ROOT } from "./build.js";

const SDK_SOURCE = join(REPO_ROOT, "sdk", "applibs.ts");

/** True when `output` exists and is newer than every input (the app and the SDK). */
function isUpToDate(output: string, inputs: string[]): boolean {
  if (!existsSync(output)) return false;
  const builtMs = statSync(output).mtimeMs;
  return inputs.every((i) => !existsSync(i) || statSync(i).mtimeMs <= builtMs);
}

export interface AppPackage {
  /** Where it came from, for messages. */
  origin: string;
  manifestBytes: Uint8Array;
  /** Loads the module named by the manifest's EntryPoint. */
  loadEntryPoint(entryPoint: string): Promise<Uint8Array>;
}

export class AppPackageError extends Error {}

/**
 * An app directory: `app_manifest.json` plus the EntryPoint module, or the AssemblyScript source
 * (`main.ts`) that builds it.
 */
export function appFromDirectory(dir: string): AppPackage {
  const root = resolve(dir);
  const manifestPath = join(root, "app_manifest.json");
  if (!existsSync(manifestPath)) throw new AppPackageError(`${dir}: no app_manifest.json (an app directory holds app_manifest.json and the app's .wasm or main.ts)`);
  return {
    origin: dir,
    manifestBytes: readFileSync(manifestPath),
    async loadEntryPoint(entryPoint: string) {
      if (entryPoint.includes("..") || entryPoint.startsWith("/")) throw new AppPackageError(`${dir}: EntryPoint "${entryPoint}" must be a path inside the app directory`);
      const wasmPath = join(root, entryPoint);
      const source = join(root, "main.ts");
      if (existsSync(source)) {
        const built = join(root, "build", entryPoint);
        if (!isUpToDate(built, [source, SDK_SOURCE])) await buildApp(source, built);
        return readFileSync(built);
      }
      if (existsSync(wasmPath)) return readFileSync(wasmPath);
      throw new AppPackageError(`${dir}: EntryPoint ${entryPoint} not found, and no main.ts to build it from`);
    },
  };
}

/** An app held in memory (tests, tools). */
export function appFromBytes(origin: string, manifest: string | object, wasm: Uint8Array): AppPackage {
  const text = typeof manifest === "string" ? manifest : JSON.stringify(manifest);
  return { origin, manifestBytes: new TextEncoder().encode(text), loadEntryPoint: async () => wasm };
}
