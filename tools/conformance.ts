// The conformance run's Node side (host/conformance.ts is the engine-neutral run itself):
//   node dist/tools/conformance.js prepare   instruments the script's apps into build/conformance/
//                                           (one folder per app: app_manifest.json and its module)
//                                           and writes build/abi.json for hosts in other languages
//   node dist/tools/conformance.js run       prints the Node host's trace (`run --core=component`:
//                                           on the core as a component, host/core-component.ts)
//   node dist/tools/conformance.js golden    prepare, run, and write tests/conformance/trace.golden
// `npm run conformance:golden` is the last one after a build: the one command that regenerates the
// golden file when the scheduler, syscall costs or the instrumentation change on purpose.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import binaryen from "binaryen";
import * as abi from "../assembly/abi.js";
import { APP_IMPORTS } from "../host/apps/imports.js";
import { appFromDirectory } from "../host/apps/package.js";
import { type ConformanceApp, type ConformanceScript, runConformance } from "../host/conformance.js";
import { instrumentForManifest } from "../host/instrument-cli.js";
import * as protocol from "../host/apps/protocol.js";
import { VIRTUAL_FUEL_PER_MS, VIRTUAL_MIN_SLICE_MS } from "../host/peripherals/clock.js";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));
export const SCRIPT_PATH = join(REPO, "tests/conformance/script.json");
export const GOLDEN_PATH = join(REPO, "tests/conformance/trace.golden");
export const PREPARED_DIR = join(REPO, "build/conformance");
/** The ABI's numbers, the slice protocol and the virtual clock's rate, as JSON for hosts in other languages. */
export const ABI_JSON_PATH = join(REPO, "build/abi.json");

export const readScript = (): ConformanceScript => JSON.parse(readFileSync(SCRIPT_PATH, "utf8"));

/** Assembles the app's `<EntryPoint basename>.wat`, or builds/loads it like any app directory. */
async function rawModule(dir: string, entryPoint: string): Promise<Uint8Array> {
  const watPath = join(dir, entryPoint.replace(/\.wasm$/, ".wat"));
  if (!existsSync(watPath)) return appFromDirectory(dir).loadEntryPoint(entryPoint);
  const mod = binaryen.parseText(readFileSync(watPath, "utf8"));
  try {
    if (!mod.validate()) throw new Error(`${watPath}: invalid module`);
    return mod.emitBinary();
  } finally {
    mod.dispose();
  }
}

/** Instruments every app of the script (a manifest the core refuses gets no module). */
export async function prepare(script = readScript()): Promise<void> {
  for (const rel of script.apps) {
    const dir = join(REPO, rel);
    const out = join(PREPARED_DIR, basename(rel));
    mkdirSync(out, { recursive: true });
    const manifestBytes = readFileSync(join(dir, "app_manifest.json"));
    writeFileSync(join(out, "app_manifest.json"), manifestBytes);
    const entryPoint = JSON.parse(manifestBytes.toString("utf8")).EntryPoint as string;
    try {
      const app = await instrumentForManifest(rel, manifestBytes, (ep) => rawModule(dir, ep), script.device);
      writeFileSync(join(out, entryPoint), app.bytes);
    } catch (err) {
      if ((err as { code?: unknown }).code === undefined) throw err;
    }
  }
  // The numbers other hosts need, from the one place they are defined.
  const abiJson = {
    abi: Object.fromEntries(Object.entries(abi).filter(([, v]) => typeof v === "number")),
    appImports: APP_IMPORTS,
    protocol: Object.fromEntries(Object.entries(protocol).filter(([, v]) => typeof v === "number" || typeof v === "string" || Array.isArray(v))),
    virtualClock: { VIRTUAL_FUEL_PER_MS, VIRTUAL_MIN_SLICE_MS },
  };
  writeFileSync(ABI_JSON_PATH, JSON.stringify(abiJson, null, 1) + "\n");
}

/** The script's apps as prepare() left them in build/conformance. */
export function preparedApps(script = readScript()): ConformanceApp[] {
  return script.apps.map((rel) => {
    const dir = join(PREPARED_DIR, basename(rel));
    const manifestBytes = readFileSync(join(dir, "app_manifest.json"));
    const modulePath = join(dir, JSON.parse(manifestBytes.toString("utf8")).EntryPoint);
    return { dir: rel, manifestBytes, instrumentedModule: existsSync(modulePath) ? readFileSync(modulePath) : new Uint8Array(0) };
  });
}

/** The Node host's trace of the prepared run, on the core module or (`core: "component"`) the component. */
export async function nodeTrace(script = readScript(), { core = "module" }: { core?: "module" | "component" } = {}): Promise<string> {
  const { Device } = await import("../host/device.js");
  const { VirtualClock } = await import("../host/peripherals/clock.js");
  const createCore = core === "component" ? await (await import("../host/core-component.js")).componentCoreFactory() : undefined;
  const device = new Device({ clock: new VirtualClock(), ...script.device, createCore });
  return runConformance(device, script, preparedApps(script));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const verb = process.argv[2];
  if (verb === "prepare") await prepare();
  else if (verb === "run") process.stdout.write(await nodeTrace(readScript(), { core: process.argv[3] === "--core=component" ? "component" : "module" }));
  else if (verb === "golden") {
    await prepare();
    const trace = await nodeTrace();
    writeFileSync(GOLDEN_PATH, trace);
    process.stdout.write(`wrote ${GOLDEN_PATH} (${trace.split("\n").length - 1} lines)\n`);
  } else {
    process.stderr.write("usage: node dist/tools/conformance.js prepare|run [--core=component]|golden\n");
    process.exit(2);
  }
}
