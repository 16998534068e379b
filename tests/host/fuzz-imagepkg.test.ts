// The image package fuzz target (tools/fuzz-imagepkg.ts), a short fixed-seed pass: edited
// packages through the core's pkg_parse and show's reading; plus the target's oracle checked on
// inputs whose verdict is known.
import { test } from "node:test";
import assert from "node:assert/strict";
import { imagepkgTarget } from "../../tools/fuzz-imagepkg.js";
import { caseSeed, Prng, runCases, runInput } from "../../tools/fuzz-lib.js";

test("400 cases of seed 1: no trap, agreement with the reference layout, no other error", async () => {
  const stats = await runCases(imagepkgTarget, { seed: 1, maxCases: 400 });
  assert.equal(stats.cases, 400);
  assert.deepEqual(stats.failures.map((f) => `case ${f.index}: ${f.message}`), []);
});

test("generation is deterministic, and edits reach past the CRCs", async () => {
  const a = await imagepkgTarget.generate(new Prng(caseSeed(1, 5)));
  assert.deepEqual(await imagepkgTarget.generate(new Prng(caseSeed(1, 5))), a);
  // Some cases get past pkg_parse's checks into the littlefs and manifest reading: count the
  // refusals by part over 400 cases, so a generator that only ever hits the trailer is caught.
  const { ModuleCore, flashHal } = await import("../../host/core.js");
  const { Flash } = await import("../../host/flash.js");
  const parts = new Map<string, number>();
  for (let i = 0; i < 400; i++) {
    const input = await imagepkgTarget.generate(new Prng(caseSeed(1, i)));
    const blocks = Math.max(1, Math.ceil(input.length / 4096));
    const image = new Uint8Array(blocks * 4096).fill(0xff);
    image.set(input);
    const core = new ModuleCore(flashHal(new Flash({ blockSizeBytes: 4096, blockCount: blocks }, image)));
    const rc = core.exports.pkg_parse(4096, 0, input.length);
    const part = typeof rc !== "number" ? "accepted" : /^image package: ([^:]+):/.exec(core.lastError())![1];
    parts.set(part, (parts.get(part) ?? 0) + 1);
  }
  for (const part of ["accepted", "trailer", "metadata", "littlefs image"]) assert.ok((parts.get(part) ?? 0) > 0, `${part}: ${JSON.stringify([...parts])}`);
  assert.ok([...parts.keys()].filter((p) => p.endsWith(" section")).length >= 3, JSON.stringify([...parts]));
});

test("the oracle passes an untouched package and refusals of garbage", async () => {
  const { packImage } = await import("../../host/apps/imagepkg.js");
  const enc = new TextEncoder();
  const pkg = await packImage({
    files: [{ path: "app_manifest.json", bytes: enc.encode(JSON.stringify({ SchemaVersion: 1, Name: "n", ComponentId: "1689d8b2-c835-2e27-27ad-e894d6d15fa9", EntryPoint: "a.wasm" })) }, { path: "a.wasm", bytes: new Uint8Array(8) }],
    componentId: "1689d8b2-c835-2e27-27ad-e894d6d15fa9", imageVersion: 1, buildTimeSeconds: 0, name: "n",
  });
  assert.equal(await runInput(imagepkgTarget, pkg), null);
  for (const input of [new Uint8Array(0), new Uint8Array(300), pkg.subarray(0, pkg.length - 1), enc.encode("WSPK")]) {
    assert.equal(await runInput(imagepkgTarget, input), null);
  }
});
