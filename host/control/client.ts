// control/client: the `wasphere device ...` verbs' side of a running device's control endpoint
// (SPEC.md, "Control endpoint"): one connection, requests matched to answers by id, a timeout on
// every wait.
// Invariants: connectControl answers null only when no device is running in the folder (no
// socket, or one that refuses: a killed device's); every failure is a ControlError of one
// printable line; an answer is checked for the shape its verb promises before it is returned.
// Must not: connect to a socket that is not the user's own, or wait without a bound.
import { lstatSync, type Stats } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { join } from "node:path";
import { ControlError, type DeviceControl } from "../device-control.js";
import { printable } from "../printable.js";
import { CONTROL_PROTOCOL_VERSION, CONTROL_SOCKET, MAX_RESPONSE_BYTES, oneLine, type HelloReport, type Verb } from "./protocol.js";

export interface ClientOptions {
  connectTimeoutMs?: number;
  /** Every verb but deploy. */
  callTimeoutMs?: number;
  /** A deploy instruments the app's module: it may take much longer. */
  deployTimeoutMs?: number;
}
export const DEFAULT_CONNECT_TIMEOUT_MS = 2000;
export const DEFAULT_CALL_TIMEOUT_MS = 15_000;
export const DEFAULT_DEPLOY_TIMEOUT_MS = 180_000;

const unavailable = (message: string) => new ControlError("unavailable", message);
const CODES = new Set(["not-installed", "refused", "bad-request", "unavailable", "internal"]);

type Shape = Record<string, "string" | "number" | "boolean">;
const IMAGE: Shape = { componentId: "string", imageId: "string", name: "string", version: "number", imageType: "number", packageBytes: "number", offsetBytes: "number" };
const APP: Shape = { componentId: "string", name: "string", state: "string", crashes: "number", restarts: "number" };
const SHAPES: Record<Verb, Shape | "images" | "null"> = {
  hello: { protocol: "number", maxPackageBytes: "number", maxRequestBytes: "number" },
  listInstalled: "images",
  deploy: { ...IMAGE, replaced: "boolean" },
  remove: "null",
  start: APP, stop: APP, status: APP,
  quota: { componentId: "string", name: "string", quotaBytes: "number", usedBytes: "number" },
  memoryStats: { componentId: "string", name: "string", quotaBytes: "number", memoryBytes: "number", memPeakBytes: "number" },
};

function checkShape(verb: Verb, value: unknown): unknown {
  const bad = (why: string) => new ControlError("internal", `the device's answer to ${verb} is malformed (${why})`);
  const one = (v: unknown, shape: Shape, where: string) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad(`${where} is not an object`);
    for (const [k, t] of Object.entries(shape)) if (typeof (v as Record<string, unknown>)[k] !== t) throw bad(`${where}.${k} is not a ${t}`);
    return v;
  };
  const shape = SHAPES[verb];
  if (shape === "null") { if (value !== null) throw bad("not null"); return null; }
  if (shape === "images") {
    if (!Array.isArray(value)) throw bad("not an array");
    value.forEach((v, i) => one(v, IMAGE, `[${i}]`));
    return value;
  }
  return one(value, shape, "result");
}

interface Pending { verb: Verb; resolve(v: unknown): void; reject(e: ControlError): void; timer: NodeJS.Timeout }

class ControlConnection {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private chunks: Buffer[] = [];
  private bytes = 0;
  private closedWhy: string | null = null;

  constructor(private readonly socket: Socket, private readonly where: string, private readonly opts: Required<ClientOptions>) {
    socket.on("data", (d: Buffer) => this.onData(d));
    socket.on("error", (err: NodeJS.ErrnoException) => this.fail(`the control connection failed (${err.code ?? err.message})`));
    socket.on("close", () => this.fail("the device closed the control connection"));
  }

  private fail(why: string): void {
    if (!this.closedWhy) this.closedWhy = why;
    for (const [id, p] of this.pending) { clearTimeout(p.timer); this.pending.delete(id); p.reject(unavailable(`${this.where}: ${why}`)); }
    this.socket.destroy();
  }

