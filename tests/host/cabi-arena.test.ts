// The cabi_realloc arena and the lowering checks (assembly/cabi.ts, assembly/hal/index.ts): every
// list crossing the boundary lives in the arena; the core refuses a list it did not hand out, a
// full arena refuses without moving, and a hal that describes a returned list wrongly gets -EIO
// instead of the core reading what it points at. Driven on the raw module, as a hostile host would.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { CabiArenaFull, HAL_MODULE, ModuleCore, coreModule, loweredExportName, type ExportName } from "../../host/core.js";
import { Flash } from "../../host/flash.js";
import { LittleFs } from "../../host/fs/littlefs.js";

type Ret = (ret: number, len: number) => void;

/** The raw core with a hal whose flash-read answers through `flashRead` (erased flash by default). */
type FlashRead = (view: DataView, lower: (n: number) => number, ret: number, len: number, block: number, offset: number) => void;
function rawCore(flashRead?: FlashRead) {
  let x!: Record<string, any>;
  const view = () => new DataView((x.memory as WebAssembly.Memory).buffer);
  const lower = (n: number) => x.cabi_realloc(0, 0, 1, n) >>> 0;
  const erased: Ret = (ret, len) => {
    const p = lower(len);
    new Uint8Array((x.memory as WebAssembly.Memory).buffer, p, len).fill(0xff);
    const v = view(); v.setUint8(ret, 0); v.setUint32(ret + 4, p, true); v.setUint32(ret + 8, len, true);
  };
  const hal = {
    "clock-now-ms": () => 0, "gpio-configure": () => 0, "gpio-write": () => 0, "gpio-read": () => 0, "log-write": () => {},
    "app-copy-in": (_t: number, _p: number, _n: number, ret: number) => { view().setUint8(ret, 1); view().setInt32(ret + 4, -abi.EFAULT, true); },
    "app-copy-out": () => -abi.EFAULT, "app-memory-bytes": () => 0,
    "flash-read": (b: number, o: number, len: number, ret: number) => (flashRead ? flashRead(view(), lower, ret, len, b, o) : erased(ret, len)),
    "flash-prog": () => 0, "flash-erase": () => 0, "flash-sync": () => 0, "periph-control": () => -22, "periph-read": () => {}, "mailbox-post": () => -19, "net-control": () => -19, "net-read": () => {}, "panic": () => { throw new Error("panic"); },
  };
  x = new WebAssembly.Instance(coreModule(), { [HAL_MODULE]: hal }).exports as Record<string, any>;
  const call = (name: ExportName, ...args: number[]) => x[loweredExportName(name)](...args) as number;
  return { x, call, view };
}

test("a list longer than the arena is refused before the core is called, and the core goes on", () => {
  const core = new ModuleCore({ clockNowMs: () => 0 });
  assert.equal(core.exports.core_boot(8, 262144, 262144), 0);
  assert.throws(() => core.exports.app_install(new Uint8Array(abi.CABI_ARENA_BYTES + 1)), CabiArenaFull);
  const manifest = new TextEncoder().encode(JSON.stringify({ SchemaVersion: 1, Name: "a", ComponentId: "1689d8b2-c835-2e27-27ad-e894d6d15fa9", EntryPoint: "a.wasm" }));
  assert.equal(core.exports.app_install(manifest), 0);
  assert.equal(core.exports.mem_cabi_arena_bytes(), abi.CABI_ARENA_BYTES);
});

test("cabi_realloc hands out at most the arena, traps without moving when full, and the arena empties when a list-taking export returns", () => {
  const { x, call } = rawCore();
  assert.equal(call("core_boot", 8, 262144, 262144), 0);
  const p = x.cabi_realloc(0, 0, 1, abi.CABI_ARENA_BYTES) >>> 0;
  assert.throws(() => x.cabi_realloc(0, 0, 1, 1), WebAssembly.RuntimeError);
  assert.throws(() => x.cabi_realloc(0, 0, 3, 1), WebAssembly.RuntimeError, "an alignment that is not a power of two");
  // The full arena still describes one list: the core reads it and then gives it all back.
  assert.equal(call("app_install", p, 2), -abi.EINVAL, "\"{}\"-less garbage is refused by the parser");
  assert.equal(x.cabi_realloc(0, 0, 1, abi.CABI_ARENA_BYTES) >>> 0, p, "empty again, from the same start");
  assert.equal(x.cabi_realloc(0, 0, 1, 0) >>> 0, p + abi.CABI_ARENA_BYTES, "a zero-length list fits at the end");
  assert.equal(call("syscall", 0, abi.SYS_YIELD, 0, 0, 0, 0) < 0, true);
  assert.equal(x.cabi_realloc(0, 0, 8, 16) >>> 0, p, "syscall, which takes no list, drops what was left");
  // A grow of the newest allocation stays in place.
  assert.equal(x.cabi_realloc(p, 16, 8, 64) >>> 0, p);
});

