// drivers/gpio: GPIO pins (open as output or input, set, get; ABI.md, "App imports").
//
// What it is: a driver unit (unit.ts) owning handle kinds HANDLE_GPIO_OUT and HANDLE_GPIO_IN.
// Opening needs CAP_GPIO and the pin in the app's pin bitmap (the resource check, OP_ALLOWS);
// set and get need only compute: the handle is the capability, proved at open. An input handle
// can be waited on (the scheduler's per-pin wait queue; gpio_notify wakes it).
// Fuel: SYSCALL_FUEL; an open or a set that succeeded also GPIO_WRITE_FUEL.
// Invariants: a pin is open through at most one handle (pinHandle). Closing an output handle
// releases the pin: it is driven low, then made an input, so nothing an app drove stays driven
// after it closed, stopped or crashed.
// Budget: GPIO_TABLE_BYTES static bytes (the pin index).
// Must not: touch a pin the hook did not prove granted, or open a pin twice.
import {
  SYS_GPIO_OPEN_OUTPUT, SYS_GPIO_OPEN_INPUT, SYS_GPIO_SET, SYS_GPIO_GET, MAX_GPIO_PINS, SYSCALL_SUSPEND,
  EBUSY, ETIMEDOUT, GPIO_DIR_INPUT, GPIO_DIR_OUTPUT, SYSCALL_FUEL, GPIO_WRITE_FUEL,
} from "../abi";
import { gpio_configure, gpio_write, gpio_read } from "../hal/index";
import { CAP_GPIO, CAP_COMPUTE, capsOf, capsHasPin } from "../lsm/caps";
import { handleAlloc, handleResolve, handleClose, handleIndexOf, handleObject } from "../handles/table";
import { schedBlock } from "../sched/scheduler";
import { WAIT_GPIO } from "../task/table";
import { OP_OWNS, OP_NEEDS, OP_CHECKS, OP_ALLOWS, OP_CALL, OP_FUEL, OP_OWNS_KIND, OP_CLOSE, OP_WAITABLE, OP_WAIT, OP_RESET, refuseHandle } from "./unit";

export const HANDLE_GPIO_OUT: i32 = 1;
export const HANDLE_GPIO_IN: i32 = 2;
// Masks for handleResolve: which kinds a call accepts.
export const KIND_GPIO_OUT: i32 = 1 << HANDLE_GPIO_OUT;
export const KIND_GPIO_IN: i32 = 1 << HANDLE_GPIO_IN;
export const KIND_GPIO: i32 = KIND_GPIO_OUT | KIND_GPIO_IN;

// For each pin, the index of the handle row that has it open (0: none).
const pinHandle = memory.data(MAX_GPIO_PINS * 4, 4);
export const GPIO_TABLE_BYTES: i32 = MAX_GPIO_PINS * 4;

/** Index of the handle that has `pin` open, 0 when none. `pin` must be in 0..MAX_GPIO_PINS-1. */
export function pinOpenIndex(pin: i32): i32 {
  return load<i32>(pinHandle + (<usize>pin << 2));
}

function isOpen(nr: i32): bool { return nr == SYS_GPIO_OPEN_OUTPUT || nr == SYS_GPIO_OPEN_INPUT; }

function sysGpioOpen(task: i32, app: i32, nr: i32, pin: i32, output: bool, initial: i32): i32 {
  // The hook proved the pin is granted, so it is on the device: 0 <= pin < gpioPinCount.
  if (pinOpenIndex(pin) != 0) return -EBUSY;
  const h = handleAlloc(task, output ? HANDLE_GPIO_OUT : HANDLE_GPIO_IN, pin);
  if (h < 0) return refuseHandle(task, app, nr, h);
  store<i32>(pinHandle + (<usize>pin << 2), handleIndexOf(h));
  const rc = gpio_configure(pin, output ? GPIO_DIR_OUTPUT : GPIO_DIR_INPUT, output && initial != 0 ? 1 : 0);
  if (rc < 0) { handleClose(handleIndexOf(h)); return rc; }
  return h;
}

function call(task: i32, app: i32, nr: i32, a0: i32, a1: i32): i32 {
  if (nr == SYS_GPIO_OPEN_OUTPUT) return sysGpioOpen(task, app, nr, a0, true, a1);
  if (nr == SYS_GPIO_OPEN_INPUT) return sysGpioOpen(task, app, nr, a0, false, 0);
  const index = handleResolve(task, app, a0, nr == SYS_GPIO_SET ? KIND_GPIO_OUT : KIND_GPIO, nr);
  if (index < 0) return index;
  if (nr == SYS_GPIO_SET) return gpio_write(handleObject(index), a1 != 0 ? 1 : 0);
  return gpio_read(handleObject(index));
}

function close(kind: i32, pin: i32): void {
  store<i32>(pinHandle + (<usize>pin << 2), 0);
  if (kind == HANDLE_GPIO_OUT) {
    // Released to a defined state: low, then an input (not driven).
    gpio_write(pin, 0);
    gpio_configure(pin, GPIO_DIR_INPUT, 0);
  }
}

function wait(task: i32, pin: i32, timeoutMs: i32): i32 {
  if (timeoutMs == 0) return -ETIMEDOUT;
  schedBlock(task, WAIT_GPIO, pin, timeoutMs < 0 ? -1 : <f64>timeoutMs);
  return SYSCALL_SUSPEND;
}

export function gpioOp(op: i32, task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  switch (op) {
    case OP_CALL: return call(task, app, nr, a0, a1);
    case OP_ALLOWS: return capsHasPin(capsOf(app), a0) ? 1 : 0;
    case OP_FUEL: return (nr == SYS_GPIO_SET || isOpen(nr)) && a2 >= 0 ? SYSCALL_FUEL + GPIO_WRITE_FUEL : SYSCALL_FUEL;
    case OP_OWNS: return isOpen(nr) || nr == SYS_GPIO_SET || nr == SYS_GPIO_GET ? 1 : 0;
    case OP_NEEDS: return <i32>(isOpen(nr) ? CAP_GPIO : CAP_COMPUTE);
    case OP_CHECKS: return isOpen(nr) ? 1 : 0;
    case OP_OWNS_KIND: return a0 == HANDLE_GPIO_OUT || a0 == HANDLE_GPIO_IN ? 1 : 0;
    case OP_CLOSE: close(a0, a1); return 0;
    case OP_WAITABLE: return a0 == HANDLE_GPIO_IN ? 1 : 0;
    case OP_WAIT: return wait(task, a1, a2);
    case OP_RESET: memory.fill(pinHandle, 0, MAX_GPIO_PINS * 4); return 0;
  }
  return 0;
}
