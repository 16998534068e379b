// drivers/gpio: GPIO pins (open as output or input, set, get; ABI.md, "App imports").
//
// What it is: a driver unit (unit.ts) owning handle kinds HANDLE_GPIO_OUT and HANDLE_GPIO_IN.
// Opening needs CAP_GPIO and the pin in the app's pin bitmap (the resource check, OP_ALLOWS);
// set and get need only compute: the handle is the capability, proved at open. An input handle
// can be waited on (`wait`, `wait_any`; drivers/waitset.ts).
// The latch of an input handle: the edges its pin made since the app last took one (gpio_notify
// tells the core of each; the host notifies changes only, so edges alternate, and a notify that
// repeats the level last known is a pulse the host saw only the end of: two edges), and the level
// after the latest. `wait` takes the oldest edge and returns the level it left, so an app sees
// every change in order however late it waits (a press and a release between two of its slices
// are two waits: 1, then 0). gpio_get reads the level now and takes nothing: the level does not
// say which edges came before it. On an input handle that level is the latch's (the host tells
// every change of an input's level: DESIGN.md, "The call order"), with no hal call. Past GPIO_EDGES_MAX pending edges the oldest pulses (pairs) are
// dropped, which keeps the levels of the rest right.
// Fuel: SYSCALL_FUEL; an open or a set that succeeded also GPIO_WRITE_FUEL.
// Invariants: a pin is open through at most one handle (pinHandle), so at most one task (its
// owner) is armed on it (pinWaiter); pinEdges is 0 for a pin not open as an input. Closing an
// output handle releases the pin: it is driven low, then made an input, so nothing an app drove
// stays driven after it closed, stopped or crashed; closing an input handle empties its latch.
// Budget: GPIO_TABLE_BYTES static bytes (per pin: the handle, the edges, the waiter, the level).
// Must not: touch a pin the hook did not prove granted, or open a pin twice.
import {
  SYS_GPIO_OPEN_OUTPUT, SYS_GPIO_OPEN_INPUT, SYS_GPIO_SET, SYS_GPIO_GET, MAX_GPIO_PINS,
  EAGAIN, EBUSY, GPIO_DIR_INPUT, GPIO_DIR_OUTPUT, SYSCALL_FUEL, GPIO_WRITE_FUEL,
} from "../abi";
import { gpio_configure, gpio_write, gpio_read } from "../hal/index";
import { CAP_GPIO, CAP_COMPUTE, capsOf, capsHasPin } from "../lsm/caps";
import { handleAlloc, handleResolve, handleClose, handleIndexOf, handleObject, handleKind } from "../handles/table";
import { NO_TASK } from "../task/table";
import { waitSetEvent } from "./waitset";
import { OP_OWNS, OP_NEEDS, OP_CHECKS, OP_ALLOWS, OP_CALL, OP_FUEL, OP_FUEL_FLAT, OP_OWNS_KIND, OP_CLOSE, OP_WAITABLE, OP_TAKE, OP_READY, OP_ARM, OP_RESET, refuseHandle } from "./unit";

export const HANDLE_GPIO_OUT: i32 = 1;
export const HANDLE_GPIO_IN: i32 = 2;
// Masks for handleResolve: which kinds a call accepts.
export const KIND_GPIO_OUT: i32 = 1 << HANDLE_GPIO_OUT;
export const KIND_GPIO_IN: i32 = 1 << HANDLE_GPIO_IN;
export const KIND_GPIO: i32 = KIND_GPIO_OUT | KIND_GPIO_IN;

// For each pin, the index of the handle row that has it open (0: none).
const pinHandle = memory.data(MAX_GPIO_PINS * 4, 4);
// For each pin open as an input: the edges not yet taken (its latch), the task armed on it
// (NO_TASK: none), and the level after its latest edge (u8).
const pinEdges = memory.data(MAX_GPIO_PINS * 4, 4);
const pinWaiter = memory.data(MAX_GPIO_PINS * 4, 4);
const pinLevel = memory.data(MAX_GPIO_PINS);
export const GPIO_TABLE_BYTES: i32 = MAX_GPIO_PINS * 13;
/** The most edges an input's latch holds (even, so dropping the oldest pulse keeps the parity). */
export const GPIO_EDGES_MAX: i32 = 1 << 30;

// @ts-ignore: decorator
@inline function pinSlot(table: usize, pin: i32): usize { return table + (<usize>pin << 2); }

function clearLatch(pin: i32): void {
  store<i32>(pinSlot(pinEdges, pin), 0);
  store<i32>(pinSlot(pinWaiter, pin), NO_TASK);
  store<u8>(pinLevel + <usize>pin, 0);
}

function latchReset(): void {
  for (let pin = 0; pin < MAX_GPIO_PINS; pin++) clearLatch(pin);
}

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
  if (!output) {
    // The latch starts empty at the level the pin has now: the first notify is a change from it.
    clearLatch(pin);
    store<u8>(pinLevel + <usize>pin, gpio_read(pin) == 1 ? 1 : 0);
  }
  return h;
}

