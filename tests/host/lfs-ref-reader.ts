// An independent littlefs reader for the fs tests: a second, deliberately small reader of the
// on-disk format (littlefs SPEC.md), in TypeScript and sharing no code with the core. It replays
// each metadata pair's valid commits forward, follows tails, resolves pending moves from the gstate
// and reads inline and CTZ files; `structure()` also reports the metadata list as a reader of the
// format walks it (each pair, how it was reached, its live ids) and the XOR of every gstate delta.
// It checks that what the core writes is littlefs, not merely something the core can read back.
// Must not: import anything from the core or host/fs.
import { createHash } from "node:crypto";

// A second, deliberately small reader of the on-disk format (littlefs SPEC.md), in TypeScript and
// sharing no code with the core: it replays each metadata pair's valid commits forward, follows
// tails, resolves pending moves from the gstate and reads inline and CTZ files. It checks that what
// the core writes is littlefs, not merely something the core itself can read back.

export class ReaderError extends Error {}

function crc32(crc: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) {
    crc ^= bytes[i];
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return crc >>> 0;
}

interface Slot { name?: { type: number; bytes: Uint8Array }; struct?: { type: number; bytes: Uint8Array }; attrs: Map<number, Uint8Array> }
export interface Pair { blocks: [number, number]; slots: Slot[]; tail?: { hard: boolean; pair: [number, number] }; gdelta?: Uint8Array }

export class RefReader {
  private readonly view: DataView;
  constructor(private readonly image: Uint8Array, private readonly blockSize: number, private readonly blockCount: number) {
    this.view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  }

  private block(b: number): Uint8Array {
    if (b >= this.blockCount) throw new ReaderError(`block ${b} out of range`);
    return this.image.subarray(b * this.blockSize, (b + 1) * this.blockSize);
  }

  /** Replays the valid commits of one block; null when it has none. */
  private replay(b: number): { rev: number; pair: Omit<Pair, "blocks"> } | null {
    const data = this.block(b);
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const rev = dv.getUint32(0, true);
    let crc = crc32(0xffffffff, data.subarray(0, 4));
    let ptag = 0xffffffff;
    let off = 4;
    let pending: { tag: number; bytes: Uint8Array }[] = [];
    const state: Omit<Pair, "blocks"> = { slots: [] };
    let commits = 0;
    while (off + 4 <= data.length) {
      const raw = dv.getUint32(off, false);
      const tag = (raw ^ ptag) >>> 0;
      if (tag >>> 31) break;
      const len = tag & 0x3ff;
      const dsize = 4 + (len === 0x3ff ? 0 : len);
      if (off + dsize > data.length) break;
      const type = (tag >>> 20) & 0x7ff;
      crc = crc32(crc, data.subarray(off, off + 4));
      ptag = tag;
      if ((type & 0x780) === 0x500) {
        if (off + 8 > data.length || dv.getUint32(off + 4, true) !== crc) break;
        for (const p of pending) this.apply(state, p.tag, p.bytes);
        pending = [];
        commits++;
        ptag ^= (type & 1) << 31;
        ptag >>>= 0;
        crc = 0xffffffff;
      } else {
        const bytes = data.subarray(off + 4, off + dsize);
        crc = crc32(crc, bytes);
        pending.push({ tag, bytes });
      }
      off += dsize;
    }
    return commits ? { rev, pair: state } : null;
  }

  private apply(state: Omit<Pair, "blocks">, tag: number, bytes: Uint8Array): void {
    const type = (tag >>> 20) & 0x7ff;
    const id = (tag >>> 10) & 0x3ff;
    const deleted = (tag & 0x3ff) === 0x3ff;
    if (type === 0x401) { state.slots.splice(id, 0, { attrs: new Map() }); return; }
    if (type === 0x4ff) { state.slots.splice(id, 1); return; }
    if (id === 0x3ff) {
      if ((type & 0x700) === 0x600) {
        const pair: [number, number] = [this.u32(bytes, 0), this.u32(bytes, 4)];
        // A null pointer (0xffffffff) ends the list.
        state.tail = pair[0] === 0xffffffff || pair[1] === 0xffffffff ? undefined : { hard: (type & 1) === 1, pair };
      }
      if (type === 0x7ff) state.gdelta = bytes.slice();
      return;
    }
    while (state.slots.length <= id) state.slots.push({ attrs: new Map() });
    const slot = state.slots[id];
    const type1 = type >> 8;
    if (type1 === 0) slot.name = { type, bytes: bytes.slice() };
    else if (type1 === 2) slot.struct = { type, bytes: bytes.slice() };
    else if (type1 === 3) { if (deleted) slot.attrs.delete(type & 0xff); else slot.attrs.set(type & 0xff, bytes.slice()); }
  }

