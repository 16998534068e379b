// The core's heap as the memory map shows it: what installed apps cost the core comes back, in
// one piece, when they are uninstalled, in any order.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { appFromBytes } from "../../host/apps/package.js";
import { app, device, manifest } from "./support.js";

/** Installs apps whose names and arguments make heap blocks of distinct sizes. */
async function installThree() {
  const dev = device();
  const before = dev.memoryMap();
  const slots: number[] = [];
  for (const [name, args] of [["first-app", ["a".repeat(40)]], ["second", ["b".repeat(100), "c"]], ["third-app-of-three", []]] as const) {
    const installed = await dev.install(appFromBytes(name, manifest(name, { CmdArgs: args }), app("", `(i32.const 0)`)));
    slots.push(installed.slot);
  }
  const during = dev.memoryMap();
  assert.ok(during.heapSpanBytes > before.heapSpanBytes && during.heapInUseBytes > before.heapInUseBytes, "the apps' strings are on the heap");
  return { dev, before, slots };
}

test("uninstalling the middle, then the first, then the last app gives the whole heap span back", async () => {
  // The first app's block is freed after the second's, just below it: they must merge, and the
  // merged block then merges with the last one and goes back to the unused region.
  const { dev, before, slots } = await installThree();
  const e = dev.core.exports;
  for (const i of [1, 0, 2]) assert.equal(e.app_uninstall(slots[i]), 0);
  const after = dev.memoryMap();
  assert.equal(after.heapInUseBytes, before.heapInUseBytes);
  assert.equal(after.heapSpanBytes, before.heapSpanBytes);
  assert.equal(after.freeBytes, before.freeBytes);
});

test("two neighbouring freed blocks serve one allocation as large as both, without growing the heap", async () => {
  const { dev, slots } = await installThree();
  const e = dev.core.exports;
  const span = dev.memoryMap().heapSpanBytes;
  assert.equal(e.app_uninstall(slots[1]), 0);
  assert.equal(e.app_uninstall(slots[0]), 0);
  // Strings as long as the first two apps' together (less one header): fit only in the merged hole.
  const big = await dev.install(appFromBytes("x", manifest("x", { CmdArgs: ["d".repeat(140)] }), app("", `(i32.const 0)`)));
  assert.equal(dev.memoryMap().heapSpanBytes, span, "the merged hole took it");
  assert.ok(e.app_core_bytes(big.slot) > abi.APP_NAME_MAX_BYTES);
});
