// The device's UTC clock (ABI.md "Time and power"; drivers/systime.ts): time_get for every app
// without a capability, time_set only with "SystemTime": true (else -EACCES, audited as
// EV_DENIED), one clock for the whole device (a set is what every app reads next), the range a set
// takes, the EV_TIME_SET entry, and the manifest's boolean.
import test from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { Device, InstallError } from "../../host/device.js";
import { VirtualClock } from "../../host/peripherals/clock.js";
import { appFromBytes } from "../../host/apps/package.js";
import { Rtc } from "../../host/rtc.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildApp, REPO_ROOT } from "../../host/apps/build.js";
import { exitCodes, installAndStart, app, manifest, IMPORT } from "./support.js";

const TIME = `(import "applibs" "time_get" (func $get (param i32) (result i32))) (import "applibs" "time_set" (func $set (param i32) (result i32)))`;
const CELL = 8192;
// 2026-01-01T00:00:00Z and 2030-01-01T00:00:00Z.
const BOOT_UTC = 1767225600000;
const SET_UTC = 1893456000000;

/** A virtual clock that moves only to deadlines (no time charged for work): every time is whole. */
class StepClock extends VirtualClock { override chargeFuel(): void {} }
const dev = (utcMs?: number) => new Device({ clock: new StepClock(), utcMs });

/** Sleeps `sleepMs`, reads the clock and exits with (read - base): 0..2^31 ms after `base`. */
function reader(sleepMs: number, base: number): Uint8Array {
  return app(`${IMPORT.exit} ${IMPORT.sleep} ${TIME}`, `(local $r i32)
    (drop (call $sleep (i32.const ${sleepMs})))
    (local.set $r (call $get (i32.const ${CELL})))
    (if (i32.lt_s (local.get $r) (i32.const 0)) (then (call $exit (local.get $r))))
    (call $exit (i32.wrap_i64 (i64.sub (i64.load (i32.const ${CELL})) (i64.const ${base})))) (i32.const 0)`).slice();
}

/** Sleeps `sleepMs`, sets the clock to `utc` and exits with time_set's result. */
function setter(sleepMs: number, utc: bigint | number, ptr = CELL): Uint8Array {
  return app(`${IMPORT.exit} ${IMPORT.sleep} ${TIME}`, `
    (drop (call $sleep (i32.const ${sleepMs})))
    (i64.store (i32.const ${CELL}) (i64.const ${utc}))
    (call $exit (call $set (i32.const ${ptr}))) (i32.const 0)`);
}

test("time_get needs no capability and reads the RTC's time at boot plus the device's uptime", async () => {
  const d = dev(BOOT_UTC);
  await installAndStart(d, "reader", reader(250, BOOT_UTC));
  await d.run({ untilMs: 1000 });
  assert.deepEqual(exitCodes(d, "reader"), [250]);
  // The virtual clock stops where the last app exited (nothing is left to run).
  assert.equal(d.clock.nowMs(), 250);
  assert.equal(d.core.exports.clock_utc_ms(), BOOT_UTC + 250);
  assert.deepEqual(d.audit().filter((e) => e.kind === abi.EV_DENIED), []);
});

test("a device given no RTC reading counts from the Unix epoch at boot", async () => {
  const d = dev();
  await installAndStart(d, "reader", reader(40, 0));
  await d.run({ untilMs: 100 });
  assert.deepEqual(exitCodes(d, "reader"), [40]);
  assert.equal(d.utcAtBootMs, null);
});

