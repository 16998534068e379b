// `npm run bench`: wasphere's figures, each a ratio against a floor measured in the same run.
// Warm-up, then repeats; median and spread (min..max) of the repeats. Figures, never asserts:
// timing does not fail CI. `--json` prints the rows as JSON.
import binaryen from "binaryen";
import { APP_FEATURES } from "../host/apps/instrument.js";
import { readFileSync } from "node:fs";
import * as abi from "../assembly/abi.js";
import { Device } from "../host/device.js";
import { VirtualClock } from "../host/peripherals/clock.js";
import { appFromBytes } from "../host/apps/package.js";
import { APP_IMPORTS } from "../host/apps/imports.js";
import { CORE_WASM_PATH, ModuleCore } from "../host/core.js";
import { benchInstrument } from "./bench-instrument.js";
import { benchFs, ramFigures } from "./bench-fs.js";

export interface Row {
  name: string; unit: string; median: number; min: number; max: number;
  /** Where the source gives a symmetric spread instead of min and max. */
  spread?: number;
  floor?: number; ratio?: number; note?: string;
}

const REPEATS = 9;

export function stats(samples: number[]): { median: number; min: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { median: s[s.length >> 1], min: s[0], max: s[s.length - 1] };
}

/** Runs `fn` (which does `n` operations and returns nothing) and returns ns per operation. */
function perOp(fn: () => void, n: number): number[] {
  fn(); fn(); // warm-up: let the engine tier up
  const out: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    out.push(Number(process.hrtime.bigint() - t0) / n);
  }
  return out;
}

async function perOpAsync(fn: () => Promise<void>, n: number): Promise<number[]> {
  await fn();
  const out: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const t0 = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t0) / n);
  }
  return out;
}

function wat(text: string): Uint8Array<ArrayBuffer> {
  const mod = binaryen.parseText(text);
  mod.setFeatures(APP_FEATURES);
  const bytes = new Uint8Array(mod.emitBinary());
  mod.dispose();
  return bytes;
}

function row(name: string, unit: string, samples: number[], floorSamples?: number[], note?: string): Row {
  const s = stats(samples);
  if (!floorSamples) return { name, unit, ...s, note };
  const floor = stats(floorSamples).median;
  return { name, unit, ...s, floor, ratio: s.median / floor, note };
}

const CALLS = 200_000;
const loopApp = (imports: string, call: string) => wat(`(module ${imports} (memory (export "memory") 1)
  (func (export "main") (result i32) (local $i i32)
    (loop $l ${call} (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const ${CALLS}))))
    (i32.const 0)))`);

async function syscallRoundTrip(): Promise<Row> {
  // Floor: the same loop calling a bare JS import that reads the same GPIO model value.
  const bare = new WebAssembly.Instance(new WebAssembly.Module(loopApp(`(import "applibs" "gpio_get" (func $get (param i32) (result i32)))`, `(drop (call $get (i32.const 1)))`)),
    { applibs: { gpio_get: (_h: number) => 0 } });
  const floor = perOp(() => (bare.exports.main as () => number)(), CALLS);
  const full = wat(`(module
    (import "applibs" "gpio_open_input" (func $in (param i32) (result i32)))
    (import "applibs" "gpio_get" (func $get (param i32) (result i32)))
    (import "applibs" "sleep_ms" (func $sleep (param i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "main") (result i32) (local $i i32) (local $h i32)
      (local.set $h (call $in (i32.const 12)))
      (loop $forever
        (local.set $i (i32.const 0))
        (loop $l (drop (call $get (local.get $h))) (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const ${CALLS}))))
        (drop (call $sleep (i32.const 1000)))
        (br $forever))
      (i32.const 0)))`);
  const dev = new Device({ clock: new VirtualClock() });
  const app = await dev.install(appFromBytes("bench", { SchemaVersion: 1, Name: "bench", ComponentId: "00000000-0000-4000-8000-00000000b001", EntryPoint: "b.wasm", Capabilities: { Gpio: [12] } }, full));
  dev.start(app);
  const clock = dev.clock as VirtualClock;
  // Each round: run until the app sleeps (CALLS syscalls and a few preemptions), then jump time.
  const samples = await perOpAsync(async () => {
    while (dev.step()) { /* until the app blocks */ }
    clock.advance(1000);
  }, CALLS);
  return row("syscall round trip (gpio_get: app -> core -> host -> app)", "ns/call", samples, floor, "floor: bare Wasm->JS import call");
}

