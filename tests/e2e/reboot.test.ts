// Rebooting the device (ABI.md "Time and power", SPEC.md "Reboot"; drivers/systime.ts,
// host/reboot.ts): power_reboot and power_down only with "PowerControls": true (else -EACCES,
// audited), the EV_REBOOT_REQUESTED entry naming the app, the caller never running on, every app
// stopped at the shutdown, the run-log line, `wasphere run` booting again (the apps restarted, the
// set clock kept), and the reboot-loop bound.
import test from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as abi from "../../assembly/abi.js";
import type { RebootRequest } from "../../host/device.js";
import { RebootGuard, REBOOT_LOOP_MAX, REBOOT_QUICK_UPTIME_MS } from "../../host/reboot.js";
import { runDevice } from "../../host/run.js";
import { bootDevice } from "../../host/device-boot.js";
import { createDevice } from "../../host/device-cli.js";
import { packDirectory } from "../../host/imagepkg-cli.js";
import { openStoppedDevice } from "../../host/device-offline.js";
import { signPackage } from "../../host/apps/imagepkg.js";
import { readKeyText, signerFromPem } from "../../host/pluton/keys.js";
import { DEVELOPMENT_KEY } from "../../host/secure-device.js";
import { RTC_FILE, RTC_FORMAT } from "../../host/rtc.js";
import { recordingFromJson, replay } from "../../host/replay.js";
import { device, exitCodes, installAndStart, app, wat, IMPORT } from "./support.js";

const POWER = `(import "applibs" "power_reboot" (func $reboot (result i32))) (import "applibs" "power_down" (func $down (param i32) (result i32)))`;
const TIME = `(import "applibs" "time_get" (func $get (param i32) (result i32))) (import "applibs" "time_set" (func $set (param i32) (result i32)))`;
const TEXT = 8192;
const CELL = 8448;
const texts = `(data (i32.const ${TEXT}) "before") (data (i32.const ${TEXT + 16}) "after") (data (i32.const ${TEXT + 32}) "tick") (data (i32.const ${TEXT + 48}) "clock kept")`;
const POWER_CONTROLS = { Capabilities: { PowerControls: true } };

/** Sleeps `sleepMs`, logs "before", asks for a reboot, then logs "after" and exits with the result. */
const rebooter = (sleepMs: number) => app(`${IMPORT.exit} ${IMPORT.log} ${IMPORT.sleep} ${POWER}`, `(local $r i32)
  (drop (call $sleep (i32.const ${sleepMs})))
  (drop (call $log (i32.const ${TEXT}) (i32.const 6)))
  (local.set $r (call $reboot))
  (drop (call $log (i32.const ${TEXT + 16}) (i32.const 5)))
  (call $exit (local.get $r)) (i32.const 0)`, texts);
/** power_down(`seconds`), exiting with its result if it returns. */
const downer = (seconds: number) => app(`${IMPORT.exit} ${POWER}`, `(call $exit (call $down (i32.const ${seconds}))) (i32.const 0)`);
/** Logs "tick" every 10 ms, forever. */
const ticker = app(`${IMPORT.log} ${IMPORT.sleep}`, `(loop $l (drop (call $log (i32.const ${TEXT + 32}) (i32.const 4))) (drop (call $sleep (i32.const 10))) (br $l)) (i32.const 0)`, texts);
const logs = (dev: ReturnType<typeof device>) => dev.events.of("log").map((e) => `${e.app}: ${e.text}`);

test("power_reboot without PowerControls is -EACCES, audited as EV_DENIED, and nothing goes down", async () => {
  const dev = device();
  await installAndStart(dev, "plain", rebooter(0));
  await installAndStart(dev, "false", rebooter(0), { Capabilities: { PowerControls: false } });
  await installAndStart(dev, "down", downer(5));
  await dev.run({ untilMs: 100 });
  assert.deepEqual(exitCodes(dev, "plain"), [-abi.EACCES]);
  assert.deepEqual(exitCodes(dev, "false"), [-abi.EACCES]);
  assert.deepEqual(exitCodes(dev, "down"), [-abi.EACCES]);
  assert.deepEqual(dev.audit().filter((e) => e.kind === abi.EV_DENIED).map((e) => [e.syscall, e.result]),
    [[abi.SYS_POWER_REBOOT, -abi.EACCES], [abi.SYS_POWER_REBOOT, -abi.EACCES], [abi.SYS_POWER_DOWN, -abi.EACCES]]);
  assert.deepEqual(dev.audit().filter((e) => e.kind === abi.EV_REBOOT_REQUESTED), []);
  assert.equal(dev.rebootRequest, null);
  assert.deepEqual(logs(dev), ["plain: before", "plain: after", "false: before", "false: after"]);
});

