// Wear: with block_cycles set, a long rewrite workload must spread erases over the device instead
// of wearing out the metadata pair it keeps rewriting (at most one relocation period per block per
// allocator lap); and blocks that the device refuses to program or erase (bad blocks) must be
// written around with every byte of data intact.
import test from "node:test";
import assert from "node:assert/strict";
import { Flash } from "../../host/flash.js";
import { LittleFs } from "../../host/fs/littlefs.js";
import { seededBytes } from "../../tools/seeded-bytes.js";
import { assertImageSound } from "./fs-image-check.js";


type Fs = LittleFs;
interface Config { blockSize: number; blockCount: number; readSize: number; progSize: number; cacheSize: number; lookaheadSize: number; blockCycles: number }

const config = (blockCycles: number): Config => ({ blockSize: 512, blockCount: 128, readSize: 16, progSize: 16, cacheSize: 64, lookaheadSize: 16, blockCycles });

const bytes = seededBytes;

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.from(a).equals(Buffer.from(b));

async function mount(flash: Flash, cfg: Config): Promise<Fs> {
  return LittleFs.mount(flash, cfg);
}

interface Wear { max: number; mean: number; total: number; hottest: number; blocksErased: number }

function wear(flash: Flash): Wear {
  const counts = [...flash.eraseCounts];
  const total = counts.reduce((a, b) => a + b, 0);
  const max = Math.max(...counts);
  return { max, mean: total / counts.length, total, hottest: counts.indexOf(max), blocksErased: counts.filter((c) => c > 0).length };
}

/** Rewrites a small config file (inline, so only metadata changes) and one attribute, many times. */
async function rewriteWorkload(blockCycles: number, rounds: number) {
  const cfg = config(blockCycles);
  const flash = new Flash({ blockSizeBytes: cfg.blockSize, blockCount: cfg.blockCount });
  await LittleFs.format(flash, cfg);
  const lfs = await mount(flash, cfg);
  lfs.mkdir("/etc");
  lfs.writeFile("/etc/blob", bytes(1, 3000));
  for (let i = 0; i < rounds; i++) {
    lfs.writeFile("/etc/settings", bytes(100 + i, 40 + (i % 9)));
    if (i % 3 === 0) lfs.setattr("/etc", 9, bytes(7 + i, 8));
  }
  const last = bytes(100 + rounds - 1, 40 + ((rounds - 1) % 9));
  assert.ok(same(lfs.readFile("/etc/settings"), last), "last rewrite reads back");
  assert.ok(same(lfs.readFile("/etc/blob"), bytes(1, 3000)), "untouched file intact");
  lfs.traverse();
  lfs.unmount();
  assertImageSound(flash.bytes, cfg, `rewrite workload, block_cycles ${blockCycles}`);
  return wear(flash);
}

const fmt = (w: Wear) => `max ${w.max}, mean ${w.mean.toFixed(2)}, total ${w.total}, ${w.blocksErased}/128 blocks ever erased, hottest block ${w.hottest}`;

test("block_cycles spreads the erases of a long rewrite workload", async (t) => {
  // littlefs levels wear dynamically: a metadata pair moves to a newly allocated block when its
  // revision count reaches a multiple of (block_cycles+1)|1, and the allocator's lookahead only
  // moves forward through the device, so a block is handed out again only after the allocator has
  // gone once around. Until then no block takes more than one period of erases, and `total`
  // erases need at least total/period distinct blocks. Blocks of files that are never rewritten
  // are not moved (no static wear leveling), so "most of the device" is no guarantee for a short
  // run: 3000 rewrites make ~700 erases, ~80 relocations, and reach ~90 of 128 blocks.
  const blockCycles = 8;
  const period = (blockCycles + 1) | 1;
  const rounds = 3000;
  const leveled = await rewriteWorkload(blockCycles, rounds);
  const pinned = await rewriteWorkload(-1, rounds);
  // Four times as long: the allocator wraps around the device several times.
  const longRounds = 4 * rounds;
  const lapped = await rewriteWorkload(blockCycles, longRounds);
  const lines = [
    `${rounds} rewrites, 128 blocks of 512 B, block_cycles ${blockCycles} (relocation every ${period} revisions)`,
    `block_cycles ${blockCycles}:  ${fmt(leveled)}, max/mean ${(leveled.max / leveled.mean).toFixed(2)}`,
    `block_cycles -1: ${fmt(pinned)}, max/mean ${(pinned.max / pinned.mean).toFixed(2)}`,
    `${longRounds} rewrites, block_cycles ${blockCycles}: ${fmt(lapped)}, max/mean ${(lapped.max / lapped.mean).toFixed(2)}`,
  ];
  for (const l of lines) { t.diagnostic(l); console.log(l); }
  // Without wear leveling every compaction of the directory erases the same two blocks.
  assert.ok(pinned.max >= pinned.total / 4, `without wear leveling one pair should take the erases (${fmt(pinned)})`);
  // Before the allocator wraps: at most one relocation period per block.
  assert.ok(leveled.blocksErased < 128, `the short run must not wrap the allocator (${fmt(leveled)})`);
  assert.ok(leveled.max <= period, `before the allocator wraps no block may take more than ${period} erases (${fmt(leveled)})`);
  assert.ok(leveled.blocksErased >= Math.ceil(leveled.total / period), `${leveled.total} erases need at least ${Math.ceil(leveled.total / period)} blocks (${fmt(leveled)})`);
  assert.ok(leveled.max * 4 <= pinned.max, `wear leveling should cut the hottest block's erases at least 4x (${leveled.max} vs ${pinned.max})`);
  // After several laps every block has been handed out, and each lap adds at most one period
  // to a block, so the hottest block stays within two periods of the mean.
  assert.equal(lapped.blocksErased, 128, `after wrapping the allocator reaches every block (${fmt(lapped)})`);
  assert.ok(lapped.max <= lapped.mean + 2 * period, `after wrapping: max ${lapped.max} > mean ${lapped.mean.toFixed(2)} + ${2 * period}`);
});

