// A seeded random storm of request frames at the security processor (host/pluton/processor.ts),
// each one's expected response computed here from SPEC.md ("Security processor mailbox") by a
// model of the processor's state (outstanding ids, open hash contexts and their bytes, counters),
// not from the processor's code. Checked: exactly one response per frame, the id echoed (0 only
// for SHORT and BAD_ID), every status the one the SPEC gives for that frame in that state, every OK
// payload right (digests against node:crypto, signatures verified with node against DEVICE_ID's
// key, VERIFY_TRUSTED verdicts against node-made signatures), post never throws; and afterwards
// the roots, the mode, the boot measurement and the counters (in memory and in the store) are what
// the model says, and a clean SHA-256 still works. Bursts post up to 40 frames without waiting, so
// BUSY, DUPLICATE_ID and NO_CONTEXT all happen, and counter advances race each other.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify, type KeyObject } from "node:crypto";
import { PlutonProcessor, type PlutonState, type PlutonStore } from "../../host/pluton/processor.js";

const SEED = Number(process.env.WASPHERE_STORM_SEED ?? 0x5eed0c0d);
const BURSTS = 120;

// Constants as SPEC.md states them (not imported from frame.ts, so a changed constant there is caught).
const S = { OK: 0, SHORT: 1, LENGTH: 2, OVERSIZED: 3, UNKNOWN_COMMAND: 4, DUPLICATE_ID: 5, BAD_PAYLOAD: 6, NO_CONTEXT: 7, BUSY: 8, NO_COUNTER: 9, COUNTER_BACKWARDS: 10, BAD_ID: 11, BOOT_ENDED: 12 };
const C = { RANDOM: 1, INIT: 2, UPDATE: 3, FINAL: 4, ECDSA_VERIFY: 5, SIGN: 6, DEVICE_ID: 7, ATTEST: 8, COUNTER_READ: 9, COUNTER_ADVANCE: 10, VERIFY_TRUSTED: 11 };
const MAX_OUTSTANDING = 19, MAX_CONTEXTS = 4, MAX_PAYLOAD = 4096, COUNTERS = 8;

function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sha = (b: Uint8Array) => new Uint8Array(createHash("sha256").update(b).digest());
const keyIdOf = (spki: Buffer) => sha(spki).subarray(0, 16);
const p1363 = (key: KeyObject, msg: Uint8Array) => new Uint8Array(nodeSign("sha256", msg, { key, dsaEncoding: "ieee-p1363" }));
const le = (bits: 16 | 32 | 64, v: number | bigint) => {
  const b = Buffer.alloc(bits / 8);
  if (bits === 16) b.writeUInt16LE(Number(v)); else if (bits === 32) b.writeUInt32LE(Number(v)); else b.writeBigUInt64LE(BigInt(v));
  return b;
};
const frame = (cmd: number, id: number, payload: Uint8Array, lengthField = payload.length) =>
  new Uint8Array(Buffer.concat([le(16, cmd), le(16, id), le(32, lengthField), Buffer.from(payload)]));
const cat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts.map((p) => Buffer.from(p))));

/** What a response must be: its id and status, and for OK a check of the payload. */
interface Expect { id: number; status: number; what: string; payload?: (p: Buffer) => void }

function memStore(): PlutonStore & { saved: PlutonState | null; saves: number } {
  const s = {
    saved: null as PlutonState | null, saves: 0,
    async load() { return s.saved && structuredClone(s.saved); },
    async save(st: PlutonState) { s.saves++; s.saved = structuredClone(st); },
  };
  return s;
}