test("with PowerControls power_reboot records EV_REBOOT_REQUESTED naming the app, never returns, and run() ends; shutdown stops every app", async () => {
  const dev = device();
  await installAndStart(dev, "ticker", ticker);
  const r = await installAndStart(dev, "rebooter", rebooter(25), POWER_CONTROLS);
  await dev.run({ untilMs: 1000 });
  // The run ended at the request (25 ms), not at 1000 ms; the caller did not run on ("after").
  assert.deepEqual(logs(dev), ["ticker: tick", "ticker: tick", "ticker: tick", "rebooter: before"]);
  assert.ok(dev.clock.nowMs() < 26, String(dev.clock.nowMs()));
  assert.deepEqual(exitCodes(dev, "rebooter"), []);
  const entries = dev.audit().filter((e) => e.kind === abi.EV_REBOOT_REQUESTED);
  assert.deepEqual(entries.map((e) => [e.app, e.syscall, e.arg, e.result]), [[r.slot, abi.SYS_POWER_REBOOT, abi.REBOOT_REASON_POWER_CONTROLS, 0]]);
  assert.deepEqual(dev.events.of("audit").filter((e) => e.entry?.kind === abi.EV_REBOOT_REQUESTED).map((e) => e.text), ["rebooter: asked for a reboot (PowerControls)"]);
  assert.deepEqual({ ...dev.rebootRequest!, uptimeMs: 0 }, { reason: abi.REBOOT_REASON_POWER_CONTROLS, slot: r.slot, appName: "rebooter", downSeconds: 0, uptimeMs: 0 });
  assert.equal(dev.rebootRequest!.uptimeMs, entries[0].timeMs);
  // A run asked again does nothing while the request stands.
  await dev.run({ untilMs: 1000 });
  assert.equal(logs(dev).length, 4);
  dev.shutdown();
  for (const a of dev.installedApps()) assert.equal(dev.core.exports.app_field(a.slot, abi.APP_FIELD_TASK), -abi.ENOENT, a.name);
  assert.deepEqual(dev.events.of("app").filter((e) => e.what === "stopped").map((e) => e.app).sort(), ["rebooter", "ticker"]);
});

test("power_down carries its seconds (0 to POWER_DOWN_MAX_S); outside them it is -EINVAL and asks nothing", async () => {
  const dev = device();
  await installAndStart(dev, "negative", downer(-1), POWER_CONTROLS);
  await installAndStart(dev, "long", downer(abi.POWER_DOWN_MAX_S + 1), POWER_CONTROLS);
  await dev.run({ untilMs: 100 });
  assert.deepEqual(exitCodes(dev, "negative"), [-abi.EINVAL]);
  assert.deepEqual(exitCodes(dev, "long"), [-abi.EINVAL]);
  assert.equal(dev.rebootRequest, null);
  const d2 = device();
  const a = await installAndStart(d2, "down", downer(7), POWER_CONTROLS);
  await d2.run({ untilMs: 100 });
  assert.deepEqual(d2.audit().filter((e) => e.kind === abi.EV_REBOOT_REQUESTED).map((e) => [e.app, e.syscall, e.arg, e.result]), [[a.slot, abi.SYS_POWER_DOWN, abi.REBOOT_REASON_POWER_DOWN, 7]]);
  assert.deepEqual([d2.rebootRequest!.reason, d2.rebootRequest!.downSeconds], [abi.REBOOT_REASON_POWER_DOWN, 7]);
  assert.deepEqual(new RebootGuard().decide(d2.rebootRequest!), { reboot: true, downMs: 7000, line: "device: power-down requested by 'down' (PowerControls); down for 7 s, then booting again (simulated)" });
});

