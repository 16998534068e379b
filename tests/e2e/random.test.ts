// random_bytes through the security processor's mailbox (ABI.md "Security processor", SPEC.md
// "Security processor mailbox"): the app's buffer gets exactly the bytes the processor answered,
// only the caller blocks, bad lengths and buffers are refused before anything is posted, the
// outstanding requests are bounded per app, a stopped task's late answer is dropped, and every
// forged, malformed or duplicate response is refused by mailbox-deliver and changes nothing.
import test from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildApp, REPO_ROOT } from "../../host/apps/build.js";
import { componentCoreFactory } from "../../host/core-component.js";
import { device, exitCodes, installAndStart } from "./support.js";
import { recordedProcessor, heldProcessor, response, logs, runSteps, asker, bystander } from "./mailbox-support.js";

test("random_bytes fills the buffer with exactly the bytes the processor answered, and blocks only its caller", async () => {
  const { spy, answers, posts } = await recordedProcessor();
  const dev = device({ securityProcessor: spy });
  await installAndStart(dev, "a", asker(32));
  await installAndStart(dev, "b", bystander);
  await installAndStart(dev, "c", asker(abi.RANDOM_MAX_BYTES));
  await dev.run({ untilMs: 1000 });
  assert.deepEqual(exitCodes(dev, "a"), [32]);
  assert.deepEqual(exitCodes(dev, "b"), [5]);
  assert.deepEqual(exitCodes(dev, "c"), [256]);
  // The requests, byte for byte: RANDOM, ids 1 and 2, a 4-byte payload with the count.
  assert.deepEqual(posts.map((p) => [...p]), [[1, 0, 1, 0, 4, 0, 0, 0, 32, 0, 0, 0], [1, 0, 2, 0, 4, 0, 0, 0, 0, 1, 0, 0]]);
  assert.equal(answers.length, 2);
  const hexOf = (id: number) => answers.find((f) => f.readUInt16LE(0) === id)!.subarray(8).toString("hex");
  assert.equal(hexOf(1).length, 64);
  assert.equal(hexOf(2).length, 512);
  // b ran while a and c waited: its line comes first.
  assert.deepEqual(logs(dev), ["b: ran", `a: ${hexOf(1)}`, `c: ${hexOf(2)}`]);
});

test("a length of 0 or over RANDOM_MAX_BYTES is -EINVAL, a buffer outside the app's memory -EFAULT (audited); nothing is posted", async () => {
  const { link, posts } = heldProcessor();
  const dev = device({ securityProcessor: link });
  await installAndStart(dev, "zero", asker(0));
  await installAndStart(dev, "big", asker(abi.RANDOM_MAX_BYTES + 1));
  await installAndStart(dev, "edge", asker(32, 65536 - 31));
  await dev.run({ untilMs: 100 });
  assert.deepEqual(exitCodes(dev, "zero"), [-abi.EINVAL]);
  assert.deepEqual(exitCodes(dev, "big"), [-abi.EINVAL]);
  assert.deepEqual(exitCodes(dev, "edge"), [-abi.EFAULT]);
  assert.deepEqual(dev.audit().filter((e) => e.kind === abi.EV_FAULT).map((e) => [e.syscall, e.arg, e.result]), [[abi.SYS_RANDOM_BYTES, 65536 - 31, -abi.EFAULT]]);
  assert.equal(posts.length, 0);
});

test("without a security processor random_bytes is -ENODEV and nothing waits", async () => {
  const dev = device();
  await installAndStart(dev, "a", asker(16));
  await dev.run({ untilMs: 100 });
  assert.deepEqual(exitCodes(dev, "a"), [-abi.ENODEV]);
});

