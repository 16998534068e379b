// Shared by the end-to-end tests: tiny inline apps in WAT, manifests, and a device on a virtual
// clock so every run sees the same schedule in no real time.
import assert from "node:assert/strict";
import binaryen from "binaryen";
import { APP_FEATURES } from "../../host/apps/instrument.js";
import { Device, type DeviceConfig, type InstalledApp } from "../../host/device.js";
import { VirtualClock } from "../../host/peripherals/clock.js";
import { fileURLToPath } from "node:url";
import { appFromBytes, appFromDirectory } from "../../host/apps/package.js";

/** Assembles WAT text into a module. */
export function wat(text: string): Uint8Array<ArrayBuffer> {
  const mod = binaryen.parseText(text);
  mod.setFeatures(APP_FEATURES);
  if (!mod.validate()) throw new Error("invalid WAT in test");
  const bytes = new Uint8Array(mod.emitBinary());
  mod.dispose();
  return bytes;
}

let guidCounter = 0;
export function manifest(name: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  guidCounter++;
  const id = `00000000-0000-4000-8000-${guidCounter.toString(16).padStart(12, "0")}`;
  return { SchemaVersion: 1, Name: name, ComponentId: id, EntryPoint: `${name}.wasm`, CmdArgs: [], Capabilities: {}, ...fields };
}

export function device(config: DeviceConfig = {}): Device {
  return new Device({ clock: new VirtualClock(), ...config });
}

export async function installAndStart(dev: Device, name: string, wasm: Uint8Array, fields: Record<string, unknown> = {}): Promise<InstalledApp> {
  const app = await dev.install(appFromBytes(name, manifest(name, fields), wasm));
  dev.start(app);
  return app;
}

/** The exit codes an app reported, in order. */
export function exitCodes(dev: Device, app: string): number[] {
  return dev.events.of("app").filter((e) => e.app === app && e.what === "exited").map((e) => Number(e.detail?.replace("code ", "")));
}

/** An app whose `main` runs `body` (WAT instructions) with the applibs imports it names. */
export function app(imports: string, body: string, extra = ""): Uint8Array {
  return wat(`(module
    ${imports}
    (memory (export "memory") 1)
    ${extra}
    (func (export "main") (result i32) ${body}))`);
}

export const IMPORT = {
  exit: `(import "applibs" "exit" (func $exit (param i32)))`,
  log: `(import "applibs" "log" (func $log (param i32 i32) (result i32)))`,
  sleep: `(import "applibs" "sleep_ms" (func $sleep (param i32) (result i32)))`,
  yield: `(import "applibs" "yield" (func $yield (result i32)))`,
  out: `(import "applibs" "gpio_open_output" (func $out (param i32 i32) (result i32)))`,
  in: `(import "applibs" "gpio_open_input" (func $in (param i32) (result i32)))`,
  set: `(import "applibs" "gpio_set" (func $set (param i32 i32) (result i32)))`,
  get: `(import "applibs" "gpio_get" (func $get (param i32) (result i32)))`,
  close: `(import "applibs" "close" (func $close (param i32) (result i32)))`,
  wait: `(import "applibs" "wait" (func $wait (param i32 i32) (result i32)))`,
  waitAny: `(import "applibs" "wait_any" (func $waitAny (param i32 i32 i32) (result i32)))`,
  timer: `(import "applibs" "timer_create" (func $timer (param i32) (result i32)))`,
  quota: `(import "applibs" "mem_quota_bytes" (func $quota (result i32)))`,
};

/** A well-behaved app that toggles `pin` every `periodMs`, forever. */
export function blinker(pin: number, periodMs: number): Uint8Array {
  return app(`${IMPORT.out} ${IMPORT.set} ${IMPORT.sleep}`, `
    (local $h i32) (local $on i32)
    (local.set $h (call $out (i32.const ${pin}) (i32.const 0)))
    (loop $forever
      (local.set $on (i32.xor (local.get $on) (i32.const 1)))
      (drop (call $set (local.get $h) (local.get $on)))
      (drop (call $sleep (i32.const ${periodMs})))
      (br $forever))
    (i32.const 0)`);
}

/** How many times the device drove `pin`. */
export function toggles(dev: Device, pin: number): number {
  return dev.events.of("gpio").filter((e) => e.pin === pin && e.source === "core").length;
}

/** `pin` was driven exactly on a blinker's schedule: low at 0, then a toggle every `halfPeriodMs` before `untilMs`. */
export function assertBlinkSchedule(dev: Device, pin: number, halfPeriodMs: number, untilMs: number): void {
  const seen = dev.events.of("gpio").filter((e) => e.pin === pin && e.source === "core").map((e) => [e.timeMs, e.level]);
  const expected: number[][] = [[0, 0]];
  for (let k = 0; k * halfPeriodMs < untilMs; k++) expected.push([k * halfPeriodMs, (k + 1) % 2]);
  assert.deepEqual(seen, expected, `GPIO ${pin} toggled every ${halfPeriodMs} ms`);
}

export const example = (name: string) => fileURLToPath(new URL(`../../../examples/${name}`, import.meta.url));

/**
 * The demo's run: examples/blink and examples/button installed from their directories and started,
 * then 2 s of device time with the button (GPIO 12) pressed at 1000 ms and released at 1200 ms.
 */
export async function runBlinkAndButton(dev: Device): Promise<{ blink: InstalledApp; button: InstalledApp }> {
  const blink = await dev.install(appFromDirectory(example("blink")));
  const button = await dev.install(appFromDirectory(example("button")));
  dev.start(blink);
  dev.start(button);
  await dev.run({ untilMs: 1000 });
  dev.gpio.drive(12, 1);
  await dev.run({ untilMs: 1200 });
  dev.gpio.drive(12, 0);
  await dev.run({ untilMs: 2000 });
  return { blink, button };
}
