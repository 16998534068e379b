// drivers/registry: the driver units, and which syscall numbers and handle kinds each owns.
//
// What it is: the one list of units (unitOp's switch, one line a unit) and the tables built from
// it at each kernel reset: for every syscall number its unit and the capability class it needs
// (and whether it has a resource check), for every handle kind its unit, and the masks of kinds
// that close and wait accept. A unit is a file with one entry point xOp(op, ...) (unit.ts).
// Invariants: unit 0 is UNIT_NONE, so a number no unit claims, and every number before the first
// reset, routes nowhere (the hook answers -ENOSYS: deny by default); a number or kind claimed by
// two units is routed to the first and counted in driversConflicts(), which the specs require
// to be 0; kinds are 1..31 (handleResolve's masks are i32 bits).
// Budget: DRIVERS_TABLE_BYTES static bytes; the tables are built in O(SYS_COUNT * UNIT_COUNT).
// Must not: allocate, or be asked anything on the hot path but the tables and unitOp.
import { SYS_COUNT } from "../abi";
import { OP_OWNS, OP_NEEDS, OP_CHECKS, OP_OWNS_KIND, OP_WAITABLE, OP_RESET, OP_FUEL_FLAT } from "./unit";
import { processOp } from "./process";
import { logOp } from "./log";
import { gpioOp } from "./gpio";
import { timerOp } from "./timer";
import { handleUnitOp } from "./handle";
import { storageOp } from "./storage";
import { uartOp } from "./uart";
import { i2cOp } from "./i2c";
import { spiOp } from "./spi";
import { adcOp } from "./adc";
import { pwmOp } from "./pwm";
import { channelOp } from "./channel";
import { cryptoOp } from "./crypto";
import { netOp } from "./net";
import { systimeOp } from "./systime";
import { syseventOp } from "./sysevent";
import { updateOp } from "./update";

export const UNIT_NONE: i32 = 0;
export const UNIT_PROCESS: i32 = 1;
export const UNIT_LOG: i32 = 2;
export const UNIT_GPIO: i32 = 3;
export const UNIT_TIMER: i32 = 4;
export const UNIT_HANDLE: i32 = 5;
export const UNIT_STORAGE: i32 = 6;
export const UNIT_UART: i32 = 7;
export const UNIT_I2C: i32 = 8;
export const UNIT_SPI: i32 = 9;
export const UNIT_ADC: i32 = 10;
export const UNIT_PWM: i32 = 11;
export const UNIT_CHANNEL: i32 = 12;
export const UNIT_CRYPTO: i32 = 13;
export const UNIT_NET: i32 = 14;
export const UNIT_SYSTIME: i32 = 15;
export const UNIT_UPDATE: i32 = 16;
export const UNIT_SYSEVENT: i32 = 17;
export const UNIT_COUNT: i32 = 18;

/**
 * Asks unit `unit` operation `op` (unit.ts). An unknown unit answers 0. Every unit's op function
 * is `@inline` and called only from here, so a syscall reaches its unit's code in one call, not
 * two (about 2 ns of a 17 ns gpio_get round trip: `npm run bench`, group syscall).
 */
export function unitOp(unit: i32, op: i32, task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  switch (unit) {
    case UNIT_PROCESS: return processOp(op, task, app, nr, a0, a1, a2, a3);
    case UNIT_LOG: return logOp(op, task, app, nr, a0, a1, a2, a3);
    case UNIT_GPIO: return gpioOp(op, task, app, nr, a0, a1, a2, a3);
    case UNIT_TIMER: return timerOp(op, task, app, nr, a0, a1, a2, a3);
    case UNIT_HANDLE: return handleUnitOp(op, task, app, nr, a0, a1, a2, a3);
    case UNIT_STORAGE: return storageOp(op, task, app, nr, a0, a1, a2, a3);
    case UNIT_UART: return uartOp(op, task, app, nr, a0, a1, a2, a3);
    case UNIT_I2C: return i2cOp(op, task, app, nr, a0, a1, a2, a3);
    case UNIT_SPI: return spiOp(op, task, app, nr, a0, a1, a2, a3);
    case UNIT_ADC: return adcOp(op, task, app, nr, a0, a1, a2, a3);
    case UNIT_PWM: return pwmOp(op, task, app, nr, a0, a1, a2, a3);
    case UNIT_CHANNEL: return channelOp(op, task, app, nr, a0, a1, a2, a3);
    case UNIT_CRYPTO: return cryptoOp(op, task, app, nr, a0, a1, a2, a3);
    case UNIT_NET: return netOp(op, task, app, nr, a0, a1, a2, a3);
    case UNIT_SYSTIME: return systimeOp(op, task, app, nr, a0, a1, a2, a3);
    case UNIT_SYSEVENT: return syseventOp(op, task, app, nr, a0, a1, a2, a3);
    case UNIT_UPDATE: return updateOp(op, task, app, nr, a0, a1, a2, a3);
  }
  return 0;
}

