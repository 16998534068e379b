// drivers/channel: app-to-app channels (channel_open to a partner by ComponentId, message send and
// receive; ABI.md "Channels").
//
// What it is: a driver unit (unit.ts) owning handle kind HANDLE_CHANNEL, whose object is a row of
// the channel table below. A channel joins two installed apps and opens only when each lists the
// other in AllowedApplicationConnections: the first to open creates the row and its two queues
// (channels/queue.ts, on the core heap), the other's open attaches to it. Each direction is a
// bounded queue of whole messages: a full queue is -EAGAIN with nothing sent, a message longer
// than CHANNEL_MSG_MAX_BYTES or a receive buffer shorter than the message is -EMSGSIZE with
// nothing lost. When one end closes (its app closes it, exits, stops or crashes) the other end
// reads what was already sent, then gets -EPIPE, as it does for every send. Messages sent before
// the partner ever opened wait for it even if their sender has gone (a pair has at most one such
// row: the sender's next open takes it up again). A row and its queues are freed when neither end
// is open and nothing waits for an end that never opened.
// The class check (CAP_APP_CONNECTIONS) is the hook's; the partner check needs the ComponentId
// the app names, so it is made here after copying it in, and a refusal is recorded as EV_DENIED
// like the hook's.
// A channel handle is waitable (wait, wait_any): ready while a message is queued for it or the
// other end has closed; a send or the other end's close tells the task armed on it.
// Fuel: SYSCALL_FUEL; a send or receive that moved a message also COPY_BYTE_FUEL a byte.
// Invariants: a row's end is open through at most one handle; both ends' apps list each other;
// every row with an open end holds its two queues; each open end is one row of its app's share
// of POOL_CHANNELS.
// Budget: CHANNEL_TABLE_BYTES static bytes (CHANNEL_MAX rows and the message staging buffer);
// each open channel 2 * chanQueueBytes(CHANNEL_DEPTH, CHANNEL_MSG_MAX_BYTES) of core heap.
// Must not: let a message reach an app that is not the row's other end, or split one.
import {
  SYS_CHANNEL_OPEN, SYS_CHANNEL_SEND, SYS_CHANNEL_RECV, CHANNEL_MAX, CHANNEL_DEPTH, CHANNEL_MSG_MAX_BYTES, CHANNEL_PEER_ID_BYTES,
  EACCES, EAGAIN, EBUSY, EINVAL, ENFILE, ENOMEM, EPIPE, EMSGSIZE, EV_DENIED, EV_CORE_NOMEM, LIMIT_CHANNELS, SYSCALL_FUEL, COPY_BYTE_FUEL,
} from "../abi";
import { app_copy_in, app_copy_out } from "../hal/index";
import { CAP_APP_CONNECTIONS, CAP_COMPUTE, capsOf, capsListsPeer } from "../lsm/caps";
import { appAt, appWithId } from "../appmgr/apps";
import { auditRecord } from "../audit/ring";
import { handleAlloc, handleResolve, handleObject } from "../handles/table";
import { POOL_CHANNELS, shareAllows, shareTake, shareGive } from "../sched/share";
import { NO_TASK } from "../task/table";
import { guidParse } from "../util/guid";
import { chanQueueAlloc, chanQueueFree, chanQueuePush, chanQueuePeekBytes, chanQueuePeekAt, chanQueueDrop, chanQueueCount } from "../channels/queue";
import { OP_OWNS, OP_NEEDS, OP_CALL, OP_FUEL, OP_OWNS_KIND, OP_CLOSE, OP_WAITABLE, OP_TAKE, OP_READY, OP_ARM, OP_RESET, fault, refuseForLimit, refuseHandle } from "./unit";
import { waitSetEvent } from "./waitset";

export const HANDLE_CHANNEL: i32 = 11;
export const KIND_CHANNEL: i32 = 1 << HANDLE_CHANNEL;

// An end's state.
const END_NONE: i32 = 0;   // its app has not opened it yet
const END_OPEN: i32 = 1;
const END_CLOSED: i32 = 2; // it was open and is closed: the other end sees -EPIPE once drained

