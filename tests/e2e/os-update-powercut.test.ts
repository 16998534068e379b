// Power loss during an OS update, as the littlefs power-loss tests cut the flash: v1 booted, then
// `update-core` v2 and the boot that follows (TRYING, the trial, CONFIRMED) are cut at their 1st,
// 2nd, ... program or erase, the operation lost or torn half-written, until they run uncut. After
// each cut the device is powered again from the bytes as they were left and booted twice: it
// always boots, into v1 or v2 (never neither), the second boot agrees with the first without a
// trial, and counter 0 is never ahead of the version that booted. Also: an update over one staged
// and not yet booted (its old PENDING never makes a half-erased image tried); the boot that rejects a
// trial left TRYING, cut at each of its writes; and a power loss between CONFIRMED and the
// counter's advance, repaired by the next boot.
import test from "node:test";
import assert from "node:assert/strict";
import { readOsSlots, stageCoreUpdate } from "../../host/boot-loader.js";
import { BOOT_STATE, appendRecord } from "../../host/boot-state.js";
import { Flash, PowerCut, type PowerCutMode } from "../../host/flash.js";
import { memoryStore, type SecurityProcessorLink } from "../../host/pluton/link.js";
import type { PlutonStore } from "../../host/pluton/processor.js";
import { V2, V3, boot, counter0, factoryV1, powerOn } from "../host/os-update-support.js";

/** A copy of `store` (the processor's persisted state: counters, roots, mode). */
async function copyStore(store: PlutonStore): Promise<PlutonStore> {
  const copy = memoryStore();
  await copy.save((await store.load())!);
  return copy;
}
/** The flash powered again: the bytes as the cut left them, no fault armed. */
const repowered = (f: Flash) => new Flash({ blockSizeBytes: f.blockSizeBytes, blockCount: f.blockCount }, f.bytes);

/**
 * Runs `work` on copies of `base` and `baseStore`, cut at its 1st, 2nd, ... program or erase
 * until it completes uncut; after each cut powers the device again and checks it boots one of
 * `versions`, twice alike, with counter 0 never ahead of it. The cuts made, and what the uncut
 * run left.
 */
async function sweep(base: Flash, baseStore: PlutonStore, mode: PowerCutMode, work: (flash: Flash, store: PlutonStore) => Promise<unknown>, versions: number[], check?: (first: Awaited<ReturnType<typeof boot>>, where: string) => void): Promise<{ cuts: number; booted: Map<number, number> }> {
  const booted = new Map<number, number>();
  for (let at = 1; ; at++) {
    const flash = base.clone();
    const store = await copyStore(baseStore);
    flash.haltOnPowerCut = true;
    flash.armPowerCut(at, mode);
    let cut = false;
    try { await work(flash, store); } catch (err) {
      if (!(err instanceof PowerCut) && flash.powerCutKind === null) throw err;
      cut = true;
    }
    if (!cut) return { cuts: at - 1, booted };
    const where = `cut ${at} (${flash.powerCutKind}, ${mode})`;
    const atCut = await counter0(store);
    const after = repowered(flash);
    let first;
    try { first = await boot(after, store); } catch (err) { assert.fail(`${where}: the device boots nothing: ${(err as Error).message}`); }
    const v = first.core.image.version;
    assert.ok(versions.includes(v), `${where}: booted v${v}, none of ${versions.join(", ")}`);
    assert.ok(atCut <= v, `${where}: counter 0 was ${atCut} at the cut, ahead of v${v}, which booted`);
    assert.equal(await counter0(store), v, `${where}: counter 0 after booting v${v}`);
    check?.(first, where);
    const second = await boot(after, store);
    assert.deepEqual([second.core.image.version, second.trial, second.lines], [v, null, []], `${where}: the second boot`);
    booted.set(v, (booted.get(v) ?? 0) + 1);
  }
}

