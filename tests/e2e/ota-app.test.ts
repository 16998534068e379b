// Over-the-air app update end to end: `feed publish` puts version 1 of an app in a feed folder,
// Node's http serves it on 127.0.0.1, and a field-mode device (sideload refused) whose update
// agent polls the feed every second runs version 1; version 2 is published, and the agent has the
// core verify the feed, stage the download and replace the app, which restarts as version 2 with
// its mutable storage kept. A user manifest may not hold UpdateAgent. `wasphere device boot
// --feed URL` starts the agent on that feed (the demo device refuses a feed from a key it does
// not trust).
import test from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { makeDemoDevice } from "../../tools/demo-device.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { publishFeed } from "../../host/update-feed.js";
import { appFromBytes } from "../../host/apps/package.js";
import { ControlError } from "../../host/device-control.js";
import { Device, InstallError } from "../../host/device.js";
import { cache, freshFlash, installed } from "../host/device-flash-support.js";
import { testSigner, trustedProcessor } from "../host/trust-support.js";
import { FlashDevice } from "../../host/device-flash.js";
import { COUNTER_ID, FeedServer, bootRunning, counterPkg } from "./ota-support.js";

const V1 = await counterPkg(1, "v1");
const V2 = await counterPkg(2, "v2");

function publish(dir: string, name: string, bytes: Uint8Array) {
  const path = join(dir, `${name}.imagepackage`);
  writeFileSync(path, bytes);
  return publishFeed(join(dir, "feed"), testSigner.privatePem, [path]);
}

test("a field-mode device takes version 2 of an app from its update feed: replaced atomically, restarted, storage kept; sideload stays refused", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wasphere-ota-"));
  const flash = await freshFlash();
  // The factory installs version 1 (in development mode); the device then ships in field mode.
  const factory = await FlashDevice.boot(flash, { startApps: false, instrumentCache: cache, gpioPinCount: 96, securityProcessor: (await trustedProcessor("development")).link });
  await factory.deploy(V1);
  assert.equal((await publish(dir, "v1", V1)).sequence, 1);
  const server = new FeedServer(join(dir, "feed"));
  await server.start();
  const processor = await trustedProcessor("field");
  const r = await bootRunning(flash, server.feedUrl, processor);
  try {
    await r.until("ota-counter", "v1: start 1");
    await r.until("update-agent", "feed: sequence 1 verified, 1 component");
    assert.deepEqual(r.logs("update-agent"), [`update agent: polling ${server.feedUrl} every 1 s`, "feed: sequence 1 verified, 1 component"]);
    // Field mode: a sideload of version 2 is refused.
    await assert.rejects(r.dev.deploy(V2), (err: unknown) => err instanceof ControlError && /^sideload: refused: the device is in field mode/.test(err.message));
    assert.deepEqual(await installed(r.dev), ["ota-counter@1"]);

    const p2 = await publish(dir, "v2", V2);
    assert.equal(p2.sequence, 2);
    const entry = p2.published[0];
    await r.until("ota-counter", "v2: start 2", 20000);
    assert.deepEqual(r.logs("update-agent").slice(2), [
      "feed: sequence 2 verified, 1 component",
      `update: ota-counter ${COUNTER_ID}: version 1 -> 2, ${V2.length} bytes from packages/${entry.Sha256}.imagepackage`,
      "update: ota-counter version 2 applied (installed-app list entry 0)",
    ]);
    assert.deepEqual(r.logs("ota-counter"), ["v1: start 1", "v2: start 2"]);
    await r.dev.updatesSettled();
    assert.deepEqual(await installed(r.dev), ["ota-counter@2"]);
    const audits = r.audits();
    assert.ok(audits.includes("update-agent: feed sequence 1 accepted"), audits.join("\n"));
    assert.ok(audits.includes("update-agent: feed sequence 2 accepted"), audits.join("\n"));
    assert.ok(audits.includes("update-agent: update applied: entry 0 is now version 2"), audits.join("\n"));
    assert.equal((await r.dev.status(COUNTER_ID)).state, "running");
    // The package was fetched once: the next polls find it current.
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal(server.hits.filter((h) => h === `/${entry.File}`).length, 1);
  } finally {
    await r.stop();
    await server.stop();
  }
  // The next boot runs version 2 from the list, its storage still counting.
  const again = await bootRunning(flash, server.feedUrl, await trustedProcessor("field"));
  try {
    await again.until("ota-counter", "v2: start 3");
    assert.deepEqual(await installed(again.dev), ["ota-counter@2"]);
  } finally { await again.stop(); }
});

test("a user manifest asking for UpdateAgent is refused at install with EPERM", async () => {
  const dev = new Device({});
  const manifest = { SchemaVersion: 1, Name: "sneaky", ComponentId: "6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d", EntryPoint: "sneaky.wasm", Capabilities: { UpdateAgent: true } };
  await assert.rejects(dev.install(appFromBytes("sneaky", manifest, new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]))),
    (err: unknown) => err instanceof InstallError && err.message.includes("app_manifest.json refused (EPERM)") && err.message.includes("only the update agent, a system app in the OS image, may hold this"));
});

test("`wasphere device boot DEV --feed URL --feed-poll 1` starts the update agent on that feed; a feed signed by a key the device does not trust is refused in its log", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wasphere-ota-cli-"));
  const dev = join(dir, "demo");
  await makeDemoDevice(dev, () => {});
  await publish(dir, "v1", V1);
  const server = new FeedServer(join(dir, "feed"));
  await server.start();
  const root = fileURLToPath(new URL("../../../", import.meta.url));
  const child = spawn(process.execPath, ["bin/wasphere.js", "device", "boot", dev, "--feed", server.feedUrl, "--feed-poll", "1"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  child.stderr.on("data", (d) => { err += d; });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; stdout:\n${out}\nstderr:\n${err}`)), 60_000);
      child.stdout.on("data", (d) => { out += d; if (out.includes("signed by a key this device does not trust for apps")) { clearTimeout(timer); resolve(); } });
      child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`exited ${code}; stdout:\n${out}\nstderr:\n${err}`)); });
    });
  } finally {
    child.kill("SIGTERM");
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once("exit", r));
    await server.stop();
  }
  const lines = out.split("\n");
  assert.ok(lines.includes(`boot: system app "update-agent": started, feed ${server.feedUrl}`), out);
  assert.ok(lines.some((l) => l.endsWith(`update-agent: update agent: polling ${server.feedUrl} every 1 s`)), out);
  assert.ok(lines.some((l) => l.endsWith("update-agent: feed: refused: signed by a key this device does not trust for apps")), out);
});
