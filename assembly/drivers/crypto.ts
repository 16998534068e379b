// drivers/crypto: the security processor's services for apps (random_bytes; ABI.md "Security
// processor"), through the mailbox (SPEC.md "Security processor mailbox").
//
// What it is: a driver unit (unit.ts) with no handle kinds. A call builds one request frame,
// posts it with the hal's mailbox-post and blocks its task (WAIT_MAILBOX, waitObject: the slot)
// until the host hands the response to the kernel export mailbox-deliver (cryptoDeliver), which
// copies the payload into the app's buffer and wakes the task with the byte count. The slot table
// holds every request the processor has and has not answered: a free slot, one whose task waits,
// or an orphan (its task ended or was woken while the request was out: its answer is dropped
// when it comes, and only then is the slot, and the app's share of it, free again, so the
// processor never holds more than MAILBOX_MAX_OUTSTANDING and a request id is never reused
// while the processor may still answer it).
// Invariants: the request ids of used slots are distinct and non-zero; a slot's task waits in
// WAIT_MAILBOX on that slot iff the slot is SLOT_WAITING; use(POOL_MAILBOX, app) is the app's
// used slots (waiting and orphaned). A response that is malformed, names no used slot or has the
// wrong length for its request changes nothing.
// Fuel: SYSCALL_FUEL; a call that posted MAILBOX_CALL_FUEL more and COPY_BYTE_FUEL a byte asked.
// Budget: CRYPTO_TABLE_BYTES static bytes (MAILBOX_MAX_OUTSTANDING slots and one request frame);
// O(MAILBOX_MAX_OUTSTANDING) per call and per response; no heap.
// Must not: allocate, trust a response's length or id, or write into an app whose task no
// longer waits for it.
import {
  SYS_RANDOM_BYTES, SYSCALL_SUSPEND, SYSCALL_FUEL, COPY_BYTE_FUEL, MAILBOX_CALL_FUEL, MAILBOX_HEADER_BYTES,
  MAILBOX_MAX_PAYLOAD_BYTES, MAILBOX_MAX_OUTSTANDING, MAILBOX_CMD_RANDOM, MAILBOX_STATUS_OK, RANDOM_MAX_BYTES,
  LIMIT_MAILBOX, TASK_BLOCKED, EINVAL, EAGAIN, EFAULT, ENOENT, EMSGSIZE, EIO,
} from "../abi";
import { mailbox_post, app_copy_out, app_memory_bytes } from "../hal/index";
import { CAP_COMPUTE } from "../lsm/caps";
import { taskAt, taskValid, WAIT_MAILBOX } from "../task/table";
import { schedBlock, schedWake } from "../sched/scheduler";
import { POOL_MAILBOX, shareAllows, shareTake, shareGive } from "../sched/share";
import { OP_OWNS, OP_NEEDS, OP_CALL, OP_FUEL, OP_RESET, fault, refuseForLimit } from "./unit";

const SLOT_FREE: u8 = 0;
const SLOT_WAITING: u8 = 1;
const SLOT_ORPHAN: u8 = 2;
// Slot: u16 request id, u8 state, u8 command, i32 task, i32 app, i32 app buffer, i32 bytes asked.
const SLOT_BYTES: i32 = 20;
const REQUEST_MAX_BYTES: i32 = MAILBOX_HEADER_BYTES + 4;
export const CRYPTO_TABLE_BYTES: i32 = MAILBOX_MAX_OUTSTANDING * SLOT_BYTES + REQUEST_MAX_BYTES;
const slots = memory.data(MAILBOX_MAX_OUTSTANDING * SLOT_BYTES, 4);
const request = memory.data(REQUEST_MAX_BYTES, 4);
// The last request id given (ids go 1..65535 and wrap, skipping those in use).
let lastId: i32 = 0;

function slotAt(i: i32): usize { return slots + <usize>(i * SLOT_BYTES); }
function slotState(i: i32): u8 { return load<u8>(slotAt(i), 2); }
function slotId(i: i32): i32 { return <i32>load<u16>(slotAt(i)); }

function usedSlots(): i32 {
  let n = 0;
  for (let i = 0; i < MAILBOX_MAX_OUTSTANDING; i++) if (slotState(i) != SLOT_FREE) n++;
  return n;
}

function idInUse(id: i32): bool {
  for (let i = 0; i < MAILBOX_MAX_OUTSTANDING; i++) if (slotState(i) != SLOT_FREE && slotId(i) == id) return true;
  return false;
}

/** A request id no used slot has (at most MAILBOX_MAX_OUTSTANDING are taken, so this ends). */
function nextId(): i32 {
  let id = lastId;
  do { id = id >= 0xffff ? 1 : id + 1; } while (idInUse(id));
  lastId = id;
  return id;
}

function freeSlot(i: i32): void {
  shareGive(POOL_MAILBOX, load<i32>(slotAt(i), 8));
  store<u8>(slotAt(i), SLOT_FREE, 2);
}

/**
 * random_bytes(buf, len): posts RANDOM for `len` (1..RANDOM_MAX_BYTES) bytes and blocks the
 * caller; the buffer is checked before anything is posted.
 */
