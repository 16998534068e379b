// Round trip: images written by `wasphere fs` (mkfs, mkdir, put, setattr, mv, rm) must pass the
// same reads and checks as the reference fixtures: superblock fields, the whole tree in readdir
// order, every file by one read and by odd-size chunks, random seeks, every attribute exact and
// every other type absent, a mount with another read/prog/cache geometry, and a write after mount
// surviving a fresh core. They must also read correctly with a second, independent reader of the
// on-disk format (below), which is itself checked against every reference fixture.
import test from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Flash } from "../../host/flash.js";
import { fsErrorCode } from "../../host/fs/cli.js";
import { FsConfig, LittleFs } from "../../host/fs/littlefs.js";
import { findSuperblock } from "../../host/fs/image.js";
import { seededBytes } from "../../tools/seeded-bytes.js";
import { assertImageSound } from "./fs-image-check.js";
import { RefReader } from "./lfs-ref-reader.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const bin = join(root, "bin", "wasphere.js");
const fixtures = join(root, "tests", "fixtures", "littlefs");
const work = mkdtempSync(join(tmpdir(), "wasphere-fs-roundtrip-"));

const SEEK_SET = 0;
const O_RDONLY = 1;

type Fs = LittleFs;

test("the independent reader reproduces every reference fixture's tree and attributes", () => {
  const names = readdirSync(fixtures).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5)).sort();
  assert.ok(names.length > 0);
  for (const name of names) {
    const m = JSON.parse(readFileSync(join(fixtures, `${name}.json`), "utf8"));
    const image = new Uint8Array(readFileSync(join(fixtures, `${name}.img`)));
    const listing = new RefReader(image, m.geometry.block_size, m.geometry.block_count).listing();
    assert.deepEqual(listing, { root_attrs: m.root_attrs, tree: m.tree.map(({ storage: _s, ...rest }: Record<string, unknown>) => rest) }, name);
  }
});

/** Runs `wasphere fs ...` without blocking, so the three images are built side by side. */
function wasphere(...args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, "fs", ...args], { cwd: root });
    const out: Buffer[] = [], err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (status) => {
      if (status === 0) resolve(Buffer.concat(out));
      else reject(new Error(`wasphere fs ${args.join(" ")}: exit ${status}: ${Buffer.concat(err).toString()}`));
    });
  });
}

const bytes = seededBytes;
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

interface Entry { path: string; type: "file" | "dir"; size?: number; sha256?: string; attrs?: Record<string, string> }
interface Expected { root_attrs: Record<string, string>; tree: Entry[]; contents: Map<string, Uint8Array> }

/**
 * littlefs's directory order: bytewise over the common length, and a name that is a prefix of
 * another sorts AFTER the longer one. The reference's directory search compares the shorter
 * searched name as greater once the common bytes match, so it inserts "a" behind "a-prefix";
 * the port keeps that order so that both drivers find entries in each other's directories.
 * (The fixtures README says shorter-first, but no fixture holds such a pair.)
 */
function byName(a: string, b: string): number {
  const x = Buffer.from(a), y = Buffer.from(b);
  const n = Math.min(x.length, y.length);
  const common = Buffer.compare(x.subarray(0, n), y.subarray(0, n));
  if (common !== 0) return common;
  return y.length - x.length;
}

