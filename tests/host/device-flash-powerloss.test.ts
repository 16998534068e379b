// Power loss during a sideload, a replacement and a delete: the flash is cut at every program and
// erase the verb makes (lost, and torn half-written), and the device then boots with every app
// wholly old or wholly new (the core's list is replaced by a littlefs rename; a package is
// committed only by the list).
import test from "node:test";
import assert from "node:assert/strict";
import { PowerCut, type Flash, type PowerCutMode } from "../../host/flash.js";
import { ID_A, ID_B, boot, freshFlash, pkg } from "./device-flash-support.js";
import type { FlashDevice } from "../../host/device-flash.js";

const A1 = await pkg("blink", ID_A, [8]);
const A2 = await pkg("blink", ID_A, [8], { version: 2 });
const B1 = await pkg("button", ID_B, [12]);

/** name@version of every app the device admits, in list order; every entry must be admitted. */
async function state(dev: FlashDevice): Promise<string> {
  assert.equal(dev.bootReport.refused, 0, dev.bootReport.lines.join("\n"));
  for (const x of dev.entries()) assert.equal(x.status, 0);
  return (await dev.listInstalled()).map((x) => `${x.name}@${x.version}`).join(",");
}

/**
 * Runs `verb` on a device booted from a copy of `base`, cut at its 1st, 2nd, ... program or
 * erase until it completes uncut; after each cut boots the bytes as they were left and checks the
 * apps are `before` or `after`. The cuts made.
 */
async function sweep(base: Flash, verb: (dev: FlashDevice) => Promise<unknown>, before: string, after: string, mode: PowerCutMode): Promise<number> {
  let cuts = 0;
  for (let at = 1; ; at++) {
    const flash = base.clone();
    const dev = await boot(flash);
    flash.haltOnPowerCut = true;
    flash.armPowerCut(at, mode);
    let cut = false;
    try { await verb(dev); } catch (err) {
      if (!(err instanceof PowerCut) && flash.powerCutKind === null) throw err;
      cut = true;
    }
    if (!cut) {
      assert.equal(await state(await boot(new (flash.constructor as typeof Flash)({ blockSizeBytes: flash.blockSizeBytes, blockCount: flash.blockCount }, flash.bytes))), after);
      return cuts;
    }
    cuts++;
    const after1 = await state(await boot(new (flash.constructor as typeof Flash)({ blockSizeBytes: flash.blockSizeBytes, blockCount: flash.blockCount }, flash.bytes)));
    assert.ok(after1 === before || after1 === after, `cut ${at} (${flash.powerCutKind}, ${mode}): the device boots with ${after1}, neither ${before} nor ${after}`);
  }
}

test("power cut at every program and erase of a sideload, a replacement and a delete: each app wholly old or wholly new", async () => {
  const base = await freshFlash();
  const dev = await boot(base);
  await dev.deploy(A1);
  const counts: string[] = [];
  let total = 0;
  for (const mode of ["lost", "torn"] as const) {
    const sideload = await sweep(base, (d) => d.deploy(B1), "blink@1", "blink@1,button@1", mode);
    const withB = base.clone();
    await (await boot(withB)).deploy(B1);
    const replace = await sweep(withB, (d) => d.deploy(A2), "blink@1,button@1", "blink@2,button@1", mode);
    const del = await sweep(withB, (d) => d.remove(ID_B), "blink@1,button@1", "blink@1", mode);
    // Each verb programs its package's blocks and commits the list: more than a handful of cuts.
    assert.ok(sideload >= 5 && replace >= 5 && del >= 2, `${sideload} ${replace} ${del}`);
    counts.push(`${mode}: sideload ${sideload}, replace ${replace}, delete ${del}`);
    total += sideload + replace + del;
  }
  console.log(`power-loss sweep: ${counts.join("; ")}; ${total} cuts in all`);
});
