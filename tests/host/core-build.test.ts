import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const coreBytes = readFileSync(new URL("../../../build/core.wasm", import.meta.url));

test("core.wasm has exactly one memory of 64 pages, initial = maximum", () => {
  const mod = new WebAssembly.Module(coreBytes);
  const memories = WebAssembly.Module.exports(mod).filter((e) => e.kind === "memory");
  assert.equal(memories.length, 1);
  const inst = readMemoryLimits(coreBytes);
  assert.deepEqual(inst, { initial: 64, maximum: 64 });
});

/** Reads the limits of the module's (only) defined memory from the binary. */
function readMemoryLimits(bytes: Uint8Array): { initial: number; maximum: number | undefined } {
  let pos = 8;
  const u32 = () => {
    let result = 0, shift = 0, b;
    do { b = bytes[pos++]; result |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80);
    return result >>> 0;
  };
  while (pos < bytes.length) {
    const id = bytes[pos++];
    const size = u32();
    const end = pos + size;
    if (id === 5) {
      const count = u32();
      assert.equal(count, 1, "exactly one memory");
      const flags = u32();
      const initial = u32();
      const maximum = flags & 1 ? u32() : undefined;
      return { initial, maximum };
    }
    pos = end;
  }
  throw new Error("core.wasm defines no memory");
}
