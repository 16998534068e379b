// The device's network on a workstation: real TCP and UDP sockets on the host, behind the hal's
// net-control and net-read (SPEC.md "Network calls"; the core's drivers/net.ts decides).
//
// Mechanism only. Every target it is given already passed the calling app's allowlist in the
// core, as a canonical form ('n' name, '4' or '6' address bytes); a name is resolved here
// (`resolve`, the host's resolver by default) and the socket connects to the address resolved,
// nothing else. Nothing blocks: a connect, a listen and a resolve finish later and report through
// `onNotify(socket)`, which the Device turns into the kernel's net-notify; received bytes queue
// here (at most RX_MAX_BYTES a socket: beyond, the socket is paused, so a fast peer cannot fill
// the host's memory) until the app reads them.
// Invariants: control and read never throw (a host failure is a negative errno); a socket id is
// the core's row, reused only after the core closed it (NET_OP_CLOSE); listeners bind
// `bindAddress` (loopback by default) only.
// Memory: per socket, its queues (RX_MAX_BYTES of stream bytes, RX_MAX_DATAGRAMS datagrams).
// Must not: connect anywhere but the address a passed target resolved to, or call into the core.
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { createSocket, type Socket as DgramSocket, type RemoteInfo } from "node:dgram";
import { lookup } from "node:dns/promises";
import { networkInterfaces } from "node:os";
import * as abi from "../../assembly/abi.js";
import type { NetworkLink } from "./link.js";

/** Received stream bytes a socket queues before its peer is paused. */
export const RX_MAX_BYTES = 65536;
/** Datagrams a UDP socket queues; more are dropped, as a full receive buffer does. */
export const RX_MAX_DATAGRAMS = 64;
/** Bytes queued for sending beyond which a send answers 0 (the core's -EAGAIN). */
export const TX_HIGH_WATER_BYTES = 65536;

type OrErrno<T> = T | number;

interface StreamSocket {
  kind: "tcp"; sock: Socket | null; connected: boolean; rx: Buffer[]; rxBytes: number; eof: boolean; error: number; opening: boolean;
}
interface TcpListener { kind: "tcp-listen"; server: Server; pending: Socket[]; error: number; listening: boolean }
interface UdpSocket {
  kind: "udp"; sock: DgramSocket | null; connected: boolean; listener: boolean;
  rx: { from: Uint8Array; data: Buffer }[]; error: number; opening: boolean;
  /** Datagrams handed to Node and not yet sent; a close waits for them (Node drops them otherwise). */
  sending: number; closing: boolean;
}
type HostSocket = StreamSocket | TcpListener | UdpSocket;

export interface NetworkOptions {
  /** The address listeners bind (default 127.0.0.1: a device on a workstation serves loopback). */
  bindAddress?: string;
  /** Resolves a host name to addresses (default: the host's resolver). */
  resolve?: (name: string) => Promise<string[]>;
  /** What net_admin's probe reports as the interface (default: the first non-internal IPv4 one, else loopback). */
  interfaceName?: string;
}

const ERRNO_BY_CODE: Record<string, number> = {
  ECONNREFUSED: abi.ECONNREFUSED, ECONNRESET: abi.ECONNRESET, ETIMEDOUT: abi.ETIMEDOUT, EHOSTUNREACH: abi.EHOSTUNREACH,
  ENETUNREACH: abi.EHOSTUNREACH, ENOTFOUND: abi.EHOSTUNREACH, EAI_AGAIN: abi.EHOSTUNREACH, EADDRINUSE: abi.EADDRINUSE,
  EACCES: abi.EACCES, EPIPE: abi.EPIPE, EADDRNOTAVAIL: abi.EADDRINUSE,
};
/** A Node error as a negative errno the ABI names (-EIO for anything else). */
export function errnoOf(err: unknown): number {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return -(code && ERRNO_BY_CODE[code] ? ERRNO_BY_CODE[code] : abi.EIO);
}

/** The text of a canonical target (drivers/net.ts passes 'n' name, '4' + 4 bytes, '6' + 16). */
export function targetText(canon: Uint8Array): { name: string | null; address: string | null } | null {
  if (canon.length < 2) return null;
  const kind = canon[0];
  if (kind === 0x6e) return { name: Buffer.from(canon.subarray(1)).toString("latin1"), address: null };
  if (kind === 0x34 && canon.length === 5) return { name: null, address: Array.from(canon.subarray(1)).join(".") };
  if (kind === 0x36 && canon.length === 17) return { name: null, address: v6Text(canon.subarray(1)) };
  return null;
}

