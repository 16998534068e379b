// `wasphere run` as a user runs it: a real process, real time, the demo apps.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const wasphere = (...args: string[]) => spawnSync(process.execPath, ["bin/wasphere.js", ...args], { cwd: root, encoding: "utf8", timeout: 120_000 });

test("wasphere run boots, prints the memory map, runs the apps and stops after --seconds", () => {
  const r = wasphere("run", "--seconds", "1.2", "--press", "12:400", "examples/blink", "examples/button");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^wasphere core \d+\.\d+\.\d+ booted$/m);
  assert.match(r.stdout, /core static data +\d+\.\d KiB/);
  assert.match(r.stdout, /app blink +128\.0 KiB +reserved/);
  assert.match(r.stdout, /audit: button: gpio_open_output\(8\) denied with EACCES: not granted by its manifest/);
  assert.ok((r.stdout.match(/GPIO 8 -> (high|low)/g) ?? []).length >= 3, "blink toggled GPIO 8");
  assert.match(r.stdout, /button: pressed/);
  assert.match(r.stdout, /^stopped after/m);
});

test("wasphere run with a malformed manifest says which field and exits 1", () => {
  const r = wasphere("run", "--seconds", "1", "tests/apps/bad-manifest");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /ComponentId: expected a GUID/);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, "no stack trace");
});
