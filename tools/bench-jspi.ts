// What engine stack switching would buy, measured where a host has it: Chromium's JS Promise
// Integration (`WebAssembly.Suspending` for the preempt import, `WebAssembly.promising` for the
// entry). The instrumented kernels (tools/bench-instrument.ts) run in one Chromium page three
// ways, each against the same module uninstrumented in the same rounds: as wasphere installs them
// (metering, resumable functions and asyncify, sliced by a driver that follows AppRunner's
// protocol), and metered only, with preemption as a JSPI suspension (with and without a final
// -O2, which asyncify no longer stands in the way of). Code sizes are printed for the kernels and
// the example apps. A figure, not a feature: wasphere's hosts still suspend with asyncify (DESIGN.md,
// "Metering"), because Node 20 has JSPI only behind a flag and a suspension there resumes in a
// microtask, where a slice of `Device.step` must end synchronously.
//   node dist/tools/bench-jspi.js [--rounds N]
// Needs Chromium (tools/chromium.ts); prints rows, asserts nothing about speed. Every variant must
// compute the plain module's result, or the run fails (tests/host/jspi-figures.test.ts runs one round).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright-core";
import { join } from "node:path";
import * as abi from "../assembly/abi.js";
import { instrumentApp, instrumentVariant } from "../host/apps/instrument.js";
import { ASYNCIFY_DATA_ADDR, ASYNCIFY_HEADER_ADDR, FUEL_IDLE } from "../host/apps/protocol.js";
import { appInstrumentOptions } from "../host/apps/imports.js";
import { buildKernels } from "./bench-instrument.js";
import { launchHeadlessChromium } from "./chromium.js";
import { REPO } from "./conformance.js";

const args = process.argv.slice(2);
const ROUNDS = (args.includes("--rounds") && Number(args[args.indexOf("--rounds") + 1])) || 11;
const OPTS = { blockingImports: [], quotaBytes: 4 * 65536, runtimeAreaBytes: abi.APP_RUNTIME_AREA_BYTES };
/** The kernels' configure(id, n), as tools/bench-instrument.ts runs them. */
const KERNELS = [
  { name: "hash: xorshift fill + FNV-1a over 64 KiB, 200 rounds", id: 0, n: 200 },
  { name: "fib(30), recursive", id: 1, n: 30 },
  { name: "matmul 32x32 i32, 100 rounds", id: 2, n: 100 },
];
/** fib(25) in slices this small: the per-slice cost of a suspension and resumption. */
const SWITCH_KERNEL = { id: 1, n: 25 };
const SMALL_SLICE_FUEL = 2000;

export interface PageResult { kernel: string; variant: string; medianMs: number; slowdown: number; slices: number }

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

export interface JspiFigures {
  chromium: string;
  rows: PageResult[];
  switches: { variant: string; usPerSlice: number }[];
  sizes: { what: string; rawBytes: number; bytes: number }[];
}

/** The figures above, `rounds` rounds each, in a Chromium the caller launched (and closes). */
export async function jspiFigures(browser: Browser, rounds = ROUNDS): Promise<JspiFigures> {
  const plain = await buildKernels();
  const installed = instrumentApp(plain, OPTS).bytes;
  const metered = instrumentVariant(plain, OPTS, { metering: true, asyncify: false }).bytes;
  const meteredO2 = instrumentVariant(plain, OPTS, { metering: true, asyncify: false, optimize: true }).bytes;
  const sizes: JspiFigures["sizes"] = [
    { what: "kernels, as installed (asyncify + resumable functions)", rawBytes: plain.length, bytes: installed.length },
    { what: "kernels, metered only (what a JSPI host needs)", rawBytes: plain.length, bytes: metered.length },
    { what: "kernels, metered only, final -O2", rawBytes: plain.length, bytes: meteredO2.length },
  ];
  for (const name of ["blink", "button"]) {
    const wasm = readFileSync(join(REPO, "examples", name, "build", `${name}.wasm`));
    const opts = appInstrumentOptions(256 * 1024);
    sizes.push({ what: `${name}, as installed`, rawBytes: wasm.length, bytes: instrumentApp(wasm, opts).bytes.length });
    sizes.push({ what: `${name}, metered only, final -O2`, rawBytes: wasm.length, bytes: instrumentVariant(wasm, opts, { metering: true, asyncify: false, optimize: true }).bytes.length });
  }
  const page = await browser.newPage();
  try {
    await page.goto("about:blank");
    const out = await page.evaluate(runInPage, {
      mods: { plain: b64(plain), installed: b64(installed), metered: b64(metered), meteredO2: b64(meteredO2) },
      kernels: KERNELS, rounds, slice: abi.SLICE_FUEL, idle: FUEL_IDLE, hdr: ASYNCIFY_HEADER_ADDR, data: ASYNCIFY_DATA_ADDR,
      area: abi.APP_RUNTIME_AREA_BYTES, switchKernel: SWITCH_KERNEL, smallSlice: SMALL_SLICE_FUEL,
    });
    return { chromium: browser.version(), ...out, sizes };
  } finally {
    await page.close();
  }
}

