// The instrumenter's worker thread: receives {id, wasm, opts}, answers {id, ok, ...}. It runs
// instrumentApp (instrument.ts) off the device's thread, so a long install never stalls the apps
// that are running, and binaryen's stack (its passes recurse) is this thread's, sized for it.
// Invariants: one job at a time, answered in order; an InstrumentError is a refusal (the module
// is at fault) and leaves the worker usable; anything else is reported and the host retires the
// worker (binaryen's state may be damaged).
// Memory: one module and binaryen's copy of it at a time.
// Must not: touch the device or anything but its messages.
import { parentPort } from "node:worker_threads";
import { instrumentApp, InstrumenterCrash, InstrumentError, type InstrumentOptions } from "./instrument.js";

export interface InstrumentRequest { id: number; wasm: Uint8Array; opts: InstrumentOptions }
export type InstrumentReply =
  | { id: number; ok: true; bytes: Uint8Array; originalBytes: number; instrumentedBytes: number }
  /** `refused`: the module is at fault and the worker is fine; otherwise retire the worker. */
  | { id: number; ok: false; refused: boolean; message: string };

const port = parentPort;
if (!port) throw new Error("instrument-worker.js runs only as a worker thread");
port.on("message", ({ id, wasm, opts }: InstrumentRequest) => {
  let reply: InstrumentReply;
  try {
    const out = instrumentApp(wasm, opts);
    reply = { id, ok: true, bytes: out.bytes, originalBytes: out.originalBytes, instrumentedBytes: out.instrumentedBytes };
  } catch (err) {
    const refused = err instanceof InstrumentError && !(err instanceof InstrumenterCrash);
    reply = { id, ok: false, refused, message: err instanceof Error ? err.message : "the instrumenter aborted" };
  }
  port.postMessage(reply, reply.ok ? [reply.bytes.buffer as ArrayBuffer] : []);
});
