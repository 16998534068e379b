// `wasphere device boot DEV` as `npm start` runs it: the demo device (tools/demo-device.ts: the
// example packages deployed onto a fresh device) boots from flash, prints its boot log and memory
// map, runs both apps; while it runs the stopped-device verbs are refused; SIGKILLed, it boots
// again (the stale lock taken over) with the same apps.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeDemoDevice } from "../../tools/demo-device.js";
import { openStoppedDevice } from "../../host/device-offline.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const BLINK = "1689d8b2-c835-2e27-27ad-e894d6d15fa9";
const BUTTON = "3b1f5e2a-7c44-4d8e-9a61-0f2d8c7b5e13";

/** Spawns `device boot`; resolves with the process and its output once `until` has been printed. */
function bootUntil(dev: string, until: RegExp, extra: string[] = []) {
  const child = spawn(process.execPath, ["bin/wasphere.js", "device", "boot", dev, "--press", "12:600", ...extra], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  child.stderr.on("data", (d) => { err += d; });
  const seen = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${until}; stdout:\n${out}\nstderr:\n${err}`)), 60_000);
    child.stdout.on("data", (d) => { out += d; if (until.test(out)) { clearTimeout(timer); resolve(out); } });
    child.on("exit", (code) => { clearTimeout(timer); if (!until.test(out)) reject(new Error(`exited ${code}; stdout:\n${out}\nstderr:\n${err}`)); });
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return { child, seen, exited };
}

test("the demo device boots from flash, answers the verbs on its control endpoint while running (and refuses the stopped-device ones), and comes back after SIGKILL", async () => {
  const dev = join(mkdtempSync(join(tmpdir(), "wasphere-boot-")), "demo");
  const made: string[] = [];
  await makeDemoDevice(dev, (l) => made.push(l));
  assert.equal(made.length, 2);

  const first = bootUntil(dev, /button: pressed/);
  const out = await first.seen;
  const lines = out.split("\n");
  assert.ok(lines[0].startsWith(`wasphere core 0.1.0 booted from ${dev} in `), lines[0]);
  // Secure boot: the core in os-a, signed with the device's development key, verified first.
  assert.match(lines[1], /^secure boot: os-a: core image version 1, signed by key [0-9a-f]{32}, verified \(measurement [0-9a-f]{64}\)$/);
  // The first boot of the factory slot's v1 moves the OS version counter (SPEC.md, "Boot state").
  assert.equal(lines[2], "boot: counter 0 advanced from 0 to 1 (os-a, the primary slot, v1)");
  assert.equal(lines[3], "boot: installed-app list: 2 packages");
  assert.match(lines[4], new RegExp(`^boot: package ${BLINK} "blink": mounted read-only at flash block 513 \\(11516 bytes, mount 1, 1568 B of RAM\\)$`));
  assert.equal(lines[5], 'boot: app "blink": started');
  assert.match(lines[6], new RegExp(`^boot: package ${BUTTON} "button": mounted read-only at flash block 516 `));
  assert.equal(lines[7], 'boot: app "button": started');
  assert.ok(lines.includes(`  mount  1 (package ${BLINK})  1568 B of core RAM`), out);
  assert.ok(lines.some((l) => /^\s+app blink\s+128\.0 KiB\s+reserved$/.test(l)), out);
  assert.ok(out.includes("button: GPIO 8 refused (EACCES), as the manifest does not grant it"));
  assert.equal(readFileSync(join(dev, "lock"), "utf8"), `${first.child.pid}\n`);
  await assert.rejects(openStoppedDevice(dev), { message: `${dev}: the device is running (process ${first.child.pid} holds lock); stop it first, or use its control endpoint` });
  // The verbs reach the running device through its control endpoint instead.
  assert.ok(lines.includes(`control endpoint: ${join(dev, "control.sock")}`), out);
  const verb = (...args: string[]) => {
    const r = spawnSync(process.execPath, ["bin/wasphere.js", "device", ...args, "--device", dev, "--json"], { cwd: root, encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  assert.deepEqual(verb("image", "list-installed").map((x: { name: string }) => x.name), ["blink", "button"]);
  assert.equal(verb("app", "stop", "--component-id", BLINK).state, "stopped");
  assert.equal(verb("app", "show-status", "--component-id", BLINK).state, "stopped");
  assert.equal(verb("app", "start", "--component-id", BLINK).state, "running");

  // The instrumented modules are kept in the device folder: one entry per distinct module and
  // quota (blink, button and the network manager, a system app).
  const cached = readdirSync(join(dev, "cache", "instrumented"));
  assert.equal(cached.length, 3, cached.join(", "));
  first.child.kill("SIGKILL");
  assert.deepEqual(await first.exited, { code: null, signal: "SIGKILL" });
  // The lock of the dead process is still there; the next boot takes it over.
  assert.equal(readFileSync(join(dev, "lock"), "utf8"), `${first.child.pid}\n`);
  const second = bootUntil(dev, /stopped after/, ["--seconds", "2"]);
  const again = (await second.seen).split("\n");
  assert.deepEqual((await second.exited).code, 0);
  // The same, but for the counter: it moved once, at the first boot.
  assert.deepEqual(again.filter((l) => l.startsWith("boot: ")).map((l) => l.replace(/ \(.*$/, "")), lines.filter((l) => l.startsWith("boot: ") && !l.startsWith("boot: counter 0")).map((l) => l.replace(/ \(.*$/, "")));

  // A cache that is gone is rebuilt (by the instrumenter), and the apps come back the same.
  rmSync(join(dev, "cache"), { recursive: true });
  const third = bootUntil(dev, /stopped after/, ["--seconds", "1"]);
  // blink, button, and the network manager (a system app).
  assert.equal((await third.seen).split("\n").filter((l) => l.endsWith("started")).length, 3);
  await third.exited;
  assert.equal(readdirSync(join(dev, "cache", "instrumented")).length, 3);

  // Stopped again: the verbs work on its flash, and see what the running device had.
  const stopped = await openStoppedDevice(dev);
  try {
    assert.deepEqual((await stopped.listInstalled()).map((x) => x.name), ["blink", "button"]);
    assert.equal((await stopped.status(BLINK)).state, "stopped");
    await assert.rejects(stopped.start(BLINK), { code: "unavailable" });
  } finally {
    await stopped.close();
  }
});
