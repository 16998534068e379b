// Core: the core (core.wasm) at the level of its WIT world (wit/wasphere.wit), and the host side
// of its `hal`.
//
// The host is mechanism: it supplies a clock, GPIO, log output, copies to and from app memory and
// a flash block device, and the core decides everything else. Two types describe the boundary at
// the WIT level, with Uint8Array for list<u8> and numbers for s32/u32/enums:
// - `Hal`, what a host provides (wit `hal`);
// - `Core`, what the core gives back (`exports`: wit `kernel` and `fs`, keyed by the WIT names
//   with `-` spelled `_`).
// `ModuleCore` implements Core over the plain core module: it lowers and lifts by hand as the
// canonical ABI does (lists in through the core's `cabi_realloc`, results out of return areas).
// Another implementation (over component bindings) needs only `effectiveHal` and `tapCore`.
// Invariants: the host writes core memory only where the core handed it memory (cabi_realloc)
// or a return area; every pointer the core returns is checked against the memory before a read.
// Must not: make a policy decision, hand an app a view of core memory, or call a core export from
// inside a hal call (the core is not re-entrant; only cabi_realloc may be called there, to lower a
// list the call returns).
//
// No Node API is imported here (nor by Device): in a browser, pass core.wasm as a
// WebAssembly.Module; only the default loader below reaches for Node's file system, at run time.
import { Flash } from "./flash.js";
import { wallMs } from "./yield.js";
import { decodeUtf8 } from "./engine.js";
import { CABI_ARENA_BYTES, EFAULT, ENODEV, EIO } from "../assembly/abi.js";

/**
 * Where the build puts core.wasm, relative to this file once compiled (dist/host/core.js), when
 * this module was loaded from a file; "" elsewhere (a bundle in a browser, gjs without `URL`).
 */
export const CORE_WASM_PATH: string = typeof URL === "function" && import.meta.url.startsWith("file:")
  ? decodeURIComponent(new URL("../../build/core.wasm", import.meta.url).pathname) : "";

/** The WIT package the core's names come from (wit/wasphere.wit's `package` line). */
export const WIT_PACKAGE = "wasphere:core";
export const WIT_VERSION = "0.1.0";

/** result<list<u8>, s32> and friends: the value, or a negative errno. */
export type OrErrno<T> = T | number;

/** wit `hal`: the host services the core imports. Anything left out answers -ENODEV (or nothing). */
export interface Hal {
  clockNowMs?(): number;
  gpioConfigure?(pin: number, direction: number, initial: number): number;
  gpioWrite?(pin: number, value: number): number;
  gpioRead?(pin: number): number;
  logWrite?(task: number, line: Uint8Array): void;
  /** `len` bytes of the task's memory at `appPtr`, or -EFAULT. */
  appCopyIn?(task: number, appPtr: number, len: number): OrErrno<Uint8Array>;
  /** 0 or -EFAULT. */
  appCopyOut?(task: number, appPtr: number, bytes: Uint8Array): number;
  appMemoryBytes?(task: number): number;
  flashRead?(block: number, offset: number, len: number): OrErrno<Uint8Array>;
  flashProg?(block: number, offset: number, bytes: Uint8Array): number;
  flashErase?(block: number): number;
  flashSync?(): number;
  /** A peripheral operation answering a number (SPEC.md "Peripheral calls"): >= 0 or -errno. */
  periphControl?(id: number, fn: number, op: number, arg: number, data: Uint8Array): number;
  /** A peripheral operation answering at most `maxLen` bytes, or -errno. */
  periphRead?(id: number, fn: number, op: number, arg: number, data: Uint8Array, maxLen: number): OrErrno<Uint8Array>;
  /** Queues a request frame for the security processor (SPEC.md "Security processor mailbox"): 0 or -errno. */
  mailboxPost?(frame: Uint8Array): number;
  /** A network operation answering a number (SPEC.md "Network calls"): >= 0 or -errno. */
  netControl?(socket: number, op: number, arg: number, data: Uint8Array): number;
  /** A network operation answering at most `maxLen` bytes, or -errno. */
  netRead?(socket: number, op: number, arg: number, maxLen: number): OrErrno<Uint8Array>;
  /** Told of a core panic (UTF-16LE texts) before CorePanic is thrown. */
  panic?(messageUtf16: Uint8Array, fileUtf16: Uint8Array, line: number, column: number): void;
}

