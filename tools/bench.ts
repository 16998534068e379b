// `npm run bench`: wasphere's figures, each a ratio against a floor measured in the same run.
// Each group of rows runs in its own child process under the V8 settings `wasphere run` runs apps
// with (no command-line flags, USER_NODE_FLAGS; the engine flags the command sets at its start,
// host/engine-flags.ts, set at the same point), and says so, so no group's settings leak into another's.
// Warm-up, then repeats; median and spread (min..max) of the repeats; latency rows also give p50
// and p99 of single events. Goals (tools/bench-goals.json, data, from DESIGN.md and issue 13)
// are printed beside the rows they bound: met or not. Figures, never asserts: timing does not
// fail CI.
//   node dist/tools/bench.js [--json] [--group NAME...]
// `--group NAME` runs only the named groups (GROUPS below); a child runs one with `--child`.
import binaryen from "binaryen";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as abi from "../assembly/abi.js";
import { APP_FEATURES, instrumentApp, instrumentVariant, type InstrumentPassMs } from "../host/apps/instrument.js";
import { Device, type InstalledApp } from "../host/device.js";
import { RealClock, VirtualClock, VIRTUAL_FUEL_PER_MS } from "../host/peripherals/clock.js";
import { appFromBytes } from "../host/apps/package.js";
import { APP_IMPORTS, appInstrumentOptions } from "../host/apps/imports.js";
import { InstrumentCache, MemoryModuleStore } from "../host/apps/instrument-cache.js";
import { nodeInstrumenterVersion, nodeSha256 } from "../host/apps/instrument-cache-node.js";
import { CORE_WASM_PATH, ModuleCore } from "../host/core.js";
import { AppRunner, type SyscallBinding } from "../host/apps/runner.js";
import { WALL_CHECK_CALLS } from "../host/apps/protocol.js";
import { benchInstrument } from "./bench-instrument.js";
import { benchFs, ramFigures } from "./bench-fs.js";
import { applyEngineFlags, ENGINE_FLAGS } from "../host/engine-flags.js";

export interface Row {
  /** A stable name for the goals file. */
  id?: string;
  name: string; unit: string; median: number; min: number; max: number;
  /** Where the source gives a symmetric spread instead of min and max. */
  spread?: number;
  /** Percentiles of single events (latency rows). */
  p50?: number; p99?: number;
  floor?: number; ratio?: number; note?: string;
  /** Set by the parent: the group and the V8 flags its process ran under. */
  group?: string; flags?: string[];
}

const REPEATS = 9;
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The Node command-line flags `wasphere run` gives the process that runs apps (bin/wasphere.js: none; its engine flags it sets itself, ENGINE_FLAGS). */
export const USER_NODE_FLAGS: string[] = [];

export function stats(samples: number[]): { median: number; min: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { median: s[s.length >> 1], min: s[0], max: s[s.length - 1] };
}

/** The p-th percentile (0..100) of `samples`, nearest rank. */
export function percentile(samples: number[], p: number): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

const nowNs = () => Number(process.hrtime.bigint());

/** Runs `fn` (which does `n` operations and returns nothing) and returns ns per operation. */
function perOp(fn: () => void, n: number): number[] {
  fn(); fn(); // warm-up: let the engine tier up
  const out: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const t0 = nowNs();
    fn();
    out.push((nowNs() - t0) / n);
  }
  return out;
}

async function perOpAsync(fn: () => Promise<void>, n: number, repeats = REPEATS): Promise<number[]> {
  await fn();
  const out: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = nowNs();
    await fn();
    out.push((nowNs() - t0) / n);
  }
  return out;
}

/**
 * Each of `n` calls of `fn` timed alone (ns). The whole timed loop runs once before the kept one,
 * so the timer's own code is optimised before samples count, and a clock reading allocates
 * nothing (a double from performance.now, stored in a preallocated array): with a BigInt per
 * reading, the loop's allocations moved the young generation onto fresh pages, and the page
 * faults (about 2 us each) landed in 1 to 2 % of the samples, whatever `fn` was.
 */
function eachTimed(fn: () => void, n: number): number[] {
  const out = new Float64Array(n);
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < n; i++) { const t0 = performance.now(); fn(); out[i] = (performance.now() - t0) * 1e6; }
  }
  return Array.from(out);
}

function wat(text: string): Uint8Array<ArrayBuffer> {
  const mod = binaryen.parseText(text);
  mod.setFeatures(APP_FEATURES);
  const bytes = new Uint8Array(mod.emitBinary());
  mod.dispose();
  return bytes;
}

function row(name: string, unit: string, samples: number[], floorSamples?: number[], note?: string, id?: string): Row {
  const s = stats(samples);
  if (!floorSamples) return { id, name, unit, ...s, note };
  const floor = stats(floorSamples).median;
  return { id, name, unit, ...s, floor, ratio: s.median / floor, note };
}