/** Builds the image with the CLI; returns what a manifest for it would say. */
async function buildImage(img: string, blockSize: number, blockCount: number): Promise<Expected> {
  const files = new Map<string, Uint8Array>();
  const dirs = new Set<string>(["/"]);
  const attrs = new Map<string, Record<string, string>>([["/", {}]]);
  const inlineMax = Math.min(Math.min(blockSize, 256), 1022, blockSize / 8);
  const put = async (path: string, data: Uint8Array) => {
    const host = join(work, `upload-${blockSize}.bin`);
    writeFileSync(host, data);
    await wasphere("put", img, host, path);
    files.set(path, data);
    if (!attrs.has(path)) attrs.set(path, {});
  };
  const mkdir = async (path: string) => { await wasphere("mkdir", img, path); dirs.add(path); attrs.set(path, {}); };
  const setattr = async (path: string, type: number, value: Uint8Array) => { await wasphere("setattr", img, path, String(type), hex(value)); attrs.get(path)![String(type)] = hex(value); };
  const move = async (from: string, to: string) => {
    await wasphere("mv", img, from, to);
    const rekey = <T>(m: Map<string, T>) => {
      for (const [p, v] of [...m]) if (p === from || p.startsWith(from + "/")) { m.delete(p); m.set(to + p.slice(from.length), v); }
    };
    rekey(files); rekey(attrs);
    for (const p of [...dirs]) if (p === from || p.startsWith(from + "/")) { dirs.delete(p); dirs.add(to + p.slice(from.length)); }
  };
  const rm = async (path: string) => { await wasphere("rm", img, path); files.delete(path); dirs.delete(path); attrs.delete(path); };

  await wasphere("mkfs", img, "--block-size", String(blockSize), "--block-count", String(blockCount));
  await mkdir("/etc");
  await mkdir("/var");
  await mkdir("/var/log");
  await mkdir("/tmp");
  await put("/etc/empty", new Uint8Array(0));
  await put("/etc/one", bytes(1, 1));
  await put("/etc/inline-max", bytes(2, inlineMax));
  await put("/etc/inline-max-1", bytes(3, inlineMax - 1));
  await put("/var/log/ctz", bytes(4, blockSize * 3 + 17));
  await put("/var/log/ctz-big", bytes(5, blockSize * 9 + blockSize / 2));
  await put("/var/a-prefix", bytes(6, 10));
  await put("/var/a", bytes(7, 11));
  await put("/tmp/scratch", bytes(8, 300));
  await put("/etc/one", bytes(9, blockSize + 1)); // inline -> CTZ
  await setattr("/etc/one", 0, bytes(10, 5));
  await setattr("/etc/one", 255, new Uint8Array(0));
  await setattr("/var/log", 17, bytes(11, 40));
  await setattr("/", 128, bytes(12, 9));
  await setattr("/var/log/ctz", 3, bytes(13, 100));
  await setattr("/var/log/ctz", 3, bytes(14, 4)); // updated
  await move("/etc/inline-max-1", "/etc/renamed"); // within a directory
  await move("/var/log/ctz", "/etc/ctz-moved"); // across directories, attribute with it
  await move("/var/log", "/logs"); // a non-empty directory
  await rm("/tmp/scratch");
  await rm("/tmp");

  const tree: Entry[] = [];
  const walk = (dir: string) => {
    const prefix = dir === "/" ? "/" : dir + "/";
    const children = [...new Set([...files.keys(), ...dirs].filter((p) => p !== dir && p.startsWith(prefix) && !p.slice(prefix.length).includes("/")))];
    for (const p of children.sort((a, b) => byName(a.slice(prefix.length), b.slice(prefix.length)))) {
      const a = attrs.get(p) ?? {};
      const e: Entry = dirs.has(p) ? { path: p, type: "dir" } : { path: p, type: "file", size: files.get(p)!.length, sha256: sha256(files.get(p)!) };
      if (Object.keys(a).length) e.attrs = a;
      tree.push(e);
      if (dirs.has(p)) walk(p);
    }
  };
  walk("/");
  return { root_attrs: attrs.get("/")!, tree, contents: files };
}

function readChunked(lfs: Fs, path: string, chunks: number[]): Uint8Array {
  const fd = lfs.open(path, O_RDONLY);
  const parts: Uint8Array[] = [];
  try {
    for (let i = 0; ; i++) {
      const part = lfs.read(fd, chunks[i % chunks.length]);
      if (part.length === 0) break;
      parts.push(part);
    }
  } finally { lfs.close(fd); }
  return new Uint8Array(Buffer.concat(parts));
}

/** The fixture checks, against an expected manifest. */
function verify(lfs: Fs, exp: Expected, label: string): void {
  const tree: Entry[] = [];
  const walk = (dir: string) => {
    for (const e of lfs.readdir(dir)) {
      if (e.name === "." || e.name === "..") continue;
      const path = dir === "/" ? `/${e.name}` : `${dir}/${e.name}`;
      const isDir = e.type === "dir";
      tree.push(isDir ? { path, type: "dir" } : { path, type: "file", size: e.size });
      if (isDir) walk(path);
    }
  };
  walk("/");
  assert.deepEqual(tree.map((e) => `${e.type} ${e.path}`), exp.tree.map((e) => `${e.type} ${e.path}`), `${label}: paths and readdir order`);

  for (const e of exp.tree) {
    const attrs: Record<string, string> = {};
    for (let t = 0; t <= 255; t++) {
      try {
        const v = lfs.getattr(e.path, t);
        if (v) attrs[String(t)] = hex(v);
      } catch (err) {
        assert.equal(fsErrorCode(err), -61, `${label}: ${e.path} attribute ${t}: ${(err as Error).message}`);
      }
    }
    assert.deepEqual(attrs, e.attrs ?? {}, `${label}: ${e.path} attributes`);
    if (e.type !== "file") continue;
    assert.equal(lfs.stat(e.path).size, e.size, `${label}: ${e.path} stat size`);
    const whole = lfs.readFile(e.path);
    assert.equal(sha256(whole), e.sha256, `${label}: ${e.path} content`);
    assert.equal(sha256(readChunked(lfs, e.path, [1, 7, 333, 511, 4099])), e.sha256, `${label}: ${e.path} chunked`);
    // Random seeks, compared with the whole read.
    const fd = lfs.open(e.path, O_RDONLY);
    try {
      for (let i = 0; i < 8 && whole.length > 0; i++) {
        const off = (i * 7919 + 13) % whole.length;
        assert.equal(lfs.seek(fd, off, SEEK_SET), off);
        assert.equal(hex(lfs.read(fd, 23)), hex(whole.subarray(off, off + 23)), `${label}: ${e.path} at ${off}`);
      }
    } finally { lfs.close(fd); }
  }
}