async function main(): Promise<void> {
  const browser = await launchHeadlessChromium();
  let f: JspiFigures;
  try { f = await jspiFigures(browser); } finally { await browser.close(); }
  process.stdout.write(`chromium ${f.chromium}, ${ROUNDS} rounds; slowdown: median of per-round ratios against the plain module in the same round\n`);
  for (const r of f.rows) {
    process.stdout.write(`${`${r.variant}: ${r.kernel}`.padEnd(78)} ${r.medianMs.toFixed(2).padStart(8)} ms  x${r.slowdown.toFixed(2)}  (${r.slices} slices)\n`);
  }
  for (const s of f.switches) process.stdout.write(`${`${s.variant}: one suspension and resumption (fib(25) in slices of ${SMALL_SLICE_FUEL} fuel)`.padEnd(78)} ${s.usPerSlice.toFixed(2).padStart(8)} us/slice\n`);
  for (const z of f.sizes) process.stdout.write(`${z.what.padEnd(60)} ${String(z.bytes).padStart(7)} B  x${(z.bytes / z.rawBytes).toFixed(2)} vs ${z.rawBytes} B uninstrumented\n`);
}

interface PageArgs {
  mods: Record<"plain" | "installed" | "metered" | "meteredO2", string>;
  kernels: { name: string; id: number; n: number }[];
  rounds: number; slice: number; idle: number; hdr: number; data: number; area: number;
  switchKernel: { id: number; n: number }; smallSlice: number;
}

