// `npm run fuzz -- --target T --seconds N --seed S`: runs one fuzz target for a while and prints
// every failing case with its seed and the reproducer file it wrote.
//
// The cases run in a worker thread; this thread is the watchdog. The worker publishes the index
// of the case it is on in shared memory; a case that stays current longer than three times the
// target's hangMs is a hang: the worker is terminated, the case's input is regenerated here from
// its seed (generation is deterministic) and saved, and a fresh worker carries on with the next
// case. So neither a trap, nor an exception, nor an endless loop in the code under test ends the
// run without a reproducer.
// Also: `--replay FILE` re-runs one reproducer; `--case K` regenerates case K of `--seed S`.
// Must not: print input bytes raw (they are escaped or saved to files).
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { caseSeed, Prng, runCases, runInput, type CaseReport, type FuzzTarget } from "./fuzz-lib.js";

async function loadTarget(name: string): Promise<FuzzTarget> {
  switch (name) {
    case "manifest": return (await import("./fuzz-manifest.js")).manifestTarget;
    case "littlefs": return (await import("./fuzz-littlefs.js")).littlefsTarget;
    case "instrument": return (await import("./fuzz-instrument.js")).instrumentTarget;
    case "imagepkg": return (await import("./fuzz-imagepkg.js")).imagepkgTarget;
    default: throw new Error(`unknown fuzz target ${JSON.stringify(name)}: the targets are ${TARGETS.join(", ")}`);
  }
}
export const TARGETS = ["manifest", "littlefs", "instrument", "imagepkg"];

interface WorkerJob { target: string; seed: number; first: number; seconds: number; heartbeat: SharedArrayBuffer }
type WorkerMessage = { kind: "failure"; report: CaseReport } | { kind: "done"; cases: number };

if (!isMainThread && parentPort) {
  const job = workerData as WorkerJob;
  const beat = new Int32Array(job.heartbeat);
  const target = await loadTarget(job.target);
  const stats = await runCases(target, {
    seed: job.seed, first: job.first, seconds: job.seconds,
    onCase: (index) => { Atomics.store(beat, 0, index); Atomics.add(beat, 1, 1); },
    onFailure: (report) => parentPort!.postMessage({ kind: "failure", report } satisfies WorkerMessage),
  });
  if (job.target === "instrument") console.log(`instrument counts: ${JSON.stringify((await import("./fuzz-instrument.js")).instrumentCounts)}`);
  parentPort.postMessage({ kind: "done", cases: stats.cases } satisfies WorkerMessage);
}

interface Args { target: string; seconds: number; seed: number; out: string; replay?: string; caseIndex?: number }

function parseArgs(argv: string[]): Args {
  const args: Args = { target: "", seconds: 60, seed: 1, out: "fuzz-failures" };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    const num = () => { const n = Number(value); if (!Number.isFinite(n) || n < 0) throw new Error(`${flag}: expected a number, got ${JSON.stringify(value)}`); return n; };
    if (flag === "--target") args.target = value;
    else if (flag === "--seconds") args.seconds = num();
    else if (flag === "--seed") args.seed = num() >>> 0;
    else if (flag === "--out") args.out = value;
    else if (flag === "--replay") args.replay = value;
    else if (flag === "--case") args.caseIndex = num();
    else throw new Error(`unknown option ${flag} (options: --target T --seconds N --seed S --out DIR --replay FILE --case K)`);
  }
  if (!args.target) throw new Error(`--target is required: one of ${TARGETS.join(", ")}`);
  return args;
}

