// drivers/spi: SPI masters (open with a chip select and a configuration, reconfigure, a sequence
// of half-duplex transfers under one chip select; Azure Sphere's spi.h; ABI.md "Peripherals").
//
// What it is: a driver unit (unit.ts) owning handle kind HANDLE_SPI, whose object is the board
// interface id. Opening needs CAP_SPI and the interface in the app's SPI grants (periphAllows);
// the other calls need only compute and the handle. The configuration (speed, mode, bit order)
// and chip select are kept with the open interface (periph.ts) and sent with every transfer, as
// a master drives them on every transaction.
// Fuel: SYSCALL_FUEL; a transfer that ran PERIPH_CALL_FUEL more, and COPY_BYTE_FUEL a byte moved.
// Invariants: what the host receives is SPEC.md's encoding, built here from checked values: an
// 8-byte configuration, then per transfer a 4-byte header (kind, 0, length u16) and, for a
// write, its bytes; the encoding and the bytes read fit PERIPH_IO_MAX_BYTES together.
// Budget: no memory of its own (drivers/periph.ts).
// Must not: hand the host a length, mode or chip select it did not check.
import {
  SYS_SPI_OPEN, SYS_SPI_CONFIGURE, SYS_SPI_TRANSFER, PERIPH_SPI, SPI_OP_TRANSFER, SPI_CONFIG_BYTES, SPI_MAX_SPEED_HZ,
  SPI_MAX_CHIP_SELECTS, SPI_TRANSFER_BYTES, SPI_MAX_TRANSFERS, SPI_TRANSFER_WRITE, SPI_TRANSFER_READ, PERIPH_IO_MAX_BYTES, EINVAL,
} from "../abi";
import { periph_read, app_copy_in } from "../hal/index";
import { CAP_SPI, CAP_COMPUTE } from "../lsm/caps";
import { handleClose, handleIndexOf } from "../handles/table";
import { OP_OWNS, OP_NEEDS, OP_CHECKS, OP_ALLOWS, OP_CALL, OP_FUEL, OP_OWNS_KIND, OP_CLOSE, fault, rangeRefused } from "./unit";
import {
  periphAllows, periphOpen, periphClose, periphResolve, periphCopyIn, periphCopyOut, periphFuel, periphBuf, periphDesc,
  periphSpiSet, periphSpiChipSelect, periphSpiSpeedHz, periphSpiMode, periphSpiLsbFirst,
} from "./periph";

export const HANDLE_SPI: i32 = 8;
export const KIND_SPI: i32 = 1 << HANDLE_SPI;

/** Takes the SPI_CONFIG_BYTES at periphBuf for interface `id` with `chipSelect`: 0 or -EINVAL. */
function configure(id: i32, chipSelect: i32): i32 {
  const speedHz = load<u32>(periphBuf);
  const mode = <i32>load<u8>(periphBuf, 4), lsbFirst = <i32>load<u8>(periphBuf, 5);
  if (speedHz == 0 || speedHz > <u32>SPI_MAX_SPEED_HZ || mode > 3 || lsbFirst > 1 || load<u16>(periphBuf, 6) != 0) return -EINVAL;
  periphSpiSet(id, chipSelect, <i32>speedHz, mode, lsbFirst);
  return 0;
}

function sysOpen(task: i32, app: i32, id: i32, chipSelect: i32, configPtr: i32): i32 {
  if (chipSelect < 0 || chipSelect >= SPI_MAX_CHIP_SELECTS) return -EINVAL;
  const copied = periphCopyIn(task, app, SYS_SPI_OPEN, configPtr, SPI_CONFIG_BYTES, 0);
  if (copied < 0) return copied;
  const h = periphOpen(task, app, SYS_SPI_OPEN, PERIPH_SPI, HANDLE_SPI, id);
  if (h < 0) return h;
  const rc = configure(id, chipSelect);
  if (rc < 0) { handleClose(handleIndexOf(h)); return rc; }
  return h;
}

function sysConfigure(task: i32, app: i32, handle: i32, configPtr: i32): i32 {
  const id = periphResolve(task, app, handle, KIND_SPI, SYS_SPI_CONFIGURE);
  if (id < 0) return id;
  const copied = periphCopyIn(task, app, SYS_SPI_CONFIGURE, configPtr, SPI_CONFIG_BYTES, 0);
  if (copied < 0) return copied;
  return configure(id, periphSpiChipSelect(id));
}

