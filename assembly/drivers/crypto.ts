// drivers/crypto: the security processor's services for apps (random_bytes, sha256; ABI.md
// "Security processor"), through the mailbox (SPEC.md "Security processor mailbox").
//
// What it is: a driver unit (unit.ts) with no handle kinds. A call builds a request frame, posts
// it with the hal's mailbox-post and blocks its task (WAIT_MAILBOX, waitObject: the slot) until
// the host hands the response to the kernel export mailbox-deliver (cryptoDeliver). random_bytes
// is one request (RANDOM); sha256 is a chain of three (SHA256_INIT, SHA256_UPDATE with the data,
// SHA256_FINAL), each posted from the delivery of the one before, under a fresh request id. The
// last answer's bytes are copied into the app's buffer and the task is woken with their count.
// The slot table holds every request the processor has and has not answered: a free slot, one
// whose task waits, or an orphan (its task ended or was woken while the request was out: its
// chain still runs to FINAL, so the processor's hash context is freed, and its answer is dropped;
// only then is the slot, and the app's share of it, free again). So the processor never holds
// more than MAILBOX_MAX_OUTSTANDING requests, nor a context the core forgot, and a request id is
// never reused while the processor may still answer it.
// Invariants: the request ids of used slots are distinct and non-zero; a slot's task waits in
// WAIT_MAILBOX on that slot iff the slot is SLOT_WAITING; use(POOL_MAILBOX, app) is the app's
// used slots (waiting and orphaned); nothing is written into an app but by a SLOT_WAITING slot's
// last answer. A response that is malformed, names no used slot or has the wrong length for its
// request changes nothing.
// Fuel: SYSCALL_FUEL; a call that posted MAILBOX_CALL_FUEL a request of its chain more and
// COPY_BYTE_FUEL a byte it moves.
// Budget: CRYPTO_TABLE_BYTES static bytes (MAILBOX_MAX_OUTSTANDING slots and one frame of
// MAILBOX_MAX_PAYLOAD_BYTES); O(MAILBOX_MAX_OUTSTANDING) per call and per response; no heap.
// Must not: allocate, trust a response's length or id, or write into an app whose task no
// longer waits for it.
import {
  SYS_RANDOM_BYTES, SYS_SHA256, SYSCALL_SUSPEND, SYSCALL_FUEL, COPY_BYTE_FUEL, MAILBOX_CALL_FUEL, MAILBOX_HEADER_BYTES,
  MAILBOX_MAX_PAYLOAD_BYTES, MAILBOX_MAX_OUTSTANDING, MAILBOX_CMD_RANDOM, MAILBOX_CMD_SHA256_INIT, MAILBOX_CMD_SHA256_UPDATE,
  MAILBOX_CMD_SHA256_FINAL, MAILBOX_STATUS_OK, MAILBOX_STATUS_NO_CONTEXT, RANDOM_MAX_BYTES, SHA256_MAX_BYTES, SHA256_DIGEST_BYTES,
  LIMIT_MAILBOX, TASK_BLOCKED, EINVAL, EAGAIN, EFAULT, ENOENT, EMSGSIZE, EIO,
} from "../abi";
import { mailbox_post, app_copy_in, app_copy_out } from "../hal/index";
import { CAP_COMPUTE } from "../lsm/caps";
import { taskAt, taskValid, WAIT_MAILBOX } from "../task/table";
import { schedBlock, schedWake } from "../sched/scheduler";
import { POOL_MAILBOX, shareAllows, shareTake, shareGive } from "../sched/share";
import { OP_OWNS, OP_NEEDS, OP_CALL, OP_FUEL, OP_RESET, fault, rangeRefused, refuseForLimit } from "./unit";
import { verifyOwnsId, verifyDeliver } from "../appmgr/verify";
import { updateOwnsId, updateDeliver, updatePoke } from "./update";

const SLOT_FREE: u8 = 0;
const SLOT_WAITING: u8 = 1;
const SLOT_ORPHAN: u8 = 2;
// Slot: u16 request id, u8 state, u8 command out (MAILBOX_CMD_*), i32 task, i32 app, i32 app
// buffer for the answer, i32 bytes (random: asked; sha256: the data's), i32 app data (sha256),
// i32 hash context, i32 errno the chain ends with (0: none yet).
const SLOT_BYTES: i32 = 32;
const FRAME_BYTES: i32 = MAILBOX_HEADER_BYTES + MAILBOX_MAX_PAYLOAD_BYTES;
export const CRYPTO_TABLE_BYTES: i32 = MAILBOX_MAX_OUTSTANDING * SLOT_BYTES + FRAME_BYTES;
const slots = memory.data(MAILBOX_MAX_OUTSTANDING * SLOT_BYTES, 4);
// The request being built (one at a time: posting copies it).
const frame = memory.data(FRAME_BYTES, 4);
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
  if (verifyOwnsId(id) || updateOwnsId(id)) return true;
  for (let i = 0; i < MAILBOX_MAX_OUTSTANDING; i++) if (slotState(i) != SLOT_FREE && slotId(i) == id) return true;
  return false;
}