/** The wit `hal` functions by their WIT names, each always present. */
export type HalFunctions = Record<HalName, (...args: any[]) => any>;
export const HAL_NAMES = [
  "clock-now-ms", "gpio-configure", "gpio-write", "gpio-read", "log-write", "app-copy-in", "app-copy-out",
  "app-memory-bytes", "flash-read", "flash-prog", "flash-erase", "flash-sync", "periph-control", "periph-read", "mailbox-post",
  "net-control", "net-read", "panic",
] as const;
export type HalName = typeof HAL_NAMES[number];

/** The flash hal calls over a Flash (host/flash.ts). */
export function flashHal(flash: Flash): Pick<Hal, "flashRead" | "flashProg" | "flashErase" | "flashSync"> {
  return {
    flashRead: (block, offset, len) => { const bytes = new Uint8Array(len); const rc = flash.read(block, offset, bytes); return rc < 0 ? rc : bytes; },
    flashProg: (block, offset, bytes) => flash.prog(block, offset, bytes),
    flashErase: (block) => flash.erase(block),
    flashSync: () => 0,
  };
}

export class CorePanic extends Error {}

const utf16 = (bytes: Uint8Array): string => {
  let s = "";
  for (let i = 0; i + 1 < bytes.length; i += 2) s += String.fromCharCode(bytes[i] | (bytes[i + 1] << 8));
  return s;
};

/** `hal` with its defaults filled in (what the core sees when a host leaves a call out). */
export function effectiveHal(hal: Hal): HalFunctions {
  const startMs = wallMs();
  return {
    "clock-now-ms": () => (hal.clockNowMs ? hal.clockNowMs() : wallMs() - startMs),
    "gpio-configure": (pin: number, dir: number, initial: number) => (hal.gpioConfigure ? hal.gpioConfigure(pin, dir, initial) : -ENODEV),
    "gpio-write": (pin: number, value: number) => (hal.gpioWrite ? hal.gpioWrite(pin, value) : -ENODEV),
    "gpio-read": (pin: number) => (hal.gpioRead ? hal.gpioRead(pin) : -ENODEV),
    "log-write": (task: number, line: Uint8Array) => { hal.logWrite?.(task, line); },
    "app-copy-in": (task: number, appPtr: number, len: number) => (hal.appCopyIn ? hal.appCopyIn(task, appPtr, len) : -EFAULT),
    "app-copy-out": (task: number, appPtr: number, bytes: Uint8Array) => (hal.appCopyOut ? hal.appCopyOut(task, appPtr, bytes) : -EFAULT),
    "app-memory-bytes": (task: number) => (hal.appMemoryBytes ? hal.appMemoryBytes(task) : 0),
    "flash-read": (block: number, offset: number, len: number) => (hal.flashRead ? hal.flashRead(block, offset, len) : -ENODEV),
    "flash-prog": (block: number, offset: number, bytes: Uint8Array) => (hal.flashProg ? hal.flashProg(block, offset, bytes) : -ENODEV),
    "flash-erase": (block: number) => (hal.flashErase ? hal.flashErase(block) : -ENODEV),
    "flash-sync": () => (hal.flashSync ? hal.flashSync() : 0),
    "periph-control": (id: number, fn: number, op: number, arg: number, data: Uint8Array) => (hal.periphControl ? hal.periphControl(id, fn, op, arg, data) : -ENODEV),
    "periph-read": (id: number, fn: number, op: number, arg: number, data: Uint8Array, maxLen: number) => (hal.periphRead ? hal.periphRead(id, fn, op, arg, data, maxLen) : -ENODEV),
    "mailbox-post": (frame: Uint8Array) => (hal.mailboxPost ? hal.mailboxPost(frame) : -ENODEV),
    "net-control": (socket: number, op: number, arg: number, data: Uint8Array) => (hal.netControl ? hal.netControl(socket, op, arg, data) : -ENODEV),
    "net-read": (socket: number, op: number, arg: number, maxLen: number) => (hal.netRead ? hal.netRead(socket, op, arg, maxLen) : -ENODEV),
    "panic": (message: Uint8Array, file: Uint8Array, line: number, column: number) => {
      hal.panic?.(message, file, line, column);
      throw new CorePanic(`core panic: ${utf16(message)} at ${utf16(file)}:${line}:${column}`);
    },
  };
}

