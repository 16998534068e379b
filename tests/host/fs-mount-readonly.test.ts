// Read-only mounts (fs_mount_at with readOnly): every write is refused with -EROFS and the flash
// is never programmed or erased (counted by the flash itself), even for an image a power cut
// left with a pending move, which a read-write mount would finish on its first write.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Flash } from "../../host/flash.js";
import { LittleFs, FsConfig, FsError, O_APPEND, O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY } from "../../host/fs/littlefs.js";

const EROFS = -30;
const dir = new URL("../../../tests/fixtures/littlefs/", import.meta.url);

function fixture(name: string): { cfg: FsConfig; img: Uint8Array; blocks: number; bs: number; file: string; dir?: string } {
  const m = JSON.parse(readFileSync(new URL(`${name}.json`, dir), "utf8"));
  const g = m.geometry;
  const tree = m.tree as { path: string; type: string }[];
  const img = new Uint8Array(readFileSync(new URL(`${name}.img`, dir)));
  return { file: tree.find((e) => e.type === "file")!.path, dir: tree.find((e) => e.type === "dir")?.path, img, blocks: g.block_count, bs: g.block_size, cfg: { blockSize: g.block_size, blockCount: 2, readSize: g.read_size, progSize: g.prog_size, cacheSize: g.cache_size, lookaheadSize: g.lookahead_size, blockCycles: g.block_cycles } };
}

function code(fn: () => unknown): number {
  try { fn(); } catch (e) { if (e instanceof FsError) return e.code; throw e; }
  return 0;
}

for (const name of ["bs4096-attrs", "bs4096-powerloss-rename"]) {
  test(`${name} mounted read-only at an offset: every write is -EROFS, nothing is programmed or erased`, () => {
    const { cfg, img, blocks, bs, file, dir: someDir } = fixture(name);
    // Two spare blocks before the image: the host mount stays unformatted and unmounted.
    const BASE = 2;
    const flash = new Flash({ blockSizeBytes: bs, blockCount: BASE + blocks });
    flash.bytes.set(img, BASE * bs);
    const core = LittleFs.configure(flash, cfg);
    const ro = core.mountAt(BASE, blocks, { readOnly: true });
    const info = ro.mountInfo();
    assert.equal(info.readOnly, true);
    const content = ro.readFile(file);
    const before = { ...flash.counters };
    const fd = ro.open(file, O_RDONLY);
    const refusals: [string, () => unknown][] = [
      ["open O_WRONLY", () => ro.open(file, O_WRONLY)],
      ["open O_RDWR", () => ro.open(file, O_RDWR)],
      ["open O_CREAT", () => ro.open("/new", O_WRONLY | O_CREAT)],
      ["open O_CREAT|O_EXCL", () => ro.open("/new", O_RDWR | O_CREAT | O_EXCL)],
      ["open O_TRUNC", () => ro.open(file, O_WRONLY | O_TRUNC)],
      ["open O_RDONLY|O_APPEND", () => ro.open(file, O_RDONLY | O_APPEND)],
      ["write", () => ro.write(fd, Uint8Array.of(1, 2, 3))],
      ["truncate", () => ro.truncate(fd, 0)],
      ["mkdir", () => ro.mkdir("/d")],
      ["remove", () => ro.remove(file)],
      ["remove dir", () => ro.remove(someDir ?? file)],
      ["rename", () => ro.rename(file, "/other")],
      ["setattr", () => ro.setattr(file, 1, Uint8Array.of(9))],
      ["removeattr", () => ro.removeattr("/", 1)],
      ["gc", () => ro.gc()],
      ["mkconsistent", () => ro.mkconsistent()],
    ];
    for (const [what, fn] of refusals) assert.equal(code(fn), EROFS, what);
    assert.equal(ro.core.exports.fs_select(ro.mountId), 0);
    assert.equal(ro.core.exports.fs_format(), EROFS, "format");
    // Reads go on as before, from the same open file.
    ro.sync(fd);
    assert.deepEqual(ro.read(fd, content.length + 1), content);
    ro.close(fd);
    assert.equal(flash.counters.progBytes, before.progBytes, "programmed");
    assert.equal(flash.counters.eraseCount, before.eraseCount, "erased");
    ro.unmount();
    assert.deepEqual(flash.bytes.subarray(BASE * bs), img);
    assert.equal(flash.counters.progBytes + flash.counters.eraseCount, 0);
  });
}

test("a read-only mount allocates no write-side buffers: its RAM is a read cache, no program cache or lookahead", () => {
  const { cfg, img, blocks, bs } = fixture("bs4096-attrs");
  const flash = new Flash({ blockSizeBytes: bs, blockCount: 2 * blocks });
  flash.bytes.set(img, 0);
  flash.bytes.set(img, blocks * bs);
  const core = LittleFs.configure(flash, cfg);
  const ro = core.mountAt(0, blocks, { readOnly: true });
  const rw = core.mountAt(blocks, blocks);
  assert.equal(rw.mountRamBytes() - ro.mountRamBytes(), cfg.cacheSize! + cfg.lookaheadSize!);
});