async function contextSwitch(): Promise<Row[]> {
  // Two apps that only yield: every slice is a switch (unwind, core decision, rewind).
  const yielder = wat(`(module (import "applibs" "yield" (func $y (result i32))) (memory (export "memory") 1)
    (func (export "main") (result i32) (loop $l (drop (call $y)) (br $l)) (i32.const 0)))`);
  const spinner = wat(`(module (memory (export "memory") 1) (func (export "main") (result i32) (loop $l (br $l)) (i32.const 0)))`);
  const dev = new Device({ clock: new VirtualClock() });
  for (const [i, m] of [yielder, yielder].entries()) {
    const a = await dev.install(appFromBytes(`y${i}`, { SchemaVersion: 1, Name: `y${i}`, ComponentId: `00000000-0000-4000-8000-00000000c00${i}`, EntryPoint: "y.wasm" }, m));
    dev.start(a);
  }
  const SWITCHES = 20_000;
  const sw = perOp(() => { for (let i = 0; i < SWITCHES; i++) dev.step(); }, SWITCHES);
  // Floor: a bare JS->Wasm call of an empty export.
  const empty = new WebAssembly.Instance(new WebAssembly.Module(wat(`(module (func (export "f")))`)));
  const f = empty.exports.f as () => void;
  const floor = perOp(() => { for (let i = 0; i < SWITCHES; i++) f(); }, SWITCHES);
  // Preemption latency: how long one slice of a spinning app takes (SLICE_FUEL of work).
  const dev2 = new Device({ clock: new VirtualClock() });
  const s = await dev2.install(appFromBytes("spin", { SchemaVersion: 1, Name: "spin", ComponentId: "00000000-0000-4000-8000-00000000d001", EntryPoint: "s.wasm" }, spinner));
  dev2.start(s);
  const slices = perOp(() => { for (let i = 0; i < 50; i++) dev2.step(); }, 50);
  return [
    row("context switch between two yielding apps", "ns/switch", sw, floor, "floor: bare JS->Wasm call"),
    row(`preemption latency of a spinning app (one slice of ${abi.SLICE_FUEL} fuel)`, "ns/slice", slices),
  ];
}

async function appLoad(): Promise<Row> {
  const wasm = readFileSync(new URL("../../examples/blink/build/blink.wasm", import.meta.url));
  const floor = await perOpAsync(async () => { await WebAssembly.instantiate(wasm, { applibs: Object.fromEntries(APP_IMPORTS.map((i) => [i.name, () => 0])) }); }, 1);
  let n = 0;
  const samples = await perOpAsync(async () => {
    const dev = new Device({ clock: new VirtualClock() });
    const app = await dev.install(appFromBytes("load", { SchemaVersion: 1, Name: "load", ComponentId: `00000000-0000-4000-8000-0000000e${(n++).toString(16).padStart(4, "0")}`, EntryPoint: "l.wasm", Capabilities: { Gpio: [8] } }, wasm));
    dev.start(app);
    dev.step();
  }, 1);
  return row("app load (install: manifest, instrument, compile; instantiate; first slice)", "ns", samples, floor, "floor: raw WebAssembly.instantiate of the same module");
}

async function boot(): Promise<Row> {
  const bytes = readFileSync(CORE_WASM_PATH);
  const mod = new WebAssembly.Module(bytes);
  const floor = perOp(() => { new ModuleCore({}, mod); }, 1);
  const samples = perOp(() => { new Device({ clock: new VirtualClock() }); }, 1);
  return row("boot (core instantiate + core_boot)", "ns", samples, floor, "floor: instantiating core.wasm alone");
}

async function instrumentation(): Promise<Row[]> {
  const out = await benchInstrument();
  const rows: Row[] = [];
  for (const kernel of [...new Set(out.rows.map((r) => r.kernel))]) {
    const plain = out.rows.find((r) => r.kernel === kernel && r.variant === "plain")!;
    const inst = out.rows.find((r) => r.kernel === kernel && r.variant === "instrumented")!;
    rows.push({ name: `instrumented compute: ${kernel}`, unit: "ms", median: inst.medianMs, min: inst.minMs, max: inst.maxMs, floor: plain.medianMs, ratio: inst.slowdown,
      note: `${inst.slices} slices of ${abi.SLICE_FUEL} fuel; floor: the same module uninstrumented; ratio: median of per-round ratios` });
  }
  rows.push({ name: "instrumented code size (kernels module)", unit: "bytes", median: out.instrumentedBytes, min: out.instrumentedBytes, max: out.instrumentedBytes,
    floor: out.originalBytes, ratio: out.instrumentedBytes / out.originalBytes, note: "floor: uninstrumented" });
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

export async function runBench(): Promise<Row[]> {
  const rows: Row[] = [];
  rows.push(await syscallRoundTrip());
  rows.push(...await contextSwitch());
  rows.push(await appLoad());
  rows.push(await boot());
  rows.push(...await instrumentation());
  rows.push(...await fileSystem());
  return rows;
}

export function formatRows(rows: Row[]): string {
  const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
  const lines = rows.map((r) => `${r.name.padEnd(78)} ${fmt(r.median).padStart(10)} ${r.unit.padEnd(9)} ${r.spread !== undefined ? `[±${fmt(r.spread)}]` : `[${fmt(r.min)}..${fmt(r.max)}]`}${r.ratio !== undefined ? `  x${r.ratio.toFixed(2)} vs ${fmt(r.floor!)}` : ""}${r.note ? `  (${r.note})` : ""}`);
  return [`${"figure".padEnd(78)} ${"median".padStart(10)} unit      [spread]  ratio vs floor`, ...lines].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await runBench();
  process.stdout.write(process.argv.includes("--json") ? JSON.stringify(rows, null, 2) + "\n" : formatRows(rows) + "\n");
}
