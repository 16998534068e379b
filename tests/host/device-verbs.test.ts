// `wasphere device sideload | app | image ...` end to end: a spawned wasphere process against a
// device folder served in this process (control endpoint over a DeviceControl on the host's
// Device). The --json output is checked whole; errors are one line on stderr with exit code 1;
// text from a package is printed escaped.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { serveControl } from "../../host/control/server.js";
import { parsePackage } from "../../host/apps/imagepkg.js";
import { APPS_PARTITION_BYTES, deviceFolder, TestDeviceControl, tinyPackage } from "./control-support.js";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const ID = "6b1f3c2a-9d4e-4f5a-8b6c-7d8e9fa0b1c2";
const dev = await deviceFolder();
const control = new TestDeviceControl(APPS_PARTITION_BYTES);
const served = await serveControl(dev, control);
after(async () => { await served.close(); await control.shutdown(); });

// A name with a right-to-left override (U+202E): printed escaped, in text and in JSON.
const NAME = "sleeper\u202eevil";
const pkg = await tinyPackage(NAME, ID);
const pkgFile = join(dirname(dev), "sleeper.imagepackage");
writeFileSync(pkgFile, pkg);
const info = parsePackage(pkg);

/** Runs wasphere (asynchronously: the server answers from this process meanwhile). */
function wasphere(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["bin/wasphere.js", ...args], { cwd: REPO, env: { ...process.env, WASPHERE_DEVICE: "", ...env } });
    let stdout = "", stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
const json = async (args: string[]) => {
  const r = await wasphere([...args, "--device", dev, "--json"]);
  assert.deepEqual([r.code, r.stderr], [0, ""], r.stderr);
  assert.doesNotMatch(r.stdout, /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/, "every character printable");
  return JSON.parse(r.stdout);
};

const image = { componentId: ID, imageId: info.imageId, name: NAME, version: 1, imageType: 10, packageBytes: pkg.length, offsetBytes: 0x201000 };
const app = { componentId: ID, name: NAME, crashes: 0, restarts: 0 };

test("every verb with --json, against the running device", async () => {
  assert.deepEqual(await json(["device", "image", "list-installed"]), []);
  assert.deepEqual(await json(["device", "sideload", "deploy", "--image-package", pkgFile]), { ...image, replaced: false });
  assert.deepEqual(await json(["device", "image", "list-installed"]), [image]);
  assert.deepEqual(await json(["device", "app", "start", "--component-id", ID]), { ...app, state: "running" });
  assert.deepEqual(await json(["device", "app", "show-status", "--component-id", ID.toUpperCase()]), { ...app, state: "running" });
  assert.deepEqual(await json(["device", "app", "show-quota", "--component-id", ID]), { componentId: ID, name: NAME, quotaBytes: 0, usedBytes: 0 });
  const mem = await json(["device", "app", "show-memory-stats", "--component-id", ID]);
  assert.deepEqual(Object.keys(mem), ["componentId", "name", "quotaBytes", "memoryBytes", "memPeakBytes"]);
  assert.deepEqual([mem.quotaBytes, mem.memoryBytes > 0, mem.memPeakBytes >= mem.memoryBytes], [131072, true, true]);
  assert.deepEqual(await json(["device", "app", "stop", "--component-id", ID]), { ...app, state: "stopped" });
  assert.deepEqual(await json(["device", "sideload", "deploy", "--image-package", pkgFile]), { ...image, replaced: true });
  assert.deepEqual(await json(["device", "sideload", "delete", "--component-id", ID]), { componentId: ID, deleted: true });
  assert.deepEqual(await json(["device", "image", "list-installed"]), []);
});

test("human output, with the package's text escaped", async () => {
  const d = await wasphere(["device", "sideload", "deploy", "--image-package", pkgFile], { WASPHERE_DEVICE: dev });
  assert.deepEqual(d, { code: 0, stderr: "", stdout: [
    "Deployed sleeper\\u{202e}evil",
    `  component ID: ${ID}`,
    `  image ID:     ${info.imageId}`,
    "  image type:   application (10)",
    "  version:      1",
    `  size:         ${pkg.length.toLocaleString("en-US")} bytes at flash offset 0x00201000`,
    "",
  ].join("\n") });
  assert.deepEqual(await wasphere(["device", "app", "show-status", "--component-id", ID, "--device", dev]), { code: 0, stderr: "", stdout: `sleeper\\u{202e}evil (${ID}): stopped, 0 crashes, 0 restarts\n` });
  assert.deepEqual(await wasphere(["device", "app", "show-quota", "--component-id", ID, "--device", dev]), { code: 0, stderr: "", stdout: `sleeper\\u{202e}evil (${ID}): no mutable storage (its manifest asks for none)\n` });
  assert.deepEqual(await wasphere(["device", "sideload", "delete", "--component-id", ID, "--device", dev]), { code: 0, stderr: "", stdout: `Deleted ${ID}\n` });
  assert.deepEqual(await wasphere(["device", "image", "list-installed", "--device", dev]), { code: 0, stderr: "", stdout: "No images installed\n" });
});

test("refusals: one line on stderr, exit code 1, nothing on stdout", async () => {
  const err = async (args: string[], line: string) => assert.deepEqual(await wasphere(args), { code: 1, stdout: "", stderr: `wasphere: ${line}\n` });
  await err(["device", "app", "start", "--component-id", ID, "--device", dev], `no app with ComponentId ${ID} is installed`);
  await err(["device", "app", "start", "--component-id", "blink", "--device", dev], '--component-id: "blink" is not a ComponentId (a GUID: 8-4-4-4-12 hex digits)');
  await err(["device", "image", "list-installed"], "no device: give --device DEV (or set WASPHERE_DEVICE)");
  const garbage = join(dirname(dev), "garbage.imagepackage");
  writeFileSync(garbage, "not a package");
  await err(["device", "sideload", "deploy", "--image-package", garbage, "--device", dev], "image package: package: is 13 bytes; too short to hold a littlefs image, metadata and trailer (truncated?)");
});

test("with no device running there, the verbs work on the device's flash", async () => {
  const stopped = await deviceFolder();
  assert.deepEqual(await wasphere(["device", "image", "list-installed", "--device", stopped]), { code: 0, stdout: "No images installed\n", stderr: "" });
  assert.deepEqual(await wasphere(["device", "app", "show-status", "--component-id", ID, "--device", stopped]), { code: 1, stdout: "", stderr: `wasphere: no image package with ComponentId ${ID} is installed\n` });
});
