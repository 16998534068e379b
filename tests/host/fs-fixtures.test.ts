// Conformance against the golden littlefs images (tests/fixtures/littlefs, made by reference C
// littlefs v2.11.2): every step of the fixtures README, for every fixture.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { Flash } from "../../host/flash.js";
import { LittleFs, FsConfig, FsError, O_RDONLY, O_RDWR, O_WRONLY, O_CREAT, O_APPEND, SEEK_SET } from "../../host/fs/littlefs.js";
import { assertImageSound } from "./fs-image-check.js";

const dir = new URL("../../../tests/fixtures/littlefs/", import.meta.url);

interface Entry { path: string; type: "file" | "dir"; size?: number; sha256?: string; attrs?: Record<string, string> }
interface Manifest {
  geometry: Record<string, number>;
  stats: { blocks_in_use: number; gstate: { pending_move: boolean; orphan_flag: boolean } };
  root_attrs?: Record<string, string>;
  tree: Entry[];
  powerloss?: { expected_state: string; acceptable_states: Record<string, Entry[]>; acceptable_root_attrs?: Record<string, Record<string, string>> };
}

const names = readdirSync(dir).filter((n) => n.endsWith(".json")).map((n) => n.slice(0, -5)).sort();
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

function load(name: string): { m: Manifest; img: Uint8Array } {
  const m = JSON.parse(readFileSync(new URL(`${name}.json`, dir), "utf8")) as Manifest;
  const img = new Uint8Array(readFileSync(new URL(`${name}.img`, dir)));
  return { m, img };
}

function config(m: Manifest, over: Partial<FsConfig> = {}): FsConfig {
  const g = m.geometry;
  return {
    blockSize: g.block_size, blockCount: g.block_count, readSize: g.read_size, progSize: g.prog_size,
    cacheSize: g.cache_size, lookaheadSize: g.lookahead_size, blockCycles: g.block_cycles,
    nameMax: g.name_max, inlineMax: 0, ...over,
  };
}

function flashOf(m: Manifest, img: Uint8Array): Flash {
  return new Flash({ blockSizeBytes: m.geometry.block_size, blockCount: m.geometry.block_count }, img);
}

/** The whole tree, depth-first in readdir order, as the manifest lists it. */
function walk(fs: LittleFs, path = "/"): Entry[] {
  const out: Entry[] = [];
  for (const e of fs.readdir(path)) {
    const p = (path === "/" ? "" : path) + "/" + e.name;
    if (e.type === "dir") { out.push({ path: p, type: "dir" }); out.push(...walk(fs, p)); }
    else out.push({ path: p, type: "file", size: e.size });
  }
  return out;
}

function shape(tree: Entry[]): Entry[] {
  return tree.map((e) => (e.type === "dir" ? { path: e.path, type: e.type } : { path: e.path, type: e.type, size: e.size }));
}

function checkContent(fs: LittleFs, tree: Entry[]): void {
  for (const e of tree) {
    const st = fs.stat(e.path);
    assert.equal(st.type, e.type, e.path);
    if (e.type !== "file") continue;
    assert.equal(st.size, e.size, e.path);
    const whole = fs.readFile(e.path);
    assert.equal(whole.length, e.size, e.path);
    assert.equal(sha(whole), e.sha256, `${e.path} sha256 (one read)`);
    const chunked = fs.readFileChunked(e.path, [1, 7, 333, 4093, 13, 517]);
    assert.equal(chunked.length, e.size, e.path);
    assert.equal(sha(chunked), e.sha256, `${e.path} sha256 (odd chunks)`);
  }
}

function checkAttrs(fs: LittleFs, path: string, attrs: Record<string, string> | undefined): void {
  const want = attrs ?? {};
  for (let t = 0; t < 256; t++) {
    const v = fs.getattr(path, t);
    if (want[String(t)] === undefined) assert.equal(v, null, `${path} attr ${t} must be absent`);
    else { assert.notEqual(v, null, `${path} attr ${t}`); assert.equal(hex(v!), want[String(t)], `${path} attr ${t}`); }
  }
}

