// drivers/pwm: PWM controllers (open, apply a channel's whole state; Azure Sphere's pwm.h; ABI.md
// "Peripherals").
//
// What it is: a driver unit (unit.ts) owning handle kind HANDLE_PWM, whose object is the board
// interface id. Opening needs CAP_PWM and the controller in the app's PWM grants (periphAllows);
// applying needs only compute, the handle and a channel the controller has. A state is applied as
// a whole or not at all (PWM_Apply): one that is not valid is -EINVAL and the channel keeps its
// previous state.
// Fuel: SYSCALL_FUEL; an apply that ran PERIPH_CALL_FUEL more.
// Invariants: the host only sees states checked here (period > 0, duty cycle <= period, a known
// polarity, enabled 0 or 1). Closing the handle tells the host, which disables its outputs.
// Budget: no memory of its own.
// Must not: hand the host a state it did not check.
import { SYS_PWM_OPEN, SYS_PWM_APPLY, PERIPH_PWM, PWM_OP_APPLY, PWM_STATE_BYTES, PWM_POLARITY_INVERSED, EINVAL } from "../abi";
import { periph_control } from "../hal/index";
import { CAP_PWM, CAP_COMPUTE } from "../lsm/caps";
import { boardChannels } from "../board/board";
import { OP_OWNS, OP_NEEDS, OP_CHECKS, OP_ALLOWS, OP_CALL, OP_FUEL, OP_OWNS_KIND, OP_CLOSE } from "./unit";
import { periphAllows, periphOpen, periphClose, periphResolve, periphCopyIn, periphFuel, periphBuf, channelRefused } from "./periph";

export const HANDLE_PWM: i32 = 10;
export const KIND_PWM: i32 = 1 << HANDLE_PWM;

function sysApply(task: i32, app: i32, handle: i32, channel: i32, statePtr: i32): i32 {
  const id = periphResolve(task, app, handle, KIND_PWM, SYS_PWM_APPLY);
  if (id < 0) return id;
  const bad = channelRefused(channel, boardChannels(id));
  if (bad < 0) return bad;
  const copied = periphCopyIn(task, app, SYS_PWM_APPLY, statePtr, PWM_STATE_BYTES, 0);
  if (copied < 0) return copied;
  const periodNs = load<u32>(periphBuf), dutyNs = load<u32>(periphBuf, 4);
  const polarity = load<u32>(periphBuf, 8), enabled = load<u32>(periphBuf, 12);
  if (periodNs == 0 || periodNs > <u32>i32.MAX_VALUE || dutyNs > periodNs || polarity > <u32>PWM_POLARITY_INVERSED || enabled > 1) return -EINVAL;
  return periph_control(id, PERIPH_PWM, PWM_OP_APPLY, channel, periphBuf, PWM_STATE_BYTES);
}

// @ts-ignore: decorator
@inline export function pwmOp(op: i32, task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  switch (op) {
    case OP_CALL: return nr == SYS_PWM_OPEN ? periphOpen(task, app, nr, PERIPH_PWM, HANDLE_PWM, a0) : sysApply(task, app, a0, a1, a2);
    case OP_ALLOWS: return periphAllows(app, PERIPH_PWM, a0);
    case OP_FUEL: return periphFuel(a2, 0);
    case OP_OWNS: return nr == SYS_PWM_OPEN || nr == SYS_PWM_APPLY ? 1 : 0;
    case OP_NEEDS: return <i32>(nr == SYS_PWM_OPEN ? CAP_PWM : CAP_COMPUTE);
    case OP_CHECKS: return nr == SYS_PWM_OPEN ? 1 : 0;
    case OP_OWNS_KIND: return a0 == HANDLE_PWM ? 1 : 0;
    case OP_CLOSE: periphClose(a1); return 0;
  }
  return 0;
}
