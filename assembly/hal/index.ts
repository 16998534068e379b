// hal: every host import of the core, and nothing else.
//
// The core is policy; these are the mechanisms it asks the host for. The imports are the
// canonical-ABI lowering of wit/wasphere.wit's `hal` interface (module "wasphere:core/hal@0.1.0",
// kebab-case names); tests/host/wit.test checks them against the WIT and core.wasm. Above them,
// one wrapper each gives the rest of the core the same calls it always had, with core pointers:
// - a list the core passes (log-write, app-copy-out, flash-prog, panic) is (ptr, len) into core
//   memory, which the host only reads;
// - a list a call returns (flash-read, app-copy-in) is allocated by the host with cabi_realloc in
//   the arena (assembly/cabi.ts) and described in the return area `importRet`; the wrapper checks
//   the description (an ok or err tag, the bytes inside the arena, as many as asked), copies the
//   bytes where the caller wants them and gives the arena space back before returning.
// tests/host/core-imports.test pins the list: an import that appears in core.wasm and not here
// (a stray Date.now, console.log, Math.random) fails the build.
// Must not: hold state, or be called from anything but the subsystem that owns the device.
import { EIO, ENOMEM } from "../abi";
import { importRet, arenaHolds, arenaMark, arenaRelease, arenaFreeBytes } from "../cabi";

@external("wasphere:core/hal@0.1.0", "clock-now-ms")
declare function hal_clock_now_ms(): f64;
@external("wasphere:core/hal@0.1.0", "gpio-configure")
declare function hal_gpio_configure(pin: i32, direction: i32, initial: i32): i32;
@external("wasphere:core/hal@0.1.0", "gpio-write")
declare function hal_gpio_write(pin: i32, value: i32): i32;
@external("wasphere:core/hal@0.1.0", "gpio-read")
declare function hal_gpio_read(pin: i32): i32;
@external("wasphere:core/hal@0.1.0", "log-write")
declare function hal_log_write(task: i32, linePtr: usize, lineLen: i32): void;
@external("wasphere:core/hal@0.1.0", "app-copy-in")
declare function hal_app_copy_in(task: i32, appPtr: i32, len: i32, retPtr: usize): void;
@external("wasphere:core/hal@0.1.0", "app-copy-out")
declare function hal_app_copy_out(task: i32, appPtr: i32, bytesPtr: usize, bytesLen: i32): i32;
@external("wasphere:core/hal@0.1.0", "app-memory-bytes")
declare function hal_app_memory_bytes(task: i32): i32;
@external("wasphere:core/hal@0.1.0", "flash-read")
declare function hal_flash_read(block: u32, offset: u32, len: u32, retPtr: usize): void;
@external("wasphere:core/hal@0.1.0", "flash-prog")
declare function hal_flash_prog(block: u32, offset: u32, bytesPtr: usize, bytesLen: u32): i32;
@external("wasphere:core/hal@0.1.0", "flash-erase")
declare function hal_flash_erase(block: u32): i32;
@external("wasphere:core/hal@0.1.0", "flash-sync")
declare function hal_flash_sync(): i32;
@external("wasphere:core/hal@0.1.0", "periph-control")
declare function hal_periph_control(id: u32, fn: u32, op: u32, arg: u32, dataPtr: usize, dataLen: u32): i32;
@external("wasphere:core/hal@0.1.0", "periph-read")
declare function hal_periph_read(id: u32, fn: u32, op: u32, arg: u32, dataPtr: usize, dataLen: u32, maxLen: u32, retPtr: usize): void;
@external("wasphere:core/hal@0.1.0", "mailbox-post")
declare function hal_mailbox_post(framePtr: usize, frameLen: u32): i32;
@external("wasphere:core/hal@0.1.0", "net-control")
declare function hal_net_control(socket: u32, op: u32, arg: u32, dataPtr: usize, dataLen: u32): i32;
@external("wasphere:core/hal@0.1.0", "net-read")
declare function hal_net_read(socket: u32, op: u32, arg: u32, maxLen: u32, retPtr: usize): void;
@external("wasphere:core/hal@0.1.0", "panic")
declare function hal_panic(msgPtr: usize, msgLen: i32, filePtr: usize, fileLen: i32, line: u32, column: u32): void;