export interface FsStatRecord { kind: number; size: number }
export interface FsDirEntryRecord { kind: number; size: number; name: Uint8Array }
export interface FsInfoRecord { diskVersion: number; blockSize: number; blockCount: number; nameMax: number; fileMax: number; attrMax: number }
export interface FsFaultRecord { code: number; detail: [number, number, number, number] }
export interface FsMountInfoRecord { baseBlock: number; blockCount: number; mountFlags: number; owner: number; ramBytes: number }
/** wit kernel's pkg-info; build-time is a u64, so a bigint (as jco lifts it). */
export interface PkgInfoRecord {
  imageType: number; componentId: Uint8Array; imageId: Uint8Array; version: number; buildTime: bigint; name: Uint8Array;
  abiVersion: number; fsBlockBytes: number; fsBlockCount: number; fsCrc: number; metadataOffset: number; metadataBytes: number;
  sigAlgorithm: number; sigKeyId: Uint8Array; signature: Uint8Array; signedBytes: number;
}
export interface PartitionEntryRecord { type: number; flags: number; offsetBytes: number; sizeBytes: number }

type N = number;
/** wit `kernel` and `fs` at the WIT level. An s32 result is >= 0 or a negative errno. */
export interface CoreExports {
  core_boot(gpioPinCount: N, appQuotaCeilingBytes: N, defaultAppQuotaBytes: N): N;
  board_add(name: Uint8Array, functions: N, channels: N, pins: Uint8Array): N;
  core_version(): N;
  core_error_message(): Uint8Array;
  mem_static_bytes(): N; mem_heap_in_use_bytes(): N; mem_heap_peak_bytes(): N; mem_heap_span_bytes(): N;
  mem_app_reserved_bytes(): N; mem_free_bytes(): N; mem_table_bytes(): N; mem_cabi_arena_bytes(): N;
  app_install(manifest: Uint8Array): N; app_install_system(manifest: Uint8Array): N;
  app_uninstall(slot: N): N; app_start(slot: N): N; app_stop(slot: N): N;
  app_field(slot: N, field: N): N; app_core_bytes(slot: N): N;
  app_string(slot: N, which: N): OrErrno<Uint8Array>;
  sched_next(nowMs: N): N; sched_slice_fuel(): N; sched_next_deadline_ms(): N;
  sched_report(task: N, reason: N, value: N, fuelUsed: N): N;
  task_state(task: N): N; task_app(task: N): N; task_needs_instance(task: N): N; task_take_result(task: N): N;
  syscall(task: N, nr: N, a0: N, a1: N, a2: N, a3: N): N;
  task_take_fuel(task: N): N;
  /** syscall then task_take_fuel in one call: the fuel owed << 32 | the syscall's result (as u32). */
  syscall_charged(task: N, nr: N, a0: N, a1: N, a2: N, a3: N): bigint;
  gpio_notify(pin: N, value: N): N; periph_notify(id: N): N; net_notify(socket: N): N; mailbox_deliver(frame: Uint8Array): N;
  clock_set_utc_ms(utcMs: N): N; clock_utc_ms(): N;
  audit_total(): N; audit_field(seq: N, field: N): N; audit_time_ms(seq: N): N;
  pkg_parse(flashBlockBytes: N, firstBlock: N, packageBytes: N): OrErrno<PkgInfoRecord>;
  ptable_parse(eraseBlockBytes: N, blockCount: N): OrErrno<PartitionEntryRecord[]>;
  // The fs interface (absent from the no-fs core; the fs-readonly core has a subset).
  fs_config(blockSize: N, blockCount: N, readSize: N, progSize: N, cacheSize: N, lookaheadSize: N, blockCycles: N, nameMax: N, inlineMax: N): N;
  fs_format(): N; fs_mount(): N; fs_unmount(): N;
  fs_open(path: Uint8Array, flags: N): N;
  fs_read(fd: N, len: N): OrErrno<Uint8Array>;
  fs_write(fd: N, data: Uint8Array): N;
  fs_seek(fd: N, off: N, whence: N): N; fs_tell(fd: N): N; fs_file_size(fd: N): N; fs_truncate(fd: N, size: N): N;
  fs_sync(fd: N): N; fs_close(fd: N): N;
  fs_mkdir(path: Uint8Array): N; fs_remove(path: Uint8Array): N; fs_rename(oldPath: Uint8Array, newPath: Uint8Array): N;
  fs_stat(path: Uint8Array): OrErrno<FsStatRecord>;
  fs_dir_open(path: Uint8Array): N;
  /** null at the end of the directory. */
  fs_dir_read(dirfd: N): OrErrno<FsDirEntryRecord | null>;
  fs_dir_close(dirfd: N): N;
  fs_getattr(path: Uint8Array, type: N): OrErrno<Uint8Array>;
  fs_listattrs(path: Uint8Array): OrErrno<Uint8Array>;
  fs_setattr(path: Uint8Array, type: N, value: Uint8Array): N;
  fs_removeattr(path: Uint8Array, type: N): N;
  fs_fsinfo(): OrErrno<FsInfoRecord>;
  fs_size_blocks(): N; fs_traverse(): N; fs_gc(): N; fs_mkconsistent(): N;
  fs_check(flags: N): OrErrno<FsFaultRecord>;
  fs_ram_bytes(): N; fs_ram_static_bytes(): N;
  fs_mount_at(baseBlock: N, blockCount: N, readOnly: N, owner: N): N;
  fs_select(mount: N): N; fs_mount_ram_bytes(mount: N): N;
  fs_mount_info(mount: N): OrErrno<FsMountInfoRecord>;
  // The installed-app list (the full core only).
  fs_store_boot(eraseBlockBytes: N, blockCount: N): N;
  fs_store_count(): N;
  fs_store_activate(entry: N): N;
  fs_store_entry(entry: N): OrErrno<Uint8Array>;
  fs_store_deploy_begin(packageBytes: N): N;
  fs_store_deploy_write(data: Uint8Array): N;
  fs_store_deploy_commit(): N;
  fs_store_remove(entry: N): N;
  fs_store_read_entry_point(entry: N, offset: N, len: N): OrErrno<Uint8Array>;
  fs_store_attest(nonce: Uint8Array): OrErrno<Uint8Array>;
}
export type ExportName = keyof CoreExports;

