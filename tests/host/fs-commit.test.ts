// littlefs commit paths against what readers of the format rely on: a commit that empties a pair
// after a directory's first drops it; mkdir's soft tail survives a compaction of the pair it goes
// into; relocations leave a clean gstate; small blocks take what the format lets them; and the
// structural check (`wasphere fs check`, the core's fs_check) refuses images with each fault.
// Every image is read back by the core and by the independent reader (lfs-ref-reader.ts).
import test from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Flash } from "../../host/flash.js";
import { checkFs, FsCliError } from "../../host/fs/cli.js";
import { FsConfig, LittleFs } from "../../host/fs/littlefs.js";
import { seededBytes } from "../../tools/seeded-bytes.js";
import { assertImageSound } from "./fs-image-check.js";
import { RefReader, rewritePair } from "./lfs-ref-reader.js";

/** The CLI's defaults for a geometry (host/fs/image.ts). */
function cliConfig(blockSize: number, blockCount: number, more: Partial<FsConfig> = {}): FsConfig {
  return { blockSize, blockCount, readSize: 16, progSize: 16, cacheSize: Math.min(blockSize, 256), lookaheadSize: 16, blockCycles: 500, ...more };
}

class Image {
  readonly flash: Flash;
  constructor(readonly cfg: FsConfig) {
    this.flash = new Flash({ blockSizeBytes: cfg.blockSize, blockCount: cfg.blockCount });
  }
  static async fresh(cfg: FsConfig): Promise<Image> {
    const img = new Image(cfg);
    await LittleFs.format(img.flash, cfg);
    return img;
  }
  /** One mount, like one `wasphere fs` command: work, then unmount. */
  session<T>(work: (lfs: LittleFs) => T): T {
    const lfs = LittleFs.mount(this.flash, this.cfg);
    try { return work(lfs); } finally { lfs.unmount(); }
  }
  reader(): RefReader { return new RefReader(this.flash.bytes, this.cfg.blockSize, this.cfg.blockCount); }
  /** Both checks on the unmounted image: the core's (as `fs check` runs it) and the independent one. */
  assertSound(label: string): void { assertImageSound(this.flash.bytes, this.cfg, label); }
  /** The check's refusal message for this image. */
  refusal(): string {
    try { this.session((lfs) => checkFs(lfs, "img")); } catch (err) { if (err instanceof FsCliError) return err.message; throw err; }
    return "ok";
  }
}

const p20 = new Uint8Array(20).fill(0x78);
const names = (lfs: LittleFs, dir: string) => lfs.readdir(dir).map((e) => e.name).filter((n) => n !== "." && n !== "..");
const two = (n: number) => String(n).padStart(2, "0");

/** Issue scenario A: a directory split into three pairs, then the middle one emptied. */
async function splitThenEmpty(): Promise<Image> {
  const img = await Image.fresh(cliConfig(512, 64));
  img.session((lfs) => lfs.mkdir("/d"));
  for (let i = 0; i < 16; i++) img.session((lfs) => lfs.writeFile(`/d/f${two(i)}`, p20));
  for (const i of [5, 6, 7, 8]) img.session((lfs) => lfs.remove(`/d/f${two(i)}`));
  return img;
}

test("A: removing every entry of a directory's middle pair drops the pair from the list", async () => {
  const img = await splitThenEmpty();
  const { pairs } = img.reader().structure();
  assert.ok(pairs.filter((p) => p.hard).length >= 1, "the directory still spans pairs");
  assert.ok(pairs.every((p) => !p.hard || p.ids > 0), `no empty pair after a hard tail: ${JSON.stringify(pairs)}`);
  img.assertSound("A");
  const left = [0, 1, 2, 3, 4, 9, 10, 11, 12, 13, 14, 15].map((i) => `f${two(i)}`);
  img.session((lfs) => {
    assert.deepEqual(names(lfs, "/d"), left);
    for (const n of left) assert.deepEqual(lfs.readFile(`/d/${n}`), p20);
  });
  // Emptying the last pair too, then the whole directory, keeps the list sound.
  for (const i of [9, 10, 11, 12, 13, 14, 15]) img.session((lfs) => lfs.remove(`/d/f${two(i)}`));
  img.assertSound("A, last pair emptied");
  img.session((lfs) => assert.deepEqual(names(lfs, "/d"), ["f00", "f01", "f02", "f03", "f04"]));
  for (const i of [0, 1, 2, 3, 4]) img.session((lfs) => lfs.remove(`/d/f${two(i)}`));
  img.session((lfs) => lfs.remove("/d"));
  img.assertSound("A, directory removed");
  img.session((lfs) => assert.deepEqual(names(lfs, "/"), []));
});

