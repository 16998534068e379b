// The off-thread instrumenter and the in-memory package keep the caller's bytes: a Node Buffer
// (whose slice() is a view, not a copy) handed to them is still readable, and unchanged, after.
import { test } from "node:test";
import assert from "node:assert/strict";
import binaryen from "binaryen";
import { APP_FEATURES } from "../../host/apps/instrument.js";
import { instrumentOffThread } from "../../host/apps/instrument-async.js";
import { appInstrumentOptions } from "../../host/apps/imports.js";
import { appFromBytes } from "../../host/apps/package.js";
import { Device } from "../../host/device.js";
import { VirtualClock } from "../../host/peripherals/clock.js";

/** A module of more than 4 KiB in a Buffer of its own (a smaller one shares Node's untransferable pool). */
function moduleInBuffer(): Buffer {
  const mod = binaryen.parseText(`(module (memory (export "memory") 1) (data (i32.const 9000) "${"x".repeat(10_000)}")
    (func (export "main") (result i32) (i32.const 3)))`);
  mod.setFeatures(APP_FEATURES);
  const bytes = mod.emitBinary();
  mod.dispose();
  return Buffer.from(bytes);
}

test("instrumenting a Buffer off the thread leaves the caller's Buffer intact", async () => {
  const wasm = moduleInBuffer();
  const before = Buffer.from(wasm);
  assert.ok(wasm.length > 4096 && wasm.buffer.byteLength === wasm.length, "a Buffer with a memory of its own");
  await instrumentOffThread(wasm, appInstrumentOptions(65536));
  assert.equal(wasm.buffer.byteLength > 0, true, "not detached");
  assert.deepEqual(Buffer.from(wasm), before);
  await instrumentOffThread(wasm, appInstrumentOptions(65536));
});

test("an app held in memory from a Buffer installs again and again", async () => {
  const wasm = moduleInBuffer();
  const pkg = appFromBytes("again", { SchemaVersion: 1, Name: "again", ComponentId: "00000000-0000-4000-8000-0000000a9a10", EntryPoint: "a.wasm" }, wasm);
  for (let i = 0; i < 2; i++) {
    const dev = new Device({ clock: new VirtualClock() });
    const app = await dev.install(pkg);
    assert.ok(app.instrumentedBytes > wasm.length);
  }
  wasm[0] = 0xff; // the package holds its own copy
  assert.equal((await pkg.loadEntryPoint("a.wasm"))[0], 0);
});
