// Several littlefs mounts in one core (ABI.md fs_mount_at, fs_select): images at different
// offsets of one flash, mounted at once, used interleaved, each checked afterwards by the
// independent reader (lfs-ref-reader.ts) and against the reference C littlefs fixtures; the mount
// table's limits; unmounting one mount leaves the others working.
import test from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { Flash } from "../../host/flash.js";
import { LittleFs, FsConfig, FsError, O_CREAT, O_RDONLY, O_RDWR, O_WRONLY, SEEK_SET } from "../../host/fs/littlefs.js";
import { MAX_APPS, MAX_MOUNTS } from "../../assembly/abi.js";
import { RefReader } from "./lfs-ref-reader.js";

const BS = 4096;
const cfgOf = (blockCount: number): FsConfig => ({ blockSize: BS, blockCount, readSize: 16, progSize: 16, cacheSize: 256, lookaheadSize: 16, blockCycles: 500 });
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const bytesOf = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed * 17 + (i >> 8)) & 0xff);

/** A freshly formatted image of `blocks` blocks, as bytes. */
function freshImage(blocks: number, blockSize = BS): Uint8Array {
  const f = new Flash({ blockSizeBytes: blockSize, blockCount: blocks });
  LittleFs.format(f, { ...cfgOf(blocks), blockSize });
  return f.bytes;
}

const region = (flash: Flash, base: number, blocks: number) => flash.bytes.slice(base * flash.blockSizeBytes, (base + blocks) * flash.blockSizeBytes);

/** Fresh images of A and B blocks side by side on one flash, A the host mount, B mounted beside it. */
function twoMounts(A: number, B: number): { flash: Flash; a: LittleFs; b: LittleFs } {
  const flash = new Flash({ blockSizeBytes: BS, blockCount: A + B });
  flash.bytes.set(freshImage(A), 0);
  flash.bytes.set(freshImage(B), A * BS);
  const a = LittleFs.mount(flash, cfgOf(A));
  return { flash, a, b: a.mountAt(A, B) };
}

function errno(fn: () => unknown): number {
  try { fn(); } catch (e) { if (e instanceof FsError) return e.code; throw e; }
  return 0;
}

test("two read-write images on one flash, mounted at once: interleaved files, each image sound by the reference reader", () => {
  const A = 40, B = 56;
  const { flash, a, b } = twoMounts(A, B);
  assert.equal(b.mountId, 1);
  assert.deepEqual(b.mountInfo(), { baseBlock: A, blockCount: B, readOnly: false, mounted: true, owner: -1, ramBytes: b.mountRamBytes() });

  a.mkdir("/logs");
  b.mkdir("/data");
  // Open files on both, written in alternation in chunks that cross block boundaries.
  const fa = a.open("/logs/a.bin", O_WRONLY | O_CREAT);
  const fb = b.open("/data/b.bin", O_RDWR | O_CREAT);
  const da = bytesOf(3 * BS + 123, 1), db = bytesOf(5 * BS + 7, 2);
  for (let at = 0; at < Math.max(da.length, db.length); at += 1500) {
    if (at < da.length) a.write(fa, da.subarray(at, at + 1500));
    if (at < db.length) b.write(fb, db.subarray(at, at + 1500));
    // Reads on the other mount between the writes.
    if (at === 3000) { a.sync(fa); assert.equal(a.stat("/logs/a.bin").size, 4500); }
  }
  b.sync(fb);
  // Reads on one mount while the other has a file open for writing.
  b.seek(fb, 1000, SEEK_SET);
  assert.deepEqual(b.read(fb, 2000), db.subarray(1000, 3000));
  a.writeFile("/small", bytesOf(40, 3));
  b.rename("/data/b.bin", "/data/renamed.bin");
  a.close(fa);
  b.close(fb);
  b.setattr("/data", 7, Uint8Array.of(1, 2, 3));
  assert.deepEqual(a.readFile("/logs/a.bin"), da);
  assert.deepEqual(b.readFile("/data/renamed.bin"), db);
  assert.deepEqual(a.readdir("/").map((e) => e.name), ["logs", "small"]);
  assert.deepEqual(b.readdir("/").map((e) => e.name), ["data"]);
  b.unmount();
  a.unmount();

  // Each partition is a littlefs image of its own size, as an independent reader sees it.
  const ra = new RefReader(region(flash, 0, A), BS, A), rb = new RefReader(region(flash, A, B), BS, B);
  assert.deepEqual(ra.faults(), []);
  assert.deepEqual(rb.faults(), []);
  assert.deepEqual(ra.listing().tree, [
    { path: "/logs", type: "dir" },
    { path: "/logs/a.bin", type: "file", size: da.length, sha256: sha(da) },
    { path: "/small", type: "file", size: 40, sha256: sha(bytesOf(40, 3)) },
  ]);
  assert.deepEqual(rb.listing().tree, [
    { path: "/data", type: "dir", attrs: { 7: "010203" } },
    { path: "/data/renamed.bin", type: "file", size: db.length, sha256: sha(db) },
  ]);
});