test("mailbox-deliver refuses a malformed, forged, wrong-length or duplicate response with its errno and changes nothing; an error status is -EIO", async () => {
  const { link, posts } = heldProcessor();
  const dev = device({ securityProcessor: link });
  const a = await installAndStart(dev, "a", asker(4));
  runSteps(dev);
  assert.equal(posts.length, 1);
  const id = posts[0].readUInt16LE(2);
  const task = dev.core.exports.app_field(a.slot, abi.APP_FIELD_TASK);
  const deliver = (f: Uint8Array) => dev.core.exports.mailbox_deliver(f);
  assert.equal(deliver(Uint8Array.of(1, 0, 0)), -abi.EINVAL);                      // shorter than the header
  const lying = response(id, 0, Uint8Array.of(1, 2, 3, 4)); lying[4] = 5;
  assert.equal(deliver(lying), -abi.EINVAL);                                        // length field disagrees
  assert.equal(deliver(response(id, 0, new Uint8Array(4097))), -abi.EINVAL);       // over the payload limit
  assert.equal(deliver(response(id + 1, 0, Uint8Array.of(1, 2, 3, 4))), -abi.ENOENT); // an id never posted
  assert.equal(deliver(response(0, 0, Uint8Array.of(1, 2, 3, 4))), -abi.ENOENT);   // id 0
  assert.equal(deliver(response(id, 0, Uint8Array.of(1, 2, 3))), -abi.EMSGSIZE);    // fewer bytes than asked
  assert.equal(deliver(response(id, 0, Uint8Array.of(1, 2, 3, 4, 5))), -abi.EMSGSIZE);
  assert.equal(dev.core.exports.task_state(task), abi.TASK_BLOCKED);
  // The processor's answer, as the device hands it over (it counts what it posted).
  assert.equal(dev.mailboxDeliver(response(id, 0, Uint8Array.of(0xde, 0xad, 0xbe, 0xef))), 1);
  assert.equal(deliver(response(id, 0, Uint8Array.of(0xde, 0xad, 0xbe, 0xef))), -abi.ENOENT); // answered already
  await dev.run({ untilMs: 100 });
  assert.deepEqual(exitCodes(dev, "a"), [4]);
  assert.deepEqual(logs(dev), ["a: deadbeef"]);
  // A processor's refusal (status BAD_PAYLOAD) reaches the app as -EIO.
  const b = await installAndStart(dev, "b", asker(8));
  runSteps(dev);
  assert.equal(posts.length, 2);
  assert.equal(dev.mailboxDeliver(response(posts[1].readUInt16LE(2), 6, new Uint8Array(0))), 1);
  await dev.run({ untilMs: 200 });
  assert.deepEqual(exitCodes(dev, "b"), [-abi.EIO]);
  assert.notEqual(b.slot, a.slot);
});

test("an app holds at most its share of outstanding requests (-EAGAIN, EV_LIMIT); a stopped task's late answers are dropped and free the share", async () => {
  const { link, posts } = heldProcessor();
  const dev = device({ securityProcessor: link });
  const share = abi.MAILBOX_MAX_OUTSTANDING / abi.SHARE_MAX_DIVISOR;
  const a = await installAndStart(dev, "a", asker(16));
  for (let i = 0; i < share; i++) {
    runSteps(dev);
    assert.equal(posts.length, i + 1);
    dev.stop(a);
    dev.start(a);
  }
  runSteps(dev);
  assert.deepEqual(exitCodes(dev, "a"), [-abi.EAGAIN]);
  assert.equal(posts.length, share);
  assert.deepEqual(dev.audit().filter((e) => e.kind === abi.EV_LIMIT).map((e) => [e.syscall, e.arg, e.result]), [[abi.SYS_RANDOM_BYTES, abi.LIMIT_MAILBOX, -abi.EAGAIN]]);
  // Ids are distinct while outstanding.
  assert.deepEqual(posts.map((p) => p.readUInt16LE(2)), [1, 2, 3, 4]);
  // Each late answer is taken and dropped: nobody is woken, nothing is written.
  for (const p of posts) assert.equal(dev.mailboxDeliver(response(p.readUInt16LE(2), 0, new Uint8Array(16).fill(7))), 0);
  assert.deepEqual(logs(dev), []);
  // The share is free again: the next run's request is posted and answered.
  dev.start(a);
  runSteps(dev);
  assert.equal(posts.length, share + 1);
  assert.equal(dev.mailboxDeliver(response(posts[share].readUInt16LE(2), 0, new Uint8Array(16).fill(0xab))), 1);
  await dev.run({ untilMs: 100 });
  assert.deepEqual(exitCodes(dev, "a"), [-abi.EAGAIN, 16]);
  assert.deepEqual(logs(dev), [`a: ${"ab".repeat(16)}`]);
});