// Row: per end e (0, 1): app slot i32, state i32, ComponentId hi u64, lo u64, the queue it
// receives from u32, the task armed to hear of its next message i32 (NO_TASK: none).
const END_BYTES: usize = 32;
const ROW: usize = 2 * END_BYTES;
const rows = memory.data(CHANNEL_MAX * <i32>ROW, 8);
const staging = memory.data(CHANNEL_MSG_MAX_BYTES, 8);
export const CHANNEL_TABLE_BYTES: i32 = CHANNEL_MAX * <i32>ROW + CHANNEL_MSG_MAX_BYTES;

@inline function endAt(row: i32, e: i32): usize { return rows + <usize>row * ROW + <usize>e * END_BYTES; }
@inline function endApp(row: i32, e: i32): i32 { return load<i32>(endAt(row, e)); }
@inline function endState(row: i32, e: i32): i32 { return load<i32>(endAt(row, e), 4); }
@inline function setState(row: i32, e: i32, state: i32): void { store<i32>(endAt(row, e), state, 4); }
@inline function inbox(row: i32, e: i32): usize { return <usize>load<u32>(endAt(row, e), 24); }
@inline function armed(row: i32, e: i32): i32 { return load<i32>(endAt(row, e), 28); }
@inline function setArmed(row: i32, e: i32, task: i32): void { store<i32>(endAt(row, e), task, 28); }
/** Tells the task armed on end `e` of `row`, if any, that it has something to read. */
function notify(row: i32, e: i32): void {
  const t = armed(row, e);
  if (t != NO_TASK) waitSetEvent(t);
}
function rowFree(row: i32): bool { return inbox(row, 0) == 0; }
function sameId(row: i32, e: i32, hi: u64, lo: u64): bool { return load<u64>(endAt(row, e), 8) == hi && load<u64>(endAt(row, e), 16) == lo; }

// A handle's object: row << 1 | end.
@inline function objectOf(row: i32, e: i32): i32 { return (row << 1) | e; }

function denied(task: i32, app: i32, nr: i32, ptr: i32): i32 {
  auditRecord(EV_DENIED, task, app, nr, ptr, -EACCES);
  return -EACCES;
}

function sysOpen(task: i32, app: i32, idPtr: i32, idLen: i32): i32 {
  const nr = SYS_CHANNEL_OPEN;
  if (idLen != CHANNEL_PEER_ID_BYTES) return -EINVAL;
  const rc = app_copy_in(task, idPtr, idLen, staging);
  if (rc < 0) return fault(task, app, nr, idPtr, rc);
  const id = staging + <usize>CHANNEL_PEER_ID_BYTES; // 16 bytes after the text
  if (!guidParse(staging, id)) return -EINVAL;
  const peerHi = load<u64>(id), peerLo = load<u64>(id, 8);
  const me = appAt(app);
  // Both apps list each other, and the partner is installed; anything else is one refusal, so an
  // app learns nothing of apps that did not list it.
  const peer = appWithId(peerHi, peerLo);
  if (peer < 0 || peer == app || !capsListsPeer(capsOf(app), peerHi, peerLo) || !capsListsPeer(capsOf(peer), me.idHi, me.idLo)) return denied(task, app, nr, idPtr);
  // This pair's rows: this app's end open already (-EBUSY); a row the partner opened or closed
  // that this app never opened (attach: it reads what waits, then -EPIPE if the partner is gone);
  // or a row this app closed before the partner ever opened it (reopen: its messages still wait).
  let attach = -1;
  for (let row = 0; row < CHANNEL_MAX; row++) {
    if (rowFree(row)) continue;
    for (let e = 0; e < 2; e++) {
      if (endApp(row, e) != app || !sameId(row, e, me.idHi, me.idLo) || endApp(row, 1 - e) != peer || !sameId(row, 1 - e, peerHi, peerLo)) continue;
      const mine = endState(row, e), theirs = endState(row, 1 - e);
      if (mine == END_OPEN) return -EBUSY;
      if ((mine == END_NONE && theirs != END_NONE) || (mine == END_CLOSED && theirs == END_NONE)) attach = objectOf(row, e);
    }
  }
  if (!shareAllows(POOL_CHANNELS, app, CHANNEL_MAX * 2, openEnds())) return refuseForLimit(task, app, nr, LIMIT_CHANNELS, -ENFILE);
  if (attach >= 0) return openEnd(task, app, attach);
  let free = -1;
  for (let row = 0; row < CHANNEL_MAX && free < 0; row++) if (rowFree(row)) free = row;
  if (free < 0) return refuseForLimit(task, app, nr, LIMIT_CHANNELS, -ENFILE);
  const a = chanQueueAlloc(<u32>CHANNEL_DEPTH, <u32>CHANNEL_MSG_MAX_BYTES);
  const b: usize = a == 0 ? 0 : chanQueueAlloc(<u32>CHANNEL_DEPTH, <u32>CHANNEL_MSG_MAX_BYTES);
  if (b == 0) {
    chanQueueFree(a);
    auditRecord(EV_CORE_NOMEM, task, app, nr, CHANNEL_MSG_MAX_BYTES, -ENOMEM);
    return -ENOMEM;
  }
  memory.fill(rows + <usize>free * ROW, 0, ROW);
  for (let e = 0; e < 2; e++) {
    const at = endAt(free, e);
    const who = appAt(e == 0 ? app : peer);
    store<i32>(at, e == 0 ? app : peer);
    store<u64>(at, who.idHi, 8);
    store<u64>(at, who.idLo, 16);
    store<u32>(at, <u32>(e == 0 ? a : b), 24);
    store<i32>(at, NO_TASK, 28);
  }
  const h = openEnd(task, app, objectOf(free, 0));
  if (h < 0) release(free);
  return h;
}

