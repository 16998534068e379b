// ABI.md is the contract; assembly/abi.ts holds the numbers; core.wasm is what ships. This test
// keeps the three in agreement, so the document cannot drift from the code.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as abi from "../../assembly/abi.js";
import { APP_IMPORTS } from "../../host/apps/imports.js";
import { sigText, type Signature } from "./wasm-sections.js";
import { abiTable, code } from "./abi-doc.js";

const doc = readFileSync(new URL("../../../ABI.md", import.meta.url), "utf8");
const numbers = abi as unknown as Record<string, number>;

const table = (heading: string) => abiTable(doc, heading);

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
  // Numbers may leave reserved gaps; SYS_COUNT is one past the highest.
  assert.equal(abi.SYS_COUNT, Math.max(...documented.map((d) => d.nr)) + 1);
});

// The core's own imports and exports (the "Core imports", "Core exports" and "File-system exports"
// tables) are checked against wit/wasphere.wit and core.wasm by tests/host/wit.test.ts.

// ---- App import signatures. ABI.md writes them `(a, b) -> i32`: every parameter is i32, `void`
// is no result.

/** `(pin, value) -> i32` as types. */
function parseDocSignature(cell: string): Signature {
  const m = /^`\(([^)]*)\)\s*->\s*([a-z0-9]+)`$/.exec(cell.trim());
  assert.ok(m, `ABI.md signature ${cell} has the form (params) -> result`);
  const params = m[1].trim() === "" ? [] : m[1].split(",").map((p) => {
    const typed = /:\s*(i32|i64|f32|f64)\s*$/.exec(p);
    return typed ? typed[1] : "i32";
  });
  return { params, results: m[2] === "void" ? [] : [m[2]] };
}

test("every app import has the signature ABI.md gives it in the host's import list", () => {
  const rows = table("App imports");
  for (const row of rows) {
    const name = code(row[0]);
    const doc = parseDocSignature(row[2]);
    const imp = APP_IMPORTS.find((i) => i.name === name)!;
    assert.equal(sigText({ params: Array(imp.params).fill("i32"), results: Array(imp.results).fill("i32") }), sigText(doc), `applibs.${name}`);
  }
});

test("the signature check reads what it claims: a changed parameter or result is a mismatch", () => {
  const s: Signature = { params: ["i32", "i32"], results: ["i32"] };
  assert.equal(sigText(parseDocSignature("`(pin, value) -> i32`")), sigText(s));
  assert.notEqual(sigText(parseDocSignature("`(pin) -> i32`")), sigText(s));
  assert.notEqual(sigText(parseDocSignature("`(pin, value) -> void`")), sigText(s));
});

// ---- Wire numbers: each family in ABI.md is exactly the family in assembly/abi.ts.

for (const [heading, pattern] of [
  ["Task states", /^TASK_[A-Z]+$/], ["Why a slice ended", /^STOP_[A-Z_]+$/], ["Audit events", /^EV_[A-Z_]+$/], ["Limits", /^LIMIT_[A-Z_]+$/],
  ["Audit entry fields", /^AUDIT_(?!ENTRIES)[A-Z]+$/], ["App fields", /^APP_FIELD_[A-Z_]+$/], ["App strings", /^APP_STRING_[A-Z_]+$/],
  ["GPIO directions", /^(GPIO_DIR_[A-Z]+|SYSCALL_SUSPEND)$/],
] as const) {
  test(`ABI.md's "${heading}" table is exactly assembly/abi.ts's numbers`, () => {
    const documented = Object.fromEntries(table(heading).map((r) => [code(r[0]), Number(r[1])]));
    const defined = Object.fromEntries(Object.entries(numbers).filter(([k]) => pattern.test(k)));
    assert.ok(Object.keys(defined).length >= 2);
    assert.deepEqual(documented, defined);
  });
}
