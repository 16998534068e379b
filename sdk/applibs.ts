// applibs: the wasphere app SDK for AssemblyScript.
//
// Typed wrappers over the app ABI (ABI.md, "App imports"). Every function here is a syscall: the
// core checks it against the app's manifest, and a refusal comes back as a negative errno
// (-EACCES = -13), never as a trap. `wasphere run` and `wasphere image-package pack-application`
// build an app with asconfig.json's `app` target (--memoryBase 8192, which keeps the runtime's low
// 8 KiB free, and --use abort=~lib/@wasphere/sdk/applibs/abort, the `abort` below).

@external("applibs", "exit") declare function sys_exit(code: i32): void;
@external("applibs", "yield") declare function sys_yield(): i32;
@external("applibs", "sleep_ms") declare function sys_sleep_ms(ms: i32): i32;
@external("applibs", "clock_ms") declare function sys_clock_ms(): i32;
@external("applibs", "log") declare function sys_log(ptr: usize, len: i32): i32;
@external("applibs", "gpio_open_output") declare function sys_gpio_open_output(pin: i32, initial: i32): i32;
@external("applibs", "gpio_open_input") declare function sys_gpio_open_input(pin: i32): i32;
@external("applibs", "gpio_set") declare function sys_gpio_set(handle: i32, value: i32): i32;
@external("applibs", "gpio_get") declare function sys_gpio_get(handle: i32): i32;
@external("applibs", "close") declare function sys_close(handle: i32): i32;
@external("applibs", "timer_create") declare function sys_timer_create(periodMs: i32): i32;
@external("applibs", "wait") declare function sys_wait(handle: i32, timeoutMs: i32): i32;
@external("applibs", "mem_quota_bytes") declare function sys_mem_quota_bytes(): i32;
@external("applibs", "mem_in_use_bytes") declare function sys_mem_in_use_bytes(): i32;
@external("applibs", "mem_peak_bytes") declare function sys_mem_peak_bytes(): i32;

export const EACCES: i32 = -13;
export const EBADF: i32 = -9;
export const ETIMEDOUT: i32 = -110;

/** Writes a line to the device log (UTF-8). Returns bytes logged or a negative errno. */
export function log(message: string): i32 {
  const bytes = String.UTF8.encode(message);
  return sys_log(changetype<usize>(bytes), bytes.byteLength);
}

/** Ends the app with an exit code. */
export function exit(code: i32): void { sys_exit(code); }

/** Gives the CPU to the next app of the same priority. */
export function yieldCpu(): void { sys_yield(); }

/** Suspends this app (only this app) for at least `ms` milliseconds. */
export function sleepMs(ms: i32): i32 { return sys_sleep_ms(ms); }

/** Milliseconds since the device booted. */
export function clockMs(): i32 { return sys_clock_ms(); }

export namespace gpio {
  /** Opens a pin granted in the manifest as an output; a handle, or -EACCES / -ENODEV. */
  export function openOutput(pin: i32, initialHigh: bool = false): i32 { return sys_gpio_open_output(pin, initialHigh ? 1 : 0); }
  /** Opens a granted pin as an input; a handle, or -EACCES / -ENODEV. */
  export function openInput(pin: i32): i32 { return sys_gpio_open_input(pin); }
  export function set(handle: i32, high: bool): i32 { return sys_gpio_set(handle, high ? 1 : 0); }
  export function get(handle: i32): i32 { return sys_gpio_get(handle); }
  /** Blocks until the input's level changes (or `timeoutMs` passes; -1 waits forever). */
  export function waitChange(handle: i32, timeoutMs: i32 = -1): i32 { return sys_wait(handle, timeoutMs); }
}

export namespace timer {
  /** A periodic timer; `wait` on it returns the expirations since the last wait. */
  export function create(periodMs: i32): i32 { return sys_timer_create(periodMs); }
  export function wait(handle: i32, timeoutMs: i32 = -1): i32 { return sys_wait(handle, timeoutMs); }
}

export function close(handle: i32): i32 { return sys_close(handle); }

export namespace memory_usage {
  export function quotaBytes(): i32 { return sys_mem_quota_bytes(); }
  export function inUseBytes(): i32 { return sys_mem_in_use_bytes(); }
  export function peakBytes(): i32 { return sys_mem_peak_bytes(); }
}

/** The app's `abort`: log why, then trap, which ends this app only. */
export function abort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  if (message != null) log("abort: " + message + (fileName != null ? " at " + fileName + ":" + line.toString() : ""));
  unreachable();
}