/** Open ends device-wide (what POOL_CHANNELS counts). */
function openEnds(): i32 {
  let n = 0;
  for (let row = 0; row < CHANNEL_MAX; row++) {
    if (rowFree(row)) continue;
    if (endState(row, 0) == END_OPEN) n++;
    if (endState(row, 1) == END_OPEN) n++;
  }
  return n;
}

function openEnd(task: i32, app: i32, object: i32): i32 {
  const h = handleAlloc(task, HANDLE_CHANNEL, object);
  if (h < 0) return refuseHandle(task, app, SYS_CHANNEL_OPEN, h);
  setState(object >> 1, object & 1, END_OPEN);
  shareTake(POOL_CHANNELS, app);
  return h;
}

/** Frees row `row` and its queues (neither end is open). */
function release(row: i32): void {
  chanQueueFree(inbox(row, 0));
  chanQueueFree(inbox(row, 1));
  memory.fill(rows + <usize>row * ROW, 0, ROW);
}

/**
 * Closes end `object`. The row stays while the other end is open (it drains, then sees -EPIPE) or
 * has never opened but has messages waiting (they are its, when it opens); else it is freed.
 */
function closeEnd(object: i32): void {
  const row = object >> 1, e = object & 1;
  if (row < 0 || row >= CHANNEL_MAX || rowFree(row) || endState(row, e) != END_OPEN) return;
  setState(row, e, END_CLOSED);
  setArmed(row, e, NO_TASK);
  shareGive(POOL_CHANNELS, endApp(row, e));
  const theirs = endState(row, 1 - e);
  // An open other end can read what is left, then -EPIPE: a wait on it is answered now.
  if (theirs == END_OPEN) { notify(row, 1 - e); return; }
  if (theirs == END_NONE && chanQueueCount(inbox(row, 1 - e)) > 0) return;
  release(row);
}

