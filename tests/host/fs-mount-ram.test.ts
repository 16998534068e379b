// RAM per mount (fs_mount_ram_bytes, fs_mount_info, fs_ram_bytes): what each mount holds is its
// record (the size assembly/fs/mount.ts declares, read from the source) plus what littlefs's
// configuration says it needs: a read cache, for a read-write mount a program cache and the
// lookahead, and a cache per open file. The expected figures are computed here from the
// configuration, not taken from the core; fs_ram_bytes adds every mount's heap to the static part.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Flash } from "../../host/flash.js";
import { LittleFs, FsConfig, O_CREAT, O_RDONLY, O_WRONLY } from "../../host/fs/littlefs.js";

/** MOUNT_RECORD_BYTES as assembly/fs/mount.ts declares it, its constants resolved. */
function recordBytesFromSource(): number {
  const src = readFileSync(new URL("../../../assembly/fs/mount.ts", import.meta.url), "utf8");
  const consts = new Map<string, number>();
  for (const m of src.matchAll(/^(?:export )?const ([A-Z_][A-Z0-9_]*)(?:\s*:\s*\w+)?\s*=\s*([^;\n]+);/gm)) {
    const names = [...consts.keys()];
    try {
      const v = new Function(...names, `return (${m[2].replace(/<\s*(i32|u32|usize)\s*>/g, "")});`)(...names.map((n) => consts.get(n)));
      if (typeof v === "number") consts.set(m[1], v);
    } catch { /* not a number */ }
  }
  const v = consts.get("MOUNT_RECORD_BYTES");
  if (v === undefined) throw new Error("MOUNT_RECORD_BYTES not found in mount.ts");
  return v;
}

const REC = recordBytesFromSource();

function twoImages(cfg: FsConfig, blocks: number): Flash {
  const one = new Flash({ blockSizeBytes: cfg.blockSize, blockCount: blocks });
  LittleFs.format(one, { ...cfg, blockCount: blocks });
  const fs = LittleFs.mount(one, { ...cfg, blockCount: blocks });
  fs.writeFile("/f", Uint8Array.from({ length: 3 * cfg.blockSize }, (_, i) => i & 0xff));
  fs.unmount();
  const flash = new Flash({ blockSizeBytes: cfg.blockSize, blockCount: 3 * blocks });
  for (let i = 0; i < 3; i++) flash.bytes.set(one.bytes, i * blocks * cfg.blockSize);
  return flash;
}

for (const cfg of [
  { blockSize: 4096, blockCount: 16, readSize: 16, progSize: 16, cacheSize: 256, lookaheadSize: 16 },
  { blockSize: 512, blockCount: 16, readSize: 16, progSize: 16, cacheSize: 64, lookaheadSize: 32 },
] as FsConfig[]) {
  test(`RAM per mount, cache ${cfg.cacheSize} B, lookahead ${cfg.lookaheadSize} B: record + caches (+ lookahead when writable) + a cache per open file`, () => {
    const N = cfg.blockCount;
    const cache = cfg.cacheSize!, look = cfg.lookaheadSize!;
    const flash = twoImages(cfg, N);
    const host = LittleFs.mount(flash, cfg);
    const heapBefore = host.core.exports.mem_heap_in_use_bytes();
    const rw = REC + 2 * cache + look, ro = REC + cache;
    assert.equal(host.mountRamBytes(), rw);
    const fixed = host.ramStaticBytes();
    // The host mount's record is static (part of ramStaticBytes); its buffers are heap.
    assert.equal(host.ramBytes(), fixed + rw - REC);

    const pkg = host.mountAt(N, N, { readOnly: true, owner: 3 });
    const data = host.mountAt(2 * N, N);
    assert.equal(pkg.mountRamBytes(), ro);
    assert.equal(data.mountRamBytes(), rw);
    assert.deepEqual(pkg.mountInfo(), { baseBlock: N, blockCount: N, readOnly: true, mounted: true, owner: 3, ramBytes: ro });
    assert.equal(host.ramBytes(), fixed + (rw - REC) + ro + rw);

    // Open files cost a cache each, on the mount that opened them only.
    const p1 = pkg.open("/f", O_RDONLY), p2 = pkg.open("/f", O_RDONLY);
    const d1 = data.open("/new", O_WRONLY | O_CREAT);
    assert.equal(pkg.mountRamBytes(), ro + 2 * cache);
    assert.equal(data.mountRamBytes(), rw + cache);
    assert.equal(host.mountRamBytes(), rw);
    assert.equal(host.ramBytes(), fixed + (rw - REC) + ro + 2 * cache + rw + cache);
    pkg.close(p1); pkg.close(p2); data.close(d1);
    assert.equal(pkg.mountRamBytes(), ro);
    assert.equal(data.mountRamBytes(), rw);

    // Unmounting gives it all back: the core's heap is where it was before the two mounts.
    pkg.unmount();
    assert.equal(host.ramBytes(), fixed + (rw - REC) + rw);
    data.unmount();
    assert.equal(host.ramBytes(), fixed + rw - REC);
    assert.equal(host.core.exports.mem_heap_in_use_bytes(), heapBefore);
    host.unmount();
    assert.equal(host.ramBytes(), fixed);
  });
}
