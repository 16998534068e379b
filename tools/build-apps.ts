// The build's `apps` step (tools/build.mjs): builds each example app that has a main.ts into its
// build/ folder, as installing it would (host/apps/package.ts: same compiler settings, same stamp,
// reused when its inputs are unchanged). `npm run bench` and the tests read the modules there.
//   node dist/tools/build-apps.js [APP_DIR...]   (default: every examples/* and system/* with a main.ts)
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { appFromDirectory } from "../host/apps/package.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Builds the app in `dir` (unless its build is current) and returns the module's size. */
export async function buildAppDir(dir: string): Promise<number> {
  const entryPoint = JSON.parse(readFileSync(join(dir, "app_manifest.json"), "utf8")).EntryPoint as string;
  return (await appFromDirectory(dir).loadEntryPoint(entryPoint)).length;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const appDirs = (parent: string) => readdirSync(join(ROOT, parent)).sort().map((n) => join(ROOT, parent, n)).filter((d) => existsSync(join(d, "main.ts")));
  const dirs = process.argv.length > 2 ? process.argv.slice(2) : [...appDirs("examples"), ...appDirs("system")];
  for (const dir of dirs) await buildAppDir(dir);
}
