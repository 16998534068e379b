// drivers/net: sockets under the manifest's allowlist, and the device's networking status
// (net_connect, net_listen, net_accept, net_send, net_recv, net_state, net_sendto, net_recvfrom,
// net_status, net_admin; ABI.md "Networking").
//
// What it is: a driver unit (unit.ts) owning handle kind HANDLE_SOCKET, whose object is a row of
// the socket table below; the host does the mechanism (real TCP and UDP sockets, name resolution)
// behind the hal's net-control and net-read, with the row index as its socket id.
// - net_connect names its target as text. The core turns it into its canonical form (net/allow.ts)
//   and compares it with the app's AllowedConnections before the host hears of it: a target no
//   entry names is -EACCES, recorded as EV_DENIED, and no packet leaves. A name matches only name
//   entries and an address only the same address, so neither a name that resolves to a listed
//   address nor an address of a listed name gets through; the host resolves only a name that
//   matched, and connects to what it resolved, never to a spelling of its own.
// - net_listen needs CAP_NET_SERVER and the port in the app's AllowedTcpServerPorts or
//   AllowedUdpServerPorts (-EACCES, recorded, otherwise); each port is one installed app's.
// - A UDP listener answers datagrams: net_sendto goes to the sender of the last datagram
//   net_recvfrom gave, or to an address the allowlist names.
// - Nothing blocks: a connect returns its handle at once and the socket becomes writable (or
//   takes an error) later; a send the host cannot take now and a receive with nothing queued are
//   -EAGAIN. A socket handle is waitable (wait, wait_any): ready while bytes, an end of stream, an
//   error or (for a listener) a connection or datagram wait, and, after a connect or a send that
//   was refused with -EAGAIN, when it becomes writable. The host's net-notify tells the armed task.
// - net_status gives every app (no capability: as Networking_IsNetworkingReady) the record the
//   network manager published with net_admin; until it has published one saying ready, connects
//   and listens are -ENETDOWN. Only a system app holds CAP_NET_ADMIN (manifest.ts).
// Fuel: SYSCALL_FUEL; a call that ran NET_CALL_FUEL more, and COPY_BYTE_FUEL a byte moved.
// Invariants: a used row is held by exactly one handle, of an app in use(POOL_SOCKETS, app); the
// host has heard of every row it is asked about (connect, listen or accept made it) and is told
// NET_OP_CLOSE when the handle closes (close, exit, stop, crash); a target the host is given
// passed the app's allowlist.
// Budget: NET_TABLE_BYTES static bytes (NET_MAX_SOCKETS rows, the staging buffer, the status
// record); O(allowlist bytes) per connect; no heap.
// Must not: allocate, let the host connect to a target the allowlist did not pass, or write
// into an app outside the buffer it named.
import {
  SYS_NET_CONNECT, SYS_NET_LISTEN, SYS_NET_ACCEPT, SYS_NET_SEND, SYS_NET_RECV, SYS_NET_STATE, SYS_NET_SENDTO, SYS_NET_RECVFROM,
  SYS_NET_STATUS, SYS_NET_ADMIN, NET_TCP, NET_UDP, NET_MAX_SOCKETS, NET_IO_MAX_BYTES, NET_ADDR_BYTES, NET_STATUS_BYTES, NET_HOST_MAX_BYTES,
  NET_STATE_READABLE, NET_STATE_WRITABLE, NET_STATE_EOF, NET_ADMIN_PROBE, NET_ADMIN_PUBLISH,
  NET_OP_CONNECT, NET_OP_LISTEN, NET_OP_ACCEPT, NET_OP_SEND, NET_OP_STATE, NET_OP_CLOSE, NET_OP_SENDTO, NET_OP_PROBE, NET_OP_RECV,
  NET_OP_RECVFROM, NET_CALL_FUEL, SYSCALL_FUEL, COPY_BYTE_FUEL, LIMIT_SOCKETS, EV_DENIED,
  EACCES, EAGAIN, EINVAL, EIO, ENETDOWN, ENFILE,
} from "../abi";
import { net_control, net_read, app_copy_in, app_copy_out } from "../hal/index";
import { CAP_NETWORK, CAP_NET_SERVER, CAP_NET_ADMIN, CAP_COMPUTE, capsOf, capsServesPort } from "../lsm/caps";
import { appAllowPtr } from "../appmgr/apps";
import { auditRecord } from "../audit/ring";
import { handleAlloc, handleResolve, handleObject, handleClose, handleIndexOf } from "../handles/table";
import { POOL_SOCKETS, shareAllows, shareTake, shareGive } from "../sched/share";
import { NO_TASK } from "../task/table";
import { netCanonical, netCanonicalOfSocketAddress, netEntryMatches, NET_CANON_MAX_BYTES } from "../net/allow";
import {
  OP_OWNS, OP_NEEDS, OP_CALL, OP_FUEL, OP_OWNS_KIND, OP_CLOSE, OP_WAITABLE, OP_TAKE, OP_READY, OP_ARM, OP_RESET,
  fault, rangeRefused, refuseForLimit, refuseHandle,
} from "./unit";
import { waitSetEvent } from "./waitset";

