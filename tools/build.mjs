// Builds everything `npm test`, `npm start` and `npm run bench` need, and only what changed:
// the three core variants (and core.wat), the host (tsc), the example apps, the conformance run's
// instrumented apps and the host bundles.
//
// Each step (STEPS below) names its inputs (files and directories of the repository, tool
// versions) and its outputs. A step runs when its stamp in build/stamps/<step>.json is missing, its
// recipe (command and arguments) or a tool's version changed, an input's SHA-256 differs from the
// one the stamp recorded (a step's inputs include the outputs of the steps before it that it
// reads, hashed once those ran), or an output is missing or differs from what the step wrote.
// File times are not trusted: a fresh clone has no stamps and builds everything; a checkout that
// changes nothing rebuilds nothing.
// Every build writes its step log to build/build-log.json ({ steps: [{ name, ran, why }] }; the
// build test reads it) and prints one line per step that ran, nothing when nothing changed.
//   node tools/build.mjs [--force] [--dry-run]
// --dry-run writes the log of what would run, runs nothing and leaves the stamps as they are.
// To add a step: append to STEPS with its inputs, outputs, `after` (the steps whose outputs it
// reads) and `run`.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { giveCanonicalNames } from "./wit-exports.mjs";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: "inherit" });
const node = (script, ...args) => run(process.execPath, [script, ...args]);

// The core's flags are shared with tools that build variants (footprint report); the settings
// themselves are asconfig.json's `core` target (stub runtime, 64 fixed pages, -O3). No --converge:
// re-running -O3 until the module stops shrinking saved 41 bytes of 63,182 (0.06 %) and printed
// "Last converge was suboptimal." whenever the last round grew the module again.
export const CORE_ASC_FLAGS = ["--config", "asconfig.json", "--target", "core"];

export function buildCore(outFile, extraArgs = [], entry = "assembly/index.ts") {
  run(bin("asc"), [entry, "-o", outFile, ...CORE_ASC_FLAGS, ...extraArgs]);
  // The exports take the names of wit/wasphere.wit's lowering (tools/wit-exports.mjs).
  giveCanonicalNames(resolve(root, outFile));
}

/** The core's build variants, without optional subsystems; the footprint report sizes each. */
export const CORE_VARIANTS = [
  { name: "full", entry: "assembly/index.ts", out: "build/core.wasm", flags: ["-t", "build/core.wat"] },
  { name: "fs-readonly", entry: "assembly/variants/fs-readonly.ts", out: "build/core-fs-readonly.wasm", flags: ["--use", "FS_READONLY=1"] },
  { name: "no-fs", entry: "assembly/variants/no-fs.ts", out: "build/core-no-fs.wasm", flags: ["--use", "FS_NONE=1"] },
];

/** The example apps built from source: each examples/<name>/ with a main.ts, and the module it builds. */
export function exampleApps() {
  return readdirSync(join(root, "examples")).sort().filter((name) => existsSync(join(root, "examples", name, "main.ts"))).map((name) => {
    const entryPoint = JSON.parse(readFileSync(join(root, "examples", name, "app_manifest.json"), "utf8")).EntryPoint;
    return { dir: `examples/${name}`, module: `examples/${name}/build/${entryPoint}` };
  });
}

const version = (pkg) => `${pkg} ${JSON.parse(readFileSync(join(root, "node_modules", pkg, "package.json"), "utf8")).version}`;

/**
 * The build's steps, in order. `inputs`: paths (a directory means every file under it, except
 * `build/` and `node_modules/` folders inside it, filtered by `ext` when given); `tools`: npm
 * packages whose versions count; `outputs`: what the step writes (files or directories);
 * `after`: steps whose outputs this one reads.
 */