test("time_set without SystemTime is -EACCES, audited as EV_DENIED, and the clock does not move", async () => {
  const d = dev(BOOT_UTC);
  await installAndStart(d, "plain", setter(0, SET_UTC));
  await installAndStart(d, "false", setter(0, SET_UTC), { Capabilities: { SystemTime: false } });
  await installAndStart(d, "reader", reader(100, BOOT_UTC));
  await d.run({ untilMs: 200 });
  assert.deepEqual(exitCodes(d, "plain"), [-abi.EACCES]);
  assert.deepEqual(exitCodes(d, "false"), [-abi.EACCES]);
  assert.deepEqual(exitCodes(d, "reader"), [100]);
  const denied = d.audit().filter((e) => e.kind === abi.EV_DENIED).map((e) => [d.installedApps().find((a) => a.slot === e.app)!.name, e.syscall, e.arg, e.result]);
  assert.deepEqual(denied, [["plain", abi.SYS_TIME_SET, CELL, -abi.EACCES], ["false", abi.SYS_TIME_SET, CELL, -abi.EACCES]]);
  assert.deepEqual(d.audit().filter((e) => e.kind === abi.EV_TIME_SET), []);
  assert.match(d.events.of("audit").map((e) => e.text).join("\n"), /plain: time_set\(8192\) denied with EACCES: not granted by its manifest/);
});

test("with SystemTime the set time is the device's: a second app reads it, and the set is audited with how far it moved", async () => {
  const d = dev(BOOT_UTC);
  await installAndStart(d, "setter", setter(50, SET_UTC), { Capabilities: { SystemTime: true } });
  await installAndStart(d, "reader", reader(100, SET_UTC));
  await d.run({ untilMs: 300 });
  assert.deepEqual(exitCodes(d, "setter"), [0]);
  // Set at 50 ms of uptime, read at 100: 50 ms after the time it was set to.
  assert.deepEqual(exitCodes(d, "reader"), [50]);
  assert.equal(d.core.exports.clock_utc_ms(), SET_UTC + 50);
  const set = d.audit().filter((e) => e.kind === abi.EV_TIME_SET);
  assert.deepEqual(set.map((e) => [e.app, e.syscall, e.arg, e.result, e.timeMs]), [[0, abi.SYS_TIME_SET, Math.trunc((SET_UTC - BOOT_UTC - 50) / 1000), 0, 50]]);
  assert.deepEqual(d.events.of("audit").filter((e) => e.entry?.kind === abi.EV_TIME_SET).map((e) => e.text), ["setter: set the device clock (forward 126,230,399 s)"]);
});

test("time_set takes 0 to TIME_MAX_MS: a negative or later time is -EINVAL and changes nothing; a bad pointer is -EFAULT, audited", async () => {
  const d = dev(BOOT_UTC);
  const caps = { Capabilities: { SystemTime: true } };
  await installAndStart(d, "negative", setter(0, -1), caps);
  await installAndStart(d, "late", setter(0, abi.TIME_MAX_MS + 1), caps);
  await installAndStart(d, "outside", setter(0, SET_UTC, 65536 - 4), caps);
  await installAndStart(d, "reader", reader(10, BOOT_UTC));
  await d.run({ untilMs: 20 });
  assert.deepEqual(exitCodes(d, "negative"), [-abi.EINVAL]);
  assert.deepEqual(exitCodes(d, "late"), [-abi.EINVAL]);
  assert.deepEqual(exitCodes(d, "outside"), [-abi.EFAULT]);
  assert.deepEqual(exitCodes(d, "reader"), [10]);
  assert.deepEqual(d.audit().filter((e) => e.kind === abi.EV_FAULT).map((e) => [e.syscall, e.arg, e.result]), [[abi.SYS_TIME_SET, 65536 - 4, -abi.EFAULT]]);
  const edge = dev(BOOT_UTC);
  await installAndStart(edge, "max", setter(0, abi.TIME_MAX_MS), caps);
  await installAndStart(edge, "zero", setter(5, 0), caps);
  await installAndStart(edge, "reader", reader(10, 0));
  await edge.run({ untilMs: 20 });
  assert.deepEqual(exitCodes(edge, "max"), [0]);
  assert.deepEqual(exitCodes(edge, "zero"), [0]);
  assert.deepEqual(exitCodes(edge, "reader"), [5]);
});

