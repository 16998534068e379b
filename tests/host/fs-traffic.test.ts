// Flash traffic of the file system: on the benchmark's workloads (tools/bench-fs.ts, 4096-byte
// blocks, read/prog 16, cache 256, lookahead 16) the core reads at most what the reference C
// littlefs reads, and programs and erases exactly the bytes it does (the counts are
// deterministic: these are counters, not timings). And because the read path now fetches less
// per miss, skips the cache for large reads and keeps its place in the skip list, every read
// pattern must still return the bytes written: checked against an in-memory model on several
// geometries.
import test from "node:test";
import assert from "node:assert/strict";
import { Flash } from "../../host/flash.js";
import { LittleFs, O_CREAT, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, SEEK_SET } from "../../host/fs/littlefs.js";
import { benchFs, REFERENCE_READ_BYTES, skipped } from "../../tools/bench-fs.js";
import { seededBytes } from "../../tools/seeded-bytes.js";

// Programmed and erased bytes of the reference C littlefs v2.11.2 on the same workloads, which
// the core matched before its read path changed and must keep matching.
const REFERENCE_PROG_ERASE: Record<string, { progBytes: number; eraseBytes: number }> = {
  "mount, 1,000 files": { progBytes: 0, eraseBytes: 0 },
  "write 1 MiB sequentially": { progBytes: 1_050_704, eraseBytes: 1_052_672 },
  "read 1 MiB sequentially": { progBytes: 0, eraseBytes: 0 },
  "1,000 random 64 B overwrites (64 KiB file)": { progBytes: 35_410_976, eraseBytes: 39_378_944 },
  "list a 1,000-entry directory": { progBytes: 0, eraseBytes: 0 },
};

test("on every benchmark workload the core reads at most the reference's bytes and programs and erases exactly as much", async () => {
  const rows = await benchFs({ warmup: 0, repeats: 1 });
  assert.deepEqual(skipped, []);
  for (const [name, reference] of Object.entries(REFERENCE_READ_BYTES)) {
    const row = rows.find((r) => r.name === name);
    assert.ok(row, `row ${name}`);
    assert.equal(row.referenceReadBytes, reference);
    assert.ok(row.fs.readBytes <= reference, `${name}: read ${row.fs.readBytes} B, reference ${reference} B`);
    assert.deepEqual({ progBytes: row.fs.progBytes, eraseBytes: row.fs.eraseBytes }, REFERENCE_PROG_ERASE[name], name);
  }
});

interface Geometry { blockSize: number; blockCount: number; readSize: number; progSize: number; cacheSize: number; lookaheadSize: number }

const GEOMETRIES: Geometry[] = [
  { blockSize: 4096, blockCount: 96, readSize: 16, progSize: 16, cacheSize: 256, lookaheadSize: 16 },
  { blockSize: 512, blockCount: 256, readSize: 16, progSize: 16, cacheSize: 64, lookaheadSize: 16 },
  { blockSize: 512, blockCount: 256, readSize: 4, progSize: 16, cacheSize: 128, lookaheadSize: 8 },
  { blockSize: 256, blockCount: 512, readSize: 1, progSize: 1, cacheSize: 32, lookaheadSize: 16 },
];

/** A deterministic stream of numbers in [0, n). */
function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return (s >>> 8) % n; };
}

function readAt(lfs: LittleFs, fd: number, pos: number, len: number): Uint8Array {
  lfs.seek(fd, pos, SEEK_SET);
  return lfs.read(fd, len);
}