function sysSend(task: i32, app: i32, handle: i32, ptr: i32, len: i32): i32 {
  const index = handleResolve(task, app, handle, KIND_CHANNEL, SYS_CHANNEL_SEND);
  if (index < 0) return index;
  const object = handleObject(index), row = object >> 1, e = object & 1;
  if (endState(row, 1 - e) == END_CLOSED) return -EPIPE;
  if (len < 0) return -EINVAL;
  if (len > CHANNEL_MSG_MAX_BYTES) return -EMSGSIZE;
  const peerInbox = inbox(row, 1 - e);
  if (chanQueueCount(peerInbox) >= <u32>CHANNEL_DEPTH) return -EAGAIN;
  if (len > 0) {
    const rc = app_copy_in(task, ptr, len, staging);
    if (rc < 0) return fault(task, app, SYS_CHANNEL_SEND, ptr, rc);
  }
  const pushed = chanQueuePush(peerInbox, staging, len);
  if (pushed < 0) return pushed;
  notify(row, 1 - e);
  return len;
}

function sysRecv(task: i32, app: i32, handle: i32, ptr: i32, cap: i32): i32 {
  const index = handleResolve(task, app, handle, KIND_CHANNEL, SYS_CHANNEL_RECV);
  if (index < 0) return index;
  const object = handleObject(index), row = object >> 1, e = object & 1;
  const mine = inbox(row, e);
  const len = chanQueuePeekBytes(mine);
  if (len < 0) return endState(row, 1 - e) == END_CLOSED ? -EPIPE : -EAGAIN;
  if (cap < len) return -EMSGSIZE;
  // Copied out from its slot, and only then dropped: a bad buffer loses no message.
  if (len > 0) {
    const rc = app_copy_out(task, chanQueuePeekAt(mine), ptr, len);
    if (rc < 0) return fault(task, app, SYS_CHANNEL_RECV, ptr, rc);
  }
  chanQueueDrop(mine);
  return len;
}

function call(task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32): i32 {
  if (nr == SYS_CHANNEL_OPEN) return sysOpen(task, app, a0, a1);
  if (nr == SYS_CHANNEL_SEND) return sysSend(task, app, a0, a1, a2);
  return sysRecv(task, app, a0, a1, a2);
}

/**
 * The latch of end `object` (wait, wait_any): the next message's length while one is queued;
 * -EPIPE when none is and the other end closed; else -EAGAIN. Nothing is taken: the message stays
 * for channel_recv (a wait answers "there is one", as a readable socket does).
 */
function latch(object: i32): i32 {
  const row = object >> 1, e = object & 1;
  if (row < 0 || row >= CHANNEL_MAX || rowFree(row)) return -EAGAIN;
  const len = chanQueuePeekBytes(inbox(row, e));
  if (len >= 0) return len;
  return endState(row, 1 - e) == END_CLOSED ? -EPIPE : -EAGAIN;
}

function arm(task: i32, object: i32, on: bool): void {
  const row = object >> 1, e = object & 1;
  if (row < 0 || row >= CHANNEL_MAX || rowFree(row)) return;
  if (on) setArmed(row, e, task);
  else if (armed(row, e) == task) setArmed(row, e, NO_TASK);
}

function reset(): void {
  memory.fill(rows, 0, <usize>(CHANNEL_MAX * <i32>ROW));
}

// @ts-ignore: decorator
@inline export function channelOp(op: i32, task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  switch (op) {
    case OP_CALL: return call(task, app, nr, a0, a1, a2);
    case OP_FUEL: return SYSCALL_FUEL + (nr != SYS_CHANNEL_OPEN && a2 > 0 ? a2 * COPY_BYTE_FUEL : 0);
    case OP_OWNS: return nr >= SYS_CHANNEL_OPEN && nr <= SYS_CHANNEL_RECV ? 1 : 0;
    case OP_NEEDS: return <i32>(nr == SYS_CHANNEL_OPEN ? CAP_APP_CONNECTIONS : CAP_COMPUTE);
    case OP_OWNS_KIND: return a0 == HANDLE_CHANNEL ? 1 : 0;
    case OP_CLOSE: closeEnd(a1); return 0;
    case OP_WAITABLE: return a0 == HANDLE_CHANNEL ? 1 : 0;
    case OP_TAKE: return latch(a1);
    case OP_READY: return latch(a1) != -EAGAIN ? 1 : 0;
    case OP_ARM: arm(task, a1, a2 != 0); return 0;
    case OP_RESET: reset(); return 0;
  }
  return 0;
}