test("power cut at every program and erase of update-core v2 and the boot that follows: the device boots v1 or v2, never neither, and counter 0 is never ahead", async (t) => {
  const { flash: base, store: baseStore } = await factoryV1();
  const summary: string[] = [];
  let total = 0;
  for (const mode of ["lost", "torn"] as const) {
    const { cuts, booted } = await sweep(base, baseStore, mode, async (flash, store) => {
      await stageCoreUpdate(flash, await powerOn(store)(), V2);
      const r = await boot(flash, store);
      assert.deepEqual([r.core.image.version, r.trial?.confirmed], [2, true], "uncut, the update is confirmed");
      assert.equal(await counter0(store), 2);
    }, [1, 2]);
    // Erasing the 32 blocks of a 2 MiB device's slot and programming the image's 13 come first;
    // PENDING, TRYING and CONFIRMED are one program each.
    const blocks = Math.ceil(V2.length / 4096);
    assert.equal(cuts, 32 + blocks + 3, `${mode}: cuts`);
    // Cut before PENDING took: v1. Cut at TRYING (lost, or torn and skipped): still PENDING, so the
    // next boot tries v2 and keeps it. Cut at CONFIRMED: TRYING left over, rejected: v1.
    assert.deepEqual([booted.get(1), booted.get(2)], [cuts - 1, 1], mode);
    summary.push(`${mode}: ${cuts} cuts (v1 booted after ${booted.get(1) ?? 0}, v2 after ${booted.get(2) ?? 0})`);
    total += cuts;
  }
  t.diagnostic(`cuts: ${total}`);
  console.log(`os update power-loss sweep: ${summary.join("; ")}; ${total} cuts in all`);
});

test("power cut at every write of an update that replaces one staged but not yet booted: v1, the staged v2 or the new v3, and no half-erased image is ever tried", async (t) => {
  const { flash: base, store } = await factoryV1();
  await stageCoreUpdate(base, await powerOn(store)(), V2);
  let total = 0;
  for (const mode of ["lost", "torn"] as const) {
    const { cuts, booted } = await sweep(base, store, mode, async (flash, s) => {
      assert.deepEqual(await stageCoreUpdate(flash, await powerOn(s)(), V3), { slot: "os-b", version: 3, sequence: 2 });
      assert.equal((await boot(flash, s)).core.image.version, 3);
    }, [1, 2, 3], (first, where) => assert.notEqual(first.trial?.confirmed, false, `${where}: ${first.lines.join("; ")}`));
    // Cut at the first erase (os-b's trailer) lost: v2 is still whole and PENDING, so it is tried and kept.
    // Torn, the erase cleared the trailer's first half, where the records are: v1.
    assert.equal(booted.get(2) ?? 0, mode === "lost" ? 1 : 0, mode);
    assert.equal(booted.get(3), 1, mode);
    total += cuts;
  }
  t.diagnostic(`cuts: ${total}`);
});

test("power cut at each write of the boot that rejects a trial left TRYING: v1 boots every time", async (t) => {
  const { flash: base, store } = await factoryV1();
  await stageCoreUpdate(base, await powerOn(store)(), V2);
  appendRecord(base, readOsSlots(base).parts[1], BOOT_STATE.TRYING, 1);
  let total = 0;
  for (const mode of ["lost", "torn"] as const) {
    const { cuts, booted } = await sweep(base, store, mode, async (flash, s) => {
      const r = await boot(flash, s);
      assert.deepEqual([r.core.image.version, r.lines], [1, ["os-b (v2) failed its trial (cut before it was confirmed: a power loss or crash); rolled back to os-a (v1)"]]);
    }, [1]);
    assert.deepEqual([cuts, booted.get(1)], [1, 1], mode);
    total += cuts;
  }
  t.diagnostic(`cuts: ${total}`);
});

test("a power loss between CONFIRMED and counter 0's advance: the next boot advances it", async () => {
  const { flash, store } = await factoryV1();
  await stageCoreUpdate(flash, await powerOn(store)(), V2);
  // The processor loses power when asked to advance: the frame never reaches it.
  const dying = async () => {
    const link = await powerOn(store)();
    return { get answer() { return link.answer; }, set answer(fn) { link.answer = fn; }, post(frame: Uint8Array) {
      if ((frame[0] | (frame[1] << 8)) === 10) throw new Error("power lost at COUNTER_ADVANCE");
      link.post(frame);
    }, endBoot: () => link.endBoot() } as SecurityProcessorLink;
  };
  await assert.rejects(boot(flash, store, dying), { message: "power lost at COUNTER_ADVANCE" });
  assert.equal(await counter0(store), 1, "the counter did not run ahead");
  assert.deepEqual(readOsSlots(flash).views[1].log.last?.state, BOOT_STATE.CONFIRMED);
  const r = await boot(flash, store);
  assert.deepEqual([r.core.slot, r.trial, r.lines], ["os-b", null, ["counter 0 advanced from 1 to 2 (os-b, the primary slot, v2)"]]);
  assert.equal(await counter0(store), 2);
});