/** One instance of the core, at the WIT level. */
export interface Core {
  readonly exports: CoreExports;
  readonly hal: Hal;
  /** Bytes of the core's linear memory (the device's 4 MiB). */
  memoryBytes(): number;
  /** The text of the core's last error, or "" when it set none. */
  lastError(): string;
}

/**
 * Sees every crossing of the core boundary at the WIT level (host/replay.ts records and checks
 * runs with it): each hal call and each export is passed through `wrap`, with its WIT name.
 */
export interface CoreTap {
  wrap<F extends (...args: any[]) => any>(kind: "hal" | "export", name: string, fn: F): F;
}

/**
 * How each export's parameters and result cross, keyed by the export's name: its interface,
 * one letter per parameter (`n` a number, `L` a list<u8>) and its result's shape.
 * tests/host/wit.test checks this table against wit/wasphere.wit.
 */
export type ResultShape = "n" | "list" | "result-list" | "result-stat" | "result-dir" | "result-info" | "result-fault" | "result-pkg" | "result-partitions" | "result-mount";
export const EXPORT_SHAPES: Record<ExportName, [iface: "kernel" | "fs", params: string, result: ResultShape]> = {
  core_boot: ["kernel", "nnn", "n"], board_add: ["kernel", "LnnL", "n"], core_version: ["kernel", "", "n"], core_error_message: ["kernel", "", "list"],
  mem_static_bytes: ["kernel", "", "n"], mem_heap_in_use_bytes: ["kernel", "", "n"], mem_heap_peak_bytes: ["kernel", "", "n"],
  mem_heap_span_bytes: ["kernel", "", "n"], mem_app_reserved_bytes: ["kernel", "", "n"], mem_free_bytes: ["kernel", "", "n"],
  mem_table_bytes: ["kernel", "", "n"], mem_cabi_arena_bytes: ["kernel", "", "n"],
  app_install: ["kernel", "L", "n"], app_install_system: ["kernel", "L", "n"], app_uninstall: ["kernel", "n", "n"], app_start: ["kernel", "n", "n"], app_stop: ["kernel", "n", "n"],
  app_field: ["kernel", "nn", "n"], app_core_bytes: ["kernel", "n", "n"], app_string: ["kernel", "nn", "result-list"],
  sched_next: ["kernel", "n", "n"], sched_slice_fuel: ["kernel", "", "n"], sched_next_deadline_ms: ["kernel", "", "n"],
  sched_report: ["kernel", "nnnn", "n"], task_state: ["kernel", "n", "n"], task_app: ["kernel", "n", "n"],
  task_needs_instance: ["kernel", "n", "n"], task_take_result: ["kernel", "n", "n"], syscall: ["kernel", "nnnnnn", "n"],
  task_take_fuel: ["kernel", "n", "n"], syscall_charged: ["kernel", "nnnnnn", "n"], gpio_notify: ["kernel", "nn", "n"], periph_notify: ["kernel", "n", "n"], net_notify: ["kernel", "n", "n"], mailbox_deliver: ["kernel", "L", "n"],
  clock_set_utc_ms: ["kernel", "n", "n"], clock_utc_ms: ["kernel", "", "n"],
  audit_total: ["kernel", "", "n"], audit_field: ["kernel", "nn", "n"], audit_time_ms: ["kernel", "n", "n"],
  pkg_parse: ["kernel", "nnn", "result-pkg"], ptable_parse: ["kernel", "nn", "result-partitions"],
  fs_config: ["fs", "nnnnnnnnn", "n"], fs_format: ["fs", "", "n"], fs_mount: ["fs", "", "n"], fs_unmount: ["fs", "", "n"],
  fs_open: ["fs", "Ln", "n"], fs_read: ["fs", "nn", "result-list"], fs_write: ["fs", "nL", "n"],
  fs_seek: ["fs", "nnn", "n"], fs_tell: ["fs", "n", "n"], fs_file_size: ["fs", "n", "n"], fs_truncate: ["fs", "nn", "n"],
  fs_sync: ["fs", "n", "n"], fs_close: ["fs", "n", "n"], fs_mkdir: ["fs", "L", "n"], fs_remove: ["fs", "L", "n"],
  fs_rename: ["fs", "LL", "n"], fs_stat: ["fs", "L", "result-stat"], fs_dir_open: ["fs", "L", "n"],
  fs_dir_read: ["fs", "n", "result-dir"], fs_dir_close: ["fs", "n", "n"], fs_getattr: ["fs", "Ln", "result-list"],
  fs_listattrs: ["fs", "L", "result-list"], fs_setattr: ["fs", "LnL", "n"], fs_removeattr: ["fs", "Ln", "n"],
  fs_fsinfo: ["fs", "", "result-info"], fs_size_blocks: ["fs", "", "n"], fs_traverse: ["fs", "", "n"], fs_gc: ["fs", "", "n"],
  fs_mkconsistent: ["fs", "", "n"], fs_check: ["fs", "n", "result-fault"], fs_ram_bytes: ["fs", "", "n"], fs_ram_static_bytes: ["fs", "", "n"],
  fs_mount_at: ["fs", "nnnn", "n"], fs_select: ["fs", "n", "n"], fs_mount_ram_bytes: ["fs", "n", "n"], fs_mount_info: ["fs", "n", "result-mount"],
  fs_store_boot: ["fs", "nn", "n"], fs_store_count: ["fs", "", "n"], fs_store_activate: ["fs", "n", "n"],
  fs_store_entry: ["fs", "n", "result-list"], fs_store_deploy_begin: ["fs", "n", "n"], fs_store_deploy_write: ["fs", "L", "n"],
  fs_store_deploy_commit: ["fs", "", "n"], fs_store_remove: ["fs", "n", "n"], fs_store_read_entry_point: ["fs", "nnn", "result-list"],
  fs_store_attest: ["fs", "L", "result-list"],
};

