// Shared by the kernel specs: the "spec" stand-ins of as-pect.config.js (a settable clock, app
// memories, captured logs) and helpers that boot the kernel and install manifests through the
// exports, as the host does.
import { coreRebootForSpec } from "../../assembly/appmgr/lifecycle";
import { app_install, app_start, core_error_message } from "../../assembly/exports";
import { cabi_realloc } from "../../assembly/cabi";

@external("spec", "set_clock_ms") export declare function setClockMs(ms: f64): void;
@external("spec", "app_memory_enable") export declare function appMemoryEnable(on: i32): void;
@external("spec", "app_poke") export declare function appPoke(task: i32, appPtr: i32, corePtr: usize, len: i32): void;
@external("spec", "app_peek") export declare function appPeek(task: i32, appPtr: i32, corePtr: usize, len: i32): void;
@external("spec", "log_count") export declare function logCount(): i32;
@external("spec", "log_copy_last") export declare function logCopyLast(corePtr: usize): i32;
@external("spec", "gpio_level") export declare function gpioLevel(pin: i32): i32;

export const CEILING_BYTES: i32 = 1 << 20;
export const DEFAULT_QUOTA_BYTES: i32 = 256 << 10;

/** A freshly booted kernel: 96 pins, 1 MiB ceiling, 256 KiB default quota, clock at 0 ms. */
export function boot(pins: i32 = 96): void {
  setClockMs(0);
  appMemoryEnable(0);
  const rc = coreRebootForSpec(pins, CEILING_BYTES, DEFAULT_QUOTA_BYTES);
  if (rc != 0) unreachable();
}

/** Installs `json` as the host does: lowered into the cabi arena; the slot or -errno. */
export function install(json: string): i32 {
  const bytes = String.UTF8.encode(json);
  const ptr = cabi_realloc(0, 0, 1, <usize>bytes.byteLength);
  memory.copy(ptr, changetype<usize>(bytes), <usize>bytes.byteLength);
  return app_install(ptr, bytes.byteLength);
}

/** The core's last error message. */
export function lastError(): string {
  const ret = core_error_message();
  return String.UTF8.decodeUnsafe(<usize>load<u32>(ret), <usize>load<u32>(ret, 4));
}

/** A valid manifest for `name`, with `id`'s last 12 hex digits and extra fields (", ..."). */
export function manifest(name: string, idSuffix: string, extra: string = ""): string {
  return "{\"SchemaVersion\": 1, \"Name\": \"" + name + "\", \"ComponentId\": \"1689d8b2-c835-2e27-27ad-" + idSuffix +
    "\", \"EntryPoint\": \"" + name + ".wasm\"" + extra + "}";
}

/** Installs and starts an app; returns its task. */
export function startApp(json: string): i32 {
  const slot = install(json);
  if (slot < 0) unreachable();
  const task = app_start(slot);
  if (task < 0) unreachable();
  return task;
}
