// drivers/uart: UARTs (uart_open with a configuration, non-blocking read and write; Azure
// Sphere's uart.h; ABI.md "Peripherals").
//
// What it is: a driver unit (unit.ts) owning handle kind HANDLE_UART, whose object is the board
// interface id. Opening needs CAP_UART and the interface in the app's UART grants (periphAllows);
// read and write need only compute: the handle is the capability, proved at open. Neither ever
// blocks: a read with nothing received and a write the host cannot take now are -EAGAIN. A UART
// handle is waitable (wait, wait_any): ready while received bytes wait to be read; the host's
// periph-notify tells the armed task when bytes arrive, and wait answers their count.
// Fuel: SYSCALL_FUEL; a call that ran PERIPH_CALL_FUEL more, and COPY_BYTE_FUEL a byte moved.
// Invariants: the configuration the host applies passed the checks here; bytes are moved in
// pieces of at most PERIPH_IO_MAX_BYTES (the call returns how many).
// Budget: no memory of its own (drivers/periph.ts holds the open state and the buffer).
// Must not: wait for the host, or pass the host a configuration it did not check.
import {
  SYS_UART_OPEN, SYS_UART_READ, SYS_UART_WRITE, PERIPH_UART, UART_OP_CONFIGURE, UART_OP_READ, UART_OP_WRITE, UART_OP_PENDING,
  UART_CONFIG_BYTES, UART_MAX_BAUD, UART_PARITY_ODD, UART_FLOW_XON_XOFF, PERIPH_IO_MAX_BYTES, EAGAIN, EINVAL,
} from "../abi";
import { periph_control, periph_read } from "../hal/index";
import { CAP_UART, CAP_COMPUTE } from "../lsm/caps";
import { handleClose, handleIndexOf } from "../handles/table";
import { OP_OWNS, OP_NEEDS, OP_CHECKS, OP_ALLOWS, OP_CALL, OP_FUEL, OP_OWNS_KIND, OP_CLOSE, OP_RESET, OP_WAITABLE, OP_TAKE, OP_READY, OP_ARM, rangeRefused } from "./unit";
import { periphReset, periphArm, periphAllows, periphOpen, periphClose, periphResolve, periphCopyIn, periphCopyOut, periphFuel, periphBuf } from "./periph";

export const HANDLE_UART: i32 = 6;
export const KIND_UART: i32 = 1 << HANDLE_UART;

/** 0 when the UART_CONFIG_BYTES at periphBuf are a configuration a UART can take, else -EINVAL. */
function configRefused(): i32 {
  const baud = load<u32>(periphBuf);
  const dataBits = <i32>load<u8>(periphBuf, 4), parity = <i32>load<u8>(periphBuf, 5);
  const stopBits = <i32>load<u8>(periphBuf, 6), flow = <i32>load<u8>(periphBuf, 7);
  if (baud == 0 || baud > <u32>UART_MAX_BAUD) return -EINVAL;
  if (dataBits < 5 || dataBits > 8 || parity > UART_PARITY_ODD || stopBits < 1 || stopBits > 2 || flow > UART_FLOW_XON_XOFF) return -EINVAL;
  return 0;
}

function sysOpen(task: i32, app: i32, id: i32, configPtr: i32): i32 {
  const copied = periphCopyIn(task, app, SYS_UART_OPEN, configPtr, UART_CONFIG_BYTES, 0);
  if (copied < 0) return copied;
  const bad = configRefused();
  if (bad < 0) return bad;
  const h = periphOpen(task, app, SYS_UART_OPEN, PERIPH_UART, HANDLE_UART, id);
  if (h < 0) return h;
  const rc = periph_control(id, PERIPH_UART, UART_OP_CONFIGURE, 0, periphBuf, UART_CONFIG_BYTES);
  if (rc < 0) { handleClose(handleIndexOf(h)); return rc; }
  return h;
}

function sysRead(task: i32, app: i32, handle: i32, bufPtr: i32, len: i32): i32 {
  const id = periphResolve(task, app, handle, KIND_UART, SYS_UART_READ);
  if (id < 0) return id;
  if (len <= 0) return -EINVAL;
  const max = len < PERIPH_IO_MAX_BYTES ? len : PERIPH_IO_MAX_BYTES;
  const room = rangeRefused(task, app, SYS_UART_READ, bufPtr, max);
  if (room < 0) return room;
  const n = periph_read(id, PERIPH_UART, UART_OP_READ, 0, 0, 0, periphBuf, max);
  if (n <= 0) return n < 0 ? n : -EAGAIN;
  const out = periphCopyOut(task, app, SYS_UART_READ, bufPtr, n, 0);
  return out < 0 ? out : n;
}

function sysWrite(task: i32, app: i32, handle: i32, bufPtr: i32, len: i32): i32 {
  const id = periphResolve(task, app, handle, KIND_UART, SYS_UART_WRITE);
  if (id < 0) return id;
  if (len <= 0) return len < 0 ? -EINVAL : 0;
  const n = len < PERIPH_IO_MAX_BYTES ? len : PERIPH_IO_MAX_BYTES;
  const copied = periphCopyIn(task, app, SYS_UART_WRITE, bufPtr, n, 0);
  if (copied < 0) return copied;
  const rc = periph_control(id, PERIPH_UART, UART_OP_WRITE, 0, periphBuf, n);
  if (rc == 0) return -EAGAIN;
  return rc > n ? -EINVAL : rc;
}

/** The latch of UART `id` (wait, wait_any): the bytes received and not read, or -EAGAIN when none. Takes nothing. */
function pending(id: i32): i32 {
  const n = periph_control(id, PERIPH_UART, UART_OP_PENDING, 0, 0, 0);
  return n > 0 ? n : -EAGAIN;
}

function call(task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32): i32 {
  if (nr == SYS_UART_OPEN) return sysOpen(task, app, a0, a1);
  if (nr == SYS_UART_READ) return sysRead(task, app, a0, a1, a2);
  return sysWrite(task, app, a0, a1, a2);
}

// @ts-ignore: decorator
@inline export function uartOp(op: i32, task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  switch (op) {
    case OP_CALL: return call(task, app, nr, a0, a1, a2);
    case OP_ALLOWS: return periphAllows(app, PERIPH_UART, a0);
    case OP_FUEL: return periphFuel(a2, nr != SYS_UART_OPEN ? a2 : 0);
    case OP_OWNS: return nr >= SYS_UART_OPEN && nr <= SYS_UART_WRITE ? 1 : 0;
    case OP_NEEDS: return <i32>(nr == SYS_UART_OPEN ? CAP_UART : CAP_COMPUTE);
    case OP_CHECKS: return nr == SYS_UART_OPEN ? 1 : 0;
    case OP_OWNS_KIND: return a0 == HANDLE_UART ? 1 : 0;
    case OP_CLOSE: periphClose(a1); return 0;
    case OP_WAITABLE: return a0 == HANDLE_UART ? 1 : 0;
    case OP_TAKE: return pending(a1);
    case OP_READY: return pending(a1) > 0 ? 1 : 0;
    case OP_ARM: periphArm(task, a1, a2 != 0); return 0;
    // The peripheral units' shared open state (periph.ts) is reset here, once.
    case OP_RESET: periphReset(); return 0;
  }
  return 0;
}
