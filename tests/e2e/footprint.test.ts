// Footprint budgets: `npm test` fails when a figure is over its budget in footprint-budget.json,
// and says by how much. The figures come from the same report `wasphere footprint` prints.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { checkBudget, measureFootprint } from "../../host/footprint.js";
import { CORE_WASM_PATH } from "../../host/core.js";
import { sections } from "../host/wasm-sections.js";
import { BUDGET_PATH, DEMO_APPS, footprintSvg } from "../../host/footprint-cli.js";

test("the demo device is within every budget in footprint-budget.json", async (t) => {
  const report = await measureFootprint(DEMO_APPS);
  const budget = JSON.parse(readFileSync(BUDGET_PATH, "utf8"));
  const lines = checkBudget(report, budget);
  for (const l of lines) t.diagnostic(`${l.figure}: ${l.value} (budget ${l.budget}, ${l.over > 0 ? "+" : ""}${l.over})`);
  const over = lines.filter((l) => !(l.over <= 0));
  assert.deepEqual(over.map((l) => `${l.figure} = ${l.value}, budget ${l.budget}, over by ${l.over}`), []);
  assert.ok(lines.length >= 10, "the budget file covers the report");
});

test("the report is deterministic: two runs of the same build give the same figures", async () => {
  const a = await measureFootprint(DEMO_APPS);
  const b = await measureFootprint(DEMO_APPS);
  assert.deepEqual(a, b);
});

/** The end of the highest active data segment of a module: static data reaches at least there. */
function dataEndBytes(bytes: Uint8Array): { endBytes: number; segmentBytes: number } {
  let endBytes = 0, segmentBytes = 0;
  for (const { id, body: r } of sections(bytes)) {
    if (id !== 11) continue;
    for (let n = r.u32(); n > 0; n--) {
      assert.equal(r.u32(), 0, "core.wasm has only active data segments in memory 0");
      assert.equal(r.byte(), 0x41, "an i32.const offset");
      const offset = r.s32();
      assert.equal(r.byte(), 0x0b);
      const len = r.u32();
      endBytes = Math.max(endBytes, offset + len);
      segmentBytes += len;
      r.pos += len;
    }
  }
  return { endBytes, segmentBytes };
}

test("the 4 MiB split adds up from independent parts: the binary's static data, the heap span, each app's quota", async () => {
  const r = await measureFootprint(DEMO_APPS);
  assert.equal(r.split.totalBytes, 4 * 1024 * 1024);
  // Static data, from core.wasm itself: its data segments and the zero-filled kernel tables lie
  // below the heap, and the heap starts at most one 16-byte alignment step (plus the 8-byte
  // allocator alignment) past the last segment.
  const data = dataEndBytes(new Uint8Array(readFileSync(CORE_WASM_PATH)));
  assert.ok(r.coreStaticBytes >= data.endBytes && r.coreStaticBytes <= data.endBytes + 32, `static ${r.coreStaticBytes} B, data ends at ${data.endBytes}`);
  assert.ok(r.coreStaticBytes >= data.segmentBytes + r.kernelTableBytes, "segments and tables fit below the heap");
  // The core's share is static data plus the highest address its heap reached; the free figure
  // is the core's own count of what nobody holds. Only correct accounting makes them add up.
  assert.ok(r.coreHeapSpanBytes >= r.coreHeapPeakBytes, "the span covers the peak");
  assert.equal(r.split.coreBytes, r.coreStaticBytes + r.coreHeapSpanBytes);
  assert.equal(r.split.appReservedBytes, r.apps.reduce((s, a) => s + a.quotaBytes, 0));
  assert.equal(r.split.coreBytes + r.split.appReservedBytes + r.split.freeBytes, r.split.totalBytes);
  const svg = footprintSvg(r);
  for (const label of ["core static", "core heap peak", "blink (quota)", "button (quota)", "free"]) assert.match(svg, new RegExp(label.replace(/[()]/g, "\\$&")));
});

test("the budget check reads the real report: every budgeted figure is one over a budget one below it", async () => {
  const report = await measureFootprint(DEMO_APPS);
  const budget = JSON.parse(readFileSync(BUDGET_PATH, "utf8")) as Record<string, number>;
  const exact = Object.fromEntries(checkBudget(report, budget).map((l) => [l.figure, l.value]));
  assert.ok(Object.values(exact).every((v) => Number.isFinite(v) && v > 0), `every budgeted figure is in the report: ${JSON.stringify(exact)}`);
  const tight = Object.fromEntries(Object.entries(exact).map(([k, v]) => [k, v - 1]));
  assert.deepEqual(checkBudget(report, tight).map((l) => [l.figure, l.over]), Object.keys(exact).map((k) => [k, 1]));
  // Figures straight from the report, not re-derived: a check that read the wrong field fails here.
  assert.equal(exact["coreStaticBytes"], report.coreStaticBytes);
  assert.equal(exact["coreWasm.totalBytes"], readFileSync(CORE_WASM_PATH).length);
  assert.equal(exact["split.coreBytes"], report.split.coreBytes);
  for (const app of report.apps) assert.equal(exact[`apps.${app.name}.instrumentedModuleBytes`], app.instrumentedModuleBytes);
  // A figure the report does not have is reported as not comparable, never as within budget.
  assert.deepEqual(checkBudget(report, { "apps.nosuch.coreBytes": 1 }).map((l) => Number.isNaN(l.over)), [true]);
});

test("every budget in footprint-budget.json is within 10 % (and 256 bytes) of today's figure", async () => {
  // Budgets that sit far above the figures cannot catch a regression: keep them tight.
  const report = await measureFootprint(DEMO_APPS);
  const budget = JSON.parse(readFileSync(BUDGET_PATH, "utf8")) as Record<string, number>;
  const loose = checkBudget(report, budget).filter((l) => l.budget > Math.max(l.value * 1.1, l.value + 256));
  assert.deepEqual(loose.map((l) => `${l.figure}: ${l.value}, budget ${l.budget}`), []);
});
