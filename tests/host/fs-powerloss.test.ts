// Power loss: cut the flash at the Nth program or erase during a file-system workload, then mount
// the image with a fresh core. Every littlefs operation is atomic, so the tree must equal the state
// before the interrupted operation or the state after it (plus, for a file that did not exist, the
// state where it exists empty: littlefs commits a create at open and the content at close). Then
// traversal must find nothing corrupt and a following write must succeed and read back.
// Small workloads are cut at every program/erase, both with the operation lost and torn in half;
// relocations at block_cycles 4 too; directory splits at a seeded sample of cut points.
import test from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Flash, PowerCut, PowerCutMode } from "../../host/flash.js";
import { fsErrorCode } from "../../host/fs/cli.js";
import { LittleFs } from "../../host/fs/littlefs.js";
import { seededBytes } from "../../tools/seeded-bytes.js";
import { assertImageSound } from "./fs-image-check.js";


// littlefs's open flags.
const O_WRONLY = 2;
const O_APPEND = 0x0800;

type Fs = LittleFs;

interface Config { blockSize: number; blockCount: number; readSize: number; progSize: number; cacheSize: number; lookaheadSize: number; blockCycles: number }

const ATTR_TYPES = [0, 7, 42, 255];

// ---- the model ----------------------------------------------------------------------------------

interface Node { type: "file" | "dir"; data: Uint8Array; attrs: Map<number, string> }

class Model {
  nodes = new Map<string, Node>();
  rootAttrs = new Map<number, string>();

  clone(): Model {
    const m = new Model();
    for (const [p, n] of this.nodes) m.nodes.set(p, { type: n.type, data: n.data, attrs: new Map(n.attrs) });
    m.rootAttrs = new Map(this.rootAttrs);
    return m;
  }

  attrsOf(path: string): Map<number, string> {
    if (path === "/") return this.rootAttrs;
    const n = this.nodes.get(path);
    if (!n) throw new Error(`model: no ${path}`);
    return n.attrs;
  }

  canon(): string {
    const attrText = (a: Map<number, string>) => [...a].sort((x, y) => x[0] - y[0]).map(([t, v]) => `${t}=${v}`).join(",");
    const lines = [...this.nodes].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([p, n]) => `${p} ${n.type}${n.type === "file" ? ` ${n.data.length} ${sha(n.data)}` : ""} [${attrText(n.attrs)}]`);
    return `/ [${attrText(this.rootAttrs)}]\n` + lines.join("\n");
  }
}

function sha(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex").slice(0, 16);
}
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** What the mounted file system holds, in the model's canonical form. */
function snapshot(lfs: Fs): string {
  const m = new Model();
  const attrs = (path: string) => {
    const out = new Map<number, string>();
    for (const t of ATTR_TYPES) {
      try {
        const v = lfs.getattr(path, t);
        if (v) out.set(t, hex(v));
      } catch (err) {
        if (fsErrorCode(err) !== -61) throw err;
      }
    }
    return out;
  };
  const walk = (dir: string) => {
    for (const e of lfs.readdir(dir)) {
      if (e.name === "." || e.name === "..") continue;
      const path = dir === "/" ? `/${e.name}` : `${dir}/${e.name}`;
      const isDir = e.type === "dir";
      const data = isDir ? new Uint8Array(0) : lfs.readFile(path);
      if (!isDir && data.length !== e.size) throw new Error(`${path}: read ${data.length} bytes, entry says ${e.size}`);
      m.nodes.set(path, { type: isDir ? "dir" : "file", data, attrs: attrs(path) });
      if (isDir) walk(path);
    }
  };
  walk("/");
  m.rootAttrs = attrs("/");
  return m.canon();
}

// ---- operations ---------------------------------------------------------------------------------

interface Op {
  label: string;
  run(lfs: Fs): void;
  /** Changes the model into the state after the operation. */
  apply(m: Model): void;
  /** States other than before/after that the operation may leave when cut. */
  partial?(before: Model): Model[];
}

const bytes = seededBytes;