/** A latency row: median and spread of single events, with p50 and p99, against single floor events. */
function latencyRow(id: string, name: string, unit: string, samples: number[], floorSamples: number[] | null, note: string): Row {
  const r = row(name, unit, samples, floorSamples ?? undefined, note, id);
  return { ...r, p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

/** `row` for samples taken in ns, shown in ms. */
const msRow = (name: string, _unit: "ns", samples: number[], floorSamples: number[] | undefined, note: string, id: string): Row =>
  row(name, "ms", samples.map((x) => x / 1e6), floorSamples?.map((x) => x / 1e6), note, id);

let guid = 0;
const manifestFor = (name: string, fields: Record<string, unknown> = {}) => ({
  SchemaVersion: 1, Name: name, ComponentId: `00000000-0000-4000-8000-${(++guid).toString(16).padStart(12, "0")}`, EntryPoint: `${name}.wasm`, ...fields,
});
const virtualDevice = (cache?: InstrumentCache) => new Device({ clock: new VirtualClock(), instrumentCache: cache });
const install = (dev: Device, name: string, wasm: Uint8Array, fields: Record<string, unknown> = {}) => dev.install(appFromBytes(name, manifestFor(name, fields), wasm));
// Every import an instrumented app may have, the syscall gates' included (protocol.ts), each doing nothing.
const stubImports = () => ({
  applibs: Object.fromEntries(APP_IMPORTS.map((i) => [i.name, () => 0])),
  wasphere: { preempt: () => undefined, syscall_charged: () => 0n, over: () => undefined, wall: () => undefined, task: 0, walled: 0 },
});
/** A syscall binding to a core that answers 0 and charges nothing: the instance is made as a device makes it (with its slice link). */
export const STUB_SYSCALLS: SyscallBinding = { task: 0, syscallCharged: () => 0n, syscall: () => 0, takeFuel: () => 0, wallCheck: null };

const CALLS = 200_000;
const loopApp = (imports: string, call: string) => wat(`(module ${imports} (memory (export "memory") 1)
  (func (export "main") (result i32) (local $i i32)
    (loop $l ${call} (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const ${CALLS}))))
    (i32.const 0)))`);

const yielder = () => wat(`(module (import "applibs" "yield" (func $y (result i32))) (memory (export "memory") 1)
  (func (export "main") (result i32) (loop $l (drop (call $y)) (br $l)) (i32.const 0)))`);
const spinner = () => wat(`(module (memory (export "memory") 1) (func (export "main") (result i32) (loop $l (br $l)) (i32.const 0)))`);

async function syscallRoundTrip(): Promise<Row[]> {
  // Floor: the same loop calling a bare JS import (of the import's arity) that returns a value.
  const bare = new WebAssembly.Instance(new WebAssembly.Module(loopApp(`(import "applibs" "gpio_get" (func $get (param i32) (result i32)))`, `(drop (call $get (i32.const 1)))`)),
    { applibs: { gpio_get: (_h: number) => 0 } });
  const floorRound = () => { (bare.exports.main as () => number)(); };
  /** CALLS gpio_get calls, then `pause` (sleep_ms(1000) or yield), forever. */
  const full = (pause: string) => wat(`(module
    (import "applibs" "gpio_open_input" (func $in (param i32) (result i32)))
    (import "applibs" "gpio_get" (func $get (param i32) (result i32)))
    (import "applibs" "sleep_ms" (func $sleep (param i32) (result i32)))
    (import "applibs" "yield" (func $yield (result i32)))
    (memory (export "memory") 1)
    (func (export "main") (result i32) (local $i i32) (local $h i32)
      (local.set $h (call $in (i32.const 12)))
      (loop $forever
        (local.set $i (i32.const 0))
        (loop $l (drop (call $get (local.get $h))) (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const ${CALLS}))))
        (drop ${pause})
        (br $forever))
      (i32.const 0)))`);
  const dev = virtualDevice();
  dev.start(await install(dev, "bench", full(`(call $sleep (i32.const 1000))`), { Capabilities: { Gpio: [12] } }));
  const clock = dev.clock as VirtualClock;
  // Each round: run until the app sleeps (CALLS syscalls and a few preemptions), then jump time.
  const virtualRound = () => { while (dev.step()) { /* until the app blocks */ } clock.advance(1000); };
  // The same on a real clock, whose slices have a wall budget (each call also reads the wall
  // clock), the app yielding where the other sleeps: a round runs to its yield.
  const real = new Device({ clock: new RealClock() });
  real.start(await install(real, "bench", full(`(call $yield)`), { Capabilities: { Gpio: [12] } }));
  let yielded = false;
  real.onSlice = (sl) => { if (sl.reason === "yielded") yielded = true; };
  const realRound = () => { yielded = false; while (!yielded) real.step(); };
  // Floor and paths measured in turn within each repeat, so the machine's load weighs on all alike.
  const [floor, samples, realSamples] = sideBySide([floorRound, virtualRound, realRound], CALLS);
  return [
    row("syscall round trip (gpio_get: app -> core -> host -> app)", "ns/call", samples, floor, "virtual clock; floor: bare Wasm->JS import call, same repeats", "syscall"),
    row(`syscall round trip on a real clock (gpio_get, the slice's wall budget read every ${WALL_CHECK_CALLS} calls)`, "ns/call", realSamples, floor, "floor: bare Wasm->JS import call, same repeats", "syscall.real"),
  ];
}

/** Each of `fns` (each does `n` operations) timed in every repeat, in turn, after two warm-ups: ns per operation each. */
function sideBySide(fns: (() => void)[], n: number): number[][] {
  for (const fn of fns) { fn(); fn(); }
  const out = fns.map(() => [] as number[]);
  for (let r = 0; r < REPEATS; r++) {
    for (let i = 0; i < fns.length; i++) {
      const k = (r + i) % fns.length;
      const t0 = nowNs();
      fns[k]();
      out[k].push((nowNs() - t0) / n);
    }
  }
  return out;
}

async function contextSwitch(): Promise<Row[]> {
  // Two apps that only yield: every slice is a switch (unwind, core decision, rewind). Each switch
  // is timed alone, and so is each floor call, so the timer's own cost is in both.
  const dev = virtualDevice();
  for (let i = 0; i < 2; i++) dev.start(await install(dev, `y${i}`, yielder()));
  const SWITCHES = 20_000;
  const sw = eachTimed(() => { dev.step(); }, SWITCHES);
  const empty = new WebAssembly.Instance(new WebAssembly.Module(wat(`(module (func (export "f")))`)));
  const f = empty.exports.f as () => void;
  const floor = eachTimed(f, SWITCHES);
  // Preemption latency: how long one slice of a spinning app takes (SLICE_FUEL of work).
  const dev2 = virtualDevice();
  dev2.start(await install(dev2, "spin", spinner()));
  const slices = eachTimed(() => { dev2.step(); }, 200);
  return [
    latencyRow("switch", "context switch between two yielding apps", "ns/switch", sw, floor, "each switch timed alone; floor: a bare JS->Wasm call, timed alone"),
    latencyRow("preempt", `preemption latency of a spinning app (one slice of ${abi.SLICE_FUEL} fuel)`, "ns/slice", slices, null, "each slice timed alone"),
  ];
}

/**
 * A sleeping app's wake-up lateness while `apps - 1` apps spin, in device time (virtual clock):
 * from the deadline its sleep_ms(10) asked for to the start of its next slice. The floor is one
 * slice of a spinner in device time (the goal: at most one slice late, whatever the number of apps).
 */
async function wakeUp(apps: number): Promise<Row> {
  const sleeper = wat(`(module (import "applibs" "sleep_ms" (func $s (param i32) (result i32))) (memory (export "memory") 1)
    (func (export "main") (result i32) (loop $l (drop (call $s (i32.const 10))) (br $l)) (i32.const 0)))`);
  const dev = virtualDevice();
  const clock = dev.clock as VirtualClock;
  const sleeperApp = await install(dev, "sleeper", sleeper);
  dev.start(sleeperApp);
  for (let i = 1; i < apps; i++) dev.start(await install(dev, `spin${i}`, spinner()));
  let last: { app: string; reason: string } | null = null;
  dev.onSlice = (s) => { last = { app: s.app, reason: s.reason }; };
  const lateness: number[] = [];
  const spinSlices: number[] = [];
  let deadline: number | null = null;
  for (let steps = 0; lateness.length < 200 && steps < 1_000_000; steps++) {
    const start = clock.nowMs();
    if (!dev.step()) { await clock.waitUntil(dev.core.exports.sched_next_deadline_ms()); continue; }
    const s = last as { app: string; reason: string } | null;
    if (!s) continue;
    if (s.app === "sleeper") {
      if (deadline !== null) lateness.push(start - deadline);
      // On the virtual clock the slice's syscalls all read its start time.
      deadline = s.reason === "blocked" ? start + 10 : null;
    } else {
      spinSlices.push(clock.nowMs() - start);
    }
  }
  const floor = spinSlices.length ? spinSlices : [abi.SLICE_FUEL / VIRTUAL_FUEL_PER_MS];
  return latencyRow(`wakeup.${apps}`, `wake-up lateness of a sleeping app, ${apps - 1} spinning (${apps} apps)`, "ms", lateness, floor,
    `device time, ${lateness.length} wake-ups; floor: one spinner slice of device time${spinSlices.length ? "" : " (SLICE_FUEL at the virtual clock's rate: no spinner here)"}`);
}

async function wakeUps(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const n of [1, 4, 12]) rows.push(await wakeUp(n));
  return rows;
}

/**
 * Event-loop wake-up on a real clock: an app blocked in `wait` on an input, the device idle; each
 * sample is one input change (GpioBank.drive), timed from the drive to the app's gpio_set of the
 * level it read (the LED's change), with idle gaps of 2..6 ms between samples so the changes come
 * at every phase of the device's idle wait. The floor is the mechanism's own cost: a pending
 * promise resolved, to its continuation.
 */
async function eventLoopWake(): Promise<Row[]> {
  const waiter = wat(`(module
    (import "applibs" "gpio_open_input" (func $in (param i32) (result i32)))
    (import "applibs" "gpio_open_output" (func $out (param i32 i32) (result i32)))
    (import "applibs" "gpio_set" (func $set (param i32 i32) (result i32)))
    (import "applibs" "wait" (func $wait (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "main") (result i32) (local $b i32) (local $led i32)
      (local.set $b (call $in (i32.const 12)))
      (local.set $led (call $out (i32.const 8) (i32.const 0)))
      (loop $l (drop (call $set (local.get $led) (call $wait (local.get $b) (i32.const -1)))) (br $l))
      (i32.const 0)))`);
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  const dev = new Device({ clock: new RealClock() });
  dev.start(await install(dev, "waiter", waiter, { Capabilities: { Gpio: [8, 12] } }));
  let reacted: () => void = () => {};
  dev.gpio.observe((pin, _level, source) => { if (pin === 8 && source === "core") reacted(); });
  const stop = new AbortController();
  const running = dev.run({ signal: stop.signal });
  await sleep(50); // the app has opened its pins and blocks: the device is idle
  const samples: number[] = [];
  for (let i = 0; i < 200; i++) {
    await sleep(2 + (i % 5));
    const seen = new Promise<void>((r) => { reacted = r; });
    const t0 = nowNs();
    dev.gpio.drive(12, (i + 1) & 1);
    await seen;
    samples.push(nowNs() - t0);
  }
  stop.abort();
  await running;
  const floor: number[] = [];
  for (let i = 0; i < 200; i++) {
    let resolve: () => void = () => {};
    const p = new Promise<void>((r) => { resolve = r; });
    const t0 = nowNs();
    resolve();
    await p;
    floor.push(nowNs() - t0);
  }
  return [latencyRow("evloop.wake", "event-loop wake-up: an input change on an idle device (real clock) to its waiter's reaction", "ms",
    samples.map((x) => x / 1e6), floor.map((x) => x / 1e6),
    "each change timed alone, drive to the waiter's gpio_set, after idle gaps of 2..6 ms; floor: a pending promise resolved, to its continuation (the idle loop used to poll every 50 ms)")];
}

const exampleModule = (name: string) => readFileSync(join(ROOT, "examples", name, "build", `${name}.wasm`));
const exampleManifest = (name: string) => JSON.parse(readFileSync(join(ROOT, "examples", name, "app_manifest.json"), "utf8"));
/** The quota the core gives the example's manifest (its MemoryQuotaKiB, or the default). */
const exampleQuotaBytes = (name: string) =>
  virtualDevice().describeManifest(name, readFileSync(join(ROOT, "examples", name, "app_manifest.json"))).quotaBytes;
const EXAMPLES = ["blink", "button"];

/** Installing and starting the example apps: uncached, from the cache, and their floors. */
async function appLoad(): Promise<Row[]> {
  const rows: Row[] = [];
  const version = nodeInstrumenterVersion();
  const store = new MemoryModuleStore();
  for (const [i, name] of EXAMPLES.entries()) {
    const wasm = exampleModule(name);
    const manifest = exampleManifest(name);
    const installOn = (dev: Device) => dev.install(appFromBytes(name, { ...manifest, ComponentId: manifestFor(name).ComponentId }, wasm));
    const instrumented = instrumentApp(wasm, appInstrumentOptions(exampleQuotaBytes(name))).bytes;
    const floorInstall = await perOpAsync(async () => { await WebAssembly.instantiate(instrumented as Uint8Array<ArrayBuffer>, stubImports()); }, 1);
    if (i === 0) {
      // The first install in this process: the worker starts and loads binaryen.
      const t0 = nowNs();
      await installOn(virtualDevice());
      rows.push(msRow(`install ${name}, first in the process (worker start, binaryen load, instrument, compile)`, "ns", [nowNs() - t0], floorInstall,
        "one sample; floor: raw WebAssembly.instantiate of the instrumented module", `install.first.${name}`));
    }
    const uncached = await perOpAsync(async () => { await installOn(virtualDevice()); }, 1, 5);
    rows.push(msRow(`install ${name}, uncached (manifest, instrument, compile)`, "ns", uncached, floorInstall, "floor: raw WebAssembly.instantiate of the instrumented module", `install.cold.${name}`));
    const warmCache = new InstrumentCache(store, { instrumenterVersion: version, instrument: async () => { throw new Error("the bench's warm rows must hit the cache"); } });
    await new InstrumentCache(store, { instrumenterVersion: version }).instrument(wasm, appInstrumentOptions(exampleQuotaBytes(name)));
    const warm = await perOpAsync(async () => { await installOn(virtualDevice(warmCache)); }, 1);
    rows.push(msRow(`install ${name}, from the cache (manifest, cache read and checks, compile)`, "ns", warm, floorInstall, "floor: raw WebAssembly.instantiate of the instrumented module", `install.warm.${name}`));
    // An installed app's start from the cache, as a device boots it: a cache that has compiled
    // nothing yet (key, entry read, every check, compile), then the instance as the device makes
    // it (an AppRunner); and a restart whose cache kept the module compiled. The floor is measured
    // in the same runs, with the same stub imports.
    const opts = appInstrumentOptions(exampleQuotaBytes(name));
    const kept = new InstrumentCache(store, { instrumenterVersion: version, sha256: nodeSha256 });
    await kept.load(wasm, opts);
    const fromCache: number[] = [], fromKept: number[] = [], floorCache: number[] = [];
    for (let r = 0; r < 3 * REPEATS; r++) {
      const sides: [number[], () => Promise<unknown>][] = [
        [floorCache, () => WebAssembly.instantiate(instrumented as Uint8Array<ArrayBuffer>, stubImports())],
        [fromCache, async () => { new AppRunner((await new InstrumentCache(store, { instrumenterVersion: version, sha256: nodeSha256 }).load(wasm, opts)).module, stubImports().applibs, { syscalls: STUB_SYSCALLS }); }],
        [fromKept, async () => { new AppRunner((await kept.load(wasm, opts)).module, stubImports().applibs, { syscalls: STUB_SYSCALLS }); }],
      ];
      for (let i = 0; i < sides.length; i++) { const [out, side] = sides[(r + i) % sides.length]; const t0 = nowNs(); await side(); out.push(nowNs() - t0); }
    }
    if (kept.reusedModules !== 3 * REPEATS) throw new Error("the bench's kept rows must reuse the kept module");
    rows.push(msRow(`start ${name} from the cache, first in the process (key, entry read and checks, compile, AppRunner)`, "ns", fromCache, floorCache, "floor: raw WebAssembly.instantiate of the instrumented module, same runs", `start.cache.${name}`));
    rows.push(msRow(`start ${name} from the cache, module kept compiled (key, entry read and compared, AppRunner)`, "ns", fromKept, floorCache, "floor: raw WebAssembly.instantiate of the instrumented module, same runs", `start.kept.${name}`));
    // Start: what the device does from an installed app to the end of its first slice (each
    // repeat stops it again, so every start is a restart of the same installed app).
    const dev = virtualDevice(warmCache);
    const app = await installOn(dev);
    const start = await perOpAsync(async () => {
      dev.start(app);
      dev.step(); // its first slice: the only task ready
      dev.stop(app);
    }, 1, REPEATS);
    const module = new WebAssembly.Module(instrumented as Uint8Array<ArrayBuffer>);
    const floorStart = await perOpAsync(async () => { await WebAssembly.instantiate(module, stubImports()); }, 1);
    rows.push(msRow(`start ${name} from its installed module (instantiate, first slice)`, "ns", start, floorStart, "floor: raw WebAssembly.instantiate of the same compiled instrumented module", `start.${name}`));
  }
  return rows;
}

/** Install and start time for 1, 4 and 12 apps of the default quota, from the cache. */
async function scale(): Promise<Row[]> {
  const rows: Row[] = [];
  const wasm = yielder();
  const cache = new InstrumentCache(new MemoryModuleStore(), { instrumenterVersion: nodeInstrumenterVersion() });
  await cache.instrument(wasm, appInstrumentOptions(abi.DEFAULT_APP_QUOTA_BYTES));
  const instrumented = instrumentApp(wasm, appInstrumentOptions(abi.DEFAULT_APP_QUOTA_BYTES)).bytes;
  const module = new WebAssembly.Module(instrumented as Uint8Array<ArrayBuffer>);
  for (const n of [1, 4, 12]) {
    const floorInstall = await perOpAsync(async () => { for (let i = 0; i < n; i++) await WebAssembly.instantiate(instrumented as Uint8Array<ArrayBuffer>, stubImports()); }, 1, 5);
    const floorStart = await perOpAsync(async () => { for (let i = 0; i < n; i++) await WebAssembly.instantiate(module, stubImports()); }, 1, 5);
    const installs: number[] = [], starts: number[] = [];
    for (let r = 0; r < 6; r++) {
      const dev = virtualDevice(cache);
      let t0 = nowNs();
      const apps: InstalledApp[] = [];
      for (let i = 0; i < n; i++) apps.push(await install(dev, `app${i}`, wasm));
      const installNs = nowNs() - t0;
      t0 = nowNs();
      for (const a of apps) dev.start(a);
      for (let i = 0; i < n; i++) dev.step();
      if (r > 0) { installs.push(installNs); starts.push(nowNs() - t0); } // the first round warms up
    }
    rows.push(msRow(`scale: install ${n} app${n > 1 ? "s" : ""} of ${abi.DEFAULT_APP_QUOTA_BYTES / 1024} KiB, from the cache`, "ns", installs, floorInstall, `floor: ${n} raw WebAssembly.instantiate of the instrumented module`, `scale.install.${n}`));
    rows.push(msRow(`scale: start ${n} app${n > 1 ? "s" : ""} (instantiate, first slice each)`, "ns", starts, floorStart, `floor: ${n} raw WebAssembly.instantiate of the compiled module`, `scale.start.${n}`));
  }
  return rows;
}

/**
 * `wasphere run examples/blink` as a user starts it: a new process, until blink's first slice has
 * set GPIO 8 (the line it prints). Cold: an empty instrumented-module cache; warm: the cache from
 * the run before. Floor: a new Node process printing one line.
 */
async function firstSlice(): Promise<Row[]> {
  const timeToLine = (args: string[], pattern: RegExp, env: NodeJS.ProcessEnv): Promise<number> => new Promise((resolve, reject) => {
    const t0 = nowNs();
    const child = spawn(process.execPath, [...USER_NODE_FLAGS, ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "", done = false;
    child.stdout.on("data", (d) => {
      out += d;
      if (!done && pattern.test(out)) { done = true; resolve(nowNs() - t0); child.kill(); }
    });
    child.stderr.on("data", (d) => { err += d; });
    child.on("exit", () => { if (!done) reject(new Error(`${args.join(" ")} ended before ${pattern}: ${err || out}`)); });
  });
  const cacheDir = mkdtempSync(join(tmpdir(), "wasphere-bench-cache-"));
  try {
    const env = { ...process.env, WASPHERE_CACHE_DIR: cacheDir };
    const run = () => timeToLine(["bin/wasphere.js", "run", "--seconds", "30", "examples/blink"], /GPIO 8 -> high/, env);
    const floorRuns: number[] = [], cold: number[] = [], warm: number[] = [];
    for (let r = 0; r < 5; r++) floorRuns.push(await timeToLine(["-e", "process.stdout.write('ready\\n'); setTimeout(() => {}, 30000)"], /ready/, env));
    for (let r = 0; r < 3; r++) {
      rmSync(cacheDir, { recursive: true, force: true });
      cold.push(await run());
    }
    for (let r = 0; r < 5; r++) warm.push(await run());
    const ms = (xs: number[]) => xs.map((x) => x / 1e6);
    return [
      row("wasphere run examples/blink to blink's first slice, cache warm", "ms", ms(warm), ms(floorRuns), "a new process each; floor: a new node process printing a line", "firstslice.warm"),
      row("wasphere run examples/blink to blink's first slice, cache cold (binaryen)", "ms", ms(cold), ms(floorRuns), "a new process each, empty cache", "firstslice.cold"),
    ];
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

async function boot(): Promise<Row[]> {
  const bytes = readFileSync(CORE_WASM_PATH);
  const mod = new WebAssembly.Module(bytes);
  const floor = perOp(() => { new ModuleCore({}, mod); }, 1);
  const samples = perOp(() => { new Device({ clock: new VirtualClock() }); }, 1);
  return [row("boot (core instantiate + core_boot)", "ns", samples, floor, "floor: instantiating core.wasm alone", "boot")];
}

/** What each step of the instrumenter costs on the example apps, and what the final -O2 would change. */
async function instrumentPasses(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const name of EXAMPLES) {
    const wasm = exampleModule(name);
    const opts = appInstrumentOptions(exampleQuotaBytes(name));
    instrumentApp(wasm, opts); // warm-up: binaryen's first use in a process is slower
    const runs = Array.from({ length: 5 }, () => instrumentVariant(wasm, opts, { metering: true, asyncify: true, optimize: true }));
    const passes = Object.keys(runs[0].passMs!) as (keyof InstrumentPassMs)[];
    for (const pass of passes) {
      rows.push(row(`instrument ${name}: ${pass === "optimize" ? "final -O2 (at install only past the growth budget)" : pass}`, "ms", runs.map((r) => r.passMs![pass]), undefined, undefined, `pass.${name}.${pass}`));
    }
    const without = instrumentApp(wasm, opts).instrumentedBytes;
    rows.push({ id: `size.${name}`, name: `instrumented ${name}, as installed (no final -O2)`, unit: "bytes", median: without, min: without, max: without,
      floor: runs[0].instrumentedBytes, ratio: without / runs[0].instrumentedBytes, note: `floor: with the final -O2; raw module ${wasm.length} B` });
  }
  return rows;
}

async function instrumentation(): Promise<Row[]> {
  const out = await benchInstrument({ withOptimize: true, withAsyncify: true });
  const rows: Row[] = [];
  const suffix: Record<string, string> = { "instrumented": "", "instrumented + final -O2": ".O2", "instrumented, binaryen asyncify": ".asyncify" };
  for (const kernel of [...new Set(out.rows.map((r) => r.kernel))]) {
    const plain = out.rows.find((r) => r.kernel === kernel && r.variant === "plain")!;
    for (const variant of Object.keys(suffix)) {
      const inst = out.rows.find((r) => r.kernel === kernel && r.variant === variant)!;
      rows.push({ id: `kernel.${kernel.split(/[^a-z]/)[0]}${suffix[variant]}`, name: `${variant} compute: ${kernel}`, unit: "ms", median: inst.medianMs, min: inst.minMs, max: inst.maxMs, floor: plain.medianMs, ratio: inst.slowdown,
        note: `${inst.slices} slices of ${abi.SLICE_FUEL} fuel; floor: the same module uninstrumented; ratio: median of per-round ratios` });
    }
  }
  rows.push(...wasmtimeFuel(rows.find((r) => r.id === "kernel.fib")));
  rows.push({ id: "size.kernels", name: "instrumented code size (kernels module)", unit: "bytes", median: out.instrumentedBytes, min: out.instrumentedBytes, max: out.instrumentedBytes,
    floor: out.originalBytes, ratio: out.instrumentedBytes / out.originalBytes, note: `floor: uninstrumented; with the final -O2: ${out.optimizedBytes} B; with binaryen asyncify alone: ${out.asyncifyBytes} B` });
  return rows;
}

/**
 * wasmtime's own fuel metering (Config.consume_fuel) on the same fib kernel, through the wasmtime
 * host (`python -m wasphere_wasmtime fuel`, PYTHON or python3 with wasmtime-py): the figure issue
 * 13 holds the instrumented fib against ("never worse than wasmtime's own fuel metering"), and our
 * fib ratio over wasmtime's. Rows only when that Python runs; otherwise a line on stderr says why.
 */
function wasmtimeFuel(ours: Row | undefined): Row[] {
  const python = process.env.PYTHON ?? "python3";
  const pkg = join(ROOT, "hosts", "wasmtime");
  const kernels = join(ROOT, "build", "bench-instrument", "kernels.wasm");
  const r = spawnSync(python, ["-m", "wasphere_wasmtime", "fuel", kernels, "--kernel", "1", "--n", "30", "--runs", "9"],
    { cwd: pkg, encoding: "utf8", env: { ...process.env, PYTHONPATH: pkg, PYTHONDONTWRITEBYTECODE: "1" } });
  if (r.status !== 0) {
    process.stderr.write(`bench: no wasmtime fuel row (${python} -m wasphere_wasmtime fuel: ${(r.error?.message ?? r.stderr ?? "").trim().split("\n").pop()})\n`);
    return [];
  }
  const out = JSON.parse(r.stdout) as { plainMs: number[]; fuelMs: number[]; ratios: number[]; result: number; fuelUsed: number };
  const fuel = stats(out.fuelMs);
  const ratio = stats(out.ratios).median;
  const rows: Row[] = [{ id: "kernel.fib.wasmtime", name: "wasmtime fuel metering compute: fib(30), recursive", unit: "ms", median: fuel.median, min: fuel.min, max: fuel.max,
    floor: stats(out.plainMs).median, ratio, note: `wasmtime-py, Config.consume_fuel, ${out.fuelUsed} fuel; floor: the same module in wasmtime without fuel; ratio: median of per-round ratios` }];
  if (ours?.ratio !== undefined) {
    rows.push({ id: "kernel.fib.vs-wasmtime", name: "instrumented fib(30) slowdown over wasmtime fuel metering's", unit: "x", median: ours.ratio, min: ours.ratio, max: ours.ratio,
      floor: ratio, ratio: ours.ratio / ratio, note: "median: our slowdown; floor: wasmtime's slowdown, each against its own uninstrumented run" });
  }
  return rows;
}

async function fileSystem(): Promise<Row[]> {
  const rows = await benchFs();
  const ram = await ramFigures();
  const ramRows: Row[] = [
    { name: "littlefs RAM, mounted (fs_ram_bytes, all)", unit: "bytes", median: ram.ramBytes, min: ram.ramBytes, max: ram.ramBytes, note: `static tables and output buffer ${ram.staticBytes} B + heap ${ram.heapBytes} B` },
    { name: "littlefs heap RAM, mounted", unit: "bytes", median: ram.heapBytes, min: ram.heapBytes, max: ram.heapBytes, floor: ram.formulaBytes, ratio: ram.heapBytes / ram.formulaBytes, note: "floor: littlefs's formula, read cache + prog cache + lookahead" },
    { name: "littlefs heap RAM, one file open", unit: "bytes", median: ram.heapBytesOneOpenFile, min: ram.heapBytesOneOpenFile, max: ram.heapBytesOneOpenFile, floor: ram.formulaOneOpenFile, ratio: ram.heapBytesOneOpenFile / ram.formulaOneOpenFile, note: "floor: the formula plus a cache per open file" },
  ];
  return [...ramRows, ...rows.map((r) => ({
    name: `littlefs: ${r.name}`, unit: "ms", median: r.medianMs, min: NaN, max: NaN, spread: r.spreadMs,
    floor: r.floorMedianMs, ratio: r.floorMedianMs > 0 ? r.medianMs / r.floorMedianMs : undefined,
    note: `read ${r.fs.readBytes} B, prog ${r.fs.progBytes} B, erase ${r.fs.eraseBytes} B; floor (raw flash): read ${r.floor.readBytes} B, prog ${r.floor.progBytes} B, erase ${r.floor.eraseBytes} B`,
  }))];
}


/**
 * Peripheral syscalls against the host's models, each against its floor: a bare Wasm->JS import
 * that makes the same model call (the SHT3x's status register read through the I2C bus; a 16-byte
 * transmit on the UART port), so the ratio is what the core's checks and copies add.
 */
async function peripheralRoundTrips(): Promise<Row[]> {
  const { Board, defaultBoardSpecs } = await import("../host/peripherals/board.js");
  const { Sht3x, SHT3X_ADDRESS } = await import("../host/peripherals/sht3x.js");
  const N = 20_000;
  const DATA = 8192;
  const board = new Board(defaultBoardSpecs(96));
  const bus = board.i2c("ISU1");
  bus.attach(SHT3X_ADDRESS, new Sht3x({ temperatureC: 22, humidityPercent: 45 }));
  const port = board.uart("ISU0");
  port.configure({ baudRate: 115200, dataBits: 8, parity: "none", stopBits: 1, flowControl: "none" });
  let sink = 0;
  port.onTransmit((b) => { sink += b.length; });
  const statusCmd = Uint8Array.of(0xf3, 0x2d);
  const bareLoop = (name: string, params: string, call: string) => wat(`(module (import "applibs" "${name}" (func $f (param ${params}) (result i32))) (memory (export "memory") 1)
    (func (export "main") (result i32) (local $i i32)
      (loop $l (drop ${call}) (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const ${N}))))
      (i32.const 0)))`);
  const i2cBare = new WebAssembly.Instance(new WebAssembly.Module(bareLoop("i2c_write_read", "i32 i32 i32", `(call $f (i32.const 1) (i32.const 0x44) (i32.const ${DATA}))`)),
    { applibs: { i2c_write_read: () => { const r = bus.writeThenRead(SHT3X_ADDRESS, statusCmd, 3, 0); return typeof r === "number" ? r : 5; } } });
  const i2cFloor = perOp(() => (i2cBare.exports.main as () => number)(), N);
  const bytes16 = new Uint8Array(16);
  const uartBare = new WebAssembly.Instance(new WebAssembly.Module(bareLoop("uart_write", "i32 i32 i32", `(call $f (i32.const 1) (i32.const ${DATA}) (i32.const 16))`)),
    { applibs: { uart_write: () => port.transmit(bytes16) } });
  const uartFloor = perOp(() => (uartBare.exports.main as () => number)(), N);

  const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  const hex = (b: number[]) => b.map((x) => `\\${x.toString(16).padStart(2, "0")}`).join("");
  const app = (imports: string, open: string, call: string, data: number[]) => wat(`(module ${imports}
    (import "applibs" "sleep_ms" (func $sleep (param i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const ${DATA}) "${hex(data)}")
    (func (export "main") (result i32) (local $i i32) (local $h i32)
      (local.set $h ${open})
      (loop $forever
        (local.set $i (i32.const 0))
        (loop $l (drop ${call}) (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const ${N}))))
        (drop (call $sleep (i32.const 1000)))
        (br $forever))
      (i32.const 0)))`);
  const run = async (module: Uint8Array, caps: Record<string, unknown>) => {
    const dev = new Device({ clock: new VirtualClock(), board });
    dev.start(await install(dev, "bench", module, { Capabilities: caps }));
    const clock = dev.clock as VirtualClock;
    return perOpAsync(async () => { while (dev.step()) { /* until it sleeps */ } clock.advance(1000); }, N);
  };
  // write 0xf32d (at DATA+16), read 3 bytes to DATA+32: the descriptor at DATA.
  const i2c = await run(app(`(import "applibs" "i2c_open" (func $open (param i32) (result i32))) (import "applibs" "i2c_write_read" (func $wr (param i32 i32 i32) (result i32)))`,
    "(call $open (i32.const 1))", `(call $wr (local.get $h) (i32.const 0x44) (i32.const ${DATA}))`,
    [...le32(DATA + 16), ...le32(2), ...le32(DATA + 32), ...le32(3), 0xf3, 0x2d]), { I2cMaster: ["ISU1"] });
  const uart = await run(app(`(import "applibs" "uart_open" (func $open (param i32 i32) (result i32))) (import "applibs" "uart_write" (func $w (param i32 i32 i32) (result i32)))`,
    `(call $open (i32.const 0) (i32.const ${DATA}))`, `(call $w (local.get $h) (i32.const ${DATA + 16}) (i32.const 16))`,
    [...le32(115200), 8, 0, 1, 0]), { Uart: ["ISU0"] });
  if (sink === 0) throw new Error("bench: the UART heard nothing");
  return [
    row("I2C write-then-read (2 + 3 bytes, an SHT3x's status): app -> core -> host model -> app", "ns/call", i2c, i2cFloor, "floor: a bare Wasm->JS import making the same bus call", "periph.i2c"),
    row("UART write (16 bytes): app -> core -> host model -> app", "ns/call", uart, uartFloor, "floor: a bare Wasm->JS import making the same transmit", "periph.uart"),
  ];
}

/**
 * A socket round trip through the allowlist: an app connected to a loopback echo server sends 16
 * bytes and waits (wait on the socket: its task blocks, the device idles) until the 16 come back,
 * ROUNDS times; each sample is one such exchange seen from the host, the app's send to its receive
 * (the host's Network logs every send and receive it makes for the app). The floor is the same
 * exchange from a plain Node socket to the same server.
 */
async function socketRoundTrip(): Promise<Row[]> {
  const { createServer, connect } = await import("node:net");
  const { Network } = await import("../host/net/network.js");
  const { startNetworkManager, systemAppsFromTree } = await import("../host/net/system-apps.js");
  const ROUNDS = 400;
  const server = createServer((s) => { s.setNoDelay(true); s.on("data", (d) => s.write(d)); s.on("error", () => s.destroy()); });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const DATA = 8192;
  const text = "127.0.0.1";
  const app = wat(`(module
    (import "applibs" "net_connect" (func $connect (param i32 i32 i32 i32) (result i32)))
    (import "applibs" "net_send" (func $send (param i32 i32 i32) (result i32)))
    (import "applibs" "net_recv" (func $recv (param i32 i32 i32) (result i32)))
    (import "applibs" "wait" (func $wait (param i32 i32) (result i32)))
    (import "applibs" "sleep_ms" (func $sleep (param i32) (result i32)))
    (import "applibs" "net_status" (func $status (param i32 i32) (result i32)))
    (import "applibs" "exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (data (i32.const ${DATA}) "${text}")
    (func (export "main") (result i32) (local $h i32) (local $i i32) (local $got i32) (local $r i32)
      ;; networking ready (the network manager published)
      (block $ready (loop $w
        (drop (call $status (i32.const ${DATA + 256}) (i32.const 32)))
        (br_if $ready (i32.eq (i32.load8_u (i32.const ${DATA + 256})) (i32.const 1)))
        (drop (call $sleep (i32.const 5))) (br $w)))
      (local.set $h (call $connect (i32.const 1) (i32.const ${DATA}) (i32.const ${text.length}) (i32.const ${port})))
      (if (i32.lt_s (local.get $h) (i32.const 0)) (then (call $exit (local.get $h))))
      (drop (call $wait (local.get $h) (i32.const -1)))
      (loop $round
        (drop (call $send (local.get $h) (i32.const ${DATA + 64}) (i32.const 16)))
        (local.set $got (i32.const 0))
        (loop $more
          (local.set $r (call $recv (local.get $h) (i32.const ${DATA + 128}) (i32.const 64)))
          (if (i32.gt_s (local.get $r) (i32.const 0)) (then (local.set $got (i32.add (local.get $got) (local.get $r))))
            (else (if (i32.eq (local.get $r) (i32.const ${-abi.EAGAIN})) (then (drop (call $wait (local.get $h) (i32.const -1)))) (else (call $exit (local.get $r))))))
          (br_if $more (i32.lt_s (local.get $got) (i32.const 16))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $round (i32.lt_u (local.get $i) (i32.const ${ROUNDS}))))
      (i32.const 0)))`);
  const network = new Network();
  // Each exchange, timed where the host sees it: the app's send to the receive that completes it.
  const samples: number[] = [];
  let sentAt = 0, received = 0;
  const control = network.control.bind(network), read = network.read.bind(network);
  network.control = (socket, op, arg, data) => { const rc = control(socket, op, arg, data); if (op === abi.NET_OP_SEND && rc > 0) { sentAt = nowNs(); received = 0; } return rc; };
  network.read = (socket, op, arg, maxLen) => {
    const r = read(socket, op, arg, maxLen);
    if (op === abi.NET_OP_RECV && typeof r !== "number" && r.length > 0) { received += r.length; if (received >= 16) samples.push(nowNs() - sentAt); }
    return r;
  };
  const dev = new Device({ clock: new RealClock(), network });
  await startNetworkManager(dev, systemAppsFromTree());
  dev.start(await install(dev, "echoer", app, { Capabilities: { AllowedConnections: ["127.0.0.1"] } }));
  const stop = new AbortController();
  const running = dev.run({ signal: stop.signal });
  const deadline = Date.now() + 60_000;
  while (samples.length < ROUNDS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  stop.abort();
  await running;
  network.closeAll();
  if (samples.length < ROUNDS) throw new Error(`bench: the socket app made ${samples.length} of ${ROUNDS} round trips`);
  // The floor: the same exchange from a plain Node socket.
  const floor: number[] = [];
  await new Promise<void>((resolve, reject) => {
    const c = connect(port, "127.0.0.1");
    c.setNoDelay(true);
    const payload = Buffer.alloc(16, 7);
    let t0 = 0, got = 0;
    const next = () => { if (floor.length >= ROUNDS) { c.end(); resolve(); return; } got = 0; t0 = nowNs(); c.write(payload); };
    c.on("connect", next);
    c.on("data", (d) => { got += d.length; if (got >= 16) { floor.push(nowNs() - t0); next(); } });
    c.on("error", reject);
  });
  server.close();
  return [latencyRow("net.echo", "socket round trip through the allowlist: 16 bytes to a loopback echo server and back (app send to app receive, real clock)", "us",
    samples.slice(10).map((x) => x / 1e3), floor.slice(10).map((x) => x / 1e3),
    `${ROUNDS - 10} exchanges after 10 warm-up ones; the app waits on its socket between send and receive; floor: a plain Node socket to the same server`)];
}

/** The groups, each run in its own process under `flags`. */
export const GROUPS: { name: string; flags: string[]; run: () => Promise<Row[]> }[] = [
  { name: "syscall", flags: USER_NODE_FLAGS, run: syscallRoundTrip },
  { name: "switch", flags: USER_NODE_FLAGS, run: contextSwitch },
  { name: "periph", flags: USER_NODE_FLAGS, run: peripheralRoundTrips },
  { name: "wakeup", flags: USER_NODE_FLAGS, run: wakeUps },
  { name: "evloop", flags: USER_NODE_FLAGS, run: eventLoopWake },
  { name: "net", flags: USER_NODE_FLAGS, run: socketRoundTrip },
  { name: "load", flags: USER_NODE_FLAGS, run: appLoad },
  { name: "scale", flags: USER_NODE_FLAGS, run: scale },
  { name: "firstslice", flags: USER_NODE_FLAGS, run: firstSlice },
  { name: "boot", flags: USER_NODE_FLAGS, run: boot },
  { name: "passes", flags: USER_NODE_FLAGS, run: instrumentPasses },
  { name: "compute", flags: USER_NODE_FLAGS, run: instrumentation },
  { name: "fs", flags: USER_NODE_FLAGS, run: fileSystem },
];

/** Runs `group` in a child process under its flags; its rows come back as JSON on stdout. */
function runGroup(group: (typeof GROUPS)[number]): Row[] {
  const script = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, [...group.flags, script, "--child", group.name], { cwd: ROOT, encoding: "utf8", maxBuffer: 64 * 1024 * 1024, stdio: ["ignore", "pipe", "inherit"] });
  if (r.status !== 0) throw new Error(`bench group ${group.name} failed (exit ${r.status})`);
  return (JSON.parse(r.stdout) as Row[]).map((row) => ({ ...row, group: group.name, flags: group.flags }));
}

export interface Goal { max: number; of: "ratio" | "median" | "p99"; unit?: string; from: string }
export const GOALS_PATH = join(ROOT, "tools", "bench-goals.json");
export function readGoals(): Record<string, Goal> {
  const all = JSON.parse(readFileSync(GOALS_PATH, "utf8")) as Record<string, Goal | string>;
  return Object.fromEntries(Object.entries(all).filter(([k]) => !k.startsWith("$"))) as Record<string, Goal>;
}

/** "goal <= x: met" for a row with a goal, "" otherwise. */
export function goalText(r: Row, goals: Record<string, Goal>): string {
  const goal = r.id ? goals[r.id] : undefined;
  if (!goal) return "";
  const value = goal.of === "ratio" ? r.ratio : goal.of === "p99" ? r.p99 : r.median;
  if (value === undefined) return "";
  const shown = goal.of === "ratio" ? `x${goal.max}` : `${goal.max}${goal.unit ? " " + goal.unit : ""}`;
  return `  goal ${goal.of} <= ${shown}: ${value <= goal.max ? "met" : "NOT met"}`;
}

export const HEADER = `${"figure".padEnd(78)} ${"median".padStart(10)} unit      [spread]  ratio vs floor`;

export function formatRows(rows: Row[], goals: Record<string, Goal> = {}, header = true): string {
  const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
  const lines: string[] = header ? [HEADER] : [];
  let group: string | undefined;
  for (const r of rows) {
    if (r.group !== group) {
      group = r.group;
      if (group) lines.push(`-- ${group}: node ${r.flags?.length ? r.flags.join(" ") : "(no command-line flags"}; ${ENGINE_FLAGS.join(" ")} set at start, as wasphere run) --`);
    }
    const pct = r.p50 !== undefined ? `  p50 ${fmt(r.p50)} p99 ${fmt(r.p99!)}` : "";
    lines.push(`${r.name.padEnd(78)} ${fmt(r.median).padStart(10)} ${r.unit.padEnd(9)} ${r.spread !== undefined ? `[±${fmt(r.spread)}]` : `[${fmt(r.min)}..${fmt(r.max)}]`}${pct}${r.ratio !== undefined ? `  x${r.ratio.toFixed(2)} vs ${fmt(r.floor!)}` : ""}${goalText(r, goals)}${r.note ? `  (${r.note})` : ""}`);
  }
  return lines.join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  if (args[0] === "--child") {
    applyEngineFlags(); // where the command sets them: after its modules load, before its work
    const group = GROUPS.find((g) => g.name === args[1]);
    if (!group) throw new Error(`no bench group ${args[1]}`);
    process.stdout.write(JSON.stringify(await group.run()));
    process.exit(0); // the instrumenter's worker and timers must not keep the child alive
  }
  const wanted = args.flatMap((a, i) => (args[i - 1] === "--group" ? [a] : []));
  const unknown = wanted.filter((w) => !GROUPS.some((g) => g.name === w));
  if (unknown.length) { process.stderr.write(`bench: no group ${unknown.join(", ")} (groups: ${GROUPS.map((g) => g.name).join(", ")})\n`); process.exit(2); }
  const json = args.includes("--json");
  const goals = readGoals();
  const rows: Row[] = [];
  // Text goes out group by group, as each finishes; JSON at the end, whole.
  if (!json) process.stdout.write(HEADER + "\n");
  for (const group of GROUPS.filter((g) => wanted.length === 0 || wanted.includes(g.name))) {
    const groupRows = runGroup(group);
    rows.push(...groupRows);
    if (!json) process.stdout.write(formatRows(groupRows, goals, false) + "\n");
  }
  if (json) process.stdout.write(JSON.stringify(rows, null, 2) + "\n");
}
