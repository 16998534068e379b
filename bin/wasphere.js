#!/usr/bin/env node
// The `wasphere` command: runs the compiled host CLI (npm run build compiles it into dist/).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const cli = join(root, "dist", "host", "cli.js");
if (!existsSync(cli) || !existsSync(join(root, "build", "core.wasm"))) {
  process.stderr.write("wasphere: not built yet. Run `npm run build` in " + root + " first.\n");
  process.exit(2);
}
await import(cli);
