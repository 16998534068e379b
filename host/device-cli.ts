// `wasphere device create | show`: a device folder on the host's disk (SPEC.md, "Device folder"):
// its flash image (`flash.bin`) and its hardware definition (`hardware-definition.json`).
//
// create lays the flash out (host/flash-layout.ts), has the core read the table back and format
// the data partition, and writes both files into a new folder. show reads the table through the
// core, mounts the data partition through the core's littlefs, and says what each partition holds;
// for each OS slot, its boot state exactly as `device update status` reads it (host/os-update.ts:
// the same report object), so the slot named primary is the one that boots, never the table's
// ACTIVE flag, which names only the factory slot.
// Errors are one line on stderr and exit code 1.
// Memory: the whole flash image (16 MiB by default) plus one partition's copy and a core instance.
// Must not: overwrite an existing device, or parse the table itself.
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { Command, InvalidArgumentError } from "commander";
import * as abi from "../assembly/abi.js";
import { Flash } from "./flash.js";
import { LittleFs } from "./fs/littlefs.js";
import { checkFs } from "./fs/cli.js";
import { ImageError, loadImage, saveImage } from "./fs/image.js";
import { checkHardwareDefinition, createFlash, dataFsConfig, ERASE_BLOCK_BYTES, hardwareDefinition, LayoutError, MAX_FLASH_BYTES, partitionFlash, readTable, type Partition } from "./flash-layout.js";
import { printable } from "./printable.js";
import { registerDeviceVerbs } from "./device-verbs-cli.js";
import { provisionNewDevice, type TrustOptions } from "./secure-device.js";
import { registerSecureDeviceCommands } from "./secure-cli.js";
import { registerOsUpdateCommands } from "./os-update-cli.js";
import { BootStateError } from "./boot-state.js";
import { TrustError } from "./pluton/processor.js";
import { KeyError } from "./pluton/keys.js";
import { BootError } from "./boot-loader.js";
import { DeviceFolderError } from "./device-folder.js";
import { CapabilityError } from "./pluton/capability.js";
import { osUpdateStatus, type OsSlotReport } from "./os-update.js";

export const FLASH_FILE = "flash.bin";
export const HARDWARE_FILE = "hardware-definition.json";
export const DEFAULT_FLASH_BYTES = 16 * 1024 * 1024;
export const DEFAULT_PINS = 96;

/** "16MiB", "512KiB", "2097152": a size in bytes. */
export function parseSize(value: string): number {
  const m = /^(\d+)\s*(B|KiB|MiB|GiB)?$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`"${value}" is not a size (e.g. 16MiB, 4096KiB, 16777216)`);
  const mult = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 }[(m[2] ?? "B").toLowerCase() as "b"];
  return Number(m[1]) * mult;
}

export async function createDevice(dir: string, flashBytes = DEFAULT_FLASH_BYTES, pins = DEFAULT_PINS, trust: TrustOptions = {}): Promise<Partition[] & { securityLines?: string[] }> {
  let existing: string[] | null = null;
  try { existing = readdirSync(dir); } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw new LayoutError(`${printable(dir)}: ${(err as NodeJS.ErrnoException).code === "ENOTDIR" ? "exists and is not a folder" : (err as Error).message}`);
  }
  if (existing && existing.length > 0) throw new LayoutError(`${printable(dir)}: exists and is not empty; a device is created in a new folder`);
  if (!Number.isInteger(pins) || pins < 0 || pins > abi.MAX_GPIO_PINS) throw new LayoutError(`--pins ${pins}: must be 0 to ${abi.MAX_GPIO_PINS}`);
  const { flash, partitions } = await createFlash(flashBytes);
  mkdirSync(dir, { recursive: true });
  // The security processor is provisioned before the flash is saved: the core goes into os-a.
  const securityLines = await provisionNewDevice(dir, flash, trust);
  saveImage(join(dir, FLASH_FILE), flash.bytes);
  const hw = hardwareDefinition(`wasphere device (${pins} GPIO pins, ${flashBytes / (1024 * 1024)} MiB flash)`, pins);
  const fd = openSync(join(dir, HARDWARE_FILE), "wx");
  try { writeSync(fd, JSON.stringify(hw, null, 2) + "\n"); } finally { closeSync(fd); }
  return Object.assign(partitions, { securityLines });
}

