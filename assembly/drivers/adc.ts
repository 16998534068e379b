// drivers/adc: ADC controllers (open, sample bit count, reference voltage, poll a channel; Azure
// Sphere's adc.h; ABI.md "Peripherals").
//
// What it is: a driver unit (unit.ts) owning handle kind HANDLE_ADC, whose object is the board
// interface id. Opening needs CAP_ADC and the controller in the app's ADC grants (periphAllows);
// the other calls need only compute and the handle, and a channel the controller has (-EINVAL).
// Fuel: SYSCALL_FUEL; a call that ran PERIPH_CALL_FUEL more.
// Invariants: a channel is checked against the board's channel count before the host sees it; a
// reference voltage is passed as microvolts (an integer: no float crosses the boundary).
// Budget: no memory of its own.
// Must not: pass the host a channel the board does not have.
import {
  SYS_ADC_OPEN, SYS_ADC_SAMPLE_BITS, SYS_ADC_SET_REFERENCE, SYS_ADC_POLL, PERIPH_ADC,
  ADC_OP_POLL, ADC_OP_SET_REFERENCE, ADC_OP_SAMPLE_BITS, EINVAL,
} from "../abi";
import { periph_control } from "../hal/index";
import { CAP_ADC, CAP_COMPUTE } from "../lsm/caps";
import { boardChannels } from "../board/board";
import { OP_OWNS, OP_NEEDS, OP_CHECKS, OP_ALLOWS, OP_CALL, OP_FUEL, OP_OWNS_KIND, OP_CLOSE } from "./unit";
import { periphAllows, periphOpen, periphClose, periphResolve, periphFuel, periphBuf, channelRefused } from "./periph";

export const HANDLE_ADC: i32 = 9;
export const KIND_ADC: i32 = 1 << HANDLE_ADC;

function call(task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32): i32 {
  if (nr == SYS_ADC_OPEN) return periphOpen(task, app, nr, PERIPH_ADC, HANDLE_ADC, a0);
  const id = periphResolve(task, app, a0, KIND_ADC, nr);
  if (id < 0) return id;
  const bad = channelRefused(a1, boardChannels(id));
  if (bad < 0) return bad;
  if (nr == SYS_ADC_SAMPLE_BITS) return periph_control(id, PERIPH_ADC, ADC_OP_SAMPLE_BITS, a1, 0, 0);
  if (nr == SYS_ADC_POLL) return periph_control(id, PERIPH_ADC, ADC_OP_POLL, a1, 0, 0);
  if (a2 <= 0) return -EINVAL;
  store<u32>(periphBuf, <u32>a2);
  return periph_control(id, PERIPH_ADC, ADC_OP_SET_REFERENCE, a1, periphBuf, 4);
}

// @ts-ignore: decorator
@inline export function adcOp(op: i32, task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  switch (op) {
    case OP_CALL: return call(task, app, nr, a0, a1, a2);
    case OP_ALLOWS: return periphAllows(app, PERIPH_ADC, a0);
    case OP_FUEL: return periphFuel(a2, 0);
    case OP_OWNS: return nr >= SYS_ADC_OPEN && nr <= SYS_ADC_POLL ? 1 : 0;
    case OP_NEEDS: return <i32>(nr == SYS_ADC_OPEN ? CAP_ADC : CAP_COMPUTE);
    case OP_CHECKS: return nr == SYS_ADC_OPEN ? 1 : 0;
    case OP_OWNS_KIND: return a0 == HANDLE_ADC ? 1 : 0;
    case OP_CLOSE: periphClose(a1); return 0;
  }
  return 0;
}