function expectedTree(m: Manifest): Entry[] { return m.tree; }

for (const name of names) {
  test(`${name}: mount, superblock, tree, content, attributes`, () => {
    const { m, img } = load(name);
    const fs = LittleFs.mount(flashOf(m, img), config(m));
    const info = fs.fsinfo();
    assert.deepEqual(info, {
      diskVersion: 0x00020001, blockSize: m.geometry.block_size, blockCount: m.geometry.block_count,
      nameMax: m.geometry.name_max, fileMax: m.geometry.file_max, attrMax: m.geometry.attr_max,
    });
    const tree = walk(fs);
    assert.deepEqual(tree, shape(expectedTree(m)));
    checkContent(fs, expectedTree(m));
    checkAttrs(fs, "/", m.root_attrs);
    for (const e of expectedTree(m)) checkAttrs(fs, e.path, e.attrs);
    assert.equal(fs.sizeBlocks(), m.stats.blocks_in_use);
    assert.equal(fs.traverse(), m.stats.blocks_in_use);
    fs.unmount();
    // The reference's image passes the structural check (a power-cut one with its pending state).
    const cut = m.stats.gstate.pending_move || m.stats.gstate.orphan_flag;
    assertImageSound(img, config(m), name, cut);
  });

  test(`${name}: mounts with block_count 0 and other read/prog/cache sizes`, () => {
    const { m, img } = load(name);
    const g = m.geometry;
    const alt = { blockCount: 0, readSize: g.read_size * 2, progSize: g.prog_size * 2, cacheSize: g.cache_size * 2, lookaheadSize: 32 };
    const fs = LittleFs.mount(flashOf(m, img), config(m, alt));
    assert.equal(fs.fsinfo().blockCount, g.block_count);
    assert.deepEqual(walk(fs), shape(expectedTree(m)));
    checkContent(fs, expectedTree(m));
    fs.unmount();
    const small = LittleFs.mount(flashOf(m, img), config(m, { readSize: 1, progSize: 1, cacheSize: 16 }));
    checkContent(small, expectedTree(m));
    small.unmount();
  });

  test(`${name}: random seeks in files equal a full read`, () => {
    const { m, img } = load(name);
    const fs = LittleFs.mount(flashOf(m, img), config(m));
    let seed = 12345;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    for (const e of expectedTree(m)) {
      if (e.type !== "file" || !e.size) continue;
      const whole = fs.readFile(e.path);
      const fd = fs.open(e.path, O_RDONLY);
      for (let i = 0; i < 24; i++) {
        const off = rnd(e.size);
        const len: number = 1 + rnd(Math.min(600, e.size - off));
        assert.equal(fs.seek(fd, off, SEEK_SET), off);
        assert.deepEqual(fs.read(fd, len), whole.subarray(off, off + len), `${e.path} @${off}+${len}`);
        assert.equal(fs.tell(fd), off + len);
      }
      fs.close(fd);
    }
    fs.unmount();
  });

  if (name.includes("powerloss")) {
    test(`${name}: power-loss image holds one committed state (loose and strict)`, () => {
      const { m, img } = load(name);
      const fs = LittleFs.mount(flashOf(m, img), config(m));
      const tree = walk(fs);
      const pl = m.powerloss!;
      const matches = Object.entries(pl.acceptable_states).filter(([, t]) => JSON.stringify(shape(t)) === JSON.stringify(tree)).map(([k]) => k);
      assert.ok(matches.length > 0, "loose: the tree equals the old or the new state");
      assert.deepEqual(tree, shape(m.tree), "strict: the tree equals `tree`");
      assert.deepEqual(shape(pl.acceptable_states[pl.expected_state]), shape(m.tree));
      checkContent(fs, m.tree);
      fs.unmount();
    });
  }
  test(`${name}: write after mount, remount, fresh instance`, () => {
    const { m, img } = load(name);
    const flash = flashOf(m, img);
    const fs = LittleFs.mount(flash, config(m));
    const fresh = new Uint8Array(3 * m.geometry.block_size + 123).map((_, i) => (i * 31 + 7) & 255);
    fs.writeFile("/after-mount.bin", fresh);
    // Modify an existing file: append to the first one (or create one if the tree has none).
    const victim = m.tree.find((e) => e.type === "file");
    let expectVictim: Uint8Array | null = null;
    if (victim) {
      const before = fs.readFile(victim.path);
      const fd = fs.open(victim.path, O_WRONLY | O_APPEND);
      fs.write(fd, new Uint8Array([1, 2, 3, 4, 5]));
      fs.close(fd);
      expectVictim = new Uint8Array([...before, 1, 2, 3, 4, 5]);
    }
    fs.unmount();
    const untouched = m.tree.filter((e) => e !== victim);
    for (const again of [LittleFs.mount(flash, config(m)), LittleFs.mount(new Flash({ blockSizeBytes: m.geometry.block_size, blockCount: m.geometry.block_count }, flash.bytes), config(m))]) {
      assert.deepEqual(again.readFile("/after-mount.bin"), fresh);
      if (victim) assert.deepEqual(again.readFile(victim.path), expectVictim);
      checkContent(again, untouched);
      const paths = walk(again).map((e) => e.path).sort();
      assert.deepEqual(paths, [...m.tree.map((e) => e.path), "/after-mount.bin"].sort());
      assert.equal(again.traverse(), again.sizeBlocks());
      again.unmount();
    }
    assertImageSound(flash.bytes, config(m), `${name} after a write`);
  });
}