test("a refused reboot stops the app that asked; the others run on, and a later request is heard", async () => {
  const dev = device();
  await installAndStart(dev, "ticker", ticker);
  await installAndStart(dev, "rebooter", rebooter(25), POWER_CONTROLS);
  await dev.run({ untilMs: 1000 });
  dev.refuseReboot();
  assert.equal(dev.rebootRequest, null);
  await dev.run({ untilMs: 60 });
  assert.deepEqual(logs(dev).filter((l) => l.startsWith("ticker")).length, 6);
  assert.deepEqual(dev.events.of("app").filter((e) => e.what === "stopped").map((e) => e.app), ["rebooter"]);
  await installAndStart(dev, "again", rebooter(0), POWER_CONTROLS);
  await dev.run({ untilMs: 1000 });
  assert.equal((dev.rebootRequest as RebootRequest | null)?.appName, "again");
});

const req = (uptimeMs: number, appName: string | null = "r", reason: number = abi.REBOOT_REASON_POWER_CONTROLS): RebootRequest => ({ reason, slot: appName === null ? -1 : 0, appName, downSeconds: 0, uptimeMs });

test("the reboot-loop bound: REBOOT_LOOP_MAX quick reboots in a row, then the next quick one is refused; a longer uptime ends the streak", () => {
  const guard = new RebootGuard();
  const ok = "device: reboot requested by 'r' (PowerControls); rebooting (simulated)";
  for (let i = 0; i < REBOOT_LOOP_MAX; i++) assert.deepEqual(guard.decide(req(REBOOT_QUICK_UPTIME_MS - 1)), { reboot: true, downMs: 0, line: ok });
  assert.deepEqual(guard.decide(req(5)), {
    reboot: false, downMs: 0,
    line: "device: reboot requested by 'r' (PowerControls) refused: the last 3 boots each ended in a reboot within 10 s (a reboot loop); 'r' is stopped, the other apps run on",
  });
  assert.equal(guard.decide(req(0)).reboot, false);
  assert.equal(guard.decide(req(REBOOT_QUICK_UPTIME_MS)).reboot, true);
  assert.equal(guard.decide(req(0)).reboot, true);
  // An OS update (another reason, no app) goes through the same code; an app's name is escaped.
  assert.equal(new RebootGuard().decide(req(0, null, abi.REBOOT_REASON_OS_UPDATE)).line, "device: reboot requested (OS update staged); rebooting (simulated)");
  assert.equal(new RebootGuard().decide(req(0, "evil\x1b[2J\n")).line, "device: reboot requested by 'evil\\x1b[2J\\n' (PowerControls); rebooting (simulated)");
});

/** An app directory holding `wasm` under a manifest with `caps`; removed by the caller. */
function appDir(name: string, id: string, wasm: Uint8Array, caps: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), `wasphere-${name}-`));
  writeFileSync(join(dir, "app_manifest.json"), JSON.stringify({ SchemaVersion: 1, Name: name, ComponentId: id, EntryPoint: `${name}.wasm`, CmdArgs: [], Capabilities: caps, MemoryQuotaKiB: 64 }));
  writeFileSync(join(dir, `${name}.wasm`), wasm);
  return dir;
}

/** Runs `wasphere run` in this process until a printed line matches `until` (then as Ctrl-C does). */
async function runUntil(dirs: string[], until: RegExp): Promise<string[]> {
  const lines: string[] = [];
  let stopped = false;
  await runDevice(dirs, { seconds: 120, quiet: true }, (line) => {
    lines.push(line);
    if (!stopped && until.test(line)) { stopped = true; setImmediate(() => process.emit("SIGINT")); }
  });
  return lines;
}

test("wasphere run: an app that reboots at every start reboots the device REBOOT_LOOP_MAX times, then is stopped", async () => {
  const loop = appDir("looper", "5d1f0a3e-1b2c-4d3e-8f40-5a6b7c8d9e01", rebooter(0), { PowerControls: true });
  try {
    const lines = await runUntil([loop], /refused: the last/);
    const ok = "device: reboot requested by 'looper' (PowerControls); rebooting (simulated)";
    assert.equal(lines.filter((l) => l === ok).length, REBOOT_LOOP_MAX);
    assert.equal(lines.filter((l) => /^wasphere core \d+\.\d+\.\d+ booted$/.test(l)).length, REBOOT_LOOP_MAX + 1);
    assert.equal(lines.filter((l) => /^installed looper /.test(l)).length, REBOOT_LOOP_MAX + 1);
    assert.equal(lines.filter((l) => /\] looper: before$/.test(l)).length, REBOOT_LOOP_MAX + 1);
    assert.equal(lines.filter((l) => /looper: after/.test(l)).length, 0);
    assert.equal(lines.filter((l) => /audit: looper: asked for a reboot \(PowerControls\)$/.test(l)).length, REBOOT_LOOP_MAX + 1);
    assert.ok(lines.includes("device: reboot requested by 'looper' (PowerControls) refused: the last 3 boots each ended in a reboot within 10 s (a reboot loop); 'looper' is stopped, the other apps run on"));
    assert.ok(lines.some((l) => /\] looper: stopped$/.test(l)));
  } finally {
    rmSync(loop, { recursive: true, force: true });
  }
});