export const HANDLE_SOCKET: i32 = 12;
export const KIND_SOCKET: i32 = 1 << HANDLE_SOCKET;

// Row: used u8, protocol u8, listener u8, wants-writable u8, app i32, armed task i32, has-peer u8,
// 3 bytes pad, the last datagram's sender (NET_ADDR_BYTES; UDP listeners).
const ROW: usize = 16 + <usize>NET_ADDR_BYTES;
const rows = memory.data(NET_MAX_SOCKETS * <i32>ROW, 4);
// What a call stages: a socket address, then the bytes it moves (sendto/recvfrom put the address first).
const staging = memory.data(NET_ADDR_BYTES + NET_IO_MAX_BYTES + 4, 8);
// A target's canonical form (net/allow.ts).
const canon = memory.data(NET_CANON_MAX_BYTES + 2, 4);
// The network manager's last published record (NET_STATUS_BYTES; byte 0: ready).
const status = memory.data(NET_STATUS_BYTES, 4);
export const NET_TABLE_BYTES: i32 = NET_MAX_SOCKETS * <i32>ROW + NET_ADDR_BYTES + NET_IO_MAX_BYTES + 4 + NET_CANON_MAX_BYTES + 2 + NET_STATUS_BYTES;

@inline function rowAt(row: i32): usize { return rows + <usize>row * ROW; }
@inline function rowUsed(row: i32): bool { return load<u8>(rowAt(row)) != 0; }
@inline function rowProtocol(row: i32): i32 { return <i32>load<u8>(rowAt(row), 1); }
@inline function rowListener(row: i32): bool { return load<u8>(rowAt(row), 2) != 0; }
@inline function setWantsWritable(row: i32, on: bool): void { store<u8>(rowAt(row), on ? 1 : 0, 3); }
@inline function rowApp(row: i32): i32 { return load<i32>(rowAt(row), 4); }
@inline function rowArmed(row: i32): i32 { return load<i32>(rowAt(row), 8); }
@inline function peerAt(row: i32): usize { return rowAt(row) + 16; }

function denied(task: i32, app: i32, nr: i32, arg: i32): i32 {
  auditRecord(EV_DENIED, task, app, nr, arg, -EACCES);
  return -EACCES;
}

/** Is networking up, as the network manager last said? */
function ready(): bool { return load<u8>(status) == 1; }

/** Used rows, device-wide (what POOL_SOCKETS counts). */
function usedRows(): i32 {
  let n = 0;
  for (let row = 0; row < NET_MAX_SOCKETS; row++) if (rowUsed(row)) n++;
  return n;
}

/**
 * Takes a free row for `app`'s task `task` with a handle: the handle (the row is its object), or
 * -ENFILE (the app's share, or every row, is taken) / the handle table's refusal, recorded.
 */
