// The Device and everything it imports must run in a browser: no static import of a Node API.
// Node-only code (files, the CLI, signals) lives in the CLI and tool modules, outside this graph.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const hostDir = fileURLToPath(new URL("../../host/", import.meta.url));

function importGraph(entry: string, seen = new Set<string>()): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = readFileSync(file, "utf8");
    const specs = [...src.matchAll(/^\s*import\s+(?!type\b)[^'"]*?from\s+["']([^"']+)["']|^\s*import\s+["']([^"']+)["']/gm)].map((m) => m[1] ?? m[2]);
    graph.set(file, specs);
    for (const s of specs) if (s.startsWith(".")) visit(resolve(dirname(file), s));
  };
  visit(entry);
  return graph;
}

test("host/device.js and its imports use no Node API", () => {
  const graph = importGraph(join(hostDir, "device.js"));
  assert.ok(graph.size >= 8, `walked the graph (${graph.size} modules)`);
  const nodeImports = [...graph].flatMap(([file, specs]) => specs.filter((s) => s.startsWith("node:") || ["fs", "path", "url", "child_process"].includes(s)).map((s) => `${file}: ${s}`));
  assert.deepEqual(nodeImports, []);
});

test("the device never imports binaryen statically: only a raw app's install loads it", () => {
  const graph = importGraph(join(hostDir, "device.js"));
  const heavy = [...graph].flatMap(([file, specs]) => specs.filter((s) => s === "binaryen" || s.endsWith("/instrument.js") || s.endsWith("/package.js") || s.endsWith("/build.js")).map((s) => `${file}: ${s}`));
  assert.deepEqual(heavy, []);
  assert.ok(graph.has(join(hostDir, "apps/runner.js")) && graph.has(join(hostDir, "apps/protocol.js")), "the runner and the protocol check are in the graph");
});

test("the conformance run and the core loader use no Node API either", () => {
  for (const entry of ["conformance.js", "core.js", "yield.js", "engine.js", "bundle.js"]) {
    const graph = importGraph(join(hostDir, entry));
    const nodeImports = [...graph].flatMap(([file, specs]) => specs.filter((s) => s.startsWith("node:") || s === "binaryen").map((s) => `${file}: ${s}`));
    assert.deepEqual(nodeImports, [], entry);
  }
});

test("host/ runtime code calls no Node-only global (setImmediate, process, Buffer, require)", () => {
  const files = [...importGraph(join(hostDir, "device.js")).keys(), join(hostDir, "conformance.js")];
  const offenders = files.flatMap((f) => {
    const code = readFileSync(f, "utf8").replace(/\/\/.*$/gm, "").replace(/\/\*[\s\S]*?\*\//g, "");
    return ["setImmediate", "Buffer.", "require(", "__dirname"].filter((w) => code.includes(w)).map((w) => `${f}: ${w}`)
      .concat(/(?<![.\w])process\./.test(code.replace(/globalThis as [^)]*\)\.process/g, "")) ? [`${f}: process`] : []);
  });
  assert.deepEqual(offenders, []);
});
