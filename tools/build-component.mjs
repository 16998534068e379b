// Builds the core as a WebAssembly component, when the optional component toolchain (jco, in
// tools/component/, installed by `npm run component:setup`) is present:
//   build/core.wasm + wit/wasphere.wit (world `core`)
//     -> componentEmbed + componentNew  -> build/core.component.wasm
//     -> transpile (sync instantiation) -> build/core-component/ (core.js, its core modules, .d.ts)
// The same core.wasm the module hosts run is wrapped, never rebuilt: the component differs from the
// module only in its type section and the canonical-ABI glue around it.
// Incremental: build/core-component/inputs.sha256 holds the hash of every input (core.wasm, the
// WIT, jco's version, this file); when it matches, nothing runs.
// Must not: run when jco is absent (the default install has none; the build says how to get it),
// or use jco's `embed --wit` command (its bundled wasm-tools cannot read files and panics).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
/** Where `npm run component:setup` installs jco; WASPHERE_COMPONENT_TOOLCHAIN overrides it. */
export const COMPONENT_TOOLCHAIN_DIR = process.env.WASPHERE_COMPONENT_TOOLCHAIN || join(root, "tools/component");
export const JCO_DIR = join(COMPONENT_TOOLCHAIN_DIR, "node_modules/@bytecodealliance/jco");
export const WIT_PATH = join(root, "wit/wasphere.wit");
export const WIT_WORLD = "core";
export const CORE_WASM = join(root, "build/core.wasm");
export const COMPONENT_WASM = join(root, "build/core.component.wasm");
export const BINDINGS_DIR = join(root, "build/core-component");
const STAMP = join(BINDINGS_DIR, "inputs.sha256");
export const SETUP_HINT = "install it with `npm run component:setup` (npm ci in tools/component)";

export const jcoInstalled = () => existsSync(join(JCO_DIR, "package.json"));

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

export const ENUMS_FILE = "enums.json";

/**
 * The WIT text's enums: `cases` maps each `enum name { case, ... }` to its case names in order
 * (`%` escapes dropped); `params` maps each function with an enum parameter to its parameters'
 * enum names (null for the others), in order.
 */
export function witEnums(witSource) {
  const code = witSource.replace(/\/\/.*$/gm, "");
  const cases = {};
  for (const m of code.matchAll(/\benum\s+([a-z][a-z0-9-]*)\s*\{([^}]*)\}/g)) {
    cases[m[1]] = m[2].split(",").map((c) => c.trim().replace(/^%/, "")).filter((c) => c.length > 0);
  }
  const params = {};
  for (const m of code.matchAll(/\b([a-z][a-z0-9-]*)\s*:\s*func\s*\(([^)]*)\)/g)) {
    const types = m[2].split(",").map((p) => p.split(":")[1]?.trim()).filter((t) => t !== undefined);
    if (types.some((t) => t in cases)) params[m[1]] = types.map((t) => (t in cases ? t : null));
  }
  return { cases, params };
}

/**
 * Builds the component and its bindings unless they are up to date. Returns what it did, with
 * the times it took (ms) when it did something.
 */
export async function buildComponent({ force = false } = {}) {
  if (!jcoInstalled()) return { skipped: `the component toolchain (jco) is not installed: ${SETUP_HINT}` };
  if (!existsSync(WIT_PATH)) throw new Error(`${WIT_PATH} is missing: the component build needs the core's WIT world`);
  const jcoVersion = JSON.parse(readFileSync(join(JCO_DIR, "package.json"), "utf8")).version;
  const binary = readFileSync(CORE_WASM);
  const witSource = readFileSync(WIT_PATH, "utf8");
  const stamp = [sha256(binary), sha256(witSource), `jco ${jcoVersion}`, sha256(readFileSync(fileURLToPath(import.meta.url)))].join("\n") + "\n";
  if (!force && existsSync(COMPONENT_WASM) && existsSync(join(BINDINGS_DIR, "core.js")) && existsSync(STAMP) && readFileSync(STAMP, "utf8") === stamp) {
    return { upToDate: true };
  }
  const jco = await import(pathToFileURL(join(JCO_DIR, "dist/api.js")).href);
  let t = performance.now();
  const embedded = await jco.componentEmbed({ binary, witSource, world: WIT_WORLD });
  const component = await jco.componentNew(embedded);
  const componentMs = performance.now() - t;
  t = performance.now();
  // Sync instantiation: the host compiles the core modules itself (Node, a browser, a bundle).
  const out = await jco.transpile(component, { name: "core", instantiation: "sync", quiet: true });
  const transpileMs = performance.now() - t;
  rmSync(BINDINGS_DIR, { recursive: true, force: true });
  for (const [name, bytes] of Object.entries(out.files)) {
    const path = join(BINDINGS_DIR, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, bytes);
  }
  // The bindings are an ES module; a package.json says so wherever build/ is copied.
  writeFileSync(join(BINDINGS_DIR, "package.json"), '{ "type": "module" }\n');
  // jco passes enums as their case names; the host's numbers are the cases' indices (what the
  // canonical ABI lowers an enum to), so the host maps one to the other with this table.
  writeFileSync(join(BINDINGS_DIR, ENUMS_FILE), JSON.stringify(witEnums(witSource), null, 1) + "\n");
  writeFileSync(COMPONENT_WASM, component);
  writeFileSync(STAMP, stamp);
  return { built: true, moduleBytes: binary.length, componentBytes: component.length, componentMs, transpileMs, jcoVersion };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const force = process.argv.includes("--force");
  const r = await buildComponent({ force });
  if (r.skipped) console.log(`component: skipped (${r.skipped})`);
  else if (r.upToDate) console.log("component: build/core.component.wasm is up to date");
  else console.log(`component: build/core.component.wasm ${r.componentBytes} B (core.wasm ${r.moduleBytes} B), embed+new ${r.componentMs.toFixed(0)} ms, transpile ${r.transpileMs.toFixed(0)} ms (jco ${r.jcoVersion})`);
}