/** The core-wasm export name of a WIT function (`wasphere:core/fs@0.1.0#fs-open`). */
export const loweredExportName = (name: ExportName): string =>
  `${WIT_PACKAGE}/${EXPORT_SHAPES[name][0]}@${WIT_VERSION}#${name.replace(/_/g, "-")}`;
export const HAL_MODULE = `${WIT_PACKAGE}/hal@${WIT_VERSION}`;

/** The exports passed through `tap` (or as they are without one). */
export function tapCore<T extends object>(exports: T, tap: CoreTap | undefined): T {
  if (!tap) return exports;
  return Object.fromEntries(Object.entries(exports).map(([n, f]) => [n, tap.wrap("export", n, f as (...a: any[]) => any)])) as T;
}

let cachedModule: WebAssembly.Module | null = null;

/** Reads a file through Node's fs, found at run time so that browsers never import it. */
function readFileWithNode(path: string | URL): Uint8Array<ArrayBuffer> {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const fs = proc?.getBuiltinModule?.("node:fs") as { readFileSync(p: string | URL): Uint8Array<ArrayBuffer> } | undefined;
  if (!fs) throw new Error("no file system here: pass core.wasm to Core/Device as a compiled WebAssembly.Module");
  return fs.readFileSync(path);
}

/** core.wasm from the build folder (Node), compiled once. */
export function coreModule(path: string = CORE_WASM_PATH): WebAssembly.Module {
  if (!path) throw new Error("no core.wasm path here: pass core.wasm to Core/Device as a compiled WebAssembly.Module");
  if (path !== CORE_WASM_PATH) return new WebAssembly.Module(readFileWithNode(path));
  if (!cachedModule) cachedModule = new WebAssembly.Module(readFileWithNode(CORE_WASM_PATH));
  return cachedModule;
}

