// Round trip: images written by `wasphere fs` (mkfs, mkdir, put, setattr, mv, rm) must pass the
// same reads and checks as the reference fixtures: superblock fields (read by the core, and by an
// independent parse of the raw bytes), the whole tree in readdir order, every file by one read and
// by odd-size chunks, random seeks, every attribute exact and every other type absent, a mount
// with another read/prog/cache geometry, and a write after mount surviving a fresh core.
import test from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Flash } from "../../host/flash.js";
import { fsErrorCode, littleFs, LittleFsClass } from "../../host/fs/cli.js";
import { findSuperblock } from "../../host/fs/image.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const bin = join(root, "bin", "wasphere.js");
const wrapperBuilt = existsSync(new URL("../../host/fs/littlefs.js", import.meta.url));
const skip = !wrapperBuilt && "host/fs/littlefs.ts is not built yet";
const work = mkdtempSync(join(tmpdir(), "wasphere-fs-roundtrip-"));

const SEEK_SET = 0;
const O_RDONLY = 1;

interface Fs {
  readFile(path: string): Uint8Array;
  writeFile(path: string, data: Uint8Array): void;
  readdir(path: string): { name: string; type: number | string; size: number }[];
  stat(path: string): { type: number | string; size: number };
  open(path: string, flags: number): number;
  read(fd: number, len: number): Uint8Array;
  seek(fd: number, off: number, whence: number): number;
  close(fd: number): void;
  getattr(path: string, type: number): Uint8Array | null;
  fsinfo(): Record<string, number>;
  traverse(): number;
  unmount(): void;
}

