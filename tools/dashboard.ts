// Emits the browser dashboard into build/dashboard/ (after tools/bundle.ts made the host bundle):
//   index.html, dashboard.css   from dashboard/
//   dashboard.mjs               dashboard/page.ts bundled by esbuild, importing ./wasphere-host.mjs
//   wasphere-host.mjs           the host bundle without binaryen (build/wasphere-host.mjs)
//   core.wasm                   the core
//   apps.json, apps/<i>/...     the example apps, instrumented ahead of time (host/dashboard-cli.ts)
// `wasphere dashboard` serves the folder on loopback. Prints each file's size.
import { copyFileSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BUNDLE_PATH } from "./bundle.js";
import { REPO } from "./conformance.js";
import { DASHBOARD_DIR, dashboardApps } from "../host/dashboard-cli.js";

/** The apps the built dashboard runs: blink on GPIO 8, button mirroring GPIO 12 onto GPIO 9. */
export const DASHBOARD_EXAMPLES = ["examples/blink", "examples/button"];
export const DASHBOARD_PAGE_BUNDLE = join(DASHBOARD_DIR, "dashboard.mjs");

export async function buildDashboard(): Promise<{ path: string; bytes: number }[]> {
  const esbuild = await import("esbuild");
  rmSync(DASHBOARD_DIR, { recursive: true, force: true });
  mkdirSync(DASHBOARD_DIR, { recursive: true });
  // The page's import of the host stays an import of the host bundle, which sits beside it.
  const hostBundle = {
    name: "host-bundle",
    setup(b: { onResolve(o: { filter: RegExp }, cb: () => { path: string; external: boolean }): void }) {
      b.onResolve({ filter: /\/host\/bundle\.js$/ }, () => ({ path: "./wasphere-host.mjs", external: true }));
    },
  };
  await esbuild.build({
    entryPoints: [join(REPO, "dist/dashboard/page.js")], bundle: true, format: "esm", platform: "browser", minify: true,
    outfile: DASHBOARD_PAGE_BUNDLE, plugins: [hostBundle], logLevel: "error",
  });
  copyFileSync(BUNDLE_PATH, join(DASHBOARD_DIR, "wasphere-host.mjs"));
  copyFileSync(join(REPO, "build/core.wasm"), join(DASHBOARD_DIR, "core.wasm"));
  for (const f of ["index.html", "dashboard.css"]) copyFileSync(join(REPO, "dashboard", f), join(DASHBOARD_DIR, f));
  const apps = await dashboardApps(DASHBOARD_EXAMPLES, REPO);
  for (const [rel, bytes] of apps) {
    mkdirSync(dirname(join(DASHBOARD_DIR, rel)), { recursive: true });
    writeFileSync(join(DASHBOARD_DIR, rel), bytes);
  }
  return ["index.html", "dashboard.mjs", "wasphere-host.mjs", "core.wasm", ...[...apps.keys()].filter((k) => k.endsWith(".wasm"))]
    .map((f) => ({ path: join(DASHBOARD_DIR, f), bytes: statSync(join(DASHBOARD_DIR, f)).size }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const f of await buildDashboard()) process.stdout.write(`${f.path}: ${f.bytes} B\n`);
}
