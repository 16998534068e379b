// Record and replay (host/replay.ts): a run of blink and button with button presses replays bit
// for bit, on a virtual and on a real clock, through a JSON round trip; a changed input (a pin
// level, a clock reading, a module byte) is reported at the first crossing it changes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Device } from "../../host/device.js";
import { appFromDirectory } from "../../host/apps/package.js";
import { RealClock, VirtualClock } from "../../host/peripherals/clock.js";
import { Recorder, recordingFromJson, recordingToJson, replay, type Recording } from "../../host/replay.js";

import { example, runBlinkAndButton } from "../e2e/support.js";

/** blink and button on a virtual clock; the button (pin 12) pressed at 1000 ms, released at 1200 ms. */
async function recordVirtual(): Promise<Recording> {
  const recorder = new Recorder();
  const dev = new Device(recorder.config({ clock: new VirtualClock() }));
  recorder.attach(dev);
  await runBlinkAndButton(dev);
  return recordingFromJson(recordingToJson(recorder.finish()));
}

const copy = (rec: Recording): Recording => JSON.parse(JSON.stringify(rec));

test("a virtual-clock run of blink and button with presses replays exactly", async () => {
  const rec = await recordVirtual();
  const logs = rec.trace.filter((e) => e.kind === "log").map((e) => (e as { text: string }).text);
  assert.ok(logs.includes("pressed") && logs.includes("released"), `the run saw the presses: ${logs.join(" | ")}`);
  assert.deepEqual(rec.drives.map((d) => [d.pin, d.level]), [[12, 1], [12, 0]]);
  assert.ok(rec.audit.length > 0 && rec.crossings.length > 100);

  const result = await replay(rec);
  assert.equal(result.divergence, null);
  assert.equal(result.crossings, rec.crossings.length);
  assert.equal(result.clockReadings, rec.clock.length);
  assert.equal(result.auditEntries, rec.audit.length);
  assert.equal(result.traceEvents, rec.trace.length);
});

test("a real-clock run with a button pressed by a timer mid-run replays exactly", async () => {
  const recorder = new Recorder();
  const dev = new Device(recorder.config({ clock: new RealClock() }));
  recorder.attach(dev);
  dev.start(await dev.install(appFromDirectory(example("blink"))));
  dev.start(await dev.install(appFromDirectory(example("button"))));
  const timer = setInterval(() => dev.gpio.drive(12, dev.gpio.level(12) ? 0 : 1), 120);
  try {
    await dev.run({ untilMs: dev.clock.nowMs() + 1300 });
  } finally {
    clearInterval(timer);
  }
  const rec = recordingFromJson(recordingToJson(recorder.finish()));
  assert.ok(rec.drives.length >= 2, `presses were made during the run (${rec.drives.length})`);
  // Every clock reading of a real clock differs: nothing but the recording can reproduce them.
  assert.ok(new Set(rec.clock).size > rec.clock.length / 2);
  const result = await replay(rec);
  assert.equal(result.divergence, null);
  assert.equal(result.traceEvents, rec.trace.length);
});

test("a pin change with another level is reported at the crossing where it no longer happens", async () => {
  const rec = await recordVirtual();
  const notify = rec.crossings.findIndex((c) => c[0] === "export" && c[1] === "gpio_notify");
  assert.deepEqual(rec.crossings[notify].slice(0, 3), ["export", "gpio_notify", [12, 1]]);
  const changed = copy(rec);
  changed.drives[0].level = 0; // the pin is already low: the core is never told
  const result = await replay(changed);
  assert.ok(result.divergence);
  assert.equal(result.divergence.where, `crossing ${notify}`);
  assert.match(result.divergence.expected, /^export gpio_notify\(12, 1\) -> /);
  assert.doesNotMatch(result.divergence.actual, /gpio_notify/);
});

