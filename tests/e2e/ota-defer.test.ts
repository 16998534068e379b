// Update deferral end to end (drivers/sysevent.ts, ABI.md "System events"): a field-mode device
// runs ota-counter v1 and the deferrer test app; v2 is published to its feed. With the deferrer
// holding SoftwareUpdateDeferral, the agent's commit is held: the deferrer is told the update is
// pending, defers it, and v1 keeps running until the deferrer resumes it; then v2 is applied and
// the deferrer is told it is complete. An app that holds only SystemEventNotifications is told,
// never asked: the update goes on at once.
import test from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildApp } from "../../host/apps/build.js";
import { publishFeed } from "../../host/update-feed.js";
import { FlashDevice } from "../../host/device-flash.js";
import { cache, freshFlash, installed } from "../host/device-flash-support.js";
import { testSigner, trustedProcessor } from "../host/trust-support.js";
import { FeedServer, bootRunning, counterPkg, signedAppPkg } from "./ota-support.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const deferrerWasm = await buildApp(join(root, "tests/apps/deferrer/main.ts"), (p) => { try { return readFileSync(p, "utf8"); } catch { return null; } });
const DEFERRER_ID = "4a6c2e81-0b3d-4f97-8e15-c7d9a2b4f603";

/** The deferrer, deferring a pending update by `minutes` and resuming it `resumeMs` later; `mayDefer`: SoftwareUpdateDeferral. */
async function deferrerPkg(minutes: number, resumeMs: number, mayDefer: boolean): Promise<Uint8Array> {
  return signedAppPkg({
    Name: "deferrer", ComponentId: DEFERRER_ID, EntryPoint: "deferrer.wasm", CmdArgs: [String(minutes), String(resumeMs)],
    Capabilities: { SystemEventNotifications: true, SoftwareUpdateDeferral: mayDefer }, MemoryQuotaKiB: 64,
  }, deferrerWasm, 1);
}

async function scenario(deferrer: Uint8Array, body: (r: Awaited<ReturnType<typeof bootRunning>>, publishV2: () => Promise<void>) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "wasphere-defer-"));
  const flash = await freshFlash();
  const v1 = await counterPkg(1, "v1"), v2 = await counterPkg(2, "v2");
  const factory = await FlashDevice.boot(flash, { startApps: false, instrumentCache: cache, gpioPinCount: 96, securityProcessor: (await trustedProcessor("development")).link });
  await factory.deploy(v1);
  await factory.deploy(deferrer);
  const publish = async (name: string, bytes: Uint8Array) => {
    writeFileSync(join(dir, name), bytes);
    await publishFeed(join(dir, "feed"), testSigner.privatePem, [join(dir, name)]);
  };
  await publish("v1.imagepackage", v1);
  const server = new FeedServer(join(dir, "feed"));
  await server.start();
  const r = await bootRunning(flash, server.feedUrl, await trustedProcessor("field"));
  try {
    await r.until("deferrer", "sysevent: registered");
    await r.until("ota-counter", "v1: start 1");
    await r.until("update-agent", "feed: sequence 1 verified, 1 component");
    await body(r, () => publish("v2.imagepackage", v2));
  } finally {
    await r.stop();
    await server.stop();
  }
}

test("an app holding SoftwareUpdateDeferral is told of a pending update, defers it, and the update waits until it resumes", async () => {
  await scenario(await deferrerPkg(30, 3000, true), async (r, publishV2) => {
    await publishV2();
    // The minutes a deferral may still take: the whole bound, less what passed since the notice.
    await r.until("deferrer", /^sysevent: pending app \(14(39|40) min\)$/, 20000);
    await r.until("deferrer", "sysevent: defer 30 min: 0");
    await r.until("update-agent", /^update: held: the apps were told it is pending \(an app may defer it\); commit again in \d+ ms$/);
    // Deferred: the agent's commits are held, and v1 keeps running.
    await r.until("deferrer", "sysevent: deferred app");
    await new Promise((res) => setTimeout(res, 1500));
    assert.deepEqual(await installed(r.dev), ["ota-counter@1", "deferrer@1"]);
    assert.ok(!r.logs("ota-counter").includes("v2: start 2"));
    // The deferrer resumes (3 s after it deferred): the next commit goes on and v2 runs.
    await r.until("deferrer", "sysevent: resume 0", 10000);
    await r.until("ota-counter", "v2: start 2", 20000);
    await r.until("deferrer", "sysevent: complete app", 10000);
    assert.deepEqual(await installed(r.dev), ["ota-counter@2", "deferrer@1"]);
    assert.ok(r.logs("update-agent").includes("update: ota-counter version 2 applied (installed-app list entry 0)"), JSON.stringify(r.logs("update-agent")));
  });
});

test("an app holding only SystemEventNotifications is told, not asked: the update goes on at once", async () => {
  await scenario(await deferrerPkg(30, -1, false), async (r, publishV2) => {
    await publishV2();
    await r.until("ota-counter", "v2: start 2", 20000);
    await r.until("deferrer", "sysevent: complete app", 10000);
    // No notice was waited out, and nothing could be deferred.
    assert.ok(!r.logs("update-agent").some((l) => l.startsWith("update: held")), JSON.stringify(r.logs("update-agent")));
    assert.ok(!r.logs("deferrer").some((l) => l.startsWith("sysevent: pending") || l.startsWith("sysevent: defer")), JSON.stringify(r.logs("deferrer")));
  });
});
