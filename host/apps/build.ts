// Building an app from AssemblyScript source with the wasphere SDK's settings.
//
// Apps link their data at APP_RUNTIME_AREA_BYTES so the low bytes of their memory stay free for the
// runtime's save area, and map `abort` to the SDK's (which logs and traps in the app only): the
// only imports a built app has are the `applibs` syscalls it uses.
// Invariants: the compiler reads source files only through the caller's `readSource` (package.ts
// lets it read the package and the SDK, nothing else) and writes nothing itself: the module comes
// back in memory, and `writeFileReplacing` puts it in place by writing a fresh file and renaming
// it, so a link at the destination is replaced, never written through.
// Must not: change the process's working directory (asc resolves paths against the base directory
// it is given), or let asc write to disk.
import { closeSync, constants, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { APP_RUNTIME_AREA_BYTES } from "../../assembly/abi.js";
import { printableLines } from "../printable.js";

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/** The SDK an app's main.ts imports; the only files outside its package a build may read. */
export const SDK_DIR = join(REPO_ROOT, "sdk");

export class AppBuildError extends Error {}

/** The SDK's package name: an app imports `@wasphere/sdk` (or a file of it, `@wasphere/sdk/applibs`). */
export const SDK_PACKAGE = "@wasphere/sdk";
/**
 * An entry file the build adds to every app: it only imports the SDK, so the SDK's `abort` (which
 * asconfig.json's `app` target names) exists even in an app that imports nothing of the SDK.
 * It exports nothing, so the app's module exports only what main.ts exports.
 */
const SDK_LINK_ENTRY = "__wasphere_sdk__.ts";
const SDK_LINK_SOURCE = `import "${SDK_PACKAGE}";\n`;

/** asconfig.json's `app` target as asc flags (the same conversion asc applies to a config). */
function appTargetFlags(): string[] {
  const config = JSON.parse(readFileSync(join(REPO_ROOT, "asconfig.json"), "utf8")) as { targets?: { app?: Record<string, unknown> } };
  const target = config.targets?.app;
  if (!target) throw new AppBuildError("asconfig.json has no `app` target");
  if (target.memoryBase !== APP_RUNTIME_AREA_BYTES) throw new AppBuildError(`asconfig.json: the app target's memoryBase must be ${APP_RUNTIME_AREA_BYTES} (the runtime's area), not ${String(target.memoryBase)}`);
  const flags: string[] = [];
  for (const [key, value] of Object.entries(target)) {
    if (value === true) flags.push(`--${key}`);
    else if (Array.isArray(value)) for (const v of value) flags.push(`--${key}`, String(v));
    else if (value !== false) flags.push(`--${key}`, String(value));
  }
  return flags;
}

/** The compiler's arguments; `outFile` is only a name (the output is captured, not written). */
export function appAscArgs(sourceFile: string, outFile: string): string[] {
  return [relative(REPO_ROOT, sourceFile).split("\\").join("/"), SDK_LINK_ENTRY, "-o", outFile, ...appTargetFlags()];
}

/**
 * Where a path the compiler probes really is: a file of the SDK package (asc looks for
 * `node_modules/@wasphere/sdk/...` above the base directory) maps into SDK_DIR; anything else is
 * itself.
 */
function sdkPackagePath(path: string): string {
  const marker = `${sep}node_modules${sep}${SDK_PACKAGE.split("/").join(sep)}${sep}`;
  const at = path.indexOf(marker);
  return at < 0 ? path : join(SDK_DIR, path.slice(at + marker.length));
}

/** Reads a source file the compiler asks for, by absolute path; null when it may not or does not exist. */
export type SourceReader = (absolutePath: string) => string | null;

const OUTPUT_NAME = "module.wasm";

/**
 * Compiles an app's AssemblyScript entry file and returns the module. Every file the compiler
 * reads goes through `readSource`. Throws AppBuildError with asc's output.
 */
export async function buildApp(sourceFile: string, readSource: SourceReader): Promise<Uint8Array> {
  const asc = (await import("assemblyscript/asc")).default;
  let log = "";
  let module: Uint8Array | null = null;
  const stream = { write(chunk: string | Uint8Array) { log += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString(); return true; } };
  const { error } = await asc.main([...appAscArgs(sourceFile, OUTPUT_NAME), "--baseDir", REPO_ROOT], {
    stdout: stream as any,
    stderr: stream as any,
    readFile: (name: string, baseDir: string) => {
      const path = join(baseDir, name);
      // The settings come as flags (appAscArgs); asc's own look for ./asconfig.json gets nothing.
      if (path === join(REPO_ROOT, "asconfig.json")) return null;
      if (path === join(REPO_ROOT, SDK_LINK_ENTRY)) return SDK_LINK_SOURCE;
      return readSource(sdkPackagePath(path));
    },
    writeFile: (name: string, contents: Uint8Array | string) => {
      if (name === OUTPUT_NAME && typeof contents !== "string") module = contents.slice();
    },
    listFiles: () => null,
  });
  if (error) throw new AppBuildError(printableLines(`building ${basename(sourceFile)} failed:\n${log.trim()}`));
  if (!module) throw new AppBuildError(`building ${sourceFile} produced no module`);
  return module;
}

/**
 * Puts `bytes` at `dir/name` by writing a fresh file (O_EXCL | O_NOFOLLOW, in `dir`) and renaming
 * it over the destination: whatever was there (a symlink, a hard link to another package's file)
 * is replaced as a directory entry, and its target is never written.
 */
export function writeFileReplacing(dir: string, name: string, bytes: Uint8Array): void {
  const tmp = join(dir, `.${name}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, join(dir, name));
  } catch (err) {
    unlinkSync(tmp);
    throw new AppBuildError(`cannot put the built module at ${join(dir, name)} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}