/** 16 IPv6 address bytes as eight hex groups joined by ':' (what Node's sockets accept). */
function v6Text(bytes: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return groups.join(":");
}

/** A socket address record (NET_ADDR_BYTES: family, 0, port LE, 16 address bytes) of an address and port. */
export function addrRecord(address: string, port: number): Uint8Array {
  const out = new Uint8Array(abi.NET_ADDR_BYTES);
  const v4 = /^\d+\.\d+\.\d+\.\d+$/.test(address) ? address : /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  new DataView(out.buffer).setUint16(2, port, true);
  if (v4) {
    out[0] = 4;
    v4.split(".").forEach((p, i) => { out[4 + i] = Number(p); });
    return out;
  }
  out[0] = 6;
  const [head, tail] = address.split("::");
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  groups.slice(0, 8).forEach((g, i) => { const v = parseInt(g, 16) || 0; out[4 + i * 2] = v >> 8; out[5 + i * 2] = v & 0xff; });
  return out;
}

/** The address and port of a socket address record, or null when it is not one. */
export function addrOfRecord(rec: Uint8Array): { address: string; port: number; family: 4 | 6 } | null {
  if (rec.length < abi.NET_ADDR_BYTES || (rec[0] !== 4 && rec[0] !== 6) || rec[1] !== 0) return null;
  const port = rec[2] | (rec[3] << 8);
  if (rec[0] === 4) return { address: Array.from(rec.subarray(4, 8)).join("."), port, family: 4 };
  // ::ffff:a.b.c.d is the IPv4 host, as the core's allowlist check takes it (net/allow.ts).
  if (rec.subarray(4, 14).every((b) => b === 0) && rec[14] === 0xff && rec[15] === 0xff) return { address: Array.from(rec.subarray(16, 20)).join("."), port, family: 4 };
  return { address: v6Text(rec.subarray(4, 20)), port, family: 6 };
}

export class Network implements NetworkLink {
  /** Told (outside any core call) when a socket has news: the Device calls the kernel's net-notify. */
  onNotify: ((socket: number) => void) | null = null;
  private readonly sockets = new Map<number, HostSocket>();
  private readonly observers: ((text: string) => void)[] = [];
  private inFlight = 0;
  private settleWaiters: (() => void)[] = [];
  private readonly bindAddress: string;
  private readonly resolveName: (name: string) => Promise<string[]>;

  constructor(private readonly options: NetworkOptions = {}) {
    this.bindAddress = options.bindAddress ?? "127.0.0.1";
    this.resolveName = options.resolve ?? (async (name) => (await lookup(name, { all: true })).map((a) => a.address));
  }

  /** Hears each socket event as a line for the run log (connects, listens, closes, errors); the function returned stops it. */
  observe(fn: (text: string) => void): () => void {
    this.observers.push(fn);
    return () => { const i = this.observers.indexOf(fn); if (i >= 0) this.observers.splice(i, 1); };
  }
  private log(text: string): void { for (const o of this.observers) o(text); }

  /** Connects and resolves still under way (a virtual-clock run waits for them before time moves). */
  get pendingOperations(): number { return this.inFlight; }
  /** Settles when the next pending operation finishes. */
  settled(): Promise<void> { return new Promise((resolve) => this.settleWaiters.push(resolve)); }

  private begin(s: StreamSocket | UdpSocket): void { s.opening = true; this.inFlight++; }
  /** `s`'s connect (or resolve) is over, however it ended; counted once. */
  private end(s: StreamSocket | UdpSocket): void {
    if (!s.opening) return;
    s.opening = false;
    this.inFlight--;
    for (const w of this.settleWaiters.splice(0)) w();
  }

  private notify(id: number): void {
    // Node's events never arrive inside a core call (the core runs synchronously), so the core hears now.
    if (this.sockets.has(id)) this.onNotify?.(id);
  }

  control(id: number, op: number, arg: number, data: Uint8Array): number {
    try {
      switch (op) {
        case abi.NET_OP_CONNECT: return this.connect(id, arg >>> 16, arg & 0xffff, data);
        case abi.NET_OP_LISTEN: return this.listen(id, arg >>> 16, arg & 0xffff);
        case abi.NET_OP_ACCEPT: return this.accept(id, arg);
        case abi.NET_OP_SEND: return this.send(id, data);
        case abi.NET_OP_SENDTO: return this.sendTo(id, data);
        case abi.NET_OP_STATE: return this.state(id);
        case abi.NET_OP_CLOSE: this.close(id); return 0;
      }
      return -abi.EINVAL;
    } catch (err) {
      return errnoOf(err);
    }
  }