test("A: a directory handle open on a pair that is dropped continues after it", async () => {
  const img = await Image.fresh(cliConfig(512, 64));
  img.session((lfs) => lfs.mkdir("/d"));
  for (let i = 0; i < 16; i++) img.session((lfs) => lfs.writeFile(`/d/f${two(i)}`, p20));
  img.session((lfs) => {
    // The core's directory handle, held open across the removals (LittleFs.readdir reads at once).
    const x = lfs.core.exports;
    const h = x.fs_dir_open(new TextEncoder().encode("/d"));
    assert.ok(h >= 0);
    const next = (): string | null => {
      const r = x.fs_dir_read(h);
      assert.ok(typeof r !== "number", `readdir: ${r}`);
      return r === null ? null : Buffer.from(r.name).toString();
    };
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) seen.push(next()!);
    // The handle now stands in the middle pair (f05 was its last entry read); empty that pair.
    for (const i of [5, 6, 7, 8]) lfs.remove(`/d/f${two(i)}`);
    for (let n = next(); n !== null; n = next()) seen.push(n);
    x.fs_dir_close(h);
    assert.deepEqual(seen, ["f00", "f01", "f02", "f03", "f04", "f05", "f09", "f10", "f11", "f12", "f13", "f14", "f15"]);
  });
  img.assertSound("A, one session");
});

test("B: mkdir into a directory whose last pair compacts keeps the new directory listed; its file survives", async () => {
  const img = await Image.fresh(cliConfig(512, 128));
  img.session((lfs) => lfs.mkdir("/d"));
  for (let i = 0; i < 16; i++) img.session((lfs) => lfs.writeFile(`/d/f${two(i)}`, p20));
  for (const a of ["a1", "a2", "a3"]) img.session((lfs) => lfs.mkdir(`/d/${a}`));
  img.assertSound("B, after mkdir");
  const x = seededBytes(7, 3000);
  img.session((lfs) => lfs.writeFile("/d/a3/x", x));
  const others = Array.from({ length: 12 }, (_, i) => seededBytes(100 + i, 4000));
  others.forEach((data, i) => img.session((lfs) => lfs.writeFile(`/g${two(i)}`, data)));
  img.assertSound("B, after the writes");
  img.session((lfs) => {
    assert.deepEqual(lfs.readFile("/d/a3/x"), x);
    others.forEach((data, i) => assert.deepEqual(lfs.readFile(`/g${two(i)}`), data, `/g${two(i)}`));
    assert.deepEqual(names(lfs, "/d"), ["a1", "a2", "a3", ...Array.from({ length: 16 }, (_, i) => `f${two(i)}`)]);
  });
});

test("C: relocations at block_cycles 2 leave a clean gstate on disk after unmount", async () => {
  for (const sessions of [1, 3]) {
    const img = await Image.fresh(cliConfig(512, 128, { blockCycles: 2 }));
    const data = seededBytes(3, 8000);
    const steps: ((lfs: LittleFs) => void)[] = [
      (lfs) => lfs.mkdir("/p"),
      (lfs) => lfs.mkdir("/p/c"),
      (lfs) => {
        const fd = lfs.open("/p/c/f", 0x0100 | 2);
        lfs.write(fd, data);
        lfs.sync(fd);
        lfs.close(fd);
      },
    ];
    if (sessions === 1) img.session((lfs) => steps.forEach((s) => s(lfs)));
    else steps.forEach((s) => img.session(s));
    // The XOR of every pair's gstate delta, as on disk: all 12 bytes zero.
    assert.equal(Buffer.from(img.reader().structure().gstate).toString("hex"), "00".repeat(12), `${sessions} session(s)`);
    img.assertSound(`C, ${sessions} session(s)`);
    img.session((lfs) => assert.deepEqual(lfs.readFile("/p/c/f"), data));
  }
});

test("C: a parent that is also the predecessor and relocates during its own fix-up keeps its child listed", async () => {
  // /p holds three files and /p/c, so /p's pair both names /p/c and soft-tails to it; writes into
  // /p/c relocate its pair (block_cycles 2) and the DIRSTRUCT update then relocates /p's pair too.
  const img = await Image.fresh(cliConfig(256, 128, { blockCycles: 2 }));
  img.session((lfs) => {
    lfs.mkdir("/p");
    for (let i = 0; i < 3; i++) lfs.writeFile(`/p/a${i}`, seededBytes(i, 24));
    lfs.mkdir("/p/c");
  });
  const want = new Map<string, Uint8Array>();
  for (let i = 0; i < 30; i++) {
    img.session((lfs) => {
      const data = seededBytes(i, 20);
      lfs.writeFile(`/p/c/f${i % 4}`, data);
      want.set(`/p/c/f${i % 4}`, data);
    });
    assert.equal(Buffer.from(img.reader().structure().gstate).toString("hex"), "00".repeat(12), `after write ${i}`);
    img.assertSound(`C, write ${i}`);
  }
  img.session((lfs) => { for (const [p, d] of want) assert.deepEqual(lfs.readFile(p), d, p); });
});

