// ABI.md is the contract; assembly/abi.ts holds the numbers; core.wasm is what ships. This test
// keeps the three in agreement, so the document cannot drift from the code.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as abi from "../../assembly/abi.js";
import { APP_IMPORTS } from "../../host/apps/imports.js";

const doc = readFileSync(new URL("../../../ABI.md", import.meta.url), "utf8");
const core = new WebAssembly.Module(readFileSync(new URL("../../../build/core.wasm", import.meta.url)));
const numbers = abi as unknown as Record<string, number>;

/** Rows of the markdown table that follows the heading that starts with `heading`. */
function table(heading: string): string[][] {
  const start = doc.split("\n").findIndex((l) => l.startsWith("## ") && l.slice(3).startsWith(heading));
  assert.ok(start >= 0, `ABI.md has a section "${heading}"`);
  const rows: string[][] = [];
  const lines = doc.split("\n").slice(start + 1);
  let inTable = false;
  for (const line of lines) {
    if (line.startsWith("## ")) break;
    if (!line.startsWith("|")) { if (inTable) break; continue; }
    inTable = true;
    if (/^\|\s*-/.test(line)) continue;
    rows.push(line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim()));
  }
  return rows.slice(1); // drop the header row
}
const code = (cell: string) => /`([^`]+)`/.exec(cell)?.[1] ?? "";

test("every errno in ABI.md has the value assembly/abi.ts gives it, and none is missing", () => {
  const rows = table("Errors");
  const documented = new Map(rows.map((r) => [code(r[0]), Number(r[1])]));
  for (const [name, value] of documented) assert.equal(numbers[name], value, `ABI.md ${name}`);
  const defined = Object.keys(numbers).filter((k) => /^E[A-Z]+$/.test(k));
  assert.deepEqual(defined.filter((k) => !documented.has(k)), [], "errnos defined but not documented");
});

test("the app imports table matches the syscall numbers and the host's import list", () => {
  const rows = table("App imports");
  const documented = rows.map((r) => ({ name: code(r[0]), sys: code(r[1]), nr: Number(r[1].replace(/`[^`]*`/, "").trim()) }));
  for (const d of documented) assert.equal(numbers[d.sys], d.nr, `ABI.md ${d.sys}`);
  assert.deepEqual(documented.map((d) => d.name), APP_IMPORTS.map((i) => i.name));
  assert.deepEqual(documented.map((d) => d.nr), APP_IMPORTS.map((i) => i.nr));
  const sysNames = Object.keys(numbers).filter((k) => k.startsWith("SYS_") && k !== "SYS_COUNT");
  assert.deepEqual(sysNames.sort(), documented.map((d) => d.sys).sort());
  assert.equal(abi.SYS_COUNT, sysNames.length);
});

test("the core imports table is exactly core.wasm's import list", () => {
  const documented = table("Core imports").map((r) => code(r[0])).sort();
  const actual = WebAssembly.Module.imports(core).map((i) => { assert.equal(i.module, "hal"); return i.name; }).sort();
  // `panic` is reached only from an assertion; a release core with none has no such import.
  assert.deepEqual(documented.filter((n) => !actual.includes(n) && n !== "panic"), [], "documented but not imported");
  assert.deepEqual(actual.filter((n) => !documented.includes(n)), [], "imported but not documented");
});

test("the core exports tables are exactly core.wasm's export list", () => {
  const documented = [...table("Core exports"), ...table("File-system exports")].map((r) => code(r[0])).filter(Boolean).sort();
  const actual = WebAssembly.Module.exports(core).map((e) => e.name).sort();
  assert.deepEqual(actual, documented);
});