export interface PartitionReport extends Partition {
  /** An OS slot's boot state: `device update status --json`'s object for that slot, and whether another slot's trial comes first. */
  os?: OsSlotReport;
  /** What the partition holds: erased, programmed bytes, or the data partition's file system. */
  holds: { erased: true } | { erased: false; programmedBytes: number } | { littlefs: { version: string; blockSizeBytes: number; blockCount: number; blocksInUse: number; files: number; directories: number; bytes: number } };
}

export interface DeviceReport {
  device: string;
  flash: { sizeBytes: number; eraseBlockBytes: number; blockCount: number };
  hardware: { name: string; gpioPins: number; interfaces: { type: string; names: string[] }[] };
  partitions: PartitionReport[];
}

function programmedBytes(bytes: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0xff) n++;
  return n;
}

export async function showDevice(dir: string): Promise<DeviceReport> {
  const flashPath = join(dir, FLASH_FILE);
  let size: number;
  try { size = statSync(flashPath).size; } catch { throw new LayoutError(`${printable(dir)}: no ${FLASH_FILE} (not a device folder; make one with \`wasphere device create\`)`); }
  if (size > MAX_FLASH_BYTES || size < 2 * ERASE_BLOCK_BYTES || size % ERASE_BLOCK_BYTES !== 0) {
    throw new LayoutError(`${printable(flashPath)}: ${size} bytes is not a flash of whole ${ERASE_BLOCK_BYTES}-byte blocks up to ${MAX_FLASH_BYTES} bytes`);
  }
  let hwText: string;
  try { hwText = readFileSync(join(dir, HARDWARE_FILE), "utf8"); } catch { throw new LayoutError(`${printable(dir)}: no ${HARDWARE_FILE}`); }
  let hwJson: unknown;
  try { hwJson = JSON.parse(hwText); } catch (err) { throw new LayoutError(`${printable(join(dir, HARDWARE_FILE))}: not JSON (${(err as Error).message})`); }
  const hw = checkHardwareDefinition(hwJson, printable(join(dir, HARDWARE_FILE)));
  const flash = new Flash({ blockSizeBytes: ERASE_BLOCK_BYTES, blockCount: size / ERASE_BLOCK_BYTES }, loadImage(flashPath));
  let parts: Partition[];
  try { parts = readTable(flash); } catch (err) { throw new LayoutError(`${printable(flashPath)}: ${(err as Error).message}`); }
  const osSlots = (await osUpdateStatus(dir)).slots;
  const partitions = parts.map((p): PartitionReport => {
    if (p.type !== abi.PART_DATA) {
      const n = programmedBytes(flash.bytes.subarray(p.offsetBytes, p.offsetBytes + p.sizeBytes));
      const os = osSlots.find((x) => x.name === p.name);
      return { ...p, ...(os ? { os } : {}), holds: n === 0 ? { erased: true } : { erased: false, programmedBytes: n } };
    }
    let lfs: LittleFs;
    try { lfs = LittleFs.mount(partitionFlash(flash, p), dataFsConfig(p)); } catch (err) {
      throw new LayoutError(`${printable(flashPath)}: data partition: cannot be mounted (${(err as Error).message})`);
    }
    try {
      const info = lfs.fsinfo();
      const r = checkFs(lfs, `${printable(flashPath)}: data partition`, true);
      return { ...p, holds: { littlefs: { version: `${info.diskVersion >>> 16}.${info.diskVersion & 0xffff}`, blockSizeBytes: info.blockSize, blockCount: info.blockCount, blocksInUse: lfs.sizeBlocks(), files: r.files, directories: r.dirs, bytes: r.bytes } } };
    } finally {
      try { lfs.unmount(); } catch { /* read-only use: nothing to lose */ }
    }
  });
  const byType = new Map<string, string[]>();
  for (const per of hw.peripherals) byType.set(per.Type, [...(byType.get(per.Type) ?? []), per.Name]);
  return {
    device: dir,
    flash: { sizeBytes: size, eraseBlockBytes: ERASE_BLOCK_BYTES, blockCount: size / ERASE_BLOCK_BYTES },
    hardware: { name: hw.name, gpioPins: hw.pins, interfaces: [...byType].map(([type, names]) => ({ type, names })) },
    partitions,
  };
}