function rowOpen(task: i32, app: i32, nr: i32, protocol: i32, listener: bool): i32 {
  if (!shareAllows(POOL_SOCKETS, app, NET_MAX_SOCKETS, usedRows())) return refuseForLimit(task, app, nr, LIMIT_SOCKETS, -ENFILE);
  let free = -1;
  for (let row = 0; row < NET_MAX_SOCKETS && free < 0; row++) if (!rowUsed(row)) free = row;
  if (free < 0) return refuseForLimit(task, app, nr, LIMIT_SOCKETS, -ENFILE);
  const h = handleAlloc(task, HANDLE_SOCKET, free);
  if (h < 0) return refuseHandle(task, app, nr, h);
  const at = rowAt(free);
  memory.fill(at, 0, ROW);
  store<u8>(at, 1);
  store<u8>(at, <u8>protocol, 1);
  store<u8>(at, listener ? 1 : 0, 2);
  store<i32>(at, app, 4);
  store<i32>(at, NO_TASK, 8);
  shareTake(POOL_SOCKETS, app);
  return h;
}

/** Frees `row` as its handle closes, and tells the host (OP_CLOSE). */
function rowClose(row: i32): void {
  if (row < 0 || row >= NET_MAX_SOCKETS || !rowUsed(row)) return;
  shareGive(POOL_SOCKETS, rowApp(row));
  memory.fill(rowAt(row), 0, ROW);
  net_control(row, NET_OP_CLOSE, 0, 0, 0);
}

/** Does one of `app`'s AllowedConnections entries name the canonical target at `canon`? */
function allowed(app: i32, canonLen: i32): bool {
  const list = appAllowPtr(app);
  const bytes = capsOf(app).allowBytes;
  for (let p = 0; p < bytes; ) {
    const len = <i32>load<u8>(list + <usize>p);
    if (netEntryMatches(list + <usize>(p + 1), len, canon, canonLen)) return true;
    p += 1 + len;
  }
  return false;
}

@inline function protocolValid(protocol: i32): bool { return protocol == NET_TCP || protocol == NET_UDP; }

function sysConnect(task: i32, app: i32, protocol: i32, hostPtr: i32, hostLen: i32, port: i32): i32 {
  const nr = SYS_NET_CONNECT;
  if (!protocolValid(protocol) || port <= 0 || port > 0xffff) return -EINVAL;
  // A bracketed IPv6 literal is two bytes longer than the longest name.
  if (hostLen <= 0 || hostLen > NET_HOST_MAX_BYTES + 2) return -EINVAL;
  const rc = app_copy_in(task, hostPtr, hostLen, staging);
  if (rc < 0) return fault(task, app, nr, hostPtr, rc);
  const canonLen = netCanonical(staging, hostLen, canon, false);
  if (canonLen < 0) return -EINVAL;
  if (!allowed(app, canonLen)) return denied(task, app, nr, hostPtr);
  if (!ready()) return -ENETDOWN;
  const h = rowOpen(task, app, nr, protocol, false);
  if (h < 0) return h;
  const row = handleObject(handleIndexOf(h));
  const started = net_control(row, NET_OP_CONNECT, port | (protocol << 16), canon, canonLen);
  if (started < 0) { handleClose(handleIndexOf(h)); return started; }
  setWantsWritable(row, true);
  return h;
}

function sysListen(task: i32, app: i32, protocol: i32, port: i32): i32 {
  const nr = SYS_NET_LISTEN;
  if (!protocolValid(protocol) || port <= 0 || port > 0xffff) return -EINVAL;
  if (!capsServesPort(capsOf(app), protocol, port)) return denied(task, app, nr, port);
  if (!ready()) return -ENETDOWN;
  const h = rowOpen(task, app, nr, protocol, true);
  if (h < 0) return h;
  const row = handleObject(handleIndexOf(h));
  const rc = net_control(row, NET_OP_LISTEN, port | (protocol << 16), 0, 0);
  if (rc < 0) { handleClose(handleIndexOf(h)); return rc; }
  return h;
}

