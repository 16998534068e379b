// The core's own refusal of a core (OS) image staged longer than its feed entry declares, with
// no update agent in front of it (the agent stops its download at the declared size, so
// ota-core-feed-lies never hands the core the extra bytes): a system app holding UpdateAgent has
// a genuine signed feed verified, begins a core image of the entry's SizeBytes and SHA-256, and
// writes the image and more. The write that would pass the declared size is -EFBIG, audited
// EV_UPDATE_REFUSED UPDATE_REFUSED_OVERSIZE, and programs none of its bytes; the staging is
// dropped, so a commit is -EINVAL even when the bytes written so far are the whole genuine image.
// Nothing is applied: no boot-state record in os-b, no reboot asked for, no EV_UPDATE_APPLIED,
// os-a as it was, and os-b holds just the bytes written before the refusal. A control stages the
// same image to exactly its declared bytes and sees it committed (a record, a reboot asked for).
import test from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as abi from "../../assembly/abi.js";
import { signCoreImage, writeCoreImage } from "../../host/boot-loader.js";
import { CORE_WASM_PATH } from "../../host/core.js";
import { FlashDevice } from "../../host/device-flash.js";
import { readTable } from "../../host/flash-layout.js";
import { appFromBytes } from "../../host/apps/package.js";
import { VirtualClock } from "../../host/peripherals/clock.js";
import { openSecurityProcessor } from "../../host/pluton/link.js";
import { cache, freshFlash } from "../host/device-flash-support.js";
import { testSigner } from "../host/trust-support.js";
import { coreFeed, fieldStore } from "./ota-support.js";
import { exitCodes, wat, IMPORT } from "./support.js";
import { hexLoop } from "./mailbox-support.js";

const CORE = new Uint8Array(readFileSync(CORE_WASM_PATH));
const CHUNK = abi.UPDATE_WRITE_MAX_BYTES;
// The agent's memory: its report scratch, the feed's text, signature and key id, the descriptor, the image (and what follows it).
const SCRATCH = 8192, HEX = 8208, ERR = 8448, SIG = 8768, KEY = 8832, DESC = 8848, TEXT = 9216, IMAGE = 65536;

const dataString = (bytes: Uint8Array) => [...bytes].map((b) => `\\${b.toString(16).padStart(2, "0")}`).join("");

/**
 * A system app that has the feed `text` verified, begins a core image of `declared` bytes whose
 * SHA-256 is `sha`, writes the `staged` bytes in `writes` (lengths, in order), commits, and logs
 * each result as 8 hex digits (little-endian i32) and update_last_error's line after the first
 * refused write and after the commit.
 */
function stager(text: Uint8Array, signature: Uint8Array, keyId: Uint8Array, declared: number, sha: Uint8Array, staged: Uint8Array, writes: number[]): Uint8Array {
  const imports = `${IMPORT.exit} ${IMPORT.log}
    (import "applibs" "update_feed_verify" (func $verify (param i32 i32 i32 i32) (result i32)))
    (import "applibs" "update_stage_begin" (func $begin (param i32 i32 i32) (result i32)))
    (import "applibs" "update_stage_write" (func $write (param i32 i32 i32) (result i32)))
    (import "applibs" "update_stage_commit" (func $commit (param i32) (result i32)))
    (import "applibs" "update_last_error" (func $lastError (param i32 i32) (result i32)))`;
  const desc = new Uint8Array(abi.UPDATE_DESC_BYTES);
  desc.set(sha, 16);
  let at = 0;
  const writeCalls = writes.map((n) => {
    const call = `(local.set $r (call $write (local.get $h) (i32.const ${IMAGE + at}) (i32.const ${n}))) (call $report (local.get $r))
      (if (i32.and (i32.lt_s (local.get $r) (i32.const 0)) (i32.eqz (local.get $refused))) (then (local.set $refused (i32.const 1)) (call $why)))`;
    at += n;
    return call;
  }).join("\n");
  const pages = Math.ceil((IMAGE + staged.length) / 65536);
  return wat(`(module ${imports}
    (memory (export "memory") ${pages})
    (data (i32.const ${SIG}) "${dataString(signature)}")
    (data (i32.const ${KEY}) "${dataString(keyId)}")
    (data (i32.const ${DESC}) "${dataString(desc)}")
    (data (i32.const ${TEXT}) "${dataString(text)}")
    (data (i32.const ${IMAGE}) "${dataString(staged)}")
    (func $report (param $v i32) (local $i i32) (local $b i32) (local $d i32)
      (i32.store (i32.const ${SCRATCH}) (local.get $v))
      ${hexLoop(SCRATCH, HEX, "(i32.const 4)")}
      (drop (call $log (i32.const ${HEX}) (i32.const 8))))
    (func $why (drop (call $log (i32.const ${ERR}) (call $lastError (i32.const ${ERR}) (i32.const 256)))))
    (func (export "main") (result i32) (local $r i32) (local $h i32) (local $refused i32)
      (call $report (call $verify (i32.const ${TEXT}) (i32.const ${text.length}) (i32.const ${SIG}) (i32.const ${KEY})))
      (local.set $h (call $begin (i32.const ${abi.UPDATE_KIND_CORE}) (i32.const ${declared}) (i32.const ${DESC})))
      (call $report (local.get $h))
      ${writeCalls}
      (call $report (call $commit (local.get $h)))
      (call $why)
      (call $exit (i32.const 0)) (i32.const 0)))`);
}

