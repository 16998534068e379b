// drivers/i2c: I2C masters (open, bus speed and timeout, write, read, write-then-read to a 7-bit
// target address; Azure Sphere's i2c.h; ABI.md "Peripherals").
//
// What it is: a driver unit (unit.ts) owning handle kind HANDLE_I2C, whose object is the board
// interface id. Opening needs CAP_I2C and the interface in the app's I2C grants (periphAllows);
// the other calls need only compute and the handle. A target that does not acknowledge is
// -ENXIO, a clock held past the timeout -ETIMEDOUT (the host's bus says which).
// Fuel: SYSCALL_FUEL; a call that ran PERIPH_CALL_FUEL more, and COPY_BYTE_FUEL a byte moved.
// Invariants: addresses are 7-bit and not reserved (0x08..0x77) before the host sees them; a
// write-then-read moves at most PERIPH_IO_MAX_BYTES in all (its write and its read share the
// staging buffer, the write first).
// Budget: no memory of its own (drivers/periph.ts).
// Must not: pass the host an address, speed or length it did not check.
import {
  SYS_I2C_OPEN, SYS_I2C_CONFIGURE, SYS_I2C_WRITE, SYS_I2C_READ, SYS_I2C_WRITE_READ, PERIPH_I2C,
  I2C_OP_CONFIGURE, I2C_OP_WRITE, I2C_OP_READ, I2C_OP_WRITE_READ, I2C_SPEED_STANDARD_HZ, I2C_SPEED_FAST_HZ,
  I2C_SPEED_FAST_PLUS_HZ, I2C_MAX_TIMEOUT_MS, I2C_WRITE_READ_DESC_BYTES, PERIPH_IO_MAX_BYTES, EINVAL,
} from "../abi";
import { periph_control, periph_read } from "../hal/index";
import { CAP_I2C, CAP_COMPUTE } from "../lsm/caps";
import { OP_OWNS, OP_NEEDS, OP_CHECKS, OP_ALLOWS, OP_CALL, OP_FUEL, OP_OWNS_KIND, OP_CLOSE, rangeRefused } from "./unit";
import { periphAllows, periphOpen, periphClose, periphResolve, periphCopyIn, periphCopyOut, periphFuel, periphBuf } from "./periph";

export const HANDLE_I2C: i32 = 7;
export const KIND_I2C: i32 = 1 << HANDLE_I2C;

function addressOk(address: i32): bool { return address >= 0x08 && address <= 0x77; }

function sysConfigure(task: i32, app: i32, handle: i32, speedHz: i32, timeoutMs: i32): i32 {
  const id = periphResolve(task, app, handle, KIND_I2C, SYS_I2C_CONFIGURE);
  if (id < 0) return id;
  if (speedHz != I2C_SPEED_STANDARD_HZ && speedHz != I2C_SPEED_FAST_HZ && speedHz != I2C_SPEED_FAST_PLUS_HZ) return -EINVAL;
  if (timeoutMs < 1 || timeoutMs > I2C_MAX_TIMEOUT_MS) return -EINVAL;
  store<u32>(periphBuf, <u32>speedHz);
  store<u32>(periphBuf, <u32>timeoutMs, 4);
  return periph_control(id, PERIPH_I2C, I2C_OP_CONFIGURE, 0, periphBuf, 8);
}

function sysWrite(task: i32, app: i32, handle: i32, address: i32, bufPtr: i32, len: i32): i32 {
  const id = periphResolve(task, app, handle, KIND_I2C, SYS_I2C_WRITE);
  if (id < 0) return id;
  if (!addressOk(address) || len < 1 || len > PERIPH_IO_MAX_BYTES) return -EINVAL;
  const copied = periphCopyIn(task, app, SYS_I2C_WRITE, bufPtr, len, 0);
  if (copied < 0) return copied;
  const rc = periph_control(id, PERIPH_I2C, I2C_OP_WRITE, address, periphBuf, len);
  return rc > len ? -EINVAL : rc;
}

