// A seeded random storm of bogus response frames at the core's mailbox-deliver, through the
// device's own path (Device.mailboxDeliver), while apps wait on random_bytes and on each step of a
// sha256 chain (ABI.md "mailbox-deliver", SPEC.md "Security processor mailbox"). The frames are
// built from scratch (0 to 64 bytes, under the 8-byte header, length fields that disagree with the
// frame, payloads over the limit, ids never posted or answered already, id 0, an error status for
// an id nobody waits on) or are a genuine answer mutated (one header byte flipped, the payload
// cut or extended, with or without its length field following). None answers a request. Each
// gets exactly the errno ABI.md gives its case, computed here from the frame; the core never
// throws; the waiters stay blocked, their memory untouched, nothing logged, nothing posted,
// nothing audited; an app beside them runs; a stopped app's outstanding request is refused alike
// and its genuine answer then dropped; then each genuine answer is taken and each app logs exactly
// its bytes and exits with their count. The same storm runs against the component core. Every
// assertion message names the seed.
import test from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as abi from "../../assembly/abi.js";
import type { Device, DeviceConfig, InstalledApp } from "../../host/device.js";
import { componentCoreFactory } from "../../host/core-component.js";
import { device, exitCodes, installAndStart } from "./support.js";
import { heldProcessor, response, logs, runSteps, asker, bystander, hasher, pattern } from "./mailbox-support.js";

// The seed: fixed ("mbox"); MAILBOX_STORM_SEED runs another, to reproduce or widen a storm.
const SEED = Number(process.env.MAILBOX_STORM_SEED ?? 0x6d626f78);
const HASHED = 40;       // the bytes the hasher hashes

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { int, pick: <T>(xs: readonly T[]): T => xs[int(xs.length)], bytes: (n: number) => Uint8Array.from({ length: n }, () => int(256)) };
}
type Rng = ReturnType<typeof prng>;

/** A response frame whose length field says `declared` (default: the payload's length). */
function frame(id: number, status: number, payload: Uint8Array, declared = payload.length): Uint8Array {
  const f = response(id, status, payload);
  Buffer.from(f.buffer, f.byteOffset, f.length).writeUInt32LE(declared >>> 0, 4);
  return f;
}
const hex = (f: Uint8Array) => Buffer.from(f).toString("hex");

/** The payload length of an OK answer to a posted request, from SPEC.md's command table. */
function answerBytes(post: Buffer): number {
  switch (post.readUInt16LE(0)) {
    case abi.MAILBOX_CMD_RANDOM: return post.readUInt32LE(8);
    case abi.MAILBOX_CMD_SHA256_INIT: return 4;
    case abi.MAILBOX_CMD_SHA256_UPDATE: return 0;
    case abi.MAILBOX_CMD_SHA256_FINAL: return 32;
  }
  throw new Error(`seed ${SEED}: an unexpected command ${post.readUInt16LE(0)} was posted`);
}

/**
 * What ABI.md says mailbox-deliver answers `f`, given the outstanding requests (id -> the payload
 * length an OK answer has): -EINVAL, -ENOENT or -EMSGSIZE, or null for a frame that answers one.
 */
function expected(f: Uint8Array, outstanding: ReadonlyMap<number, number>): number | null {
  if (f.length < abi.MAILBOX_HEADER_BYTES) return -abi.EINVAL;
  const b = Buffer.from(f.buffer, f.byteOffset, f.length);
  const declared = b.readUInt32LE(4);
  if (declared !== f.length - abi.MAILBOX_HEADER_BYTES || declared > abi.MAILBOX_MAX_PAYLOAD_BYTES) return -abi.EINVAL;
  const want = outstanding.get(b.readUInt16LE(0));
  if (want === undefined) return -abi.ENOENT;
  if (b.readUInt16LE(2) === abi.MAILBOX_STATUS_OK && declared !== want) return -abi.EMSGSIZE;
  return null;
}

/** What the storm knows: the outstanding requests and their genuine answers, the ids answered, and the highest id posted. */
interface Mailbox {
  outstanding: Map<number, number>;
  genuine: Map<number, Uint8Array>;
  answered: Map<number, Uint8Array>;
  maxId: number;
}

const ERROR_STATUSES = [1, 2, 3, 4, 5, 6, 7, 0x00ff, 0x8000, 0xffff];

