// `node dist/tools/bench-component.js`: the core as a module and as a component on the Node host,
// side by side, in one run: sizes (core.wasm, the component, jco's bindings), jco's componentize
// and transpile times, then per form: compile, instantiate, core_boot, one cheap export call, and
// the whole conformance run. The module form is the floor each ratio is taken against.
// Figures, never asserts. Medians (min..max). Needs the component toolchain (`npm run component:setup`).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import * as abi from "../assembly/abi.js";
import { CORE_WASM_PATH, ModuleCore } from "../host/core.js";
import { ComponentCore, CORE_COMPONENT_DIR, loadComponentBindings } from "../host/core-component.js";
import { wallMs } from "../host/yield.js";
import { nodeTrace, REPO } from "./conformance.js";
import { stats } from "./bench.js";

const REPEATS = Number(process.env.REPEATS ?? 15);

function timed(fn: () => unknown, repeats = REPEATS): { median: number; min: number; max: number } {
  fn();
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) { const t0 = wallMs(); fn(); samples.push(wallMs() - t0); }
  return stats(samples);
}

async function timedAsync(fn: () => Promise<unknown>, repeats: number): Promise<{ median: number; min: number; max: number }> {
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) { const t0 = wallMs(); await fn(); samples.push(wallMs() - t0); }
  return stats(samples);
}

const fmt = (s: { median: number; min: number; max: number }, digits = 3) => `${s.median.toFixed(digits).padStart(10)} ms (${s.min.toFixed(digits)}..${s.max.toFixed(digits)})`;
const row = (name: string, mod: { median: number; min: number; max: number }, comp: { median: number; min: number; max: number }, digits = 3) =>
  console.log(`  ${name.padEnd(30)} module ${fmt(mod, digits)}   component ${fmt(comp, digits)}   x${(comp.median / mod.median).toFixed(2)}`);

const coreBytes = readFileSync(CORE_WASM_PATH);
const componentBytes = readFileSync(join(REPO, "build/core.component.wasm"));
const bindingsBytes = readdirSync(CORE_COMPONENT_DIR).reduce((n, f) => n + (statSync(join(CORE_COMPONENT_DIR, f)).isFile() ? statSync(join(CORE_COMPONENT_DIR, f)).size : 0), 0);
console.log(`sizes: core.wasm ${coreBytes.length} B; core.component.wasm ${componentBytes.length} B (x${(componentBytes.length / coreBytes.length).toFixed(3)}); ` +
  `build/core-component/ ${bindingsBytes} B, of which core.js ${statSync(join(CORE_COMPONENT_DIR, "core.js")).size} B`);

const { buildComponent } = await import(join(REPO, "tools/build-component.mjs")) as { buildComponent(o: { force: boolean }): Promise<{ componentMs: number; transpileMs: number }> };
const builds = [];
for (let i = 0; i < 4; i++) builds.push(await buildComponent({ force: true }));
// The first build in a process also compiles jco's own wasm-tools and transpiler: shown apart.
const warm = builds.slice(1);
console.log(`jco 1.35: componentEmbed + componentNew ${builds[0].componentMs.toFixed(0)} ms first in a process, then ${stats(warm.map((b) => b.componentMs)).median.toFixed(0)} ms; ` +
  `transpile ${builds[0].transpileMs.toFixed(0)} ms first, then ${stats(warm.map((b) => b.transpileMs)).median.toFixed(0)} ms (medians of 3)`);

console.log(`Node ${process.version}, median of ${REPEATS} runs (min..max), module vs component:`);
const compileComponent = () => {
  for (const name of readdirSync(CORE_COMPONENT_DIR).filter((n) => /^core\.core\d*\.wasm$/.test(n))) new WebAssembly.Module(readFileSync(join(CORE_COMPONENT_DIR, name)));
};
row("compile", timed(() => new WebAssembly.Module(readFileSync(CORE_WASM_PATH))), timed(compileComponent));
const module = new WebAssembly.Module(coreBytes);
const bindings = await loadComponentBindings();
row("instantiate", timed(() => new ModuleCore({}, module)), timed(() => new ComponentCore({}, bindings)));
const boot = (make: () => ModuleCore | ComponentCore) => {
  const cores = Array.from({ length: REPEATS + 1 }, make);
  let next = 0;
  return timed(() => cores[next++].exports.core_boot(96, abi.DEFAULT_APP_QUOTA_BYTES, abi.DEFAULT_APP_QUOTA_BYTES));
};
row("core_boot", boot(() => new ModuleCore({}, module)), boot(() => new ComponentCore({}, bindings)));
const CALLS = 10_000;
const perCall = (core: ModuleCore | ComponentCore) => {
  core.exports.core_boot(96, abi.DEFAULT_APP_QUOTA_BYTES, abi.DEFAULT_APP_QUOTA_BYTES);
  return timed(() => { for (let i = 0; i < CALLS; i++) core.exports.audit_total(); });
};
const m = perCall(new ModuleCore({}, module)), c = perCall(new ComponentCore({}, bindings));
const us = (s: typeof m) => ({ median: s.median * 1000 / CALLS, min: s.min * 1000 / CALLS, max: s.max * 1000 / CALLS });
console.log(`  ${"one export call (audit_total)".padEnd(30)} module ${(us(m).median * 1000).toFixed(0).padStart(7)} ns   component ${(us(c).median * 1000).toFixed(0).padStart(7)} ns   x${(c.median / m.median).toFixed(1)}`);
row("conformance run (8 s device)", await timedAsync(() => nodeTrace(), 3), await timedAsync(() => nodeTrace(undefined, { core: "component" }), 3), 0);