/** The row of socket `handle` if `task` holds it, else -EBADF (audited). */
function resolve(task: i32, app: i32, handle: i32, nr: i32): i32 {
  const index = handleResolve(task, app, handle, KIND_SOCKET, nr);
  return index < 0 ? index : handleObject(index);
}

function sysAccept(task: i32, app: i32, handle: i32): i32 {
  const nr = SYS_NET_ACCEPT;
  const listener = resolve(task, app, handle, nr);
  if (listener < 0) return listener;
  if (!rowListener(listener) || rowProtocol(listener) != NET_TCP) return -EINVAL;
  const h = rowOpen(task, app, nr, NET_TCP, false);
  if (h < 0) return h;
  const row = handleObject(handleIndexOf(h));
  const rc = net_control(listener, NET_OP_ACCEPT, row, 0, 0);
  if (rc < 0) { handleClose(handleIndexOf(h)); return rc; }
  return h;
}

function sysSend(task: i32, app: i32, handle: i32, ptr: i32, len: i32): i32 {
  const nr = SYS_NET_SEND;
  const row = resolve(task, app, handle, nr);
  if (row < 0) return row;
  if (rowListener(row) || len < 0) return -EINVAL;
  if (len == 0) return 0;
  const n = len < NET_IO_MAX_BYTES ? len : NET_IO_MAX_BYTES;
  const rc = app_copy_in(task, ptr, n, staging);
  if (rc < 0) return fault(task, app, nr, ptr, rc);
  const sent = net_control(row, NET_OP_SEND, 0, staging, n);
  if (sent < 0) return sent;
  if (sent == 0) { setWantsWritable(row, true); return -EAGAIN; }
  return sent > n ? -EIO : sent;
}

function sysRecv(task: i32, app: i32, handle: i32, ptr: i32, len: i32): i32 {
  const nr = SYS_NET_RECV;
  const row = resolve(task, app, handle, nr);
  if (row < 0) return row;
  if (rowListener(row) || len <= 0) return -EINVAL;
  const max = len < NET_IO_MAX_BYTES ? len : NET_IO_MAX_BYTES;
  const room = rangeRefused(task, app, nr, ptr, max);
  if (room < 0) return room;
  const n = net_read(row, NET_OP_RECV, 0, staging, max);
  if (n <= 0) return n; // -EAGAIN: nothing yet; 0: the other end closed; else the socket's error
  const rc = app_copy_out(task, staging, ptr, n);
  return rc < 0 ? fault(task, app, nr, ptr, rc) : n;
}

/** A socket address at `a` the core can compare: family 4 or 6, a zero byte, a port. */
function addrValid(a: usize): bool {
  const family = load<u8>(a);
  return (family == 4 || family == 6) && load<u8>(a, 1) == 0 && load<u16>(a, 2) != 0;
}

/** Does the allowlist of `app` name the address at `a` (a valid socket address)? */
function addrAllowed(app: i32, a: usize): bool { return allowed(app, netCanonicalOfSocketAddress(a, canon)); }

function sysSendTo(task: i32, app: i32, handle: i32, ptr: i32, len: i32, addrPtr: i32): i32 {
  const nr = SYS_NET_SENDTO;
  const row = resolve(task, app, handle, nr);
  if (row < 0) return row;
  if (!rowListener(row) || rowProtocol(row) != NET_UDP || len < 0) return -EINVAL;
  if (len > NET_IO_MAX_BYTES) return -EINVAL;
  let rc = app_copy_in(task, addrPtr, NET_ADDR_BYTES, staging);
  if (rc < 0) return fault(task, app, nr, addrPtr, rc);
  if (!addrValid(staging)) return -EINVAL;
  const toLastPeer = load<u8>(rowAt(row), 12) != 0 && memory.compare(staging, peerAt(row), <usize>NET_ADDR_BYTES) == 0;
  if (!toLastPeer && !addrAllowed(app, staging)) return denied(task, app, nr, addrPtr);
  if (len > 0) {
    rc = app_copy_in(task, ptr, len, staging + <usize>NET_ADDR_BYTES);
    if (rc < 0) return fault(task, app, nr, ptr, rc);
  }
  const sent = net_control(row, NET_OP_SENDTO, 0, staging, NET_ADDR_BYTES + len);
  if (sent < 0) return sent;
  if (sent == 0 && len > 0) return -EAGAIN;
  return sent > len ? -EIO : sent;
}

