// sha256 through the security processor's mailbox (ABI.md "Security processor", SPEC.md "Security
// processor mailbox"): one call is the chain SHA256_INIT, SHA256_UPDATE with the data,
// SHA256_FINAL; the digest is node:crypto's; bad lengths and buffers are refused before anything
// is posted; a processor refusal at any step still frees its context (FINAL is sent) and the app
// gets -EAGAIN or -EIO; a stopped task's chain runs to FINAL without reading its data and is dropped.
import test from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as abi from "../../assembly/abi.js";
import { device, exitCodes, installAndStart } from "./support.js";
import { recordedProcessor, heldProcessor, response, logs, runSteps, hasher, pattern } from "./mailbox-support.js";

const DATA = 8192;

const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return new Uint8Array(b); };

test("sha256 answers node:crypto's digest for 0, 3 and SHA256_MAX_BYTES bytes, each a chain of INIT, UPDATE and FINAL", async () => {
  const { spy, posts } = await recordedProcessor();
  const dev = device({ securityProcessor: spy });
  for (const len of [0, 3, abi.SHA256_MAX_BYTES]) {
    await installAndStart(dev, `h${len}`, hasher(len));
    await dev.run({ untilMs: dev.clock.nowMs() + 100 });
  }
  const digest = (len: number) => createHash("sha256").update(pattern(len)).digest("hex");
  assert.deepEqual(logs(dev), [`h0: ${digest(0)}`, `h3: ${digest(3)}`, `h4092: ${digest(4092)}`]);
  for (const len of [0, 3, 4092]) assert.deepEqual(exitCodes(dev, `h${len}`), [32]);
  assert.deepEqual(posts.map((p) => p.readUInt16LE(0)), [2, 3, 4, 2, 3, 4, 2, 3, 4]);
  assert.deepEqual(posts.map((p) => p.length - 8), [0, 4, 4, 0, 7, 4, 0, 4096, 4]);
  assert.equal(new Set(posts.map((p) => p.readUInt16LE(2))).size, 9);
});

test("a length below 0 or over SHA256_MAX_BYTES is -EINVAL; a data or digest buffer outside memory is -EFAULT (audited); nothing is posted", async () => {
  const { link, posts } = heldProcessor();
  const dev = device({ securityProcessor: link });
  await installAndStart(dev, "neg", hasher(-1));
  await installAndStart(dev, "big", hasher(abi.SHA256_MAX_BYTES + 1));
  await installAndStart(dev, "data", hasher(64, 65536 - 63));
  await installAndStart(dev, "out", hasher(8, DATA, 65536 - 31));
  await dev.run({ untilMs: 100 });
  assert.deepEqual(["neg", "big", "data", "out"].map((a) => exitCodes(dev, a)), [[-abi.EINVAL], [-abi.EINVAL], [-abi.EFAULT], [-abi.EFAULT]]);
  assert.deepEqual(dev.audit().filter((e) => e.kind === abi.EV_FAULT).map((e) => [e.syscall, e.arg]), [[abi.SYS_SHA256, 65536 - 63], [abi.SYS_SHA256, 65536 - 31]]);
  assert.equal(posts.length, 0);
});

test("a processor refusal: no free context is -EAGAIN; a failed UPDATE still sends FINAL for the context and is -EIO", async () => {
  const { link, posts } = heldProcessor();
  const dev = device({ securityProcessor: link });
  await installAndStart(dev, "busy", hasher(3));
  runSteps(dev);
  assert.equal(dev.mailboxDeliver(response(posts[0].readUInt16LE(2), abi.MAILBOX_STATUS_NO_CONTEXT, new Uint8Array(0))), 1);
  await dev.run({ untilMs: 100 });
  assert.deepEqual(exitCodes(dev, "busy"), [-abi.EAGAIN]);
  assert.equal(posts.length, 1);
  await installAndStart(dev, "upd", hasher(3));
  runSteps(dev);
  const init = posts[1];
  assert.equal(dev.mailboxDeliver(response(init.readUInt16LE(2), 0, Uint8Array.of(1, 2, 3))), -abi.EMSGSIZE);
  assert.equal(dev.mailboxDeliver(response(init.readUInt16LE(2), 0, u32(5))), 0);
  const update = posts[2];
  assert.deepEqual([update.readUInt16LE(0), update.readUInt32LE(4), ...update.subarray(8)], [abi.MAILBOX_CMD_SHA256_UPDATE, 7, 5, 0, 0, 0, 0, 7, 14]);
  assert.equal(dev.mailboxDeliver(response(update.readUInt16LE(2), 6, new Uint8Array(0))), 0);
  const final = posts[3];
  assert.deepEqual([final.readUInt16LE(0), final.readUInt32LE(4), final.readUInt32LE(8)], [4, 4, 5]);
  // The chain ends on FINAL's answer, whatever it is.
  assert.equal(dev.mailboxDeliver(response(final.readUInt16LE(2), 0, new Uint8Array(32))), 1);
  await dev.run({ untilMs: 200 });
  assert.deepEqual(exitCodes(dev, "upd"), [-abi.EIO]);
  assert.deepEqual(logs(dev), []);
});

test("a task stopped mid-chain: its context goes straight to FINAL, its data unread, and the digest is dropped", async () => {
  const { link, posts } = heldProcessor();
  const dev = device({ securityProcessor: link });
  const a = await installAndStart(dev, "a", hasher(16));
  runSteps(dev);
  dev.stop(a);
  assert.equal(dev.mailboxDeliver(response(posts[0].readUInt16LE(2), 0, u32(9))), 0);
  assert.deepEqual([posts[1].readUInt16LE(0), posts[1].readUInt32LE(4), posts[1].readUInt32LE(8)], [abi.MAILBOX_CMD_SHA256_FINAL, 4, 9]);
  assert.equal(dev.mailboxDeliver(response(posts[1].readUInt16LE(2), 0, new Uint8Array(32).fill(1))), 0);
  assert.equal(dev.mailboxDeliver(response(posts[1].readUInt16LE(2), 0, new Uint8Array(32).fill(1))), -abi.ENOENT);
  assert.equal(posts.length, 2);
  assert.deepEqual(logs(dev), []);
  assert.deepEqual(exitCodes(dev, "a"), []);
});