function wasphere(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, "fs", ...args], { cwd: root, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `wasphere fs ${args.join(" ")}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function bytes(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

interface Entry { path: string; type: "file" | "dir"; size?: number; sha256?: string; attrs?: Record<string, string> }
interface Expected { root_attrs: Record<string, string>; tree: Entry[]; contents: Map<string, Uint8Array> }

/** littlefs's directory order: bytewise, a prefix before the longer name. */
function byName(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Builds the image with the CLI; returns what a manifest for it would say. */
function buildImage(img: string, blockSize: number, blockCount: number): Expected {
  const files = new Map<string, Uint8Array>();
  const dirs = new Set<string>(["/"]);
  const attrs = new Map<string, Record<string, string>>([["/", {}]]);
  const inlineMax = Math.min(Math.min(blockSize, 256), 1022, blockSize / 8);
  const put = (path: string, data: Uint8Array) => {
    const host = join(work, "upload.bin");
    writeFileSync(host, data);
    wasphere("put", img, host, path);
    files.set(path, data);
    if (!attrs.has(path)) attrs.set(path, {});
  };
  const mkdir = (path: string) => { wasphere("mkdir", img, path); dirs.add(path); attrs.set(path, {}); };
  const setattr = (path: string, type: number, value: Uint8Array) => { wasphere("setattr", img, path, String(type), hex(value)); attrs.get(path)![String(type)] = hex(value); };
  const move = (from: string, to: string) => {
    wasphere("mv", img, from, to);
    const rekey = <T>(m: Map<string, T>) => {
      for (const [p, v] of [...m]) if (p === from || p.startsWith(from + "/")) { m.delete(p); m.set(to + p.slice(from.length), v); }
    };
    rekey(files); rekey(attrs);
    for (const p of [...dirs]) if (p === from || p.startsWith(from + "/")) { dirs.delete(p); dirs.add(to + p.slice(from.length)); }
  };
  const rm = (path: string) => { wasphere("rm", img, path); files.delete(path); dirs.delete(path); attrs.delete(path); };

  wasphere("mkfs", img, "--block-size", String(blockSize), "--block-count", String(blockCount));
  mkdir("/etc");
  mkdir("/var");
  mkdir("/var/log");
  mkdir("/tmp");
  put("/etc/empty", new Uint8Array(0));
  put("/etc/one", bytes(1, 1));
  put("/etc/inline-max", bytes(2, inlineMax));
  put("/etc/inline-max-1", bytes(3, inlineMax - 1));
  put("/var/log/ctz", bytes(4, blockSize * 3 + 17));
  put("/var/log/ctz-big", bytes(5, blockSize * 9 + blockSize / 2));
  put("/var/a-prefix", bytes(6, 10));
  put("/var/a", bytes(7, 11));
  put("/tmp/scratch", bytes(8, 300));
  put("/etc/one", bytes(9, blockSize + 1)); // inline -> CTZ
  setattr("/etc/one", 0, bytes(10, 5));
  setattr("/etc/one", 255, new Uint8Array(0));
  setattr("/var/log", 17, bytes(11, 40));
  setattr("/", 128, bytes(12, 9));
  setattr("/var/log/ctz", 3, bytes(13, 100));
  setattr("/var/log/ctz", 3, bytes(14, 4)); // updated
  move("/etc/inline-max-1", "/etc/renamed"); // within a directory
  move("/var/log/ctz", "/etc/ctz-moved"); // across directories, attribute with it
  move("/var/log", "/logs"); // a non-empty directory
  rm("/tmp/scratch");
  rm("/tmp");

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
      const isDir = e.type === 2 || e.type === "dir";
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

async function mount(LittleFs: LittleFsClass, flash: Flash, cfg: object): Promise<Fs> {
  return (await LittleFs.mount(flash, cfg)) as unknown as Fs;
}

for (const [blockSize, blockCount] of [[512, 512], [1024, 256], [4096, 64]]) {
  test(`an image written by wasphere fs on ${blockSize}-byte blocks passes the fixture checks`, { skip }, async () => {
    const LittleFs = await littleFs();
    const img = join(work, `rt-${blockSize}.img`);
    const exp = buildImage(img, blockSize, blockCount);
    const image = new Uint8Array(readFileSync(img));

    // The superblock, read from the raw bytes without the core.
    const sb = findSuperblock(image);
    assert.ok(sb, "superblock entry at the start of block 0 or 1");
    assert.deepEqual([sb.version, sb.blockSize, sb.blockCount], [0x00020001, blockSize, blockCount]);

    // The command line's own readers.
    const listing = JSON.parse(wasphere("ls", img, "--json").toString());
    assert.deepEqual(listing, { root_attrs: exp.root_attrs, tree: exp.tree });
    assert.match(wasphere("check", img).toString(), /: ok: /);

    // The fixture checks, with the geometry it was written with and with another.
    const cfgs = [
      { blockSize, blockCount, readSize: 16, progSize: 16, cacheSize: Math.min(blockSize, 256), lookaheadSize: 16, blockCycles: 500 },
      { blockSize, blockCount, readSize: 64, progSize: 32, cacheSize: Math.min(blockSize, 512), lookaheadSize: 32, blockCycles: -1 },
    ];
    for (const cfg of cfgs) {
      const lfs = await mount(LittleFs, new Flash({ blockSizeBytes: blockSize, blockCount }, image), cfg);
      const fi = lfs.fsinfo();
      assert.equal(fi.diskVersion ?? fi.disk_version ?? fi.version, 0x00020001, "disk version 2.1");
      verify(lfs, exp, `read/prog/cache ${cfg.readSize}/${cfg.progSize}/${cfg.cacheSize}`);
      assert.ok(lfs.traverse() > 0);
      lfs.unmount();
    }

    // Write after mount, remount, and a fresh core.
    const flash = new Flash({ blockSizeBytes: blockSize, blockCount }, image);
    let lfs = await mount(LittleFs, flash, cfgs[0]);
    const added = bytes(99, blockSize * 2 + 5);
    lfs.writeFile("/etc/added", added);
    lfs.writeFile("/etc/one", bytes(98, 33));
    lfs.unmount();
    lfs = await mount(LittleFs, flash.clone(), cfgs[1]);
    assert.equal(sha256(lfs.readFile("/etc/added")), sha256(added));
    assert.equal(sha256(lfs.readFile("/etc/one")), sha256(bytes(98, 33)));
    const untouched = exp.tree.filter((e) => e.path !== "/etc/one");
    for (const e of untouched) if (e.type === "file") assert.equal(sha256(lfs.readFile(e.path)), e.sha256, `${e.path} after a write`);
    lfs.unmount();
  });
}
