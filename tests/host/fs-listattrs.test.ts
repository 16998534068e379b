// fs_listattrs: the user-attribute types an entry holds, from one scan of its metadata pair. It
// must name exactly the types a getattr probe of all 256 finds: on every reference fixture, and
// after sets, updates, removals and renames (which renumber ids within and across pairs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { Flash } from "../../host/flash.js";
import { LittleFs } from "../../host/fs/littlefs.js";

const dir = new URL("../../../tests/fixtures/littlefs/", import.meta.url);
const names = readdirSync(dir).filter((n) => n.endsWith(".json")).map((n) => n.slice(0, -5)).sort();

/** The types getattr finds, probing every one. */
function probe(fs: LittleFs, path: string): number[] {
  const out: number[] = [];
  for (let t = 0; t <= 255; t++) if (fs.getattr(path, t) !== null) out.push(t);
  return out;
}

function paths(fs: LittleFs, at = "/"): string[] {
  const out = [at];
  for (const e of fs.readdir(at)) {
    const p = at === "/" ? `/${e.name}` : `${at}/${e.name}`;
    if (e.type === "dir") out.push(...paths(fs, p)); else out.push(p);
  }
  return out;
}

test("listattrs equals a 256-type getattr probe on every entry of every fixture", () => {
  let entries = 0, withAttrs = 0;
  for (const name of names) {
    const m = JSON.parse(readFileSync(new URL(`${name}.json`, dir), "utf8"));
    const g = m.geometry;
    const img = new Uint8Array(readFileSync(new URL(`${name}.img`, dir)));
    const fs = LittleFs.mount(new Flash({ blockSizeBytes: g.block_size, blockCount: g.block_count }, img), {
      blockSize: g.block_size, blockCount: g.block_count, readSize: g.read_size, progSize: g.prog_size,
      cacheSize: g.cache_size, lookaheadSize: g.lookahead_size, blockCycles: g.block_cycles,
    });
    for (const p of paths(fs)) {
      const listed = fs.listattrs(p);
      assert.deepEqual(listed, probe(fs, p), `${name}: ${p}`);
      entries++;
      if (listed.length) withAttrs++;
    }
  }
  console.log(`${names.length} fixtures, ${entries} entries, ${withAttrs} with attributes`);
  assert.ok(withAttrs > 0, "the fixtures hold attributes");
});

test("listattrs follows sets, removals and renames", async () => {
  const cfg = { blockSize: 512, blockCount: 64, readSize: 16, progSize: 16, cacheSize: 64, lookaheadSize: 16, blockCycles: -1 };
  const flash = new Flash({ blockSizeBytes: 512, blockCount: 64 });
  await LittleFs.format(flash, cfg);
  const fs = LittleFs.mount(flash, cfg);
  fs.mkdir("/a");
  fs.mkdir("/b");
  fs.writeFile("/a/f", new Uint8Array(10));
  fs.writeFile("/a/g", new Uint8Array(3));
  assert.deepEqual(fs.listattrs("/a/f"), []);
  fs.setattr("/a/f", 200, new Uint8Array([1, 2]));
  fs.setattr("/a/f", 0, new Uint8Array(0));
  fs.setattr("/a/f", 9, new Uint8Array([3]));
  fs.setattr("/a/f", 9, new Uint8Array([4, 5]));
  fs.setattr("/a/g", 7, new Uint8Array([6]));
  fs.setattr("/", 255, new Uint8Array([7]));
  assert.deepEqual(fs.listattrs("/a/f"), [0, 9, 200]);
  assert.deepEqual(fs.listattrs("/a/g"), [7]);
  assert.deepEqual(fs.listattrs("/"), [255]);
  fs.removeattr("/a/f", 0);
  assert.deepEqual(fs.listattrs("/a/f"), [9, 200]);
  fs.rename("/a/f", "/a/e"); // sorts before g: ids renumber within the pair
  assert.deepEqual(fs.listattrs("/a/e"), [9, 200]);
  assert.deepEqual(fs.listattrs("/a/g"), [7]);
  fs.rename("/a/e", "/b/e"); // across pairs
  assert.deepEqual(fs.listattrs("/b/e"), [9, 200]);
  assert.deepEqual(fs.listattrs("/a/g"), [7]);
  assert.deepEqual(fs.listattrs("/b"), []);
  assert.throws(() => fs.listattrs("/nope"), /ENOENT/);
});
