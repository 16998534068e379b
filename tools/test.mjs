// `npm test`: the as-pect specs for assembly/, then node's test runner over every compiled host
// and end-to-end test. Exits non-zero if any suite fails.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const walk = (dir) => {
  let out = [];
  let names;
  try { names = readdirSync(dir); } catch { return out; }
  for (const name of names.sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    else if (name.endsWith(".test.js")) out.push(p);
  }
  return out;
};

// The component tests need the optional component toolchain (jco, tools/component/): say so up
// front when it is missing (the tests themselves skip, or fail under WASPHERE_REQUIRE_HOSTS=1).
if (!existsSync(join(root, "tools/component/node_modules/@bytecodealliance/jco/package.json"))) {
  console.log("npm test: the component toolchain (jco) is not installed, so the component tests are skipped; `npm run component:setup` installs it");
}

let failed = false;
const aspect = spawnSync(join(root, "node_modules/.bin/asp"), ["--config", "as-pect.config.js"], { cwd: root, stdio: "inherit" });
if (aspect.status !== 0) { failed = true; console.error("as-pect specs failed"); }

const files = [...walk(join(root, "dist/tests/host")), ...walk(join(root, "dist/tests/e2e"))];
if (files.length === 0) { console.error("no compiled node tests found under dist/tests"); process.exit(1); }
const node = spawnSync(process.execPath, ["--test", "--test-concurrency=2", ...files], { cwd: root, stdio: "inherit" });
if (node.status !== 0) failed = true;
process.exit(failed ? 1 : 0);