async function mount(flash: Flash, cfg: FsConfig): Promise<Fs> {
  return LittleFs.mount(flash, cfg);
}

const geometries = [[512, 512], [1024, 256], [4096, 64]];
// All three images are built at once (each by a sequence of commands); each test awaits its own.
const builds = new Map(geometries.map(([blockSize, blockCount]) => {
  const built = buildImage(join(work, `rt-${blockSize}.img`), blockSize, blockCount);
  built.catch(() => {}); // reported by the test that awaits it
  return [blockSize, built];
}));

for (const [blockSize, blockCount] of geometries) {
  test(`an image written by wasphere fs on ${blockSize}-byte blocks passes the fixture checks`, async () => {
    const img = join(work, `rt-${blockSize}.img`);
    const exp = await builds.get(blockSize)!;
    const image = new Uint8Array(readFileSync(img));

    // The superblock, read from the raw bytes without the core.
    const sb = findSuperblock(image);
    assert.ok(sb, "superblock entry at the start of block 0 or 1");
    assert.deepEqual([sb.version, sb.blockSize, sb.blockCount], [0x00020001, blockSize, blockCount]);

    // The independent reader.
    assert.deepEqual(new RefReader(image, blockSize, blockCount).listing(), { root_attrs: exp.root_attrs, tree: exp.tree });

    // The command line's own readers.
    const listing = JSON.parse((await wasphere("ls", img, "--json")).toString());
    assert.deepEqual(listing, { root_attrs: exp.root_attrs, tree: exp.tree });
    assert.match((await wasphere("check", img)).toString(), /: ok: /);

    // The fixture checks, with the geometry it was written with and with another.
    const cfgs = [
      { blockSize, blockCount, readSize: 16, progSize: 16, cacheSize: Math.min(blockSize, 256), lookaheadSize: 16, blockCycles: 500 },
      { blockSize, blockCount, readSize: 64, progSize: 32, cacheSize: Math.min(blockSize, 512), lookaheadSize: 32, blockCycles: -1 },
    ];
    for (const cfg of cfgs) {
      const lfs = await mount(new Flash({ blockSizeBytes: blockSize, blockCount }, image), cfg);
      const fi = lfs.fsinfo();
      assert.deepEqual([fi.diskVersion, fi.blockSize, fi.blockCount], [0x00020001, blockSize, blockCount], "fs_stat: disk version 2.1 and geometry");
      verify(lfs, exp, `read/prog/cache ${cfg.readSize}/${cfg.progSize}/${cfg.cacheSize}`);
      assert.ok(lfs.traverse() > 0);
      lfs.unmount();
    }

    // Write after mount, remount, and a fresh core.
    const flash = new Flash({ blockSizeBytes: blockSize, blockCount }, image);
    let lfs = await mount(flash, cfgs[0]);
    const added = bytes(99, blockSize * 2 + 5);
    lfs.writeFile("/etc/added", added);
    lfs.writeFile("/etc/one", bytes(98, 33));
    lfs.unmount();
    assertImageSound(image, cfgs[0], `rt-${blockSize}.img as written`);
    assertImageSound(flash.bytes, cfgs[0], `rt-${blockSize}.img after a write`);
    const rewritten = new RefReader(flash.bytes, blockSize, blockCount).listing();
    assert.equal(rewritten.tree.find((e) => e.path === "/etc/added")?.sha256, sha256(added), "independent reader sees the write after mount");
    lfs = await mount(flash.clone(), cfgs[1]);
    assert.equal(sha256(lfs.readFile("/etc/added")), sha256(added));
    assert.equal(sha256(lfs.readFile("/etc/one")), sha256(bytes(98, 33)));
    const untouched = exp.tree.filter((e) => e.path !== "/etc/one");
    for (const e of untouched) if (e.type === "file") assert.equal(sha256(lfs.readFile(e.path)), e.sha256, `${e.path} after a write`);
    lfs.unmount();
  });
}
