// A metadata pair with one damaged block: which block mounts, what is listed, and that the port's
// next writes keep the image mountable and read back after a remount. Hand-built from the fixture
// bs512-renames-deletes, whose directory /a is the pair of blocks 187 (revision 1, its older
// state, written to the end of the block) and 188 (revision 2, nine commits, to the end of the
// block), and whose root {0,1} has block 0 current (revision 3, commits up to byte 384, erased
// after). Rules checked (SPEC.md, metadata pairs): the block with the newer revision (sequence
// comparison) is current unless it holds no valid commit, then the other one is; a block is read
// up to its last commit whose CRC matches; a commit is appended only after bytes the last commit's
// FCRC proves still erased, else the pair is compacted into its other block with the revision
// after the current one, so that the next mount picks it; and the gstate a lost commit leaves
// uncancelled is not taken for a pending move (littlefs.ts, moveSound).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { crc32 } from "node:zlib";
import { Flash } from "../../host/flash.js";
import { LittleFs, type FsConfig } from "../../host/fs/littlefs.js";
import { assertImageSound } from "./fs-image-check.js";

const BS = 512;
const CFG: FsConfig = { blockSize: BS, blockCount: 256, readSize: 16, progSize: 16, cacheSize: 64, lookaheadSize: 16, blockCycles: 500, nameMax: 255, inlineMax: 0 };
const fixture = new URL("../../../tests/fixtures/littlefs/bs512-renames-deletes.img", import.meta.url);

const OTHERS = ["/b/", "/b/f07:5", "/b/f10:5", "/b/f13:1029", "/b/moved-from-elsewhere:545", "/c2/", "/c2/f01:32", "/c2/f08:32", "/c2/sub/", "/c2/sub/f00:5", "/c2/sub/f03:5"];
/** /a as block 188 holds it in full (the fixture's tree), after its first commit only (= block
 *  187's state), after its commits up to byte 288, and up to byte 432. */
const A_FULL = ["/a/f06:259", "/a/f09:12", "/a/f11:545", "/a/zz-final.txt:77"];
const A_187 = ["/a/f02:32", "/a/f04:5", "/a/f06:545", "/a/f09:1536", "/a/f11:545", "/a/f12:0"];
const A_TO_288 = ["/a/f06:545", "/a/f09:1536", "/a/f11:545"];
const A_TO_432 = ["/a/f06:259", "/a/f09:12", "/a/f11:545"];

const rev = (img: Uint8Array, block: number): number => new DataView(img.buffer, img.byteOffset).getUint32(block * BS, true);
const flip = (img: Uint8Array, block: number, off: number): void => { img[block * BS + off] ^= 2; };

/** The end offsets of block `block`'s commits whose CRC matches, read forwards as a mount does. */
function validCommitEnds(img: Uint8Array, block: number): number[] {
  const b = img.subarray(block * BS, (block + 1) * BS);
  const v = new DataView(b.buffer, b.byteOffset, BS);
  const ends: number[] = [];
  let off = 4, ptag = 0xffffffff, start = 0;
  while (off + 4 <= BS) {
    const tag = (v.getUint32(off) ^ ptag) >>> 0;
    if (tag >>> 31) break;
    const size = tag & 0x3ff, dsize = 4 + (size === 0x3ff ? 0 : size);
    if (off + dsize > BS) break;
    if (((tag >>> 20) & 0x780) === 0x500) {
      // CRC-32 without its final XOR, from the commit's first byte through the CRC tag.
      if (((crc32(b.subarray(start, off + 4)) ^ 0xffffffff) >>> 0) !== v.getUint32(off + 4, true)) break;
      ptag = (tag ^ ((((tag >>> 20) & 1)) << 31)) >>> 0;
      off += dsize; start = off; ends.push(off);
      continue;
    }
    ptag = tag; off += dsize;
  }
  return ends;
}

/** Sets block `block`'s revision and re-seals its first commit, whose CRC covers the revision. */
function setRevision(img: Uint8Array, block: number, value: number): void {
  const v = new DataView(img.buffer, img.byteOffset + block * BS, BS);
  v.setUint32(0, value, true);
  let off = 4, ptag = 0xffffffff;
  for (;;) {
    const tag = (v.getUint32(off) ^ ptag) >>> 0;
    if (((tag >>> 20) & 0x780) === 0x500) break;
    off += 4 + ((tag & 0x3ff) === 0x3ff ? 0 : tag & 0x3ff); ptag = tag;
  }
  v.setUint32(off + 4, (crc32(img.subarray(block * BS, block * BS + off + 4)) ^ 0xffffffff) >>> 0, true);
}

function tree(fs: LittleFs): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdir(dir)) {
      out.push(dir + e.name + (e.type === "dir" ? "/" : `:${e.size}`));
      if (e.type === "dir") walk(dir + e.name + "/");
    }
  };
  walk("/");
  return out;
}

/**
 * Mounts the damaged image, checks the listing, writes /a/new (into the damaged pair) and /new
 * (into the root), unmounts, mounts again: the listing must be the old one plus both files, both
 * files read back, the image passes the structural checks. Returns the image after the writes.
 */