test("bad blocks are written around with data intact", async (t) => {
  const cfg = config(100);
  const flash = new Flash({ blockSizeBytes: cfg.blockSize, blockCount: cfg.blockCount });
  await LittleFs.format(flash, cfg);
  let lfs = await mount(flash, cfg);
  lfs.writeFile("/before", bytes(5, 2500));

  // The pair a new directory lands in goes bad: found as the blocks mkdir changed outside {0,1}.
  const snap = new Uint8Array(flash.bytes);
  lfs.mkdir("/dir");
  const dirPair: number[] = [];
  for (let b = 2; b < cfg.blockCount; b++) {
    const at = b * cfg.blockSize;
    if (!Buffer.from(snap.subarray(at, at + cfg.blockSize)).equals(Buffer.from(flash.bytes.subarray(at, at + cfg.blockSize)))) dirPair.push(b);
  }
  assert.ok(dirPair.length >= 1, "mkdir wrote a new metadata pair");
  // Plus every fourth block of the device outside the superblock pair: data blocks the allocator
  // will hand out.
  const bad = new Set<number>(dirPair);
  for (let b = 3; b < cfg.blockCount; b += 4) bad.add(b);
  const badContent = new Map([...bad].map((b) => [b, new Uint8Array(flash.bytes.subarray(b * cfg.blockSize, (b + 1) * cfg.blockSize))]));
  const erasesBefore = [...bad].map((b) => flash.eraseCounts[b]);
  for (const b of bad) flash.badBlocks.add(b);

  const files = new Map<string, Uint8Array>();
  for (let i = 0; i < 24; i++) {
    const path = `/dir/file-${i}`;
    const data = bytes(1000 + i, i % 3 === 0 ? 30 : 700 + i * 13);
    lfs.writeFile(path, data);
    files.set(path, data);
  }
  for (let i = 0; i < 24; i += 5) {
    const path = `/dir/file-${i}`;
    const data = bytes(2000 + i, 1100);
    lfs.writeFile(path, data);
    files.set(path, data);
  }
  lfs.unmount();

  lfs = await mount(flash, cfg);
  for (const [path, data] of files) assert.ok(same(lfs.readFile(path), data), `${path} intact`);
  assert.ok(same(lfs.readFile("/before"), bytes(5, 2500)), "/before intact");
  lfs.traverse();
  lfs.unmount();
  // A fresh core over the same bytes, with the bad blocks healed, sees the same thing.
  const fresh = await mount(flash.clone(), cfg);
  for (const [path, data] of files) assert.ok(same(fresh.readFile(path), data), `${path} intact on a fresh mount`);
  fresh.unmount();
  assertImageSound(flash.clone().bytes, cfg, "image after bad-block relocations");

  for (const [b, content] of badContent) assert.ok(Buffer.from(content).equals(Buffer.from(flash.bytes.subarray(b * cfg.blockSize, (b + 1) * cfg.blockSize))), `bad block ${b} untouched`);
  assert.deepEqual([...bad].map((b) => flash.eraseCounts[b]), erasesBefore, "no erase of a bad block succeeded");
  const line = `${bad.size} bad blocks (directory pair ${dirPair.join(",")} and every 4th block), ${flash.badBlockRefusals} programs/erases refused and relocated, ${files.size} files intact`;
  t.diagnostic(line);
  console.log(line);
  assert.ok(flash.badBlockRefusals > 0, "the workload must have hit a bad block");
});
