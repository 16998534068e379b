// The write order of an OS update's staging (SPEC.md "Boot state", "Staging an update"): the other
// OS slot's trailer is erased first, then its image blocks, then every byte of the image is
// programmed, and only then is the PENDING record appended, as the one and last program into the
// trailer. A flash that records each program and erase pins that order for both stagers: the core
// taking v2 from its feed (drivers/update.ts) and `device update-core` (the boot loader's
// stageCoreUpdate). A power cut just before the PENDING program (all of the image written) leaves
// a slot with no record, which boots v1 with no trial. Were PENDING written before the image, the
// order check fails, and the cut leaves neither a whole image nor a slot without PENDING.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { bootOs, signCoreImage, stageCoreUpdate, writeCoreImage } from "../../host/boot-loader.js";
import { readSlotLog, STATE_NAMES } from "../../host/boot-state.js";
import { CORE_WASM_PATH } from "../../host/core.js";
import { FlashDevice } from "../../host/device-flash.js";
import { Flash, PowerCut, ERR_IO, type FlashGeometry } from "../../host/flash.js";
import { readTable, type Partition } from "../../host/flash-layout.js";
import { openSecurityProcessor } from "../../host/pluton/link.js";
import type { PlutonStore } from "../../host/pluton/processor.js";
import { cache, freshFlash } from "../host/device-flash-support.js";
import { testSigner } from "../host/trust-support.js";
import { FeedServer, bootRunning, coreFeed, fieldStore, sha } from "./ota-support.js";

const CORE = new Uint8Array(readFileSync(CORE_WASM_PATH));
const V1 = await signCoreImage(CORE, testSigner, 1);
const V2 = await signCoreImage(CORE, testSigner, 2);

type Op = { kind: "prog" | "erase"; block: number; offset: number; bytes: number };

/**
 * A flash that records every program and erase while `recording`, and with `cutAtBlock` set cuts
 * power at the first program into that block: the bytes as they were are kept in `atCut`, and the
 * program is lost (the core's hal sees an I/O error; with `throwOnCut` the host stager sees PowerCut).
 */
class RecordingFlash extends Flash {
  ops: Op[] = [];
  recording = false;
  cutAtBlock = -1;
  throwOnCut = false;
  atCut: Uint8Array | null = null;
  constructor(geometry: FlashGeometry, bytes: Uint8Array) { super(geometry, bytes); }
  override prog(block: number, offset: number, src: Uint8Array): number {
    if (this.atCut) return ERR_IO;
    if (block === this.cutAtBlock) {
      this.atCut = this.bytes.slice();
      if (this.throwOnCut) throw new PowerCut(this.ops.length + 1);
      return ERR_IO;
    }
    if (this.recording) this.ops.push({ kind: "prog", block, offset, bytes: src.length });
    return super.prog(block, offset, src);
  }
  override erase(block: number): number {
    if (this.atCut) return ERR_IO;
    if (this.recording) this.ops.push({ kind: "erase", block, offset: 0, bytes: this.blockSizeBytes });
    return super.erase(block);
  }
}

async function v1Flash(): Promise<RecordingFlash> {
  const base = await freshFlash();
  writeCoreImage(base, V1);
  return new RecordingFlash({ blockSizeBytes: base.blockSizeBytes, blockCount: base.blockCount }, base.bytes.slice());
}

const osB = (flash: Flash): Partition => readTable(flash).find((p) => p.name === "os-b")!;
const blocksOf = (flash: Flash, p: Partition) => ({ first: p.offsetBytes / flash.blockSizeBytes, trailer: (p.offsetBytes + p.sizeBytes) / flash.blockSizeBytes - 1 });