function sysRead(task: i32, app: i32, handle: i32, address: i32, bufPtr: i32, len: i32): i32 {
  const id = periphResolve(task, app, handle, KIND_I2C, SYS_I2C_READ);
  if (id < 0) return id;
  if (!addressOk(address) || len < 1 || len > PERIPH_IO_MAX_BYTES) return -EINVAL;
  const room = rangeRefused(task, app, SYS_I2C_READ, bufPtr, len);
  if (room < 0) return room;
  const n = periph_read(id, PERIPH_I2C, I2C_OP_READ, address, 0, 0, periphBuf, len);
  if (n < 0) return n;
  // A master clocks out every byte it asked for: a short answer from the host is a host fault.
  if (n != len) return -EINVAL;
  const out = periphCopyOut(task, app, SYS_I2C_READ, bufPtr, n, 0);
  return out < 0 ? out : n;
}

/** Its result is the bytes moved in all, write and read, as I2CMaster_WriteThenRead's. */
function sysWriteRead(task: i32, app: i32, handle: i32, address: i32, descPtr: i32): i32 {
  const id = periphResolve(task, app, handle, KIND_I2C, SYS_I2C_WRITE_READ);
  if (id < 0) return id;
  if (!addressOk(address)) return -EINVAL;
  const copied = periphCopyIn(task, app, SYS_I2C_WRITE_READ, descPtr, I2C_WRITE_READ_DESC_BYTES, 0);
  if (copied < 0) return copied;
  const writePtr = load<i32>(periphBuf), writeLen = load<i32>(periphBuf, 4);
  const readPtr = load<i32>(periphBuf, 8), readLen = load<i32>(periphBuf, 12);
  if (writeLen < 1 || readLen < 1 || writeLen > PERIPH_IO_MAX_BYTES || readLen > PERIPH_IO_MAX_BYTES - writeLen) return -EINVAL;
  const written = periphCopyIn(task, app, SYS_I2C_WRITE_READ, writePtr, writeLen, 0);
  if (written < 0) return written;
  const room = rangeRefused(task, app, SYS_I2C_WRITE_READ, readPtr, readLen);
  if (room < 0) return room;
  const n = periph_read(id, PERIPH_I2C, I2C_OP_WRITE_READ, address, periphBuf, writeLen, periphBuf + <usize>writeLen, readLen);
  if (n < 0) return n;
  if (n != readLen) return -EINVAL;
  const out = periphCopyOut(task, app, SYS_I2C_WRITE_READ, readPtr, n, writeLen);
  return out < 0 ? out : writeLen + n;
}

function call(task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  if (nr == SYS_I2C_OPEN) return periphOpen(task, app, nr, PERIPH_I2C, HANDLE_I2C, a0);
  if (nr == SYS_I2C_CONFIGURE) return sysConfigure(task, app, a0, a1, a2);
  if (nr == SYS_I2C_WRITE) return sysWrite(task, app, a0, a1, a2, a3);
  if (nr == SYS_I2C_READ) return sysRead(task, app, a0, a1, a2, a3);
  return sysWriteRead(task, app, a0, a1, a2);
}

// @ts-ignore: decorator
@inline export function i2cOp(op: i32, task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  switch (op) {
    case OP_CALL: return call(task, app, nr, a0, a1, a2, a3);
    case OP_ALLOWS: return periphAllows(app, PERIPH_I2C, a0);
    case OP_FUEL: return periphFuel(a2, nr >= SYS_I2C_WRITE ? a2 : 0);
    case OP_OWNS: return nr >= SYS_I2C_OPEN && nr <= SYS_I2C_WRITE_READ ? 1 : 0;
    case OP_NEEDS: return <i32>(nr == SYS_I2C_OPEN ? CAP_I2C : CAP_COMPUTE);
    case OP_CHECKS: return nr == SYS_I2C_OPEN ? 1 : 0;
    case OP_OWNS_KIND: return a0 == HANDLE_I2C ? 1 : 0;
    case OP_CLOSE: periphClose(a1); return 0;
  }
  return 0;
}