test("time_get into memory the app does not have is -EFAULT, audited", async () => {
  const d = dev(BOOT_UTC);
  await installAndStart(d, "edge", app(`${IMPORT.exit} ${TIME}`, `(call $exit (call $get (i32.const ${65536 - 7}))) (i32.const 0)`));
  await d.run({ untilMs: 10 });
  assert.deepEqual(exitCodes(d, "edge"), [-abi.EFAULT]);
  assert.deepEqual(d.audit().filter((e) => e.kind === abi.EV_FAULT).map((e) => [e.syscall, e.arg]), [[abi.SYS_TIME_GET, 65536 - 7]]);
});

test("SystemTime and PowerControls take true or false; anything else is a manifest error, and the still unsupported are named so", async () => {
  const d = dev(BOOT_UTC);
  const wasm = reader(0, 0);
  const refused = async (caps: Record<string, unknown>) => {
    try { await d.install(appFromBytes("m", manifest("m", { Capabilities: caps }), wasm)); } catch (err) {
      assert.ok(err instanceof InstallError);
      return err.message;
    }
    return "installed";
  };
  assert.equal(await refused({ SystemTime: "true" }), "m: app_manifest.json refused (EINVAL): Capabilities.SystemTime: expected true or false");
  assert.equal(await refused({ PowerControls: 1 }), "m: app_manifest.json refused (EINVAL): Capabilities.PowerControls: expected true or false");
  assert.equal(await refused({ PowerControls: null }), "m: app_manifest.json refused (EINVAL): Capabilities.PowerControls: expected true or false");
  assert.equal(await refused({ SystemTime: true, SystemTime2: true }), "m: app_manifest.json refused (EINVAL): Capabilities.SystemTime2: unknown capability");
  assert.equal(await refused({ CertStore: true }), "m: app_manifest.json refused (EINVAL): Capabilities.CertStore: not supported by this device yet");
  assert.equal(await refused({ SoftwareUpdateDeferral: true }), "m: app_manifest.json refused (EINVAL): Capabilities: SoftwareUpdateDeferral needs SystemEventNotifications: true");
  assert.equal(await refused({ SystemEventNotifications: true, SoftwareUpdateDeferral: "yes" }), "m: app_manifest.json refused (EINVAL): Capabilities.SoftwareUpdateDeferral: expected true or false");
  assert.equal(await refused({ SystemTime: true, PowerControls: false }), "installed");
});

test("the Device refuses an RTC reading the core cannot hold; the RTC model runs on from a set time", () => {
  assert.throws(() => dev(-5), /the real-time clock reads -5 ms, which the core refuses \(EINVAL\)/);
  assert.throws(() => dev(1.5), /refuses \(EINVAL\)/);
  let host = 1000;
  const rtc = new Rtc(0, () => host);
  assert.equal(rtc.nowMs(), 1000);
  rtc.set(SET_UTC);
  host += 2500;
  assert.equal(rtc.nowMs(), SET_UTC + 2500);
});

test("the SDK's time and power (tests/apps/systime): nowMs, set and reboot as an AssemblyScript app calls them", async () => {
  const wasm = await buildApp(join(REPO_ROOT, "tests/apps/systime/main.ts"), (p) => { try { return readFileSync(p, "utf8"); } catch { return null; } });
  const d = dev(BOOT_UTC);
  await installAndStart(d, "granted", wasm, { CmdArgs: [String(SET_UTC), "reboot"], Capabilities: { SystemTime: true, PowerControls: true } });
  await d.run({ untilMs: 100 });
  const d2 = dev(BOOT_UTC);
  await installAndStart(d2, "plain", wasm, { CmdArgs: [String(SET_UTC), "reboot"] });
  await d2.run({ untilMs: 100 });
  const lines = (x: Device) => x.events.of("log").map((e) => `${e.app}: ${e.text}`);
  assert.deepEqual(lines(d), [`granted: now ${BOOT_UTC}`, `granted: set 0 now ${SET_UTC}`]);
  assert.equal(d.rebootRequest?.appName, "granted");
  assert.deepEqual(lines(d2), [`plain: now ${BOOT_UTC}`, `plain: set ${-abi.EACCES} now ${BOOT_UTC}`, `plain: reboot returned ${-abi.EACCES}`]);
  assert.equal(d2.rebootRequest, null);
});
