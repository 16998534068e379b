// os-update: a device folder's OS (core) updates from the host: staging a signed core image into
// the non-primary OS slot as an update agent would (`wasphere device update-core`), and the slots'
// boot state as the boot loader reads it (`wasphere device update status`; SPEC.md, "Boot state",
// "OS update status").
// Invariants: update-core holds the folder's lock and writes only through the boot loader's
// stageCoreUpdate (checked before anything is erased, read back and verified, then PENDING); status
// only reads (flash.bin and the processor's store), so it answers for a running device too.
// Memory: one core image and a copy of flash.bin.
// Must not: write the partition table, a boot-state record other than PENDING, or a counter.
import { readFileSync } from "node:fs";
import { Flash } from "./flash.js";
import { ERASE_BLOCK_BYTES } from "./flash-layout.js";
import { BootError, parseCoreImage, parseCorePayload, readCounter, readOsSlots, stageCoreUpdate } from "./boot-loader.js";
import { STATE_NAMES, imageCapacity, lastUpdate, planBoot, type BootStateName, type UpdateOutcome } from "./boot-state.js";
import { FolderFlash, deviceFlashPath, lockDevice, DeviceFolderError } from "./device-folder.js";
import { openSecurityProcessor } from "./pluton/link.js";
import { fileStore } from "./pluton/store-node.js";
import { COUNTER_COUNT } from "./pluton/processor.js";
import { printable } from "./printable.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** `wasphere device update-core DEV IMG`: stages IMG in the stopped device's non-primary slot. */
export async function updateCoreFolder(dir: string, imagePath: string): Promise<string> {
  let image: Uint8Array;
  try { image = new Uint8Array(readFileSync(imagePath)); } catch { throw new BootError(`${printable(imagePath)}: cannot be read`); }
  const release = lockDevice(dir);
  const flash = new FolderFlash(deviceFlashPath(dir));
  try {
    const { link } = await openSecurityProcessor(fileStore(dir));
    const r = await stageCoreUpdate(flash, link, image);
    return `${r.slot}: core image version ${r.version} from ${printable(imagePath)} (${image.length} bytes) written and verified, PENDING (sequence ${r.sequence}); the next boot tries it: wasphere device boot DEV`;
  } finally {
    flash.close();
    release();
  }
}

export interface OsSlotReport {
  name: string;
  /** The partition table's ACTIVE slot: the one that boots while neither log holds CONFIRMED. */
  factory: boolean;
  primary: boolean;
  /** Whether the slot holds a core image header (its signature is checked at boot, not here). */
  image: boolean;
  version: number | null;
  keyId: string | null;
  imageBytes: number | null;
  /** The system apps its image's table names (read, not verified: the boot loader verifies), or null without a readable table. */
  systemApps: string[] | null;
  capacityBytes: number;
  state: BootStateName | "none";
  sequence: number | null;
  records: number;
  tornRecords: number;
  /** The next boot tries this slot (its last record PENDING above the primary's sequence). */
  trialPending: boolean;
}

export interface OsUpdateStatus {
  slots: OsSlotReport[];
  primary: string;
  /** The slot the next boot tries, or null. */
  trialPending: string | null;
  /** Security processor counters 0..7; counter 0 is the OS version anti-rollback holds to. */
  counters: number[];
  mode: "field" | "development";
  lastUpdate: { slot: string; version: number | null; sequence: number; outcome: UpdateOutcome } | null;
}

/** The OS slots' boot state of the device in `dir` (read only). */
export async function osUpdateStatus(dir: string): Promise<OsUpdateStatus> {
  let bytes: Uint8Array;
  try { bytes = new Uint8Array(readFileSync(deviceFlashPath(dir))); } catch { throw new DeviceFolderError(`${printable(deviceFlashPath(dir))}: cannot be read (not a device folder?)`); }
  const flash = new Flash({ blockSizeBytes: ERASE_BLOCK_BYTES, blockCount: bytes.length / ERASE_BLOCK_BYTES }, bytes);
  const { parts, views } = readOsSlots(flash);
  const plan = planBoot(views);
  const slots = parts.map((p, i): OsSlotReport => {
    let header: ReturnType<typeof parseCoreImage> | null = null;
    try { header = parseCoreImage(flash.bytes.subarray(p.offsetBytes, p.offsetBytes + imageCapacity(p)), p.name); } catch { header = null; }
    const last = views[i].log.last;
    let systemApps: string[] | null = null;
    try { systemApps = header ? parseCorePayload(header.payload, p.name).apps.map((a) => a.name) : null; } catch { systemApps = null; }
    return {
      name: p.name, factory: views[i].factory, primary: plan.primary === i,
      image: header !== null, version: header?.version ?? null, keyId: header ? hex(header.keyId) : null, imageBytes: header?.imageBytes ?? null, systemApps,
      capacityBytes: imageCapacity(p), state: last ? STATE_NAMES[last.state] : "none", sequence: last?.sequence ?? null,
      records: views[i].log.records.length, tornRecords: views[i].log.tornRecords, trialPending: plan.trial === i,
    };
  });
  const { link, processor } = await openSecurityProcessor(fileStore(dir));
  const counters: number[] = [];
  for (let i = 0; i < COUNTER_COUNT; i++) counters.push(await readCounter(link, i));
  const last = lastUpdate(views);
  return {
    slots, primary: parts[plan.primary].name, trialPending: plan.trial === null ? null : parts[plan.trial].name, counters, mode: processor.mode,
    lastUpdate: last && { slot: parts[last.slot].name, version: slots[last.slot].version, sequence: last.sequence, outcome: last.outcome },
  };
}

const OUTCOME_TEXT: Record<UpdateOutcome, string> = {
  pending: "pending (the next boot tries it)",
  trying: "on trial, not confirmed (the next boot rejects it and boots the primary)",
  confirmed: "confirmed",
  "rolled-back": "rolled back (its trial failed; the primary booted)",
};

/** The status for a person. */
export function osUpdateText(s: OsUpdateStatus): string[] {
  const lines = s.slots.map((x) => `${x.name}${x.primary ? " (primary)" : ""}${x.factory ? " (factory)" : ""}: ${x.image ? `core image version ${x.version}, ${x.imageBytes} of ${x.capacityBytes} bytes, key ${x.keyId}, system apps ${x.systemApps === null ? "unreadable" : x.systemApps.length === 0 ? "none" : x.systemApps.join(" ")}` : "no core image"}; boot state ${x.state}${x.sequence === null ? "" : ` (sequence ${x.sequence})`}${x.tornRecords ? `, ${x.tornRecords} torn record${x.tornRecords === 1 ? "" : "s"}` : ""}${x.trialPending ? "; the next boot tries it" : ""}`);
  lines.push(`counter 0 (OS version): ${s.counters[0]}; counters 1-7: ${s.counters.slice(1).join(" ")}`);
  lines.push(`mode: ${s.mode}`);
  lines.push(s.lastUpdate ? `last OS update: ${s.lastUpdate.slot} (v${s.lastUpdate.version ?? "?"}, sequence ${s.lastUpdate.sequence}): ${OUTCOME_TEXT[s.lastUpdate.outcome]}` : "last OS update: none");
  return lines;
}