/**
 * Lifts the result<list<u8>, s32> a hal call left in `importRet` into `dst` (exactly `len`
 * bytes): 0, the host's negative errno, or -EIO when the host described something else (an
 * unknown tag, a list outside the arena or of another length, an errno that is not negative).
 */
function takeListResult(dst: usize, len: u32): i32 {
  const tag = load<u8>(importRet);
  if (tag == 1) {
    const errno = load<i32>(importRet, 4);
    return errno < 0 ? errno : -EIO;
  }
  if (tag != 0) return -EIO;
  const ptr = <usize>load<u32>(importRet, 4);
  const got = load<u32>(importRet, 8);
  if (got != len || !arenaHolds(ptr, <i32>got)) return -EIO;
  memory.copy(dst, ptr, <usize>len);
  return 0;
}

/** Milliseconds since the device booted (monotonic). */
export function clock_now_ms(): f64 { return hal_clock_now_ms(); }

/** Configures a GPIO pin: direction GPIO_DIR_*, initial level for outputs. 0 or -errno. */
export function gpio_configure(pin: i32, direction: i32, initial: i32): i32 { return hal_gpio_configure(pin, direction, initial); }

/** Drives an output pin. 0 or -errno. */
export function gpio_write(pin: i32, value: i32): i32 { return hal_gpio_write(pin, value); }

/** Reads a pin's level: 0, 1, or -errno. */
export function gpio_read(pin: i32): i32 { return hal_gpio_read(pin); }

/** Emits a log line of an app: `len` bytes at core address `ptr`. */
export function log_write(task: i32, ptr: usize, len: i32): void { hal_log_write(task, ptr, len); }

/** Copies `len` bytes from app memory (task's instance) into core memory. 0, -EFAULT, or -ENOMEM
 *  when the arena cannot hold them now. */
export function app_copy_in(task: i32, appPtr: i32, len: i32, corePtr: usize): i32 {
  if (len < 0) return -EIO;
  if (len > arenaFreeBytes()) return -ENOMEM;
  const mark = arenaMark();
  hal_app_copy_in(task, appPtr, len, importRet);
  const rc = takeListResult(corePtr, <u32>len);
  arenaRelease(mark);
  return rc;
}

/** Copies `len` bytes from core memory into app memory. 0 or -EFAULT. */
export function app_copy_out(task: i32, corePtr: usize, appPtr: i32, len: i32): i32 { return hal_app_copy_out(task, appPtr, corePtr, len); }

/** Bytes of linear memory the task's instance has now (0 when none). */
export function app_memory_bytes(task: i32): i32 { return hal_app_memory_bytes(task); }

/**
 * Flash block device: reads `len` bytes at (block, offset) into core memory. 0 or -errno.
 * A read larger than the arena's free room is made in pieces that fit (one piece when the arena
 * is empty, as it is outside a list-taking export: every read the file system makes is at most
 * FS_IO_CHUNK_BYTES or cache_size); -ENOMEM when no byte fits.
 */
export function flash_read(block: u32, offset: u32, ptr: usize, len: u32): i32 {
  let done: u32 = 0;
  while (done < len) {
    const room = arenaFreeBytes();
    if (room <= 0) return -ENOMEM;
    const n = len - done < <u32>room ? len - done : <u32>room;
    const mark = arenaMark();
    hal_flash_read(block, offset + done, n, importRet);
    const rc = takeListResult(ptr + <usize>done, n);
    arenaRelease(mark);
    if (rc != 0) return rc;
    done += n;
  }
  return 0;
}

/** Programs `len` bytes (erased bytes only) at (block, offset) from core memory. 0 or -errno. */
export function flash_prog(block: u32, offset: u32, ptr: usize, len: u32): i32 { return hal_flash_prog(block, offset, ptr, len); }

/** Erases a block to the erase value. 0 or -errno. */
export function flash_erase(block: u32): i32 { return hal_flash_erase(block); }

/** Flushes the block device. 0 or -errno. */
export function flash_sync(): i32 { return hal_flash_sync(); }

