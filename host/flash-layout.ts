// flash-layout: a device's flash as wasphere lays it out (SPEC.md, "Flash layout"): the partition
// table in block 0, two OS (core) slots, the app image area, the update staging area and the
// littlefs data partition; and the device's hardware definition (SPEC.md, "Hardware definition").
//
// Writing the table is mechanism (the bytes SPEC.md gives); reading it is the core's
// (`ptable_parse`): `readTable` hands the flash to a core and reports what the core validated.
// The data partition is formatted by the core's littlefs.
// Invariants: a layout `planLayout` returns always passes the core's table parser; every size is
// a whole number of erase blocks.
// Memory: one copy of the flash image, plus the data partition's copy while it is formatted or
// mounted, and one core instance (4 MiB) per step.
// Must not: interpret the table's bytes itself.
import * as abi from "../assembly/abi.js";
import { ModuleCore, flashHal } from "./core.js";
import { Flash } from "./flash.js";
import { LittleFs } from "./fs/littlefs.js";
import { defaultGeometry } from "./fs/image.js";
import { mountConfig } from "./fs/cli.js";
import { crc32 } from "./apps/imagepkg.js";

/** The erase block of every wasphere device: NOR-like, and littlefs's block size on the data partition. */
export const ERASE_BLOCK_BYTES = 4096;
export const MIN_FLASH_BYTES = 2 * 1024 * 1024;
export const MAX_FLASH_BYTES = 256 * 1024 * 1024;
const TABLE_MAGIC = 0x54505357; // "WSPT"

export class LayoutError extends Error {}

export interface Partition { type: number; name: string; flags: number; offsetBytes: number; sizeBytes: number }

export const PARTITION_NAMES: Record<number, string> = {
  [abi.PART_OS_A]: "os-a", [abi.PART_OS_B]: "os-b", [abi.PART_APPS]: "apps", [abi.PART_STAGING]: "staging", [abi.PART_DATA]: "data",
};

/**
 * The partitions of a flash of `flashBytes` (a power of two from 2 to 256 MiB), in sixteenths:
 * one each for the OS slots (slot A active), eight for the app images (less the table's block),
 * two for staging, four for the data partition.
 */
export function planLayout(flashBytes: number): Partition[] {
  if (!Number.isInteger(flashBytes) || flashBytes < MIN_FLASH_BYTES || flashBytes > MAX_FLASH_BYTES || (flashBytes & (flashBytes - 1)) !== 0) {
    throw new LayoutError(`flash size ${flashBytes} bytes: must be a power of two from 2 MiB to 256 MiB`);
  }
  const u = flashBytes / 16;
  const b = ERASE_BLOCK_BYTES;
  const p = (type: number, flags: number, offsetBytes: number, sizeBytes: number): Partition => ({ type, name: PARTITION_NAMES[type], flags, offsetBytes, sizeBytes });
  return [
    p(abi.PART_OS_A, abi.PART_FLAG_ACTIVE, b, u),
    p(abi.PART_OS_B, 0, b + u, u),
    p(abi.PART_APPS, 0, b + 2 * u, 8 * u - b),
    p(abi.PART_STAGING, 0, 10 * u, 2 * u),
    p(abi.PART_DATA, 0, 12 * u, 4 * u),
  ];
}

/** The table block's bytes for `parts` on a device of `flashBytes` (SPEC.md, "Flash layout"). */
export function encodeTable(parts: Partition[], flashBytes: number): Uint8Array {
  const block = new Uint8Array(ERASE_BLOCK_BYTES).fill(0xff);
  const body = 16 + 16 * parts.length;
  const dv = new DataView(block.buffer);
  dv.setUint32(0, TABLE_MAGIC, true);
  dv.setUint16(4, abi.PTABLE_VERSION, true);
  dv.setUint16(6, parts.length, true);
  dv.setUint32(8, ERASE_BLOCK_BYTES, true);
  dv.setUint32(12, flashBytes / ERASE_BLOCK_BYTES, true);
  parts.forEach((p, i) => {
    const at = 16 + 16 * i;
    dv.setUint16(at, p.type, true);
    dv.setUint16(at + 2, p.flags, true);
    dv.setUint32(at + 4, p.offsetBytes, true);
    dv.setUint32(at + 8, p.sizeBytes, true);
    dv.setUint32(at + 12, 0, true);
  });
  dv.setUint32(body, crc32(block.subarray(0, body)), true);
  return block;
}

/** The core's reading of the partition table of `flash`; throws LayoutError with its message. */
export function readTable(flash: Flash): Partition[] {
  const core = new ModuleCore(flashHal(flash));
  const entries = core.exports.ptable_parse(flash.blockSizeBytes, flash.blockCount);
  if (typeof entries === "number") throw new LayoutError(core.lastError() || `partition table: refused (${entries})`);
  return entries.map((e) => ({ type: e.type, name: PARTITION_NAMES[e.type], flags: e.flags, offsetBytes: e.offsetBytes, sizeBytes: e.sizeBytes }));
}

/** A partition's bytes as a littlefs block device of erase blocks (a copy). */
export function partitionFlash(flash: Flash, p: Partition): Flash {
  return new Flash({ blockSizeBytes: ERASE_BLOCK_BYTES, blockCount: p.sizeBytes / ERASE_BLOCK_BYTES }, flash.bytes.slice(p.offsetBytes, p.offsetBytes + p.sizeBytes));
}

