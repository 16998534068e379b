// Fuzz target `littlefs`: the core's littlefs port mounting and using damaged images.
//
// A case is a base image (a golden fixture made by reference littlefs, or an image the port
// itself wrote from a seeded script) plus a list of edits: bit flips, bytes set, ranges zeroed or
// erased to 0xff, one block copied over another (stale revisions), a superblock field changed.
// Edits land mostly in blocks that hold data, where they matter. The case then mounts (with the
// fixture's geometry, or with block count 0 so the superblock's count is trusted), lists every
// directory, stats and reads every file, writes, renames and removes, traverses, unmounts and
// mounts again. Properties:
// - the core never traps or panics; every failure is an FsError with a known code;
// - what readdir lists agrees with stat (type and size), and a read returns the stat size;
// - a file the port wrote and closed without error reads back byte for byte, before and after a
//   remount, and the image mounts again after the port's own operations (after a remount only
//   when no edit copied a whole block: see execute).
// The input is JSON (base name, geometry, edits, script seed): a reproducer is a few hundred bytes,
// not an image.
// Must not: read the fixtures' expected trees (that is fs-fixtures' job): a damaged image may
// legitimately lose entries.
import { readdirSync, readFileSync } from "node:fs";
import { Flash } from "../host/flash.js";
import { FS_ERRORS, FsError, LittleFs, type FsConfig } from "../host/fs/littlefs.js";
import { FuzzFailure, Prng, type FuzzTarget } from "./fuzz-lib.js";

const FIXTURES = new URL("../../tests/fixtures/littlefs/", import.meta.url);
const MAX_ENTRIES = 2000;
const MAX_DEPTH = 12;

interface Geometry { blockSize: number; blockCount: number; readSize: number; progSize: number; cacheSize: number; lookaheadSize: number; blockCycles: number; nameMax: number }
type Edit = [kind: "flip" | "set" | "zero" | "erase" | "copy", at: number, arg: number];
interface LfsCase { base: string; geometry: Geometry; mountBlockCount: number; edits: Edit[]; scriptSeed: number }

const fixtureNames = (): string[] => readdirSync(FIXTURES).filter((n) => n.endsWith(".img")).map((n) => n.slice(0, -4)).sort();

function fixtureGeometry(name: string): Geometry {
  const g = JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), "utf8")).geometry;
  return { blockSize: g.block_size, blockCount: g.block_count, readSize: g.read_size, progSize: g.prog_size, cacheSize: g.cache_size, lookaheadSize: g.lookahead_size, blockCycles: g.block_cycles, nameMax: g.name_max };
}

const fsConfig = (g: Geometry, blockCount = g.blockCount): FsConfig => ({
  blockSize: g.blockSize, blockCount, readSize: g.readSize, progSize: g.progSize, cacheSize: g.cacheSize,
  lookaheadSize: g.lookaheadSize, blockCycles: g.blockCycles, nameMax: g.nameMax, inlineMax: 0,
});

const imageCache = new Map<string, Uint8Array>();

/** The base image, before edits: a fixture's bytes, or what the port writes for `port:<seed>`. */
async function baseImage(base: string, g: Geometry): Promise<Uint8Array> {
  const cached = imageCache.get(base);
  if (cached) return cached;
  let img: Uint8Array;
  if (base.startsWith("port:")) img = await portImage(Number(base.slice(5)), g);
  else img = new Uint8Array(readFileSync(new URL(`${base}.img`, FIXTURES)));
  if (imageCache.size > 64) imageCache.clear();
  imageCache.set(base, img);
  return img;
}

/** The geometry of image `port:<seed>`: a function of the seed, so the name says it all. */
function portGeometry(seed: number): Geometry {
  const rng = new Prng(seed ^ 0x5eed);
  const blockSize = rng.pick([128, 256, 512, 1024, 4096]);
  return { blockSize, blockCount: rng.range(8, blockSize >= 4096 ? 24 : 64), readSize: 16, progSize: 16, cacheSize: 64, lookaheadSize: 16, blockCycles: rng.pick([-1, 2, 100, 500]), nameMax: 255 };
}

/** An image the port formats and fills from a seeded script of mkdir, write, rename, remove. */
async function portImage(seed: number, g: Geometry): Promise<Uint8Array> {
  const rng = new Prng(seed);
  const flash = new Flash({ blockSizeBytes: g.blockSize, blockCount: g.blockCount });
  await LittleFs.format(flash, fsConfig(g));
  const fs = LittleFs.mount(flash, fsConfig(g));
  const dirs = ["/"];
  const files: string[] = [];
  for (let op = rng.range(3, 30); op > 0; op--) {
    const parent = rng.pick(dirs);
    const path = `${parent === "/" ? "" : parent}/${rng.pick(["a", "b", "cfg", "log", "data", "x".repeat(rng.range(1, 40))])}${rng.below(50)}`;
    try {
      const r = rng.below(10);
      if (r < 2 && dirs.length < 8) { fs.mkdir(path); dirs.push(path); }
      else if (r < 7) { fs.writeFile(path, rng.bytes(rng.chance(0.3) ? rng.range(200, 3 * g.blockSize) : rng.range(0, 60))); files.push(path); }
      else if (r < 8 && files.length > 0) { const from = rng.pick(files); fs.rename(from, path); files[files.indexOf(from)] = path; }
      else if (files.length > 0) { const f = files.splice(rng.below(files.length), 1)[0]; fs.remove(f); }
    } catch (err) {
      if (!(err instanceof FsError)) throw err;
    }
  }
  fs.unmount();
  return flash.bytes.slice();
}

