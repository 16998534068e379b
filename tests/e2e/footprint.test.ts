// Footprint budgets: `npm test` fails when a figure is over its budget in footprint-budget.json,
// and says by how much. The figures come from the same report `wasphere footprint` prints.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { checkBudget, measureFootprint, wasmSizes } from "../../host/footprint.js";
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

test("the 4 MiB split adds up, and the SVG draws every part", async () => {
  const r = await measureFootprint(DEMO_APPS);
  assert.equal(r.split.totalBytes, 4 * 1024 * 1024);
  assert.equal(r.split.coreBytes + r.split.appReservedBytes + r.split.freeBytes, r.split.totalBytes);
  assert.equal(r.split.appReservedBytes, r.apps.reduce((s, a) => s + a.quotaBytes, 0));
  const svg = footprintSvg(r);
  for (const label of ["core static", "core heap peak", "blink (quota)", "button (quota)", "free"]) assert.match(svg, new RegExp(label.replace(/[()]/g, "\\$&")));
});

test("a budget check reports a figure over its budget with the difference", () => {
  const fake = { coreWasm: wasmSizes(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])) } as never;
  const lines = checkBudget({ ...(fake as object), coreStaticBytes: 5000, kernelTableBytes: 0, coreHeapPeakBytes: 0, fsRamBytes: 0, split: { coreBytes: 0 }, apps: [] } as never, { coreStaticBytes: 4096 });
  assert.deepEqual(lines, [{ figure: "coreStaticBytes", value: 5000, budget: 4096, over: 904 }]);
});