test(`a random storm of request frames (seed ${SEED.toString(16)}) gets exactly the SPEC's response to each, and changes nothing it may not`, async () => {
  const rand = mulberry32(SEED);
  const int = (n: number) => Math.floor(rand() * n);
  const bytes = (n: number) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = int(256); return b; };
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];

  const os = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const apps = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const osSpki = os.publicKey.export({ type: "spki", format: "der" });
  const appSpki = apps.publicKey.export({ type: "spki", format: "der" });
  const roots = { os: keyIdOf(osSpki), app: keyIdOf(appSpki) };
  // A key of no root, for ECDSA_VERIFY (any key) and for VERIFY_TRUSTED's untrusted case.
  const stranger = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const strangerRaw = rawOf(stranger.publicKey);

  const store = memStore();
  const answers: Buffer[] = [];
  let wake: (() => void) | null = null;
  const p = await PlutonProcessor.open(store, (f) => { answers.push(Buffer.from(f)); wake?.(); });
  await p.provision([{ role: "os", spkiDer: new Uint8Array(osSpki) }, { role: "app", spkiDer: new Uint8Array(appSpki) }]);
  const rootsBefore = structuredClone(store.saved!.trustedRoots);
  const identity = p.identity();
  const deviceKey = createPublicKey({ key: Buffer.concat([Buffer.from("3059301306072a8648ce3d020106082a8648ce3d030107034200", "hex"), Buffer.from(identity.publicKey)]), format: "der", type: "spki" });

  /** Posts a burst without waiting, then waits until every frame of it is answered. */
  async function burst(frames: Uint8Array[]): Promise<Buffer[]> {
    const from = answers.length;
    for (const f of frames) assert.doesNotThrow(() => p.post(f), `seed ${SEED}: post threw`);
    assert.equal(answers.length, from, `seed ${SEED}: a response arrived inside post`);
    const deadline = Date.now() + 20_000;
    while (answers.length < from + frames.length) {
      assert.ok(Date.now() < deadline, `seed ${SEED}: ${from + frames.length - answers.length} frames never answered`);
      await new Promise<void>((r) => { wake = r; setTimeout(r, 50); });
    }
    await new Promise((r) => setTimeout(r, 5)); // a second response to one frame would show here
    assert.equal(answers.length, from + frames.length, `seed ${SEED}: more responses than frames`);
    return answers.slice(from);
  }
  const call = async (cmd: number, id: number, payload: Uint8Array) => {
    const [r] = await burst([frame(cmd, id, payload)]);
    return { id: r.readUInt16LE(0), status: r.readUInt16LE(2), payload: r.subarray(8) };
  };

  // The boot stage: the OS image "booting" is verified with role 3, which latches its digest.
  const image = bytes(300);
  const ctx0 = (await call(C.INIT, 1, new Uint8Array(0))).payload.readUInt32LE(0);
  assert.equal((await call(C.UPDATE, 2, cat(le(32, ctx0), image))).status, S.OK);
  const boot = await call(C.VERIFY_TRUSTED, 3, cat(le(32, ctx0), le(16, 3), le(16, 0), roots.os, p1363(os.privateKey, image)));
  assert.deepEqual([boot.status, boot.payload.readUInt32LE(32)], [S.OK, 0]);
  const bootMeasurement = sha(image);

  // The model: what the processor holds, as the SPEC describes it.
  const open = new Map<number, Uint8Array[]>(); // hash contexts the test learned of, and their bytes
  const counters: bigint[] = Array(COUNTERS).fill(0n);
  const seen = new Map<number, number>();
  const tally = (status: number) => seen.set(status, (seen.get(status) ?? 0) + 1);

  const checkSig = (msg: Uint8Array) => (sig: Buffer) => {
    assert.equal(sig.length, 64);
    assert.ok(nodeVerify("sha256", msg, { key: deviceKey, dsaEncoding: "ieee-p1363" }, sig), `seed ${SEED}: a signature by the device key does not verify`);
  };

  for (let b = 0; b < BURSTS; b++) {
    const frames: Uint8Array[] = [];
    const expects: Expect[] = [];
    const accepted = new Set<number>();
    const learned: { id: number }[] = []; // INITs accepted in this burst: their context ids arrive with the answers
    const size = 1 + int(40);
    let freeContexts = MAX_CONTEXTS - open.size;
    for (let i = 0; i < size; i++) {
      const id = rand() < 0.03 ? 0 : 1 + int(48);
      const kind = int(100);
      let cmd: number, payload: Uint8Array, lengthField: number | undefined, raw: Uint8Array | undefined;
      // Payloads of a command's right shape most of the time, so the checks past the header run.
      if (kind < 4) { raw = bytes(int(8)); cmd = -1; payload = raw; }
      else if (kind < 8) { cmd = int(65536); payload = bytes(int(16)); lengthField = payload.length && rand() < 0.5 ? int(payload.length) : payload.length + 1 + int(9); }
      else if (kind < 10) { cmd = C.SIGN; payload = new Uint8Array(0); lengthField = MAX_PAYLOAD + 1 + int(1 << 20); }
      else if (kind < 13) { cmd = C.SIGN; payload = bytes(MAX_PAYLOAD + int(2)); }
      else if (kind < 17) { cmd = pick([0, 12, 13, 100, 0xffff]); payload = bytes(int(8)); }
      else {
        cmd = pick([C.RANDOM, C.INIT, C.UPDATE, C.FINAL, C.ECDSA_VERIFY, C.SIGN, C.DEVICE_ID, C.ATTEST, C.COUNTER_READ, C.COUNTER_ADVANCE, C.VERIFY_TRUSTED]);
        // A context the test knows is open, or (while no INIT of this burst is pending, whose id the
        // test cannot know yet) any small id; null when neither is possible: the frame is then malformed.
        const ctx = (): number | null => open.size && (rand() < 0.8 || learned.length) ? pick([...open.keys()]) : learned.length ? null : 1 + int(12);
        switch (cmd) {
          case C.RANDOM: payload = rand() < 0.8 ? le(32, pick([0, 1, 2, 32, 255, 256, 257, 1 << 20, int(300)])) : bytes(int(6)); break;
          case C.INIT: payload = rand() < 0.9 ? new Uint8Array(0) : bytes(1 + int(4)); break;
          case C.UPDATE: { const c = ctx(); payload = c !== null && rand() < 0.95 ? cat(le(32, c), bytes(int(200))) : bytes(int(4)); break; }
          case C.FINAL: { const c = ctx(); payload = c !== null && rand() < 0.9 ? le(32, c) : bytes(pick([0, 3, 5, 8])); break; }
          case C.ECDSA_VERIFY: {
            const msg = bytes(int(64));
            const good = rand() < 0.5;
            const sig = p1363(stranger.privateKey, msg);
            if (!good) sig[int(64)] ^= 1 << int(8);
            const key = rand() < 0.1 ? bytes(65) : strangerRaw;
            payload = rand() < 0.9 ? cat(key, sig, msg) : bytes(int(129));
            break;
          }
          case C.SIGN: payload = bytes(int(300)); break;
          case C.DEVICE_ID: payload = rand() < 0.9 ? new Uint8Array(0) : bytes(1 + int(3)); break;
          case C.ATTEST: payload = bytes(pick([0, 31, 32, 64, 96, 33, 32 + 64 * 32, 32 + 65 * 32])); break;
          case C.COUNTER_READ: payload = rand() < 0.9 ? le(32, pick([0, 1, 7, 8, 0xffffffff, int(8)])) : bytes(pick([0, 3, 8])); break;
          case C.COUNTER_ADVANCE: payload = rand() < 0.9 ? cat(le(32, pick([0, 1, 2, 7, 8, int(8)])), le(64, BigInt(int(40)))) : bytes(pick([4, 11, 13])); break;
          default: {
            const c = ctx();
            if (c === null) { payload = bytes(87); break; }
            const role = pick([1, 1, 2, 2, 3, 0, 4]);
            const keyId = pick([roots.os, roots.app, bytes(16)]);
            const msg = open.get(c) ? cat(...open.get(c)!) : new Uint8Array(0);
            const signer = rand() < 0.5 ? os.privateKey : apps.privateKey;
            const sig = rand() < 0.7 ? p1363(signer, msg) : bytes(64);
            payload = rand() < 0.95 ? cat(le(32, c), le(16, role), le(16, rand() < 0.95 ? 0 : 1 + int(9)), keyId, sig) : bytes(pick([87, 89, 0]));
          }
        }
      }
      const f = raw ?? frame(cmd, id, payload, lengthField);
      frames.push(f);

      // The expected response, from the SPEC, in the order its checks are listed there.
      const what = `seed ${SEED}, burst ${b}, frame ${i} (cmd ${cmd}, id ${id}, ${f.length} B)`;
      if (f.length < 8) { expects.push({ id: 0, status: S.SHORT, what }); continue; }
      if (id === 0) { expects.push({ id: 0, status: S.BAD_ID, what }); continue; }
      const field = lengthField ?? payload.length;
      if (field > MAX_PAYLOAD) { expects.push({ id, status: S.OVERSIZED, what }); continue; }
      if (field !== f.length - 8) { expects.push({ id, status: S.LENGTH, what }); continue; }
      if (accepted.has(id)) { expects.push({ id, status: S.DUPLICATE_ID, what }); continue; }
      if (accepted.size >= MAX_OUTSTANDING) { expects.push({ id, status: S.BUSY, what }); continue; }
      accepted.add(id);
      const e = (status: number, check?: (p: Buffer) => void) => expects.push({ id, status, what, payload: check });
      const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
      switch (cmd) {
        case C.RANDOM: {
          const n = payload.length === 4 ? dv.getUint32(0, true) : 0;
          if (n < 1 || n > 256) e(S.BAD_PAYLOAD); else e(S.OK, (r) => assert.equal(r.length, n));
          break;
        }
        case C.INIT:
          if (payload.length !== 0) e(S.BAD_PAYLOAD);
          else if (freeContexts === 0) e(S.NO_CONTEXT);
          else { freeContexts--; e(S.OK, (r) => assert.equal(r.length, 4)); learned.push({ id }); }
          break;
        case C.UPDATE: {
          const parts = payload.length >= 4 ? open.get(dv.getUint32(0, true)) : undefined;
          if (payload.length < 4) e(S.BAD_PAYLOAD);
          else if (!parts) e(S.NO_CONTEXT);
          else { parts.push(payload.slice(4)); e(S.OK, (r) => assert.equal(r.length, 0)); }
          break;
        }
        case C.FINAL: {
          const c = payload.length === 4 ? dv.getUint32(0, true) : -1;
          const parts = open.get(c);
          if (payload.length !== 4) e(S.BAD_PAYLOAD);
          else if (!parts) e(S.NO_CONTEXT);
          else { open.delete(c); freeContexts++; const want = Buffer.from(sha(cat(...parts))); e(S.OK, (r) => assert.deepEqual(r, want)); }
          break;
        }
        case C.ECDSA_VERIFY: {
          if (payload.length < 129) { e(S.BAD_PAYLOAD); break; }
          const key = payload.subarray(0, 65);
          if (Buffer.compare(Buffer.from(key), Buffer.from(strangerRaw)) !== 0) { e(S.BAD_PAYLOAD); break; } // 65 random bytes are no P-256 point
          const ok = nodeVerify("sha256", payload.subarray(129), { key: stranger.publicKey, dsaEncoding: "ieee-p1363" }, payload.subarray(65, 129));
          e(S.OK, (r) => assert.deepEqual([...r], [ok ? 1 : 0]));
          break;
        }
        case C.SIGN: e(S.OK, checkSig(payload.slice())); break;
        case C.DEVICE_ID:
          if (payload.length !== 0) e(S.BAD_PAYLOAD);
          else e(S.OK, (r) => assert.deepEqual(r, Buffer.concat([Buffer.from(identity.deviceId), Buffer.from(identity.publicKey)])));
          break;
        case C.ATTEST: {
          const m = payload.length - 32;
          if (m < 0 || m % 32 || m / 32 > 64) { e(S.BAD_PAYLOAD); break; }
          const statement = cat(Buffer.from("WSAT"), le(16, 1), le(16, m / 32 + 1), identity.deviceId, payload.subarray(0, 32), bootMeasurement, payload.subarray(32));
          e(S.OK, (r) => { assert.deepEqual(r.subarray(0, statement.length), Buffer.from(statement)); checkSig(statement)(r.subarray(statement.length)); });
          break;
        }
        case C.COUNTER_READ:
        case C.COUNTER_ADVANCE: {
          if (payload.length !== (cmd === C.COUNTER_READ ? 4 : 12)) { e(S.BAD_PAYLOAD); break; }
          const index = dv.getUint32(0, true);
          if (index >= COUNTERS) { e(S.NO_COUNTER); break; }
          if (cmd === C.COUNTER_ADVANCE) {
            const wanted = dv.getBigUint64(4, true);
            if (wanted < counters[index]) { e(S.COUNTER_BACKWARDS); break; }
            counters[index] = wanted;
          }
          const value = counters[index];
          e(S.OK, (r) => assert.equal(r.readBigUInt64LE(0), value, `counter ${index}`));
          break;
        }
        case C.VERIFY_TRUSTED: {
          if (payload.length !== 88) { e(S.BAD_PAYLOAD); break; }
          const c = dv.getUint32(0, true), role = dv.getUint16(4, true);
          if (![1, 2, 3].includes(role) || dv.getUint16(6, true) !== 0) { e(S.BAD_PAYLOAD); break; }
          const parts = open.get(c);
          if (!parts) { e(S.NO_CONTEXT); break; }
          open.delete(c); freeContexts++;
          if (role === 3) { e(S.BOOT_ENDED); break; }
          const msg = cat(...parts);
          const keyId = Buffer.from(payload.subarray(8, 24));
          const root = role === 2 ? roots.app : roots.os;
          const verdict = !keyId.equals(Buffer.from(root)) ? 1
            : nodeVerify("sha256", msg, { key: role === 2 ? apps.publicKey : os.publicKey, dsaEncoding: "ieee-p1363" }, payload.subarray(24, 88)) ? 0 : 2;
          const want = Buffer.concat([Buffer.from(sha(msg)), le(32, verdict), le(32, 0)]);
          e(S.OK, (r) => assert.deepEqual(r, want));
          break;
        }
        default: e(S.UNKNOWN_COMMAND);
      }
    }

    const got = await burst(frames);
    // Pair responses with expectations by (id, status): per burst an id has at most one accepted
    // request, and refusals with the same id and status are alike (empty payloads).
    const unused = got.map((r) => ({ id: r.readUInt16LE(0), status: r.readUInt16LE(2), length: r.readUInt32LE(4), payload: r.subarray(8), used: false }));
    for (const x of expects) {
      const r = unused.find((u) => !u.used && u.id === x.id && u.status === x.status);
      assert.ok(r, `${x.what}: no response with id ${x.id} and status ${x.status}; got ${JSON.stringify(unused.filter((u) => !u.used && u.id === x.id).map((u) => u.status))}`);
      r.used = true;
      assert.equal(r.length, r.payload.length, `${x.what}: the response's length field`);
      if (x.payload) x.payload(r.payload);
      else assert.equal(r.payload.length, 0, `${x.what}: a refusal carries no payload`);
      tally(x.status);
    }
    // The contexts opened in this burst, now that their ids are known.
    for (const l of learned) {
      const r = unused.find((u) => u.id === l.id && u.status === S.OK)!;
      const c = r.payload.readUInt32LE(0);
      assert.ok(!open.has(c), `seed ${SEED}: context ${c} handed out while open`);
      open.set(c, []);
    }
  }

  if (process.env.WASPHERE_STORM_TALLY) console.log(JSON.stringify(Object.fromEntries([...seen].sort((x, y) => x[0] - y[0]))));
  // Every status the storm was meant to reach, it reached.
  for (const [name, s] of Object.entries(S)) assert.ok(seen.get(s), `seed ${SEED}: the storm never produced ${name}`);

  // Unchanged by the storm: the roots, the mode, the identity, the boot measurement; the counters
  // are the model's, in memory and in the store; and a clean SHA-256 still works.
  assert.deepEqual(store.saved!.trustedRoots, rootsBefore);
  assert.equal(store.saved!.mode, "field");
  assert.equal(p.mode, "field");
  assert.deepEqual(p.trustedRoots().map((r) => r.keyId), [Buffer.from(roots.os).toString("hex"), Buffer.from(roots.app).toString("hex")]);
  assert.deepEqual(p.identity(), identity);
  assert.deepEqual(store.saved!.counters, counters.map(String), `seed ${SEED}: the stored counters`);
  for (let i = 0; i < COUNTERS; i++) assert.equal((await call(C.COUNTER_READ, 1, le(32, i))).payload.readBigUInt64LE(0), counters[i], `counter ${i}`);
  for (const c of open.keys()) assert.equal((await call(C.FINAL, 1, le(32, c))).status, S.OK);
  const clean = bytes(5000);
  const ctx = (await call(C.INIT, 2, new Uint8Array(0))).payload.readUInt32LE(0);
  assert.equal((await call(C.UPDATE, 3, cat(le(32, ctx), clean.subarray(0, 4000)))).status, S.OK);
  assert.equal((await call(C.UPDATE, 4, cat(le(32, ctx), clean.subarray(4000)))).status, S.OK);
  assert.deepEqual((await call(C.FINAL, 5, le(32, ctx))).payload, Buffer.from(sha(clean)));
  const attest = await call(C.ATTEST, 6, new Uint8Array(32));
  assert.deepEqual(attest.payload.subarray(56, 88), Buffer.from(bootMeasurement));
  // A processor opened again from the store sees the same counters.
  const again = await PlutonProcessor.open(store, () => {});
  assert.deepEqual(again.identity(), identity);
  assert.deepEqual(store.saved!.counters, counters.map(String));
});

