// HostYield: how a device running on a real clock lets its host's event loop in (timers, input
// events, an abort), with what every JavaScript engine has: no setImmediate (Node only).
//
// A yield is a macrotask: a MessageChannel message where the engine has one (browsers, Node,
// Deno), else setTimeout(0) (gjs, jsc). Browsers clamp nested setTimeout(0) to 4 ms, so slices are
// batched: the device yields once `batchMs` of wall time has passed since the last yield, never
// per slice. tools/bench-yield.ts measures what each choice costs.
// Must not: keep the host's event loop alive after the yield (the port is closed), or be used on a
// virtual clock (virtual time never waits for the host).

const perf = (globalThis as { performance?: { now(): number } }).performance;
/**
 * Milliseconds of a monotonic wall clock (Date.now where an engine lacks `performance`). Looked up
 * once: a slice with a wall budget reads it after every syscall.
 */
export const wallMs: () => number = perf ? perf.now.bind(perf) : Date.now;

/** Wall time the device runs slices for before it yields to its host. */
export const DEFAULT_YIELD_BATCH_MS = 8;

export type YieldKind = "message-channel" | "timeout";

interface Channel { port1: { onmessage: ((e: unknown) => void) | null; close(): void }; port2: { postMessage(v: unknown): void; close(): void } }
type ChannelCtor = new () => Channel;

export function defaultYieldKind(): YieldKind {
  return typeof (globalThis as { MessageChannel?: unknown }).MessageChannel === "function" ? "message-channel" : "timeout";
}

/** Resolves on a fresh macrotask of the host's event loop. */
export function yieldToHost(kind: YieldKind = defaultYieldKind()): Promise<void> {
  if (kind === "message-channel") {
    const Ctor = (globalThis as unknown as { MessageChannel: ChannelCtor }).MessageChannel;
    return new Promise((resolve) => {
      const ch = new Ctor();
      ch.port1.onmessage = () => { ch.port1.close(); ch.port2.close(); resolve(); };
      ch.port2.postMessage(0);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}

export class HostYield {
  private lastMs = wallMs();
  constructor(readonly batchMs = DEFAULT_YIELD_BATCH_MS, readonly kind: YieldKind = defaultYieldKind()) {}
  /** True once `batchMs` of wall time passed since the last yield. */
  due(): boolean { return wallMs() - this.lastMs >= this.batchMs; }
  async yield(): Promise<void> {
    await yieldToHost(this.kind);
    this.lastMs = wallMs();
  }
}