/** The logged results back as numbers (8 hex digits a line), the other lines as they are. */
const results = (lines: string[]) => lines.map((l) => (/^[0-9a-f]{8}$/.test(l) ? Buffer.from(l, "hex").readInt32LE(0) : l));

/** How the image goes out: the write lengths, for an image of `n` bytes and `extra` bytes after it. */
interface Staging { name: string; writes: (n: number, extra: number) => number[]; accepted: (n: number) => number }
const chunks = (total: number) => Array.from({ length: Math.ceil(total / CHUNK) }, (_, i) => Math.min(CHUNK, total - i * CHUNK));
const STAGINGS: Staging[] = [
  // The write carrying the image's last bytes carries the extra ones too: none of it is programmed.
  { name: "the write carrying the image's last bytes carries bytes after them too", writes: (n, extra) => chunks(n + extra), accepted: (n) => Math.floor(n / CHUNK) * CHUNK },
  // The whole genuine image is written, then one byte more: the image stays unbootable all the same.
  { name: "the whole image, then one byte more", writes: (n) => [...chunks(n), 1], accepted: (n) => n },
];

/**
 * A device over a flash whose os-a holds version 1, the feed of version 2 verified, and the
 * stager's writes of `writes(n, 100)` bytes of version 2 followed by 0x5a bytes done: its logged
 * results, the flash's OS slots, os-a as it was, and the image.
 */
async function stage(writesOf: (n: number, extra: number) => number[]) {
  const flash = await freshFlash();
  writeCoreImage(flash, await signCoreImage(CORE, testSigner, 1));
  const table = readTable(flash);
  const slot = (name: string) => { const p = table.find((e) => e.name === name)!; return flash.bytes.subarray(p.offsetBytes, p.offsetBytes + p.sizeBytes); };
  const osABefore = slot("os-a").slice();
  const good = await signCoreImage(CORE, testSigner, 2);
  const writes = writesOf(good.length, 100);
  const staged = new Uint8Array(Math.max(good.length, writes.reduce((s, n) => s + n, 0)));
  staged.set(good);
  staged.fill(0x5a, good.length);
  // The feed a server would publish: one entry, SizeBytes good.length and good's SHA-256.
  const feed = JSON.parse(new TextDecoder().decode(await coreFeed(1, 2, good))) as { Manifest: string; Signature: { Value: string } };
  const entry = (JSON.parse(feed.Manifest) as { Components: { SizeBytes: number; Sha256: string }[] }).Components[0];
  assert.equal(entry.SizeBytes, good.length);
  const sha = new Uint8Array(createHash("sha256").update(good).digest());
  assert.equal(Buffer.from(sha).toString("hex"), entry.Sha256);

  const processor = await openSecurityProcessor(await fieldStore());
  const dev = await FlashDevice.boot(flash, { startApps: false, instrumentCache: cache, gpioPinCount: 96, securityProcessor: processor.link, clock: new VirtualClock() });
  const device = dev.device;
  const wasm = stager(new TextEncoder().encode(feed.Manifest), Buffer.from(feed.Signature.Value, "base64"), testSigner.keyId, entry.SizeBytes, sha, staged, writes);
  const manifest = { SchemaVersion: 1, Name: "stager", ComponentId: "0f3a5c7e-9b1d-4f28-8a6c-4e2d0b9f7a13", EntryPoint: "stager.wasm", CmdArgs: [],
    Capabilities: { UpdateAgent: true }, MemoryQuotaKiB: Math.ceil((IMAGE + staged.length) / 65536) * 64 + 64 };
  const app = await device.installSystem(appFromBytes("stager", manifest, wasm));
  device.start(app);
  await device.run({ untilMs: 60000 });
  await device.mailboxIdle();
  const lines = results(device.events.of("log").filter((e) => e.app === "stager").map((e) => e.text));
  return { device, app, lines, writes, good, slot, osABefore };
}

/** The update calls' audit entries: [kind, app, syscall (a refusal's reason), arg, result]. */
const updateAudit = (device: FlashDevice["device"]) => device.audit()
  .filter((a) => a.kind === abi.EV_FEED_ACCEPTED || a.kind === abi.EV_UPDATE_REFUSED || a.kind === abi.EV_UPDATE_APPLIED || a.kind === abi.EV_REBOOT_REQUESTED)
  .map((a) => [a.kind, a.app, a.syscall, a.arg, a.result]);