const hex = (v: number) => `0x${v.toString(16).padStart(8, "0")}`;
const sizeText = (bytes: number) => (bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`);

/** An OS slot's boot state in a few words: its image, what the next boot does with it, its last record. */
function osNote(s: OsSlotReport, all: PartitionReport[]): string {
  const trial = all.find((p) => p.os?.trialPending)?.name;
  const role = s.primary ? (trial ? `primary, boots if ${trial}'s trial fails` : "primary, boots next")
    : s.trialPending ? "pending: the next boot tries it"
    : s.state === "trying" ? "on trial, not confirmed: the next boot rejects it"
    : s.state === "rejected" ? "rolled back: its trial failed"
    : "not primary";
  const image = s.image ? `core image v${s.version}` : "no core image";
  return ` (OS: ${image}${s.factory ? ", factory slot" : ""}; ${role}; boot state ${s.state}${s.sequence === null ? "" : `, sequence ${s.sequence}`})`;
}

export function deviceText(r: DeviceReport): string {
  const lines = [
    `Device ${printable(r.device)}`,
    `Flash: ${sizeText(r.flash.sizeBytes)}, ${r.flash.blockCount} erase blocks of ${r.flash.eraseBlockBytes} bytes (NOR: erased bytes read 0xff)`,
    `Hardware: ${printable(r.hardware.name)}`,
    `  GPIO pins: ${r.hardware.gpioPins}`,
    ...r.hardware.interfaces.filter((i) => i.type !== "Gpio").map((i) => `  ${printable(i.type)}: ${i.names.map(printable).join(", ")}`),
    `Partitions:`,
    `  ${"name".padEnd(8)} ${"offset".padEnd(10)} ${"size".padEnd(10)} holds`,
    `  ${"table".padEnd(8)} ${hex(0)} ${sizeText(r.flash.eraseBlockBytes).padEnd(10)} the partition table`,
    ...r.partitions.map((p) => {
      const h = p.holds;
      const holds = "littlefs" in h
        ? `littlefs ${h.littlefs.version}, ${h.littlefs.blocksInUse} of ${h.littlefs.blockCount} blocks of ${h.littlefs.blockSizeBytes} bytes in use, ${h.littlefs.files} files, ${h.littlefs.directories} directories`
        : h.erased ? "erased" : `${h.programmedBytes} bytes programmed`;
      return `  ${p.name.padEnd(8)} ${hex(p.offsetBytes)} ${sizeText(p.sizeBytes).padEnd(10)} ${holds}${p.os ? osNote(p.os, r.partitions) : ""}`;
    }),
  ];
  return lines.join("\n") + "\n";
}

function intOption(name: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return Number(value);
  };
}

