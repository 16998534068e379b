// Hostile packages that try to escape their own directory: replace another app's module, run
// code from outside the package, block the install, or change under a running device. Each sits
// next to a copy of examples/blink; each test asserts the exact refusal, that blink's module is
// byte for byte what it was, and that blink keeps toggling GPIO 8 every 500 ms.
import { before, after, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { spawnSync, execFileSync } from "node:child_process";
import { copyFileSync, linkSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import * as abi from "../../assembly/abi.js";
import { InstallError, type Device } from "../../host/device.js";
import { appFromDirectory, AppPackageError } from "../../host/apps/package.js";
import { REPO_ROOT } from "../../host/apps/build.js";
import { app, assertBlinkSchedule as assertSchedule, blinker, device, IMPORT } from "./support.js";

const BLINK_PIN = 8;
const HALF_PERIOD_MS = 500;
const RUN_MS = 2000;

let examples = "";
let blinkDir = "";
let blinkModule = "";
let blinkSha256 = "";

const sha256 = (path: string) => sha256Of(readFileSync(path));
const sdkImport = (dir: string) => relative(dir, join(REPO_ROOT, "sdk", "applibs")).split("\\").join("/");
const sha256Of = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
/** The refusal of a start or restart whose module is no longer the one installed. */
const changedDetail = (installed: Uint8Array, now: Uint8Array) =>
  `its module changed since install (SHA-256 ${sha256Of(now).slice(0, 16)}..., installed ${sha256Of(installed).slice(0, 16)}...); install it again`;

let idCounter = 0x100;
/** A package directory next to blink: its manifest and files. */
function hostilePackage(name: string, files: Record<string, string | Uint8Array> = {}, fields: Record<string, unknown> = {}): string {
  const dir = join(examples, name);
  mkdirSync(dir);
  idCounter++;
  const manifest = {
    SchemaVersion: 1, Name: name, ComponentId: `00000000-0000-4000-8000-${idCounter.toString(16).padStart(12, "0")}`,
    EntryPoint: `${name}.wasm`, CmdArgs: [], Capabilities: {}, ...fields,
  };
  writeFileSync(join(dir, "app_manifest.json"), JSON.stringify(manifest));
  for (const [file, content] of Object.entries(files)) writeFileSync(join(dir, file), content);
  return dir;
}

/** AssemblyScript source of an app that logs `text` and exits. */
function logSource(dir: string, text: string): string {
  return `import { log } from "${sdkImport(dir)}";\nexport function main(): i32 { log("${text}"); return 0; }\n`;
}

/** Installs and starts blink from its directory on `dev`. */
async function startBlink(dev: Device) {
  const blink = await dev.install(appFromDirectory(blinkDir));
  dev.start(blink);
  return blink;
}

/** Blink drove GPIO 8 exactly on its schedule: low at 0, then a toggle every 500 ms, up to `untilMs`. */
function assertBlinkSchedule(dev: Device, untilMs = RUN_MS) {
  assertSchedule(dev, BLINK_PIN, HALF_PERIOD_MS, untilMs);
}

function assertBlinkUntouched() {
  assert.equal(sha256(blinkModule), blinkSha256, "blink's module is byte for byte what blink built");
}

async function rejectsWith(promise: Promise<unknown>, message: string) {
  await assert.rejects(promise, (err: Error) => {
    assert.ok(err instanceof InstallError || err instanceof AppPackageError, `an InstallError or AppPackageError, not ${err.constructor.name}: ${err.message}`);
    assert.equal(err.message, message);
    return true;
  });
}

before(async () => {
  // Inside the repository's build/ (ignored by git), so that the SDK path an app imports
  // normalises to the SDK's own, as it does for examples/.
  examples = join(mkdtempSync(join(REPO_ROOT, "build", "hostile-escape-")), "examples");
  mkdirSync(examples);
  blinkDir = join(examples, "blink");
  mkdirSync(blinkDir);
  copyFileSync(join(REPO_ROOT, "examples", "blink", "app_manifest.json"), join(blinkDir, "app_manifest.json"));
  const source = readFileSync(join(REPO_ROOT, "examples", "blink", "main.ts"), "utf8").replace("../../sdk/applibs", sdkImport(blinkDir));
  writeFileSync(join(blinkDir, "main.ts"), source);
  // Building it once here gives blink's module, which no test may change.
  const dev = device();
  await startBlink(dev);
  blinkModule = join(blinkDir, "build", "blink.wasm");
  blinkSha256 = sha256(blinkModule);
});

after(() => rmSync(join(examples, ".."), { recursive: true, force: true }));

test("a build/ symlinked to blink's, with a main.ts dated in the future, is refused and blink's module stays blink's", async () => {
  const dir = hostilePackage("evil-build", {}, { EntryPoint: "blink.wasm", Capabilities: { Gpio: [BLINK_PIN] } });
  writeFileSync(join(dir, "main.ts"), logSource(dir, "evil"));
  const future = new Date(Date.now() + 10 * 365 * 24 * 3600 * 1000);
  utimesSync(join(dir, "main.ts"), future, future);
  symlinkSync("../blink/build", join(dir, "build"));
  const dev = device();
  await rejectsWith(dev.install(appFromDirectory(dir)),
    `${dir}: build/ is a symbolic link (to ${join(blinkDir, "build")}); build output must stay inside the app's own directory`);
  assertBlinkUntouched();
  await startBlink(dev);
  await dev.run({ untilMs: RUN_MS });
  assertBlinkSchedule(dev);
  assert.deepEqual(dev.events.of("log").filter((e) => e.app !== "blink").map((e) => e.text), [], "no code of the hostile package ran");
});

test("an EntryPoint that is a symlink to blink's module is refused", async () => {
  const dir = hostilePackage("evil-link");
  symlinkSync("../blink/build/blink.wasm", join(dir, "evil-link.wasm"));
  const dev = device();
  await startBlink(dev);
  await rejectsWith(dev.install(appFromDirectory(dir)),
    `${dir}: EntryPoint "evil-link.wasm" leads outside the app's directory (to ${blinkModule}); a package may use only its own files`);
  await dev.run({ untilMs: RUN_MS });
  assertBlinkSchedule(dev);
  assertBlinkUntouched();
});

test("an EntryPoint reached through a directory symlinked out of the package is refused", async () => {
  const dir = hostilePackage("evil-subdir", {}, { EntryPoint: "bin/blink.wasm" });
  symlinkSync("../blink/build", join(dir, "bin"));
  await rejectsWith(device().install(appFromDirectory(dir)),
    `${dir}: EntryPoint "bin/blink.wasm" leads outside the app's directory (to ${blinkModule}); a package may use only its own files`);
});

test("an EntryPoint hard-linked to blink's module is refused", async () => {
  const dir = hostilePackage("evil-hardlink");
  linkSync(blinkModule, join(dir, "evil-hardlink.wasm"));
  await rejectsWith(device().install(appFromDirectory(dir)),
    `${dir}: EntryPoint "evil-hardlink.wasm" has 2 hard links; a package file must have one (a hard link can make another package's file part of this one)`);
  rmSync(join(dir, "evil-hardlink.wasm"));
  assertBlinkUntouched();
});

test("a build output hard-linked to blink's module is replaced, not written through", async () => {
  const dir = hostilePackage("evil-out", {}, { EntryPoint: "evil-out.wasm" });
  writeFileSync(join(dir, "main.ts"), logSource(dir, "evil-out ran its own code"));
  mkdirSync(join(dir, "build"));
  linkSync(blinkModule, join(dir, "build", "evil-out.wasm"));
  const dev = device();
  await startBlink(dev);
  const evil = await dev.install(appFromDirectory(dir));
  dev.start(evil);
  await dev.run({ untilMs: RUN_MS });
  assertBlinkUntouched();
  assertBlinkSchedule(dev);
  assert.deepEqual(dev.events.of("log").map((e) => `${e.app}: ${e.text}`), ["blink: LED on GPIO 8", "blink: period.txt: not readable (error -19); half period 500 ms", "evil-out: evil-out ran its own code"]);
});

test("a package directory that is itself a symlink (to blink) is refused", async () => {
  const dir = join(examples, "evil-dir");
  symlinkSync("blink", dir);
  await rejectsWith(Promise.resolve().then(() => appFromDirectory(dir)),
    `${dir}: the app directory is a symbolic link (to ${blinkDir}); give the app's own directory`);
  await rejectsWith(Promise.resolve().then(() => appFromDirectory(`${dir}/`)),
    `${dir}/: the app directory is a symbolic link (to ${blinkDir}); give the app's own directory`);
});

test("an app_manifest.json symlinked to blink's is refused", async () => {
  const dir = join(examples, "evil-manifest");
  mkdirSync(dir);
  symlinkSync("../blink/app_manifest.json", join(dir, "app_manifest.json"));
  writeFileSync(join(dir, "blink.wasm"), blinker(BLINK_PIN, 10));
  await rejectsWith(Promise.resolve().then(() => appFromDirectory(dir)),
    `${dir}: app_manifest.json leads outside the app's directory (to ${join(blinkDir, "app_manifest.json")}); a package may use only its own files`);
});

test("an EntryPoint with '..' or an absolute path is refused by the package itself, before any file is read", async () => {
  // The core's manifest rules refuse these first; the package does not rely on it.
  const dir = hostilePackage("evil-path", { "evil-path.wasm": blinker(20, 100) });
  const pkg = appFromDirectory(dir);
  await rejectsWith(pkg.loadEntryPoint("../blink/build/blink.wasm"),
    `EntryPoint "../blink/build/blink.wasm" must be a relative path inside the app's directory`);
  await rejectsWith(pkg.loadEntryPoint(blinkModule),
    `EntryPoint "${blinkModule}" must be a relative path inside the app's directory`);
  await rejectsWith(pkg.loadEntryPoint("sub/../../blink/build/blink.wasm"),
    `EntryPoint "sub/../../blink/build/blink.wasm" must be a relative path inside the app's directory`);
  // Through the device, the core's manifest rules refuse them first, naming the field.
  const dev = device();
  for (const entry of ["../blink/build/blink.wasm", blinkModule]) {
    writeFileSync(join(dir, "app_manifest.json"), JSON.stringify({ SchemaVersion: 1, Name: "evil-path", ComponentId: "00000000-0000-4000-8000-0000000000ff", EntryPoint: entry }));
    await rejectsWith(dev.install(appFromDirectory(dir)),
      `${dir}: app_manifest.json refused (EINVAL): EntryPoint: must be a relative path inside the app's package (no leading '/', no '..', no empty steps)`);
  }
});

test("a directory as EntryPoint is refused", async () => {
  const dir = hostilePackage("evil-dirent");
  mkdirSync(join(dir, "evil-dirent.wasm"));
  await rejectsWith(device().install(appFromDirectory(dir)),
    `${dir}: EntryPoint "evil-dirent.wasm" is a directory; a package holds regular files only`);
});

test("a FIFO as EntryPoint is refused at once, without blocking the install", () => {
  const dir = hostilePackage("evil-fifo");
  execFileSync("mkfifo", [join(dir, "evil-fifo.wasm")]);
  // In a child process: opening a FIFO for reading blocks until a writer comes, which would hang
  // this test's own thread. The CLI must refuse it and exit 1 well within the time limit.
  const run = spawnSync(process.execPath, [join(REPO_ROOT, "dist", "host", "cli.js"), "run", "--seconds", "1", dir], { encoding: "utf8", timeout: 120_000 });
  assert.equal(run.signal, null, "the install did not block");
  assert.equal(run.status, 1);
  assert.equal(run.stderr, `wasphere run: ${dir}: EntryPoint "evil-fifo.wasm" is a FIFO; a package holds regular files only\n`);
});

test("main.ts that imports a file outside its package is refused, naming the file", async () => {
  const dir = hostilePackage("evil-import");
  writeFileSync(join(dir, "main.ts"), `import { main as blinkMain } from "../blink/main";\nexport function main(): i32 { return blinkMain(); }\n`);
  await assert.rejects(device().install(appFromDirectory(dir)), (err: Error) => {
    assert.ok(err instanceof InstallError);
    const lines = err.message.split("\n");
    assert.equal(lines[0], `${dir}: building main.ts failed:`);
    assert.equal(lines.at(-1), `  | main.ts may use only files inside its own directory and the SDK; refused: ${join(blinkDir, "main.ts")}`);
    assert.ok(lines.slice(1).every((l) => l.startsWith("  | ")), "every line of the build log is indented");
    return true;
  });
});

test("a module replaced between install and start is refused at start; blink keeps running", async () => {
  const original = blinker(21, 100);
  const dir = hostilePackage("swapped", { "swapped.wasm": original }, { Capabilities: { Gpio: [21] } });
  const dev = device();
  await startBlink(dev);
  const swapped = await dev.install(appFromDirectory(dir));
  const replacement = app(`${IMPORT.log}`, `(drop (call $log (i32.const 0) (i32.const 0))) (i32.const 0)`);
  writeFileSync(join(dir, "new.wasm"), replacement);
  renameSync(join(dir, "new.wasm"), join(dir, "swapped.wasm"));
  const detail = changedDetail(original, replacement);
  assert.throws(() => dev.start(swapped), (err: Error) => err instanceof InstallError && err.message === `swapped: not started: ${detail}`);
  await dev.run({ untilMs: RUN_MS });
  assertBlinkSchedule(dev);
  assert.deepEqual(dev.events.of("app").filter((e) => e.app === "swapped").map((e) => [e.what, e.detail]), [["installed", undefined], ["refused", detail]]);
  assert.equal(dev.events.of("gpio").filter((e) => e.pin === 21).length, 0, "the replaced module never ran");
});

test("a module replaced while its app waits to restart is refused at the restart; blink keeps running", async () => {
  const original = app(`${IMPORT.sleep}`, `(drop (call $sleep (i32.const 100))) (unreachable)`);
  const dir = hostilePackage("crashy", { "crashy.wasm": original });
  const dev = device();
  await startBlink(dev);
  const crashy = await dev.install(appFromDirectory(dir));
  dev.start(crashy);
  await dev.run({ untilMs: 150 });
  assert.equal(dev.audit().filter((a) => a.kind === abi.EV_APP_TRAPPED && a.app === crashy.slot).length, 1, "trapped once, restart pending");
  const replacement = blinker(BLINK_PIN, 10);
  writeFileSync(join(dir, "new.wasm"), replacement);
  renameSync(join(dir, "new.wasm"), join(dir, "crashy.wasm"));
  await dev.run({ untilMs: RUN_MS });
  const detail = changedDetail(original, replacement);
  assert.deepEqual(dev.events.of("app").filter((e) => e.app === "crashy" && e.what === "refused").map((e) => e.detail), [detail]);
  const kinds = dev.audit().filter((a) => a.app === crashy.slot).map((a) => a.kind);
  assert.deepEqual(kinds.slice(-2), [abi.EV_APP_RESTART, abi.EV_APP_STOPPED], "the core stopped it instead of running it");
  assert.equal(kinds.filter((k) => k === abi.EV_APP_TRAPPED).length, 1);
  assertBlinkSchedule(dev);
});

test("staleness is decided by content: a source edited with an old date is rebuilt, a replaced build output is rebuilt", async () => {
  const dir = hostilePackage("stale");
  writeFileSync(join(dir, "main.ts"), logSource(dir, "v1"));
  const first = device();
  await first.install(appFromDirectory(dir)).then((a) => first.start(a));
  await first.run({ untilMs: 100 });
  assert.deepEqual(first.events.of("log").map((e) => e.text), ["v1"]);
  // The edit carries a date older than the module's: file times would call the module current.
  writeFileSync(join(dir, "main.ts"), logSource(dir, "v2"));
  const past = new Date(2000, 0, 1);
  utimesSync(join(dir, "main.ts"), past, past);
  const second = device();
  await second.install(appFromDirectory(dir)).then((a) => second.start(a));
  await second.run({ untilMs: 100 });
  assert.deepEqual(second.events.of("log").map((e) => e.text), ["v2"]);
  // A different module put in build/ (newer than the source) is not the source's build.
  writeFileSync(join(dir, "build", "stale.wasm"), app(`${IMPORT.exit}`, `(call $exit (i32.const 7)) (i32.const 0)`));
  const third = device();
  await third.install(appFromDirectory(dir)).then((a) => third.start(a));
  await third.run({ untilMs: 100 });
  assert.deepEqual(third.events.of("log").map((e) => e.text), ["v2"]);
});
