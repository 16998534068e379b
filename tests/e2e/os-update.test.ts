// OS (core) updates A/B, test-and-confirm (SPEC.md, "Boot state"): a v2 staged into the
// non-primary slot boots on trial and is confirmed, counter 0 follows it; a v2 that is not a core
// (a signed Wasm module that does not instantiate) fails its trial, is rejected, and v1 boots in
// the same boot with v1's measurement; anti-rollback refuses a version below counter 0 at staging
// and at boot; a trial left TRYING is rejected; `device update-core` and `device update status`
// from the command line, through a real `device boot`.
import test from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { advanceCounter, readOsSlots, signCoreImage, stageCoreUpdate, CORE_IMAGE_HEADER_BYTES } from "../../host/boot-loader.js";
import { BOOT_STATE, appendRecord, lastUpdate } from "../../host/boot-state.js";
import { HAL_MODULE } from "../../host/core.js";
import type { Flash } from "../../host/flash.js";
import { newSigner, testSigner } from "../host/trust-support.js";
import { CORE, V1, V2, V3, boot, counter0, factoryV1, powerOn } from "../host/os-update-support.js";

const { PENDING, TRYING, CONFIRMED, REJECTED } = BOOT_STATE;
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const root = fileURLToPath(new URL("../../../", import.meta.url));

/** A valid Wasm module that is not a core: it imports a hal function no host provides, so it does not instantiate. */
function notACore(): Uint8Array {
  const enc = new TextEncoder();
  const name = (s: string) => [enc.encode(s).length, ...enc.encode(s)];
  const imports = [1, ...name(HAL_MODULE), ...name("os-self-test"), 0x00, 0x00];
  return Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 2, imports.length, ...imports);
}
const BAD_V2 = await signCoreImage(notACore(), testSigner, 2);
const NOT_A_CORE_REASON = `WebAssembly.Instance(): Import #0 module="${HAL_MODULE}" function="os-self-test" error: function import requires a callable`;

