// measure-flash (`node dist/tools/measure-flash.js`): one-off figures of the device on flash (not a timed test): the image package's
// size against the module it holds, sideload time, boot time with N installed packages, and an
// app's start from the instrumented-module cache against WebAssembly.instantiate of the same
// instrumented module. Prints one line per figure; times are medians of several runs, in ms.
// Must not: write outside memory (the flashes are in RAM).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { packImage } from "../host/apps/imagepkg.js";
import { InstrumentCache, MemoryModuleStore } from "../host/apps/instrument-cache.js";
import { appInstrumentOptions } from "../host/apps/imports.js";
import { createFlash } from "../host/flash-layout.js";
import { FlashDevice } from "../host/device-flash.js";
import type { Flash } from "../host/flash.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const MODULE = new Uint8Array(readFileSync(`${root}examples/blink/build/blink.wasm`));
const cache = new InstrumentCache(new MemoryModuleStore(), { instrumenterVersion: "measure" });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const guid = (i: number) => `${(0x10000000 + i).toString(16)}-0000-4000-8000-000000000001`;
const enc = new TextEncoder();
const pkgOf = (i: number, pins: number[] = []) => packImage({
  files: [
    { path: "app_manifest.json", bytes: enc.encode(JSON.stringify({ SchemaVersion: 1, Name: `app${i}`, ComponentId: guid(i), EntryPoint: "blink.wasm", Capabilities: { Gpio: pins }, MemoryQuotaKiB: 128 })) },
    { path: "blink.wasm", bytes: MODULE },
  ],
  componentId: guid(i), imageVersion: 1, buildTimeSeconds: 0, name: `app${i}`,
});
const boot = (flash: Flash, startApps = false) => FlashDevice.boot(flash, { startApps, instrumentCache: cache, gpioPinCount: 96 });

async function main() {
  const one = await pkgOf(0);
  console.log(`package size: ${one.length} B holding a ${MODULE.length} B module (${(one.length / MODULE.length).toFixed(2)}x; littlefs 512-byte blocks + metadata)`);
  const base = (await createFlash(16 * 1024 * 1024)).flash;
  await (await boot(base.clone())).deploy(one); // warms the cache: instrumented once
  const sideload: number[] = [];
  for (let r = 0; r < 9; r++) {
    const dev = await boot(base.clone());
    const t = performance.now();
    await dev.deploy(one);
    sideload.push(performance.now() - t);
  }
  console.log(`sideload (deploy of that package, module from the cache): ${median(sideload).toFixed(2)} ms`);
  for (const n of [1, 8, 24]) {
    const flash = base.clone();
    const dev = await boot(flash);
    for (let i = 0; i < n; i++) await dev.deploy(await pkgOf(i));
    const times: number[] = [];
    for (let r = 0; r < 5; r++) {
      const f = flash.clone();
      const t = performance.now();
      const d = await boot(f, true);
      times.push(performance.now() - t);
      if (d.bootReport.started !== n) throw new Error(`started ${d.bootReport.started} of ${n}`);
    }
    console.log(`boot from flash with ${n} installed apps (mount, admit, stream, cache, compile, start): ${median(times).toFixed(1)} ms`);
  }
  // App start: from the cache (entry read, checked, compiled, instantiated) vs instantiating the same instrumented bytes.
  const opts = appInstrumentOptions(128 * 1024);
  const instrumented = (await cache.instrument(MODULE, opts)).bytes;
  const importsFor = (m: WebAssembly.Module) => {
    const imports: Record<string, Record<string, unknown>> = {};
    for (const i of WebAssembly.Module.imports(m)) (imports[i.module] ??= {})[i.name] = i.kind === "function" ? () => 0 : undefined;
    return imports as WebAssembly.Imports;
  };
  const fromCache: number[] = [], raw: number[] = [];
  for (let r = 0; r < 21; r++) {
    let t = performance.now();
    const hit = await cache.instrument(MODULE, opts);
    const mod = await WebAssembly.compile(hit.bytes as Uint8Array<ArrayBuffer>);
    await WebAssembly.instantiate(mod, importsFor(mod));
    fromCache.push(performance.now() - t);
    t = performance.now();
    const m2 = await WebAssembly.compile(instrumented as Uint8Array<ArrayBuffer>);
    await WebAssembly.instantiate(m2, importsFor(m2));
    raw.push(performance.now() - t);
  }
  console.log(`app start: from the cache ${median(fromCache).toFixed(3)} ms vs WebAssembly.instantiate of the same instrumented module ${median(raw).toFixed(3)} ms (${(median(fromCache) / median(raw)).toFixed(2)}x)`);
}
await main();