function sysRecvFrom(task: i32, app: i32, handle: i32, ptr: i32, len: i32, addrPtr: i32): i32 {
  const nr = SYS_NET_RECVFROM;
  const row = resolve(task, app, handle, nr);
  if (row < 0) return row;
  if (!rowListener(row) || rowProtocol(row) != NET_UDP || len < 0) return -EINVAL;
  const max = len < NET_IO_MAX_BYTES ? len : NET_IO_MAX_BYTES;
  let room = rangeRefused(task, app, nr, ptr, max);
  if (room == 0) room = rangeRefused(task, app, nr, addrPtr, NET_ADDR_BYTES);
  if (room < 0) return room;
  const n = net_read(row, NET_OP_RECVFROM, 0, staging, NET_ADDR_BYTES + max);
  if (n < 0) return n;
  if (n < NET_ADDR_BYTES || !addrValid(staging)) return -EIO;
  let rc = app_copy_out(task, staging, addrPtr, NET_ADDR_BYTES);
  if (rc == 0 && n > NET_ADDR_BYTES) rc = app_copy_out(task, staging + <usize>NET_ADDR_BYTES, ptr, n - NET_ADDR_BYTES);
  if (rc < 0) return fault(task, app, nr, ptr, rc);
  // The sender may be answered (net_sendto) until the next datagram names another.
  memory.copy(peerAt(row), staging, <usize>NET_ADDR_BYTES);
  store<u8>(rowAt(row), 1, 12);
  return n - NET_ADDR_BYTES;
}

function sysState(task: i32, app: i32, handle: i32): i32 {
  const row = resolve(task, app, handle, SYS_NET_STATE);
  if (row < 0) return row;
  return net_control(row, NET_OP_STATE, 0, 0, 0);
}

function sysStatus(task: i32, app: i32, ptr: i32, len: i32): i32 {
  if (len < NET_STATUS_BYTES) return -EINVAL;
  const rc = app_copy_out(task, status, ptr, NET_STATUS_BYTES);
  return rc < 0 ? fault(task, app, SYS_NET_STATUS, ptr, rc) : NET_STATUS_BYTES;
}

function sysAdmin(task: i32, app: i32, op: i32, ptr: i32, len: i32): i32 {
  const nr = SYS_NET_ADMIN;
  if (len != NET_STATUS_BYTES) return -EINVAL;
  if (op == NET_ADMIN_PROBE) {
    const room = rangeRefused(task, app, nr, ptr, len);
    if (room < 0) return room;
    const n = net_read(0, NET_OP_PROBE, 0, staging, NET_STATUS_BYTES);
    if (n < 0) return n;
    if (n != NET_STATUS_BYTES) return -EIO;
    const rc = app_copy_out(task, staging, ptr, n);
    return rc < 0 ? fault(task, app, nr, ptr, rc) : n;
  }
  if (op != NET_ADMIN_PUBLISH) return -EINVAL;
  const rc = app_copy_in(task, ptr, len, staging);
  if (rc < 0) return fault(task, app, nr, ptr, rc);
  if (load<u8>(staging) > 1 || load<u8>(staging, 1) > 1 || load<u16>(staging, 2) != 0) return -EINVAL;
  memory.copy(status, staging, <usize>NET_STATUS_BYTES);
  return 0;
}

function call(task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  switch (nr) {
    case SYS_NET_CONNECT: return sysConnect(task, app, a0, a1, a2, a3);
    case SYS_NET_LISTEN: return sysListen(task, app, a0, a1);
    case SYS_NET_ACCEPT: return sysAccept(task, app, a0);
    case SYS_NET_SEND: return sysSend(task, app, a0, a1, a2);
    case SYS_NET_RECV: return sysRecv(task, app, a0, a1, a2);
    case SYS_NET_STATE: return sysState(task, app, a0);
    case SYS_NET_SENDTO: return sysSendTo(task, app, a0, a1, a2, a3);
    case SYS_NET_RECVFROM: return sysRecvFrom(task, app, a0, a1, a2, a3);
    case SYS_NET_STATUS: return sysStatus(task, app, a0, a1);
  }
  return sysAdmin(task, app, a0, a1, a2);
}