export function registerDeviceCommands(program: Command): void {
  const device = program.command("device").description("make and inspect a device that lives on flash (a device folder)");
  const action = <A extends unknown[]>(fn: (...args: A) => Promise<void> | void) => async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      if (err instanceof LayoutError || err instanceof ImageError || err instanceof TrustError || err instanceof KeyError || err instanceof BootError
        || err instanceof DeviceFolderError || err instanceof CapabilityError || err instanceof BootStateError || (err as NodeJS.ErrnoException).code === "EEXIST") {
        process.stderr.write(`wasphere: ${printable((err as Error).message.split("\n")[0])}\n`);
        process.exitCode = 1;
        return;
      }
      throw err;
    }
  };
  device.command("create")
    .description("make a device folder: its flash image (partition table written, data partition formatted) and its hardware definition")
    .argument("<DEV>", "the folder to create (must not exist, or be empty)")
    .option("--flash-size <SIZE>", "flash size, a power of two from 2MiB to 256MiB", parseSize, DEFAULT_FLASH_BYTES)
    .option("--pins <N>", `GPIO pin count (default ${DEFAULT_PINS})`, intOption("--pins", 0, abi.MAX_GPIO_PINS), DEFAULT_PINS)
    .option("--trust <KEY.pub>", "trust this public key for the OS and for apps (repeatable); the device starts in field mode", collect, [])
    .option("--trust-os <KEY.pub>", "trust this public key for the OS (core images) only (repeatable)", collect, [])
    .option("--trust-app <KEY.pub>", "trust this public key for app packages only (repeatable)", collect, [])
    .option("--core <IMG>", "write this signed core image (wasphere core sign) into the factory OS slot (os-a)")
    .addHelpText("after", "\nWithout --trust*: a development device: a key pair is made in DEV/development-key.pem/.pub, trusted for the OS and apps,\nthe build's core is signed with it, and the device is in development mode. Sign packages with --sign DEV/development-key.pem.")
    .action(action(async (dir: string, opts: { flashSize: number; pins: number; trust: string[]; trustOs: string[]; trustApp: string[]; core?: string }) => {
      const parts = await createDevice(dir, opts.flashSize, opts.pins, { trust: opts.trust, trustOs: opts.trustOs, trustApp: opts.trustApp, core: opts.core });
      process.stdout.write(`${printable(dir)}: ${sizeText(opts.flashSize)} flash, ${parts.length} partitions, ${opts.pins} GPIO pins\n`);
      for (const line of parts.securityLines ?? []) process.stdout.write(`${line}\n`);
    }));
  device.command("boot")
    .description("boot the device from its flash: mount its data partition and every installed package, start the apps, print the boot log and memory map; run until Ctrl-C")
    .argument("<DEV>", "the device folder")
    .option("--seconds <N>", "stop after N seconds (default: run until Ctrl-C or SIGTERM)", (v: string) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("expected a positive number of seconds");
      return n;
    })
    .option("--press <PIN:PERIOD_MS>", "simulate a button on an input pin, pressed and released every PERIOD_MS (repeatable)", (v: string, prev: { pin: number; periodMs: number }[] = []) => {
      const m = /^(\d+):(\d+)$/.exec(v);
      if (!m) throw new InvalidArgumentError("expected PIN:PERIOD_MS, e.g. 12:1500");
      return [...prev, { pin: Number(m[1]), periodMs: Number(m[2]) }];
    })
    .option("--quiet", "do not print GPIO changes")
    .option("--feed <URL>", "start the update agent polling this update feed (http://host[:port]/path/feed.json; SPEC.md, \"Update agent\")")
    .option("--feed-poll <S>", "seconds between the update agent's polls of the feed (default 60)", (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 86400) throw new InvalidArgumentError("expected a whole number of seconds from 1 to 86400");
      return n;
    })
    .action(async (dir: string, opts: { seconds?: number; press?: { pin: number; periodMs: number }[]; quiet?: boolean; feed?: string; feedPoll?: number }) => {
      const { bootDevice } = await import("./device-boot.js");
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      try {
        await bootDevice(dir, opts, (line) => process.stdout.write(line + "\n"), controller.signal);
      } catch (err) {
        process.stderr.write(`wasphere device boot: ${printable((err as Error).message.split("\n")[0])}\n`);
        process.exitCode = 1;
      } finally {
        process.removeListener("SIGINT", stop);
        process.removeListener("SIGTERM", stop);
      }
    });
  device.command("show")
    .description("print the device's flash geometry, partition table, what each partition holds, and its hardware")
    .argument("<DEV>", "the device folder")
    .option("--json", "print one JSON object")
    .action(action(async (dir: string, opts: { json?: boolean }) => {
      const r = await showDevice(dir);
      process.stdout.write(opts.json ? JSON.stringify(r, null, 1) + "\n" : deviceText(r));
    }));
  registerDeviceVerbs(device);
  registerSecureDeviceCommands(device, action);
  registerOsUpdateCommands(device, action);
}

const collect = (v: string, prev: string[]) => [...prev, v];