  private u32(b: Uint8Array, at: number): number {
    return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at, true);
  }

  /** The block of a pair whose commits are current, and its revision. */
  newest(blocks: [number, number]): { block: number; rev: number } {
    const a = this.replay(blocks[0]);
    const b = this.replay(blocks[1]);
    if (!a && !b) throw new ReaderError(`metadata pair {${blocks}} has no valid commit`);
    const useB = b && (!a || ((b.rev - a.rev) | 0) > 0);
    return useB ? { block: blocks[1], rev: b!.rev } : { block: blocks[0], rev: a!.rev };
  }

  pair(blocks: [number, number]): Pair {
    const a = this.replay(blocks[0]);
    const b = this.replay(blocks[1]);
    if (!a && !b) throw new ReaderError(`metadata pair {${blocks}} has no valid commit`);
    const useB = b && (!a || ((b.rev - a.rev) | 0) > 0);
    return { blocks, ...(useB ? b! : a!).pair };
  }

  /** Walks the metadata list from {0,1}: the root pair and the gstate's pending move. */
  private walk(): { root: [number, number]; move: { pair: [number, number]; id: number } | null } {
    let at: [number, number] = [0, 1];
    let root: [number, number] | null = null;
    const g = new Uint8Array(12);
    for (let steps = 0; ; steps++) {
      if (steps > this.blockCount) throw new ReaderError("loop in the metadata list");
      const p = this.pair(at);
      if (p.slots[0]?.name?.type === 0x0ff) root = at;
      if (p.gdelta) for (let i = 0; i < 12 && i < p.gdelta.length; i++) g[i] ^= p.gdelta[i];
      if (!p.tail) break;
      at = p.tail.pair;
    }
    if (!root) throw new ReaderError("no superblock");
    const gtag = this.u32(g, 0);
    const move = (gtag >>> 20) & 0x700 ? { pair: [this.u32(g, 4), this.u32(g, 8)] as [number, number], id: (gtag >>> 10) & 0x3ff } : null;
    return { root, move };
  }

  /** The tree as the fixture manifests write it (without `storage`), and the root's attributes. */
  listing(): { root_attrs: Record<string, string>; tree: Record<string, unknown>[] } {
    const { root, move } = this.walk();
    const hexOf = (m: Map<number, Uint8Array>) => Object.fromEntries([...m].sort((x, y) => x[0] - y[0]).map(([t, v]) => [String(t), Buffer.from(v).toString("hex")]));
    const tree: Record<string, unknown>[] = [];
    const samePair = (x: [number, number], y: [number, number]) => (x[0] === y[0] && x[1] === y[1]) || (x[0] === y[1] && x[1] === y[0]);
    const dir = (start: [number, number], path: string, depth: number) => {
      if (depth > 64) throw new ReaderError("directory nesting too deep");
      let at: [number, number] | null = start;
      for (let steps = 0; at; steps++) {
        if (steps > this.blockCount) throw new ReaderError(`loop in directory ${path}`);
        const p = this.pair(at);
        p.slots.forEach((s, id) => {
          if (!s.name || (s.name.type !== 0x001 && s.name.type !== 0x002)) return;
          if (move && samePair(move.pair, p.blocks) && move.id === id) return;
          const full = `${path === "/" ? "" : path}/${Buffer.from(s.name.bytes).toString("latin1")}`;
          const e: Record<string, unknown> = { path: full, type: s.name.type === 0x002 ? "dir" : "file" };
          let child: [number, number] | null = null;
          if (s.name.type === 0x002) child = [this.u32(s.struct!.bytes, 0), this.u32(s.struct!.bytes, 4)];
          else {
            const content = this.file(s);
            e.size = content.length;
            e.sha256 = createHash("sha256").update(content).digest("hex");
          }
          if (s.attrs.size) e.attrs = hexOf(s.attrs);
          tree.push(e);
          if (child) dir(child, full, depth + 1);
        });
        at = p.tail?.hard ? p.tail.pair : null;
      }
    };
    dir(root, "/", 0);
    return { root_attrs: hexOf(this.pair(root).slots[0].attrs), tree };
  }

  /**
   * The metadata list from {0,1} as readers walk it: each pair with how it was reached (by a hard
   * tail or not), its ids, and the XOR of every pair's gstate delta (12 bytes).
   */
  structure(): { pairs: { blocks: [number, number]; hard: boolean; ids: number; tail?: Pair["tail"] }[]; gstate: Uint8Array } {
    const pairs: { blocks: [number, number]; hard: boolean; ids: number; tail?: Pair["tail"] }[] = [];
    const g = new Uint8Array(12);
    let at: [number, number] = [0, 1];
    let hard = false;
    for (let steps = 0; ; steps++) {
      if (steps > this.blockCount) throw new ReaderError("loop in the metadata list");
      const p = this.pair(at);
      pairs.push({ blocks: at, hard, ids: p.slots.length, tail: p.tail });
      if (p.gdelta) for (let i = 0; i < 12 && i < p.gdelta.length; i++) g[i] ^= p.gdelta[i];
      if (!p.tail) break;
      hard = p.tail.hard;
      at = p.tail.pair;
    }
    return { pairs, gstate: g };
  }

  /**
   * What a reader of the format relies on, as a list of faults (empty when sound): the metadata
   * list holds every pair of every directory; no pair a hard tail reaches is empty; with `clean`,
   * the XOR of all gstate deltas is zero (no pending move, no orphans: an image after unmount).
   * Without `clean` (an image cut by power loss), a pending move's source entry is skipped and a
   * directory listed under some of its old blocks (a relocation not yet fixed) is accepted.
   */
  faults(clean = true): string[] {
    const out: string[] = [];
    const { pairs, gstate } = this.structure();
    const key = (b: [number, number]) => [...b].sort((x, y) => x - y).join(",");
    const listed = new Set(pairs.map((p) => key(p.blocks)));
    for (const p of pairs) if (p.hard && p.ids === 0) out.push(`empty pair {${p.blocks}} in the middle of a directory`);
    if (clean && gstate.some((b) => b !== 0)) out.push(`gstate not clean: ${Buffer.from(gstate).toString("hex")}`);
    const { root, move } = this.walk();
    const blocksListed = new Set(pairs.flatMap((p) => p.blocks));
    const samePair = (x: [number, number], y: [number, number]) => (x[0] === y[0] && x[1] === y[1]) || (x[0] === y[1] && x[1] === y[0]);
    const seen = new Set<string>();
    const dir = (start: [number, number], path: string, depth: number) => {
      if (depth > 64) { out.push("directory nesting too deep"); return; }
      let at: [number, number] | null = start;
      for (let steps = 0; at; steps++) {
        if (steps > this.blockCount) { out.push(`loop in directory ${path}`); return; }
        const halfListed = !clean && (blocksListed.has(at[0]) || blocksListed.has(at[1]));
        if (!listed.has(key(at)) && !halfListed) out.push(`pair {${at}} of directory ${path} is not in the metadata list`);
        if (seen.has(key(at))) { out.push(`pair {${at}} belongs to two directories`); return; }
        seen.add(key(at));
        const p = this.pair(at);
        const here = at;
        p.slots.forEach((s, id) => {
          if (s.name?.type !== 0x002 || !s.struct) return;
          if (!clean && move && samePair(move.pair, here) && move.id === id) return;
          dir([this.u32(s.struct.bytes, 0), this.u32(s.struct.bytes, 4)], `${path === "/" ? "" : path}/${Buffer.from(s.name.bytes).toString("latin1")}`, depth + 1);
        });
        at = p.tail?.hard ? p.tail.pair : null;
      }
    };
    dir(root, "/", 0);
    return out;
  }

  private file(s: Slot): Uint8Array {
    if (!s.struct) throw new ReaderError("file without a struct");
    if (s.struct.type === 0x201) return s.struct.bytes;
    if (s.struct.type !== 0x202) throw new ReaderError(`unknown struct type ${s.struct.type.toString(16)}`);
    const head = this.u32(s.struct.bytes, 0);
    const size = this.u32(s.struct.bytes, 4);
    if (size === 0) return new Uint8Array(0);
    const b = this.blockSize - 8;
    const index = (p: number) => { let i = Math.floor(p / b); if (i === 0) return 0; return Math.floor((p - 4 * (popcount(i - 1) + 2)) / b); };
    const last = index(size - 1);
    const blocks = new Array<number>(last + 1);
    let cur = head;
    for (let i = last; i >= 0; i--) {
      blocks[i] = cur;
      if (i > 0) cur = this.view.getUint32(this.blockSize * cur, true);
      if (cur >= this.blockCount) throw new ReaderError(`CTZ pointer ${cur} out of range`);
    }
    const out = new Uint8Array(size);
    let pos = 0;
    for (let i = 0; i <= last && pos < size; i++) {
      const start = i === 0 ? 0 : 4 * (ctz(i) + 1);
      const n = Math.min(this.blockSize - start, size - pos);
      out.set(this.block(blocks[i]).subarray(start, start + n), pos);
      pos += n;
    }
    return out;
  }
}

