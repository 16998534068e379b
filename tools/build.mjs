// Builds everything `npm test` and `npm start` need: core.wasm (and its variants), the host
// (tsc), the example apps and the hostile test apps.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: "inherit" });

mkdirSync(join(root, "build"), { recursive: true });

// The core's flags are shared with tools that build variants (footprint report).
export const CORE_ASC_FLAGS = [
  "--runtime", "stub",
  "--initialMemory", "64", "--maximumMemory", "64",
  "--lowMemoryLimit", "4194304",
  "--use", "abort=assembly/hal/abort/coreAbort",
  "-O3", "--converge",
];

export function buildCore(outFile, extraArgs = []) {
  run(bin("asc"), ["assembly/index.ts", "-o", outFile, ...CORE_ASC_FLAGS, ...extraArgs]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  buildCore("build/core.wasm", ["-t", "build/core.wat"]);
  run(bin("tsc"), ["-p", "tsconfig.json"]);
  if (existsSync(join(root, "dist/tools/build-apps.js"))) run(process.execPath, ["dist/tools/build-apps.js"]);
}