/** The order rules over what was recorded in os-b. */
function assertOrder(flash: RecordingFlash): void {
  const { first, trailer } = blocksOf(flash, osB(flash));
  const mine = flash.ops.filter((o) => o.block >= first && o.block <= trailer);
  const at = (pred: (o: Op) => boolean) => mine.flatMap((o, i) => (pred(o) ? [i] : []));
  const imageProgs = at((o) => o.kind === "prog" && o.block < trailer);
  const imageErases = at((o) => o.kind === "erase" && o.block < trailer);
  const trailerProgs = at((o) => o.kind === "prog" && o.block === trailer);
  const trailerErases = at((o) => o.kind === "erase" && o.block === trailer);
  // The trailer's erase before any image block's, every image block erased before the first byte programmed.
  assert.equal(trailerErases.length, 1);
  assert.ok(trailerErases[0] < Math.min(...imageErases), "the trailer block is erased first");
  assert.equal(imageErases.length, trailer - first);
  assert.ok(Math.max(...imageErases) < Math.min(...imageProgs));
  // Every byte of the image programmed, then the PENDING record: one 16-byte program, the slot's last operation.
  assert.equal(imageProgs.reduce((n, i) => n + mine[i].bytes, 0), V2.length);
  assert.deepEqual(trailerProgs.map((i) => [mine[i].offset, mine[i].bytes]), [[0, 16]]);
  assert.ok(trailerProgs[0] > Math.max(...imageProgs), "PENDING after the last image byte");
  assert.equal(trailerProgs[0], mine.length - 1);
  assert.deepEqual(readSlotLog(flash, osB(flash)).records.map((r) => STATE_NAMES[r.state]), ["pending"]);
}

/** The bytes a cut left, booted through the boot loader: it must be v1, no trial, nothing to reject. */
async function assertCutLeavesV1(flash: RecordingFlash, store: PlutonStore): Promise<void> {
  assert.ok(flash.atCut, "the cut happened");
  const left = new Flash({ blockSizeBytes: flash.blockSizeBytes, blockCount: flash.blockCount }, flash.atCut!.slice());
  const slot = osB(left);
  assert.deepEqual(left.bytes.subarray(slot.offsetBytes, slot.offsetBytes + V2.length), V2, "the whole image was written before the cut");
  assert.deepEqual(readSlotLog(left, slot).records, [], "no PENDING record");
  const os = await bootOs(left, async () => (await openSecurityProcessor(store)).link, (core, link) =>
    FlashDevice.boot(left, { startApps: false, instrumentCache: cache, gpioPinCount: 96, securityProcessor: link, coreModule: core.module }));
  os.booted.device.shutdown();
  assert.deepEqual([os.core.slot, os.core.image.version, os.trial, os.lines], ["os-a", 1, null, ["counter 0 advanced from 0 to 1 (os-a, the primary slot, v1)"]]);
}

/** The core stages v2 from its feed on `flash`: resolves when it asked for the reboot, or when the cut answered. */
async function stageFromFeed(flash: RecordingFlash, store: PlutonStore): Promise<void> {
  const server = new FeedServer("/nonexistent");
  server.override.set(`/packages/${sha(V2)}.imagepackage`, V2);
  server.override.set("/feed.json", new Uint8Array(0));
  await server.start();
  const r = await bootRunning(flash, server.feedUrl, await openSecurityProcessor(store));
  try {
    await r.until("network-manager", /^networking ready/);
    flash.recording = true;
    server.override.set("/feed.json", await coreFeed(1, 2, V2));
    await r.until("update-agent", /^update: (core image version 2 staged in the other OS slot \(PENDING\); reboot requested|the PENDING record cannot be written \(flash\))$/, 30000);
  } finally {
    await r.stop();
    await server.stop();
  }
}

test("the core staging v2 from its feed: the image's bytes, then PENDING; a cut between them leaves no PENDING and v1 boots", async () => {
  const flash = await v1Flash();
  const store = await fieldStore();
  await stageFromFeed(flash, store);
  assertOrder(flash);
  const cut = await v1Flash();
  cut.cutAtBlock = blocksOf(cut, osB(cut)).trailer;
  await stageFromFeed(cut, store);
  await assertCutLeavesV1(cut, await fieldStore());
});

test("device update-core (stageCoreUpdate): the image's bytes, then PENDING; a cut between them leaves no PENDING and v1 boots", async () => {
  const store = await fieldStore();
  const flash = await v1Flash();
  flash.recording = true;
  await stageCoreUpdate(flash, (await openSecurityProcessor(store)).link, V2);
  assertOrder(flash);
  const cut = await v1Flash();
  cut.cutAtBlock = blocksOf(cut, osB(cut)).trailer;
  cut.throwOnCut = true;
  await assert.rejects(stageCoreUpdate(cut, (await openSecurityProcessor(store)).link, V2), PowerCut);
  await assertCutLeavesV1(cut, store);
});