function sysTransfer(task: i32, app: i32, handle: i32, transfersPtr: i32, count: i32): i32 {
  const id = periphResolve(task, app, handle, KIND_SPI, SYS_SPI_TRANSFER);
  if (id < 0) return id;
  if (count < 1 || count > SPI_MAX_TRANSFERS) return -EINVAL;
  // The descriptors first (they name the app's buffers), then each one's bytes.
  const descBytes = count * SPI_TRANSFER_BYTES;
  const copied = app_copy_in(task, transfersPtr, descBytes, periphDesc);
  if (copied < 0) return fault(task, app, SYS_SPI_TRANSFER, transfersPtr, copied);
  let encoded = SPI_CONFIG_BYTES, readTotal = 0, moved = 0;
  for (let i = 0; i < count; i++) {
    const d = periphDesc + <usize>(i * SPI_TRANSFER_BYTES);
    const flags = load<u32>(d), len = load<i32>(d, 8);
    if ((flags != SPI_TRANSFER_WRITE && flags != SPI_TRANSFER_READ) || len < 1 || len > 0xffff) return -EINVAL;
    const isWrite = flags == SPI_TRANSFER_WRITE;
    const need = 4 + (isWrite ? len : 0);
    if (encoded + need + readTotal + (isWrite ? 0 : len) > PERIPH_IO_MAX_BYTES) return -EINVAL;
    store<u8>(periphBuf + <usize>encoded, <u8>flags);
    store<u8>(periphBuf + <usize>encoded, 0, 1);
    store<u16>(periphBuf + <usize>encoded, <u16>len, 2);
    if (isWrite) {
      const w = periphCopyIn(task, app, SYS_SPI_TRANSFER, load<i32>(d, 4), len, encoded + 4);
      if (w < 0) return w;
    } else {
      const room = rangeRefused(task, app, SYS_SPI_TRANSFER, load<i32>(d, 4), len);
      if (room < 0) return room;
      readTotal += len;
    }
    encoded += need;
    moved += len;
  }
  store<u32>(periphBuf, <u32>periphSpiSpeedHz(id));
  store<u8>(periphBuf, <u8>periphSpiMode(id), 4);
  store<u8>(periphBuf, <u8>periphSpiLsbFirst(id), 5);
  store<u16>(periphBuf, 0, 6);
  const n = periph_read(id, PERIPH_SPI, SPI_OP_TRANSFER, periphSpiChipSelect(id), periphBuf, encoded, periphBuf + <usize>encoded, readTotal);
  if (n < 0) return n;
  if (n != readTotal) return -EINVAL;
  let at = encoded;
  for (let i = 0; i < count; i++) {
    const d = periphDesc + <usize>(i * SPI_TRANSFER_BYTES);
    if (load<u32>(d) != SPI_TRANSFER_READ) continue;
    const len = load<i32>(d, 8);
    const out = periphCopyOut(task, app, SYS_SPI_TRANSFER, load<i32>(d, 4), len, at);
    if (out < 0) return out;
    at += len;
  }
  return moved;
}

function call(task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32): i32 {
  if (nr == SYS_SPI_OPEN) return sysOpen(task, app, a0, a1, a2);
  if (nr == SYS_SPI_CONFIGURE) return sysConfigure(task, app, a0, a1);
  return sysTransfer(task, app, a0, a1, a2);
}

// @ts-ignore: decorator
@inline export function spiOp(op: i32, task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  switch (op) {
    case OP_CALL: return call(task, app, nr, a0, a1, a2);
    case OP_ALLOWS: return periphAllows(app, PERIPH_SPI, a0);
    case OP_FUEL: return periphFuel(a2, nr == SYS_SPI_TRANSFER ? a2 : 0);
    case OP_OWNS: return nr >= SYS_SPI_OPEN && nr <= SYS_SPI_TRANSFER ? 1 : 0;
    case OP_NEEDS: return <i32>(nr == SYS_SPI_OPEN ? CAP_SPI : CAP_COMPUTE);
    case OP_CHECKS: return nr == SYS_SPI_OPEN ? 1 : 0;
    case OP_OWNS_KIND: return a0 == HANDLE_SPI ? 1 : 0;
    case OP_CLOSE: periphClose(a1); return 0;
  }
  return 0;
}