const KIND_LIMIT: i32 = 32;
// Per syscall number: its unit (u8).
const routes = memory.data(SYS_COUNT);
// Per syscall number: the CAP_* class it needs, with NEEDS_CHECK set when it has a resource check
// and FUEL_FLAT when it always costs SYSCALL_FUEL (its unit's OP_FUEL_FLAT).
const needs = memory.data(SYS_COUNT * 4, 4);
// Per handle kind: its unit (u8).
const kindUnits = memory.data(KIND_LIMIT);
export const DRIVERS_TABLE_BYTES: i32 = SYS_COUNT * 5 + KIND_LIMIT;
const NEEDS_CHECK: u32 = 1 << 31;
const FUEL_FLAT: u32 = 1 << 30;
const NEEDS_FLAGS: u32 = NEEDS_CHECK | FUEL_FLAT;
let kindMaskAll: i32 = 0;
let kindMaskWaitable: i32 = 0;
let conflicts: i32 = 0;

/** Builds the tables from the units and resets each unit's own tables (kernel reset). */
export function driversReset(): void {
  conflicts = 0;
  kindMaskAll = 0;
  kindMaskWaitable = 0;
  for (let nr = 0; nr < SYS_COUNT; nr++) {
    let owner = UNIT_NONE;
    for (let unit = 1; unit < UNIT_COUNT; unit++) {
      if (unitOp(unit, OP_OWNS, -1, -1, nr, 0, 0, 0, 0) == 0) continue;
      if (owner == UNIT_NONE) owner = unit; else conflicts++;
    }
    store<u8>(routes + <usize>nr, <u8>owner);
    let need: u32 = 0;
    if (owner != UNIT_NONE) {
      need = <u32>unitOp(owner, OP_NEEDS, -1, -1, nr, 0, 0, 0, 0) & ~NEEDS_FLAGS;
      if (unitOp(owner, OP_CHECKS, -1, -1, nr, 0, 0, 0, 0) != 0) need |= NEEDS_CHECK;
      if (unitOp(owner, OP_FUEL_FLAT, -1, -1, nr, 0, 0, 0, 0) != 0) need |= FUEL_FLAT;
    }
    store<u32>(needs + (<usize>nr << 2), need);
  }
  for (let kind = 1; kind < KIND_LIMIT; kind++) {
    let owner = UNIT_NONE;
    for (let unit = 1; unit < UNIT_COUNT; unit++) {
      if (unitOp(unit, OP_OWNS_KIND, -1, -1, -1, kind, 0, 0, 0) == 0) continue;
      if (owner == UNIT_NONE) owner = unit; else conflicts++;
    }
    store<u8>(kindUnits + <usize>kind, <u8>owner);
    if (owner == UNIT_NONE) continue;
    kindMaskAll |= 1 << kind;
    if (unitOp(owner, OP_WAITABLE, -1, -1, -1, kind, 0, 0, 0) != 0) kindMaskWaitable |= 1 << kind;
  }
  for (let unit = 1; unit < UNIT_COUNT; unit++) unitOp(unit, OP_RESET, -1, -1, -1, 0, 0, 0, 0);
}

/** The unit syscall `nr` (0..SYS_COUNT-1) routes to, UNIT_NONE when none. */
// @ts-ignore: decorator
@inline export function driverOf(nr: i32): i32 { return load<u8>(routes + <usize>nr); }
/** The CAP_* class syscall `nr` (0..SYS_COUNT-1) needs. */
// @ts-ignore: decorator
@inline export function driverNeeds(nr: i32): u32 { return load<u32>(needs + (<usize>nr << 2)) & ~NEEDS_FLAGS; }
/** Does syscall `nr` (0..SYS_COUNT-1) need its unit's resource check? */
// @ts-ignore: decorator
@inline export function driverChecks(nr: i32): bool { return (load<u32>(needs + (<usize>nr << 2)) & NEEDS_CHECK) != 0; }

/** Does syscall `nr` (0..SYS_COUNT-1) always cost SYSCALL_FUEL (no OP_FUEL to ask)? */
// @ts-ignore: decorator
@inline export function driverFuelFlat(nr: i32): bool { return (load<u32>(needs + (<usize>nr << 2)) & FUEL_FLAT) != 0; }

/** Every kind some unit owns (what close accepts). */
export function kindsAll(): i32 { return kindMaskAll; }
/** The kinds whose unit offers a wake source (what wait accepts). */
export function kindsWaitable(): i32 { return kindMaskWaitable; }
/** Asks the unit owning handle kind `kind` operation `op`, with the kind as a0. */
export function kindOp(op: i32, task: i32, app: i32, nr: i32, kind: i32, a1: i32, a2: i32): i32 {
  const unit = kind > 0 && kind < KIND_LIMIT ? <i32>load<u8>(kindUnits + <usize>kind) : UNIT_NONE;
  return unitOp(unit, op, task, app, nr, kind, a1, a2, 0);
}

/** How many units claim syscall `nr` (the specs check every SYS_* has exactly one). */
export function driversOwning(nr: i32): i32 {
  let n = 0;
  for (let unit = 1; unit < UNIT_COUNT; unit++) if (unitOp(unit, OP_OWNS, -1, -1, nr, 0, 0, 0, 0) != 0) n++;
  return n;
}
/** Numbers or kinds claimed by more than one unit at the last reset (must be 0). */
export function driversConflicts(): i32 { return conflicts; }