/** A list the host cannot pass: longer than the arena, or not fitting what is left of it. */
export class CabiArenaFull extends RangeError {}

type Raw = Record<string, (...args: number[]) => number>;

/** Core over the plain core module: the canonical ABI's lowering and lifting, by hand. */
export class ModuleCore implements Core {
  readonly exports: CoreExports;
  readonly hal: Hal;
  private readonly memory: WebAssembly.Memory;
  private readonly raw: Raw;

  constructor(hal: Hal, module: WebAssembly.Module = coreModule(), tap?: CoreTap) {
    this.hal = hal;
    let witHal = effectiveHal(hal);
    if (tap) witHal = Object.fromEntries(Object.entries(witHal).map(([n, f]) => [n, tap.wrap("hal", n, f)])) as HalFunctions;
    const h = witHal;
    // Core memory, read through checks: the core only ever passes its own pointers, but a wrong
    // one must fail here, not read past the memory.
    const bytesAt = (ptr: number, len: number): Uint8Array => {
      const start = ptr >>> 0, n = len >>> 0, mem = new Uint8Array(this.memory.buffer);
      if (start + n > mem.length) throw new CorePanic(`the core passed [${start}, +${n}) outside its memory`);
      return mem.slice(start, start + n);
    };
    /**
     * Lowers result<list<u8>, s32> into the core's return area `ret` (12 bytes). A hal answering
     * with a list other than the length asked (more than it, for an `atMost` call) is lowered as
     * -EIO: the core asked for exactly (at most) that many.
     */
    const returnList = (ret: number, value: OrErrno<Uint8Array>, wantBytes: number, atMost = false): void => {
      const view = new DataView(this.memory.buffer);
      if (typeof value !== "number" && (atMost ? value.length > wantBytes >>> 0 : value.length !== wantBytes >>> 0)) value = -EIO;
      if (typeof value === "number") {
        view.setUint8(ret, 1);
        view.setInt32(ret + 4, value < 0 ? value : -EIO, true);
        return;
      }
      const ptr = this.lowerList(value);
      view.setUint8(ret, 0);
      view.setUint32(ret + 4, ptr, true);
      view.setUint32(ret + 8, value.length, true);
    };
    // The calls of every slice and syscall go straight to the host's own function when nothing
    // taps them (one JS frame instead of three).
    const direct = <F extends (...a: any[]) => unknown>(f: F | undefined): F | null => (!tap && f ? f.bind(hal) as F : null);
    const imports: Record<string, (...a: number[]) => unknown> = {
      "clock-now-ms": direct(hal.clockNowMs) ?? (() => h["clock-now-ms"]()),
      "gpio-configure": (pin, dir, initial) => h["gpio-configure"](pin, dir, initial),
      "gpio-write": direct(hal.gpioWrite) ?? ((pin, value) => h["gpio-write"](pin, value)),
      "gpio-read": direct(hal.gpioRead) ?? ((pin) => h["gpio-read"](pin)),
      "log-write": (task, ptr, len) => { h["log-write"](task, bytesAt(ptr, len)); },
      "app-copy-in": (task, appPtr, len, ret) => returnList(ret, h["app-copy-in"](task, appPtr >>> 0, len >>> 0), len),
      "app-copy-out": (task, appPtr, ptr, len) => h["app-copy-out"](task, appPtr >>> 0, bytesAt(ptr, len)),
      "app-memory-bytes": direct(hal.appMemoryBytes) ?? ((task) => h["app-memory-bytes"](task)),
      "flash-read": (block, off, len, ret) => returnList(ret, h["flash-read"](block >>> 0, off >>> 0, len >>> 0), len),
      "flash-prog": (block, off, ptr, len) => h["flash-prog"](block >>> 0, off >>> 0, bytesAt(ptr, len)),
      "flash-erase": (block) => h["flash-erase"](block >>> 0),
      "flash-sync": () => h["flash-sync"](),
      "periph-control": (id, fn, op, arg, ptr, len) => h["periph-control"](id >>> 0, fn >>> 0, op >>> 0, arg >>> 0, bytesAt(ptr, len)),
      "periph-read": (id, fn, op, arg, ptr, len, maxLen, ret) =>
        returnList(ret, h["periph-read"](id >>> 0, fn >>> 0, op >>> 0, arg >>> 0, bytesAt(ptr, len), maxLen >>> 0), maxLen, true),
      "mailbox-post": (ptr, len) => h["mailbox-post"](bytesAt(ptr, len)),
      "net-control": (socket, op, arg, ptr, len) => h["net-control"](socket >>> 0, op >>> 0, arg >>> 0, bytesAt(ptr, len)),
      "net-read": (socket, op, arg, maxLen, ret) => returnList(ret, h["net-read"](socket >>> 0, op >>> 0, arg >>> 0, maxLen >>> 0), maxLen, true),
      "panic": (msgPtr, msgLen, filePtr, fileLen, line, column) =>
        h.panic(bytesAt(msgPtr, msgLen), bytesAt(filePtr, fileLen), line >>> 0, column >>> 0),
    };
    const instance = new WebAssembly.Instance(module, { [HAL_MODULE]: imports });
    this.memory = instance.exports.memory as WebAssembly.Memory;
    this.raw = instance.exports as unknown as Raw;
    this.exports = tapCore(this.lift(), tap);
  }

