// board: the device's peripheral interfaces, as its board description names them.
//
// What it is: the table the host fills at boot with board_add (wit kernel `board-add`), one row
// per interface of the hardware definition (SPEC.md, "Hardware definition"): its name (`ISU0`,
// `ADC-CONTROLLER-0`), the functions it can serve (PERIPH_* bits: an ISU is a UART, an I2C master
// or an SPI master, one at a time), its channel count (ADC and PWM) and the GPIO pins it muxes.
// An interface's id is its row: the order board_add was called in, which is the hardware
// definition's order, so an app's constant for ISU0 means the same interface on every boot.
// Manifests name interfaces by name (checked once, at install); syscalls by id.
// Invariants: names are unique; a pin belongs to at most one interface; every pin is below the
// device's GPIO pin count; the table only grows between kernel resets (ids never move).
// Budget: BOARD_TABLE_BYTES static bytes (BOARD_MAX_INTERFACES rows of BOARD_ROW_BYTES).
// Must not: allocate, or decide who may use an interface (caps and the units do).
import {
  BOARD_MAX_INTERFACES, BOARD_NAME_MAX_BYTES, BOARD_MAX_CHANNELS, MAX_GPIO_PINS, EINVAL, EEXIST, ENOSPC, ENODEV,
  PERIPH_UART, PERIPH_I2C, PERIPH_SPI, PERIPH_ADC, PERIPH_PWM,
} from "../abi";
import { msgClear, msgStr, msgInt, msgBytes } from "../util/msg";

export const PERIPH_ALL: i32 = PERIPH_UART | PERIPH_I2C | PERIPH_SPI | PERIPH_ADC | PERIPH_PWM;

// Row: name (BOARD_NAME_MAX_BYTES), name length u8, functions u8, channels u8, pad u8, pins (128 bits).
const NAME_OFF: usize = 0;
const LEN_OFF: usize = <usize>BOARD_NAME_MAX_BYTES;
const FN_OFF: usize = LEN_OFF + 1;
const CH_OFF: usize = LEN_OFF + 2;
const PINS_OFF: usize = LEN_OFF + 4;
const ROW: usize = PINS_OFF + <usize>(MAX_GPIO_PINS / 8);
export const BOARD_ROW_BYTES: i32 = <i32>ROW;
export const BOARD_TABLE_BYTES: i32 = BOARD_MAX_INTERFACES * <i32>ROW;
const rows = memory.data(BOARD_TABLE_BYTES, 4);
let count: i32 = 0;

function rowAt(id: i32): usize { return rows + <usize>id * ROW; }

/** Forgets every interface (kernel reset). */
export function boardReset(): void {
  memory.fill(rows, 0, <usize>BOARD_TABLE_BYTES);
  count = 0;
}

/** How many interfaces the board has; their ids are 0..count-1. */
export function boardCount(): i32 { return count; }
/** Is `id` an interface of the board? */
export function boardValid(id: i32): bool { return id >= 0 && id < count; }
/** The PERIPH_* functions interface `id` (valid) can serve. */
export function boardFunctions(id: i32): i32 { return <i32>load<u8>(rowAt(id) + FN_OFF); }
/** Does interface `id` exist and serve `fn` (one PERIPH_* bit)? */
export function boardServes(id: i32, fn: i32): bool { return boardValid(id) && (boardFunctions(id) & fn) != 0; }
/** ADC or PWM channels of interface `id` (valid). */
export function boardChannels(id: i32): i32 { return <i32>load<u8>(rowAt(id) + CH_OFF); }
export function boardNamePtr(id: i32): usize { return rowAt(id) + NAME_OFF; }
export function boardNameLen(id: i32): i32 { return <i32>load<u8>(rowAt(id) + LEN_OFF); }
/** Does interface `id` (valid) mux `pin`? */
export function boardHasPin(id: i32, pin: i32): bool {
  if (pin < 0 || pin >= MAX_GPIO_PINS) return false;
  return (<i32>load<u8>(rowAt(id) + PINS_OFF + <usize>(pin >> 3)) & (1 << (pin & 7))) != 0;
}
/** The interface muxing `pin`, or -1. */
export function boardPinInterface(pin: i32): i32 {
  for (let id = 0; id < count; id++) if (boardHasPin(id, pin)) return id;
  return -1;
}