test("the core refuses a list it did not hand out: outside the arena, or past what cabi_realloc gave", () => {
  const { x, call } = rawCore();
  assert.equal(call("core_boot", 8, 262144, 262144), 0);
  assert.equal(call("app_install", 0, 100), -abi.EINVAL);
  const msg = x[loweredExportName("core_error_message")]() >>> 0;
  const view = new DataView((x.memory as WebAssembly.Memory).buffer);
  const text = new TextDecoder().decode(new Uint8Array((x.memory as WebAssembly.Memory).buffer, view.getUint32(msg, true), view.getUint32(msg + 4, true)));
  assert.equal(text, "manifest: 100 bytes outside the cabi arena");
  const p = x.cabi_realloc(0, 0, 1, 10) >>> 0;
  assert.equal(call("app_install", p, 100), -abi.EINVAL, "longer than the allocation");
  assert.equal(call("fs_open", 64, 8, 1), -abi.EINVAL);
  assert.equal(call("fs_mkdir", -8, 8), -abi.EINVAL, "a pointer that wraps");
});

test("a hal that describes a returned list wrongly gets -EIO (a mount that fails); a faithful one mounts", async () => {
  const flash = new Flash({ blockSizeBytes: 512, blockCount: 32 });
  await LittleFs.format(flash, { blockSize: 512, blockCount: 32 });
  const mem = (x: DataView) => new Uint8Array(x.buffer);
  /** Serves reads from `flash`, then lets `spoil` change the description the core gets. */
  const mount = (spoil: (v: DataView, ret: number, ptr: number, len: number) => void) => {
    const { call } = rawCore((v, lower, ret, len, block, offset) => {
      const p = lower(len);
      const bytes = new Uint8Array(len);
      flash.read(block, offset, bytes);
      mem(v).set(bytes, p);
      v.setUint8(ret, 0); v.setUint32(ret + 4, p, true); v.setUint32(ret + 8, len, true);
      spoil(v, ret, p, len);
    });
    assert.equal(call("fs_config", 512, 32, 16, 16, 64, 16, 500, 255, 0), 0);
    return call("fs_mount");
  };
  assert.equal(mount(() => {}), 0, "faithful");
  // -EIO from a read is littlefs's corrupt block: the mount finds no valid superblock.
  assert.equal(mount((v, ret, p, len) => { mem(v).copyWithin(0, p, p + len); v.setUint32(ret + 4, 0, true); }), -abi.ECORRUPT, "the right bytes, but at address 0, outside the arena");
  assert.equal(mount((v, ret, _p, len) => v.setUint32(ret + 8, len - 1, true)), -abi.ECORRUPT, "fewer bytes than asked");
  assert.equal(mount((v, ret) => v.setUint8(ret, 7)), -abi.ECORRUPT, "an unknown tag");
  assert.equal(mount((v, ret) => { v.setUint8(ret, 1); v.setInt32(ret + 4, 5, true); }), -abi.ECORRUPT, "an errno that is not negative");
});

test("a flash read larger than the arena's free room is made in pieces that fit", () => {
  const lengths: number[] = [];
  let x!: Record<string, any>;
  const { call, x: raw } = rawCore((v, lower, ret, len) => {
    lengths.push(len);
    const p = lower(len);
    new Uint8Array((x.memory as WebAssembly.Memory).buffer, p, len).fill(0xff);
    v.setUint8(ret, 0); v.setUint32(ret + 4, p, true); v.setUint32(ret + 8, len, true);
  });
  x = raw;
  assert.equal(call("fs_config", 512, 32, 512, 512, 512, 16, 500, 255, 0), 0);
  x.cabi_realloc(0, 0, 1, abi.CABI_ARENA_BYTES - 100); // a list the host lowered and never passed
  assert.equal(call("fs_mount"), -abi.ECORRUPT);
  assert.ok(lengths.length > 1 && Math.max(...lengths) <= 100, `reads of ${lengths.join(", ")} bytes`);
});