/** The SEC1 uncompressed point (65 bytes) of a P-256 public key. */
function rawOf(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: "jwk" });
  return cat(Uint8Array.of(4), Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url"));
}

test("counter requests in flight together are taken in the order posted: no advance is lost to another's, a read sees the advance before it", async () => {
  const store = memStore();
  const answers: Buffer[] = [];
  const p = await PlutonProcessor.open(store, (f) => answers.push(Buffer.from(f)));
  p.post(frame(C.COUNTER_ADVANCE, 1, cat(le(32, 0), le(64, 5n))));
  p.post(frame(C.COUNTER_ADVANCE, 2, cat(le(32, 1), le(64, 7n))));
  p.post(frame(C.COUNTER_READ, 3, le(32, 0)));
  p.post(frame(C.COUNTER_ADVANCE, 4, cat(le(32, 0), le(64, 3n))));
  while (answers.length < 4) await new Promise((r) => setTimeout(r, 1));
  const by = new Map(answers.map((a) => [a.readUInt16LE(0), [a.readUInt16LE(2), a.length > 8 ? a.readBigUInt64LE(8) : null]]));
  assert.deepEqual([...by].sort((x, y) => x[0] - y[0]), [[1, [S.OK, 5n]], [2, [S.OK, 7n]], [3, [S.OK, 5n]], [4, [S.COUNTER_BACKWARDS, null]]]);
  assert.deepEqual(store.saved!.counters.slice(0, 2), ["5", "7"]);
});