/** The bogus frame makers: each gives a frame (maybe a valid answer, which the storm throws away) or null when it has nothing to work on. */
const MAKERS: Record<string, (r: Rng, m: Mailbox) => Uint8Array | null> = {
  "under the header": (r) => r.bytes(r.int(abi.MAILBOX_HEADER_BYTES)),
  "noise": (r) => r.bytes(abi.MAILBOX_HEADER_BYTES + r.int(57)),
  "length field lies": (r, m) => {
    const n = r.int(57);
    const delta = r.pick([() => 1 + r.int(8), () => -(1 + r.int(Math.max(1, n))), () => 0x10000 + r.int(0x10000), () => 0xffffffff - n - r.int(4)])();
    const declared = Math.max(0, n + delta);
    if (declared === n) return null;
    return frame(anyId(r, m), r.int(2) ? abi.MAILBOX_STATUS_OK : r.pick(ERROR_STATUSES), r.bytes(n), declared);
  },
  "over the payload limit": (r, m) => frame(anyId(r, m), r.int(2) ? abi.MAILBOX_STATUS_OK : r.pick(ERROR_STATUSES), r.bytes(abi.MAILBOX_MAX_PAYLOAD_BYTES + 1 + r.int(64))),
  "an id not outstanding": (r, m) => frame(idNotOutstanding(r, m), abi.MAILBOX_STATUS_OK, r.bytes(r.int(57))),
  "an error status for an id nobody waits on": (r, m) => frame(idNotOutstanding(r, m), r.pick(ERROR_STATUSES), r.bytes(r.int(57))),
  "a duplicate of an answer taken": (r, m) => (m.answered.size ? r.pick([...m.answered.values()]) : null),
  "an OK answer of the wrong length": (r, m) => {
    const id = outstandingId(r, m);
    return id === null ? null : frame(id, abi.MAILBOX_STATUS_OK, r.bytes(r.int(57)));
  },
  "a genuine answer, one header byte flipped": (r, m) => {
    const g = genuineOf(r, m);
    if (!g) return null;
    g[r.int(abi.MAILBOX_HEADER_BYTES)] ^= 1 + r.int(255);
    return g;
  },
  "a genuine answer cut short": (r, m) => { const g = genuineOf(r, m); return g && g.slice(0, r.int(g.length)); },
  "a genuine answer cut short, its length field following": (r, m) => {
    const g = genuineOf(r, m);
    if (!g || g.length === abi.MAILBOX_HEADER_BYTES) return null;
    const p = g.subarray(abi.MAILBOX_HEADER_BYTES);
    return frame(g[0] | (g[1] << 8), abi.MAILBOX_STATUS_OK, p.subarray(0, r.int(p.length)));
  },
  "a genuine answer with bytes after it": (r, m) => {
    const g = genuineOf(r, m);
    return g && new Uint8Array(Buffer.concat([g, r.bytes(1 + r.int(8))]));
  },
  "a genuine answer with bytes after it, its length field following": (r, m) => {
    const g = genuineOf(r, m);
    return g && frame(g[0] | (g[1] << 8), abi.MAILBOX_STATUS_OK, new Uint8Array(Buffer.concat([g.subarray(abi.MAILBOX_HEADER_BYTES), r.bytes(1 + r.int(8))])));
  },
};

function outstandingId(r: Rng, m: Mailbox): number | null { return m.outstanding.size ? r.pick([...m.outstanding.keys()]) : null; }
function genuineOf(r: Rng, m: Mailbox): Uint8Array | null { const id = outstandingId(r, m); return id === null ? null : m.genuine.get(id)!.slice(); }
/** An id never posted (0, just above the highest posted, anywhere), or one answered already. */
function idNotOutstanding(r: Rng, m: Mailbox): number {
  for (;;) {
    const id = r.pick([() => 0, () => m.maxId + 1 + r.int(4), () => r.int(0x10000), () => (m.answered.size ? r.pick([...m.answered.keys()]) : 0)])();
    if (!m.outstanding.has(id)) return id;
  }
}
function anyId(r: Rng, m: Mailbox): number { return r.int(2) ? idNotOutstanding(r, m) : (outstandingId(r, m) ?? 0); }

/** An app's linear memory (the device keeps each running app's instance). */
function appMemory(dev: Device, app: InstalledApp): Uint8Array {
  const live = (dev as unknown as { live: Map<number, { app: InstalledApp; runner: { memory: WebAssembly.Memory } }> }).live;
  const entry = [...live.values()].find((l) => l.app === app);
  assert.ok(entry, `seed ${SEED}: ${app.name} has an instance`);
  return new Uint8Array(entry.runner.memory.buffer);
}

