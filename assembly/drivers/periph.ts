// drivers/periph: what the peripheral units (uart, i2c, spi, adc, pwm) share.
//
// What it is: the open state of each board interface (which handle has it open, and the SPI
// settings that travel with each transfer), the one I/O buffer their calls stage bytes in, and
// the steps every peripheral syscall takes the same way: open an interface the app was granted
// (the hook proved the grant: OP_ALLOWS is periphAllows), resolve a handle of the unit's kind,
// copy app bytes in and out, and release the interface when its handle closes.
// Invariants: an interface is open through at most one handle at a time (-EBUSY otherwise), and
// only for the one function its app was granted; the host is told of every open and close
// (PERIPH_OP_OPEN / PERIPH_OP_CLOSE), so it can put the part back to its idle state when an app
// closes, stops or crashes.
// Budget: PERIPH_TABLE_BYTES static bytes: BOARD_MAX_INTERFACES rows of 24 bytes, the
// PERIPH_IO_MAX_BYTES buffer and SPI's descriptor copy (one call at a time uses them; the core is
// not re-entrant).
// Must not: allocate, or let a call reach an interface through anything but a resolved handle.
import {
  BOARD_MAX_INTERFACES, PERIPH_IO_MAX_BYTES, PERIPH_OP_OPEN, PERIPH_OP_CLOSE, EBUSY, ENODEV, EINVAL,
  SYSCALL_FUEL, PERIPH_CALL_FUEL, COPY_BYTE_FUEL, SPI_MAX_TRANSFERS, SPI_TRANSFER_BYTES,
} from "../abi";
import { app_copy_in, app_copy_out, periph_control } from "../hal/index";
import { capsOf, capsHasInterface } from "../lsm/caps";
import { boardServes } from "../board/board";
import { handleAlloc, handleResolve, handleClose, handleIndexOf, handleObject } from "../handles/table";
import { fault, refuseHandle } from "./unit";
import { waitSetEvent } from "./waitset";
import { NO_TASK } from "../task/table";

// Row: open handle index i32, function i32, SPI chip select i32, SPI speed Hz i32, SPI mode u8,
// SPI LSB-first u8, 2 bytes pad, the task armed to hear of the interface's next input i32.
const ROW: usize = 24;
const rows = memory.data(BOARD_MAX_INTERFACES * <i32>ROW, 4);
/** Where a call stages the bytes it moves (PERIPH_IO_MAX_BYTES). */
export const periphBuf: usize = memory.data(PERIPH_IO_MAX_BYTES, 8);
/** Where spi_transfer keeps the app's transfer descriptors while it stages their bytes. */
export const periphDesc: usize = memory.data(SPI_MAX_TRANSFERS * SPI_TRANSFER_BYTES, 4);
export const PERIPH_TABLE_BYTES: i32 = BOARD_MAX_INTERFACES * <i32>ROW + PERIPH_IO_MAX_BYTES + SPI_MAX_TRANSFERS * SPI_TRANSFER_BYTES;

function rowAt(id: i32): usize { return rows + <usize>id * ROW; }

/** Forgets every open interface (kernel reset; their handles are gone with the handle table). */
export function periphReset(): void { memory.fill(rows, 0, <usize>BOARD_MAX_INTERFACES * ROW); }

/**
 * The resource check of a peripheral open (OP_ALLOWS): `app` holds interface `id` for `fn`. An
 * id that is not such an interface of the board passes, so that the open answers -ENODEV (the
 * hardware definition is public; an app learns nothing a manifest would not tell it).
 */
export function periphAllows(app: i32, fn: i32, id: i32): i32 {
  if (!boardServes(id, fn)) return 1;
  return capsHasInterface(capsOf(app), fn, id) ? 1 : 0;
}

/** Opens interface `id` as `fn` for `task` with a handle of `kind`: the handle, or -errno. */
export function periphOpen(task: i32, app: i32, nr: i32, fn: i32, kind: i32, id: i32): i32 {
  if (!boardServes(id, fn)) return -ENODEV;
  const row = rowAt(id);
  if (load<i32>(row) != 0) return -EBUSY;
  const h = handleAlloc(task, kind, id);
  if (h < 0) return refuseHandle(task, app, nr, h);
  memory.fill(row, 0, ROW);
  store<i32>(row, handleIndexOf(h));
  store<i32>(row, fn, 4);
  store<i32>(row, NO_TASK, 20);
  const rc = periph_control(id, fn, PERIPH_OP_OPEN, 0, 0, 0);
  if (rc < 0) { handleClose(handleIndexOf(h)); return rc; }
  return h;
}