for (const bs of [512, 1024, 4096]) {
  test(`format, write a tree, remount and verify on ${bs}-byte blocks`, async () => {
    const cfg: FsConfig = { blockSize: bs, blockCount: 96, readSize: 16, progSize: 16, cacheSize: 64, lookaheadSize: 16, blockCycles: 100 };
    const flash = new Flash({ blockSizeBytes: bs, blockCount: 96 });
    await LittleFs.format(flash, cfg);
    const fs = LittleFs.mount(flash, cfg);
    fs.mkdir("/d");
    fs.mkdir("/d/e");
    const files = new Map<string, Uint8Array>();
    for (let i = 0; i < 30; i++) files.set(`/d/f${i}`, new Uint8Array(i * 17).fill(i));
    files.set("/d/e/big", new Uint8Array(bs * 7 + 5).map((_, i) => i & 255));
    for (const [p, d] of files) fs.writeFile(p, d);
    fs.setattr("/d", 9, new Uint8Array([9, 9]));
    fs.rename("/d/f1", "/d/e/moved");
    files.set("/d/e/moved", files.get("/d/f1")!); files.delete("/d/f1");
    fs.remove("/d/f2"); files.delete("/d/f2");
    assert.throws(() => fs.remove("/d"), (e: unknown) => e instanceof FsError && e.code === -39);
    fs.unmount();
    const again = LittleFs.mount(flash, cfg);
    assert.deepEqual(again.fsinfo().diskVersion, 0x00020001);
    for (const [p, d] of files) assert.deepEqual(again.readFile(p), d, p);
    assert.deepEqual(again.getattr("/d", 9), new Uint8Array([9, 9]));
    assert.equal(again.getattr("/d", 8), null);
    assert.equal(again.readdir("/d").length, 28 + 1);
    assert.equal(again.traverse(), again.sizeBlocks());
    again.unmount();
    assertImageSound(flash.bytes, cfg, `${bs}-byte blocks`);
  });
}

test("a corrupt image is ECORRUPT, not a trap", () => {
  const { m, img } = load("bs4096-empty");
  const bad = new Uint8Array(img);
  bad.fill(0x5a, 0, 2 * m.geometry.block_size);
  assert.throws(() => LittleFs.mount(flashOf(m, bad), config(m)), (e: unknown) => e instanceof FsError && e.code === -84);
});
void [O_RDWR, O_CREAT];