/** The request frame buffer, shared with appmgr/verify (posting copies it, so one is enough). */
export function mailboxFrame(): usize { return frame; }

/**
 * A VERIFY_TRUSTED request's payload at `p` (SPEC.md "Security processor mailbox"), whose hash
 * context the caller stored at p: the role, a reserved 0, the key id (16 bytes at `keyId`) and the
 * signature (64 bytes at `signature`). Its length, 88. Shared by the core's own checks
 * (appmgr/verify.ts, drivers/update.ts), so the layout is written once.
 */
export function verifyTrustedPayload(p: usize, role: i32, keyId: usize, signature: usize): i32 {
  store<u16>(p, <u16>role, 4);
  store<u16>(p, 0, 6);
  memory.copy(p + 8, keyId, 16);
  memory.copy(p + 24, signature, 64);
  return 88;
}

/** A request id no used slot and no request of appmgr/verify has (at most MAILBOX_MAX_OUTSTANDING + 2 are taken, so this ends). */
export function nextId(): i32 {
  let id = lastId;
  do { id = id >= 0xffff ? 1 : id + 1; } while (idInUse(id));
  lastId = id;
  return id;
}

/**
 * Posts the frame's `command` with `payloadBytes` bytes already at its payload under a fresh id,
 * for a request of the core's own (appmgr/verify.ts, drivers/update.ts): the id, or -errno.
 */
export function postCoreRequest(command: i32, payloadBytes: i32): i32 {
  const id = nextId();
  store<u16>(frame, <u16>command);
  store<u16>(frame, <u16>id, 2);
  store<u32>(frame, <u32>payloadBytes, 4);
  const rc = mailbox_post(frame, MAILBOX_HEADER_BYTES + payloadBytes);
  return rc < 0 ? rc : id;
}

function freeSlot(i: i32): void {
  shareGive(POOL_MAILBOX, load<i32>(slotAt(i), 8));
  store<u8>(slotAt(i), SLOT_FREE, 2);
}

/** The payload length a status-OK answer to `command` has (RANDOM: the bytes asked). */
function answerBytes(command: i32, asked: i32): i32 {
  if (command == MAILBOX_CMD_RANDOM) return asked;
  if (command == MAILBOX_CMD_SHA256_INIT) return 4;
  if (command == MAILBOX_CMD_SHA256_FINAL) return SHA256_DIGEST_BYTES;
  return 0;
}

/** Posts the frame's `command` with `payloadBytes` bytes already at frame + 8, for `slot`, under a fresh id. 0 or -errno. */
function post(slot: i32, command: i32, payloadBytes: i32): i32 {
  const id = nextId();
  store<u16>(frame, <u16>command);
  store<u16>(frame, <u16>id, 2);
  store<u32>(frame, <u32>payloadBytes, 4);
  const rc = mailbox_post(frame, MAILBOX_HEADER_BYTES + payloadBytes);
  if (rc < 0) return rc;
  store<u16>(slotAt(slot), <u16>id);
  store<u8>(slotAt(slot), <u8>command, 3);
  return 0;
}

/**
 * Takes a slot for `task` and posts `command` (payload at frame + 8), then blocks the task:
 * SYSCALL_SUSPEND, or -EAGAIN (the share or the pool is used up, recorded) or the post's -errno.
 */
function start(task: i32, app: i32, nr: i32, command: i32, payloadBytes: i32, bufPtr: i32, len: i32, dataPtr: i32): i32 {
  const used = usedSlots();
  if (used >= MAILBOX_MAX_OUTSTANDING || !shareAllows(POOL_MAILBOX, app, MAILBOX_MAX_OUTSTANDING, used)) {
    return refuseForLimit(task, app, nr, LIMIT_MAILBOX, -EAGAIN);
  }
  let slot = 0;
  while (slotState(slot) != SLOT_FREE) slot++;
  const rc = post(slot, command, payloadBytes);
  if (rc < 0) return rc;
  const s = slotAt(slot);
  store<u8>(s, SLOT_WAITING, 2);
  store<i32>(s, task, 4);
  store<i32>(s, app, 8);
  store<i32>(s, bufPtr, 12);
  store<i32>(s, len, 16);
  store<i32>(s, dataPtr, 20);
  store<i32>(s, 0, 24);
  store<i32>(s, 0, 28);
  shareTake(POOL_MAILBOX, app);
  schedBlock(task, WAIT_MAILBOX, slot, -1);
  return SYSCALL_SUSPEND;
}

