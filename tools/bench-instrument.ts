// What making apps preemptible costs: compute kernels run plain and instrumented, the
// instrumented ones through an AppRunner refilled with SLICE_FUEL per slice, so they are preempted
// (unwound and rewound) all along. Prints the slowdown (median of the repeats, spread min..max)
// and the code growth. Figures, not asserts.
//   node dist/tools/bench-instrument.js [--repeats N] [--json] [--asyncify] [--ablation] [--tiering]
// "instrumented, one slice" gives the kernel all the fuel it needs: the cost of the rewrite
// alone, without preemptions. --ablation also times the module with metering only (no
// asyncify) and asyncify only (no metering), to show where the cost comes from; --asyncify (and
// --ablation) also times the module suspended by binaryen's asyncify instead of instrument-resume.ts.
// Run on its own, Wasm is compiled by TurboFan up front (--no-liftoff) so every variant is timed
// in its optimised code; --tiering keeps V8's default tiering (a single long call then stays in
// the baseline code, which blurs the comparison). Imported (`npm run bench`), it sets no flag:
// the bench runs it in a child process under the flags users get.
import { mkdirSync, readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as abi from "../assembly/abi.js";
import { instrumentApp, instrumentVariant } from "../host/apps/instrument.js";
import { AppRunner } from "../host/apps/runner.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const args = process.argv.slice(2);
const REPEATS = (args.includes("--repeats") && Number(args[args.indexOf("--repeats") + 1])) || 9;
const JSON_OUT = args.includes("--json");
const ABLATION = args.includes("--ablation");
const WITH_ASYNCIFY = args.includes("--asyncify");

/** Compiles tests/apps/instrument/kernels.ts the way the SDK builds apps (data from 8192). */
export async function buildKernels(): Promise<Uint8Array> {
  const out = join(ROOT, "build", "bench-instrument", "kernels.wasm");
  mkdirSync(dirname(out), { recursive: true });
  const asc = (await import("assemblyscript/asc")).default;
  const cwd = process.cwd();
  process.chdir(ROOT);
  try {
    const { error, stderr } = await asc.main([
      "tests/apps/instrument/kernels.ts", "-o", out,
      "--memoryBase", String(abi.APP_RUNTIME_AREA_BYTES), "--runtime", "stub", "--use", "abort=", "-O3", "--noAssert",
    ]);
    if (error) throw new Error(`building the kernels failed: ${stderr.toString()}`);
  } finally {
    process.chdir(cwd);
  }
  return readFileSync(out);
}

interface Kernel { name: string; id: number; n: number }
const KERNELS: Kernel[] = [
  { name: "hash: xorshift fill + FNV-1a over 64 KiB, 200 rounds", id: 0, n: 200 },
  { name: "fib(30), recursive", id: 1, n: 30 },
  { name: "matmul 32x32 i32, 100 rounds", id: 2, n: 100 },
];

export interface BenchRow { kernel: string; variant: string; medianMs: number; minMs: number; maxMs: number; slowdown: number; slices: number; result: number }

function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  return { median: s[s.length >> 1], min: s[0], max: s[s.length - 1] };
}

const OPTS = { blockingImports: [], quotaBytes: 4 * 65536, runtimeAreaBytes: abi.APP_RUNTIME_AREA_BYTES };

/** One timed run of the plain module: instantiate (untimed), configure, main(). */
function runPlain(mod: WebAssembly.Module, k: Kernel): { ms: number; result: number; slices: number } {
  const inst = new WebAssembly.Instance(mod, {});
  const ex = inst.exports as { configure(a: number, b: number): void; main(): number };
  ex.configure(k.id, k.n);
  const t0 = process.hrtime.bigint();
  const result = ex.main();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, result, slices: 1 };
}

/** One timed run through the runner, SLICE_FUEL per slice, until the kernel returns. */
function runSliced(mod: WebAssembly.Module, k: Kernel, fuel = abi.SLICE_FUEL): { ms: number; result: number; slices: number } {
  const runner = new AppRunner(mod, {});
  (runner.instance.exports.configure as (a: number, b: number) => void)(k.id, k.n);
  let slices = 0;
  const t0 = process.hrtime.bigint();
  for (;;) {
    const r = runner.runSlice(fuel);
    slices++;
    if (r.reason === "exited") {
      return { ms: Number(process.hrtime.bigint() - t0) / 1e6, result: r.value ?? 0, slices };
    }
    if (r.reason !== "out_of_fuel") throw new Error(`${k.name}: slice ended ${r.reason} ${r.error?.message ?? ""}`);
  }
}

/**
 * `withOptimize`: also times the module as instrumented with the final whole-module -O2 that
 * installs no longer run (instrument.ts, InstrumentParts), to show what it would change.
 */