  read(id: number, op: number, _arg: number, maxLen: number): OrErrno<Uint8Array> {
    try {
      if (op === abi.NET_OP_PROBE) return this.probe();
      if (op === abi.NET_OP_RECV) return this.recv(id, maxLen);
      if (op === abi.NET_OP_RECVFROM) return this.recvFrom(id, maxLen);
      return -abi.EINVAL;
    } catch (err) {
      return errnoOf(err);
    }
  }

  /** Closes every socket (the core rebooted or the device stops). */
  closeAll(): void { for (const id of [...this.sockets.keys()]) this.close(id); }

  private connect(id: number, protocol: number, port: number, canon: Uint8Array): number {
    if (this.sockets.has(id)) return -abi.EBUSY;
    const target = targetText(canon);
    if (!target) return -abi.EINVAL;
    const shown = `${target.name ?? target.address}:${port}`;
    if (protocol === abi.NET_TCP) {
      const s: StreamSocket = { kind: "tcp", sock: null, connected: false, rx: [], rxBytes: 0, eof: false, error: 0, opening: false };
      this.sockets.set(id, s);
      this.begin(s);
      void this.addressOf(target).then((address) => {
        if (this.sockets.get(id) !== s) return;
        const sock = createConnection({ host: address, port });
        s.sock = sock;
        sock.on("connect", () => { s.connected = true; this.log(`tcp ${shown} connected (${address})`); this.end(s); this.notify(id); });
        this.wireStream(id, s, sock, (err) => {
          this.end(s);
          this.log(`tcp ${shown}: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
        });
      }, (err) => {
        if (this.sockets.get(id) !== s) return;
        this.end(s);
        s.error = errnoOf(err);
        this.log(`tcp ${shown}: cannot resolve (${(err as NodeJS.ErrnoException).code ?? "error"})`);
        this.notify(id);
      });
      return 0;
    }
    if (protocol === abi.NET_UDP) {
      const s: UdpSocket = { kind: "udp", sock: null, connected: false, listener: false, rx: [], error: 0, opening: false, sending: 0, closing: false };
      this.sockets.set(id, s);
      this.begin(s);
      void this.addressOf(target).then((address) => {
        if (this.sockets.get(id) !== s) return;
        const sock = createSocket(address.includes(":") ? "udp6" : "udp4");
        s.sock = sock;
        sock.on("message", (msg: Buffer, from: RemoteInfo) => this.datagram(id, s, msg, from));
        sock.on("error", (err) => { this.end(s); s.error = errnoOf(err); this.notify(id); });
        sock.connect(port, address, () => { s.connected = true; this.log(`udp ${shown} connected (${address})`); this.end(s); this.notify(id); });
      }, (err) => {
        if (this.sockets.get(id) !== s) return;
        this.end(s);
        s.error = errnoOf(err);
        this.notify(id);
      });
      return 0;
    }
    return -abi.EINVAL;
  }

  /** The address to connect to: the target's own, or the first its name resolves to. */
  private async addressOf(target: { name: string | null; address: string | null }): Promise<string> {
    if (target.address) return target.address;
    const all = await this.resolveName(target.name!);
    if (all.length === 0) throw Object.assign(new Error(`${target.name}: no address`), { code: "ENOTFOUND" });
    return all[0];
  }

  private datagram(id: number, s: UdpSocket, msg: Buffer, from: RemoteInfo): void {
    if (s.rx.length >= RX_MAX_DATAGRAMS) return;
    s.rx.push({ from: addrRecord(from.address, from.port), data: msg });
    this.notify(id);
  }

  private listen(id: number, protocol: number, port: number): number {
    if (this.sockets.has(id)) return -abi.EBUSY;
    if (protocol === abi.NET_TCP) {
      const server = createServer({ pauseOnConnect: true });
      const s: TcpListener = { kind: "tcp-listen", server, pending: [], error: 0, listening: false };
      this.sockets.set(id, s);
      server.on("connection", (sock: Socket) => {
        if (s.pending.length >= 16) { sock.destroy(); return; }
        s.pending.push(sock);
        this.notify(id);
      });
      server.on("error", (err) => { s.error = errnoOf(err); this.log(`tcp listen ${port}: ${(err as NodeJS.ErrnoException).code ?? err.message}`); this.notify(id); });
      server.listen(port, this.bindAddress, () => { s.listening = true; this.log(`tcp listening on ${this.bindAddress}:${port}`); this.notify(id); });
      return 0;
    }
    if (protocol === abi.NET_UDP) {
      const sock = createSocket(this.bindAddress.includes(":") ? "udp6" : "udp4");
      const s: UdpSocket = { kind: "udp", sock, connected: false, listener: true, rx: [], error: 0, opening: false, sending: 0, closing: false };
      this.sockets.set(id, s);
      sock.on("message", (msg: Buffer, from: RemoteInfo) => this.datagram(id, s, msg, from));
      sock.on("error", (err) => { s.error = errnoOf(err); this.notify(id); });
      sock.bind(port, this.bindAddress, () => { s.connected = true; this.log(`udp listening on ${this.bindAddress}:${port}`); this.notify(id); });
      return 0;
    }
    return -abi.EINVAL;
  }

  private accept(listenerId: number, newId: number): number {
    const l = this.sockets.get(listenerId);
    if (!l || l.kind !== "tcp-listen") return -abi.EINVAL;
    if (l.error) return l.error;
    if (this.sockets.has(newId)) return -abi.EBUSY;
    const sock = l.pending.shift();
    if (!sock) return -abi.EAGAIN;
    const s: StreamSocket = { kind: "tcp", sock, connected: true, rx: [], rxBytes: 0, eof: false, error: 0, opening: false };
    this.sockets.set(newId, s);
    this.wireStream(newId, s, sock);
    sock.resume();
    return 0;
  }

  /**
   * Queues what stream `sock` receives in `s` (pausing the peer at RX_MAX_BYTES) and tells the
   * core of every byte, end, drain, error and close of socket `id`; `onError` runs first on an error.
   */
  private wireStream(id: number, s: StreamSocket, sock: Socket, onError?: (err: Error) => void): void {
    sock.on("data", (chunk: Buffer) => {
      s.rx.push(chunk);
      s.rxBytes += chunk.length;
      if (s.rxBytes >= RX_MAX_BYTES) sock.pause();
      this.notify(id);
    });
    sock.on("end", () => { s.eof = true; this.notify(id); });
    sock.on("drain", () => this.notify(id));
    sock.on("error", (err) => { onError?.(err); s.error = errnoOf(err); this.notify(id); });
    sock.on("close", () => { s.eof = true; this.notify(id); });
  }

  private send(id: number, data: Uint8Array): number {
    const s = this.sockets.get(id);
    if (!s) return -abi.EBADF;
    if (s.kind === "tcp-listen") return -abi.EINVAL;
    if (s.error) return s.error;
    if (s.kind === "udp") {
      if (s.listener) return -abi.EINVAL;
      if (!s.connected || !s.sock) return 0;
      this.sendDatagram(s, Buffer.from(data));
      return data.length;
    }
    if (!s.connected || !s.sock) return 0;
    if (s.sock.writableEnded || s.sock.destroyed) return -abi.EPIPE;
    if (s.sock.writableLength >= TX_HIGH_WATER_BYTES) return 0;
    s.sock.write(Buffer.from(data));
    return data.length;
  }

  private sendTo(id: number, data: Uint8Array): number {
    const s = this.sockets.get(id);
    if (!s || s.kind !== "udp" || !s.listener || !s.sock) return -abi.EINVAL;
    if (s.error) return s.error;
    const to = addrOfRecord(data.subarray(0, abi.NET_ADDR_BYTES));
    if (!to) return -abi.EINVAL;
    if (!s.connected) return 0;
    const payload = Buffer.from(data.subarray(abi.NET_ADDR_BYTES));
    this.sendDatagram(s, payload, to.port, to.address);
    return payload.length;
  }

  private sendDatagram(s: UdpSocket, payload: Buffer, port?: number, address?: string): void {
    const sock = s.sock!;
    s.sending++;
    const done = () => {
      s.sending--;
      if (s.closing && s.sending === 0) { try { sock.close(); } catch { /* closed already */ } }
    };
    if (port === undefined) sock.send(payload, done); else sock.send(payload, port, address, done);
  }

  private recv(id: number, maxLen: number): OrErrno<Uint8Array> {
    const s = this.sockets.get(id);
    if (!s) return -abi.EBADF;
    if (s.kind === "tcp-listen") return -abi.EINVAL;
    if (s.kind === "udp") {
      const d = s.rx.shift();
      if (!d) return s.error || -abi.EAGAIN;
      return new Uint8Array(d.data.subarray(0, maxLen));
    }
    if (s.rxBytes === 0) {
      if (s.error) return s.error;
      return s.eof ? new Uint8Array(0) : -abi.EAGAIN;
    }
    const out = new Uint8Array(Math.min(maxLen, s.rxBytes));
    let at = 0;
    while (at < out.length) {
      const head = s.rx[0];
      const n = Math.min(head.length, out.length - at);
      out.set(head.subarray(0, n), at);
      at += n;
      if (n === head.length) s.rx.shift(); else s.rx[0] = head.subarray(n);
    }
    s.rxBytes -= out.length;
    if (s.sock && s.sock.isPaused() && s.rxBytes < RX_MAX_BYTES / 2) s.sock.resume();
    return out;
  }

  private recvFrom(id: number, maxLen: number): OrErrno<Uint8Array> {
    const s = this.sockets.get(id);
    if (!s || s.kind !== "udp" || !s.listener) return -abi.EINVAL;
    const d = s.rx.shift();
    if (!d) return s.error || -abi.EAGAIN;
    const payload = d.data.subarray(0, Math.max(0, maxLen - abi.NET_ADDR_BYTES));
    const out = new Uint8Array(abi.NET_ADDR_BYTES + payload.length);
    out.set(d.from, 0);
    out.set(payload, abi.NET_ADDR_BYTES);
    return out;
  }

  private state(id: number): number {
    const s = this.sockets.get(id);
    if (!s) return -abi.EBADF;
    if (s.kind === "tcp-listen") {
      if (s.error) return s.error;
      return (s.listening ? abi.NET_STATE_LISTENING : 0) | (s.pending.length > 0 ? abi.NET_STATE_READABLE : 0);
    }
    if (s.kind === "udp") {
      if (s.error && s.rx.length === 0) return s.error;
      return (s.connected ? abi.NET_STATE_CONNECTED | abi.NET_STATE_WRITABLE : 0) | (s.listener && s.connected ? abi.NET_STATE_LISTENING : 0)
        | (s.rx.length > 0 ? abi.NET_STATE_READABLE : 0);
    }
    // Bytes already received are read before an error or the end is reported.
    if (s.rxBytes > 0) return (s.connected ? abi.NET_STATE_CONNECTED : 0) | abi.NET_STATE_READABLE;
    if (s.error) return s.error;
    if (s.eof) return abi.NET_STATE_EOF;
    if (!s.connected || !s.sock) return 0;
    return abi.NET_STATE_CONNECTED | (s.sock.writableLength < TX_HIGH_WATER_BYTES ? abi.NET_STATE_WRITABLE : 0);
  }

  private close(id: number): void {
    const s = this.sockets.get(id);
    if (!s) return;
    this.sockets.delete(id);
    if (s.kind === "tcp-listen") {
      for (const p of s.pending) p.destroy();
      s.server.close();
    } else if (s.kind === "udp") {
      this.end(s);
      s.closing = true;
      if (s.sending === 0) { try { s.sock?.close(); } catch { /* closed already */ } }
    } else {
      this.end(s);
      s.sock?.end();
      s.sock?.destroySoon?.();
    }
  }

  /** net_admin's probe: the interface record (NET_STATUS_BYTES) the network manager publishes. */
  private probe(): Uint8Array {
    const out = new Uint8Array(abi.NET_STATUS_BYTES);
    let name = "lo", address = "127.0.0.1";
    const all = networkInterfaces();
    const wanted = this.options.interfaceName;
    for (const [ifName, addrs] of Object.entries(all)) {
      const v4 = (addrs ?? []).find((a) => a.family === "IPv4" && (wanted ? true : !a.internal));
      if (!v4 || (wanted && ifName !== wanted)) continue;
      name = ifName;
      address = v4.address;
      break;
    }
    out[0] = 1;
    out[1] = 1;
    address.split(".").forEach((p, i) => { out[4 + i] = Number(p); });
    out.set(Buffer.from(name.slice(0, 23), "latin1"), 8);
    return out;
  }
}
