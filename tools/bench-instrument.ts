// What making apps preemptible costs: compute kernels run plain and instrumented, the
// instrumented ones through an AppRunner refilled with SLICE_FUEL per slice, so they are preempted
// (unwound and rewound) all along. Prints the slowdown (median of the repeats, spread min..max)
// and the code growth. Figures, not asserts.
//   node dist/tools/bench-instrument.js [--repeats N] [--json] [--ablation]
// --ablation also times the module with metering only (no asyncify) and asyncify only (no
// metering), to show where the cost comes from.
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as abi from "../assembly/abi.js";
import { instrumentApp, instrumentVariant } from "../host/apps/instrument.js";
import { AppRunner } from "../host/apps/runner.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const args = process.argv.slice(2);
const REPEATS = Number(args[args.indexOf("--repeats") + 1]) || (args.includes("--repeats") ? 9 : 9);
const JSON_OUT = args.includes("--json");
const ABLATION = args.includes("--ablation");

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
function runSliced(mod: WebAssembly.Module, k: Kernel): { ms: number; result: number; slices: number } {
  const runner = new AppRunner(mod, {});
  (runner.instance.exports.configure as (a: number, b: number) => void)(k.id, k.n);
  let slices = 0;
  const t0 = process.hrtime.bigint();
  for (;;) {
    const r = runner.runSlice(abi.SLICE_FUEL);
    slices++;
    if (r.reason === "exited") {
      return { ms: Number(process.hrtime.bigint() - t0) / 1e6, result: r.value ?? 0, slices };
    }
    if (r.reason !== "out_of_fuel") throw new Error(`${k.name}: slice ended ${r.reason} ${r.error?.message ?? ""}`);
  }
}

function time(run: () => { ms: number; result: number; slices: number }) {
  run(); run(); // warm-up: let V8 tier up
  const samples: number[] = [];
  let last = run();
  for (let i = 0; i < REPEATS; i++) { last = run(); samples.push(last.ms); }
  return { ...stats(samples), result: last.result, slices: last.slices };
}

export async function benchInstrument(): Promise<{ rows: BenchRow[]; originalBytes: number; instrumentedBytes: number }> {
  const plainBytes = await buildKernels();
  const instrumented = instrumentApp(plainBytes, OPTS);
  const plain = new WebAssembly.Module(plainBytes as Uint8Array<ArrayBuffer>);
  const full = new WebAssembly.Module(instrumented.bytes as Uint8Array<ArrayBuffer>);
  const variants: { name: string; run: (k: Kernel) => { ms: number; result: number; slices: number } }[] = [
    { name: "plain", run: (k) => runPlain(plain, k) },
    { name: "instrumented", run: (k) => runSliced(full, k) },
  ];
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
    let base = 0;
    let baseResult = 0;
    for (const v of variants) {
      const s = time(() => v.run(k));
      if (v.name === "plain") { base = s.median; baseResult = s.result; }
      if (s.result !== baseResult) throw new Error(`${k.name}: ${v.name} computed ${s.result}, plain computed ${baseResult}`);
      rows.push({ kernel: k.name, variant: v.name, medianMs: s.median, minMs: s.min, maxMs: s.max, slowdown: s.median / base, slices: s.slices, result: s.result });
    }
  }
  return { rows, originalBytes: instrumented.originalBytes, instrumentedBytes: instrumented.instrumentedBytes };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = await benchInstrument();
  if (JSON_OUT) {
    process.stdout.write(JSON.stringify(out, null, 2) + "\n");
  } else {
    const f = (n: number) => n.toFixed(2);
    console.log(`SLICE_FUEL ${abi.SLICE_FUEL}; ${REPEATS} repeats after 2 warm-ups; median [min..max] ms; node ${process.version}`);
    for (const r of out.rows) {
      console.log(`${r.kernel.padEnd(54)} ${r.variant.padEnd(14)} ${f(r.medianMs).padStart(9)} [${f(r.minMs)}..${f(r.maxMs)}]  x${r.slowdown.toFixed(2)}${r.slices > 1 ? `  (${r.slices} slices)` : ""}`);
    }
    console.log(`code: ${out.originalBytes} B -> ${out.instrumentedBytes} B (x${(out.instrumentedBytes / out.originalBytes).toFixed(2)})`);
  }
}