const write = (path: string, data: Uint8Array): Op => ({
  label: `write ${path} (${data.length} B)`,
  run: (lfs) => lfs.writeFile(path, data),
  apply: (m) => {
    const old = m.nodes.get(path);
    m.nodes.set(path, { type: "file", data, attrs: old ? old.attrs : new Map() });
  },
  partial: (before) => {
    if (before.nodes.has(path)) return [];
    const m = before.clone();
    m.nodes.set(path, { type: "file", data: new Uint8Array(0), attrs: new Map() });
    return [m];
  },
});

const append = (path: string, data: Uint8Array): Op => ({
  label: `append ${path} (+${data.length} B)`,
  run: (lfs) => {
    const fd = lfs.open(path, O_WRONLY | O_APPEND);
    try { lfs.write(fd, data); } finally { lfs.close(fd); }
  },
  apply: (m) => {
    const n = m.nodes.get(path)!;
    const grown = new Uint8Array(n.data.length + data.length);
    grown.set(n.data);
    grown.set(data, n.data.length);
    n.data = grown;
  },
});

const truncate = (path: string, size: number): Op => ({
  label: `truncate ${path} to ${size} B`,
  run: (lfs) => {
    const fd = lfs.open(path, O_WRONLY);
    try { lfs.truncate(fd, size); } finally { lfs.close(fd); }
  },
  apply: (m) => {
    const n = m.nodes.get(path)!;
    const next = new Uint8Array(size);
    next.set(n.data.subarray(0, size));
    n.data = next;
  },
});

const mkdir = (path: string): Op => ({
  label: `mkdir ${path}`,
  run: (lfs) => lfs.mkdir(path),
  apply: (m) => { m.nodes.set(path, { type: "dir", data: new Uint8Array(0), attrs: new Map() }); },
});

const remove = (path: string): Op => ({
  label: `remove ${path}`,
  run: (lfs) => lfs.remove(path),
  apply: (m) => { m.nodes.delete(path); },
});

const rename = (from: string, to: string): Op => ({
  label: `rename ${from} -> ${to}`,
  run: (lfs) => lfs.rename(from, to),
  apply: (m) => {
    const moved = [...m.nodes].filter(([p]) => p === from || p.startsWith(from + "/"));
    for (const [p] of [...m.nodes]) if (p === to || p.startsWith(to + "/")) m.nodes.delete(p);
    for (const [p] of moved) m.nodes.delete(p);
    for (const [p, n] of moved) m.nodes.set(to + p.slice(from.length), n);
  },
});

const setattr = (path: string, type: number, value: Uint8Array): Op => ({
  label: `setattr ${path} ${type} (${value.length} B)`,
  run: (lfs) => lfs.setattr(path, type, value),
  apply: (m) => { m.attrsOf(path).set(type, hex(value)); },
});

const removeattr = (path: string, type: number): Op => ({
  label: `removeattr ${path} ${type}`,
  run: (lfs) => lfs.removeattr(path, type),
  apply: (m) => { m.attrsOf(path).delete(type); },
});

// ---- workloads ----------------------------------------------------------------------------------

interface Workload {
  name: string;
  config: Config;
  setup: Op[];
  ops: Op[];
  /** Cut points to try per mode; undefined = every one. */
  sample?: number;
}

const small = (blockCycles = -1): Config => ({ blockSize: 512, blockCount: 64, readSize: 16, progSize: 16, cacheSize: 64, lookaheadSize: 16, blockCycles });

