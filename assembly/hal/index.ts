// hal: every host import of the core, and nothing else.
//
// The core is policy; these are the mechanisms it asks the host for. Each import is declared here
// once, in module "hal", so the core's whole dependence on its host is this page.
// tests/host/core-imports.test pins the list: an import that appears in core.wasm and not here
// (a stray Date.now, console.log, Math.random) fails the build.
// Pointers passed to the host point into core memory; app pointers are app-relative and the host
// checks them against that app's own memory.
// Must not: hold state, or be called from anything but the subsystem that owns the device.

/** Milliseconds since the device booted (monotonic). */
@external("hal", "clock_now_ms")
export declare function clock_now_ms(): f64;

/** Configures a GPIO pin: direction GPIO_DIR_*, initial level for outputs. 0 or -errno. */
@external("hal", "gpio_configure")
export declare function gpio_configure(pin: i32, direction: i32, initial: i32): i32;

/** Drives an output pin. 0 or -errno. */
@external("hal", "gpio_write")
export declare function gpio_write(pin: i32, value: i32): i32;

/** Reads a pin's level: 0, 1, or -errno. */
@external("hal", "gpio_read")
export declare function gpio_read(pin: i32): i32;

/** Emits a log line of an app: `len` UTF-8 bytes at core address `ptr`. */
@external("hal", "log_write")
export declare function log_write(task: i32, ptr: usize, len: i32): void;

/** Copies `len` bytes from app memory (task's instance) into core memory. 0 or -EFAULT. */
@external("hal", "app_copy_in")
export declare function app_copy_in(task: i32, appPtr: i32, len: i32, corePtr: usize): i32;

/** Copies `len` bytes from core memory into app memory. 0 or -EFAULT. */
@external("hal", "app_copy_out")
export declare function app_copy_out(task: i32, corePtr: usize, appPtr: i32, len: i32): i32;

/** Bytes of linear memory the task's instance has now, or -ESRCH style -errno if none. */
@external("hal", "app_memory_bytes")
export declare function app_memory_bytes(task: i32): i32;

/** Flash block device: read `len` bytes at (block, offset) into core memory. 0 or -errno. */
@external("hal", "flash_read")
export declare function flash_read(block: u32, offset: u32, ptr: usize, len: u32): i32;

/** Programs `len` bytes (erased bytes only) at (block, offset) from core memory. 0 or -errno. */
@external("hal", "flash_prog")
export declare function flash_prog(block: u32, offset: u32, ptr: usize, len: u32): i32;

/** Erases a block to the erase value. 0 or -errno. */
@external("hal", "flash_erase")
export declare function flash_erase(block: u32): i32;

/** Flushes the block device. 0 or -errno. */
@external("hal", "flash_sync")
export declare function flash_sync(): i32;

/** A bug in the core (an assertion failed). The host stops the device and reports it. */
@external("hal", "panic")
export declare function panic(msgPtr: usize, filePtr: usize, line: u32, column: u32): void;
