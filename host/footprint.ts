// Footprint: what a device costs in memory, measured on a running device.
//
// `wasphere footprint` boots a device on a virtual clock, installs the apps, runs a scripted
// workload for a fixed number of scheduler slices (so two runs of the same build give the same
// figures), and reports every figure DESIGN.md's footprint section explains. Budgets live in
// footprint-budget.json; checkBudget compares a report with them.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Device, type InstalledApp } from "./device.js";
import { VirtualClock } from "./peripherals/clock.js";
import { appFromDirectory } from "./apps/package.js";
import { LittleFs } from "./fs/littlefs.js";
import { CORE_WASM_PATH } from "./core.js";
import { Flash } from "./flash.js";
import * as abi from "../assembly/abi.js";

export const FOOTPRINT_SLICES = 2000;

/** The core's build variants (tools/build.mjs builds them next to core.wasm). */
export const CORE_VARIANTS = [
  { name: "full", path: CORE_WASM_PATH },
  { name: "fs-readonly", path: join(dirname(CORE_WASM_PATH), "core-fs-readonly.wasm") },
  { name: "no-fs", path: join(dirname(CORE_WASM_PATH), "core-no-fs.wasm") },
];
export const FOOTPRINT_FS = { blockSizeBytes: 4096, blockCount: 256 };

export interface WasmSizes { totalBytes: number; codeBytes: number; dataBytes: number }

export interface AppFootprint {
  name: string;
  quotaBytes: number;
  memoryBytes: number;
  memoryPeakBytes: number;
  coreBytes: number;
  moduleBytes: number;
  instrumentedModuleBytes: number;
  /** CpuBudget.FuelPerSecond, 0 when the manifest sets none; and the device ms it was held back. */
  cpuBudgetFuelPerSecond: number;
  cpuThrottledMs: number;
}

export interface FsMountFootprint { mount: number; role: "data" | "package"; baseBlock: number; blocks: number; readOnly: boolean; ramBytes: number }

export interface Limits {
  maxApps: number;
  maxTasks: number;
  maxHandles: number;
  maxTimers: number;
  handlesPerTaskMax: number;
  maxGpioPins: number;
  auditEntries: number;
}

export const LIMITS: Limits = {
  maxApps: abi.MAX_APPS,
  maxTasks: abi.MAX_TASKS,
  maxHandles: abi.MAX_HANDLES,
  maxTimers: abi.MAX_TIMERS,
  handlesPerTaskMax: abi.HANDLES_PER_TASK_MAX,
  maxGpioPins: abi.MAX_GPIO_PINS,
  auditEntries: abi.AUDIT_ENTRIES,
};

export interface FootprintReport {
  schema: 1;
  slices: number;
  coreWasm: WasmSizes;
  /** The same sizes for each build variant of the core, side by side. */
  variants: (WasmSizes & { name: string })[];
  coreStaticBytes: number;
  kernelTableBytes: number;
  /** The cabi_realloc arena, where every list crossing the boundary is lowered (part of coreStaticBytes). */
  cabiArenaBytes: number;
  coreHeapInUseBytes: number;
  coreHeapPeakBytes: number;
  /** Highest address the core's heap reached, above its base: the heap's share of the 4 MiB. */
  coreHeapSpanBytes: number;
  /** fs_ram_bytes: all the file system's RAM, static (fsRamStaticBytes) and heap, mounted. */
  fsRamBytes: number;
  /** Its static tables and output buffer (part of coreStaticBytes too). */
  fsRamStaticBytes: number;
  /** Each mount of a device flash with the data partition and one app package, as the core's
   *  mount table reports it (fs_mount_info): RAM is the mount's record, caches, lookahead. */
  fsMounts: FsMountFootprint[];
  /** The core's table limits (assembly/abi.ts): what one device can hold whatever its RAM. */
  limits: Limits;
  apps: AppFootprint[];
  split: { totalBytes: number; coreBytes: number; appReservedBytes: number; freeBytes: number };
}