/**
 * The host saw input `pin` change to `level` (gpio_notify; `pin` on the device): latches the edge
 * for the input handle that has the pin open, and tells the task armed on it. Returns how many
 * tasks woke (0 or 1); a pin no input handle has open latches nothing.
 */
export function gpioNotify(pin: i32, level: i32): i32 {
  const index = pinOpenIndex(pin);
  if (index == 0 || handleKind(index) != HANDLE_GPIO_IN) return 0;
  const now = level != 0 ? 1 : 0;
  let edges = load<i32>(pinSlot(pinEdges, pin)) + (now == <i32>load<u8>(pinLevel + <usize>pin) ? 2 : 1);
  while (edges > GPIO_EDGES_MAX) edges -= 2;
  store<i32>(pinSlot(pinEdges, pin), edges);
  store<u8>(pinLevel + <usize>pin, <u8>now);
  const waiter = load<i32>(pinSlot(pinWaiter, pin));
  return waiter == NO_TASK ? 0 : waitSetEvent(waiter);
}

/** Takes the oldest edge of `pin`'s latch: the level it left, or -EAGAIN when none is pending. */
function take(pin: i32): i32 {
  const edges = load<i32>(pinSlot(pinEdges, pin));
  if (edges == 0) return -EAGAIN;
  store<i32>(pinSlot(pinEdges, pin), edges - 1);
  // Edges alternate: the oldest of n pending left the latest level when n is odd.
  return <i32>load<u8>(pinLevel + <usize>pin) ^ ((edges - 1) & 1);
}

function arm(task: i32, pin: i32, on: bool): void {
  if (on) store<i32>(pinSlot(pinWaiter, pin), task);
  else if (load<i32>(pinSlot(pinWaiter, pin)) == task) store<i32>(pinSlot(pinWaiter, pin), NO_TASK);
}

/** The edges `pin`'s latch holds (for the specs and the footprint of a wait). */
export function gpioPendingEdges(pin: i32): i32 {
  return pin >= 0 && pin < MAX_GPIO_PINS ? load<i32>(pinSlot(pinEdges, pin)) : 0;
}

function call(task: i32, app: i32, nr: i32, a0: i32, a1: i32): i32 {
  if (nr == SYS_GPIO_OPEN_OUTPUT) return sysGpioOpen(task, app, nr, a0, true, a1);
  if (nr == SYS_GPIO_OPEN_INPUT) return sysGpioOpen(task, app, nr, a0, false, 0);
  const index = handleResolve(task, app, a0, nr == SYS_GPIO_SET ? KIND_GPIO_OUT : KIND_GPIO, nr);
  if (index < 0) return index;
  if (nr == SYS_GPIO_SET) return gpio_write(handleObject(index), a1 != 0 ? 1 : 0);
  const pin = handleObject(index);
  // An input's level is its latch's: read from the pin at open, then told of every change
  // (gpio_notify), so no hal call is needed; an output reads back what the pin carries.
  if (handleKind(index) == HANDLE_GPIO_IN) return <i32>load<u8>(pinLevel + <usize>pin);
  return gpio_read(pin);
}

function close(kind: i32, pin: i32): void {
  store<i32>(pinHandle + (<usize>pin << 2), 0);
  clearLatch(pin);
  if (kind == HANDLE_GPIO_OUT) {
    // Released to a defined state: low, then an input (not driven).
    gpio_write(pin, 0);
    gpio_configure(pin, GPIO_DIR_INPUT, 0);
  }
}

// @ts-ignore: decorator
@inline export function gpioOp(op: i32, task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  switch (op) {
    case OP_CALL: return call(task, app, nr, a0, a1);
    case OP_ALLOWS: return capsHasPin(capsOf(app), a0) ? 1 : 0;
    case OP_FUEL: return (nr == SYS_GPIO_SET || isOpen(nr)) && a2 >= 0 ? SYSCALL_FUEL + GPIO_WRITE_FUEL : SYSCALL_FUEL;
    case OP_FUEL_FLAT: return nr == SYS_GPIO_GET ? 1 : 0;
    case OP_OWNS: return isOpen(nr) || nr == SYS_GPIO_SET || nr == SYS_GPIO_GET ? 1 : 0;
    case OP_NEEDS: return <i32>(isOpen(nr) ? CAP_GPIO : CAP_COMPUTE);
    case OP_CHECKS: return isOpen(nr) ? 1 : 0;
    case OP_OWNS_KIND: return a0 == HANDLE_GPIO_OUT || a0 == HANDLE_GPIO_IN ? 1 : 0;
    case OP_CLOSE: close(a0, a1); return 0;
    case OP_WAITABLE: return a0 == HANDLE_GPIO_IN ? 1 : 0;
    case OP_TAKE: return take(a1);
    case OP_READY: return load<i32>(pinSlot(pinEdges, a1)) > 0 ? 1 : 0;
    case OP_ARM: arm(task, a1, a2 != 0); return 0;
    case OP_RESET: memory.fill(pinHandle, 0, MAX_GPIO_PINS * 4); latchReset(); return 0;
  }
  return 0;
}
