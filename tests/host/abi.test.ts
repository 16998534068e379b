// ABI.md is the contract; assembly/abi.ts holds the numbers; core.wasm is what ships. This test
// keeps the three in agreement, so the document cannot drift from the code.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as abi from "../../assembly/abi.js";
import { APP_IMPORTS } from "../../host/apps/imports.js";
import { sections } from "./wasm-sections.js";

const doc = readFileSync(new URL("../../../ABI.md", import.meta.url), "utf8");
const coreBytes = new Uint8Array(readFileSync(new URL("../../../build/core.wasm", import.meta.url)));
const core = new WebAssembly.Module(coreBytes);
const halSource = readFileSync(new URL("../../../assembly/hal/index.ts", import.meta.url), "utf8");
const numbers = abi as unknown as Record<string, number>;

/** Rows of the markdown table that follows the heading (## or ###) that starts with `heading`. */
function table(heading: string): string[][] {
  const start = doc.split("\n").findIndex((l) => /^###? /.test(l) && l.replace(/^###? /, "").startsWith(heading));
  assert.ok(start >= 0, `ABI.md has a section "${heading}"`);
  const rows: string[][] = [];
  const lines = doc.split("\n").slice(start + 1);
  let inTable = false;
  for (const line of lines) {
    if (/^###? /.test(line)) break;
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

// ---- Signatures. ABI.md writes them `(a, b: f64) -> i32`: every parameter is i32 unless marked,
// and `void` is no result. Node 20 does not reflect Wasm types, so the binary's are read here.

interface Signature { params: string[]; results: string[] }
const sigText = (s: Signature) => `(${s.params.join(", ")}) -> ${s.results.join(", ") || "void"}`;

/** `(pin, value: f64) -> i32` as types. */
function parseDocSignature(cell: string): Signature {
  const m = /^`\(([^)]*)\)\s*->\s*([a-z0-9]+)`$/.exec(cell.trim());
  assert.ok(m, `ABI.md signature ${cell} has the form (params) -> result`);
  const params = m[1].trim() === "" ? [] : m[1].split(",").map((p) => {
    const typed = /:\s*(i32|i64|f32|f64)\s*$/.exec(p);
    return typed ? typed[1] : "i32";
  });
  return { params, results: m[2] === "void" ? [] : [m[2]] };
}

/** The function signature of every import and export of a module, from its type, import, function and export sections. */
function binarySignatures(bytes: Uint8Array): { imports: Map<string, Signature>; exports: Map<string, Signature> } {
  const VAL: Record<number, string> = { 0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64" };
  const types: Signature[] = [];
  const funcTypes: number[] = [];
  const imports = new Map<string, Signature>();
  const exports = new Map<string, Signature>();
  for (const { id, body: r } of sections(bytes)) {
    if (id === 1) {
      for (let n = r.u32(); n > 0; n--) {
        assert.equal(r.byte(), 0x60, "a function type");
        const params = Array.from({ length: r.u32() }, () => VAL[r.byte()]);
        const results = Array.from({ length: r.u32() }, () => VAL[r.byte()]);
        types.push({ params, results });
      }
    } else if (id === 2) {
      for (let n = r.u32(); n > 0; n--) {
        const mod = r.name(), field = r.name(), kind = r.byte();
        assert.equal(kind, 0, `import ${mod}.${field} is a function`);
        const t = r.u32();
        funcTypes.push(t);
        imports.set(field, types[t]);
      }
    } else if (id === 3) {
      for (let n = r.u32(); n > 0; n--) funcTypes.push(r.u32());
    } else if (id === 7) {
      for (let n = r.u32(); n > 0; n--) {
        const field = r.name(), kind = r.byte(), index = r.u32();
        if (kind === 0) exports.set(field, types[funcTypes[index]]);
      }
    }
  }
  return { imports, exports };
}

/** assembly/hal/index.ts's declarations, as Wasm types (usize is i32 on wasm32, u32 is i32). */
function halDeclarations(): Map<string, Signature> {
  const wasmType = (t: string) => ({ usize: "i32", u32: "i32", i32: "i32", bool: "i32", f64: "f64", f32: "f32", i64: "i64", u64: "i64" } as Record<string, string>)[t.trim()];
  const out = new Map<string, Signature>();
  for (const m of halSource.matchAll(/export declare function ([a-z_]+)\(([^)]*)\):\s*([a-z0-9]+);/g)) {
    const params = m[2].trim() === "" ? [] : m[2].split(",").map((p) => wasmType(p.split(":")[1]));
    out.set(m[1], { params, results: m[3] === "void" ? [] : [wasmType(m[3])] });
  }
  return out;
}

const binary = binarySignatures(coreBytes);

test("every core import has the signature ABI.md gives it, in core.wasm and in assembly/hal/index.ts", () => {
  const declared = halDeclarations();
  assert.ok(declared.size >= 12, `read ${declared.size} hal declarations`);
  for (const row of table("Core imports")) {
    const name = code(row[0]);
    const doc = sigText(parseDocSignature(row[1]));
    assert.equal(declared.has(name) ? sigText(declared.get(name)!) : "undeclared", doc, `hal.${name} in assembly/hal/index.ts`);
    if (binary.imports.has(name)) assert.equal(sigText(binary.imports.get(name)!), doc, `hal.${name} in core.wasm`);
  }
  assert.ok(binary.imports.size >= 12, "core.wasm's imports were read");
});

test("every core and file-system export has the signature ABI.md gives it in core.wasm", () => {
  const rows = [...table("Core exports"), ...table("File-system exports")].filter((r) => code(r[0]) !== "memory");
  assert.ok(rows.length >= 60);
  for (const row of rows) {
    const name = code(row[0]);
    assert.ok(binary.exports.has(name), `${name} is exported`);
    assert.equal(sigText(binary.exports.get(name)!), sigText(parseDocSignature(row[1])), `export ${name}`);
  }
});

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
  const s = binary.exports.get("sched_next")!;
  assert.equal(sigText(s), "(f64) -> i32");
  assert.notEqual(sigText(parseDocSignature("`(nowMs) -> i32`")), sigText(s));
  assert.notEqual(sigText(parseDocSignature("`(nowMs: f64) -> void`")), sigText(s));
  assert.equal(sigText(binary.exports.get("audit_time_ms")!), "(i32) -> f64");
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