/** The interface named by the `len` bytes at `ptr` that serves `fn` (0: any), or -1. */
export function boardFind(ptr: usize, len: i32, fn: i32): i32 {
  for (let id = 0; id < count; id++) {
    if (boardNameLen(id) != len || (fn != 0 && (boardFunctions(id) & fn) == 0)) continue;
    if (memory.compare(boardNamePtr(id), ptr, <usize>len) == 0) return id;
  }
  return -1;
}

function nameOk(ptr: usize, len: i32): bool {
  if (len < 1 || len > BOARD_NAME_MAX_BYTES) return false;
  for (let i = 0; i < len; i++) {
    const c = <i32>load<u8>(ptr + <usize>i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x5f || c == 0x2d;
    if (!ok) return false;
  }
  return true;
}

/**
 * Adds an interface: its name (`nameLen` bytes at `namePtr`), PERIPH_* `functions`, `channels`
 * (1..BOARD_MAX_CHANNELS for an ADC or PWM, else 0) and the `pinCount` pins (one byte each) at
 * `pinsPtr`, each below `gpioPinCount`. Its id, or -EINVAL / -EEXIST / -ENOSPC / -ENODEV with
 * the reason in the core's message.
 */
export function boardAdd(namePtr: usize, nameLen: i32, functions: i32, channels: i32, pinsPtr: usize, pinCount: i32, gpioPinCount: i32): i32 {
  msgClear();
  if (!nameOk(namePtr, nameLen)) {
    msgStr("board_add: an interface name is 1 to "); msgInt(BOARD_NAME_MAX_BYTES); msgStr(" bytes of letters, digits, '_' and '-'");
    return -EINVAL;
  }
  if (boardFind(namePtr, nameLen, 0) >= 0) { msgStr("board_add: "); msgBytes(namePtr, nameLen); msgStr(" is already on the board"); return -EEXIST; }
  if (count >= BOARD_MAX_INTERFACES) { msgStr("board_add: the board has its "); msgInt(BOARD_MAX_INTERFACES); msgStr(" interfaces already"); return -ENOSPC; }
  if (functions == 0 || (functions & ~PERIPH_ALL) != 0) { msgStr("board_add: functions must be a non-empty mask of PERIPH_* bits, not "); msgInt(functions); return -EINVAL; }
  const channelled = (functions & (PERIPH_ADC | PERIPH_PWM)) != 0;
  if (channelled ? channels < 1 || channels > BOARD_MAX_CHANNELS : channels != 0) {
    msgStr("board_add: "); msgBytes(namePtr, nameLen);
    msgStr(channelled ? ": an ADC or PWM interface has 1 to 32 channels, not " : ": only an ADC or PWM interface has channels, not ");
    msgInt(channels);
    return -EINVAL;
  }
  const row = rowAt(count);
  memory.fill(row, 0, ROW);
  for (let i = 0; i < pinCount; i++) {
    const pin = <i32>load<u8>(pinsPtr + <usize>i);
    if (pin >= gpioPinCount) {
      msgStr("board_add: "); msgBytes(namePtr, nameLen); msgStr(": pin "); msgInt(pin); msgStr(" is not a GPIO pin of this device");
      return -ENODEV;
    }
    const other = boardPinInterface(pin);
    const bitAddr = row + PINS_OFF + <usize>(pin >> 3);
    const bit: i32 = 1 << (pin & 7);
    const mine = (<i32>load<u8>(bitAddr) & bit) != 0;
    if (other >= 0 || mine) {
      msgStr("board_add: "); msgBytes(namePtr, nameLen); msgStr(": pin "); msgInt(pin); msgStr(" is muxed by ");
      if (mine) msgStr("this interface twice"); else msgBytes(boardNamePtr(other), boardNameLen(other));
      return -EINVAL;
    }
    store<u8>(bitAddr, <u8>(<i32>load<u8>(bitAddr) | bit));
  }
  memory.copy(row + NAME_OFF, namePtr, <usize>nameLen);
  store<u8>(row + LEN_OFF, <u8>nameLen);
  store<u8>(row + FN_OFF, <u8>functions);
  store<u8>(row + CH_OFF, <u8>channels);
  return count++;
}