test("C: many relocating commits at block_cycles 2 keep the list and gstate sound at every unmount", async () => {
  const img = await Image.fresh(cliConfig(512, 128, { blockCycles: 2 }));
  const want = new Map<string, Uint8Array>();
  for (let round = 0; round < 12; round++) {
    img.session((lfs) => {
      if (round < 4) lfs.mkdir(`/p${round}`);
      const path = `/p${round % 4}/f${round}`;
      const data = seededBytes(round, 200 + 300 * (round % 5));
      lfs.writeFile(path, data);
      want.set(path, data);
      lfs.setattr(`/p${round % 4}`, 9, new Uint8Array([round]));
    });
    img.assertSound(`C, round ${round}`);
  }
  img.session((lfs) => { for (const [p, d] of want) assert.deepEqual(lfs.readFile(p), d, p); });
});

test("D: 256-byte blocks take a rename with user attributes over a file in a three-file directory", async () => {
  const img = await Image.fresh(cliConfig(256, 64, { cacheSize: 64 }));
  img.session((lfs) => {
    lfs.mkdir("/dst");
    lfs.writeFile("/dst/i", seededBytes(1, 600));
    lfs.writeFile("/dst/j", seededBytes(2, 32));
    lfs.writeFile("/dst/k", seededBytes(3, 1));
    lfs.writeFile("/s", seededBytes(4, 20));
    lfs.setattr("/s", 1, seededBytes(5, 64));
    lfs.setattr("/s", 2, seededBytes(6, 33));
  });
  img.session((lfs) => lfs.rename("/s", "/dst/j"));
  img.assertSound("D, rename");
  img.session((lfs) => {
    assert.deepEqual(names(lfs, "/dst"), ["i", "j", "k"]);
    assert.deepEqual(lfs.readFile("/dst/j"), seededBytes(4, 20));
    assert.deepEqual(lfs.getattr("/dst/j", 1), seededBytes(5, 64));
    assert.deepEqual(lfs.getattr("/dst/j", 2), seededBytes(6, 33));
    assert.deepEqual(lfs.readFile("/dst/i"), seededBytes(1, 600));
    assert.deepEqual(names(lfs, "/"), ["dst"]);
  });
});

test("D: a fresh image on 128-byte blocks takes a mkdir and two files", async () => {
  const img = await Image.fresh(cliConfig(128, 64));
  img.session((lfs) => lfs.mkdir("/d"));
  img.session((lfs) => lfs.writeFile("/d/a", seededBytes(1, 10)));
  img.session((lfs) => lfs.writeFile("/b", seededBytes(2, 300)));
  img.assertSound("D, 128-byte blocks");
  img.session((lfs) => {
    assert.deepEqual(names(lfs, "/"), ["b", "d"]);
    assert.deepEqual(lfs.readFile("/d/a"), seededBytes(1, 10));
    assert.deepEqual(lfs.readFile("/b"), seededBytes(2, 300));
  });
});

test("D: a commit that overflows even a compacted pair splits the pair and lands", async () => {
  // Four 20-byte inline files fill about half of a 256-byte pair; a 150-byte attribute on one of
  // them fits no compacted block with all four, but fits one with two.
  const img = await Image.fresh(cliConfig(256, 64, { cacheSize: 64 }));
  img.session((lfs) => {
    lfs.mkdir("/d");
    for (const n of ["a", "b", "c", "e"]) lfs.writeFile(`/d/${n}`, seededBytes(n.charCodeAt(0), 20));
  });
  img.session((lfs) => lfs.setattr("/d/b", 5, seededBytes(50, 150)));
  img.assertSound("D, split on overflow");
  assert.ok(img.reader().structure().pairs.some((p) => p.hard), "the directory now spans two pairs");
  img.session((lfs) => {
    assert.deepEqual(names(lfs, "/d"), ["a", "b", "c", "e"]);
    assert.deepEqual(lfs.getattr("/d/b", 5), seededBytes(50, 150));
    for (const n of ["a", "b", "c", "e"]) assert.deepEqual(lfs.readFile(`/d/${n}`), seededBytes(n.charCodeAt(0), 20));
  });
});

// ---- the check refuses each fault (images built by hand from a sound one) ------------------------

async function withSubdir(): Promise<Image> {
  const img = await Image.fresh(cliConfig(512, 64));
  img.session((lfs) => {
    lfs.mkdir("/d");
    lfs.mkdir("/d/sub");
    lfs.writeFile("/d/sub/x", seededBytes(9, 1500));
    lfs.writeFile("/y", seededBytes(10, 1500));
  });
  img.assertSound("fixture");
  return img;
}
const cfgOf = (img: Image) => [img.flash.bytes, img.cfg.blockSize, img.cfg.blockCount] as const;