function popcount(x: number): number { let n = 0; while (x) { n += x & 1; x >>>= 1; } return n; }
function ctz(x: number): number { let n = 0; while (!(x & 1)) { n++; x >>>= 1; } return n; }

/**
 * Rewrites metadata pair `blocks` of `image` by hand, for building images with known faults: the
 * pair's current state (as the reader sees it) goes through `mutate`, then is written as one
 * commit (revision + 1, no FCRC) into the pair's older block, which then becomes its newest.
 */
export function rewritePair(image: Uint8Array, blockSize: number, blockCount: number, blocks: [number, number], mutate: (p: Pair) => void): void {
  const reader = new RefReader(image, blockSize, blockCount);
  const p = reader.pair(blocks);
  // Write the pair's other block with the next revision, so the new commit is the pair's newest.
  const current = reader.newest(blocks);
  const target = current.block === blocks[0] ? blocks[1] : blocks[0];
  const rev = (current.rev + 1) >>> 0;
  mutate(p);
  const tags: { tag: number; data: Uint8Array }[] = [];
  const mk = (type: number, id: number, size: number) => ((type << 20) | (id << 10) | size) >>> 0;
  p.slots.forEach((s, id) => {
    if (s.name) tags.push({ tag: mk(s.name.type, id, s.name.bytes.length), data: s.name.bytes });
    if (s.struct) tags.push({ tag: mk(s.struct.type, id, s.struct.bytes.length), data: s.struct.bytes });
    for (const [t, v] of [...s.attrs].sort((x, y) => x[0] - y[0])) tags.push({ tag: mk(0x300 | t, id, v.length), data: v });
  });
  const pairBytes = (q: [number, number]) => { const d = new Uint8Array(8); const v = new DataView(d.buffer); v.setUint32(0, q[0], true); v.setUint32(4, q[1], true); return d; };
  if (p.tail) tags.push({ tag: mk(p.tail.hard ? 0x601 : 0x600, 0x3ff, 8), data: pairBytes(p.tail.pair) });
  if (p.gdelta) tags.push({ tag: mk(0x7ff, 0x3ff, 12), data: p.gdelta });
  const out = new Uint8Array(blockSize).fill(0xff);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, rev, true);
  let off = 4;
  let ptag = 0xffffffff;
  for (const t of tags) {
    dv.setUint32(off, (t.tag ^ ptag) >>> 0, false);
    out.set(t.data, off + 4);
    off += 4 + t.data.length;
    ptag = t.tag;
  }
  // CRC tag (type 0x500: the next tag's valid bit is expected clear), padded to 16 bytes.
  const end = Math.min(blockSize, Math.ceil((off + 8) / 16) * 16);
  const crcTag = mk(0x500, 0x3ff, end - off - 4);
  dv.setUint32(off, (crcTag ^ ptag) >>> 0, false);
  const crc = crc32(0xffffffff, out.subarray(0, off + 4));
  dv.setUint32(off + 4, crc, true);
  if (off + 8 > blockSize) throw new ReaderError(`pair {${blocks}} does not fit one block when rewritten`);
  image.set(out, target * blockSize);
}
