// The security processor's store on node: `pluton.json` in the device folder, beside the flash
// image, mode 0600, replaced atomically (written beside and renamed) so a power cut leaves the old
// or the new state. Only host/pluton/processor.ts reads it. Must not: widen its mode or merge
// partial writes.
import { readFileSync, writeFileSync, renameSync, existsSync } from "node:fs";
import { join } from "node:path";
import type { PlutonState, PlutonStore } from "./processor.js";

export const PLUTON_FILE = "pluton.json";

export function fileStore(deviceDir: string): PlutonStore {
  const path = join(deviceDir, PLUTON_FILE);
  return {
    async load() {
      if (!existsSync(path)) return null;
      const state = JSON.parse(readFileSync(path, "utf8")) as PlutonState;
      if (state.format !== 1 || typeof state.devicePkcs8 !== "string" || !Array.isArray(state.counters)) throw new Error(`${path}: not a security processor store`);
      return state;
    },
    async save(state) {
      writeFileSync(`${path}.new`, JSON.stringify(state) + "\n", { mode: 0o600 });
      renameSync(`${path}.new`, path);
    },
  };
}