const workloads: Workload[] = [
  {
    name: "create",
    config: small(),
    setup: [mkdir("/d")],
    ops: [write("/a", bytes(1, 20)), write("/d/b", bytes(2, 1500)), write("/d/c", new Uint8Array(0)), mkdir("/d/e"), write("/d/e/f", bytes(3, 64))],
  },
  {
    name: "overwrite",
    config: small(),
    setup: [write("/in", bytes(10, 30)), write("/big", bytes(11, 1800)), write("/x", bytes(12, 900))],
    ops: [write("/in", bytes(13, 50)), write("/in", bytes(14, 1200)), write("/big", bytes(15, 2100)), write("/x", bytes(16, 40))],
  },
  {
    name: "append",
    config: small(),
    setup: [write("/log", bytes(20, 10))],
    ops: [append("/log", bytes(21, 30)), append("/log", bytes(22, 100)), append("/log", bytes(23, 700)), append("/log", bytes(24, 5))],
  },
  {
    name: "truncate",
    config: small(),
    setup: [write("/t", bytes(30, 2000)), write("/s", bytes(31, 60))],
    ops: [truncate("/t", 1100), truncate("/t", 40), truncate("/s", 10), truncate("/s", 0), truncate("/t", 300)],
  },
  {
    name: "rename",
    config: small(),
    setup: [mkdir("/a"), mkdir("/b"), write("/a/one", bytes(40, 25)), write("/a/two", bytes(41, 800)), write("/a/three", bytes(42, 7)), write("/b/old", bytes(43, 9)), mkdir("/a/sub"), write("/a/sub/deep", bytes(44, 33))],
    ops: [rename("/a/one", "/a/uno"), rename("/a/two", "/b/two"), rename("/a/three", "/b/old"), rename("/a/sub", "/b/sub"), rename("/b", "/c")],
  },
  {
    name: "remove",
    config: small(),
    setup: [mkdir("/d"), mkdir("/d/empty"), write("/d/f", bytes(50, 700)), write("/g", bytes(51, 12)), mkdir("/h")],
    ops: [remove("/d/f"), remove("/d/empty"), remove("/g"), remove("/d"), remove("/h")],
  },
  {
    name: "setattr",
    config: small(),
    setup: [mkdir("/d"), write("/d/f", bytes(60, 100))],
    ops: [setattr("/d/f", 7, bytes(61, 4)), setattr("/d/f", 255, new Uint8Array(0)), setattr("/d", 42, bytes(62, 30)), setattr("/", 0, bytes(63, 9)), setattr("/d/f", 7, bytes(64, 12)), removeattr("/d/f", 255), write("/d/f", bytes(65, 900))],
  },
  {
    name: "many-entries",
    config: { ...small(), blockCount: 128 },
    setup: [mkdir("/dir")],
    ops: [
      ...Array.from({ length: 48 }, (_, i) => write(`/dir/entry-${String((i * 37) % 48).padStart(3, "0")}-name`, bytes(100 + i, 8 + (i % 5) * 9))),
      ...Array.from({ length: 12 }, (_, i) => remove(`/dir/entry-${String(i * 4).padStart(3, "0")}-name`)),
      ...Array.from({ length: 6 }, (_, i) => rename(`/dir/entry-${String(i * 4 + 1).padStart(3, "0")}-name`, `/moved-${i}`)),
    ],
    sample: 120,
  },
  {
    name: "relocations (block_cycles 4)",
    config: small(4),
    setup: [mkdir("/cfg"), write("/cfg/a", bytes(200, 20)), write("/data", bytes(201, 600))],
    ops: Array.from({ length: 40 }, (_, i): Op => {
      switch (i % 4) {
        case 0: return write("/cfg/a", bytes(210 + i, 10 + (i % 7) * 5));
        case 1: return setattr("/cfg", 7, bytes(300 + i, 6));
        case 2: return write("/data", bytes(400 + i, 500 + (i % 3) * 200));
        default: return write(`/cfg/n${i % 3}`, bytes(500 + i, 30));
      }
    }),
    // Every cut point: the torn last commit before a superblock expansion (device op 199) once
    // made the expansion write the pending tail fix into {0,1} after its new hard tail.
  },
  {
    // A directory split over three pairs, then removals that empty its middle and last pairs:
    // each emptied pair is dropped from the list in the commit that empties it.
    name: "splits then removals",
    config: small(),
    setup: [mkdir("/d"), ...Array.from({ length: 16 }, (_, i) => write(`/d/f${String(i).padStart(2, "0")}`, bytes(600 + i, 20)))],
    ops: [5, 6, 7, 8, 15, 14, 13, 12, 11, 10, 9].map((i) => remove(`/d/f${String(i).padStart(2, "0")}`)),
  },
  {
    // mkdir into a directory whose last pair must compact to take the new entry and soft tail.
    name: "mkdir into a pair that compacts",
    config: { ...small(), blockCount: 128 },
    setup: [mkdir("/d"), ...Array.from({ length: 16 }, (_, i) => write(`/d/f${String(i).padStart(2, "0")}`, bytes(700 + i, 20)))],
    ops: [mkdir("/d/a1"), mkdir("/d/a2"), mkdir("/d/a3"), write("/d/a3/x", bytes(720, 3000)), write("/g", bytes(721, 4000))],
    sample: 150,
  },
  {
    // block_cycles 2 on 256-byte blocks: a parent that is also its child's predecessor relocates
    // while it takes the child's new pair.
    name: "relocations (block_cycles 2, 256-byte blocks)",
    config: { blockSize: 256, blockCount: 128, readSize: 16, progSize: 16, cacheSize: 64, lookaheadSize: 16, blockCycles: 2 },
    setup: [mkdir("/p"), write("/p/a0", bytes(800, 24)), write("/p/a1", bytes(801, 24)), write("/p/a2", bytes(802, 24)), mkdir("/p/c")],
    ops: Array.from({ length: 12 }, (_, i) => write(`/p/c/f${i % 4}`, bytes(810 + i, 20))),
    sample: 200,
  },
  {
    name: "128-byte blocks",
    config: { blockSize: 128, blockCount: 64, readSize: 16, progSize: 16, cacheSize: 128, lookaheadSize: 16, blockCycles: 500 },
    setup: [],
    ops: [mkdir("/d"), write("/d/a", bytes(900, 10)), write("/b", bytes(901, 300)), setattr("/b", 7, bytes(902, 5)), rename("/b", "/d/b"), remove("/d/a")],
  },
  {
    name: "256-byte blocks, rename with attributes over a file",
    config: { blockSize: 256, blockCount: 64, readSize: 16, progSize: 16, cacheSize: 64, lookaheadSize: 16, blockCycles: 500 },
    setup: [mkdir("/dst"), write("/dst/i", bytes(910, 600)), write("/dst/j", bytes(911, 32)), write("/dst/k", bytes(912, 1)), write("/s", bytes(913, 20)), setattr("/s", 7, bytes(914, 64)), setattr("/s", 42, bytes(915, 33))],
    ops: [rename("/s", "/dst/j"), write("/dst/n", bytes(916, 40)), rename("/dst/n", "/m")],
  },
];