/** random_bytes(buf, len): RANDOM for `len` (1..RANDOM_MAX_BYTES) bytes; the buffer is checked before anything is posted. */
function sysRandomBytes(task: i32, app: i32, bufPtr: i32, len: i32): i32 {
  if (len < 1 || len > RANDOM_MAX_BYTES) return -EINVAL;
  const bad = rangeRefused(task, app, SYS_RANDOM_BYTES, bufPtr, len);
  if (bad < 0) return bad;
  store<u32>(frame + <usize>MAILBOX_HEADER_BYTES, <u32>len);
  return start(task, app, SYS_RANDOM_BYTES, MAILBOX_CMD_RANDOM, 4, bufPtr, len, 0);
}

/** sha256(data, len, out): the digest of `len` (0..SHA256_MAX_BYTES) bytes into the 32 at `out`; both checked first. */
function sysSha256(task: i32, app: i32, dataPtr: i32, len: i32, outPtr: i32): i32 {
  if (len < 0 || len > SHA256_MAX_BYTES) return -EINVAL;
  let bad = rangeRefused(task, app, SYS_SHA256, dataPtr, len);
  if (bad == 0) bad = rangeRefused(task, app, SYS_SHA256, outPtr, SHA256_DIGEST_BYTES);
  if (bad < 0) return bad;
  return start(task, app, SYS_SHA256, MAILBOX_CMD_SHA256_INIT, 0, outPtr, len, dataPtr);
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

/** Ends `slot`'s call with `result`: frees it and wakes its task if it still waits for it (1), else 0. */
function finish(slot: i32, result: i32): i32 {
  const s = slotAt(slot);
  const waiting = load<u8>(s, 2) == SLOT_WAITING;
  const task = load<i32>(s, 4);
  freeSlot(slot);
  if (!waiting || !taskValid(task) || taskAt(task).state != TASK_BLOCKED || taskAt(task).waitKind != WAIT_MAILBOX) return 0;
  schedWake(task, result);
  return 1;
}

/** The next request of a sha256 chain after an answer to `command` (`ok`: its status was OK); 1 or 0 as finish, when the chain ends here. */
function sha256Next(slot: i32, command: i32, ok: bool, status: i32, payload: usize): i32 {
  const s = slotAt(slot);
  const waiting = load<u8>(s, 2) == SLOT_WAITING;
  const task = load<i32>(s, 4), app = load<i32>(s, 8);
  if (command == MAILBOX_CMD_SHA256_INIT) {
    if (!ok) return finish(slot, status == MAILBOX_STATUS_NO_CONTEXT ? -EAGAIN : -EIO);
    const context = load<u32>(payload);
    store<i32>(s, <i32>context, 24);
    store<u32>(frame + <usize>MAILBOX_HEADER_BYTES, context);
    // An orphan's data is not read (its app may be running again): its context goes straight to FINAL.
    const len = waiting ? load<i32>(s, 16) : 0;
    if (waiting && len > 0) {
      const rc = app_copy_in(task, load<i32>(s, 20), len, frame + <usize>(MAILBOX_HEADER_BYTES + 4));
      if (rc < 0) store<i32>(s, fault(task, app, SYS_SHA256, load<i32>(s, 20), -EFAULT), 28);
    }
    const failed = load<i32>(s, 28) != 0;
    const rc = failed || !waiting ? post(slot, MAILBOX_CMD_SHA256_FINAL, 4) : post(slot, MAILBOX_CMD_SHA256_UPDATE, 4 + len);
    return rc < 0 ? finish(slot, rc) : 0;
  }
  if (command == MAILBOX_CMD_SHA256_UPDATE) {
    if (!ok) store<i32>(s, -EIO, 28);
    store<u32>(frame + <usize>MAILBOX_HEADER_BYTES, <u32>load<i32>(s, 24));
    const rc = post(slot, MAILBOX_CMD_SHA256_FINAL, 4);
    return rc < 0 ? finish(slot, rc) : 0;
  }
  // FINAL: the digest, unless the chain failed on the way.
  const pending = load<i32>(s, 28);
  if (pending != 0) return finish(slot, pending);
  if (!ok) return finish(slot, -EIO);
  if (waiting && app_copy_out(task, payload, load<i32>(s, 12), SHA256_DIGEST_BYTES) < 0) {
    return finish(slot, fault(task, app, SYS_SHA256, load<i32>(s, 12), -EFAULT));
  }
  return finish(slot, SHA256_DIGEST_BYTES);
}

/**
 * mailbox-deliver: one response frame (`len` bytes at core address `ptr`). 1 when it woke the task
 * that waited for it, 0 when it woke none (that task had ended, and the answer is dropped, or the
 * call's next request was posted), or -errno changing nothing: -EINVAL for a malformed frame
 * (shorter than the header, a length field that disagrees with the frame, a payload over
 * MAILBOX_MAX_PAYLOAD_BYTES), -ENOENT for a request id that is not outstanding (never posted, or
 * already answered), -EMSGSIZE for an OK answer to an app's request whose payload is not the
 * length it asked for (the core's own requests, verify.ts and update.ts, fail their check instead:
 * a wrong length is the processor's fault, and waiting on for another answer would hang the boot).
 * A non-OK status ends the call with -EIO (-EAGAIN: the processor has no free hash context).
 */
export function cryptoDeliver(ptr: usize, len: i32): i32 {
  if (len < MAILBOX_HEADER_BYTES) return -EINVAL;
  const payloadBytes = load<u32>(ptr, 4);
  if (payloadBytes > <u32>MAILBOX_MAX_PAYLOAD_BYTES || payloadBytes != <u32>(len - MAILBOX_HEADER_BYTES)) return -EINVAL;
  const id = <i32>load<u16>(ptr);
  const status = <i32>load<u16>(ptr, 2);
  if (id != 0 && verifyOwnsId(id)) {
    const rc = verifyDeliver(id, status, ptr + <usize>MAILBOX_HEADER_BYTES, <i32>payloadBytes);
    // An update's commit waits on that package check (drivers/update.ts).
    updatePoke();
    return rc;
  }
  if (id != 0 && updateOwnsId(id)) return updateDeliver(status, ptr + <usize>MAILBOX_HEADER_BYTES, <i32>payloadBytes);
  let slot = -1;
  for (let i = 0; i < MAILBOX_MAX_OUTSTANDING; i++) {
    if (slotState(i) != SLOT_FREE && slotId(i) == id && id != 0) { slot = i; break; }
  }
  if (slot < 0) return -ENOENT;
  const s = slotAt(slot);
  const command = <i32>load<u8>(s, 3);
  const asked = load<i32>(s, 16);
  const ok = status == MAILBOX_STATUS_OK;
  if (ok && <i32>payloadBytes != answerBytes(command, asked)) return -EMSGSIZE;
  const payload = ptr + <usize>MAILBOX_HEADER_BYTES;
  if (command != MAILBOX_CMD_RANDOM) return sha256Next(slot, command, ok, status, payload);
  if (!ok) return finish(slot, -EIO);
  if (load<u8>(s, 2) != SLOT_WAITING) return finish(slot, 0);
  const task = load<i32>(s, 4), app = load<i32>(s, 8), bufPtr = load<i32>(s, 12);
  if (app_copy_out(task, payload, bufPtr, asked) < 0) return finish(slot, fault(task, app, SYS_RANDOM_BYTES, bufPtr, -EFAULT));
  return finish(slot, asked);
}

// @ts-ignore: decorator
@inline export function cryptoOp(op: i32, task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  switch (op) {
    case OP_CALL: return nr == SYS_RANDOM_BYTES ? sysRandomBytes(task, app, a0, a1) : sysSha256(task, app, a0, a1, a2);
    // a2 is what the call returned: SYSCALL_SUSPEND once it posted; a1 the bytes it moves.
    case OP_FUEL:
      if (a2 != SYSCALL_SUSPEND) return SYSCALL_FUEL;
      return nr == SYS_RANDOM_BYTES ? SYSCALL_FUEL + MAILBOX_CALL_FUEL + a1 * COPY_BYTE_FUEL
        : SYSCALL_FUEL + 3 * MAILBOX_CALL_FUEL + (a1 + SHA256_DIGEST_BYTES) * COPY_BYTE_FUEL;
    case OP_OWNS: return nr == SYS_RANDOM_BYTES || nr == SYS_SHA256 ? 1 : 0;
    case OP_NEEDS: return <i32>CAP_COMPUTE;
    case OP_RESET:
      memory.fill(slots, 0, <usize>(MAILBOX_MAX_OUTSTANDING * SLOT_BYTES));
      lastId = 0;
      return 0;
  }
  return 0;
}
