// The core may import only what assembly/hal/index.ts declares: this pins the list, so a stray
// Date.now, console.log, Math.random or env.abort cannot slip into core.wasm. Each build variant
// is pinned to what its features need: the fs-readonly core has no way to program or erase flash,
// and behaves so (every write-open is refused and the flash is left as it was).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ModuleCore, HAL_MODULE, flashHal, loweredExportName } from "../../host/core.js";
import { CORE_VARIANTS } from "../../host/footprint.js";
import { Flash } from "../../host/flash.js";
import { LittleFs, O_APPEND, O_CREAT, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY } from "../../host/fs/littlefs.js";
import * as abi from "../../assembly/abi.js";

const halSource = readFileSync(new URL("../../../assembly/hal/index.ts", import.meta.url), "utf8");
const PINNED = [
  "app-copy-in", "app-copy-out", "app-memory-bytes", "clock-now-ms",
  "flash-erase", "flash-prog", "flash-read", "flash-sync", "gpio-configure", "gpio-read",
  "gpio-write", "log-write", "mailbox-post", "net-control", "net-read", "panic", "periph-control", "periph-read",
];
const WRITERS = ["flash-erase", "flash-prog", "flash-sync"];
const FLASH = ["flash-erase", "flash-prog", "flash-read", "flash-sync"];
// What each variant may import (`panic` only when a build keeps an assertion), and must import.
const ALLOWED: Record<string, string[]> = {
  "full": PINNED,
  "fs-readonly": PINNED.filter((n) => !WRITERS.includes(n)),
  // The no-fs core has no raw-flash parsers either (pkg-parse, ptable-parse): it reaches no flash.
  "no-fs": PINNED.filter((n) => !FLASH.includes(n)),
};
const module = (path: string) => new WebAssembly.Module(readFileSync(path));

test("assembly/hal/index.ts declares the pinned list", () => {
  const declared = [...halSource.matchAll(/@external\("([^"]+)", "([a-z-]+)"\)/g)].map((m) => { assert.equal(m[1], HAL_MODULE); return m[2]; }).sort();
  assert.deepEqual(declared, PINNED);
});

for (const variant of CORE_VARIANTS) {
  test(`${variant.name} core imports exactly what its features need from the hal, and nothing else`, () => {
    const imports = WebAssembly.Module.imports(module(variant.path));
    for (const i of imports) {
      assert.equal(i.module, HAL_MODULE, `import ${i.module}.${i.name} is outside the hal`);
      assert.equal(i.kind, "function");
    }
    const names = imports.map((i) => i.name).sort();
    assert.deepEqual(names.filter((n) => !ALLOWED[variant.name].includes(n)), [], "imports beyond the variant's pins");
    assert.deepEqual(ALLOWED[variant.name].filter((n) => n !== "panic" && !names.includes(n)), [], "pins the variant no longer needs: tighten the list");
  });
}

test("the fs-readonly core exports no writer and refuses every open that could write", async () => {
  const path = CORE_VARIANTS.find((v) => v.name === "fs-readonly")!.path;
  const exports = WebAssembly.Module.exports(module(path)).map((e) => e.name);
  for (const writer of ["fs_format", "fs_write", "fs_truncate", "fs_sync", "fs_mkdir", "fs_remove", "fs_rename", "fs_setattr", "fs_removeattr", "fs_gc", "fs_mkconsistent"] as const) {
    assert.ok(!exports.includes(loweredExportName(writer)), `${writer} is not exported`);
  }
  assert.ok(exports.includes(loweredExportName("fs_read")), "the check reads the lowered names");
  // An image made by the full core, mounted by the read-only one.
  const geometry = { blockSizeBytes: 512, blockCount: 32 };
  const flash = new Flash(geometry);
  await LittleFs.format(flash, { blockSize: 512, blockCount: 32 });
  const writer = LittleFs.mount(flash, { blockSize: 512, blockCount: 32 });
  writer.writeFile("/hello.txt", new TextEncoder().encode("hello"));
  writer.unmount();
  const image = flash.bytes.slice();
  flash.resetCounters();
  const core = new ModuleCore(flashHal(flash), module(path));
  const x = core.exports;
  assert.equal(x.fs_config(512, 32, 16, 16, 64, 16, 500, 255, 0), 0);
  assert.equal(x.fs_mount(), 0);
  const open = (p: string, flags: number) => x.fs_open(new TextEncoder().encode(p), flags);
  for (const [p, flags] of [["/new.txt", O_WRONLY | O_CREAT], ["/hello.txt", O_WRONLY], ["/hello.txt", O_RDWR], ["/hello.txt", O_RDONLY | O_TRUNC],
    ["/hello.txt", O_WRONLY | O_APPEND], ["/hello.txt", O_RDWR | O_CREAT | O_TRUNC], ["/new.txt", O_RDONLY | O_CREAT]] as const) {
    assert.equal(open(p, flags), -abi.EROFS, `${p} with flags 0x${flags.toString(16)}`);
  }
  const fd = open("/hello.txt", O_RDONLY);
  assert.ok(fd >= 0);
  const read = x.fs_read(fd, 64);
  assert.ok(read instanceof Uint8Array);
  assert.equal(new TextDecoder().decode(read), "hello");
  assert.equal(x.fs_close(fd), 0);
  assert.equal(x.fs_unmount(), 0);
  assert.deepEqual(flash.bytes, image, "the flash is unchanged");
  assert.deepEqual([flash.counters.progOps, flash.counters.eraseCount], [0, 0], "nothing was programmed or erased");
});