/**
 * The storm, against the core `createCore` makes (default: the core module): a (32 random bytes),
 * c (4) and h (sha256 of HASHED bytes) wait; o's request is out but o was stopped (an orphan:
 * its id is outstanding, its answer will be dropped); b starts after the first round and runs.
 */
async function storming(createCore?: DeviceConfig["createCore"]) {
  const r = prng(SEED);
  const { link, posts } = heldProcessor();
  const dev = device({ securityProcessor: link, ...(createCore ? { createCore } : {}) });
  const a = await installAndStart(dev, "a", asker(32));
  const c = await installAndStart(dev, "c", asker(4));
  const h = await installAndStart(dev, "h", hasher(HASHED));
  const o = await installAndStart(dev, "o", asker(16));
  runSteps(dev);
  assert.deepEqual(posts.map((p) => [p.readUInt16LE(0), p.readUInt32LE(4)]),
    [[abi.MAILBOX_CMD_RANDOM, 4], [abi.MAILBOX_CMD_RANDOM, 4], [abi.MAILBOX_CMD_SHA256_INIT, 0], [abi.MAILBOX_CMD_RANDOM, 4]], `seed ${SEED}`);
  const idAt = (i: number) => posts[i].readUInt16LE(2);
  const [aId, cId, initId, oId] = [0, 1, 2, 3].map(idAt);
  dev.stop(o);

  const m: Mailbox = { outstanding: new Map(), genuine: new Map(), answered: new Map(), maxId: 0 };
  const context = Uint8Array.of(r.int(256), r.int(256), r.int(256), r.int(256));
  const digest = new Uint8Array(createHash("sha256").update(pattern(HASHED)).digest());
  /** The posts not yet known to the storm become outstanding, each with its genuine answer. */
  let known = 0;
  const learnPosts = () => {
    for (; known < posts.length; known++) {
      const p = posts[known], id = p.readUInt16LE(2), cmd = p.readUInt16LE(0);
      const answer = cmd === abi.MAILBOX_CMD_RANDOM ? r.bytes(answerBytes(p)) : cmd === abi.MAILBOX_CMD_SHA256_INIT ? context
        : cmd === abi.MAILBOX_CMD_SHA256_FINAL ? digest : new Uint8Array(0);
      assert.equal(answer.length, answerBytes(p), `seed ${SEED}`);
      assert.ok(!m.outstanding.has(id) && id !== 0, `seed ${SEED}: request id ${id} is fresh`);
      m.outstanding.set(id, answerBytes(p));
      m.genuine.set(id, response(id, abi.MAILBOX_STATUS_OK, answer));
      m.maxId = Math.max(m.maxId, id);
    }
  };
  /** The genuine answer to the outstanding request `id`, through the device: `rc` back, and the id answered. */
  const answer = (id: number, rc: number) => {
    const g = m.genuine.get(id)!;
    assert.equal(dev.mailboxDeliver(g), rc, `seed ${SEED}: the genuine answer to ${id}: ${hex(g)}`);
    m.outstanding.delete(id); m.genuine.delete(id); m.answered.set(id, g);
    learnPosts();
  };
  learnPosts();

  const taskOf = (app: InstalledApp) => dev.core.exports.app_field(app.slot, abi.APP_FIELD_TASK);
  const waiters = new Map([a, c, h].map((app) => [app, { task: taskOf(app), memory: appMemory(dev, app).slice() }]));

  /** `count` bogus frames; after each, the errno ABI.md gives it, the waiters still blocked and nothing posted. */
  const storm = (round: string, count: number) => {
    const auditBefore = dev.audit();
    const tally = new Map<number, number>();
    const kinds = new Map<string, number>();
    for (let n = 0; n < count; n++) {
      let kind: string, f: Uint8Array | null, want: number | null;
      do {
        kind = r.pick(Object.keys(MAKERS));
        f = MAKERS[kind](r, m);
        want = f && expected(f, m.outstanding);
      } while (f === null || want === null);
      const what = `seed ${SEED}, ${round}, frame ${n} (${kind}): ${hex(f)}`;
      let rc: number;
      try { rc = dev.mailboxDeliver(f); } catch (err) { assert.fail(`${what}: mailbox-deliver threw ${String(err)}`); }
      assert.equal(rc, want, what);
      for (const [app, w] of waiters) assert.equal(dev.core.exports.task_state(w.task), abi.TASK_BLOCKED, `${what}: ${app.name} still waits`);
      assert.equal(posts.length, known, `${what}: nothing is posted`);
      tally.set(want, (tally.get(want) ?? 0) + 1);
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    // The storm reached every case it can in this round.
    const codes = m.outstanding.size ? [-abi.EINVAL, -abi.ENOENT, -abi.EMSGSIZE] : [-abi.EINVAL, -abi.ENOENT];
    for (const code of codes) assert.ok((tally.get(code) ?? 0) >= count / 20, `seed ${SEED}, ${round}: ${tally.get(code) ?? 0} frames refused with ${code}`);
    assert.deepEqual([...tally.keys()].sort(), [...codes].sort(), `seed ${SEED}, ${round}`);
    for (const kind of Object.keys(MAKERS)) {
      const reachable = (m.outstanding.size > 0 || !/genuine|wrong length/.test(kind)) && (m.answered.size > 0 || !/duplicate/.test(kind));
      if (reachable) assert.ok((kinds.get(kind) ?? 0) > 0, `seed ${SEED}, ${round}: no frame "${kind}"`);
    }
    // Nothing became ready, nothing was written into a waiter, nothing audited.
    assert.equal(dev.step(), false, `seed ${SEED}, ${round}: no task is ready`);
    for (const [app, w] of waiters) {
      assert.deepEqual(exitCodes(dev, app.name), [], `seed ${SEED}, ${round}: ${app.name} has not exited`);
      assert.ok(Buffer.from(appMemory(dev, app)).equals(w.memory), `seed ${SEED}, ${round}: ${app.name}'s memory is as it was`);
    }
    assert.deepEqual(dev.audit(), auditBefore, `seed ${SEED}, ${round}: nothing is audited`);
  };

  // Round 1: a's, c's, h's SHA256_INIT and the orphan o's requests out. b, started after the storm, runs.
  storm("round 1: a, c, h's INIT and orphan o out", 400);
  await installAndStart(dev, "b", bystander);
  runSteps(dev);
  assert.deepEqual(exitCodes(dev, "b"), [5], `seed ${SEED}`);
  assert.deepEqual(logs(dev), ["b: ran"], `seed ${SEED}`);

  // h's INIT answered: its UPDATE carries the context and the data. a answered: it logs and
  // exits. o's answer is taken and dropped.
  answer(initId, 0);
  assert.deepEqual([posts[4].readUInt16LE(0), hex(posts[4].subarray(8))], [abi.MAILBOX_CMD_SHA256_UPDATE, hex(context) + hex(pattern(HASHED))], `seed ${SEED}`);
  const aBytes = m.genuine.get(aId)!.subarray(8);
  answer(aId, 1);
  waiters.delete(a);
  answer(oId, 0);
  runSteps(dev);
  assert.deepEqual(exitCodes(dev, "a"), [32], `seed ${SEED}`);
  assert.deepEqual(logs(dev), ["b: ran", `a: ${hex(aBytes)}`], `seed ${SEED}`);

  // Round 2: c and h's UPDATE out; a's, o's and the INIT's answered (their duplicates are -ENOENT).
  storm("round 2: c and h's UPDATE out", 400);
  answer(idAt(4), 0);
  assert.deepEqual([posts[5].readUInt16LE(0), hex(posts[5].subarray(8))], [abi.MAILBOX_CMD_SHA256_FINAL, hex(context)], `seed ${SEED}`);

  // Round 3: c and h's FINAL out.
  storm("round 3: c and h's FINAL out", 400);
  const cBytes = m.genuine.get(cId)!.subarray(8);
  answer(cId, 1);
  answer(idAt(5), 1);
  waiters.clear();
  runSteps(dev);
  assert.deepEqual(["a", "b", "c", "h", "o"].map((n) => exitCodes(dev, n)), [[32], [5], [4], [32], []], `seed ${SEED}`);
  const lines = ["b: ran", `a: ${hex(aBytes)}`, `c: ${hex(cBytes)}`, `h: ${hex(digest)}`];
  assert.deepEqual(logs(dev), lines, `seed ${SEED}`);

  // Round 4: nothing out; every frame is refused and nothing changes.
  storm("round 4: nothing out", 200);
  assert.deepEqual(logs(dev), lines, `seed ${SEED}`);
  assert.equal(posts.length, 6, `seed ${SEED}`);
}

test(`a seeded storm of bogus responses (seed ${SEED}) is refused frame by frame with ABI.md's errno and wakes, writes, posts and audits nothing; the genuine answers then land`, async () => {
  await storming();
});

test(`the component core under the same storm (seed ${SEED}) answers the same`, async () => {
  await storming(await componentCoreFactory());
});
