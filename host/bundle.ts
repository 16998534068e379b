// The host as one ES module for engines that are not Node (browsers, gjs, jsc): the device, its
// clocks, the conformance run, the slice protocol's module check, the instrumented-module cache (over a
// store the embedder gives: memory, IndexedDB). `tools/bundle.ts` bundles it
// twice: build/wasphere-host.mjs keeps the instrumenter (binaryen) out, so only pre-instrumented
// apps install (Device.install of a raw app fails with the import's error); build/
// wasphere-host-full.mjs includes it.
// Must not: import a Node API (tests/host/browser-ready.test.ts walks the graph).
export { Device, InstallError, errnoName, type AppStatus, type InstalledApp } from "./device.js";
export { VirtualClock, RealClock } from "./peripherals/clock.js";
export { runConformance, type ConformanceApp, type ConformanceScript } from "./conformance.js";
export { checkInstrumentedModule, ModuleContractError } from "./apps/protocol.js";
export { InstrumentCache, MemoryModuleStore, type ModuleCacheStore } from "./apps/instrument-cache.js";
export { HostYield, yieldToHost, wallMs } from "./yield.js";
export { ModuleCore, CorePanic, type Core, type Hal } from "./core.js";
export { printable } from "./printable.js";

import { Device } from "./device.js";
import { VirtualClock } from "./peripherals/clock.js";
import { runConformance, type ConformanceApp, type ConformanceScript } from "./conformance.js";

/** The conformance trace of this engine: what the per-engine glue of tools/engines calls. */
export async function conformanceTrace(coreBytes: Uint8Array, script: ConformanceScript, apps: ConformanceApp[]): Promise<string> {
  const coreModule = new WebAssembly.Module(coreBytes as Uint8Array<ArrayBuffer>);
  const device = new Device({ clock: new VirtualClock(), coreModule, ...script.device });
  return runConformance(device, script, apps);
}