test("check refuses a directory left out of the metadata list", async () => {
  const img = await withSubdir();
  const { pairs } = img.reader().structure();
  // The pair whose tail names /d/sub's pair skips it: /d/sub is no longer listed.
  const subAt = pairs.findIndex((p, i) => i > 0 && !p.hard && pairs[i - 1].tail && !pairs[i - 1].tail!.hard && pairs[i].ids === 1);
  assert.ok(subAt > 0);
  rewritePair(...cfgOf(img), pairs[subAt - 1].blocks, (p) => { p.tail = pairs[subAt].tail; });
  assert.match(img.refusal(), /^img: corrupt: directory pair \{\d+, \d+\} \(entry \d+ of pair \d+\) is not in the metadata list$/);
  assert.match(img.reader().faults().join(), /not in the metadata list/);
});

test("check refuses an empty pair in the middle of a directory", async () => {
  const img = await Image.fresh(cliConfig(512, 64));
  img.session((lfs) => lfs.mkdir("/d"));
  for (let i = 0; i < 16; i++) img.session((lfs) => lfs.writeFile(`/d/f${two(i)}`, p20));
  const { pairs } = img.reader().structure();
  const middle = pairs.findIndex((p, i) => p.hard && pairs[i].tail?.hard);
  assert.ok(middle > 0, JSON.stringify(pairs));
  rewritePair(...cfgOf(img), pairs[middle].blocks, (p) => { p.slots = []; });
  assert.match(img.refusal(), /^img: corrupt: metadata pair \{\d+, \d+\} is empty in the middle of a directory \(after \{\d+, \d+\}\)$/);
});

test("check refuses orphan state and a pending move left in the gstate", async () => {
  for (const [delta, message] of [
    [[0, 0, 0, 0x80], /gstate is not clean after unmount \(0x80000000 /],
    [[0x00, 0, 0xf0, 0x4f], /gstate holds a pending move \(0x4ff00000 in \{/],
  ] as const) {
    const img = await withSubdir();
    rewritePair(...cfgOf(img), [0, 1], (p) => {
      const g = p.gdelta ?? new Uint8Array(12);
      delta.forEach((b, i) => { g[i] ^= b; });
      // A move names its pair: {0, 1} here.
      if (message.source.includes("move")) g[8] ^= 1;
      p.gdelta = g;
    });
    assert.match(img.refusal(), message);
    // With --power-loss the same image is accepted (a cut leaves such state).
    img.session((lfs) => checkFs(lfs, "img", true));
  }
});

test("check refuses a block used twice and a block past the device", async () => {
  for (const [head, message] of [["pair", /^img: corrupt: block \d+ is used twice \(second use by \{\d+, \d+\}\)$/], ["range", /^img: corrupt: block 70 lies past the end of the device/]] as const) {
    const img = await withSubdir();
    const r = img.reader();
    const { pairs } = r.structure();
    const rootPair = pairs[0].blocks;
    rewritePair(...cfgOf(img), rootPair, (p) => {
      const y = p.slots.findIndex((s) => s.name && Buffer.from(s.name.bytes).toString() === "y");
      const st = p.slots[y].struct!;
      const v = new DataView(st.bytes.buffer, st.bytes.byteOffset, 8);
      // /y's CTZ head becomes a block of a metadata pair, or a block past the device.
      v.setUint32(0, head === "pair" ? pairs[pairs.length - 1].blocks[0] : 70, true);
    });
    assert.match(img.refusal(), message);
  }
});

test("wasphere fs check exits 1 with one line on a hand-broken image, and 0 on the sound one", async () => {
  const img = await withSubdir();
  const dir = mkdtempSync(join(tmpdir(), "wasphere-fs-commit-"));
  const bin = join(fileURLToPath(new URL("../../../", import.meta.url)), "bin", "wasphere.js");
  const check = (file: string) => spawnSync(process.execPath, [bin, "fs", "check", file], { encoding: "utf8" });
  writeFileSync(join(dir, "sound.img"), img.flash.bytes);
  const good = check(join(dir, "sound.img"));
  assert.equal(good.status, 0, good.stderr);
  assert.match(good.stdout, /: ok: 2 directories, 2 files, 3000 bytes, 0 attributes, \d+ blocks traversed\n$/);
  const { pairs } = img.reader().structure();
  rewritePair(...cfgOf(img), pairs[1].blocks, (p) => { p.tail = pairs[2].tail; });
  writeFileSync(join(dir, "unlisted.img"), img.flash.bytes);
  const bad = check(join(dir, "unlisted.img"));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^wasphere: .*unlisted\.img: corrupt: directory pair \{\d+, \d+\} \(entry 0 of pair \d+\) is not in the metadata list\n$/);
});