for (const g of GEOMETRIES) {
  const label = `${g.blockSize} B blocks, read ${g.readSize}, prog ${g.progSize}, cache ${g.cacheSize}`;

  test(`${label}: sequential, random and interleaved reads return what was written`, async () => {
    const flash = new Flash({ blockSizeBytes: g.blockSize, blockCount: g.blockCount });
    await LittleFs.format(flash, g);
    const lfs = LittleFs.mount(flash, g);
    const size = g.blockSize * 23 + 77; // a CTZ list long enough for skip pointers of several levels
    const model = seededBytes(11, size);
    lfs.writeFile("/f", model);
    const next = rng(g.blockSize);

    // Sequential, in chunk sizes around and across line, block and read-unit boundaries.
    for (const chunk of [1, 3, g.readSize + 1, g.cacheSize - 1, g.cacheSize, g.cacheSize + 5, g.blockSize, 3 * g.blockSize + 7]) {
      const fd = lfs.open("/f", O_RDONLY);
      const got = new Uint8Array(size);
      let at = 0;
      for (;;) { const part = lfs.read(fd, chunk); if (part.length === 0) break; got.set(part, at); at += part.length; }
      lfs.close(fd);
      assert.equal(at, size, `chunk ${chunk}`);
      assert.ok(Buffer.from(got).equals(Buffer.from(model)), `chunk ${chunk}`);
    }

    // Random seeks (backwards and forwards) with reads of random length.
    const fd = lfs.open("/f", O_RDONLY);
    for (let i = 0; i < 300; i++) {
      const pos = next(size);
      const len = 1 + next(Math.min(size - pos, 2 * g.blockSize));
      const got = readAt(lfs, fd, pos, len);
      assert.ok(Buffer.from(got).equals(Buffer.from(model.subarray(pos, pos + len))), `read ${len} at ${pos}`);
    }
    lfs.close(fd);

    // Two descriptors reading the same list in step, and a third writing another file between:
    // each read sees its own position, whatever the others did to the caches.
    const other = seededBytes(12, 3 * g.blockSize + 9);
    const a = lfs.open("/f", O_RDONLY), b = lfs.open("/f", O_RDONLY);
    const w = lfs.open("/g", O_WRONLY | O_CREAT | O_TRUNC);
    const gotA = new Uint8Array(size), gotB = new Uint8Array(size);
    let atA = 0, atB = 0, atW = 0;
    while (atA < size || atB < size) {
      const pa = lfs.read(a, 1 + next(g.cacheSize * 2)); gotA.set(pa, atA); atA += pa.length;
      if (atW < other.length) { const n = Math.min(other.length - atW, 1 + next(g.cacheSize)); lfs.write(w, other.subarray(atW, atW + n)); atW += n; }
      const pb = lfs.read(b, 1 + next(g.blockSize)); gotB.set(pb, atB); atB += pb.length;
      if (pa.length === 0 && pb.length === 0) break;
    }
    lfs.close(a); lfs.close(b); lfs.close(w);
    assert.ok(Buffer.from(gotA).equals(Buffer.from(model)));
    assert.ok(Buffer.from(gotB).equals(Buffer.from(model)));
    assert.ok(Buffer.from(lfs.readFile("/g")).equals(Buffer.from(other)));
    lfs.unmount();
  });

  test(`${label}: overwrites in the middle of a file, read back through the same descriptor and after a remount`, async () => {
    const flash = new Flash({ blockSizeBytes: g.blockSize, blockCount: g.blockCount });
    await LittleFs.format(flash, g);
    let lfs = LittleFs.mount(flash, g);
    const size = g.blockSize * 9 + 31;
    const model = seededBytes(13, size);
    lfs.writeFile("/t", model);
    const next = rng(size);
    const fd = lfs.open("/t", O_RDWR);
    for (let i = 0; i < 40; i++) {
      const pos = next(size - 1);
      const patch = seededBytes(100 + i, 1 + next(Math.min(size - pos, g.cacheSize + 40)));
      lfs.seek(fd, pos, SEEK_SET);
      lfs.write(fd, patch);
      model.set(patch, pos);
      // Read across the patched range straight after (the write is flushed by the seek).
      const from = Math.max(0, pos - g.readSize - 3), to = Math.min(size, pos + patch.length + g.cacheSize);
      const got = readAt(lfs, fd, from, to - from);
      assert.ok(Buffer.from(got).equals(Buffer.from(model.subarray(from, to))), `overwrite ${i} at ${pos}`);
    }
    lfs.close(fd);
    lfs.unmount();
    lfs = LittleFs.mount(flash, g);
    assert.ok(Buffer.from(lfs.readFile("/t")).equals(Buffer.from(model)));
    lfs.unmount();
  });

  test(`${label}: a listing reports each entry's newest name, type and size after updates`, async () => {
    const flash = new Flash({ blockSizeBytes: g.blockSize, blockCount: g.blockCount });
    await LittleFs.format(flash, g);
    const lfs = LittleFs.mount(flash, g);
    lfs.mkdir("/d");
    const sizes = new Map<string, number>();
    for (let i = 0; i < 24; i++) {
      const name = `e${String(i).padStart(2, "0")}`;
      lfs.writeFile(`/d/${name}`, seededBytes(i, i * 7));
      sizes.set(name, i * 7);
    }
    // Grow some (inline to CTZ), shrink some, remove some, rename one, add a directory.
    for (const i of [3, 9, 17]) { const n = `e${String(i).padStart(2, "0")}`; lfs.writeFile(`/d/${n}`, seededBytes(50 + i, g.blockSize * 2 + i)); sizes.set(n, g.blockSize * 2 + i); }
    for (const i of [5, 20]) {
      const n = `e${String(i).padStart(2, "0")}`;
      const fd = lfs.open(`/d/${n}`, O_WRONLY);
      lfs.truncate(fd, 2);
      lfs.close(fd);
      sizes.set(n, 2);
    }
    for (const i of [0, 11, 23]) { const n = `e${String(i).padStart(2, "0")}`; lfs.remove(`/d/${n}`); sizes.delete(n); }
    lfs.rename("/d/e07", "/d/z07"); sizes.set("z07", sizes.get("e07")!); sizes.delete("e07");
    lfs.mkdir("/d/sub");
    const listed = lfs.readdir("/d").filter((e) => e.name !== "." && e.name !== "..");
    const want = [...[...sizes].map(([name, size]) => ({ name, type: "file", size })), { name: "sub", type: "dir", size: 0 }]
      .sort((x, y) => (x.name < y.name ? -1 : 1));
    assert.deepEqual(listed.map((e) => ({ name: e.name, type: e.type, size: e.size })).sort((x, y) => (x.name < y.name ? -1 : 1)), want);
    for (const e of listed) assert.deepEqual(lfs.stat(`/d/${e.name}`), { type: e.type, size: e.size });
    lfs.unmount();
  });
}
