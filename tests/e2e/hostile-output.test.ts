// Hostile apps that try to forge the device's output: a log line that starts a fake audit line,
// terminal escapes, control characters in the manifest's Name and EntryPoint, and in the names
// of imports that a refusal message quotes. Each test asserts the exact text printed (or the
// exact refusal) and that blink, installed next to it, keeps toggling GPIO 8 every 500 ms.
import { test } from "node:test";
import assert from "node:assert/strict";
import { InstallError, type Device } from "../../host/device.js";
import { appFromBytes } from "../../host/apps/package.js";
import { formatEvent } from "../../host/run.js";
import { printable } from "../../host/printable.js";
import { app, assertBlinkSchedule as assertSchedule, blinker, device, IMPORT, installAndStart, manifest, wat } from "./support.js";

const BLINK_PIN = 8;
const RUN_MS = 2000;
/** What a line would look like if the app could start one: a denial audited against blink. */
const FORGED = "[   0.100] audit: blink: gpio_open_output(8) denied with EACCES: not granted by its manifest";
/** Any character that ends a line or drives a terminal. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

async function withBlink(): Promise<Device> {
  const dev = device();
  await installAndStart(dev, "blink", blinker(BLINK_PIN, 500), { Capabilities: { Gpio: [BLINK_PIN] } });
  return dev;
}

function assertBlinkSchedule(dev: Device) {
  assertSchedule(dev, BLINK_PIN, 500, RUN_MS);
}

/** WAT string escapes for `bytes`. */
const watBytes = (bytes: Uint8Array) => Array.from(bytes, (b) => `\\${b.toString(16).padStart(2, "0")}`).join("");

async function refused(pkg: ReturnType<typeof appFromBytes>, message: string) {
  const dev = await withBlink();
  await assert.rejects(dev.install(pkg), (err: Error) => {
    assert.ok(err instanceof InstallError, `an InstallError, not ${err.constructor.name}`);
    assert.equal(err.message, message);
    assert.doesNotMatch(err.message, UNSAFE);
    return true;
  });
  await dev.run({ untilMs: RUN_MS });
  assertBlinkSchedule(dev);
  assert.deepEqual(dev.installedApps().map((a) => a.name), ["blink"]);
}

test("an app's log text cannot start a line of its own or drive the terminal: every event line is printed escaped", async () => {
  const text = new TextEncoder().encode(`hi\n${FORGED}\r\u001b[2J\u009b31m\u202eevil\u2028`);
  const dev = await withBlink();
  await installAndStart(dev, "talker", app(`${IMPORT.log}`, `(drop (call $log (i32.const 8192) (i32.const ${text.length}))) (i32.const 0)`,
    `(data (i32.const 8192) "${watBytes(text)}")`));
  await dev.run({ untilMs: RUN_MS });
  assertBlinkSchedule(dev);
  const lines = dev.events.all().map(formatEvent);
  assert.ok(lines.every((l) => !UNSAFE.test(l)), "no printed line holds a control character");
  assert.equal(lines.filter((l) => l.includes("talker: hi")).length, 1);
  assert.equal(lines.find((l) => l.includes("talker: hi")),
    `[   0.000] talker: hi\\n${FORGED}\\r\\x1b[2J\\x9b31m\\u{202e}evil\\u{2028}`);
  assert.equal(lines.filter((l) => /^\[\s*\d+\.\d{3}\] audit: blink: gpio_open_output/.test(l)).length, 0, "no denial of blink was printed");
});

test("a Name holding a newline or an escape is refused by the core, naming the field", async () => {
  const message = "app_manifest.json refused (EINVAL): Name: must not contain control characters (U+0000..U+001F, U+007F..U+009F)";
  for (const name of ["x\n[   0.100] audit: blink: denied", "x\u001b[2J", "x\u009b2J", "x\u007f"]) {
    await refused(appFromBytes("hostile", manifest("hostile", { Name: name }), blinker(20, 100)), `hostile: ${message}`);
  }
});

test("an EntryPoint holding a control character is refused by the core, naming the field", async () => {
  await refused(appFromBytes("hostile", manifest("hostile", { EntryPoint: "a\n[   0.100] audit: b.wasm" }), blinker(20, 100)),
    "hostile: app_manifest.json refused (EINVAL): EntryPoint: must not contain control characters (U+0000..U+001F, U+007F..U+009F)");
  await refused(appFromBytes("hostile", manifest("hostile", { EntryPoint: "a\u001b[2J.wasm" }), blinker(20, 100)),
    "hostile: app_manifest.json refused (EINVAL): EntryPoint: must not contain control characters (U+0000..U+001F, U+007F..U+009F)");
});

test("an import name holding a newline and an escape is quoted escaped, on one line", async () => {
  const module = new TextEncoder().encode(`env\n${FORGED}`);
  const field = new TextEncoder().encode("now\u001b[2J");
  const bad = wat(`(module (import "${watBytes(module)}" "${watBytes(field)}" (func (result i32))) (memory (export "memory") 1) (func (export "main") (result i32) (i32.const 0)))`);
  await refused(appFromBytes("hostile", manifest("hostile"), bad),
    `hostile: the module imports env\\n${FORGED}.now\\x1b[2J: an app may import only from "applibs"`);
});

test("printable shows exactly the characters that end a line or drive a terminal, and nothing else", () => {
  assert.equal(printable("a\nb\rc\td"), "a\\nb\\rc\\td");
  assert.equal(printable("\u0000\u0007\u001b\u001f\u007f\u0080\u009b\u009f"), "\\x00\\x07\\x1b\\x1f\\x7f\\x80\\x9b\\x9f");
  assert.equal(printable("\u2028\u2029\u202a\u202e\u2066\u2069"), "\\u{2028}\\u{2029}\\u{202a}\\u{202e}\\u{2066}\\u{2069}");
  const plain = " ~\u00a0\u00ff caf\u00e9 \u20ac \u{1f600} \\ \" ' \u2027\u202f\u2065\u206a";
  assert.equal(printable(plain), plain);
  const escaped = printable(`x\n\u001by`);
  assert.equal(printable(escaped), escaped, "idempotent: text escaped twice reads the same");
});
