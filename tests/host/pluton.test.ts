// The security processor behind its mailbox (host/pluton, SPEC.md "Security processor mailbox"):
// frames built here byte by byte from the SPEC (not with frame.ts's encoders), every bad-frame
// status, results checked against node:crypto, the store persisted and counters never backwards.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createPublicKey, verify as nodeVerify, generateKeyPairSync, sign as nodeSign } from "node:crypto";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PlutonProcessor, MAX_OUTSTANDING, SHA256_MAX_CONTEXTS, type PlutonState, type PlutonStore } from "../../host/pluton/processor.js";
import { fileStore, PLUTON_FILE } from "../../host/pluton/store-node.js";

const req = (cmd: number, id: number, payload: number[] | Uint8Array = []) => {
  const p = Buffer.from(payload as Uint8Array);
  const h = Buffer.alloc(8);
  h.writeUInt16LE(cmd, 0); h.writeUInt16LE(id, 2); h.writeUInt32LE(p.length, 4);
  return new Uint8Array(Buffer.concat([h, p]));
};
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return [...b]; };
const u64 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(n); return [...b]; };

function memStore(): PlutonStore & { saved: PlutonState | null } {
  const s = { saved: null as PlutonState | null, async load() { return s.saved; }, async save(st: PlutonState) { s.saved = structuredClone(st); } };
  return s;
}

async function open(store: PlutonStore = memStore()) {
  const answers: Buffer[] = [];
  const waiters: (() => void)[] = [];
  const p = await PlutonProcessor.open(store, (f) => { answers.push(Buffer.from(f)); waiters.splice(0).forEach((w) => w()); });
  const call = async (frame: Uint8Array) => {
    const before = answers.length;
    p.post(frame);
    while (answers.length === before) await new Promise<void>((r) => waiters.push(r));
    const f = answers[before];
    assert.equal(f.readUInt32LE(4), f.length - 8, "response length field");
    return { id: f.readUInt16LE(0), status: f.readUInt16LE(2), payload: f.subarray(8) };
  };
  return { p, call, answers };
}

test("bad frames each get their status and the request id they carried; the processor keeps answering", async () => {
  const { call } = await open();
  assert.deepEqual(await call(Uint8Array.of(1, 0, 5)), { id: 0, status: 1, payload: Buffer.alloc(0) }); // short
  const wrongLen = req(1, 7, u32(4)); wrongLen[4] = 5;
  assert.equal((await call(wrongLen)).status, 2);
  assert.equal((await call(wrongLen)).id, 7);
  const huge = req(6, 8, new Uint8Array(4097));
  assert.equal((await call(huge)).status, 3);
  assert.deepEqual(await call(req(99, 9)), { id: 9, status: 4, payload: Buffer.alloc(0) });
  assert.equal((await call(req(1, 0, u32(4)))).status, 11); // request id 0
  assert.equal((await call(req(1, 10, [1, 2]))).status, 6); // RANDOM with a 2-byte payload
  assert.equal((await call(req(1, 10, u32(0)))).status, 6);
  assert.equal((await call(req(1, 10, u32(257)))).status, 6);
  const r = await call(req(1, 11, u32(32)));
  assert.equal(r.status, 0); assert.equal(r.payload.length, 32);
});

test("a duplicate outstanding request id, and more than MAX_OUTSTANDING at once, are refused; answers come later, not inside post", async () => {
  const { p, answers } = await open();
  for (let i = 1; i <= MAX_OUTSTANDING; i++) p.post(req(6, i, [i]));
  assert.equal(answers.length, 0, "post answers asynchronously");
  p.post(req(6, 1, [1]));
  p.post(req(6, 200, [1]));
  await new Promise((r) => setTimeout(r, 200));
  const byStatus = (s: number) => answers.filter((a) => a.readUInt16LE(2) === s).map((a) => a.readUInt16LE(0));
  assert.deepEqual(byStatus(5), [1]);
  assert.deepEqual(byStatus(8), [200]);
  assert.equal(byStatus(0).length, MAX_OUTSTANDING);
});

test("SHA-256 streamed over contexts equals node:crypto; contexts are bounded and freed by final", async () => {
  const { call } = await open();
  const data = Buffer.alloc(10000).map((_, i) => (i * 31) & 0xff);
  const ctx = (await call(req(2, 1))).payload.readUInt32LE(0);
  for (let at = 0; at < data.length; at += 4000) assert.equal((await call(req(3, 2, [...u32(ctx), ...data.subarray(at, at + 4000)]))).status, 0);
  const fin = await call(req(4, 3, u32(ctx)));
  assert.deepEqual(fin.payload, createHash("sha256").update(data).digest());
  assert.equal((await call(req(4, 3, u32(ctx)))).status, 7, "a finished context is gone");
  const ids = [];
  for (let i = 0; i < SHA256_MAX_CONTEXTS; i++) ids.push((await call(req(2, 4))).payload.readUInt32LE(0));
  assert.equal((await call(req(2, 5))).status, 7);
  assert.deepEqual((await call(req(4, 6, u32(ids[0])))).payload, createHash("sha256").digest());
  assert.equal((await call(req(2, 7))).status, 0);
});