export const STEPS = [
  ...CORE_VARIANTS.map((v) => ({
    name: `core-${v.name}`,
    inputs: ["assembly", "asconfig.json", "wit/wasphere.wit", "tools/wit-exports.mjs"],
    tools: ["assemblyscript"],
    outputs: [v.out, ...(v.flags?.includes("-t") ? [v.flags[v.flags.indexOf("-t") + 1]] : [])],
    recipe: [v.entry, ...CORE_ASC_FLAGS, ...(v.flags ?? [])],
    run: () => buildCore(v.out, v.flags ?? [], v.entry),
  })),
  {
    // The core as a component with its JS bindings, only when jco is installed (tools/component/,
    // `npm run component:setup`): installing jco changes its package.json input, so the step runs.
    name: "component",
    inputs: ["build/core.wasm", "wit/wasphere.wit", "tools/build-component.mjs", "tools/component/package-lock.json",
      "tools/component/node_modules/@bytecodealliance/jco/package.json"],
    outputs: existsSync(join(root, "tools/component/node_modules/@bytecodealliance/jco/package.json"))
      ? ["build/core.component.wasm", "build/core-component"] : [],
    after: ["core-full"],
    recipe: ["tools/build-component.mjs"],
    run: () => node("tools/build-component.mjs"),
  },
  {
    name: "tsc",
    inputs: ["host", "tools", "tests/host", "tests/e2e", "dashboard", "assembly/abi.ts", "tsconfig.json"],
    ext: ".ts",
    tools: ["typescript", "@types/node"],
    outputs: ["dist"],
    recipe: ["-p", "tsconfig.json"],
    run: () => run(bin("tsc"), ["-p", "tsconfig.json"]),
  },
  {
    // The example apps from their main.ts, into examples/*/build (host/apps/package.ts stamps each).
    name: "apps",
    inputs: ["examples", "system", "sdk", "asconfig.json", "dist/tools/build-apps.js", "dist/host/apps/build.js", "dist/host/apps/package.js"],
    tools: ["assemblyscript"],
    outputs: exampleApps().map((a) => a.module),
    after: ["tsc"],
    recipe: ["dist/tools/build-apps.js"],
    run: () => node("dist/tools/build-apps.js"),
  },
  {
    // The conformance run's apps, instrumented ahead of time for every host (tools/conformance.ts).
    name: "conformance",
    inputs: ["tests/conformance/script.json", "tests/conformance/apps", "examples", ...exampleApps().map((a) => a.module), "build/core.wasm",
      "dist/tools/conformance.js", "dist/host/instrument-cli.js", "dist/host/apps/instrument.js", "dist/host/apps/protocol.js",
      "dist/host/apps/imports.js", "dist/assembly/abi.js"],
    tools: ["binaryen"],
    outputs: ["build/conformance", "build/abi.json"],
    after: ["core-full", "tsc", "apps"],
    recipe: ["dist/tools/conformance.js", "prepare"],
    run: () => node("dist/tools/conformance.js", "prepare"),
  },
  {
    // The host as one ES module (with and without binaryen) and the gjs/jsc glue (tools/bundle.ts).
    name: "bundle",
    inputs: ["dist/host", "dist/assembly", "dist/tools/bundle.js", "dist/tools/conformance.js", "build/conformance", "tests/conformance/script.json"],
    tools: ["esbuild", "binaryen"],
    outputs: ["build/wasphere-host.mjs", "build/wasphere-host-full.mjs", "build/engines"],
    after: ["tsc", "conformance"],
    recipe: ["dist/tools/bundle.js", "--quiet"],
    run: () => node("dist/tools/bundle.js", "--quiet"),
  },
  {
    // The browser dashboard, build/dashboard/ (tools/dashboard.ts; served by `wasphere dashboard`).
    name: "dashboard",
    inputs: ["dashboard", "dist/tools/dashboard.js", "dist/host/dashboard-cli.js", "build/wasphere-host.mjs", "build/core.wasm",
      ...exampleApps().map((a) => a.module)],
    tools: ["esbuild", "binaryen"],
    outputs: ["build/dashboard"],
    after: ["core-full", "tsc", "apps", "bundle"],
    recipe: ["dist/tools/dashboard.js"],
    run: () => node("dist/tools/dashboard.js"),
  },
];

