// File-system RAM: fs_ram_bytes reports all of it. Its static part (fs_ram_static_bytes) must
// be the sum of every static buffer the fs sources declare (each memory.data in
// assembly/fs/*.ts, read from the source here, so a table added without being counted fails),
// and the heap part exactly littlefs's formula: read cache + program cache + lookahead, plus
// one cache per open file.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import * as abi from "../../assembly/abi.js";
import { Flash } from "../../host/flash.js";
import { LittleFs, O_CREAT, O_RDONLY, O_WRONLY } from "../../host/fs/littlefs.js";

const FS_SOURCES = fileURLToPath(new URL("../../../assembly/fs/", import.meta.url));

/** Sum of the sizes of every memory.data in one source, with its numeric constants resolved. */
function staticBytesOf(source: string): { total: number; tables: string[] } {
  // assembly/abi.ts's numbers, which the sources import (FS_IO_CHUNK_BYTES), then the source's own.
  const consts = new Map<string, number>(Object.entries(abi as Record<string, unknown>).filter((e): e is [string, number] => typeof e[1] === "number"));
  const evaluate = (expr: string): number => {
    const plain = expr.replace(/<\s*(i32|u32|usize)\s*>/g, "");
    const names = [...consts.keys()];
    const value = new Function(...names, `return (${plain});`)(...names.map((n) => consts.get(n)));
    if (typeof value !== "number" || !Number.isFinite(value)) throw new Error(`cannot evaluate ${expr}`);
    return value;
  };
  for (const m of source.matchAll(/^(?:export )?const ([A-Z_][A-Z0-9_]*)(?:\s*:\s*\w+)?\s*=\s*([^;\n]+);/gm)) {
    try { consts.set(m[1], evaluate(m[2])); } catch { /* not a plain number */ }
  }
  let total = 0;
  const tables: string[] = [];
  for (const m of source.matchAll(/memory\.data(?:<(u8|u32)>\s*\(\s*\[([^\]]*)\]|\(\s*([^,]+),)/g)) {
    const bytes = m[1] ? m[2].split(",").filter((x) => x.trim() !== "").length * (m[1] === "u32" ? 4 : 1) : evaluate(m[3]);
    tables.push(`${m[0].slice(0, 40)}: ${bytes}`);
    total += bytes;
  }
  return { total, tables };
}

const cfg = { blockSize: 4096, blockCount: 64, readSize: 16, progSize: 16, cacheSize: 256, lookaheadSize: 16 };

test("fs_ram_static_bytes is every static buffer the fs sources declare", async () => {
  let declared = 0;
  for (const name of readdirSync(FS_SOURCES).filter((n) => n.endsWith(".ts"))) declared += staticBytesOf(readFileSync(join(FS_SOURCES, name), "utf8")).total;
  const flash = new Flash({ blockSizeBytes: cfg.blockSize, blockCount: cfg.blockCount });
  await LittleFs.format(flash, cfg);
  const lfs = LittleFs.mount(flash, cfg);
  assert.equal(lfs.ramStaticBytes(), declared);
  // The I/O buffer is part of it, at the size the core reports.
  assert.ok(lfs.ioBytes <= 2048, `I/O buffer ${lfs.ioBytes} B`);
  lfs.unmount();
});

test("fs_ram_bytes is the static part plus caches and lookahead, plus a cache per open file", async () => {
  for (const c of [cfg, { ...cfg, blockSize: 512, blockCount: 128, cacheSize: 64, lookaheadSize: 32 }]) {
    const flash = new Flash({ blockSizeBytes: c.blockSize, blockCount: c.blockCount });
    await LittleFs.format(flash, c);
    const lfs = LittleFs.mount(flash, c);
    const fixed = lfs.ramStaticBytes();
    assert.equal(lfs.ramBytes(), fixed + 2 * c.cacheSize + c.lookaheadSize);
    const w = lfs.open("/a", O_WRONLY | O_CREAT);
    const r = lfs.open("/a", O_RDONLY);
    assert.equal(lfs.ramBytes(), fixed + 4 * c.cacheSize + c.lookaheadSize);
    lfs.close(w);
    lfs.close(r);
    assert.equal(lfs.ramBytes(), fixed + 2 * c.cacheSize + c.lookaheadSize);
    lfs.unmount();
  }
});
