// control/server: a running device's control endpoint (SPEC.md, "Control endpoint"): a Unix
// socket `DEV/control.sock` that only the device folder's owner can reach, carrying the
// DeviceControl verbs as one JSON object per line.
//
// Invariants: the socket is mode 0600 from the moment it has its name (it is made in a private
// 0700 folder, chmodded, then renamed into place); the device folder must be the user's own and
// not writable by group or others; an existing socket is replaced only when nothing answers on it
// (a killed device's), never while a device listens there; close() removes only its own socket.
// Verbs are carried out one at a time device-wide, in arrival order (the core decides each on the
// state the one before left); each connection's requests are answered in order.
// Bounds: at most `maxClients` connections; a request line at most maxRequestBytes(maxPackageBytes)
// (a longer one is answered with an error and the connection closed); a request begun must end
// within `requestTimeoutMs`, a connection with nothing pending is closed after `idleTimeoutMs`, a
// response not taken by the client within `requestTimeoutMs` closes its connection. Memory: at
// most maxClients x (maxRequestBytes + one read chunk) buffered.
// A DeviceControl call that never settles holds the device-wide queue (its connection stays busy
// and is not timed out): the implementation must bound its own work.
// Must not: let one client's bytes or silence delay another's requests (beyond the device-wide
// order of verbs), crash the device on any input, or delete a socket it did not make.
import { chmodSync, lstatSync, mkdtempSync, renameSync, rmdirSync, statSync, unlinkSync, type Stats } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import * as abi from "../../assembly/abi.js";
import { ControlError, type DeviceControl } from "../device-control.js";
import { Flash } from "../flash.js";
import { ERASE_BLOCK_BYTES, readTable } from "../flash-layout.js";
import { loadImage } from "../fs/image.js";
import { printable } from "../printable.js";
import { asControlError, CONTROL_PROTOCOL_VERSION, CONTROL_SOCKET, errorLine, idOf, maxRequestBytes, okLine, parseRequest, type Request } from "./protocol.js";

export interface ServeOptions {
  /** The largest package a deploy may carry; default: the apps partition's size from DEV/flash.bin's table, at most PKG_MAX_BYTES. */
  maxPackageBytes?: number;
  maxClients?: number;
  requestTimeoutMs?: number;
  idleTimeoutMs?: number;
}

export const DEFAULT_MAX_CLIENTS = 8;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
/** A Unix socket path's most bytes (sun_path less its terminating NUL) on Linux. */
export const MAX_SOCKET_PATH_BYTES = 107;
/** How long a probe of an existing socket waits for it to accept before calling it live. */
const PROBE_TIMEOUT_MS = 1000;

const unavailable = (message: string) => new ControlError("unavailable", message);

/** The apps partition's size as the core reads the table of DEV/flash.bin, capped at the format's limit. */
export function appsPartitionLimit(dir: string): number {
  const path = join(dir, "flash.bin");
  let bytes: Uint8Array;
  try { bytes = loadImage(path); } catch (err) { throw unavailable(`${printable(path)}: cannot be read (${printable((err as Error).message)})`); }
  if (bytes.length === 0 || bytes.length % ERASE_BLOCK_BYTES !== 0) throw unavailable(`${printable(path)}: not a flash of whole ${ERASE_BLOCK_BYTES}-byte blocks`);
  let parts;
  try { parts = readTable(new Flash({ blockSizeBytes: ERASE_BLOCK_BYTES, blockCount: bytes.length / ERASE_BLOCK_BYTES }, bytes)); } catch (err) {
    throw unavailable(`${printable(path)}: ${printable((err as Error).message)}`);
  }
  const apps = parts.find((p) => p.type === abi.PART_APPS);
  if (!apps) throw unavailable(`${printable(path)}: no apps partition`);
  return Math.min(apps.sizeBytes, abi.PKG_MAX_BYTES);
}