/** Each slot's log as [state, sequence] pairs. */
const logs = (flash: Flash) => readOsSlots(flash).views.map((v) => v.log.records.map((r) => [r.state, r.sequence]));
const sha = async (b: Uint8Array) => hex(new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", b as unknown as BufferSource)));
const measurementOf = (image: Uint8Array) => sha(new Uint8Array([...image.subarray(0, 16), ...image.subarray(CORE_IMAGE_HEADER_BYTES)]));

test("v2 staged into os-b boots on trial and is confirmed; counter 0 becomes 2; the next boot is v2 without a trial; v3 then goes into os-a", async () => {
  const { flash, store } = await factoryV1();
  assert.deepEqual(await stageCoreUpdate(flash, await powerOn(store)(), V2), { slot: "os-b", version: 2, sequence: 1 });
  assert.deepEqual(logs(flash), [[], [[PENDING, 1]]]);
  assert.deepEqual(lastUpdate(readOsSlots(flash).views), { slot: 1, sequence: 1, outcome: "pending" });
  assert.equal(await counter0(store), 1, "staging moves no counter");
  const trial = await boot(flash, store);
  assert.deepEqual([trial.core.slot, trial.core.image.version, trial.lines, trial.trial], ["os-b", 2, ["os-b (v2) confirmed after its trial: the primary slot now; counter 0 advanced from 1 to 2"], { slot: "os-b", version: 2, confirmed: true }]);
  assert.deepEqual(logs(flash), [[], [[PENDING, 1], [TRYING, 1], [CONFIRMED, 1]]]);
  assert.equal(await counter0(store), 2);
  // The booted device is v2's: its measurement, and it answers.
  const { statement } = await trial.booted.attest(new Uint8Array(32));
  assert.equal(hex(statement.subarray(56, 88)), await measurementOf(V2));
  const again = await boot(flash, store);
  assert.deepEqual([again.core.slot, again.core.image.version, again.lines, again.trial], ["os-b", 2, [], null]);
  assert.deepEqual(logs(flash), [[], [[PENDING, 1], [TRYING, 1], [CONFIRMED, 1]]]);
  // The next update goes into the other slot, os-a (no longer primary), above both logs.
  assert.deepEqual(await stageCoreUpdate(flash, await powerOn(store)(), V3), { slot: "os-a", version: 3, sequence: 2 });
  const third = await boot(flash, store);
  assert.deepEqual([third.core.slot, third.lines], ["os-a", ["os-a (v3) confirmed after its trial: the primary slot now; counter 0 advanced from 2 to 3"]]);
  assert.deepEqual(logs(flash), [[[PENDING, 2], [TRYING, 2], [CONFIRMED, 2]], [[PENDING, 1], [TRYING, 1], [CONFIRMED, 1]]]);
  assert.equal(await counter0(store), 3);
});

test("a v2 that is not a core fails its trial: REJECTED, v1 boots in the same boot with v1's measurement, counter 0 stays 1", async () => {
  const { flash, store } = await factoryV1();
  assert.deepEqual(await stageCoreUpdate(flash, await powerOn(store)(), BAD_V2), { slot: "os-b", version: 2, sequence: 1 });
  const r = await boot(flash, store);
  assert.deepEqual(r.lines, [`os-b (v2) failed its trial (${NOT_A_CORE_REASON}); rolled back to os-a (v1)`]);
  assert.deepEqual([r.core.slot, r.core.image.version, r.trial], ["os-a", 1, { slot: "os-b", version: 2, confirmed: false, reason: NOT_A_CORE_REASON }]);
  assert.deepEqual(logs(flash), [[], [[PENDING, 1], [TRYING, 1], [REJECTED, 1]]]);
  assert.equal(await counter0(store), 1);
  assert.deepEqual(lastUpdate(readOsSlots(flash).views), { slot: 1, sequence: 1, outcome: "rolled-back" });
  // The processor was powered on again for v1: the boot measurement is v1's, not the trial's.
  const { statement } = await r.booted.attest(new Uint8Array(32));
  assert.equal(hex(statement.subarray(56, 88)), await measurementOf(V1));
  const next = await boot(flash, store);
  assert.deepEqual([next.core.slot, next.lines, next.trial], ["os-a", [], null]);
  // A good v2 staged after it is tried and kept.
  assert.deepEqual(await stageCoreUpdate(flash, await powerOn(store)(), V2), { slot: "os-b", version: 2, sequence: 2 });
  assert.equal((await boot(flash, store)).core.slot, "os-b");
  assert.equal(await counter0(store), 2);
});

test("anti-rollback: staging a version below counter 0 is refused and writes nothing; a slot forged PENDING with a lower version is rejected at boot; a primary below counter 0 never boots", async () => {
  const { flash, store } = await factoryV1();
  await stageCoreUpdate(flash, await powerOn(store)(), V2);
  await boot(flash, store);
  assert.equal(await counter0(store), 2);
  const before = flash.bytes.slice();
  await assert.rejects(stageCoreUpdate(flash, await powerOn(store)(), V1), { message: "update-core: core image version 1 is below the security processor's counter 0 (2): refused (anti-rollback)" });
  assert.ok(flash.bytes.every((x, i) => x === before[i]), "a refused update changes no byte");
  // os-a still holds v1 from the factory: forge it PENDING above os-b's CONFIRMED.
  const [osA] = readOsSlots(flash).parts;
  appendRecord(flash, osA, PENDING, 2);
  const r = await boot(flash, store);
  assert.deepEqual(r.lines, ["os-a (v1) failed its trial (core image version 1 is below the security processor's counter 0 (2): a rolled-back image never boots); rolled back to os-b (v2)"]);
  assert.deepEqual([r.core.slot, r.core.image.version], ["os-b", 2]);
  assert.deepEqual(logs(flash), [[[PENDING, 2], [TRYING, 2], [REJECTED, 2]], [[PENDING, 1], [TRYING, 1], [CONFIRMED, 1]]]);
  assert.equal(await counter0(store), 2);
  // The counter ahead of every slot: nothing boots, and the refusal says why.
  await advanceCounter(await powerOn(store)(), 0, 5);
  await assert.rejects(boot(flash, store), { message: "secure boot: os-b: core image version 2 is below the security processor's counter 0 (5): a rolled-back image never boots" });
});

test("staging: refused while the other slot is on trial (EBUSY); an untrusted or unsigned image is refused before anything is erased; a trial cut after TRYING is rejected at the next boot", async () => {
  const { flash, store } = await factoryV1();
  await stageCoreUpdate(flash, await powerOn(store)(), V2);
  const [, osB] = readOsSlots(flash).parts;
  appendRecord(flash, osB, TRYING, 1);
  const before = flash.bytes.slice();
  await assert.rejects(stageCoreUpdate(flash, await powerOn(store)(), V3), { message: "update-core: os-b is on trial (its last boot-state record is TRYING), busy (EBUSY): boot the device so the boot loader confirms or rejects it, then update" });
  assert.ok(flash.bytes.every((x, i) => x === before[i]), "a refused update changes no byte");
  const r = await boot(flash, store);
  assert.deepEqual(r.lines, ["os-b (v2) failed its trial (cut before it was confirmed: a power loss or crash); rolled back to os-a (v1)"]);
  assert.deepEqual([r.core.slot, await counter0(store)], ["os-a", 1]);
  assert.deepEqual(logs(flash), [[], [[PENDING, 1], [TRYING, 1], [REJECTED, 1]]]);
  const other = await newSigner();
  const kept = flash.bytes.slice();
  await assert.rejects(stageCoreUpdate(flash, await powerOn(store)(), await signCoreImage(CORE, other, 3)), { message: `update-core: the core image is signed by key ${hex(other.keyId)}, which this device does not trust for the OS; refused` });
  const unsigned = V3.slice();
  unsigned.fill(0, 6, 8);
  await assert.rejects(stageCoreUpdate(flash, await powerOn(store)(), unsigned), { message: "update-core: the core image is unsigned; the device boots only a core signed by a key it trusts for the OS" });
  const altered = V3.slice();
  altered[CORE_IMAGE_HEADER_BYTES + 100] ^= 1;
  await assert.rejects(stageCoreUpdate(flash, await powerOn(store)(), altered), { message: `update-core: the core image's signature does not verify with trusted key ${hex(testSigner.keyId)} (altered after signing); refused` });
  assert.ok(flash.bytes.every((x, i) => x === kept[i]), "refused images change no byte");
});

test("the CLI: device update-core stages v2, device boot confirms it, a v3 that is not a core rolls back; device update status says so", async () => {
  const tmp = mkdtempSync(join(tmpdir(), "wasphere-os-update-"));
  const run = (...args: string[]) => spawnSync(process.execPath, ["bin/wasphere.js", ...args], { cwd: root, encoding: "utf8", timeout: 120_000 });
  const dev = join(tmp, "dev");
  const made = run("device", "create", dev, "--flash-size", "2MiB", "--pins", "16");
  assert.equal(made.status, 0, made.stderr);
  const key = join(dev, "development-key.pem");
  const status = () => { const s = run("device", "update", "status", dev, "--json"); assert.equal(s.status, 0, s.stderr); return JSON.parse(s.stdout); };
  const first = run("device", "boot", dev, "--seconds", "0.1");
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /\nboot: counter 0 advanced from 0 to 1 \(os-a, the primary slot, v1\)\n/);
  const v2 = join(tmp, "v2.img"), v3 = join(tmp, "v3.img"), v1 = join(tmp, "v1.img");
  assert.equal(run("core", "sign", "--key", key, "--version", "2", "--output", v2).status, 0);
  assert.equal(run("core", "sign", "--key", key, "--version", "1", "--output", v1).status, 0);
  const notCore = join(tmp, "not-a-core.wasm");
  writeFileSync(notCore, notACore());
  assert.equal(run("core", "sign", "--key", key, "--version", "3", "--core", notCore, "--output", v3).status, 0);
  const staged = run("device", "update-core", dev, v2);
  assert.deepEqual([staged.status, staged.stderr, staged.stdout], [0, "", `os-b: core image version 2 from ${v2} (${readFileSync(v2).length} bytes) written and verified, PENDING (sequence 1); the next boot tries it: wasphere device boot DEV\n`]);
  const pending = status();
  assert.deepEqual([pending.primary, pending.trialPending, pending.lastUpdate, pending.counters[0], pending.mode], ["os-a", "os-b", { slot: "os-b", version: 2, sequence: 1, outcome: "pending" }, 1, "development"]);
  const second = run("device", "boot", dev, "--seconds", "0.1");
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stdout, /\nsecure boot: os-b: core image version 2, signed by key [0-9a-f]{32}, verified \(measurement [0-9a-f]{64}\)\nboot: os-b \(v2\) confirmed after its trial: the primary slot now; counter 0 advanced from 1 to 2\n/);
  assert.match(second.stdout, /\nboot: system app "network-manager": started\n/);
  const keyId = JSON.parse(run("device", "id", dev, "--json").stdout).trustedRoots[0].keyId;
  const v1Bytes = status().slots[0].imageBytes;
  assert.deepEqual(status(), {
    slots: [
      { name: "os-a", factory: true, primary: false, image: true, version: 1, keyId, imageBytes: v1Bytes, systemApps: ["network-manager", "update-agent"], capacityBytes: 126976, state: "none", sequence: null, records: 0, tornRecords: 0, trialPending: false },
      { name: "os-b", factory: false, primary: true, image: true, version: 2, keyId, imageBytes: readFileSync(v2).length, systemApps: ["network-manager", "update-agent"], capacityBytes: 126976, state: "confirmed", sequence: 1, records: 3, tornRecords: 0, trialPending: false },
    ],
    primary: "os-b", trialPending: null, counters: [2, 0, 0, 0, 0, 0, 0, 0], mode: "development",
    lastUpdate: { slot: "os-b", version: 2, sequence: 1, outcome: "confirmed" },
  });
  // Below counter 0: refused in one line, exit 1; so is write-core of it.
  assert.deepEqual([run("device", "update-core", dev, v1).stderr], ["wasphere: update-core: core image version 1 is below the security processor's counter 0 (2): refused (anti-rollback)\n"]);
  assert.deepEqual([run("device", "write-core", dev, v1).stderr], ["wasphere: write-core: core image version 1 is below the security processor's counter 0 (2): refused (anti-rollback; it would never boot)\n"]);
  // v3 is not a core: its trial fails, v2 boots in the same boot.
  assert.equal(run("device", "update-core", dev, v3).status, 0);
  const third = run("device", "boot", dev, "--seconds", "0.1");
  assert.equal(third.status, 0, third.stderr);
  assert.match(third.stdout, /\nsecure boot: os-b: core image version 2, /);
  assert.ok(third.stdout.includes(`\nboot: os-a (v3) failed its trial (${NOT_A_CORE_REASON}); rolled back to os-b (v2)\n`), third.stdout);
  const after = status();
  assert.deepEqual([after.primary, after.counters[0], after.lastUpdate, after.slots[0].state, after.slots[0].sequence], ["os-b", 2, { slot: "os-a", version: 3, sequence: 2, outcome: "rolled-back" }, "rejected", 2]);
  const text = run("device", "update", "status", dev).stdout.split("\n");
  assert.equal(text[2], "counter 0 (OS version): 2; counters 1-7: 0 0 0 0 0 0 0");
  assert.equal(text[4], "last OS update: os-a (v3, sequence 2): rolled back (its trial failed; the primary booted)");
});
