// Builds everything `npm test` and `npm start` need: core.wasm (and its variants), the host
// (tsc), the example apps, the hostile test apps and the conformance run's instrumented apps.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { giveCanonicalNames } from "./wit-exports.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: "inherit" });

mkdirSync(join(root, "build"), { recursive: true });

// The core's flags are shared with tools that build variants (footprint report); the settings
// themselves are asconfig.json's `core` target (stub runtime, 64 fixed pages, -O3 --converge).
export const CORE_ASC_FLAGS = ["--config", "asconfig.json", "--target", "core"];

export function buildCore(outFile, extraArgs = [], entry = "assembly/index.ts") {
  run(bin("asc"), [entry, "-o", outFile, ...CORE_ASC_FLAGS, ...extraArgs]);
  // The exports take the names of wit/wasphere.wit's lowering (tools/wit-exports.mjs).
  giveCanonicalNames(resolve(root, outFile));
}

/** The core's build variants, without optional subsystems; the footprint report sizes each. */
export const CORE_VARIANTS = [
  { name: "full", entry: "assembly/index.ts", out: "build/core.wasm" },
  { name: "fs-readonly", entry: "assembly/variants/fs-readonly.ts", out: "build/core-fs-readonly.wasm", flags: ["--use", "FS_READONLY=1"] },
  { name: "no-fs", entry: "assembly/variants/no-fs.ts", out: "build/core-no-fs.wasm" },
];

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const v of CORE_VARIANTS) buildCore(v.out, [...(v.name === "full" ? ["-t", "build/core.wat"] : []), ...(v.flags ?? [])], v.entry);
  // The core as a component, with its JS bindings, when jco is installed (tools/build-component.mjs).
  run(process.execPath, ["tools/build-component.mjs"]);
  run(bin("tsc"), ["-p", "tsconfig.json"]);
  if (existsSync(join(root, "dist/tools/build-apps.js"))) run(process.execPath, ["dist/tools/build-apps.js"]);
  // The conformance run's apps, instrumented ahead of time for every host (tools/conformance.ts).
  run(process.execPath, ["dist/tools/conformance.js", "prepare"]);
  // The host as one ES module (with and without binaryen) and the gjs/jsc glue (tools/bundle.ts).
  run(process.execPath, ["dist/tools/bundle.js"]);
  // The browser dashboard, build/dashboard/ (tools/dashboard.ts; served by `wasphere dashboard`).
  run(process.execPath, ["dist/tools/dashboard.js"]);
}