/** The device folder is the user's own and only they can change what is in it. */
export function checkFolder(dir: string): void {
  let st: Stats;
  try { st = statSync(dir); } catch (err) { throw unavailable(`${printable(dir)}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such folder" : printable((err as Error).message)}`); }
  if (!st.isDirectory()) throw unavailable(`${printable(dir)}: not a folder`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw unavailable(`${printable(dir)}: belongs to uid ${st.uid}, not to you (uid ${uid}); the control endpoint is served only from your own device folder`);
  if (st.mode & 0o022) throw unavailable(`${printable(dir)}: writable by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}); the control endpoint needs a folder only its owner can change (chmod go-w)`);
}

/** "live" when something accepts connections at `path`, "stale" when it refuses (a killed device's socket). */
export function probeSocket(path: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<"live" | "stale"> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    const timer = setTimeout(() => { s.destroy(); resolve("live"); }, timeoutMs);
    s.once("connect", () => { clearTimeout(timer); s.destroy(); resolve("live"); });
    s.once("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === "ECONNREFUSED" || err.code === "ENOENT") resolve("stale");
      else reject(unavailable(`${printable(path)}: cannot tell whether a device serves it (${err.code ?? err.message})`));
    });
  });
}

/** One device-wide queue: each verb runs after the one before it has finished. */
class VerbQueue {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

async function carryOut(control: DeviceControl, req: Request, hello: () => object): Promise<unknown> {
  switch (req.verb) {
    case "hello": return hello();
    case "listInstalled": return control.listInstalled();
    case "deploy": return control.deploy(req.packageBytes);
    case "remove": await control.remove(req.componentId); return null;
    case "start": return control.start(req.componentId);
    case "stop": return control.stop(req.componentId);
    case "status": return control.status(req.componentId);
    case "quota": return control.quota(req.componentId);
    case "memoryStats": return control.memoryStats(req.componentId);
  }
}

export async function serveControl(dir: string, control: DeviceControl, options: ServeOptions = {}): Promise<{ close(): Promise<void>; address: string }> {
  checkFolder(dir);
  const address = join(dir, CONTROL_SOCKET);
  if (Buffer.byteLength(address) > MAX_SOCKET_PATH_BYTES) throw unavailable(`${printable(address)}: ${Buffer.byteLength(address)} bytes; a Unix socket path is at most ${MAX_SOCKET_PATH_BYTES} (use a shorter device folder path)`);
  const maxPackageBytes = options.maxPackageBytes ?? appsPartitionLimit(dir);
  const maxBytes = maxRequestBytes(maxPackageBytes);
  const maxClients = options.maxClients ?? DEFAULT_MAX_CLIENTS;
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const hello = () => ({ protocol: CONTROL_PROTOCOL_VERSION, maxPackageBytes, maxRequestBytes: maxBytes });

  let existing: Stats | null = null;
  try { existing = lstatSync(address); } catch (err) { if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw unavailable(`${printable(address)}: ${printable((err as Error).message)}`); }
  if (existing && !existing.isSocket()) throw unavailable(`${printable(address)}: exists and is not a socket; not replaced`);
  if (existing && (await probeSocket(address)) === "live") throw unavailable(`${printable(dir)}: a device is already running there (its control endpoint answers)`);

  const queue = new VerbQueue();
  const clients = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: false }, (socket) => {
    if (clients.size >= maxClients) {
      socket.on("error", () => socket.destroy());
      socket.end(errorLine(null, unavailable(`too many clients (${maxClients} connected); try again`)));
      setTimeout(() => socket.destroy(), requestTimeoutMs).unref();
      return;
    }
    clients.add(socket);
    socket.on("close", () => clients.delete(socket));
    serveConnection(socket);
  });

  function serveConnection(socket: Socket): void {
    let chunks: Buffer[] = [];
    let partialBytes = 0;
    let partialSinceMs = 0;
    const lines: Buffer[] = [];
    let busy = false;
    let closed = false;
    let timer: NodeJS.Timeout | null = null;
    const decoder = new TextDecoder("utf-8", { fatal: true });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => { closed = true; if (timer) clearTimeout(timer); });

    const closeWith = (line: string | null) => {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      socket.pause();
      socket.removeAllListeners("data");
      if (line) socket.end(line); else socket.end();
      // A client that does not take the last line is cut off.
      setTimeout(() => socket.destroy(), requestTimeoutMs).unref();
    };
    /** The one timer of the connection: a request begun must end; an idle one ends. */
    const arm = () => {
      if (timer) clearTimeout(timer);
      timer = null;
      if (closed || busy || lines.length) return;
      if (partialBytes > 0) {
        timer = setTimeout(() => closeWith(errorLine(null, new ControlError("bad-request", `request not completed within ${requestTimeoutMs} ms`))), Math.max(0, partialSinceMs + requestTimeoutMs - Date.now()));
      } else {
        timer = setTimeout(() => closeWith(null), idleTimeoutMs);
      }
    };
    const write = (line: string): Promise<boolean> => new Promise((resolve) => {
      if (closed) return resolve(false);
      if (socket.write(line)) return resolve(true);
      const t = setTimeout(() => { socket.destroy(); resolve(false); }, requestTimeoutMs);
      socket.once("drain", () => { clearTimeout(t); resolve(true); });
      socket.once("close", () => { clearTimeout(t); resolve(false); });
    });
    const answer = async (raw: Buffer): Promise<string> => {
      let text: string;
      try { text = decoder.decode(raw); } catch { return errorLine(null, new ControlError("bad-request", "malformed request: not UTF-8")); }
      let req: Request;
      try { req = parseRequest(text, maxPackageBytes); } catch (err) {
        let id = null;
        try { id = idOf(JSON.parse(text)); } catch { /* not JSON: no id */ }
        return errorLine(id, asControlError(err));
      }
      try { return okLine(req.id, await queue.run(() => carryOut(control, req, hello))); } catch (err) { return errorLine(req.id, asControlError(err)); }
    };
    const drainLines = async () => {
      if (busy) return;
      busy = true;
      arm();
      while (lines.length && !closed) {
        const line = lines.shift()!;
        if (!(await write(await answer(line)))) break;
      }
      busy = false;
      if (!closed && partialBytes <= maxBytes) socket.resume();
      arm();
    };
    socket.on("data", (data: Buffer) => {
      if (closed) return;
      let at = 0;
      for (let nl = data.indexOf(0x0a, at); nl >= 0; nl = data.indexOf(0x0a, at)) {
        const piece = data.subarray(at, nl);
        if (partialBytes + piece.length > maxBytes) return closeWith(errorLine(null, oversized()));
        chunks.push(piece);
        let line = Buffer.concat(chunks);
        if (line.length && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
        if (line.length) lines.push(line);
        chunks = [];
        partialBytes = 0;
        at = nl + 1;
      }
      if (at < data.length) {
        if (partialBytes === 0) partialSinceMs = Date.now();
        partialBytes += data.length - at;
        if (partialBytes > maxBytes) return closeWith(errorLine(null, oversized()));
        chunks.push(data.subarray(at));
      }
      // Backpressure: while requests wait, read no further.
      if (lines.length) { socket.pause(); void drainLines(); } else arm();
    });
    arm();
  }
  const oversized = () => new ControlError("bad-request", `request exceeds ${maxBytes} bytes (a package of at most ${maxPackageBytes} bytes as base64, plus ${maxBytes - 4 * Math.ceil(maxPackageBytes / 3)})`);

  // Made where no one else can reach it, made private, then given its name in one rename.
  const privateDir = mkdtempSync(join(dir, ".c"));
  const staging = join(privateDir, "s");
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(staging, () => { server.off("error", reject); resolve(); });
    });
    chmodSync(staging, 0o600);
    renameSync(staging, address);
  } catch (err) {
    server.close();
    try { unlinkSync(staging); } catch { /* not made */ }
    throw unavailable(`${printable(address)}: cannot serve (${printable((err as Error).message)})`);
  } finally {
    try { rmdirSync(privateDir); } catch { /* left for the next start to see */ }
  }
  const own = lstatSync(address);
  server.on("error", () => { /* after listening, a failed accept is the client's loss only */ });
  return {
    address,
    close: async () => {
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of clients) s.destroy();
      await done;
      try {
        const now = lstatSync(address);
        if (now.ino === own.ino && now.dev === own.dev) unlinkSync(address);
      } catch { /* already gone */ }
    },
  };
}
