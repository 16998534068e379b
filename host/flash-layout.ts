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
import { defaultBoardSpecs, type BoardInterfaceSpec } from "./peripherals/board.js";

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

export interface HardwarePeripheral { Name: string; Type: string; AppManifestValue: number | string; Comment?: string; Pins?: number[]; Channels?: number }
export interface HardwareDefinition {
  Metadata: { Type: "Azure Sphere Hardware Definition"; Version: 1 };
  Description: { Name: string };
  Peripherals: HardwarePeripheral[];
}

/** Each peripheral function's hardware-definition Type and symbol suffix. */
const FUNCTION_TYPES: [fn: number, type: string, suffix: string][] = [
  [abi.PERIPH_UART, "Uart", "UART"], [abi.PERIPH_I2C, "I2cMaster", "I2C"], [abi.PERIPH_SPI, "SpiMaster", "SPI"],
  [abi.PERIPH_ADC, "Adc", ""], [abi.PERIPH_PWM, "Pwm", ""],
];
/** The ADC's and PWM controller's symbols, as Azure Sphere's MT3620 definition names them. */
const CONTROLLER_SYMBOL: Record<string, string> = { "ADC-CONTROLLER-0": "ADC_CONTROLLER0", "PWM-CONTROLLER-0": "PWM_CONTROLLER0" };

/** The hardware definition of a device with `pins` GPIO pins (its board: defaultBoardSpecs). */
export function hardwareDefinition(name: string, pins: number): HardwareDefinition {
  const peripherals: HardwarePeripheral[] = [];
  for (let i = 0; i < pins; i++) peripherals.push({ Name: `GPIO${i}`, Type: "Gpio", AppManifestValue: i });
  for (const spec of defaultBoardSpecs(pins)) {
    for (const [fn, type, suffix] of FUNCTION_TYPES) {
      if ((spec.functions & fn) === 0) continue;
      const entry: HardwarePeripheral = { Name: CONTROLLER_SYMBOL[spec.name] ?? `${spec.name}_${suffix}`, Type: type, AppManifestValue: spec.name, Pins: spec.pins ?? [] };
      if (spec.channels) entry.Channels = spec.channels;
      peripherals.push(entry);
    }
  }
  return { Metadata: { Type: "Azure Sphere Hardware Definition", Version: 1 }, Description: { Name: name }, Peripherals: peripherals };
}

/**
 * The board a hardware definition describes (SPEC.md, "Hardware definition"): one interface per
 * distinct AppManifestValue of its non-GPIO entries, in the order they first appear, with the
 * union of their Types as functions and their Pins and Channels.
 */
export function boardSpecsOf(peripherals: HardwarePeripheral[], where: string): BoardInterfaceSpec[] {
  const bad = (what: string): never => { throw new LayoutError(`${where}: ${what}`); };
  const byName = new Map<string, BoardInterfaceSpec>();
  peripherals.forEach((p, i) => {
    if (p.Type === "Gpio") return;
    const fn = FUNCTION_TYPES.find(([, type]) => type === p.Type)?.[0];
    if (fn === undefined) bad(`Peripherals[${i}] (${p.Name}): Type ${JSON.stringify(p.Type)} is none of Gpio, Uart, I2cMaster, SpiMaster, Adc, Pwm`);
    const name = String(p.AppManifestValue);
    const pins = p.Pins ?? [];
    if (!Array.isArray(pins) || !pins.every((n) => Number.isInteger(n) && n >= 0 && n < abi.MAX_GPIO_PINS)) bad(`Peripherals[${i}] (${p.Name}): Pins must be an array of pin numbers`);
    const channelled = (fn! & (abi.PERIPH_ADC | abi.PERIPH_PWM)) !== 0;
    const channels = channelled ? (p.Channels ?? (fn === abi.PERIPH_ADC ? 8 : 4)) : 0;
    const spec = byName.get(name);
    if (!spec) { byName.set(name, { name, functions: fn!, channels, pins: [...pins] }); return; }
    if (JSON.stringify([...pins].sort((a, b) => a - b)) !== JSON.stringify([...spec.pins!].sort((a, b) => a - b))) bad(`Peripherals[${i}] (${p.Name}): interface ${name} has other Pins in an earlier entry`);
    spec.functions |= fn!;
    if (channelled) spec.channels = channels;
  });
  if (byName.size > abi.BOARD_MAX_INTERFACES) bad(`${byName.size} interfaces; the core supports at most ${abi.BOARD_MAX_INTERFACES}`);
  return [...byName.values()];
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
