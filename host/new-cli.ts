// `wasphere new app NAME [--dir D]`: scaffolds an app directory that builds, packs and runs from
// anywhere, inside this repository or not: app_manifest.json (a fresh ComponentId), main.ts that
// imports the SDK by its package name, and a package.json that names the SDK as its dependency.
// Must not: overwrite anything (the app's directory must not exist yet).
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Command } from "commander";
import { SDK_DIR, SDK_PACKAGE } from "./apps/build.js";
import { printable } from "./printable.js";

export class ScaffoldError extends Error {}

/** A name the scaffold accepts: it becomes the manifest's Name and the module's file name. */
const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

export function mainSource(name: string): string {
  return `// ${name}: a wasphere app. It logs a line every second; edit main() to make it yours.
// Build, pack and run it with:
//   wasphere image-package pack-application --package-directory . --output-file ${name}.imagepackage
//   wasphere run .
import { log, sleepMs } from "${SDK_PACKAGE}";

export function main(): i32 {
  let tick = 0;
  while (true) {
    tick++;
    log("tick " + tick.toString());
    sleepMs(1000);
  }
}
`;
}

/** Creates the app directory `dir/name`; returns its path. */
export function scaffoldApp(name: string, parent = "."): string {
  if (!NAME_PATTERN.test(name)) throw new ScaffoldError(`app name ${JSON.stringify(printable(name))}: use 1 to 64 letters, digits, '-' or '_', starting with a letter`);
  const dir = resolve(parent, name);
  if (existsSync(dir)) throw new ScaffoldError(`${printable(dir)} already exists; an app is made in a new directory`);
  mkdirSync(dir, { recursive: true });
  const manifest = { SchemaVersion: 1, Name: name, ComponentId: randomUUID(), EntryPoint: `${name}.wasm`, CmdArgs: [], Capabilities: {}, ApplicationType: "Default" };
  writeFileSync(join(dir, "app_manifest.json"), JSON.stringify(manifest, null, 2) + "\n", { flag: "wx" });
  writeFileSync(join(dir, "main.ts"), mainSource(name), { flag: "wx" });
  const pkg = { name, private: true, description: `${name}: a wasphere app`, dependencies: { [SDK_PACKAGE]: `file:${SDK_DIR}` } };
  writeFileSync(join(dir, "package.json"), JSON.stringify(pkg, null, 2) + "\n", { flag: "wx" });
  writeFileSync(join(dir, ".gitignore"), "build/\nnode_modules/\n*.imagepackage\n", { flag: "wx" });
  return dir;
}

export function registerNewCommand(program: Command): void {
  const group = program.command("new").description("start something new from a template");
  group.command("app")
    .description("make a new app directory NAME: app_manifest.json, main.ts using the SDK, package.json")
    .argument("<NAME>", "the app's name (its manifest Name and module file name)")
    .option("--dir <D>", "where to make it (default: the current directory)", ".")
    .action((name: string, opts: { dir: string }) => {
      try {
        const dir = scaffoldApp(name, opts.dir);
        process.stdout.write(`${printable(dir)}: new app ${name}; pack it with \`wasphere image-package pack-application --package-directory ${printable(dir)} --output-file ${name}.imagepackage\`\n`);
      } catch (err) {
        if (!(err instanceof ScaffoldError)) throw err;
        process.stderr.write(`wasphere: ${err.message}\n`);
        process.exitCode = 1;
      }
    });
}