/**
 * A peripheral operation that moves no bytes back (SPEC.md "Peripheral calls"): interface `id`'s
 * function `fn` (PERIPH_*), op, a number and `len` bytes at core address `ptr`. The host's answer:
 * a value >= 0 or a negative errno.
 */
export function periph_control(id: i32, fn: i32, op: i32, arg: i32, ptr: usize, len: i32): i32 {
  return hal_periph_control(<u32>id, <u32>fn, <u32>op, <u32>arg, ptr, <u32>len);
}

/**
 * A peripheral operation that answers bytes: at most `maxLen` of them land at core address `dst`.
 * Their count, the host's negative errno, -ENOMEM when the arena cannot hold `maxLen` now, or
 * -EIO when the host described something else (more bytes than asked, a list outside the arena).
 */
export function periph_read(id: i32, fn: i32, op: i32, arg: i32, ptr: usize, len: i32, dst: usize, maxLen: i32): i32 {
  if (maxLen < 0) return -EIO;
  if (maxLen > arenaFreeBytes()) return -ENOMEM;
  const mark = arenaMark();
  hal_periph_read(<u32>id, <u32>fn, <u32>op, <u32>arg, ptr, <u32>len, <u32>maxLen, importRet);
  const rc = takeBoundedListResult(dst, maxLen);
  arenaRelease(mark);
  return rc;
}

/**
 * Lifts the result<list<u8>, s32> of a call that answers at most `maxLen` bytes into `dst`: their
 * count, the host's negative errno, or -EIO when it described something else (more bytes than
 * asked, a list outside the arena, an unknown tag, an errno that is not negative).
 */
function takeBoundedListResult(dst: usize, maxLen: i32): i32 {
  const tag = load<u8>(importRet);
  if (tag == 1) {
    const errno = load<i32>(importRet, 4);
    return errno < 0 ? errno : -EIO;
  }
  if (tag != 0) return -EIO;
  const at = <usize>load<u32>(importRet, 4);
  const got = load<u32>(importRet, 8);
  if (got > <u32>maxLen || !arenaHolds(at, <i32>got)) return -EIO;
  memory.copy(dst, at, <usize>got);
  return <i32>got;
}

/**
 * A network operation that answers a number (SPEC.md "Network calls"): socket `socket` (a row
 * of drivers/net.ts), its op (NET_OP_*), a number and `len` bytes at core address `ptr`. The
 * host's answer: a value >= 0 or a negative errno.
 */
export function net_control(socket: i32, op: i32, arg: i32, ptr: usize, len: i32): i32 {
  return hal_net_control(<u32>socket, <u32>op, <u32>arg, ptr, <u32>len);
}

/**
 * A network operation that answers bytes (a receive, an interface probe): at most `maxLen` of them
 * land at core address `dst`. Their count, the host's negative errno, -ENOMEM when the arena
 * cannot hold `maxLen` now, or -EIO when the host described something else.
 */
export function net_read(socket: i32, op: i32, arg: i32, dst: usize, maxLen: i32): i32 {
  if (maxLen < 0) return -EIO;
  if (maxLen > arenaFreeBytes()) return -ENOMEM;
  const mark = arenaMark();
  hal_net_read(<u32>socket, <u32>op, <u32>arg, <u32>maxLen, importRet);
  const rc = takeBoundedListResult(dst, maxLen);
  arenaRelease(mark);
  return rc;
}

/**
 * Posts one request frame (SPEC.md "Security processor mailbox", `len` bytes at core address
 * `ptr`) to the security processor. 0 when the host queued it (its answer comes later, through
 * the kernel export mailbox-deliver, never inside this call), or -errno (-ENODEV: no processor).
 */
export function mailbox_post(ptr: usize, len: i32): i32 { return hal_mailbox_post(ptr, <u32>len); }

/** Byte length of an AssemblyScript string (UTF-16 code units, the length in its header). */
function utf16Bytes(str: usize): i32 { return str == 0 ? 0 : load<i32>(str - 4); }

/** A bug in the core (an assertion failed). The host stops the device and reports it. */
export function panic(msgPtr: usize, filePtr: usize, line: u32, column: u32): void {
  hal_panic(msgPtr, utf16Bytes(msgPtr), filePtr, utf16Bytes(filePtr), line, column);
}