/** Sizes of the code and data sections of a module, from its binary. */
export function wasmSizes(bytes: Uint8Array): WasmSizes {
  let pos = 8, codeBytes = 0, dataBytes = 0;
  const leb = () => { let r = 0, s = 0, b; do { b = bytes[pos++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return r >>> 0; };
  while (pos < bytes.length) {
    const id = bytes[pos++];
    const size = leb();
    if (id === 10) codeBytes += size;
    if (id === 11) dataBytes += size;
    pos += size;
  }
  return { totalBytes: bytes.length, codeBytes, dataBytes };
}

export async function measureFootprint(appDirs: string[], opts: { coreWasmPath?: string; slices?: number } = {}): Promise<FootprintReport> {
  const slices = opts.slices ?? FOOTPRINT_SLICES;
  const device = new Device({ clock: new VirtualClock(), flash: FOOTPRINT_FS });
  // The file system's RAM: the device's flash formatted and mounted through the same core build.
  const { fsRamBytes, fsRamStaticBytes, fsMounts } = measureFsRam();
  const apps: InstalledApp[] = [];
  for (const dir of appDirs) apps.push(await device.install(appFromDirectory(dir)));
  for (const app of apps) device.start(app);
  const peaks = new Map<number, number>();
  let done = 0;
  // The scripted workload: run, and press the demo button now and then so waits wake.
  while (done < slices) {
    if (!device.step()) {
      const deadline = device.core.exports.sched_next_deadline_ms();
      if (deadline < 0) break;
      await device.clock.waitUntil(deadline);
    } else done++;
    if (done % 100 === 0) device.gpio.drive(12, (done / 100) & 1);
    for (const app of apps) {
      const bytes = device.appMemoryBytes(app);
      peaks.set(app.slot, Math.max(peaks.get(app.slot) ?? 0, bytes));
    }
  }
  const map = device.memoryMap();
  const e = device.core.exports;
  return {
    schema: 1,
    slices: done,
    coreWasm: wasmSizes(readFileSync(opts.coreWasmPath ?? CORE_WASM_PATH)),
    variants: CORE_VARIANTS.filter((v) => existsSync(v.path)).map((v) => ({ name: v.name, ...wasmSizes(readFileSync(v.path)) })),
    coreStaticBytes: map.staticBytes,
    kernelTableBytes: map.tableBytes,
    cabiArenaBytes: e.mem_cabi_arena_bytes(),
    coreHeapInUseBytes: map.heapInUseBytes,
    coreHeapPeakBytes: map.heapPeakBytes,
    coreHeapSpanBytes: map.heapSpanBytes,
    fsRamBytes,
    fsRamStaticBytes,
    fsMounts,
    limits: { ...LIMITS },
    apps: apps.map((a) => ({
      name: a.name,
      quotaBytes: a.quotaBytes,
      memoryBytes: device.appMemoryBytes(a),
      memoryPeakBytes: peaks.get(a.slot) ?? 0,
      coreBytes: e.app_core_bytes(a.slot),
      moduleBytes: a.originalBytes,
      instrumentedModuleBytes: a.instrumentedBytes,
      cpuBudgetFuelPerSecond: e.app_field(a.slot, abi.APP_FIELD_CPU_BUDGET_KFUEL) * 1000,
      cpuThrottledMs: e.app_field(a.slot, abi.APP_FIELD_CPU_THROTTLED_MS),
    })),
    split: {
      totalBytes: map.totalBytes,
      // Counted from the core's own parts, not as what is left: the test checks that the three add up.
      coreBytes: map.staticBytes + map.heapSpanBytes,
      appReservedBytes: map.appReservedBytes,
      freeBytes: map.freeBytes,
    },
  };
}

/** Blocks of FOOTPRINT_FS that hold an app package image (littlefs, mounted read-only). */
export const FOOTPRINT_PACKAGE_BLOCKS = 16;

function measureFsRam(): { fsRamBytes: number; fsRamStaticBytes: number; fsMounts: FsMountFootprint[] } {
  const flash = new Flash(FOOTPRINT_FS);
  const bs = FOOTPRINT_FS.blockSizeBytes;
  const dataBlocks = FOOTPRINT_FS.blockCount - FOOTPRINT_PACKAGE_BLOCKS;
  const cfg = { blockSize: bs, blockCount: dataBlocks };
  // The package: a littlefs image of its own, made apart and laid after the data partition.
  const pkgFlash = new Flash({ blockSizeBytes: bs, blockCount: FOOTPRINT_PACKAGE_BLOCKS });
  LittleFs.format(pkgFlash, { ...cfg, blockCount: FOOTPRINT_PACKAGE_BLOCKS });
  flash.bytes.set(pkgFlash.bytes, dataBlocks * bs);
  LittleFs.format(flash, cfg);
  const fs = LittleFs.mount(flash, cfg);
  const ram = { fsRamBytes: fs.ramBytes(), fsRamStaticBytes: fs.ramStaticBytes() };
  const pkg = fs.mountAt(dataBlocks, FOOTPRINT_PACKAGE_BLOCKS, { readOnly: true });
  const fsMounts = [fs, pkg].map((m, i): FsMountFootprint => {
    const info = m.mountInfo();
    return { mount: m.mountId, role: i === 0 ? "data" : "package", baseBlock: info.baseBlock, blocks: info.blockCount, readOnly: info.readOnly, ramBytes: info.ramBytes };
  });
  pkg.unmount();
  fs.unmount();
  return { ...ram, fsMounts };
}

export interface BudgetLine { figure: string; value: number; budget: number; over: number }

/** Every budgeted figure with its value; `over` > 0 is a regression. */
export function checkBudget(report: FootprintReport, budget: Record<string, number>): BudgetLine[] {
  const figures: Record<string, number> = {
    "coreWasm.totalBytes": report.coreWasm.totalBytes,
    "coreWasm.codeBytes": report.coreWasm.codeBytes,
    "coreWasm.dataBytes": report.coreWasm.dataBytes,
    coreStaticBytes: report.coreStaticBytes,
    kernelTableBytes: report.kernelTableBytes,
    cabiArenaBytes: report.cabiArenaBytes,
    coreHeapPeakBytes: report.coreHeapPeakBytes,
    fsRamBytes: report.fsRamBytes,
    fsRamStaticBytes: report.fsRamStaticBytes,
    "split.coreBytes": report.split.coreBytes,
  };
  for (const app of report.apps) {
    figures[`apps.${app.name}.coreBytes`] = app.coreBytes;
    figures[`apps.${app.name}.memoryPeakBytes`] = app.memoryPeakBytes;
    figures[`apps.${app.name}.instrumentedModuleBytes`] = app.instrumentedModuleBytes;
  }
  return Object.entries(budget).filter(([k]) => !k.startsWith("$")).map(([figure, limit]) => {
    if (!(figure in figures)) return { figure, value: NaN, budget: limit, over: NaN };
    return { figure, value: figures[figure], budget: limit, over: figures[figure] - limit };
  });
}
