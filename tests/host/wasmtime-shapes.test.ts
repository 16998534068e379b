// The wasmtime host's table of how to lift each export's result (RESULT_SHAPES in
// hosts/wasmtime/wasphere_wasmtime/core.py) against host/core.ts's EXPORT_SHAPES, which
// tests/host/wit.test checks against the WIT world: a result the Python host does not know would be
// handed back as the return area's address, a number that looks like a success. Needs no Python:
// the table is read from the source text.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { EXPORT_SHAPES, type ExportName } from "../../host/core.js";

const source = readFileSync(new URL("../../../hosts/wasmtime/wasphere_wasmtime/core.py", import.meta.url), "utf8");

/** The `NAME = { "k": "v", ... }` dict literal of the Python source, as pairs. */
function pythonDict(name: string): Map<string, string> {
  const m = new RegExp(`^${name} = \\{([^}]*)\\}`, "m").exec(source);
  assert.ok(m, `core.py defines ${name} as a dict literal`);
  const body = m[1].replace(/#.*$/gm, "");
  const pairs = [...body.matchAll(/"([^"]+)":\s*"([^"]+)"/g)].map((p) => [p[1], p[2]] as [string, string]);
  // Every entry was read: nothing but pairs, commas and blanks is left.
  assert.equal(body.replace(/"([^"]+)":\s*"([^"]+)"/g, "").replace(/[\s,]/g, ""), "", `${name} holds only "name": "shape" pairs`);
  return new Map(pairs);
}

test("the wasmtime host lifts exactly the exports whose WIT result is not a number, each by its shape", () => {
  const python = pythonDict("RESULT_SHAPES");
  const expected = new Map(Object.entries(EXPORT_SHAPES).filter(([, [, , r]]) => r !== "n").map(([n, [, , r]]) => [n, r as string]));
  assert.ok(expected.size >= 12, "EXPORT_SHAPES has its non-number results");
  assert.deepEqual([...python.entries()].sort(), [...expected.entries()].sort());
});

test("a shape the wasmtime host does not lift is listed as refused, and every other one has a lifting branch", () => {
  const unlifted = pythonDict("UNLIFTED_SHAPES");
  const shapes = new Set(pythonDict("RESULT_SHAPES").values());
  for (const shape of shapes) {
    if (shape === "list" || unlifted.has(shape)) continue;
    assert.match(source, new RegExp(`if shape == "${shape}":`), `_lift has a branch for ${shape}`);
  }
  for (const shape of unlifted.keys()) assert.ok(shapes.has(shape), `${shape} is a shape some export has`);
});

test("the wasmtime host names each export's interface as EXPORT_SHAPES does (fs_* is fs, the rest kernel)", () => {
  assert.match(source, /iface = "fs" if name\.startswith\("fs_"\) else "kernel"/);
  for (const [name, [iface]] of Object.entries(EXPORT_SHAPES) as [ExportName, (typeof EXPORT_SHAPES)[ExportName]][]) {
    assert.equal(iface, name.startsWith("fs_") ? "fs" : "kernel", name);
  }
});
