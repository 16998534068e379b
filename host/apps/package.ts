// AppPackage: an app as the device receives it: the raw manifest bytes and the entry module.
//
// The host does not interpret the manifest: the core parses and validates it. The host reads only
// EntryPoint, after the core has accepted the manifest, to find the module.
//
// An app directory is this Node-only adapter's package. Its rules (SPEC.md, "App packages"):
// - nothing outside the package's own directory is read or written for it. Every path is resolved
//   to its real path and must stay inside the directory's real path: a symlink that leaves the
//   package (a `build/` linked to another package's, an EntryPoint or app_manifest.json linked to a
//   module elsewhere) is refused, and so is the package directory being a symlink itself;
// - only regular files with a single link are read: a FIFO, a device, a directory or a hard link
//   (which could make another package's file part of this one) is refused. Files are opened with
//   O_NOFOLLOW | O_NONBLOCK, so a FIFO is refused after fstat instead of blocking the open, and the
//   opened file is checked to still be the one the resolved path names;
// - a built module is written by build.ts to a fresh file and renamed into `build/`, which must be
//   a real directory inside the package: nothing is ever written through a link;
// - a build is reused only when a hash of its inputs (every source file the compiler read, the
//   compiler's version and settings) and of the module itself match the stamp written with it.
//   File times are not trusted.
// - `moduleSha256Now` hashes the module where it was read from, so the device can refuse to start
//   an app whose package no longer holds what was installed.
// Must not: follow a link out of the package, open anything that could block, or read a file of
// unbounded size (PACKAGE_FILE_MAX_BYTES).
import { constants, closeSync, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, realpathSync, statSync, type Stats } from "node:fs";
import { createHash } from "node:crypto";
import { isAbsolute, join, relative, sep } from "node:path";
import { MANIFEST_MAX_BYTES } from "../../assembly/abi.js";
import { printable } from "../printable.js";
import { AppBuildError, appAscArgs, buildApp, REPO_ROOT, SDK_DIR, writeFileReplacing } from "./build.js";

/** The largest file a package may hold for the device to read: well above any module the device accepts. */
export const PACKAGE_FILE_MAX_BYTES = 16 * 1024 * 1024;

export interface AppPackage {
  /** Where it came from, for messages. */
  origin: string;
  manifestBytes: Uint8Array;
  /** Loads the module named by the manifest's EntryPoint. */
  loadEntryPoint(entryPoint: string): Promise<Uint8Array>;
  /**
   * The SHA-256 (hex) of the module the package holds now, read again from where the last
   * `loadEntryPoint` read it, without building anything. Throws AppPackageError when it can no
   * longer be read by the package rules. Absent for packages that cannot change (held in memory).
   */
  moduleSha256Now?(): string;
}

export class AppPackageError extends Error {}

export const sha256Hex = (bytes: Uint8Array | string): string => createHash("sha256").update(bytes).digest("hex");

/** True when `path` is `root` or inside it (both real paths). */
export function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * The real path of `rel` inside the package `root` (a real path). Refuses a path that is not
 * relative, steps up with `..`, or resolves (through symlinks) outside the package.
 */
export function resolveInside(root: string, rel: string, what: string): string {
  checkRelative(rel, what);
  let real: string;
  try {
    real = realpathSync(join(root, rel));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new AppPackageError(`${what} not found`);
    if (code === "ELOOP") throw new AppPackageError(`${what} is a symbolic link loop`);
    throw new AppPackageError(`${what} cannot be resolved (${code ?? String(err)})`);
  }
  if (!isInside(root, real)) {
    throw new AppPackageError(`${what} leads outside the app's directory (to ${printable(real)}); a package may use only its own files`);
  }
  return real;
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  if (st.isSymbolicLink()) return "a symbolic link";
  return "not a regular file";
}

/**
 * Reads the regular file at `real` (a real path inside `root`), at most `maxBytes`. Refuses
 * anything else without blocking: O_NONBLOCK makes opening a FIFO return at once, and fstat then
 * says what it is. After the open, the path must still resolve inside `root` to the same file.
 */