function writeAfterDamage(img: Uint8Array, listedA: string[], cfg = CFG): Uint8Array {
  const flash = new Flash({ blockSizeBytes: BS, blockCount: 256 }, img);
  const fs = LittleFs.mount(flash, cfg);
  assert.deepEqual(tree(fs), ["/a/", ...listedA, ...OTHERS]);
  fs.writeFile("/a/new", new Uint8Array(10).fill(7));
  fs.writeFile("/new", new Uint8Array(10).fill(1));
  fs.unmount();
  const again = LittleFs.mount(flash, cfg);
  const withNew = [...listedA, "/a/new:10"].sort((x, y) => (x < y ? -1 : 1));
  assert.deepEqual(tree(again), ["/a/", ...withNew, ...OTHERS, "/new:10"]);
  assert.deepEqual([...again.readFile("/a/new")], new Array(10).fill(7));
  assert.deepEqual([...again.readFile("/new")], new Array(10).fill(1));
  again.unmount();
  assertImageSound(flash.bytes, cfg, "after the writes");
  return flash.bytes;
}

const load = (): Uint8Array => new Uint8Array(readFileSync(fixture));

test("the fixture's pairs as the cases below assume them", () => {
  const img = load();
  assert.deepEqual([rev(img, 187), rev(img, 188), rev(img, 0), rev(img, 1)], [1, 2, 3, 2]);
  assert.deepEqual(validCommitEnds(img, 188), [160, 208, 256, 288, 336, 368, 400, 432, 512]);
  assert.equal(validCommitEnds(img, 187).at(-1), 512);
  assert.equal(validCommitEnds(img, 0).at(-1), 384);
  assert.ok(img.subarray(384, BS).every((x) => x === 0xff));
  const after = writeAfterDamage(img, A_FULL);
  // Nothing damaged: /a's new entry compacts into 187 (188 is full), as revision 3.
  assert.equal(rev(after, 187), 3);
});

test("a flip in the first commit of the newer block: the older block mounts; the write compacts into the newer one as the next revision", () => {
  const img = load();
  flip(img, 188, 51);
  assert.deepEqual(validCommitEnds(img, 188), []);
  const after = writeAfterDamage(img, A_187);
  // 187 (revision 1) is current and full: compacted into 188 as revision 2, which the next mount prefers.
  assert.deepEqual([rev(after, 187), rev(after, 188)], [1, 2]);
  assert.deepEqual(validCommitEnds(after, 187), validCommitEnds(load(), 187));
});

test("a flip in a later commit of the newer block: it mounts up to the last good commit; nothing is appended after the bad one", () => {
  for (const [at, listed, goodTo] of [[300, A_TO_288, 288], [440, A_TO_432, 432]] as const) {
    const img = load();
    flip(img, 188, at);
    assert.equal(validCommitEnds(img, 188).at(-1), goodTo);
    const after = writeAfterDamage(img, listed);
    // Compacted into 187 as revision 3; 188 keeps exactly its bytes (no commit after the bad one).
    assert.equal(rev(after, 187), 3, `flip at ${at}`);
    assert.deepEqual(after.subarray(188 * BS, 189 * BS), img.subarray(188 * BS, 189 * BS), `flip at ${at}`);
  }
});

test("the older block damaged instead: the newer one mounts as undamaged; the write compacts over the damaged one", () => {
  const img = load();
  flip(img, 187, 51);
  assert.deepEqual(validCommitEnds(img, 187), [32]);
  const after = writeAfterDamage(img, A_FULL);
  assert.deepEqual([rev(after, 187), rev(after, 188)], [3, 2]);
});

test("revisions wrapping: 0 is newer than 0xffffffff, and the compaction after 0xffffffff is revision 0", () => {
  // block_cycles -1: revision 0 would otherwise be a wear-leveling relocation (0 % 501 == 0).
  const cfg = { ...CFG, blockCycles: -1 };
  const whole = load();
  setRevision(whole, 187, 0xffffffff);
  setRevision(whole, 188, 0);
  // 188 (revision 0) is current: /a as the fixture lists it; the write compacts into 187 as revision 1.
  let after = writeAfterDamage(whole.slice(), A_FULL, cfg);
  assert.deepEqual([rev(after, 187), rev(after, 188)], [1, 0]);
  const broken = whole.slice();
  flip(broken, 188, 51);
  // 188 has no valid commit: 187 (0xffffffff) is current; compacted into 188 as revision 0.
  after = writeAfterDamage(broken, A_187, cfg);
  assert.deepEqual([rev(after, 187), rev(after, 188)], [0xffffffff, 0]);
});

test("a flipped bit in the erased tail after the last commit: no commit is left over it", () => {
  // At byte 390 the flip is inside the prog unit the last commit's FCRC covers: nothing is
  // appended, block 0 keeps its bytes. At 411 it is past that unit, where the append's CRC tag
  // goes (a bit the program must set): the append is tried, fails its program check, and the
  // root is compacted instead; in block 0 that try is no commit.
  for (const at of [390, 411]) {
    const img = load();
    flip(img, 0, at);
    const after = writeAfterDamage(img, A_FULL);
    assert.deepEqual([rev(after, 0), rev(after, 1)], [3, 4], `flip at ${at}`);
    assert.equal(validCommitEnds(after, 0).at(-1), 384, `flip at ${at}`);
    assert.equal(at !== 390 || Buffer.compare(after.subarray(0, BS), img.subarray(0, BS)) === 0, true, `flip at ${at}: block 0 untouched`);
  }
});
