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
