// The littlefs fuzz target (tools/fuzz-littlefs.ts), a short fixed-seed pass over damaged fixture
// images and images the port wrote; and the damaged image the target found where the port's own
// write made the image unmountable.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { littlefsTarget } from "../../tools/fuzz-littlefs.js";
import { runCases, runInput } from "../../tools/fuzz-lib.js";
import { Flash } from "../../host/flash.js";
import { LittleFs } from "../../host/fs/littlefs.js";

const corpus = new URL("../../../tests/fuzz-corpus/littlefs/", import.meta.url);
const fixtures = new URL("../../../tests/fixtures/littlefs/", import.meta.url);

test("cases 0-149 of seed 1: no trap, consistent listings, written data reads back", async () => {
  const stats = await runCases(littlefsTarget, { seed: 1, maxCases: 150 });
  assert.equal(stats.cases, 150);
  assert.deepEqual(stats.failures.map((f) => `case ${f.index}: ${f.message}`), []);
});

test("an undamaged image passes every check of the target", async () => {
  const input = { base: "bs512-renames-deletes", geometry: { blockSize: 512, blockCount: 256, readSize: 16, progSize: 16, cacheSize: 64, lookaheadSize: 16, blockCycles: 500, nameMax: 255 }, mountBlockCount: 256, edits: [], scriptSeed: 483644699 };
  assert.equal(await runInput(littlefsTarget, new TextEncoder().encode(JSON.stringify(input))), null);
});

// Found by `npm run fuzz -- --target littlefs --seed 1` (case 261), reduced to one edit: bit 1 of
// byte 96307 (block 188, offset 51) flipped in bs512-renames-deletes. Blocks 187 (revision 1) and
// 188 (revision 2) are the pair of /a: the flip breaks the newer block's only first commit, so /a
// is read at 187's older state. The gstate is the XOR of every pair's delta; without 188's the
// others no longer cancel and name id 0 of {0,1}, the superblock entry, as a pending move. Taking
// that for a move, the first write deleted the superblock entry (ECORRUPT at the next mount); the
// port now only finishes a move that names a file or directory of a listed pair (moveSound).
// Sibling cases, hand-built: tests/host/fs-pair-damage.test.ts.
test("a flipped bit in one block of a metadata pair: the port's own write leaves the image mountable", async () => {
  assert.equal(await runInput(littlefsTarget, new Uint8Array(readFileSync(new URL("remount-after-flip-in-block-188.json", corpus)))), null);
  const img = new Uint8Array(readFileSync(new URL("bs512-renames-deletes.img", fixtures)));
  img[96307] ^= 2;
  const cfg = { blockSize: 512, blockCount: 256, readSize: 16, progSize: 16, cacheSize: 64, lookaheadSize: 16, blockCycles: 500, nameMax: 255, inlineMax: 0 };
  const flash = new Flash({ blockSizeBytes: 512, blockCount: 256 }, img);
  const fs = LittleFs.mount(flash, cfg);
  fs.writeFile("/new", new Uint8Array(10).fill(1));
  fs.unmount();
  const again = LittleFs.mount(flash, cfg);
  assert.deepEqual(again.readdir("/").map((e) => e.name), ["a", "b", "c2", "new"]);
  assert.deepEqual([...again.readFile("/new")], new Array(10).fill(1));
  assert.deepEqual(again.checkStructure(), { fault: 0, detail: [] });
});