/** Offsets of blocks that hold something (not all 0xff). */
function usedBlocks(img: Uint8Array, blockSize: number): number[] {
  const out: number[] = [];
  for (let b = 0; b * blockSize < img.length; b++) {
    const block = img.subarray(b * blockSize, (b + 1) * blockSize);
    if (block.some((x) => x !== 0xff)) out.push(b);
  }
  return out;
}

function applyEdits(img: Uint8Array, blockSize: number, edits: Edit[]): Uint8Array {
  const out = img.slice();
  for (const [kind, at, arg] of edits) {
    const a = at % out.length;
    switch (kind) {
      case "flip": out[a] ^= 1 << (arg & 7); break;
      case "set": out[a] = arg & 0xff; break;
      case "zero": out.fill(0, a, Math.min(out.length, a + arg)); break;
      case "erase": out.fill(0xff, a, Math.min(out.length, a + arg)); break;
      case "copy": {
        const from = Math.floor(a / blockSize) * blockSize;
        const to = (arg % (out.length / blockSize)) * blockSize;
        out.copyWithin(to, from, from + blockSize);
        break;
      }
    }
  }
  return out;
}

function generateEdits(rng: Prng, img: Uint8Array, blockSize: number): Edit[] {
  const used = usedBlocks(img, blockSize);
  const blocks = img.length / blockSize;
  const edits: Edit[] = [];
  for (let n = rng.range(1, 6); n > 0; n--) {
    const block = used.length > 0 && rng.chance(0.9) ? rng.pick(used) : rng.below(blocks);
    // The first bytes of a metadata block hold the revision count and the first tags.
    const within = rng.chance(0.4) ? rng.below(Math.min(64, blockSize)) : rng.below(blockSize);
    const at = block * blockSize + within;
    const kind = rng.pick<Edit[0]>(["flip", "flip", "flip", "set", "set", "zero", "erase", "copy"]);
    const arg = kind === "zero" || kind === "erase" ? rng.range(1, rng.chance(0.5) ? 16 : blockSize) : kind === "copy" ? (used.length > 0 ? rng.pick(used) : rng.below(blocks)) : rng.u32();
    edits.push([kind, at, arg]);
  }
  return edits;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export const littlefsTarget: FuzzTarget = {
  name: "littlefs",
  summary: "damaged littlefs images: mount, list, stat, read, write, remount; no trap, consistent answers, written data reads back",
  hangMs: 10000,

  async generate(rng: Prng): Promise<Uint8Array> {
    let base: string;
    let geometry: Geometry;
    if (rng.chance(0.6)) {
      base = rng.pick(fixtureNames());
      geometry = fixtureGeometry(base);
    } else {
      base = `port:${rng.below(32)}`;
      geometry = portGeometry(Number(base.slice(5)));
    }
    const img = await baseImage(base, geometry);
    const lfsCase: LfsCase = { base, geometry, mountBlockCount: rng.chance(0.2) ? 0 : geometry.blockCount, edits: generateEdits(rng, img, geometry.blockSize), scriptSeed: rng.u32() };
    return enc.encode(JSON.stringify(lfsCase));
  },

  async execute(input: Uint8Array): Promise<void> {
    const c = JSON.parse(dec.decode(input)) as LfsCase;
    const img = applyEdits(await baseImage(c.base, c.geometry), c.geometry.blockSize, c.edits);
    const flash = new Flash({ blockSizeBytes: c.geometry.blockSize, blockCount: c.geometry.blockCount }, img);
    const cfg = fsConfig(c.geometry, c.mountBlockCount);
    const fs = guarded("mount", () => LittleFs.mount(flash, cfg));
    if (!fs) return;
    // A block copied over another is well-formed metadata in the wrong place: littlefs cannot tell,
    // so what it then writes may land in a structure the remount reads differently. Such cases
    // check everything but persistence across the remount.
    exercise(fs, new Prng(c.scriptSeed), cfg, !c.edits.some((e) => e[0] === "copy"));
    guarded("unmount", () => fs.unmount());
  },
};

/** Runs `op`; an FsError with a known code is an acceptable answer (null); anything else fails the case. */
function guarded<T>(what: string, op: () => T): T | null {
  try {
    return op();
  } catch (err) {
    if (err instanceof FsError && FS_ERRORS[err.code] !== undefined) return null;
    if (err instanceof FuzzFailure) throw err;
    throw new FuzzFailure(`${what}: ${err instanceof FsError ? `unknown error code ${err.code}` : `the core trapped or the host threw: ${(err as Error).name}: ${(err as Error).message}`}`);
  }
}

interface Listed { path: string; type: "file" | "dir"; size: number }

function walk(fs: LittleFs, path: string, depth: number, out: Listed[]): void {
  if (depth > MAX_DEPTH || out.length > MAX_ENTRIES) return;
  const entries = guarded(`readdir ${path}`, () => fs.readdir(path));
  if (!entries) return;
  for (const e of entries) {
    if (e.name.length === 0 || e.name.includes("/")) throw new FuzzFailure(`readdir ${JSON.stringify(path)} listed the name ${JSON.stringify(e.name)}`);
    const p = (path === "/" ? "" : path) + "/" + e.name;
    out.push({ path: p, type: e.type, size: e.size });
    if (e.type === "dir") walk(fs, p, depth + 1, out);
  }
}

function exercise(fs: LittleFs, rng: Prng, cfg: FsConfig, checkPersistence: boolean): void {
  const listed: Listed[] = [];
  walk(fs, "/", 0, listed);
  for (const e of listed) {
    const st = guarded(`stat ${e.path}`, () => fs.stat(e.path));
    // A name listed twice (a damaged directory) resolves to one of them: only check unique ones.
    const unique = listed.filter((x) => x.path === e.path).length === 1;
    if (st && unique && st.type !== e.type) throw new FuzzFailure(`${JSON.stringify(e.path)} is listed as a ${e.type} but stat says ${st.type}`);
    if (st && unique && e.type === "file" && st.size !== e.size) throw new FuzzFailure(`${JSON.stringify(e.path)} is listed with ${e.size} bytes but stat says ${st.size}`);
    if (e.type === "file" && e.size <= 1 << 20) {
      const data = guarded(`read ${e.path}`, () => fs.readFile(e.path));
      if (data && st && unique && data.length !== st.size) throw new FuzzFailure(`reading ${JSON.stringify(e.path)} gave ${data.length} bytes; stat says ${st.size}`);
    }
  }
  guarded("traverse", () => fs.traverse());
  guarded("fsinfo", () => fs.fsinfo());

  // Writes: what the port says it wrote must read back.
  const written = new Map<string, Uint8Array>();
  const write = (path: string, data: Uint8Array) => {
    if (guarded(`write ${path}`, () => { fs.writeFile(path, data); return true; })) written.set(path, data);
    else written.delete(path);
  };
  write("/fuzz-small", rng.bytes(rng.range(0, 40)));
  if (guarded("mkdir /fuzz-dir", () => { fs.mkdir("/fuzz-dir"); return true; })) write("/fuzz-dir/big", rng.bytes(rng.range(100, 3000)));
  if (listed.length > 0) {
    const victim = rng.pick(listed);
    if (victim.type === "file") write(victim.path, rng.bytes(rng.range(0, 300)));
    else guarded(`remove ${victim.path}`, () => fs.remove(victim.path));
  }
  if (written.has("/fuzz-small") && guarded("rename", () => { fs.rename("/fuzz-small", "/fuzz-renamed"); return true; })) {
    written.set("/fuzz-renamed", written.get("/fuzz-small")!);
    written.delete("/fuzz-small");
  }
  checkWritten(fs, written, "after writing");
  guarded("gc", () => fs.gc());

  const flash = fs.flash;
  if (!guarded("unmount", () => { fs.unmount(); return true; })) return;
  let remountError = "";
  const again = guarded("remount", () => {
    try { return LittleFs.mount(flash, cfg); } catch (err) { remountError = (err as Error).message; throw err; }
  });
  if (!again) {
    if (written.size > 0 && checkPersistence) throw new FuzzFailure(`the image no longer mounts (${remountError}) after the port's own writes (${[...written.keys()].join(", ")}) succeeded`);
    return;
  }
  if (checkPersistence) checkWritten(again, written, "after a remount");
  guarded("unmount", () => again.unmount());
}

function checkWritten(fs: LittleFs, written: Map<string, Uint8Array>, when: string): void {
  for (const [path, data] of written) {
    let got: Uint8Array;
    try {
      got = fs.readFile(path);
    } catch (err) {
      if (err instanceof FsError) throw new FuzzFailure(`${path}, written without error, cannot be read ${when}: ${err.message}`);
      throw new FuzzFailure(`reading ${path} ${when}: the core trapped or the host threw: ${(err as Error).message}`);
    }
    if (got.length !== data.length || got.some((b, i) => b !== data[i])) {
      const firstDiff = got.findIndex((b, i) => b !== data[i]);
      throw new FuzzFailure(`${path} reads back ${when} as ${got.length} bytes (first difference at ${firstDiff}); ${data.length} were written`);
    }
  }
}