/** littlefs settings of the data partition: erase-block blocks, 256-byte caches. */
export const dataFsConfig = (p: Partition) => mountConfig(defaultGeometry(ERASE_BLOCK_BYTES, p.sizeBytes / ERASE_BLOCK_BYTES));

/** A fresh device flash: erased, the table in block 0, the data partition formatted by the core. */
export async function createFlash(flashBytes: number): Promise<{ flash: Flash; partitions: Partition[] }> {
  const parts = planLayout(flashBytes);
  const flash = new Flash({ blockSizeBytes: ERASE_BLOCK_BYTES, blockCount: flashBytes / ERASE_BLOCK_BYTES });
  flash.bytes.set(encodeTable(parts, flashBytes), 0);
  const data = parts.find((p) => p.type === abi.PART_DATA)!;
  const dataFlash = partitionFlash(flash, data);
  await LittleFs.format(dataFlash, dataFsConfig(data));
  flash.bytes.set(dataFlash.bytes, data.offsetBytes);
  // What was written is what the core reads back.
  const read = readTable(flash);
  if (JSON.stringify(read) !== JSON.stringify(parts)) throw new LayoutError("partition table: the core read back another table than was written");
  return { flash, partitions: parts };
}

// ---- the hardware definition ------------------------------------------------------------------

/** Serial interface blocks (ISU0..ISU4), each usable as UART, I2C master or SPI master. */
export const ISU_COUNT = 5;

export interface HardwarePeripheral { Name: string; Type: string; AppManifestValue: number | string; Comment?: string }
export interface HardwareDefinition {
  Metadata: { Type: "Azure Sphere Hardware Definition"; Version: 1 };
  Description: { Name: string };
  Peripherals: HardwarePeripheral[];
}

const NOT_YET = "recognised in app manifests; not supported by this device yet";

/** The hardware definition of a device with `pins` GPIO pins. */
export function hardwareDefinition(name: string, pins: number): HardwareDefinition {
  const peripherals: HardwarePeripheral[] = [];
  for (let i = 0; i < pins; i++) peripherals.push({ Name: `GPIO${i}`, Type: "Gpio", AppManifestValue: i });
  for (let i = 0; i < ISU_COUNT; i++) {
    for (const [suffix, type] of [["UART", "Uart"], ["I2C", "I2cMaster"], ["SPI", "SpiMaster"]]) {
      peripherals.push({ Name: `ISU${i}_${suffix}`, Type: type, AppManifestValue: `ISU${i}`, Comment: NOT_YET });
    }
  }
  peripherals.push({ Name: "ADC_CONTROLLER0", Type: "Adc", AppManifestValue: "ADC-CONTROLLER-0", Comment: NOT_YET });
  peripherals.push({ Name: "PWM_CONTROLLER0", Type: "Pwm", AppManifestValue: "PWM-CONTROLLER-0", Comment: NOT_YET });
  return { Metadata: { Type: "Azure Sphere Hardware Definition", Version: 1 }, Description: { Name: name }, Peripherals: peripherals };
}

/** Checks a hardware definition's shape (SPEC.md); returns its GPIO pin count. */
export function checkHardwareDefinition(value: unknown, where: string): { name: string; pins: number; peripherals: HardwarePeripheral[] } {
  const bad = (what: string): never => { throw new LayoutError(`${where}: ${what}`); };
  const v = value as HardwareDefinition;
  if (!v || typeof v !== "object") bad("not a JSON object");
  if (v.Metadata?.Type !== "Azure Sphere Hardware Definition" || v.Metadata?.Version !== 1) bad('Metadata must be {"Type": "Azure Sphere Hardware Definition", "Version": 1}');
  if (typeof v.Description?.Name !== "string") bad("Description.Name must be a string");
  if (!Array.isArray(v.Peripherals) || v.Peripherals.length > 1024) bad("Peripherals must be an array of at most 1024 entries");
  const names = new Set<string>();
  let pins = 0;
  v.Peripherals.forEach((p, i) => {
    if (!p || typeof p.Name !== "string" || !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(p.Name)) bad(`Peripherals[${i}].Name must be an identifier of at most 64 characters`);
    if (names.has(p.Name)) bad(`Peripherals[${i}].Name ${p.Name} appears twice`);
    names.add(p.Name);
    if (typeof p.Type !== "string") bad(`Peripherals[${i}].Type must be a string`);
    if (p.Type === "Gpio") {
      if (p.AppManifestValue !== pins) bad(`Peripherals[${i}] (${p.Name}): GPIO pins are numbered 0 up in order; expected ${pins}`);
      pins++;
    } else if (typeof p.AppManifestValue !== "string" && typeof p.AppManifestValue !== "number") bad(`Peripherals[${i}].AppManifestValue must be a number or string`);
  });
  if (pins > abi.MAX_GPIO_PINS) bad(`${pins} GPIO pins; the core supports at most ${abi.MAX_GPIO_PINS}`);
  return { name: v.Description.Name, pins, peripherals: v.Peripherals };
}