/** Runs in the page: every variant of every kernel, rounds in turn. */
async function runInPage(a: PageArgs): Promise<{ rows: PageResult[]; switches: { variant: string; usPerSlice: number }[] }> {
  type Ex = Record<string, unknown> & { memory: WebAssembly.Memory; __wasphere_fuel: WebAssembly.Global };
  type Run = { ms: number; result: number; slices: number };
  const mod = (s: string) => new WebAssembly.Module(Uint8Array.from(atob(s), (c) => c.charCodeAt(0)));
  const M = { plain: mod(a.mods.plain), installed: mod(a.mods.installed), metered: mod(a.mods.metered), meteredO2: mod(a.mods.meteredO2) };
  const call = (ex: Record<string, unknown>, name: string, ...v: number[]) => (ex[name] as (...x: number[]) => number)(...v);

  const plain = async (k: { id: number; n: number }): Promise<Run> => {
    const ex = new WebAssembly.Instance(M.plain, {}).exports as Record<string, unknown>;
    call(ex, "configure", k.id, k.n);
    const t0 = performance.now();
    const result = call(ex, "main");
    return { ms: performance.now() - t0, result, slices: 1 };
  };
  // AppRunner's protocol without the link module: fuel, rewind, entry, unwind.
  const asyncified = async (k: { id: number; n: number }, slice = a.slice): Promise<Run> => {
    let state = 0; // 0 normal, 1 unwinding, 2 rewinding
    let ex: Ex | null = null;
    const preempt = () => {
      const e = ex!;
      if (state === 2) { state = 0; call(e, "asyncify_stop_rewind"); return; }
      state = 1;
      const h = new Int32Array(e.memory.buffer, 0, (a.hdr >> 2) + 2);
      h[a.hdr >> 2] = a.data;
      h[(a.hdr >> 2) + 1] = a.area;
      call(e, "asyncify_start_unwind", a.hdr);
    };
    ex = new WebAssembly.Instance(M.installed, { wasphere: { preempt } }).exports as Ex;
    ex.__wasphere_fuel.value = a.idle;
    call(ex, "configure", k.id, k.n);
    let slices = 0;
    const t0 = performance.now();
    for (;;) {
      slices++;
      ex.__wasphere_fuel.value = slice;
      if (slices > 1) { state = 2; call(ex, "asyncify_start_rewind", a.hdr); }
      const result = call(ex, "__wasphere_entry");
      if (state === 1) { state = 0; call(ex, "asyncify_stop_unwind"); continue; }
      return { ms: performance.now() - t0, result, slices };
    }
  };
  // Preemption as a JSPI suspension: the slice ends in a pending promise, resumed a microtask later.
  const jspi = (m: WebAssembly.Module) => async (k: { id: number; n: number }, slice = a.slice): Promise<Run> => {
    let slices = 1;
    let ex: Ex | null = null;
    const W = WebAssembly as unknown as { Suspending: new (f: () => Promise<void>) => unknown; promising: (f: unknown) => () => Promise<number> };
    const preempt = new W.Suspending(async () => { slices++; await null; ex!.__wasphere_fuel.value = slice; });
    ex = new WebAssembly.Instance(m, { wasphere: { preempt } } as unknown as WebAssembly.Imports).exports as Ex;
    ex.__wasphere_fuel.value = a.idle;
    call(ex, "configure", k.id, k.n);
    const entry = W.promising(ex.__wasphere_entry);
    ex.__wasphere_fuel.value = slice;
    const t0 = performance.now();
    const result = await entry();
    return { ms: performance.now() - t0, result, slices };
  };
  const variants: [string, (k: { id: number; n: number }, slice?: number) => Promise<Run>][] = [
    ["as installed (asyncify)", asyncified], ["metered, JSPI", jspi(M.metered)], ["metered + final -O2, JSPI", jspi(M.meteredO2)],
  ];
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
  const rows: PageResult[] = [];
  for (const k of a.kernels) {
    const base: number[] = [];
    const per = variants.map(() => ({ ms: [] as number[], ratio: [] as number[], slices: 0 }));
    for (let r = -1; r < a.rounds; r++) {
      const p = await plain(k);
      for (let i = 0; i < variants.length; i++) {
        const v = await variants[(r + 1 + i) % variants.length][1](k);
        const slot = per[(r + 1 + i) % variants.length];
        if (v.result !== p.result) throw new Error(`${variants[(r + 1 + i) % variants.length][0]} computed ${v.result} for ${k.name}, the plain module ${p.result}`);
        if (r >= 0) { slot.ms.push(v.ms); slot.ratio.push(v.ms / p.ms); slot.slices = v.slices; }
      }
      if (r >= 0) base.push(p.ms);
    }
    rows.push({ kernel: k.name, variant: "plain", medianMs: median(base), slowdown: 1, slices: 1 });
    variants.forEach(([name], i) => rows.push({ kernel: k.name, variant: name, medianMs: median(per[i].ms), slowdown: median(per[i].ratio), slices: per[i].slices }));
  }
  const switches: { variant: string; usPerSlice: number }[] = [];
  for (const [name, run] of variants.slice(0, 2)) {
    const samples: number[] = [];
    for (let r = -1; r < a.rounds; r++) {
      const small = await run(a.switchKernel, a.smallSlice);
      const whole = await run(a.switchKernel);
      if (r >= 0) samples.push(((small.ms - whole.ms) * 1000) / (small.slices - whole.slices));
    }
    switches.push({ variant: name, usPerSlice: median(samples) });
  }
  return { rows, switches };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