test("a mount writes only inside its partition: the image beside it stays byte-identical", () => {
  const A = 24, B = 40;
  const { flash, a, b } = twoMounts(A, B);
  a.writeFile("/kept", bytesOf(5000, 4));
  const before = region(flash, 0, A);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 8; i++) b.writeFile(`/f${i}`, bytesOf(3000 + i * 500, i + round));
    for (let i = 0; i < 8; i += 2) b.remove(`/f${i}`);
  }
  b.gc();
  assert.deepEqual(region(flash, 0, A), before, "the host mount's blocks were touched");
  assert.deepEqual(a.readFile("/kept"), bytesOf(5000, 4));
  // The first 2 blocks of B are its superblock pair at flash blocks A and A+1, not 0 and 1.
  assert.deepEqual(new RefReader(region(flash, A, B), BS, B).faults(), []);
  b.unmount();
  a.unmount();
});

test("a reference fixture mounted read-only at an offset while another image is mounted read-write", () => {
  const dir = new URL("../../../tests/fixtures/littlefs/", import.meta.url);
  const name = "bs4096-ctz-large";
  const m = JSON.parse(readFileSync(new URL(`${name}.json`, dir), "utf8"));
  const img = new Uint8Array(readFileSync(new URL(`${name}.img`, dir)));
  const g = m.geometry;
  const D = 200, F = g.block_count;
  const cfg: FsConfig = { blockSize: g.block_size, blockCount: D, readSize: g.read_size, progSize: g.prog_size, cacheSize: g.cache_size, lookaheadSize: g.lookahead_size, blockCycles: g.block_cycles };
  // The data image first, the fixture after it, then a spare block: the fixture's partition is
  // one block larger than the image, whose own block count (from its superblock) is used.
  const flash = new Flash({ blockSizeBytes: g.block_size, blockCount: D + F + 1 });
  flash.bytes.set(freshImage(D, g.block_size), 0);
  flash.bytes.set(img, D * g.block_size);
  const data = LittleFs.mount(flash, cfg);
  const fixture = data.mountAt(D, F + 1, { readOnly: true });
  assert.equal(fixture.fsinfo().blockCount, F);

  const files = (m.tree as { path: string; type: string; size?: number; sha256?: string }[]).filter((e) => e.type === "file");
  // Read every fixture file in chunks, writing a copy of each chunk to the data mount as it goes.
  for (const e of files) {
    const fd = fixture.open(e.path, O_RDONLY);
    const out = data.open(`/copy-${files.indexOf(e)}`, O_WRONLY | O_CREAT);
    const parts: Uint8Array[] = [];
    for (;;) {
      const chunk = fixture.read(fd, 1777);
      parts.push(chunk);
      data.write(out, chunk);
      if (chunk.length < 1777) break;
    }
    data.close(out);
    fixture.close(fd);
    const whole = Buffer.concat(parts);
    assert.equal(whole.length, e.size, e.path);
    assert.equal(sha(whole), e.sha256, e.path);
  }
  assert.equal(fixture.checkStructure().fault, 0);
  fixture.unmount();
  data.unmount();
  // The fixture's bytes are untouched; the data image holds the copies, by the reference reader.
  assert.deepEqual(region(flash, D, F), img);
  const ref = new RefReader(region(flash, 0, D), g.block_size, D);
  assert.deepEqual(ref.faults(), []);
  const copies = new Map(ref.listing().tree.map((e) => [e.path as string, e.sha256]));
  files.forEach((e, i) => assert.equal(copies.get(`/copy-${i}`), e.sha256, e.path));
});