  private onData(data: Buffer): void {
    let at = 0;
    for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a, at)) {
      this.chunks.push(data.subarray(at, nl));
      const line = Buffer.concat(this.chunks).toString("utf8");
      this.chunks = [];
      this.bytes = 0;
      at = nl + 1;
      this.onLine(line);
    }
    if (at < data.length) {
      this.bytes += data.length - at;
      this.chunks.push(data.subarray(at));
      if (this.bytes > MAX_RESPONSE_BYTES) this.fail(`an answer exceeds ${MAX_RESPONSE_BYTES} bytes`);
    }
  }

  private onLine(line: string): void {
    let msg: { id?: unknown; ok?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown } };
    try { msg = JSON.parse(line); } catch { return this.fail("the device answered with a line that is not JSON"); }
    if (typeof msg !== "object" || msg === null) return this.fail("the device answered with a line that is not an object");
    if (msg.id === null && msg.ok === false) {
      // An answer to no request of ours (too many clients, a request refused whole): the connection ends.
      return this.fail(oneLine(String(msg.error?.message ?? "refused")));
    }
    const p = typeof msg.id === "number" ? this.pending.get(msg.id) : undefined;
    if (!p) return; // the answer to a request that timed out
    this.pending.delete(msg.id as number);
    clearTimeout(p.timer);
    if (msg.ok === true) {
      try { p.resolve(checkShape(p.verb, msg.result)); } catch (err) { p.reject(err as ControlError); }
      return;
    }
    const code = typeof msg.error?.code === "string" && CODES.has(msg.error.code) ? msg.error.code as ControlError["code"] : "internal";
    p.reject(new ControlError(code, oneLine(typeof msg.error?.message === "string" ? msg.error.message : "refused, with no message")));
  }

  call<T>(verb: Verb, fields: Record<string, unknown> = {}, timeoutMs = this.opts.callTimeoutMs): Promise<T> {
    if (this.closedWhy) return Promise.reject(unavailable(`${this.where}: ${this.closedWhy}`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(id); reject(unavailable(`${this.where}: no answer to ${verb} within ${timeoutMs} ms`)); }, timeoutMs);
      this.pending.set(id, { verb, resolve: resolve as (v: unknown) => void, reject, timer });
      this.socket.write(JSON.stringify({ id, verb, ...fields }) + "\n");
    });
  }

  close(): void {
    this.fail("closed");
  }
}

/** The running device in `dir`, or null when none runs there. */
export async function connectControl(dir: string, options: ClientOptions = {}): Promise<(DeviceControl & { close(): void }) | null> {
  const opts: Required<ClientOptions> = {
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    callTimeoutMs: options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
    deployTimeoutMs: options.deployTimeoutMs ?? DEFAULT_DEPLOY_TIMEOUT_MS,
  };
  const path = join(dir, CONTROL_SOCKET);
  const where = printable(path);
  let st: Stats;
  try { st = lstatSync(path); } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw unavailable(`${where}: ${printable((err as Error).message)}`);
  }
  if (!st.isSocket()) throw unavailable(`${where}: exists and is not a socket`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw unavailable(`${where}: belongs to uid ${st.uid}, not to you (uid ${uid}); not connecting`);
  const socket = await new Promise<Socket | null>((resolve, reject) => {
    const s = createConnection(path);
    const timer = setTimeout(() => { s.destroy(); reject(unavailable(`${where}: the device did not accept a connection within ${opts.connectTimeoutMs} ms`)); }, opts.connectTimeoutMs);
    s.once("connect", () => { clearTimeout(timer); resolve(s); });
    s.once("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === "ECONNREFUSED" || err.code === "ENOENT") resolve(null);
      else reject(unavailable(`${where}: cannot connect (${err.code ?? err.message})`));
    });
  });
  if (!socket) return null;
  const conn = new ControlConnection(socket, where, opts);
  let hello: HelloReport;
  try { hello = await conn.call<HelloReport>("hello"); } catch (err) { conn.close(); throw err; }
  if (hello.protocol !== CONTROL_PROTOCOL_VERSION) {
    conn.close();
    throw unavailable(`${where}: the device speaks control protocol ${hello.protocol}; this wasphere speaks ${CONTROL_PROTOCOL_VERSION}`);
  }
  const component = (verb: Verb) => (componentId: string) => conn.call<never>(verb, { componentId });
  return {
    listInstalled: () => conn.call("listInstalled"),
    deploy: (packageBytes: Uint8Array) => {
      if (packageBytes.length > hello.maxPackageBytes) {
        return Promise.reject(new ControlError("bad-request", `package: ${packageBytes.length} bytes; this device takes at most ${hello.maxPackageBytes} (its apps partition, and the format's limit)`));
      }
      return conn.call("deploy", { package: Buffer.from(packageBytes).toString("base64") }, opts.deployTimeoutMs);
    },
    remove: async (componentId: string) => { await conn.call("remove", { componentId }); },
    start: component("start"),
    stop: component("stop"),
    status: component("status"),
    quota: component("quota"),
    memoryStats: component("memoryStats"),
    close: () => conn.close(),
  };
}
