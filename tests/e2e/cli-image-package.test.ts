// `wasphere image-package pack-application | show` as a user runs them: examples/blink (main.ts
// built first) and a directory holding a module and extra files; show in text and JSON; one line
// and exit 1 for each kind of bad package; app text escaped.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildFsImage, metadataFor } from "../../host/apps/imagepkg.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const EPOCH = "1764633600";
const wasphere = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ["bin/wasphere.js", ...args], { cwd: root, encoding: "utf8", timeout: 180_000, env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH, ...env } });
const tmp = mkdtempSync(join(tmpdir(), "wasphere-imagepkg-"));
const MODULE = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

test("examples/blink packs (its main.ts built first) and shows its identity, capabilities and files", () => {
  const out = join(tmp, "blink.imagepackage");
  const r = wasphere(["image-package", "pack-application", "--package-directory", "examples/blink", "--output-file", out]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${out}: ${statSync(out).size} bytes\n`);
  const shown = wasphere(["image-package", "show", out, "--json"]);
  assert.equal(shown.status, 0, shown.stderr);
  const j = JSON.parse(shown.stdout);
  const module = readFileSync(join(root, "examples/blink/build/blink.wasm"));
  assert.deepEqual(j.identity, { imageType: 10, imageTypeName: "Application", componentId: "1689d8b2-c835-2e27-27ad-e894d6d15fa9", imageId: j.identity.imageId });
  assert.equal(j.debug.name, "blink");
  assert.equal(j.debug.buildTime, "2025-12-02T00:00:00.000Z");
  assert.equal(j.version, 1);
  assert.deepEqual(j.manifest.capabilities, { Gpio: [8] });
  assert.deepEqual(j.files.map((f: { path: string; sizeBytes: number }) => [f.path, f.sizeBytes]), [
    ["/app_manifest.json", statSync(join(root, "examples/blink/app_manifest.json")).size],
    ["/blink.wasm", module.length],
    ["/period.txt", statSync(join(root, "examples/blink/period.txt")).size],
  ]);
  // Packing again gives the same bytes; another build time changes them.
  const again = join(tmp, "blink-again.imagepackage");
  assert.equal(wasphere(["image-package", "pack-application", "--package-directory", "examples/blink", "--output-file", again]).status, 0);
  assert.deepEqual(readFileSync(again), readFileSync(out));
  assert.equal(wasphere(["image-package", "pack-application", "--package-directory", "examples/blink", "--output-file", again, "--build-time", "1"]).status, 0);
  assert.notDeepEqual(readFileSync(again), readFileSync(out));
  const text = wasphere(["image-package", "show", "--image-package", out]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^Image package .*: \d+ bytes\nIdentity:\n  Image type:   Application \(10\)\n  ComponentId:  1689d8b2-c835-2e27-27ad-e894d6d15fa9\n/);
  assert.match(text.stdout, /\nCapabilities:   \{"Gpio":\[8\]\}\nFiles:\n +\d+  \/app_manifest\.json\n +\d+  \/blink\.wasm\n +4  \/period\.txt\n$/);
});

test("a directory with a module and other files: everything but sources, build output and hidden files is packed", () => {
  const dir = join(tmp, "withfiles");
  mkdirSync(join(dir, "certs"), { recursive: true });
  mkdirSync(join(dir, "build"), { recursive: true });
  writeFileSync(join(dir, "app_manifest.json"), JSON.stringify({ SchemaVersion: 1, Name: "files", ComponentId: "3b1f5e2a-7c44-4d8e-9a61-0f2d8c7b5e13", EntryPoint: "app.wasm" }));
  writeFileSync(join(dir, "app.wasm"), MODULE);
  writeFileSync(join(dir, "config.json"), "{}");
  writeFileSync(join(dir, "certs", "ca.pem"), "-----BEGIN-----\n");
  writeFileSync(join(dir, ".hidden"), "x");
  writeFileSync(join(dir, "helper.ts"), "x");
  writeFileSync(join(dir, "build", "junk"), "x");
  const out = join(tmp, "files.imagepackage");
  const r = wasphere(["image-package", "pack-application", "--package-directory", dir, "--output-file", out, "--component-id", "{3B1F5E2A-7C44-4D8E-9A61-0F2D8C7B5E13}", "--image-version", "7"]);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(wasphere(["image-package", "show", out, "--json"]).stdout);
  assert.equal(j.version, 7);
  assert.deepEqual(j.files.map((f: { path: string }) => f.path), ["/app.wasm", "/app_manifest.json", "/certs/ca.pem", "/config.json"]);
  const wrongId = wasphere(["image-package", "pack-application", "--package-directory", dir, "--output-file", join(tmp, "x"), "--component-id", "1689d8b2-c835-2e27-27ad-e894d6d15fa9"]);
  assert.equal(wrongId.status, 1);
  assert.equal(wrongId.stderr, "wasphere: --component-id 1689d8b2-c835-2e27-27ad-e894d6d15fa9 is not the manifest's ComponentId (3b1f5e2a-7c44-4d8e-9a61-0f2d8c7b5e13)\n");
});

test("refusals are one line naming the problem, exit 1, and no output file", () => {
  const blink = join(tmp, "r.imagepackage");
  assert.equal(wasphere(["image-package", "pack-application", "--package-directory", "examples/blink", "--output-file", blink]).status, 0);
  const bytes = readFileSync(blink);
  const cases: [string, Uint8Array, string][] = [
    ["truncated", bytes.subarray(0, bytes.length - 3), "image package: trailer: bad magic (not an image package, or truncated)"],
    ["badcrc", (() => { const b = Uint8Array.from(bytes); b[600] ^= 1; return b; })(), "image package: littlefs image: CRC-32 does not match the FILESYSTEM section's (damaged)"],
    ["notpkg", new TextEncoder().encode("hello"), "image package: package: is 5 bytes; too short to hold a littlefs image, metadata and trailer (truncated?)"],
  ];
  for (const [name, data, message] of cases) {
    const file = join(tmp, `${name}.imagepackage`);
    writeFileSync(file, data);
    const r = wasphere(["image-package", "show", file]);
    assert.equal(r.status, 1, name);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, `wasphere: ${file}: ${message}\n`, name);
  }
  const big = join(tmp, "big.imagepackage");
  writeFileSync(big, new Uint8Array(2097153));
  assert.equal(wasphere(["image-package", "show", big]).stderr, `wasphere: ${big}: image package: is 2097153 bytes; the limit is 2097152 (oversized)\n`);
  const missing = wasphere(["image-package", "show", join(tmp, "nope")]);
  assert.equal(missing.stderr, `wasphere: ${join(tmp, "nope")}: no such file\n`);
  const bad = join(tmp, "badmanifest");
  mkdirSync(bad);
  writeFileSync(join(bad, "app_manifest.json"), JSON.stringify({ SchemaVersion: 1, Name: "x", ComponentId: "3b1f5e2a-7c44-4d8e-9a61-0f2d8c7b5e13", EntryPoint: "x.wasm", Priority: 9 }));
  const r = wasphere(["image-package", "pack-application", "--package-directory", bad, "--output-file", join(tmp, "never")]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^wasphere: .*badmanifest\/app_manifest\.json: Priority: .*\n$/);
  assert.throws(() => statSync(join(tmp, "never")));
});

test("text that came from the package is printed escaped", async () => {
  const name = "a\u202eb";
  const files = [
    { path: "app_manifest.json", bytes: new TextEncoder().encode(JSON.stringify({ SchemaVersion: 1, Name: name, ComponentId: "3b1f5e2a-7c44-4d8e-9a61-0f2d8c7b5e13", EntryPoint: "x.wasm" })) },
    { path: "x.wasm", bytes: MODULE },
    { path: "evil\u001b[2J", bytes: MODULE },
  ];
  const image = await buildFsImage(files);
  const meta = metadataFor(image, 512, { componentId: "3b1f5e2a-7c44-4d8e-9a61-0f2d8c7b5e13", imageVersion: 1, buildTimeSeconds: 0, name });
  const file = join(tmp, "evil.imagepackage");
  writeFileSync(file, Buffer.concat([image, meta]));
  const r = wasphere(["image-package", "show", file]);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /[\u001b\u202e]/);
  assert.match(r.stdout, /  Name:         a\\u\{202e\}b\n/);
  assert.match(r.stdout, /  \/evil\\x1b\[2J\n/);
});

test("--hardware-definitions: \"$NAME\" values in the manifest's Capabilities become the peripherals' values", () => {
  const dev = join(tmp, "hwdev");
  assert.equal(wasphere(["device", "create", dev, "--flash-size", "2MiB", "--pins", "16"]).status, 0);
  const hw = join(dev, "hardware-definition.json");
  const dir = join(tmp, "named");
  mkdirSync(dir);
  const write = (gpio: unknown[]) => writeFileSync(join(dir, "app_manifest.json"), JSON.stringify({ SchemaVersion: 1, Name: "named", ComponentId: "3b1f5e2a-7c44-4d8e-9a61-0f2d8c7b5e13", EntryPoint: "app.wasm", Capabilities: { Gpio: gpio } }));
  writeFileSync(join(dir, "app.wasm"), MODULE);
  const out = join(tmp, "named.imagepackage");
  const pack = (...extra: string[]) => wasphere(["image-package", "pack-application", "--package-directory", dir, "--output-file", out, ...extra]);
  write(["$GPIO8", 9]);
  assert.equal(pack("--hardware-definitions", hw).status, 0);
  assert.deepEqual(JSON.parse(wasphere(["image-package", "show", out, "--json"]).stdout).manifest.capabilities, { Gpio: [8, 9] });
  write(["$ISU0_UART"]);
  assert.equal(pack("--hardware-definitions", hw).stderr, "wasphere: app_manifest.json: Capabilities.Gpio[0]: $ISU0_UART is a Uart peripheral, not Gpio\n");
  write(["$GPIO99"]);
  assert.equal(pack("--hardware-definitions", hw).stderr, `wasphere: app_manifest.json: Capabilities.Gpio[0]: $GPIO99 is not a peripheral of ${hw}\n`);
  // Without a hardware definition the core sees "$GPIO8" itself and refuses it.
  write(["$GPIO8"]);
  const r = pack();
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^wasphere: .*app_manifest\.json: Capabilities\.Gpio\[0\]: /);
});