test("the mount table: MAX_MOUNTS mounts at once, then -ENOMEM; overlapping partitions -EBUSY; a freed slot is reused", () => {
  const S = 512, N = 4;
  const small = (() => { const f = new Flash({ blockSizeBytes: S, blockCount: N }); LittleFs.format(f, { ...cfgOf(N), blockSize: S, cacheSize: 64 }); return f.bytes; })();
  const flash = new Flash({ blockSizeBytes: S, blockCount: N * (MAX_MOUNTS + 1) });
  for (let i = 0; i <= MAX_MOUNTS; i++) flash.bytes.set(small, i * N * S);
  const cfg = { ...cfgOf(N), blockSize: S, cacheSize: 64 };
  const host = LittleFs.mount(flash, cfg);
  assert.equal(errno(() => host.mountAt(0, N, { readOnly: true })), -16, "the host mount's own blocks");
  assert.equal(errno(() => host.mountAt(N - 1, N, { readOnly: true })), -16, "overlapping the host mount");
  const mounts: LittleFs[] = [];
  for (let i = 1; i < MAX_MOUNTS; i++) mounts.push(host.mountAt(i * N, N, { readOnly: i % 2 === 0, owner: i - 1 }));
  assert.deepEqual(mounts.map((x) => x.mountId), Array.from({ length: MAX_MOUNTS - 1 }, (_, i) => i + 1));
  assert.equal(errno(() => host.mountAt(MAX_MOUNTS * N, N)), -12, "table full");
  assert.equal(errno(() => host.mountAt(2 * N + 1, N)), -16);
  assert.equal(errno(() => host.mountAt(MAX_MOUNTS * N, 1)), -22, "a partition of one block");
  assert.equal(errno(() => host.mountAt(MAX_MOUNTS * N, N, { owner: MAX_APPS })), -22, "no such app slot");
  for (const [i, x] of mounts.entries()) assert.equal(x.mountInfo().owner, i);
  // Free slot 5: the next mount takes it, and works.
  mounts[4].unmount();
  const again = host.mountAt(MAX_MOUNTS * N, N);
  assert.equal(again.mountId, 5);
  again.writeFile("/x", bytesOf(10, 1));
  assert.deepEqual(again.readFile("/x"), bytesOf(10, 1));
  // A mount id not in the table is refused, not silently taken for the host mount.
  again.unmount();
  assert.equal(host.core.exports.fs_select(5), -9);
  assert.equal(host.core.exports.fs_select(MAX_MOUNTS), -9);
  assert.equal(host.core.exports.fs_select(-1), -9);
  assert.equal(errno(() => again.readdir("/")), -9);
});

test("unmounting one mount leaves the other's open files and directories working", () => {
  const A = 16, B = 16;
  const { flash, a, b } = twoMounts(A, B);
  b.writeFile("/b", bytesOf(9000, 5));
  a.writeFile("/a", bytesOf(7000, 6));
  const fb = b.open("/b", O_RDONLY);
  const fa = a.open("/a", O_RDWR);
  assert.deepEqual(b.read(fb, 100), bytesOf(9000, 5).subarray(0, 100));
  // The host mount goes first: b's open file reads on, b writes on.
  a.close(fa);
  a.unmount();
  assert.deepEqual(b.read(fb, 8900), bytesOf(9000, 5).subarray(100));
  b.writeFile("/c", bytesOf(100, 7));
  b.close(fb);
  assert.deepEqual(b.readdir("/").map((e) => e.name), ["b", "c"]);
  // In a fresh core, both images mount again at their offsets and hold what was written.
  const a2 = LittleFs.mount(flash, cfgOf(A));
  const b2 = a2.mountAt(A, B, { readOnly: true });
  assert.deepEqual(b2.readFile("/c"), bytesOf(100, 7));
  assert.deepEqual(a2.readFile("/a"), bytesOf(7000, 6));
  b.unmount();
  // In the first core: b is gone from the table, the host mount is unmounted but still slot 0.
  assert.equal(a.core.exports.fs_select(1), -9);
  assert.equal(a.core.exports.fs_select(0), 0);
  assert.equal(a.mountInfo().mounted, false);
});
