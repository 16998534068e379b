// `wasphere run` as a user runs it: a real process, real time, the demo apps.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as abi from "../../assembly/abi.js";
import { wat } from "./support.js";

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
  assert.match(r.stdout, /^  blink: [1-9]\d* slices, \d+ kilo-fuel$/m, "each app's share of the CPU");
});

test("wasphere run with a malformed manifest says which field and exits 1", () => {
  const r = wasphere("run", "--seconds", "1", "tests/apps/bad-manifest");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /ComponentId: expected a GUID/);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, "no stack trace");
});

/** The memory map the run printed last (after "stopped after"). */
function finalMap(stdout: string): string {
  const tail = stdout.slice(stdout.lastIndexOf("\nstopped after"));
  return tail.slice(tail.indexOf("memory map"));
}

test("an app given up after repeated crashes is not listed as reserved in the final memory map", () => {
  const dir = mkdtempSync(join(tmpdir(), "wasphere-crasher-"));
  try {
    writeFileSync(join(dir, "app_manifest.json"), JSON.stringify({
      SchemaVersion: 1, Name: "crasher", ComponentId: "7b0c1e2d-3f40-4a5b-8c6d-7e8f90a1b2c3", EntryPoint: "crasher.wasm",
      CmdArgs: [], Capabilities: {}, MemoryQuotaKiB: 64,
    }));
    writeFileSync(join(dir, "crasher.wasm"), wat(`(module (memory (export "memory") 1) (func (export "main") (result i32) (unreachable)))`));
    // The backoffs before the give-up (100, 200, 400, 800, then the 1600 ms cap until crash
    // RESTART_MAX_CRASHES) add up to 6.3 s; the run lasts 2 s longer.
    let backoffMs = 0;
    for (let crash = 1; crash < abi.RESTART_MAX_CRASHES; crash++) backoffMs += Math.min(abi.RESTART_BACKOFF_BASE_MS * 2 ** (crash - 1), abi.RESTART_BACKOFF_MAX_MS);
    const r = wasphere("run", "--seconds", String(Math.ceil(backoffMs / 1000) + 2), "--quiet", "examples/blink", dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`audit: crasher: crashed ${abi.RESTART_MAX_CRASHES} times; giving up`));
    assert.match(r.stdout, /app crasher +64\.0 KiB +reserved/, "reserved while it ran");
    const map = finalMap(r.stdout);
    assert.match(map, /app blink +128\.0 KiB +reserved/);
    assert.doesNotMatch(map, /crasher/);
    // blink and the network manager (a system app of every run), nothing of the crasher.
    assert.match(map, /app network-manage +64\.0 KiB +reserved/); // the map shows 16 bytes of a name
    assert.match(map, /apps reserved +192\.0 KiB/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("wasphere run --press on a pin the device does not have says so in one line and exits 1", () => {
  const r = wasphere("run", "--seconds", "1", "--press", "200:400", "examples/blink");
  assert.equal(r.status, 1);
  assert.equal(r.stderr, "wasphere run: --press 200: GPIO 200 does not exist on this device (pins 0..95)\n");
  assert.doesNotMatch(r.stdout, /booted/, "refused before anything ran");
});

test("wasphere run --feed is refused in one line that names device boot, before anything boots", () => {
  const line = "wasphere run: --feed: a run has no flash, OS slots or trusted keys for an update to go into (its apps come from folders, unsigned); "
    + "an update feed is for a device folder: wasphere device boot DEV --feed URL [--feed-poll S]\n";
  for (const args of [["--feed", "http://127.0.0.1:1/feed.json"], ["--feed-poll", "5"], ["--feed", "http://127.0.0.1:1/feed.json", "--feed-poll", "5"]]) {
    const r = wasphere("run", "--seconds", "1", ...args, "examples/blink");
    assert.deepEqual([r.status, r.stderr, r.stdout], [1, line, ""], args.join(" "));
  }
});