function saveReproducer(dir: string, target: string, r: { seed: number; index: number; input: Uint8Array }, runSeed: number): string {
  mkdirSync(dir, { recursive: true });
  const file = resolve(join(dir, `${target}-seed${runSeed}-case${r.index}.bin`));
  writeFileSync(file, r.input);
  return file;
}

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const target = await loadTarget(args.target);
  if (args.replay) {
    const message = await runInput(target, new Uint8Array(readFileSync(args.replay)));
    console.log(message === null ? `${args.target}: ${args.replay} passes` : `${args.target}: ${args.replay} FAILS: ${message}`);
    return message === null ? 0 : 1;
  }
  if (args.caseIndex !== undefined) {
    const input = await target.generate(new Prng(caseSeed(args.seed, args.caseIndex)));
    const file = saveReproducer(args.out, args.target, { seed: caseSeed(args.seed, args.caseIndex), index: args.caseIndex, input }, args.seed);
    const message = await runInput(target, input);
    console.log(`${args.target} seed ${args.seed} case ${args.caseIndex}: ${message === null ? "passes" : `FAILS: ${message}`} (input saved to ${file})`);
    return message === null ? 0 : 1;
  }

  console.log(`fuzzing ${args.target} for ${args.seconds} s, seed ${args.seed}: ${target.summary}`);
  const startMs = performance.now();
  const deadlineMs = startMs + args.seconds * 1000;
  const failures: { index: number; message: string; file: string }[] = [];
  let cases = 0;
  let first = 0;
  const report = (index: number, message: string, input: Uint8Array) => {
    const file = saveReproducer(args.out, args.target, { seed: caseSeed(args.seed, index), index, input }, args.seed);
    failures.push({ index, message, file });
    console.log(`FAIL ${args.target} seed ${args.seed} case ${index}: ${message}\n  reproducer: ${file}\n  re-run: npm run fuzz -- --target ${args.target} --replay ${file}`);
  };
  // A case's input, made again here from its seed; empty if generating it is what failed.
  const regenerate = async (index: number): Promise<Uint8Array> => {
    try { return await target.generate(new Prng(caseSeed(args.seed, index))); } catch { return new Uint8Array(0); }
  };
  while (performance.now() < deadlineMs) {
    const heartbeat = new SharedArrayBuffer(8);
    const beat = new Int32Array(heartbeat);
    beat[0] = first;
    const job: WorkerJob = { target: args.target, seed: args.seed, first, seconds: (deadlineMs - performance.now()) / 1000, heartbeat };
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: job });
    const outcome = await new Promise<{ done: true; cases: number } | { done: false; hungAt: number }>((resolveOutcome) => {
      let lastBeats = -1;
      let sameSinceMs = performance.now();
      const timer = setInterval(() => {
        const beats = Atomics.load(beat, 1);
        if (beats !== lastBeats) { lastBeats = beats; sameSinceMs = performance.now(); return; }
        if (performance.now() - sameSinceMs > Math.max(3 * target.hangMs, 5000)) {
          clearInterval(timer);
          const hungAt = Atomics.load(beat, 0);
          void worker.terminate().then(() => resolveOutcome({ done: false, hungAt }));
        }
      }, 250);
      worker.on("message", (m: WorkerMessage) => {
        if (m.kind === "failure") report(m.report.index, m.report.message, m.report.input);
        else { clearInterval(timer); resolveOutcome({ done: true, cases: m.cases }); }
      });
      worker.on("error", (err) => {
        clearInterval(timer);
        // The worker itself died (e.g. out of memory): the case it was on is the culprit.
        const at = Atomics.load(beat, 0);
        void (async () => {
          report(at, `the worker died: ${err.message.split("\n")[0]}`, await regenerate(at));
          resolveOutcome({ done: false, hungAt: -1 - at });
        })();
      });
    });
    if (outcome.done) { cases += outcome.cases; break; }
    const at = outcome.hungAt >= 0 ? outcome.hungAt : -1 - outcome.hungAt;
    if (outcome.hungAt >= 0) report(at, `hang: the case ran longer than ${Math.max(3 * target.hangMs, 5000)} ms`, await regenerate(at));
    cases += at - first + 1;
    first = at + 1;
  }
  const distinct = new Set(failures.map((f) => f.message.replace(/\d+/g, "N"))).size;
  console.log(`${args.target}: ${cases} cases in ${((performance.now() - startMs) / 1000).toFixed(1)} s, seed ${args.seed}: ${failures.length} failures (${distinct} distinct)`);
  return failures.length === 0 ? 0 : 1;
}

if (isMainThread && process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (err) {
    console.error(`fuzz: ${(err as Error).message}`);
    process.exitCode = 2;
  }
}