test("the device-wide bound: with MAILBOX_MAX_OUTSTANDING requests out, an app that holds none is refused too", async () => {
  const { link, posts } = heldProcessor();
  const dev = device({ securityProcessor: link });
  const share = abi.MAILBOX_MAX_OUTSTANDING / abi.SHARE_MAX_DIVISOR;
  for (let n = 0; n < abi.MAILBOX_MAX_OUTSTANDING / share; n++) {
    const a = await installAndStart(dev, `a${n}`, asker(8));
    for (let i = 0; i < share; i++) {
      runSteps(dev);
      dev.stop(a);
      if (i + 1 < share) dev.start(a);
    }
  }
  assert.equal(posts.length, abi.MAILBOX_MAX_OUTSTANDING);
  assert.equal(new Set(posts.map((p) => p.readUInt16LE(2))).size, abi.MAILBOX_MAX_OUTSTANDING);
  await installAndStart(dev, "late", asker(8));
  runSteps(dev);
  assert.deepEqual(exitCodes(dev, "late"), [-abi.EAGAIN]);
  assert.equal(posts.length, abi.MAILBOX_MAX_OUTSTANDING);
  const limits = dev.audit().filter((e) => e.kind === abi.EV_LIMIT);
  assert.deepEqual(limits.map((e) => [e.app, e.syscall, e.arg, e.result]), [[abi.MAILBOX_MAX_OUTSTANDING / share, abi.SYS_RANDOM_BYTES, abi.LIMIT_MAILBOX, -abi.EAGAIN]]);
});

test("the component core crosses the mailbox the same way: the bytes the processor answered reach the app", async () => {
  const { spy, answers } = await recordedProcessor();
  const dev = device({ securityProcessor: spy, createCore: await componentCoreFactory() });
  await installAndStart(dev, "a", asker(24));
  await dev.run({ untilMs: 1000 });
  assert.deepEqual(exitCodes(dev, "a"), [24]);
  assert.equal(answers.length, 1);
  assert.deepEqual(logs(dev), [`a: ${answers[0].subarray(8).toString("hex")}`]);
  assert.equal(dev.core.exports.mailbox_deliver(answers[0]), -abi.ENOENT);
});

test("the SDK's random.bytes fills a 600-byte buffer in pieces of 256, 256 and 88 bytes from the processor; sha256.digest hashes them", async () => {
  const wasm = await buildApp(join(REPO_ROOT, "tests/apps/random/main.ts"), (p) => { try { return readFileSync(p, "utf8"); } catch { return null; } });
  const { spy, answers, posts } = await recordedProcessor();
  const dev = device({ securityProcessor: spy });
  await installAndStart(dev, "sdk", wasm);
  await dev.run({ untilMs: 1000 });
  assert.deepEqual(exitCodes(dev, "sdk"), [0]);
  assert.deepEqual(posts.slice(0, 3).map((p) => p.readUInt32LE(8)), [256, 256, 88]);
  assert.deepEqual(posts.slice(3).map((p) => p.readUInt16LE(0)), [abi.MAILBOX_CMD_SHA256_INIT, abi.MAILBOX_CMD_SHA256_UPDATE, abi.MAILBOX_CMD_SHA256_FINAL]);
  assert.deepEqual(answers.slice(0, 3).map((a) => a.length - 8), [256, 256, 88]);
  const first4 = (i: number) => answers[i].subarray(8, 12).toString("hex");
  const all = Buffer.concat(answers.slice(0, 3).map((a) => a.subarray(8)));
  assert.deepEqual(dev.events.of("log").map((e) => e.text), [
    `got 600 ${first4(0)} ${first4(1)} ${first4(2)}`, `sha256 32 ${createHash("sha256").update(all).digest("hex")}`,
  ]);
});