/**
 * The latch of socket `row` (wait, wait_any): its NET_STATE_* bits while it is readable, at its
 * end, listening with something to accept, or writable after it was wanted; the socket's error
 * (negative) once it has one; else -EAGAIN. Writable interest is spent when it is taken.
 */
function latch(row: i32, take: bool): i32 {
  if (row < 0 || row >= NET_MAX_SOCKETS || !rowUsed(row)) return -EAGAIN;
  const state = net_control(row, NET_OP_STATE, 0, 0, 0);
  if (state < 0) return state == -EAGAIN ? -EIO : state;
  if ((state & (NET_STATE_READABLE | NET_STATE_EOF)) != 0) return state;
  if (load<u8>(rowAt(row), 3) != 0 && (state & NET_STATE_WRITABLE) != 0) {
    if (take) setWantsWritable(row, false);
    return state;
  }
  return -EAGAIN;
}

function arm(task: i32, row: i32, on: bool): void {
  if (row < 0 || row >= NET_MAX_SOCKETS || !rowUsed(row)) return;
  if (on) store<i32>(rowAt(row), task, 8);
  else if (rowArmed(row) == task) store<i32>(rowAt(row), NO_TASK, 8);
}

/**
 * The host has news for socket `row` (net-notify: bytes, a connection, an error, room to write):
 * tells the task armed on it. 1 when one woke, 0 when none was armed, -EINVAL for a row not in use.
 */
export function netNotify(row: i32): i32 {
  if (row < 0 || row >= NET_MAX_SOCKETS || !rowUsed(row)) return -EINVAL;
  const task = rowArmed(row);
  return task == NO_TASK ? 0 : waitSetEvent(task);
}

function reset(): void {
  memory.fill(rows, 0, <usize>NET_MAX_SOCKETS * ROW);
  memory.fill(status, 0, <usize>NET_STATUS_BYTES);
}

function needs(nr: i32): u32 {
  if (nr == SYS_NET_CONNECT) return CAP_NETWORK;
  if (nr == SYS_NET_LISTEN) return CAP_NET_SERVER;
  if (nr == SYS_NET_ADMIN) return CAP_NET_ADMIN;
  return CAP_COMPUTE; // the handle is the capability, proved when it was made
}

function fuel(nr: i32, rc: i32): i32 {
  if (rc < 0) return SYSCALL_FUEL;
  const moved = nr == SYS_NET_SEND || nr == SYS_NET_RECV || nr == SYS_NET_SENDTO || nr == SYS_NET_RECVFROM ? rc : 0;
  return SYSCALL_FUEL + NET_CALL_FUEL + moved * COPY_BYTE_FUEL;
}

// @ts-ignore: decorator
@inline export function netOp(op: i32, task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  switch (op) {
    case OP_CALL: return call(task, app, nr, a0, a1, a2, a3);
    case OP_FUEL: return fuel(nr, a2);
    case OP_OWNS: return nr >= SYS_NET_CONNECT && nr <= SYS_NET_ADMIN ? 1 : 0;
    case OP_NEEDS: return <i32>needs(nr);
    case OP_OWNS_KIND: return a0 == HANDLE_SOCKET ? 1 : 0;
    case OP_CLOSE: rowClose(a1); return 0;
    case OP_WAITABLE: return a0 == HANDLE_SOCKET ? 1 : 0;
    case OP_TAKE: return latch(a1, true);
    case OP_READY: return latch(a1, false) != -EAGAIN ? 1 : 0;
    case OP_ARM: arm(task, a1, a2 != 0); return 0;
    case OP_RESET: reset(); return 0;
  }
  return 0;
}