  memoryBytes(): number { return this.memory.buffer.byteLength; }

  lastError(): string { return decodeUtf8(this.exports.core_error_message()); }

  /**
   * Copies `bytes` into memory the core hands out (cabi_realloc) and returns its address. A list
   * longer than the arena is refused before the core is called; one that does not fit what is
   * left traps in cabi_realloc, with the core unchanged; both are thrown as CabiArenaFull.
   */
  private lowerList(bytes: Uint8Array): number {
    if (bytes.length > CABI_ARENA_BYTES) throw new CabiArenaFull(`a list of ${bytes.length} bytes is longer than the core's ${CABI_ARENA_BYTES}-byte cabi arena`);
    let ptr: number;
    try { ptr = this.raw.cabi_realloc(0, 0, 1, bytes.length) >>> 0; } catch (err) {
      if (err instanceof WebAssembly.RuntimeError) throw new CabiArenaFull(`a list of ${bytes.length} bytes does not fit what is left of the core's cabi arena`);
      throw err;
    }
    if (ptr + bytes.length > this.memory.buffer.byteLength) throw new CorePanic(`cabi_realloc returned ${ptr}, outside the core's memory`);
    new Uint8Array(this.memory.buffer).set(bytes, ptr);
    return ptr;
  }

  private listAt(ptr: number, len: number): Uint8Array {
    const start = ptr >>> 0, n = len >>> 0, mem = new Uint8Array(this.memory.buffer);
    if (start + n > mem.length) throw new CorePanic(`the core returned a list [${start}, +${n}) outside its memory`);
    return mem.slice(start, start + n);
  }

  /** The WIT-level exports over the lowered ones, per EXPORT_SHAPES. */
  private lift(): CoreExports {
    const out: Record<string, (...a: any[]) => unknown> = {};
    for (const [name, [, params, result]] of Object.entries(EXPORT_SHAPES) as [ExportName, (typeof EXPORT_SHAPES)[ExportName]][]) {
      const fn = this.raw[loweredExportName(name)];
      if (typeof fn !== "function") continue; // a variant without this part (no-fs, fs-readonly)
      const lift = this.resultLifter(result);
      out[name] = params.includes("L")
        ? (...args: (number | Uint8Array)[]) => {
          const flat: number[] = [];
          for (let i = 0; i < params.length; i++) {
            if (params[i] === "L") { const b = args[i] as Uint8Array; flat.push(this.lowerList(b), b.length); } else flat.push(args[i] as number);
          }
          return lift(fn(...flat));
        }
        : result === "n" ? fn : (...args: number[]) => lift(fn(...args));
    }
    return out as unknown as CoreExports;
  }