// ---- the harness --------------------------------------------------------------------------------

function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 4294967296; };
}

function cutPoints(total: number, sample: number | undefined, seed: number): number[] {
  const all = Array.from({ length: total }, (_, i) => i + 1);
  if (!sample || sample >= total) return all;
  const r = rng(seed);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, sample).sort((a, b) => a - b);
}

async function mountFs(flash: Flash, cfg: Config): Promise<Fs> {
  return LittleFs.mount(flash, cfg);
}

interface Prepared { base: Uint8Array; models: Model[]; partials: Model[][]; totalMutations: number }

async function prepare(w: Workload): Promise<Prepared> {
  const flash = new Flash({ blockSizeBytes: w.config.blockSize, blockCount: w.config.blockCount });
  await LittleFs.format(flash, w.config);
  let lfs = await mountFs(flash, w.config);
  const model = new Model();
  for (const op of w.setup) { op.run(lfs); op.apply(model); }
  lfs.unmount();
  const base = new Uint8Array(flash.bytes);
  // A dry run without a cut: counts the device operations and checks the model against the fs.
  lfs = await mountFs(flash, w.config);
  flash.armPowerCut(0);
  const models = [model.clone()];
  const partials: Model[][] = [];
  for (const op of w.ops) {
    partials.push(op.partial ? op.partial(model) : []);
    op.run(lfs);
    op.apply(model);
    models.push(model.clone());
  }
  const totalMutations = flash.mutatingOps;
  assert.equal(snapshot(lfs), model.canon(), `${w.name}: the model disagrees with the file system after a run without power loss`);
  lfs.unmount();
  assertImageSound(flash.bytes, w.config, `${w.name}: after the run without power loss`);
  return { base, models, partials, totalMutations };
}

