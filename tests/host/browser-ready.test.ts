// The Device and everything it imports must run in a browser: no static import of a Node API, no
// Node-only global (setImmediate, process, Buffer, require, __dirname, ...) used at run time.
// Node-only code (files, the CLI, signals) lives in the CLI and tool modules, outside this graph.
// Reaching Node through `globalThis.process?.getBuiltinModule`, behind a check, is allowed: that is
// how core.ts finds the default core.wasm on Node and gives a clear error elsewhere.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const hostDir = fileURLToPath(new URL("../../host/", import.meta.url));

/** The modules `entry` reaches; with `dynamic`, through `import("...")` as well as static imports. */
function importGraph(entry: string, { dynamic = true } = {}): Map<string, string[]> {
  const seen = new Set<string>();
  const graph = new Map<string, string[]>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = readFileSync(file, "utf8");
    const specs = [...src.matchAll(/^\s*import\s+(?!type\b)[^'"]*?from\s+["']([^"']+)["']|^\s*import\s+["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/gm)]
      .filter((m) => dynamic || m[3] === undefined).map((m) => m[1] ?? m[2] ?? m[3]);
    graph.set(file, specs);
    for (const s of specs) if (s.startsWith(".")) visit(resolve(dirname(file), s));
  };
  visit(entry);
  return graph;
}

/** The code of a JS module without its comments and the contents of its string and template literals. */
function codeOnly(src: string): string {
  return src
    .replace(/\/\*[\s\S]*?\*\//g, " ")
    .replace(/(^|[^:\\])\/\/.*$/gm, "$1")
    .replace(/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`/g, '""');
}

// A global read bare (not as a property, e.g. `x.process`, and not a declaration of a local).
const NODE_GLOBALS = ["setImmediate", "clearImmediate", "process", "Buffer", "require", "__dirname", "__filename", "global"];
const bareUse = (name: string) => new RegExp(`(?<![.\\w$])${name}(?![\\w$])(?!\\s*:)`, "g");

function nodeGlobalsIn(src: string): string[] {
  const code = codeOnly(src);
  return NODE_GLOBALS.filter((g) => bareUse(g).test(code));
}

const graph = importGraph(join(hostDir, "device.js"));

test("host/device.js and its imports use no Node API", () => {
  assert.ok(graph.size >= 8, `walked the graph (${graph.size} modules)`);
  const nodeImports = [...graph].flatMap(([file, specs]) => specs.filter((s) => s.startsWith("node:") || ["fs", "path", "url", "child_process", "os", "crypto", "timers"].includes(s)).map((s) => `${file.slice(hostDir.length)}: ${s}`));
  // The one exception: the install worker is a Node adapter, loaded by a guarded import("node:worker_threads")
  // that falls back to instrumenting in the same thread where the engine has no such module.
  assert.deepEqual(nodeImports, ["apps/instrument-async.js: node:worker_threads"]);
  const adapter = readFileSync(join(hostDir, "apps/instrument-async.js"), "utf8");
  assert.match(adapter, /try\s*\{\s*const \{ Worker \} = await import\("node:worker_threads"\)[\s\S]*?\}\s*catch \{\s*return null;/, "the worker import sits in a try with a fallback");
});

test("host/device.js and its imports read no Node-only global", () => {
  const uses = [...graph.keys()].flatMap((file) => nodeGlobalsIn(readFileSync(file, "utf8")).map((g) => `${file.slice(hostDir.length)}: ${g}`));
  assert.deepEqual(uses, []);
});

test("the global scan finds what it looks for, and not in comments, strings or properties", () => {
  assert.deepEqual(nodeGlobalsIn(`await new Promise((r) => setImmediate(r));`), ["setImmediate"]);
  assert.deepEqual(nodeGlobalsIn(`const b = Buffer.from(x); if (process.env.X) require("y");`), ["process", "Buffer", "require"]);
  assert.deepEqual(nodeGlobalsIn(`// setImmediate(r)\n/* process.exit() */ const s = "Buffer"; x.process = 1; const o = { global: 1 };`), []);
  assert.deepEqual(nodeGlobalsIn(`const p = globalThis.process?.getBuiltinModule;`), []);
});

test("a Device runs with Node's globals gone: install, a real-time run, a virtual-time run", () => {
  // A fresh process: load the modules, then make every Node-only global throw when read, then run.
  const script = `
    const { Device } = await import(${JSON.stringify(join(hostDir, "device.js"))});
    const { VirtualClock } = await import(${JSON.stringify(join(hostDir, "peripherals/clock.js"))});
    const { appFromBytes } = await import(${JSON.stringify(join(hostDir, "apps/package.js"))});
    const { blinker, manifest } = await import(${JSON.stringify(fileURLToPath(new URL("../e2e/support.js", import.meta.url)))});
    const { coreModule } = await import(${JSON.stringify(join(hostDir, "core.js"))});
    const module = coreModule();
    const wasm = blinker(8, 20);
    const real = new Device({ coreModule: module });
    const virt = new Device({ coreModule: module, clock: new VirtualClock() });
    const apps = [await real.install(appFromBytes("blink", manifest("blink", { Capabilities: { Gpio: [8] } }), wasm)),
                  await virt.install(appFromBytes("blink", manifest("blink", { Capabilities: { Gpio: [8] } }), wasm))];
    const write = process.stdout.write.bind(process.stdout);
    for (const name of ${JSON.stringify(NODE_GLOBALS.filter((g) => g !== "require"))}) {
      Object.defineProperty(globalThis, name, { configurable: true, get() { throw new Error("Node-only global read at run time: " + name); } });
    }
    real.start(apps[0]); virt.start(apps[1]);
    await real.run({ untilMs: real.clock.nowMs() + 300 });
    await virt.run({ untilMs: 1000 });
    const toggles = (d) => d.events.of("gpio").filter((e) => e.pin === 8).length;
    write(JSON.stringify({ real: toggles(real), virtual: toggles(virt) }) + "\\n");
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const counts = JSON.parse(r.stdout.trim().split("\n").pop()!);
  assert.ok(counts.real >= 3, `the real-time run toggled (${counts.real})`);
  assert.equal(counts.virtual, 51, "the virtual run: the open at 0 ms, then a toggle every 20 ms from 0 to 980");
});

test("the device never imports binaryen statically: only a raw app's install loads it", () => {
  const graph = importGraph(join(hostDir, "device.js"), { dynamic: false });
  const heavy = [...graph].flatMap(([file, specs]) => specs.filter((s) => s === "binaryen" || s.endsWith("/instrument.js") || s.endsWith("/package.js") || s.endsWith("/build.js")).map((s) => `${file}: ${s}`));
  assert.deepEqual(heavy, []);
  assert.ok(graph.has(join(hostDir, "apps/runner.js")) && graph.has(join(hostDir, "apps/protocol.js")), "the runner and the protocol check are in the graph");
});

test("the conformance run and the core loader use no Node API either", () => {
  for (const entry of ["conformance.js", "core.js", "yield.js", "engine.js", "bundle.js"]) {
    const graph = importGraph(join(hostDir, entry), { dynamic: false });
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
