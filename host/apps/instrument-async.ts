// Instrumenting without blocking the device: a small adapter that runs instrumentApp in a worker
// thread (instrument-worker.ts) and answers with a promise, so the apps already running keep
// their schedule while another one installs.
// Invariants: one worker per process, one job in it at a time (later jobs queue); a job that
// takes longer than `timeoutMs`, or that kills or damages the worker, is refused with an
// InstrumentError and the worker is replaced for the next job. The worker is unreferenced while
// idle, so it never keeps the process alive.
// Where there is no worker_threads (a browser, a host without it) it instruments in this thread.
// Memory: the worker holds binaryen (about 15 MB) from the first install on; this thread loads it
// only where there is no worker.
// Must not: let a module's failure in the worker become an exception other than InstrumentError.
import type { InstrumentedApp, InstrumentOptions } from "./instrument.js";
import { InstrumentError } from "./instrument-errors.js";
import type { InstrumentReply } from "./instrument-worker.js";

/** The wall-time bound of one instrumentation: a backstop above MODULE_LIMITS, which bound the work itself. */
export const INSTRUMENT_TIMEOUT_MS = 120_000;
/** The worker's stack: binaryen's passes recurse on expression depth. */
const WORKER_STACK_MB = 64;

interface WorkerLike {
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
  on(event: "message", cb: (reply: InstrumentReply) => void): void;
  on(event: "error", cb: (err: Error) => void): void;
  on(event: "exit", cb: (code: number) => void): void;
  terminate(): Promise<number>;
  ref(): void;
  unref(): void;
}

interface Job {
  id: number;
  resolve(out: InstrumentedApp): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

class InstrumentWorker {
  private worker: WorkerLike | null = null;
  private current: Job | null = null;
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly create: () => WorkerLike) {}

  run(wasm: Uint8Array, opts: InstrumentOptions, timeoutMs: number): Promise<InstrumentedApp> {
    const job = this.queue.then(() => this.start(wasm, opts, timeoutMs));
    this.queue = job.catch(() => undefined);
    return job;
  }

  private start(wasm: Uint8Array, opts: InstrumentOptions, timeoutMs: number): Promise<InstrumentedApp> {
    const worker = this.worker ?? this.spawn();
    worker.ref();
    return new Promise<InstrumentedApp>((resolve, reject) => {
      const id = this.nextId++;
      const timer = setTimeout(() => this.retire(new InstrumentError(`instrumenting the module took longer than ${timeoutMs} ms, the install budget`)), timeoutMs);
      this.current = { id, resolve, reject, timer };
      // A copy of its own to transfer (a Node Buffer's slice() is a view: transferring its buffer would detach the caller's).
      const copy = new Uint8Array(wasm);
      worker.postMessage({ id, wasm: copy, opts }, [copy.buffer as ArrayBuffer]);
    });
  }

  private spawn(): WorkerLike {
    const worker = this.create();
    worker.on("message", (reply) => {
      const job = this.current;
      if (!job || reply.id !== job.id) return;
      this.finish();
      if (reply.ok) job.resolve({ bytes: reply.bytes, originalBytes: reply.originalBytes, instrumentedBytes: reply.instrumentedBytes });
      else {
        if (!reply.refused) this.drop();
        job.reject(new InstrumentError(reply.message));
      }
    });
    worker.on("error", (err) => this.retire(new InstrumentError(`the instrumenter stopped on this module (${err.message.split("\n", 1)[0]}): it cannot be installed`)));
    worker.on("exit", () => { if (this.worker === worker) this.retire(new InstrumentError("the instrumenter stopped on this module: it cannot be installed")); });
    this.worker = worker;
    return worker;
  }

  /** The job in progress ends with `err`; the worker goes, and the next job gets a fresh one. */
  private retire(err: Error): void {
    const job = this.current;
    this.finish();
    this.drop();
    job?.reject(err);
  }

  private finish(): void {
    if (this.current) clearTimeout(this.current.timer);
    this.current = null;
    this.worker?.unref();
  }

  private drop(): void {
    const worker = this.worker;
    this.worker = null;
    void worker?.terminate();
  }
}

let shared: Promise<InstrumentWorker | null> | null = null;

async function sharedWorker(): Promise<InstrumentWorker | null> {
  shared ??= (async () => {
    try {
      const { Worker } = await import("node:worker_threads");
      const url = new URL("./instrument-worker.js", import.meta.url);
      return new InstrumentWorker(() => new Worker(url, { execArgv: [], resourceLimits: { stackSizeMb: WORKER_STACK_MB } }) as unknown as WorkerLike);
    } catch {
      return null;
    }
  })();
  return shared;
}

/**
 * instrumentApp, off the calling thread where the host can: resolves with the instrumented app,
 * rejects with InstrumentError (the module's refusal, or the budget's).
 */
export async function instrumentOffThread(wasm: Uint8Array, opts: InstrumentOptions, timeoutMs = INSTRUMENT_TIMEOUT_MS): Promise<InstrumentedApp> {
  const worker = await sharedWorker();
  // binaryen is loaded in this thread only where there is no worker to load it.
  if (!worker) return (await import("./instrument.js")).instrumentApp(wasm, opts);
  return worker.run(wasm, opts, timeoutMs);
}