/** Releases interface `id` as its handle closes (OP_CLOSE of the unit owning the kind). */
export function periphClose(id: i32): void {
  if (id < 0 || id >= BOARD_MAX_INTERFACES) return;
  const row = rowAt(id);
  if (load<i32>(row) == 0) return;
  const fn = load<i32>(row, 4);
  memory.fill(row, 0, ROW);
  periph_control(id, fn, PERIPH_OP_CLOSE, 0, 0, 0);
}

/** Arms (`on`) or disarms `task` to hear of interface `id`'s next input (OP_ARM). */
export function periphArm(task: i32, id: i32, on: bool): void {
  if (id < 0 || id >= BOARD_MAX_INTERFACES || load<i32>(rowAt(id)) == 0) return;
  if (on) store<i32>(rowAt(id), task, 20);
  else if (load<i32>(rowAt(id), 20) == task) store<i32>(rowAt(id), NO_TASK, 20);
}

/**
 * The host has input for interface `id` (periph-notify: a UART received bytes): tells the task
 * armed on it. 1 when one woke, 0 when none was armed or its wait is not answered yet.
 */
export function periphNotify(id: i32): i32 {
  if (id < 0 || id >= BOARD_MAX_INTERFACES || load<i32>(rowAt(id)) == 0) return 0;
  const task = load<i32>(rowAt(id), 20);
  return task == NO_TASK ? 0 : waitSetEvent(task);
}

/** The interface id of `handle` if `task` holds it with a kind in `kindMask`, else -EBADF (audited). */
export function periphResolve(task: i32, app: i32, handle: i32, kindMask: i32, nr: i32): i32 {
  const index = handleResolve(task, app, handle, kindMask, nr);
  return index < 0 ? index : handleObject(index);
}

/** The open row's SPI settings of interface `id`. */
export function periphSpiChipSelect(id: i32): i32 { return load<i32>(rowAt(id), 8); }
export function periphSpiSpeedHz(id: i32): i32 { return load<i32>(rowAt(id), 12); }
export function periphSpiMode(id: i32): i32 { return <i32>load<u8>(rowAt(id), 16); }
export function periphSpiLsbFirst(id: i32): i32 { return <i32>load<u8>(rowAt(id), 17); }
export function periphSpiSet(id: i32, chipSelect: i32, speedHz: i32, mode: i32, lsbFirst: i32): void {
  const row = rowAt(id);
  store<i32>(row, chipSelect, 8);
  store<i32>(row, speedHz, 12);
  store<u8>(row, <u8>mode, 16);
  store<u8>(row, <u8>lsbFirst, 17);
}

/**
 * Copies `len` (0..PERIPH_IO_MAX_BYTES - at) app bytes at `appPtr` into periphBuf + `at`:
 * 0, -EINVAL for a length out of range, or -EFAULT (recorded) for a bad pointer.
 */
export function periphCopyIn(task: i32, app: i32, nr: i32, appPtr: i32, len: i32, at: i32): i32 {
  if (len < 0 || at < 0 || len > PERIPH_IO_MAX_BYTES - at) return -EINVAL;
  if (len == 0) return 0;
  const rc = app_copy_in(task, appPtr, len, periphBuf + <usize>at);
  return rc < 0 ? fault(task, app, nr, appPtr, rc) : 0;
}

/** Copies `len` bytes of periphBuf + `at` out to the app at `appPtr`: 0 or -EFAULT (recorded). */
export function periphCopyOut(task: i32, app: i32, nr: i32, appPtr: i32, len: i32, at: i32): i32 {
  if (len <= 0) return 0;
  const rc = app_copy_out(task, periphBuf + <usize>at, appPtr, len);
  return rc < 0 ? fault(task, app, nr, appPtr, rc) : 0;
}

/** The fuel of a peripheral call that ran and returned `rc`, having moved `bytes` bytes. */
export function periphFuel(rc: i32, bytes: i32): i32 {
  if (rc < 0) return SYSCALL_FUEL;
  return SYSCALL_FUEL + PERIPH_CALL_FUEL + (bytes > 0 ? bytes * COPY_BYTE_FUEL : 0);
}

/** -EINVAL unless 0 <= channel < the interface's channel count (`channels`). */
export function channelRefused(channel: i32, channels: i32): i32 { return channel >= 0 && channel < channels ? 0 : -EINVAL; }