export function readPackageFile(root: string, real: string, what: string, maxBytes = PACKAGE_FILE_MAX_BYTES, singleLink = true): Uint8Array {
  let fd: number;
  try {
    fd = openSync(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ELOOP") throw new AppPackageError(`${what} was replaced by a symbolic link while it was read`);
    throw new AppPackageError(`${what} cannot be opened (${code ?? String(err)})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new AppPackageError(`${what} is ${kindOf(st)}; a package holds regular files only`);
    if (singleLink && st.nlink !== 1) throw new AppPackageError(`${what} has ${st.nlink} hard links; a package file must have one (a hard link can make another package's file part of this one)`);
    if (st.size > maxBytes) throw new AppPackageError(`${what} is ${st.size} bytes; the limit is ${maxBytes}`);
    // The path checked before the open must still name the file that was opened: a directory
    // step swapped for a link in between would show here.
    const now = safeRealpath(real);
    let again: Stats | null = null;
    try { again = statSync(real); } catch { /* gone: refused below */ }
    if (now !== real || !again || again.ino !== st.ino || again.dev !== st.dev) throw new AppPackageError(`${what} changed while it was read`);
    const bytes = new Uint8Array(st.size);
    let done = 0;
    while (done < bytes.length) {
      const n = readSync(fd, bytes, done, bytes.length - done, done);
      if (n === 0) break;
      done += n;
    }
    return done === bytes.length ? bytes : bytes.slice(0, done);
  } finally {
    closeSync(fd);
  }
}

function safeRealpath(path: string): string {
  try { return realpathSync(path); } catch { return ""; }
}

/** Reads `rel` of the package `root` by the package rules; `what` names it in messages (printable). */
export function readInside(root: string, rel: string, what = printable(rel), maxBytes = PACKAGE_FILE_MAX_BYTES): Uint8Array {
  return readPackageFile(root, resolveInside(root, rel, what), what, maxBytes);
}

/** True when `rel` names anything (even a dangling link) in the package directory. */
function present(root: string, rel: string): boolean {
  try { lstatSync(join(root, rel)); return true; } catch { return false; }
}

/**
 * A directory of the package where build output goes, created if missing: each step of `rel`
 * must be a real directory, never a symbolic link (output is never written through a link).
 */
export function outputDirInside(root: string, rel: string): string {
  let dir = root;
  for (const step of rel.split("/")) {
    dir = join(dir, step);
    let st: Stats | null = null;
    try { st = lstatSync(dir); } catch { /* missing: created below */ }
    const shown = printable(relative(root, dir));
    if (st === null) mkdirSync(dir);
    else if (st.isSymbolicLink()) throw new AppPackageError(`${shown}/ is a symbolic link (to ${printable(safeRealpath(dir) || "nowhere")}); build output must stay inside the app's own directory`);
    else if (!st.isDirectory()) throw new AppPackageError(`${shown} is ${kindOf(st)}, not a directory for build output`);
  }
  const real = realpathSync(dir);
  if (!isInside(root, real)) throw new AppPackageError(`${printable(rel)}/ leads outside the app's directory`);
  return real;
}

// ---- The build stamp: what a module in build/ was built from.

interface BuildStamp {
  /** SHA-256 of the compiler's version and settings and of each input file, in order. */
  inputsSha256: string;
  /** The input files, as `app:<path in the package>` or `sdk:<path in the SDK>`. */
  inputs: string[];
  /** SHA-256 of the module written with this stamp. */
  moduleSha256: string;
}

/** Reads one stamp input by the rules of where it lives; null when it cannot be read. */
function readStampInput(root: string, input: string): Uint8Array | null {
  try {
    if (input.startsWith("app:")) return readInside(root, input.slice(4));
    if (input.startsWith("sdk:")) return readSdkFile(realpathSync(join(SDK_DIR, input.slice(4))));
  } catch { /* an input that is gone or unsafe makes the build stale */ }
  return null;
}

/** SHA-256 over the settings and every input's path and content hash. */
export function inputsSha256(settings: string, inputs: { name: string; bytes: Uint8Array }[]): string {
  const h = createHash("sha256").update(settings);
  for (const i of inputs) h.update(`\0${i.name}\0${sha256Hex(i.bytes)}`);
  return h.digest("hex");
}

/** The module in build/ when its stamp shows it was built from exactly the sources there now. */
function reusableBuild(root: string, builtRel: string, stampRel: string, settings: string): Uint8Array | null {
  if (!present(root, stampRel) || !present(root, builtRel)) return null;
  let stamp: BuildStamp;
  try {
    stamp = JSON.parse(new TextDecoder().decode(readInside(root, stampRel, stampRel, 64 * 1024)));
  } catch {
    return null;
  }
  if (!stamp || !Array.isArray(stamp.inputs) || typeof stamp.inputsSha256 !== "string" || typeof stamp.moduleSha256 !== "string") return null;
  const inputs: { name: string; bytes: Uint8Array }[] = [];
  for (const name of stamp.inputs) {
    if (typeof name !== "string") return null;
    const bytes = readStampInput(root, name);
    if (!bytes) return null;
    inputs.push({ name, bytes });
  }
  if (inputsSha256(settings, inputs) !== stamp.inputsSha256) return null;
  try {
    const module = readInside(root, builtRel, builtRel);
    return sha256Hex(module) === stamp.moduleSha256 ? module : null;
  } catch {
    return null; // not a readable module: built again, and putting the new one in place says why it cannot be
  }
}

/** Refuses a package-relative path that is absolute, steps up with `..`, or holds `\\` or NUL. */
function checkRelative(rel: string, what: string): void {
  if (rel.length === 0 || isAbsolute(rel) || rel.includes("\\") || rel.includes("\0") || rel.split("/").includes("..")) {
    throw new AppPackageError(`${what} must be a relative path inside the app's directory`);
  }
}

/**
 * An app directory: `app_manifest.json` plus the EntryPoint module, or the AssemblyScript source
 * (`main.ts`) that builds it into `build/<EntryPoint>` (with its stamp `build/<EntryPoint>.stamp.json`).
 */
export function appFromDirectory(dir: string): AppPackage {
  const shownDir = printable(dir);
  // Without its trailing slashes, lstat looks at the directory entry itself, not a link's target.
  const entry = dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
  let st: Stats;
  try { st = lstatSync(entry); } catch { throw new AppPackageError(`${shownDir}: no such app directory`); }
  if (st.isSymbolicLink()) throw new AppPackageError(`${shownDir}: the app directory is a symbolic link (to ${printable(safeRealpath(entry) || "nowhere")}); give the app's own directory`);
  if (!st.isDirectory()) throw new AppPackageError(`${shownDir}: not a directory (an app directory holds app_manifest.json and the app's .wasm or main.ts)`);
  const root = realpathSync(entry);
  // Errors while reading the directory name it; those of loadEntryPoint do not (the device's
  // install error starts with the package's origin).
  const named = <T>(work: () => T): T => {
    try { return work(); } catch (err) {
      if (err instanceof AppPackageError) throw new AppPackageError(`${shownDir}: ${err.message}`);
      throw err;
    }
  };
  if (!present(root, "app_manifest.json")) throw new AppPackageError(`${shownDir}: no app_manifest.json (an app directory holds app_manifest.json and the app's .wasm or main.ts)`);
  const manifestBytes = named(() => readInside(root, "app_manifest.json", "app_manifest.json", MANIFEST_MAX_BYTES));
  /** Where the module was read from (inside root), once loadEntryPoint ran. */
  let loadedFrom: { rel: string; what: string } | null = null;
  return {
    origin: dir,
    manifestBytes,
    async loadEntryPoint(entryPoint: string) {
      const what = `EntryPoint "${printable(entryPoint)}"`;
      checkRelative(entryPoint, what);
      if (!present(root, "main.ts")) {
        if (!present(root, entryPoint)) throw new AppPackageError(`EntryPoint ${printable(entryPoint)} not found, and no main.ts to build it from`);
        const module = readInside(root, entryPoint, what);
        loadedFrom = { rel: entryPoint, what };
        return module;
      }
      const builtRel = `build/${entryPoint}`;
      const stampRel = `${builtRel}.stamp.json`;
      const settings = buildSettings();
      const sourceReal = resolveInside(root, "main.ts", "main.ts");
      const outDir = outputDirInside(root, builtRel.slice(0, builtRel.lastIndexOf("/")));
      const module = reusableBuild(root, builtRel, stampRel, settings) ?? await buildInto(root, sourceReal, outDir, builtRel, settings);
      loadedFrom = { rel: builtRel, what: builtRel };
      return module;
    },
    moduleSha256Now() {
      const from = loadedFrom;
      if (!from) throw new AppPackageError("no module was loaded from this package yet");
      return sha256Hex(readInside(root, from.rel, from.what));
    },
  };
}

/** The compiler settings that decide a build's output, for the stamp. */
function buildSettings(): string {
  return JSON.stringify({ compiler: `assemblyscript ${ascVersion()}`, args: appAscArgsForStamp() });
}

let cachedAscVersion: string | null = null;
function ascVersion(): string {
  cachedAscVersion ??= String(JSON.parse(readFileSync(join(REPO_ROOT, "node_modules", "assemblyscript", "package.json"), "utf8")).version);
  return cachedAscVersion;
}

/**
 * Reads a file of the SDK (a real path inside SDK_DIR): the one place outside its package an
 * app's build may read. The SDK is the device's own, so its files may have more than one link.
 */
function readSdkFile(real: string): Uint8Array {
  const sdkReal = realpathSync(SDK_DIR);
  if (!isInside(sdkReal, real)) throw new AppPackageError(`${printable(real)} is not a file of the SDK`);
  return readPackageFile(sdkReal, real, `SDK file ${printable(relative(sdkReal, real))}`, PACKAGE_FILE_MAX_BYTES, false);
}

// The arguments for a `main.ts` at the repository root: the same for every package and working directory.
const appAscArgsForStamp = () => appAscArgs(join(REPO_ROOT, "main.ts"), "module.wasm");

async function buildInto(root: string, sourceReal: string, outDir: string, builtRel: string, settings: string): Promise<Uint8Array> {
  const sdkReal = realpathSync(SDK_DIR);
  const read: { name: string; bytes: Uint8Array }[] = [];
  const refused: string[] = [];
  const readSource = (path: string): string | null => {
    let real: string;
    try { real = realpathSync(path); } catch { return null; } // a path the compiler probes that does not exist
    let name: string;
    let bytes: Uint8Array;
    if (isInside(root, real)) name = `app:${relative(root, real).split(sep).join("/")}`;
    else if (isInside(sdkReal, real)) name = `sdk:${relative(sdkReal, real).split(sep).join("/")}`;
    else { refused.push(path); return null; }
    try {
      bytes = name.startsWith("app:") ? readPackageFile(root, real, name.slice(4)) : readSdkFile(real);
    } catch (err) {
      refused.push(`${path} (${(err as Error).message})`);
      return null;
    }
    if (!read.some((r) => r.name === name)) read.push({ name, bytes });
    return new TextDecoder().decode(bytes);
  };
  let module: Uint8Array;
  try {
    module = await buildApp(sourceReal, readSource);
  } catch (err) {
    if (err instanceof AppBuildError && refused.length > 0) {
      throw new AppPackageError(`${err.message}\n  | main.ts may use only files inside its own directory and the SDK; refused: ${refused.map(printable).join(", ")}`);
    }
    throw err;
  }
  const stamp: BuildStamp = { inputsSha256: inputsSha256(settings, read), inputs: read.map((r) => r.name), moduleSha256: sha256Hex(module) };
  const name = builtRel.slice(builtRel.lastIndexOf("/") + 1);
  writeFileReplacing(outDir, name, module);
  writeFileReplacing(outDir, `${name}.stamp.json`, new TextEncoder().encode(JSON.stringify(stamp, null, 2) + "\n"));
  return module;
}

/** An app held in memory (tests, tools). It keeps its own copy: it cannot change after install. */
export function appFromBytes(origin: string, manifest: string | object, wasm: Uint8Array): AppPackage {
  const text = typeof manifest === "string" ? manifest : JSON.stringify(manifest);
  // new Uint8Array(x) copies, for a Node Buffer too (whose slice() is a view of the same memory).
  const held = new Uint8Array(wasm);
  return { origin, manifestBytes: new TextEncoder().encode(text), loadEntryPoint: async () => new Uint8Array(held) };
}