/** One cut: returns null when everything held, else what went wrong. */
async function runCut(w: Workload, p: Prepared, cutAt: number, mode: PowerCutMode): Promise<string | null> {
  const flash = new Flash({ blockSizeBytes: w.config.blockSize, blockCount: w.config.blockCount }, p.base);
  flash.haltOnPowerCut = true;
  const lfs = await mountFs(flash, w.config);
  flash.armPowerCut(cutAt, mode);
  let step = w.ops.length;
  for (let i = 0; i < w.ops.length; i++) {
    try {
      w.ops[i].run(lfs);
    } catch (err) {
      if (!(err instanceof PowerCut) && flash.powerCutKind === null) return `op ${i} (${w.ops[i].label}) failed without a cut: ${(err as Error).message}`;
      step = i;
      break;
    }
    if (flash.powerCutKind !== null) { step = i; break; }
  }
  if (flash.powerCutKind === null) return `no cut happened at device op ${cutAt}`;
  const where = `cut ${mode} at device op ${cutAt} (${flash.powerCutKind}) during "${w.ops[step].label}"`;

  const after = new Flash({ blockSizeBytes: w.config.blockSize, blockCount: w.config.blockCount }, flash.bytes);
  let fs: Fs;
  try { fs = await mountFs(after, w.config); } catch (err) { return `${where}: mount failed: ${(err as Error).message}`; }
  let seen: string;
  try { seen = snapshot(fs); } catch (err) { return `${where}: reading the tree failed: ${(err as Error).message}`; }
  const allowed = [p.models[step], p.models[step + 1], ...p.partials[step]].map((m) => m.canon());
  if (!allowed.includes(seen)) return `${where}: tree is neither the old nor the new state:\n${seen}\n--- old:\n${allowed[0]}\n--- new:\n${allowed[1]}`;
  try { fs.traverse(); } catch (err) { return `${where}: traverse failed: ${(err as Error).message}`; }
  // The cut image as it lies on flash: sound, apart from the pending state a cut may leave.
  try { assertImageSound(flash.bytes, w.config, where, true); } catch (err) { return `${where}: ${(err as Error).message}`; }
  const probe = bytes(cutAt * 7 + 1, 300);
  try {
    fs.writeFile("/after-cut", probe);
    if (hex(fs.readFile("/after-cut")) !== hex(probe)) return `${where}: the write after the cut reads back wrong`;
    fs.unmount();
    const again = await mountFs(after, w.config);
    if (hex(again.readFile("/after-cut")) !== hex(probe)) return `${where}: the write after the cut is gone after remount`;
    again.traverse();
    again.unmount();
    // After a write and a clean unmount, the pending state is gone.
    assertImageSound(after.bytes, w.config, `${where}, then a write`);
  } catch (err) {
    return `${where}: the write after the cut failed: ${(err as Error).message}`;
  }
  return null;
}

test("power loss at every program/erase keeps each operation atomic", async (t) => {
  let totalCuts = 0;
  let failedCuts = 0;
  for (const [wi, w] of workloads.entries()) {
    await t.test(w.name, async (st) => {
      const p = await prepare(w);
      const points = cutPoints(p.totalMutations, w.sample, 0xc0ffee + wi);
      const failures: string[] = [];
      for (const mode of ["lost", "torn"] as PowerCutMode[]) {
        for (const cutAt of points) {
          const problem = await runCut(w, p, cutAt, mode);
          if (problem) failures.push(problem);
        }
      }
      totalCuts += points.length * 2;
      failedCuts += failures.length;
      const line = `${w.name}: ${w.ops.length} operations, ${p.totalMutations} program/erase ops, ${points.length}${w.sample ? " sampled" : ""} cut points x 2 modes (lost, torn): ${failures.length ? `${failures.length} FAILED` : "all passing"}`;
      st.diagnostic(line);
      console.log(line);
      assert.deepEqual(failures.slice(0, 3), [], `${w.name}: ${failures.length} cut points broke atomicity`);
    });
  }
  const line = `${workloads.length} workloads, ${totalCuts} power cuts, ${failedCuts ? `${failedCuts} FAILED` : "all passing"}`;
  t.diagnostic(line);
  console.log(line);
});
