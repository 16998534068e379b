// `node dist/tools/bench-hosts.js`: the Node host's embedding figures (DESIGN.md, Embedding), the
// counterpart of `python -m wasphere_wasmtime bench`: core compile, instantiate and core_boot,
// instrumented blink's compile; and what each way of yielding to the event loop costs a device on
// a real clock (slices per second of an app that never stops, and how late a 10 ms timer fires
// meanwhile).
// Figures, never asserts. Medians of REPEATS runs.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as abi from "../assembly/abi.js";
import { ModuleCore, CORE_WASM_PATH } from "../host/core.js";
import { Device } from "../host/device.js";
import { HostYield, wallMs, type YieldKind } from "../host/yield.js";
import { PREPARED_DIR } from "./conformance.js";
import { instrumentModule } from "../host/instrument-cli.js";
import { app } from "../tests/e2e/support.js";
import { stats } from "./bench.js";

const REPEATS = 15;

function timed<T>(fn: () => T): { ms: number; value: T } {
  const t0 = wallMs();
  const value = fn();
  return { ms: wallMs() - t0, value };
}

function median(fn: () => unknown): { median: number; min: number; max: number } {
  fn();
  return stats(Array.from({ length: REPEATS }, () => timed(fn).ms));
}

const row = (name: string, s: { median: number; min: number; max: number }) =>
  console.log(`  ${name.padEnd(44)} ${s.median.toFixed(3).padStart(9)} ms  (${s.min.toFixed(3)}..${s.max.toFixed(3)})`);

async function yieldFigures(kind: YieldKind | "setImmediate-64", seconds: number): Promise<{ slicesPerSec: number; timerLateMs: number }> {
  const device = new Device();
  const manifest = { SchemaVersion: 1, Name: "spin", ComponentId: "0b7c3f2e-8d41-4a6e-9f05-c2d1e8a7b364", EntryPoint: "spin.wasm", CmdArgs: [], Capabilities: {} };
  const wasm = await instrumentModule(app("", "(loop $l (br $l)) (i32.const 0)"), abi.DEFAULT_APP_QUOTA_BYTES);
  device.start(await device.installInstrumented({ origin: "spin", manifestBytes: new TextEncoder().encode(JSON.stringify(manifest)), loadEntryPoint: async () => wasm }));
  // The same loop as Device.run on a real clock, with the yield under test.
  const hostYield = kind === "setImmediate-64" ? null : new HostYield(undefined, kind);
  let slices = 0, late = 0, firings = 0;
  let due = wallMs() + 10;
  const timer = setInterval(() => { late += Math.max(0, wallMs() - due); firings++; due = wallMs() + 10; }, 10);
  const end = wallMs() + seconds * 1000;
  while (wallMs() < end) {
    if (device.step()) slices++;
    if (hostYield ? hostYield.due() : slices % 64 === 0) {
      if (hostYield) await hostYield.yield();
      else await new Promise((r) => setImmediate(r));
    }
  }
  clearInterval(timer);
  return { slicesPerSec: slices / seconds, timerLateMs: firings ? late / firings : NaN };
}

const coreBytes = readFileSync(CORE_WASM_PATH);
console.log(`Node ${process.version} host, median of ${REPEATS} runs (min..max):`);
const compile = median(() => new WebAssembly.Module(coreBytes));
row("core compile (new WebAssembly.Module)", compile);
const module = new WebAssembly.Module(coreBytes);
row("core instantiate (new ModuleCore)", median(() => new ModuleCore({}, module)));
const cores = Array.from({ length: REPEATS + 1 }, () => new ModuleCore({}, module));
let next = 0;
row("core_boot", median(() => cores[next++].exports.core_boot(96, abi.DEFAULT_APP_QUOTA_BYTES, abi.DEFAULT_APP_QUOTA_BYTES)));
const blink = readFileSync(join(PREPARED_DIR, "blink", "blink.wasm"));
row("instrumented blink compile", median(() => new WebAssembly.Module(blink)));
console.log(`  core.wasm ${coreBytes.length} B; instrumented blink ${blink.length} B`);

console.log("yielding to the event loop on a real clock, a spinning app, 2 s each:");
for (const kind of ["setImmediate-64", "message-channel", "timeout"] as const) {
  const r = await yieldFigures(kind, 2);
  console.log(`  ${kind.padEnd(18)} ${Math.round(r.slicesPerSec).toString().padStart(7)} slices/s; a 10 ms timer fires ${r.timerLateMs.toFixed(2)} ms late on average`);
}
