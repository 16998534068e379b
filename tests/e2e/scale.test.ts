// Scale: the core's tables hold MAX_APPS apps, and the RAM pool is what stops a device from
// running more; every refusal says which limit it hit (the message and an EV_LIMIT entry).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { appFromBytes } from "../../host/apps/package.js";
import { instrumentApp } from "../../host/apps/instrument.js";
import { appInstrumentOptions } from "../../host/apps/imports.js";
import { InstallError, type InstalledApp } from "../../host/device.js";
import { app, device, exitCodes, IMPORT, manifest } from "./support.js";

const QUOTA_BYTES = 64 * 1024;
// Sleeps 10 ms twice, then exits with 7: it ran, blocked and woke.
const SMALL_APP = instrumentApp(app(`${IMPORT.sleep} ${IMPORT.exit}`, `(drop (call $sleep (i32.const 10))) (drop (call $sleep (i32.const 10))) (call $exit (i32.const 7)) (i32.const 0)`),
  appInstrumentOptions(QUOTA_BYTES)).bytes;

test(`${abi.MAX_APPS} small apps install; as many as the RAM pool holds run; the next install and start name their limit`, async () => {
  const dev = device();
  const apps: InstalledApp[] = [];
  for (let i = 0; i < abi.MAX_APPS; i++) {
    apps.push(await dev.installInstrumented(appFromBytes(`small${i}`, manifest(`small${i}`, { MemoryQuotaKiB: QUOTA_BYTES / 1024 }), SMALL_APP)));
  }
  assert.equal(dev.installedApps().length, abi.MAX_APPS);
  await assert.rejects(dev.installInstrumented(appFromBytes("one-more", manifest("one-more", { MemoryQuotaKiB: 64 }), SMALL_APP)), (err: InstallError) => {
    assert.equal(err.code, -abi.ENOSPC);
    assert.match(err.message, new RegExp(`app table full \\(MAX_APPS=${abi.MAX_APPS}\\)`));
    return true;
  });
  // Start until the RAM pool refuses: then the pool's free bytes are less than one quota.
  let started = 0;
  let refusal: InstallError | null = null;
  for (const a of apps) {
    try { dev.start(a); started++; } catch (err) { refusal = err as InstallError; break; }
  }
  const free = dev.memoryMap().freeBytes;
  assert.ok(started > 16, `${started} apps started`);
  assert.ok(refusal, "the pool ran out before the table");
  assert.equal(refusal.code, -abi.ENOMEM);
  assert.equal(refusal.message, `small${started}: cannot start (ENOMEM): small${started}: its quota of ${QUOTA_BYTES} bytes does not fit the app RAM pool; ${free} bytes are free (the 4 MiB less the core and the running apps' quotas)`);
  assert.ok(free < QUOTA_BYTES);
  const map = dev.memoryMap();
  assert.equal(started, Math.floor((map.totalBytes - map.staticBytes - map.heapSpanBytes) / QUOTA_BYTES));
  const limits = dev.audit().filter((a) => a.kind === abi.EV_LIMIT).map((a) => [a.app, a.arg, a.result]);
  assert.deepEqual(limits, [[-1, abi.LIMIT_APPS, -abi.ENOSPC], [apps[started].slot, abi.LIMIT_APP_RAM, -abi.ENOMEM]]);
  const texts = dev.events.of("audit").map((e) => e.text).filter((t) => / refused with /.test(t));
  assert.deepEqual(texts, [`install refused with ENOSPC: app table full (MAX_APPS=${abi.MAX_APPS})`, `small${started}: start refused with ENOMEM: its quota does not fit the app RAM pool`]);
  await dev.run({ untilMs: 100 });
  for (let i = 0; i < started; i++) assert.deepEqual(exitCodes(dev, `small${i}`), [7], `small${i} ran to its exit`);
  // Their RAM is back: the rest start and run too.
  for (const a of apps.slice(started)) dev.start(a);
  await dev.run({ untilMs: 200 });
  for (let i = started; i < apps.length; i++) assert.deepEqual(exitCodes(dev, `small${i}`), [7]);
});