// 9000-01-01T00:00:00Z: later than the host's clock will be.
const FAR_UTC = 221845392000000;
/**
 * Reads the clock: before FAR_UTC, sets it there and goes down (`down`: power_reboot, or a WAT
 * call of $down); after, logs "clock kept" and exits 0.
 */
const onceThen = (down: string) => wat(`(module ${IMPORT.exit} ${IMPORT.log} ${POWER} ${TIME}
  (memory (export "memory") 1) ${texts}
  (func (export "main") (result i32)
    (drop (call $get (i32.const ${CELL})))
    (if (i64.lt_s (i64.load (i32.const ${CELL})) (i64.const ${FAR_UTC})) (then
      (i64.store (i32.const ${CELL}) (i64.const ${FAR_UTC}))
      (drop (call $set (i32.const ${CELL})))
      (drop (call $log (i32.const ${TEXT}) (i32.const 6)))
      (drop ${down})))
    (drop (call $log (i32.const ${TEXT + 48}) (i32.const 10)))
    (call $exit (i32.const 0)) (i32.const 0)))`);
const once = onceThen("(call $reboot)");

test("wasphere run: a reboot restarts the apps on a new core, and the clock an app set runs on through it", async () => {
  const dir = appDir("once", "5d1f0a3e-1b2c-4d3e-8f40-5a6b7c8d9e02", once, { PowerControls: true, SystemTime: true });
  try {
    const lines = await runUntil([dir], /once: clock kept$/);
    const i = lines.indexOf("device: reboot requested by 'once' (PowerControls); rebooting (simulated)");
    assert.ok(i > 0, lines.join("\n"));
    const before = lines.slice(0, i);
    const after = lines.slice(i + 1);
    assert.equal(before.filter((l) => /\] once: before$/.test(l)).length, 1);
    assert.equal(before.filter((l) => /once: clock kept/.test(l)).length, 0);
    assert.match(before.join("\n"), /audit: once: set the device clock \(forward [\d,]+ s\)/);
    assert.match(after[0], /^wasphere core \d+\.\d+\.\d+ booted$/);
    assert.equal(after.filter((l) => /^installed once /.test(l)).length, 1);
    assert.equal(after.filter((l) => /\] once: before$/.test(l)).length, 0, "the second boot read a clock at or after FAR_UTC");
    assert.equal(after.filter((l) => /\] once: clock kept$/.test(l)).length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("wasphere run --record: the recording holds the boot up to the reboot, with the RTC reading, and replays exactly", async () => {
  const dir = appDir("once", "5d1f0a3e-1b2c-4d3e-8f40-5a6b7c8d9e05", once, { PowerControls: true, SystemTime: true });
  const file = join(dir, "run.json");
  try {
    const lines: string[] = [];
    await runDevice([dir], { seconds: 60, quiet: true, record: file }, (l) => lines.push(l));
    const i = lines.indexOf("device: reboot requested by 'once' (PowerControls); rebooting (simulated)");
    assert.ok(i > 0, lines.join("\n"));
    assert.equal(lines[i + 1], "wasphere run: a recording holds one boot; it ends here");
    assert.equal(lines[i + 2], `recorded the run to ${file} (replay it with \`wasphere replay ${file}\`)`);
    const rec = recordingFromJson(readFileSync(file, "utf8"));
    assert.equal(typeof rec.device.utcMs, "number");
    assert.ok(rec.audit.some((e) => e.kind === abi.EV_TIME_SET) && rec.audit.some((e) => e.kind === abi.EV_REBOOT_REQUESTED));
    const result = await replay(rec);
    assert.equal(result.divergence, null, JSON.stringify(result.divergence));
    // Another RTC reading is another run: the replay says where it first differs.
    const moved = await replay({ ...rec, device: { ...rec.device, utcMs: rec.device.utcMs! + 1 } });
    assert.notEqual(moved.divergence, null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("wasphere run: a power-down takes the device down for its seconds, then boots it again", async () => {
  const dir = appDir("sleeper", "5d1f0a3e-1b2c-4d3e-8f40-5a6b7c8d9e04", onceThen("(call $down (i32.const 1))"), { PowerControls: true, SystemTime: true });
  try {
    const lines = await runUntil([dir], /sleeper: clock kept$/);
    const i = lines.indexOf("device: power-down requested by 'sleeper' (PowerControls); down for 1 s, then booting again (simulated)");
    assert.ok(i > 0, lines.join("\n"));
    assert.match(lines.slice(0, i).join("\n"), /audit: sleeper: asked to power the device down for at most 1 s \(PowerControls\)/);
    assert.match(lines[i + 1], /^wasphere core \d+\.\d+\.\d+ booted$/);
    assert.equal(lines.slice(i + 1).filter((l) => /\] sleeper: clock kept$/.test(l)).length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("wasphere device boot: a reboot goes through secure boot and the flash again, and the device folder keeps the set clock for the next boot", async () => {
  const app = appDir("once", "5d1f0a3e-1b2c-4d3e-8f40-5a6b7c8d9e03", once, { PowerControls: true, SystemTime: true });
  const dev = join(mkdtempSync(join(tmpdir(), "wasphere-reboot-")), "dev");
  try {
    await createDevice(dev);
    const keyPath = join(dev, `${DEVELOPMENT_KEY}.pem`);
    const signer = await signerFromPem(readKeyText(keyPath), keyPath);
    const stopped = await openStoppedDevice(dev);
    try { await stopped.deploy(await signPackage((await packDirectory(app)).bytes, signer)); } finally { await stopped.close(); }
    const bootUntil = async (until: RegExp) => {
      const lines: string[] = [];
      const ctl = new AbortController();
      await bootDevice(dev, { seconds: 120, quiet: true }, (l) => { lines.push(l); if (until.test(l)) ctl.abort(); }, ctl.signal);
      return lines;
    };
    const lines = await bootUntil(/once: clock kept$/);
    const i = lines.indexOf("device: reboot requested by 'once' (PowerControls); rebooting (simulated)");
    assert.ok(i > 0, lines.join("\n"));
    const [before, after] = [lines.slice(0, i), lines.slice(i + 1)];
    for (const part of [before, after]) {
      assert.equal(part.filter((l) => l.startsWith(`wasphere core 0.1.0 booted from ${dev} in `)).length, 1);
      assert.equal(part.filter((l) => /^secure boot: os-a: core image version 1, signed by key [0-9a-f]{32}, verified/.test(l)).length, 1);
      assert.equal(part.filter((l) => l === 'boot: app "once": started').length, 1);
    }
    assert.equal(before.filter((l) => /\] once: before$/.test(l)).length, 1);
    assert.equal(after.filter((l) => /\] once: before$/.test(l)).length, 0);
    assert.equal(after.filter((l) => /\] once: clock kept$/.test(l)).length, 1);
    const kept = JSON.parse(readFileSync(join(dev, RTC_FILE), "utf8"));
    assert.equal(kept.format, RTC_FORMAT);
    assert.ok(Date.now() + kept.offsetMs >= FAR_UTC, JSON.stringify(kept));
    // Booted again in a new process's place: the folder's RTC still reads after FAR_UTC.
    const third = await bootUntil(/once: clock kept$/);
    assert.equal(third.filter((l) => /\] once: before$/.test(l)).length, 0);
    assert.equal(third.filter((l) => l.startsWith("device: ")).length, 0);
    // A damaged rtc.json is named in one line, and the clock starts from the host's time.
    writeFileSync(join(dev, RTC_FILE), "{not json");
    const fourth = await bootUntil(/once: before$/);
    assert.equal(fourth.filter((l) => l.startsWith(`boot: rtc: ${join(dev, RTC_FILE)} cannot be used (`)).length, 1);
  } finally {
    rmSync(app, { recursive: true, force: true });
    rmSync(join(dev, ".."), { recursive: true, force: true });
  }
});