function sysRandomBytes(task: i32, app: i32, bufPtr: i32, len: i32): i32 {
  if (len < 1 || len > RANDOM_MAX_BYTES) return -EINVAL;
  const memBytes = app_memory_bytes(task);
  if (memBytes < 0 || <u64><u32>bufPtr + <u64><u32>len > <u64><u32>memBytes) return fault(task, app, SYS_RANDOM_BYTES, bufPtr, -EFAULT);
  const used = usedSlots();
  if (used >= MAILBOX_MAX_OUTSTANDING || !shareAllows(POOL_MAILBOX, app, MAILBOX_MAX_OUTSTANDING, used)) {
    return refuseForLimit(task, app, SYS_RANDOM_BYTES, LIMIT_MAILBOX, -EAGAIN);
  }
  let slot = 0;
  while (slotState(slot) != SLOT_FREE) slot++;
  const id = nextId();
  store<u16>(request, <u16>MAILBOX_CMD_RANDOM);
  store<u16>(request, <u16>id, 2);
  store<u32>(request, 4, 4);
  store<u32>(request, <u32>len, 8);
  const rc = mailbox_post(request, MAILBOX_HEADER_BYTES + 4);
  if (rc < 0) return rc;
  const s = slotAt(slot);
  store<u16>(s, <u16>id);
  store<u8>(s, SLOT_WAITING, 2);
  store<u8>(s, <u8>MAILBOX_CMD_RANDOM, 3);
  store<i32>(s, task, 4);
  store<i32>(s, app, 8);
  store<i32>(s, bufPtr, 12);
  store<i32>(s, len, 16);
  shareTake(POOL_MAILBOX, app);
  schedBlock(task, WAIT_MAILBOX, slot, -1);
  return SYSCALL_SUSPEND;
}

/**
 * Task `task`'s wait on `slot` ended without its answer (it stopped, crashed, or was woken some
 * other way): the request stays counted, as the processor still has it, and its answer is dropped.
 */
export function cryptoForget(task: i32, slot: i32): void {
  if (slot < 0 || slot >= MAILBOX_MAX_OUTSTANDING) return;
  const s = slotAt(slot);
  if (load<u8>(s, 2) == SLOT_WAITING && load<i32>(s, 4) == task) store<u8>(s, SLOT_ORPHAN, 2);
}

/**
 * mailbox-deliver: one response frame (`len` bytes at core address `ptr`). 1 when it woke the task
 * that waited for it, 0 when that task had ended (the answer is dropped), or -errno changing
 * nothing: -EINVAL for a malformed frame (shorter than the header, a length field that disagrees
 * with the frame, a payload over MAILBOX_MAX_PAYLOAD_BYTES), -ENOENT for a request id that is not
 * outstanding (never posted, or already answered), -EMSGSIZE for an OK answer whose payload is
 * not the length the request asked for. A non-OK status wakes the task with -EIO.
 */
export function cryptoDeliver(ptr: usize, len: i32): i32 {
  if (len < MAILBOX_HEADER_BYTES) return -EINVAL;
  const payloadBytes = load<u32>(ptr, 4);
  if (payloadBytes > <u32>MAILBOX_MAX_PAYLOAD_BYTES || payloadBytes != <u32>(len - MAILBOX_HEADER_BYTES)) return -EINVAL;
  const id = <i32>load<u16>(ptr);
  const status = <i32>load<u16>(ptr, 2);
  let slot = -1;
  for (let i = 0; i < MAILBOX_MAX_OUTSTANDING; i++) {
    if (slotState(i) != SLOT_FREE && slotId(i) == id && id != 0) { slot = i; break; }
  }
  if (slot < 0) return -ENOENT;
  const s = slotAt(slot);
  const asked = load<i32>(s, 16);
  if (status == MAILBOX_STATUS_OK && <i32>payloadBytes != asked) return -EMSGSIZE;
  const waiting = load<u8>(s, 2) == SLOT_WAITING;
  const task = load<i32>(s, 4), app = load<i32>(s, 8), bufPtr = load<i32>(s, 12);
  freeSlot(slot);
  if (!waiting || !taskValid(task) || taskAt(task).state != TASK_BLOCKED || taskAt(task).waitKind != WAIT_MAILBOX) return 0;
  let result = asked;
  if (status != MAILBOX_STATUS_OK) result = -EIO;
  else {
    const rc = app_copy_out(task, ptr + <usize>MAILBOX_HEADER_BYTES, bufPtr, asked);
    if (rc < 0) result = fault(task, app, SYS_RANDOM_BYTES, bufPtr, -EFAULT);
  }
  schedWake(task, result);
  return 1;
}

/** Requests the processor has not answered (waiting and orphaned), device-wide. */
export function cryptoOutstanding(): i32 { return usedSlots(); }

export function cryptoOp(op: i32, task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  switch (op) {
    case OP_CALL: return sysRandomBytes(task, app, a0, a1);
    // a2 is what the call returned: SYSCALL_SUSPEND once it posted.
    case OP_FUEL: return a2 == SYSCALL_SUSPEND ? SYSCALL_FUEL + MAILBOX_CALL_FUEL + a1 * COPY_BYTE_FUEL : SYSCALL_FUEL;
    case OP_OWNS: return nr == SYS_RANDOM_BYTES ? 1 : 0;
    case OP_NEEDS: return <i32>CAP_COMPUTE;
    case OP_RESET:
      memory.fill(slots, 0, <usize>(MAILBOX_MAX_OUTSTANDING * SLOT_BYTES));
      lastId = 0;
      return 0;
  }
  return 0;
}