test("ECDSA verify agrees with node:crypto signatures; sign and attestation verify with node against DEVICE_ID's key", async () => {
  const { call } = await open();
  const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const raw = Buffer.from(pair.publicKey.export({ format: "jwk" }).x!, "base64url");
  const jwk = pair.publicKey.export({ format: "jwk" });
  const point = Buffer.concat([Buffer.of(4), Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")]);
  assert.equal(raw.length, 32);
  const msg = Buffer.from("firmware image");
  const sig = nodeSign("sha256", msg, { key: pair.privateKey, dsaEncoding: "ieee-p1363" });
  assert.deepEqual((await call(req(5, 1, Buffer.concat([point, sig, msg])))).payload, Buffer.of(1));
  const tampered = Buffer.from(msg); tampered[0] ^= 1;
  assert.deepEqual((await call(req(5, 1, Buffer.concat([point, sig, tampered])))).payload, Buffer.of(0));
  assert.equal((await call(req(5, 1, Buffer.concat([Buffer.alloc(65, 9), sig, msg])))).status, 6, "not a point");

  const dev = (await call(req(7, 2))).payload;
  const devPoint = dev.subarray(16);
  const devKey = createPublicKey({ key: { kty: "EC", crv: "P-256", x: devPoint.subarray(1, 33).toString("base64url"), y: devPoint.subarray(33).toString("base64url") }, format: "jwk" });
  assert.deepEqual(dev.subarray(0, 16), createHash("sha256").update(devKey.export({ type: "spki", format: "der" })).digest().subarray(0, 16));
  const signed = await call(req(6, 3, msg));
  assert.ok(nodeVerify("sha256", msg, { key: devKey, dsaEncoding: "ieee-p1363" }, signed.payload));

  const nonce = Buffer.alloc(32, 0xab), m1 = createHash("sha256").update("core").digest(), m2 = createHash("sha256").update("app").digest();
  const att = (await call(req(8, 4, Buffer.concat([nonce, m1, m2])))).payload;
  const statement = att.subarray(0, att.length - 64);
  // The boot measurement comes first: zeros, as no OS image was verified since power-on.
  assert.deepEqual(statement.subarray(0, 8), Buffer.from([0x57, 0x53, 0x41, 0x54, 1, 0, 3, 0]));
  assert.deepEqual(statement.subarray(8, 24), dev.subarray(0, 16));
  assert.deepEqual(statement.subarray(24), Buffer.concat([nonce, Buffer.alloc(32), m1, m2]));
  assert.ok(nodeVerify("sha256", statement, { key: devKey, dsaEncoding: "ieee-p1363" }, att.subarray(att.length - 64)));
  assert.equal((await call(req(8, 5, Buffer.alloc(31)))).status, 6);
  assert.equal((await call(req(8, 5, Buffer.alloc(32 + 33)))).status, 6);
});

test("counters read, advance, refuse to go backwards, and persist in the 0600 store file beside the flash image", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wasphere-pluton-"));
  let { call } = await open(fileStore(dir));
  const dev1 = (await call(req(7, 1))).payload;
  assert.equal(statSync(join(dir, PLUTON_FILE)).mode & 0o777, 0o600);
  assert.deepEqual((await call(req(9, 1, u32(3)))).payload, Buffer.from(u64(0n)));
  assert.deepEqual((await call(req(10, 2, [...u32(3), ...u64(5n)]))).payload, Buffer.from(u64(5n)));
  assert.equal((await call(req(10, 3, [...u32(3), ...u64(4n)]))).status, 10);
  assert.equal((await call(req(9, 4, u32(8)))).status, 9);
  ({ call } = await open(fileStore(dir)));
  assert.deepEqual((await call(req(9, 5, u32(3)))).payload, Buffer.from(u64(5n)));
  assert.deepEqual((await call(req(7, 6))).payload, dev1, "the same device key after a power cycle");
});

test("VERIFY_TRUSTED: a streamed message's signature checked against the roots of one role (node:crypto signs)", async () => {
  const store = memStore();
  const { p, call } = await open(store);
  const pair = (() => { const k = generateKeyPairSync("ec", { namedCurve: "P-256" }); return { ...k, spki: k.publicKey.export({ type: "spki", format: "der" }) }; })();
  const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const keyId = createHash("sha256").update(pair.spki).digest().subarray(0, 16);
  await p.provision([{ role: "app", spkiDer: new Uint8Array(pair.spki) }]);
  assert.equal(store.saved!.mode, "field");
  const message = Buffer.alloc(10_000, 7);
  const sig = (key = pair.privateKey, m = message) => nodeSign("sha256", m, { key, dsaEncoding: "ieee-p1363" });
  let id = 1;
  const verify = async (role: number, m: Buffer, signature: Buffer, kid: Buffer = keyId) => {
    const ctx = (await call(req(2, id++))).payload;
    for (let at = 0; at < m.length; at += 4092) assert.equal((await call(req(3, id++, Buffer.concat([ctx, m.subarray(at, at + 4092)])))).status, 0);
    const r = await call(req(11, id++, Buffer.concat([ctx, Buffer.from([role, 0, 0, 0]), kid, signature])));
    return { status: r.status, digest: r.payload.subarray(0, 32), verdict: r.payload.length === 40 ? r.payload.readUInt32LE(32) : -1, mode: r.payload.length === 40 ? r.payload.readUInt32LE(36) : -1 };
  };
  const good = await verify(2, message, sig());
  assert.deepEqual([good.status, good.verdict, good.mode], [0, 0, 0]);
  assert.deepEqual(good.digest, createHash("sha256").update(message).digest());
  const altered = Buffer.from(message); altered[5000] ^= 1;
  assert.equal((await verify(2, altered, sig())).verdict, 2, "bad signature");
  assert.equal((await verify(2, message, sig(other.privateKey))).verdict, 2, "another key under the trusted key's id");
  assert.equal((await verify(1, message, sig())).verdict, 1, "an app root is no OS root");
  assert.equal((await verify(2, message, sig(), Buffer.alloc(16))).verdict, 1, "no root with that key id");
  assert.equal((await call(req(11, id++, Buffer.concat([Buffer.from(u32(999)), Buffer.from([2, 0, 0, 0]), Buffer.alloc(80)])))).status, 7, "no such context");
  assert.equal((await call(req(11, id++, Buffer.alloc(88)))).status, 6, "role 0");
  assert.equal((await call(req(11, id++, Buffer.alloc(87)))).status, 6);
});

test("the boot measurement is the OS image verified to boot (role 3), once, in the boot stage; an OS image staged (role 1) never is", async () => {
  const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = pair.publicKey.export({ type: "spki", format: "der" });
  const keyId = createHash("sha256").update(spki).digest().subarray(0, 16);
  const store = memStore();
  let { p, call } = await open(store);
  await p.provision([{ role: "os", spkiDer: new Uint8Array(spki) }]);
  let id = 1;
  const verify = async (role: number, m: Buffer) => {
    const ctx = (await call(req(2, id++))).payload;
    assert.equal((await call(req(3, id++, Buffer.concat([ctx, m])))).status, 0);
    const r = await call(req(11, id++, Buffer.concat([ctx, Buffer.from([role, 0, 0, 0]), keyId, nodeSign("sha256", m, { key: pair.privateKey, dsaEncoding: "ieee-p1363" })])));
    return { status: r.status, digest: r.payload.subarray(0, 32), verdict: r.payload.length === 40 ? r.payload.readUInt32LE(32) : -1 };
  };
  const measured = async () => (await call(req(8, id++, Buffer.alloc(32, 1)))).payload.subarray(56, 88);
  const booted = Buffer.from("the core that boots"), staged = Buffer.from("a core staged as an update");
  // Role 1 (a staged image) verifies against the OS roots but is no measurement, before a boot or after.
  assert.deepEqual([(await verify(1, staged)).status, (await verify(1, staged)).verdict], [0, 0]);
  assert.deepEqual(await measured(), Buffer.alloc(32));
  // Role 3: the boot loader's check of the image it boots, checked against the OS roots; it latches.
  const boot = await verify(3, booted);
  assert.deepEqual([boot.status, boot.verdict], [0, 0]);
  assert.deepEqual(boot.digest, createHash("sha256").update(booted).digest());
  assert.deepEqual(await measured(), boot.digest);
  assert.equal((await verify(1, staged)).verdict, 0);
  assert.deepEqual(await measured(), boot.digest, "a later staged image changes nothing");
  // One boot a power-on: a second role-3 check is refused (BOOT_ENDED, 12), its context freed.
  assert.equal((await verify(3, staged)).status, 12);
  assert.deepEqual(await measured(), boot.digest);
  for (let i = 0; i < 4; i++) assert.equal((await call(req(2, id++))).status, 0, "no context was left open");
  // A fresh power-on whose processor the host hands to a core without a boot: the stage is over,
  // a role-3 check is refused, and the statement says zeros (nothing verified booted).
  ({ p, call } = await open(store));
  p.endBoot();
  assert.equal((await verify(3, booted)).status, 12);
  assert.equal((await verify(1, staged)).verdict, 0);
  assert.deepEqual(await measured(), Buffer.alloc(32));
  // A role-3 check whose signature does not verify latches nothing and leaves the stage open.
  ({ p, call } = await open(store));
  const ctx = (await call(req(2, id++))).payload;
  await call(req(3, id++, Buffer.concat([ctx, booted])));
  assert.equal((await call(req(11, id++, Buffer.concat([ctx, Buffer.from([3, 0, 0, 0]), keyId, Buffer.alloc(64)])))).payload.readUInt32LE(32), 2);
  assert.deepEqual(await measured(), Buffer.alloc(32));
  assert.deepEqual((await verify(3, booted)).digest, boot.digest);
  assert.deepEqual(await measured(), boot.digest);
  // Role 4 is no role.
  const c4 = (await call(req(2, id++))).payload;
  assert.equal((await call(req(11, id++, Buffer.concat([c4, Buffer.from([4, 0, 0, 0]), keyId, Buffer.alloc(64)])))).status, 6);
});