test("the control: the stager's image written to exactly its declared bytes is committed (a PENDING record in os-b, a reboot asked for)", async () => {
  const { device, app, lines, writes, good, slot, osABefore } = await stage((n) => chunks(n));
  let sum = 0;
  assert.deepEqual(lines.slice(0, writes.length + 3), [1, lines[1], ...writes.map((n) => (sum += n)), 0]);
  assert.equal(sum, good.length);
  assert.ok((lines[1] as number) >= 0);
  const audit = updateAudit(device);
  assert.deepEqual(audit.slice(0, 1), [[abi.EV_FEED_ACCEPTED, app.slot, abi.SYS_UPDATE_FEED_VERIFY, 1, 0]]);
  assert.deepEqual(audit.slice(1).map((e) => e.slice(0, 4)), [[abi.EV_REBOOT_REQUESTED, app.slot, abi.SYS_UPDATE_STAGE_COMMIT, abi.REBOOT_REASON_OS_UPDATE]]);
  assert.notEqual(device.rebootRequest, null);
  const osB = slot("os-b");
  assert.ok(Buffer.from(osB.subarray(0, good.length)).equals(Buffer.from(good)), "os-b holds the image");
  assert.ok(!osB.subarray(osB.length - 4096).every((b) => b === 0xff), "a boot-state record in os-b");
  assert.ok(Buffer.from(slot("os-a")).equals(Buffer.from(osABefore)), "os-a is as it was");
  device.shutdown();
});

for (const staging of STAGINGS) {
  test(`the core refuses a core image staged longer than its feed entry declares, and applies nothing: ${staging.name}`, async () => {
    const { device, app, lines, writes, good, slot, osABefore } = await stage(staging.writes);
    assert.deepEqual(exitCodes(device, "stager"), [0]);

    // The feed verified (Sequence 1), a handle, each write answered with the bytes programmed so
    // far until the one that would pass the declared size: -EFBIG, and the staging is dropped.
    const accepted = staging.accepted(good.length);
    const refusedAt = writes.findIndex((_, i) => writes.slice(0, i + 1).reduce((s, n) => s + n, 0) > good.length);
    const handle = lines[1] as number;
    assert.ok(handle >= 0, `a handle, not ${handle}`);
    const dropped = "update: the staged update was dropped; close its handle and begin again";
    let sum = 0;
    const wantWrites = writes.map((n, i) => (i < refusedAt ? (sum += n) : i === refusedAt ? -abi.EFBIG : -abi.EINVAL));
    assert.deepEqual(lines, [1, handle,
      ...wantWrites.slice(0, refusedAt + 1), `update: refused: the download is longer than the ${good.length} bytes its feed entry declares`,
      ...wantWrites.slice(refusedAt + 1), -abi.EINVAL, dropped]);
    assert.equal(sum, accepted);

    // The audit: the feed accepted; the oversize write refused (UPDATE_REFUSED_OVERSIZE, -EFBIG);
    // each later write and the commit refused as a dropped staging (reason 0, -EINVAL).
    assert.deepEqual(updateAudit(device), [
      [abi.EV_FEED_ACCEPTED, app.slot, abi.SYS_UPDATE_FEED_VERIFY, 1, 0],
      [abi.EV_UPDATE_REFUSED, app.slot, abi.UPDATE_REFUSED_OVERSIZE, -1, -abi.EFBIG],
      ...wantWrites.slice(refusedAt + 1).map(() => [abi.EV_UPDATE_REFUSED, app.slot, 0, -1, -abi.EINVAL]),
      [abi.EV_UPDATE_REFUSED, app.slot, 0, -1, -abi.EINVAL],
    ]);
    const described = device.audit().map((a) => device.describeAudit(a));
    assert.ok(described.includes("stager: update refused (EFBIG): the download is longer than its feed entry declares"), described.join("\n"));
    // Nothing applied: no reboot asked for, no boot-state record, os-a as it was, and os-b holds
    // the bytes written before the refusal and nothing after them (erased flash).
    assert.equal(device.rebootRequest, null);
    const osB = slot("os-b");
    assert.ok(osB.subarray(osB.length - 4096).every((b) => b === 0xff), "no boot-state record in os-b");
    assert.ok(Buffer.from(slot("os-a")).equals(Buffer.from(osABefore)), "os-a is as it was");
    assert.ok(Buffer.from(osB.subarray(0, accepted)).equals(Buffer.from(good.subarray(0, accepted))), "os-b holds the bytes accepted");
    assert.ok(osB.subarray(accepted).every((b) => b === 0xff), `os-b holds nothing after byte ${accepted}`);
    device.shutdown();
  });
}