export const STAMPS_DIR = join(root, "build", "stamps");
export const LOG_PATH = join(root, "build", "build-log.json");

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** Every file under `rel` (a file or a directory), as repository-relative paths, sorted. */
function filesUnder(rel, ext) {
  const abs = join(root, rel);
  let st;
  try { st = statSync(abs); } catch { return []; }
  if (st.isFile()) return [rel];
  const out = [];
  for (const name of readdirSync(abs).sort()) {
    if (name === "build" || name === "node_modules" || name === "__pycache__") continue;
    const child = join(rel, name);
    const cst = statSync(join(root, child));
    if (cst.isDirectory()) out.push(...filesUnder(child, ext));
    else if (!ext || child.endsWith(ext) || child === rel) out.push(child);
  }
  return out;
}

/** path -> SHA-256 of every file of `paths` ("" for a path that is missing). */
function hashPaths(paths, ext) {
  const out = {};
  for (const p of paths) {
    const files = filesUnder(p, ext);
    if (files.length === 0) out[p] = "";
    for (const f of files) out[f.split("\\").join("/")] = sha256(readFileSync(join(root, f)));
  }
  return out;
}

/** What a step's stamp records: its recipe, tool versions, and every input and output file's hash. */
function currentInputs(step) {
  // A file named as an input counts whatever its extension (tsconfig.json); `ext` filters directories.
  const files = hashPaths(step.inputs, step.ext);
  return { recipe: step.recipe, tools: (step.tools ?? []).map(version), files };
}

const readStamp = (step) => {
  try { return JSON.parse(readFileSync(join(STAMPS_DIR, `${step.name}.json`), "utf8")); } catch { return null; }
};

/**
 * Why `step` must run, or null when its stamp matches (see the file header). A step reads its
 * upstream steps' outputs as inputs, hashed after they ran; a dry run cannot, so there a step
 * after one that would run is counted as running.
 */
function staleness(step, stamp, wouldRun) {
  const dep = (step.after ?? []).find((d) => wouldRun.has(d));
  if (dep) return `${dep} would run`;
  if (!stamp) return "never built here";
  const now = currentInputs(step);
  if (JSON.stringify(now.recipe) !== JSON.stringify(stamp.recipe)) return "its command changed";
  if (JSON.stringify(now.tools) !== JSON.stringify(stamp.tools)) return `tool version changed (${now.tools.join(", ")})`;
  const names = new Set([...Object.keys(now.files), ...Object.keys(stamp.files ?? {})]);
  for (const name of [...names].sort()) {
    if (now.files[name] !== stamp.files?.[name]) return `${name} ${name in (stamp.files ?? {}) ? (name in now.files ? "changed" : "was removed") : "is new"}`;
  }
  const outputs = hashPaths(step.outputs);
  for (const [name, hash] of Object.entries(stamp.outputs ?? {})) {
    if (outputs[name] !== hash) return `output ${name} ${outputs[name] ? "changed" : "is missing"}`;
  }
  if (step.outputs.some((o) => !existsSync(join(root, o)))) return "an output is missing";
  return null;
}

function writeStamp(step) {
  mkdirSync(STAMPS_DIR, { recursive: true });
  const stamp = { ...currentInputs(step), outputs: hashPaths(step.outputs) };
  const path = join(STAMPS_DIR, `${step.name}.json`);
  writeFileSync(path + ".tmp", JSON.stringify(stamp, null, 1) + "\n");
  renameSync(path + ".tmp", path);
}

/** Runs the steps that are stale (all with `force`); returns the step log. */
export function build({ force = false, dryRun = false, steps = STEPS, out = (line) => process.stdout.write(line + "\n") } = {}) {
  mkdirSync(join(root, "build"), { recursive: true });
  const ran = new Set();
  const log = [];
  for (const step of steps) {
    const why = force ? "forced" : staleness(step, readStamp(step), dryRun ? ran : new Set());
    log.push({ name: step.name, ran: why !== null, why });
    if (why === null) continue;
    ran.add(step.name);
    if (dryRun) continue;
    const t0 = performance.now();
    step.run();
    writeStamp(step);
    out(`build: ${step.name} (${why}) ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  writeFileSync(LOG_PATH, JSON.stringify({ dryRun, steps: log }, null, 1) + "\n");
  return log;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  build({ force: process.argv.includes("--force"), dryRun: process.argv.includes("--dry-run") });
}