export async function benchInstrument(options: { withOptimize?: boolean; withAsyncify?: boolean } = {}): Promise<{ rows: BenchRow[]; originalBytes: number; instrumentedBytes: number; optimizedBytes?: number; asyncifyBytes?: number }> {
  const plainBytes = await buildKernels();
  const instrumented = instrumentApp(plainBytes, OPTS);
  const plain = new WebAssembly.Module(plainBytes as Uint8Array<ArrayBuffer>);
  const full = new WebAssembly.Module(instrumented.bytes as Uint8Array<ArrayBuffer>);
  const variants: { name: string; run: (k: Kernel) => { ms: number; result: number; slices: number } }[] = [
    { name: "plain", run: (k) => runPlain(plain, k) },
    { name: "instrumented", run: (k) => runSliced(full, k) },
    { name: "instrumented, one slice", run: (k) => runSliced(full, k, 0x7fffffff) },
  ];
  let optimizedBytes: number | undefined;
  let asyncifyBytes: number | undefined;
  if (options.withOptimize || ABLATION) {
    const optimized = instrumentVariant(plainBytes, OPTS, { metering: true, asyncify: true, optimize: true });
    optimizedBytes = optimized.instrumentedBytes;
    const withO2 = new WebAssembly.Module(optimized.bytes as Uint8Array<ArrayBuffer>);
    variants.push({ name: "instrumented + final -O2", run: (k) => runSliced(withO2, k) });
  }
  if (options.withAsyncify || ABLATION) {
    const viaAsyncify = instrumentVariant(plainBytes, OPTS, { metering: true, asyncify: true, suspension: "asyncify" });
    asyncifyBytes = viaAsyncify.instrumentedBytes;
    const asyncified = new WebAssembly.Module(viaAsyncify.bytes as Uint8Array<ArrayBuffer>);
    variants.push({ name: "instrumented, binaryen asyncify", run: (k) => runSliced(asyncified, k) });
  }
  if (ABLATION) {
    const meterOnly = new WebAssembly.Module(instrumentVariant(plainBytes, OPTS, { metering: true, asyncify: false }).bytes as Uint8Array<ArrayBuffer>);
    const asyncOnly = new WebAssembly.Module(instrumentVariant(plainBytes, OPTS, { metering: false, asyncify: true }).bytes as Uint8Array<ArrayBuffer>);
    const noPreempt = { "wasphere": { preempt: () => { /* metering only: never unwinds */ } } };
    variants.push(
      { name: "metering only", run: (k) => {
        const inst = new WebAssembly.Instance(meterOnly, noPreempt);
        const ex = inst.exports as { configure(a: number, b: number): void; __wasphere_entry(): number; __wasphere_fuel: WebAssembly.Global };
        ex.configure(k.id, k.n);
        const t0 = process.hrtime.bigint();
        const result = ex.__wasphere_entry();
        return { ms: Number(process.hrtime.bigint() - t0) / 1e6, result, slices: 1 };
      } },
      { name: "asyncify only", run: (k) => {
        const inst = new WebAssembly.Instance(asyncOnly, noPreempt);
        const ex = inst.exports as { configure(a: number, b: number): void; __wasphere_entry(): number };
        ex.configure(k.id, k.n);
        const t0 = process.hrtime.bigint();
        const result = ex.__wasphere_entry();
        return { ms: Number(process.hrtime.bigint() - t0) / 1e6, result, slices: 1 };
      } },
    );
  }
  const rows: BenchRow[] = [];
  for (const k of KERNELS) {
    // Warm-up, then rounds that run every variant once each, so a change in machine load hits
    // all variants alike; the slowdown is the median of the per-round ratios to plain.
    for (const v of variants) { v.run(k); v.run(k); }
    const ms = variants.map(() => [] as number[]);
    const ratios = variants.map(() => [] as number[]);
    const last = variants.map(() => ({ result: 0, slices: 0 }));
    for (let round = 0; round < REPEATS; round++) {
      const order = variants.map((_, i) => (i + round) % variants.length);
      const roundMs = new Array<number>(variants.length);
      for (const i of order) {
        const out = variants[i].run(k);
        roundMs[i] = out.ms;
        last[i] = out;
      }
      variants.forEach((_, i) => { ms[i].push(roundMs[i]); ratios[i].push(roundMs[i] / roundMs[0]); });
    }
    variants.forEach((v, i) => {
      if (last[i].result !== last[0].result) throw new Error(`${k.name}: ${v.name} computed ${last[i].result}, plain computed ${last[0].result}`);
      const s = stats(ms[i]);
      rows.push({ kernel: k.name, variant: v.name, medianMs: s.median, minMs: s.min, maxMs: s.max, slowdown: stats(ratios[i]).median, slices: last[i].slices, result: last[i].result });
    });
  }
  return { rows, originalBytes: instrumented.originalBytes, instrumentedBytes: instrumented.instrumentedBytes, optimizedBytes, asyncifyBytes };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (!args.includes("--tiering")) setFlagsFromString("--no-liftoff");
  const out = await benchInstrument({ withAsyncify: WITH_ASYNCIFY });
  if (JSON_OUT) {
    process.stdout.write(JSON.stringify(out, null, 2) + "\n");
  } else {
    const f = (n: number) => n.toFixed(2);
    console.log(`SLICE_FUEL ${abi.SLICE_FUEL}; ${REPEATS} interleaved rounds after 2 warm-ups; median [min..max] ms; slowdown = median of per-round ratios; node ${process.version}`);
    for (const r of out.rows) {
      console.log(`${r.kernel.padEnd(54)} ${r.variant.padEnd(24)} ${f(r.medianMs).padStart(9)} [${f(r.minMs)}..${f(r.maxMs)}]  x${r.slowdown.toFixed(2)}${r.slices > 1 ? `  (${r.slices} slices)` : ""}`);
    }
    console.log(`code: ${out.originalBytes} B -> ${out.instrumentedBytes} B (x${(out.instrumentedBytes / out.originalBytes).toFixed(2)})${out.optimizedBytes ? `; with the final -O2 ${out.optimizedBytes} B` : ""}${out.asyncifyBytes ? `; with binaryen asyncify ${out.asyncifyBytes} B` : ""}`);
  }
}
