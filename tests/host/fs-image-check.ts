// The fs tests' image check: every image a test writes goes through the strengthened structural
// check (`wasphere fs check`'s checkFs, the core's fs_check plus reading every file and attribute)
// and through the independent reader's own rules (lfs-ref-reader.ts), on a copy of the bytes.
import assert from "node:assert/strict";
import { Flash } from "../../host/flash.js";
import { checkFs } from "../../host/fs/cli.js";
import { FsConfig, LittleFs } from "../../host/fs/littlefs.js";
import { RefReader } from "./lfs-ref-reader.js";

/**
 * Asserts that `bytes` (an unmounted image) is sound. With `powerLoss`, the image may have been
 * cut: a pending move and the orphans the gstate announces are accepted.
 */
export function assertImageSound(bytes: Uint8Array, cfg: FsConfig, label: string, powerLoss = false): void {
  const blockCount = cfg.blockCount || bytes.length / cfg.blockSize;
  assert.deepEqual(new RefReader(bytes, cfg.blockSize, blockCount).faults(!powerLoss), [], `${label}: independent reader`);
  const flash = new Flash({ blockSizeBytes: cfg.blockSize, blockCount }, bytes);
  const lfs = LittleFs.mount(flash, { ...cfg, blockCount });
  try { checkFs(lfs, label, powerLoss); } finally { lfs.unmount(); }
}
