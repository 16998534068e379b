// An app outside the repository: `wasphere new app` scaffolds it in a temporary directory, it
// packs (its main.ts built against the SDK package @wasphere/sdk) and runs, with the working
// directory outside the repository too; apps that import the SDK by a subpath, or not at all, build.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "wasphere-newapp-"));
assert.ok(!tmp.startsWith(root), "the temporary directory is outside the repository");
const wasphere = (cwd: string, ...args: string[]) =>
  spawnSync(process.execPath, [join(root, "bin/wasphere.js"), ...args], { cwd, encoding: "utf8", timeout: 240_000, env: { ...process.env, SOURCE_DATE_EPOCH: "0" } });

test("new app: scaffolded outside the repo, it packs, shows and runs", () => {
  const r = wasphere(tmp, "new", "app", "hello", "--dir", tmp);
  assert.equal(r.status, 0, r.stderr);
  const dir = join(tmp, "hello");
  assert.deepEqual(readdirSync(dir).sort(), [".gitignore", "app_manifest.json", "main.ts", "package.json"]);
  const manifest = JSON.parse(readFileSync(join(dir, "app_manifest.json"), "utf8"));
  assert.equal(manifest.Name, "hello");
  assert.equal(manifest.EntryPoint, "hello.wasm");
  assert.match(manifest.ComponentId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).dependencies, { "@wasphere/sdk": `file:${join(root, "sdk")}` });
  assert.match(readFileSync(join(dir, "main.ts"), "utf8"), /from "@wasphere\/sdk";/);

  const packed = wasphere(dir, "image-package", "pack-application", "--package-directory", ".", "--output-file", "hello.imagepackage");
  assert.equal(packed.status, 0, packed.stderr);
  const shown = JSON.parse(wasphere(dir, "image-package", "show", "hello.imagepackage", "--json").stdout);
  assert.equal(shown.identity.componentId, manifest.ComponentId);
  assert.deepEqual(shown.files.map((f: { path: string }) => f.path), ["/app_manifest.json", "/hello.wasm"]);
  const stamp = JSON.parse(readFileSync(join(dir, "build", "hello.wasm.stamp.json"), "utf8"));
  assert.deepEqual(stamp.inputs, ["app:main.ts", "sdk:index.ts", "sdk:applibs.ts", "sdk:http.ts", "sdk:web.ts"]);

  const run = wasphere(dir, "run", "--seconds", "1.5", ".");
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /\] hello: tick 1\n/);
  // A second scaffold of the same name is refused, the first left as it was.
  const again = wasphere(tmp, "new", "app", "hello", "--dir", tmp);
  assert.deepEqual([again.status, again.stderr], [1, `wasphere: ${dir} already exists; an app is made in a new directory\n`]);
  const badName = wasphere(tmp, "new", "app", "../x");
  assert.equal(badName.status, 1);
  assert.equal(badName.stderr, `wasphere: app name "../x": use 1 to 64 letters, digits, '-' or '_', starting with a letter\n`);
});

test("apps outside the repo that import an SDK file by subpath, or nothing of the SDK, build and pack", () => {
  const id = (n: number) => `3b1f5e2a-7c44-4d8e-9a61-0f2d8c7b5e1${n}`;
  const cases: [string, string][] = [
    ["subpath", `import { log } from "@wasphere/sdk/applibs";\nexport function main(): i32 { log("hi"); return 0; }\n`],
    ["nosdk", `export function main(): i32 { let x: i32 = 1; for (let i = 0; i < 10; i++) x *= 3; return x & 1; }\n`],
  ];
  cases.forEach(([name, source], i) => {
    const dir = join(tmp, name);
    mkdirSync(dir);
    writeFileSync(join(dir, "app_manifest.json"), JSON.stringify({ SchemaVersion: 1, Name: name, ComponentId: id(i), EntryPoint: `${name}.wasm` }));
    writeFileSync(join(dir, "main.ts"), source);
    const r = wasphere(tmp, "image-package", "pack-application", "--package-directory", dir, "--output-file", join(tmp, `${name}.imagepackage`));
    assert.equal(r.status, 0, `${name}: ${r.stderr}`);
    const shown = JSON.parse(wasphere(tmp, "image-package", "show", join(tmp, `${name}.imagepackage`), "--json").stdout);
    assert.deepEqual(shown.files.map((f: { path: string }) => f.path), ["/app_manifest.json", `/${name}.wasm`]);
  });
});
