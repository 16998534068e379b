// A metadata commit counts only when its CRC matches: one flipped byte anywhere in the newest
// commit (here, in the name it adds) must make mount fall back to the commit before it, as
// littlefs's SPEC.md requires, never list the damaged entry.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Flash } from "../../host/flash.js";
import { LittleFs } from "../../host/fs/littlefs.js";

const GEOMETRY = { blockSizeBytes: 512, blockCount: 32 };
const CFG = { blockSize: 512, blockCount: 32 };
const NEW_NAME = "second-commit-name";

/** Where `needle` occurs in the flash image. */
function occurrences(flash: Flash, needle: string): number[] {
  const bytes = new TextEncoder().encode(needle);
  const out: number[] = [];
  for (let i = 0; i + bytes.length <= flash.bytes.length; i++) {
    let k = 0;
    while (k < bytes.length && flash.bytes[i + k] === bytes[k]) k++;
    if (k === bytes.length) out.push(i);
  }
  return out;
}

async function twoCommits(): Promise<Flash> {
  const flash = new Flash(GEOMETRY);
  await LittleFs.format(flash, CFG);
  const fs = LittleFs.mount(flash, CFG);
  fs.writeFile("/older", new TextEncoder().encode("kept"));
  fs.writeFile(`/${NEW_NAME}`, new TextEncoder().encode("lost"));
  fs.unmount();
  return flash;
}

test("a flipped byte in the newest commit's name: mount falls back to the commit before it", async () => {
  const flash = await twoCommits();
  const at = occurrences(flash, NEW_NAME);
  assert.equal(at.length, 1, "the name was committed once");
  for (const [offset, mask] of [[0, 0x01], [7, 0x80], [NEW_NAME.length - 1, 0x20]]) {
    const damaged = flash.clone();
    damaged.bytes[at[0] + offset] ^= mask;
    const fs = LittleFs.mount(damaged, CFG);
    assert.deepEqual(fs.readdir("/").map((e) => e.name), ["older"], `byte ${offset} ^ ${mask}`);
    assert.equal(new TextDecoder().decode(fs.readFile("/older")), "kept");
    fs.unmount();
  }
});

test("the undamaged image lists both entries (the damage, not the image, hides the second)", async () => {
  const fs = LittleFs.mount(await twoCommits(), CFG);
  assert.deepEqual(fs.readdir("/").map((e) => e.name).sort(), ["older", NEW_NAME].sort());
  assert.equal(new TextDecoder().decode(fs.readFile(`/${NEW_NAME}`)), "lost");
});