  private resultLifter(shape: ResultShape): (r: number) => unknown {
    const view = () => new DataView(this.memory.buffer);
    const u32 = (at: number) => view().getUint32(at, true);
    /** A result<_, s32>: the ok payload (read at ret + 4), or the errno. */
    // `payloadOffset` is 8 for an ok type holding a u64 (8-aligned), else 4; `areaBytes` the result's size.
    const result = <T>(ok: (payloadAt: number) => T, payloadOffset = 4, areaBytes = 32) => (ret: number): OrErrno<T> => {
      ret >>>= 0;
      if (ret + areaBytes > this.memory.buffer.byteLength) throw new CorePanic(`the core returned a return area at ${ret}, outside its memory`);
      const tag = view().getUint8(ret);
      if (tag === 1) return view().getInt32(ret + payloadOffset, true);
      if (tag !== 0) throw new CorePanic(`the core returned a result tagged ${tag}`);
      return ok(ret + payloadOffset);
    };
    const list = (at: number) => this.listAt(u32(at), u32(at + 4));
    switch (shape) {
      case "n": return (r) => r;
      case "list": return (ret) => this.listAt(u32(ret >>> 0), u32((ret >>> 0) + 4));
      case "result-list": return result(list);
      case "result-stat": return result((at) => ({ kind: view().getUint8(at), size: u32(at + 4) }));
      case "result-dir": return result((at) => view().getUint8(at) === 0 ? null
        : { kind: view().getUint8(at + 4), size: u32(at + 8), name: this.listAt(u32(at + 12), u32(at + 16)) });
      case "result-info": return result((at) => ({
        diskVersion: u32(at), blockSize: u32(at + 4), blockCount: u32(at + 8), nameMax: u32(at + 12), fileMax: u32(at + 16), attrMax: u32(at + 20),
      }));
      case "result-fault": return result((at) => ({ code: u32(at), detail: [u32(at + 4), u32(at + 8), u32(at + 12), u32(at + 16)] as [number, number, number, number] }));
      case "result-mount": return result((at) => ({
        baseBlock: u32(at), blockCount: u32(at + 4), mountFlags: u32(at + 8), owner: view().getInt32(at + 12, true), ramBytes: u32(at + 16),
      }));
      // pkg-info: 88 bytes, 8-aligned (build-time), so the payload is at 8 and the result 96 bytes.
      case "result-pkg": return result((at): PkgInfoRecord => ({
        imageType: u32(at), componentId: list(at + 4), imageId: list(at + 12), version: u32(at + 20), buildTime: view().getBigUint64(at + 24, true),
        name: list(at + 32), abiVersion: u32(at + 40), fsBlockBytes: u32(at + 44), fsBlockCount: u32(at + 48), fsCrc: u32(at + 52),
        metadataOffset: u32(at + 56), metadataBytes: u32(at + 60), sigAlgorithm: u32(at + 64), sigKeyId: list(at + 68), signature: list(at + 76),
        signedBytes: u32(at + 84),
      }), 8, 96);
      // list<partition-entry>: 12-byte elements (u16 type, u16 flags, u32 offset, u32 size).
      case "result-partitions": return result((at): PartitionEntryRecord[] => {
        const count = u32(at + 4);
        if (count * 12 > this.memory.buffer.byteLength) throw new CorePanic(`the core returned a list of ${count} partition entries, more than its memory holds`);
        const bytes = this.listAt(u32(at), count * 12), v = new DataView(bytes.buffer);
        return Array.from({ length: bytes.length / 12 }, (_, i) => ({
          type: v.getUint16(i * 12, true), flags: v.getUint16(i * 12 + 2, true), offsetBytes: v.getUint32(i * 12 + 4, true), sizeBytes: v.getUint32(i * 12 + 8, true),
        }));
      });
    }
  }
}