test("a changed clock reading is reported at the crossing that carries it", async () => {
  const rec = await recordVirtual();
  // The reading the scheduler is handed first after 600 ms of the run: the one taken just before that crossing.
  const at = rec.crossings.findIndex((c) => c[0] === "export" && c[1] === "sched_next" && (c[2][0] as number) > 600);
  const reading = rec.clockAt.lastIndexOf(at);
  assert.equal(rec.clock[reading], rec.crossings[at][2][0]);
  const changed = copy(rec);
  changed.clock[reading] += 0.25;
  const result = await replay(changed);
  assert.deepEqual(result.divergence, {
    where: `crossing ${at}`,
    expected: `export sched_next(${rec.clock[reading]}) -> ${rec.crossings[at][3]}`,
    actual: `export sched_next(${rec.clock[reading] + 0.25}) -> null`,
  });
});

test("a changed reading that nothing depends on changes nothing", async () => {
  const rec = await recordVirtual();
  // The run loop's own check of the time against its end: the crossing after it is not sched_next.
  const reading = rec.clockAt.findIndex((at, i) => i > 10 && rec.clockAt[i + 1] === at && rec.crossings[at]?.[1] === "sched_next");
  assert.ok(reading > 0);
  const changed = copy(rec);
  changed.clock[reading] += 0.001;
  assert.equal((await replay(changed)).divergence, null);
});

test("a changed byte of an app's module shows as a divergence, not as a silent difference", async () => {
  const rec = await recordVirtual();
  const changed = copy(rec);
  const wasm = Uint8Array.from(atob(changed.apps[0].modules["blink.wasm"]), (c) => c.charCodeAt(0));
  // blink's default half period (500 ms, which it logs and then sleeps) is a constant in its code:
  // find the i32.const 500 and make it 400; the run diverges where the log line or the sleep crosses.
  const at = wasm.findIndex((b, i) => b === 0x41 && wasm[i + 1] === 0xf4 && wasm[i + 2] === 0x03);
  assert.ok(at > 0, "blink's module holds i32.const 500");
  wasm[at + 1] = 0x90;
  changed.apps[0].modules["blink.wasm"] = btoa(String.fromCharCode(...wasm));
  const result = await replay(changed);
  assert.ok(result.divergence);
  assert.match(result.divergence.expected, /sleep_ms|syscall|app_copy_in/);
  assert.notEqual(result.divergence.expected, result.divergence.actual);
});

test("wasphere run --record and wasphere replay: identical, then the first divergence of an edited file", () => {
  const root = fileURLToPath(new URL("../../../", import.meta.url));
  const wasphere = (...args: string[]) => spawnSync(process.execPath, ["bin/wasphere.js", ...args], { cwd: root, encoding: "utf8", timeout: 120_000 });
  const dir = mkdtempSync(join(tmpdir(), "wasphere-replay-"));
  try {
    const file = join(dir, "run.json");
    const run = wasphere("run", "--seconds", "1", "--press", "12:300", "--quiet", "--record", file, "examples/blink", "examples/button");
    assert.equal(run.status, 0, run.stderr);
    assert.ok(run.stdout.includes(`recorded the run to ${file}`));
    const ok = wasphere("replay", file);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^replayed \d+ crossings of the core boundary, \d+ clock readings, \d+ pin changes: identical, with the same audit log \(\d+ entries\) and trace \(\d+ events\)\n$/);

    const rec = JSON.parse(readFileSync(file, "utf8")) as Recording;
    assert.ok(rec.drives.length > 0);
    rec.drives[0].level ^= 1;
    writeFileSync(file, JSON.stringify(rec));
    const bad = wasphere("replay", file);
    assert.equal(bad.status, 1);
    assert.match(bad.stdout, /^replay diverges at crossing \d+ \(after .*\):\n  recorded: export gpio_notify\(12, 1\) -> -?\d+\n  replayed: /);

    writeFileSync(file, "not json");
    const garbage = wasphere("replay", file);
    assert.equal(garbage.status, 1);
    assert.equal(garbage.stderr, `wasphere replay: ${file}: not a wasphere recording (not JSON)\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
