// AppRunner: one instance of an instrumented app module (instrument.ts), run in slices.
//
// A slice sets the fuel global, calls the entry (first slice) or rewinds into the saved call
// stack (later slices), and ends when the app returns, exits, traps, runs out of fuel (the module
// calls `wasphere.preempt`, answered by an asyncify unwind) or suspends itself in a blocking
// `applibs` import (`suspend`). On rewind the suspended import is called again and returns the
// value delivered for it (`resumeWith`, or `finishRewind` from inside the import).
// Invariants: outside a slice the fuel is FUEL_IDLE and a preempt request only refills it, so an
// export called between slices never unwinds; a runner whose app exited or trapped runs no more.
// The asyncify state is kept in JS as well (`asyncState`): only this runner calls the four
// asyncify state functions, so the flag is exact and a slice makes no asyncify_get_state call.
// A non-blocking import can never run during a rewind (it is never on a saved stack: asyncify
// did not instrument it as one that unwinds), so its wrapper checks no asyncify state at all.
// A module instrumented with syscall gates (protocol.ts) has no non-blocking import but `exit`:
// its gates call the `wasphere.syscall_charged` the runner gives it, which with a syscall
// binding (RunnerOptions.syscalls) is the core's own (so the call is Wasm-to-Wasm where the core
// is a module) and without one a JS function calling the `applibs` implementation. With a
// binding a slice is one call of the link's `run` (slice-link.ts: fuel, rewind, entry, stop of
// the unwind, FUEL_IDLE), so it touches no WebAssembly.Global from JS. Where the link cannot be
// made (an engine that cannot compile it, exports of another type than the protocol's), the
// slice runs from JS. The link is made at the first rewind, so a slice is one call from the second on.
// Memory: the asyncify save area is [ASYNCIFY_DATA_ADDR, runtimeAreaBytes) of the app's own memory.
// Must not: let an exception of the host (anything but AppExit, a Wasm trap or a stack overflow)
// pass for an app failure: those are rethrown. A module that cannot be instantiated is the app's
// failure, not the host's: the constructor throws AppInstantiateError, which the device treats as
// a trap of that app.
import * as abi from "../../assembly/abi.js";
import { BLOCKING_IMPORT_NAMES } from "./imports.js";
import {
  ASYNCIFY_DATA_ADDR, ASYNCIFY_HEADER_ADDR, ENTRY_EXPORT, FAST_IMPORTS, FUEL_GLOBAL, FUEL_IDLE, GATE_OVER_FIELD, GATE_SYSCALL_FIELD,
  GATE_TASK_FIELD, GATE_WALL_FIELD, GATE_WALLED_FIELD, PREEMPT_FIELD, PREEMPT_MODULE,
} from "./protocol.js";
import { LINK_PAGES, LINK_RET, LINK_REWIND, LINK_SLICE, LINK_UNWIND, linkModule, type LinkExports } from "./slice-link.js";

const FAST_BY_NR = new Map(FAST_IMPORTS.map((i) => [i.nr, i]));

export type SliceReason = "exited" | "yielded" | "blocked" | "out_of_fuel" | "trapped";
export type SuspendKind = "yielded" | "blocked";
/** Each STOP_* code's SliceReason. */
export const SLICE_REASONS: readonly SliceReason[] = (() => {
  const names: SliceReason[] = [];
  names[abi.STOP_YIELDED] = "yielded"; names[abi.STOP_BLOCKED] = "blocked"; names[abi.STOP_OUT_OF_FUEL] = "out_of_fuel";
  names[abi.STOP_EXITED] = "exited"; names[abi.STOP_TRAPPED] = "trapped";
  return names;
})();

export interface SliceResult {
  reason: SliceReason;
  /** The exit code when `exited`. */
  value?: number;
  /** What went wrong when `trapped`. */
  error?: Error;
  /** Fuel charged during the slice; can exceed the fuel given by the cost of one region. */
  fuelUsed: number;
}

/** Thrown by an `applibs` import to end the app; the slice ends `exited` with `code`. */
export class AppExit extends Error {
  constructor(readonly code: number) { super(`app exited with code ${code}`); }
}

/** The app's module could not be instantiated (a segment out of bounds, no memory for it, ...). */
export class AppInstantiateError extends Error {}

export type ImportFn = (...args: number[]) => number | void;

export interface RunnerOptions {
  /** Imports instrumented as blocking, as `module.field`; only these may call `suspend`. */
  blockingImports?: string[];
  runtimeAreaBytes?: number;
  /** The core's syscall for this instance's task: a gated module's gates then call the core directly. */
  syscalls?: SyscallBinding;
}

/**
 * How an instance reaches the core (Device's trampolines): the task it runs as, the core's
 * `syscall_charged` for the gates (a Wasm export where the core is a module, so the fast path is
 * Wasm-to-Wasm; any function answering a bigint elsewhere), its `syscall` and `task_take_fuel`
 * for the JS path, and what checks the wall budget after calls.
 */
export interface SyscallBinding {
  task: number;
  /** The fuel owed << 32 | the syscall's result as u32 (ABI.md, `syscall-charged`). */
  syscallCharged: (task: number, nr: number, a0: number, a1: number, a2: number, a3: number) => bigint;
  syscall: (task: number, nr: number, a0: number, a1: number, a2: number, a3: number) => number;
  takeFuel: (task: number) => number;
  /**
   * Called after syscalls: by a gate after every one charged more than SYSCALL_FUEL and
   * after every WALL_CHECK_CALLS-th otherwise (instrument-gates.ts); on the JS path after
   * every one. Null when the device has no wall budget.
   */
  wallCheck: (() => void) | null;
}

interface AsyncifyExports {
  asyncify_start_unwind(addr: number): void;
  asyncify_stop_unwind(): void;
  asyncify_start_rewind(addr: number): void;
  asyncify_stop_rewind(): void;
  asyncify_get_state(): number;
}

/** Wasm memory is little-endian; an Int32Array over it is only where the host is too. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const STATE_NORMAL = 0;
const STATE_UNWINDING = 1;
const STATE_REWINDING = 2;

export class AppRunner {
  readonly instance: WebAssembly.Instance;
  readonly memory: WebAssembly.Memory;
  private readonly fuel: WebAssembly.Global;
  private readonly asyncify: AsyncifyExports;
  private readonly entry: () => number | undefined;
  private readonly blocking: Set<string>;
  private readonly runtimeAreaBytes: number;
  private phase: "fresh" | "suspended" | "ended" = "fresh";
  private inSlice = false;
  private sliceFuel = 0;
  /** Fuel charged during this slice beyond what the fuel global could hold (see charge). */
  private overCharge = 0;
  /** Fuel left when the slice was asked to end early, given back in `used` (see endSliceSoon). */
  private refund = 0;
  /** Why the unwind in progress was started: STOP_OUT_OF_FUEL, STOP_YIELDED or STOP_BLOCKED. */
  private unwindReason: number = abi.STOP_OUT_OF_FUEL;
  /** The last slice's figures (run): fuel charged, exit code (0 unless it exited), what trapped. */
  lastFuelUsed = 0;
  lastValue = 0;
  lastError: Error | null = null;
  /** The `applibs` import running now (only these may suspend). */
  private currentImport: string | null = null;
  /** Whether currentImport was instrumented as blocking (may suspend). */
  private currentMayBlock = false;
  /** A value resumeWith delivered for the suspended import (valid while `hasDelivered`). */
  private deliveredValue = 0;
  private hasDelivered = false;
  /** asyncify's state, as this runner's own calls set it (see the file header). */
  private asyncState = STATE_NORMAL;
  /** An Int32Array over the app's memory, renewed when the memory grows (its buffer changes). */
  private header: Int32Array | null = null;
  private readonly binding: SyscallBinding | null;
  /** The slice link (slice-link.ts), null when each slice runs from JS. */
  private link: LinkExports | null = null;
  /**
   * Whether the link is still to be made: at the first rewind, so a start (instantiate and first
   * slice) does not pay its instantiation (about 4 us, against about 0.1 us it saves a slice),
   * nor an app that ends in its first slice.
   */
  private linkDue: boolean;
  /** Whether the module calls the core through syscall gates (protocol.ts) rather than JS imports. */
  readonly gated: boolean;

  constructor(module: WebAssembly.Module, applibs: Record<string, ImportFn>, options: RunnerOptions = {}) {
    this.blocking = new Set(options.blockingImports ?? BLOCKING_IMPORT_NAMES);
    this.runtimeAreaBytes = options.runtimeAreaBytes ?? abi.APP_RUNTIME_AREA_BYTES;
    this.binding = options.syscalls ?? null;
    const wrapped: Record<string, ImportFn> = {};
    const shape = moduleShape(module);
    for (const name of shape.applibs) {
      const impl = applibs[name];
      if (!impl) throw new Error(`the app imports applibs.${name}, which the host does not provide`);
      wrapped[name] = this.wrapImport(name, impl);
    }
    const wasphere: Record<string, unknown> = { [PREEMPT_FIELD]: () => this.preempt() };
    if (shape.gated) Object.assign(wasphere, this.gateImports(applibs, wrapped));
    let instance: WebAssembly.Instance;
    try {
      instance = new WebAssembly.Instance(module, { applibs: wrapped, [PREEMPT_MODULE]: wasphere as WebAssembly.ModuleImports });
    } catch (err) {
      // LinkError, RuntimeError (a segment out of bounds), RangeError (no memory for it), ...
      throw new AppInstantiateError(`cannot instantiate the app: ${(err as Error).message ?? String(err)}`);
    }
    this.instance = instance;
    this.gated = shape.gated;
    const ex = this.instance.exports as Record<string, unknown>;
    const memory = shape.memoryExport === null ? undefined : ex[shape.memoryExport];
    if (!(memory instanceof WebAssembly.Memory)) throw new AppInstantiateError("the app module exports no memory (was it instrumented?)");
    if (!(ex[FUEL_GLOBAL] instanceof WebAssembly.Global)) throw new AppInstantiateError(`the app module exports no ${FUEL_GLOBAL} (was it instrumented?)`);
    if (typeof ex.asyncify_start_unwind !== "function") throw new AppInstantiateError("the app module has no asyncify exports (was it instrumented?)");
    this.memory = memory;
    this.fuel = ex[FUEL_GLOBAL] as WebAssembly.Global;
    this.asyncify = ex as unknown as AsyncifyExports;
    const entry = ex[ENTRY_EXPORT] ?? ex.main ?? ex._start;
    if (typeof entry !== "function") throw new AppInstantiateError("the app module exports no entry point");
    this.entry = entry as () => number | undefined;
    this.fuel.value = FUEL_IDLE;
    this.linkDue = this.binding !== null;
  }

  /**
   * The `wasphere` imports of a module with syscall gates (protocol.ts): the core's
   * `syscall_charged` with the binding (Wasm-to-Wasm where the core is a module), else one in JS
   * that calls the `applibs` implementation of that number (its charges are its own, so it owes
   * no fuel here); the over-charge and the wall check; the task and whether there is a wall budget.
   */
  private gateImports(applibs: Record<string, ImportFn>, wrapped: Record<string, ImportFn>): Record<string, unknown> {
    const b = this.binding;
    const syscallCharged = b ? b.syscallCharged : (_task: number, nr: number, a0: number, a1: number, a2: number, a3: number): bigint => {
      const imp = FAST_BY_NR.get(nr);
      if (!imp) throw new Error(`a syscall gate called number ${nr}, which is not a fast import (an instrumentation bug)`);
      let fn = wrapped[imp.name];
      if (!fn) {
        const impl = applibs[imp.name];
        if (!impl) throw new Error(`the app imports applibs.${imp.name}, which the host does not provide`);
        fn = wrapped[imp.name] = this.wrapImport(imp.name, impl);
      }
      return BigInt((fn(a0, a1, a2, a3) as number) >>> 0);
    };
    return {
      [GATE_SYSCALL_FIELD]: syscallCharged,
      [GATE_OVER_FIELD]: (fuel: number) => this.charge(fuel),
      [GATE_WALL_FIELD]: b?.wallCheck ?? (() => {}),
      [GATE_TASK_FIELD]: b ? b.task : 0,
      [GATE_WALLED_FIELD]: b?.wallCheck ? 1 : 0,
    };
  }

  /** The slice link over the app's exports (slice-link.ts); null where it cannot be made (the slice then runs from JS). */
  private makeLink(ex: Record<string, unknown>, memory: WebAssembly.Memory, entry: unknown): LinkExports | null {
    const linkMod = linkModule();
    if (!linkMod) return null;
    try {
      return new WebAssembly.Instance(linkMod, {
        host: { area: this.runtimeAreaBytes },
        app: {
          start_rewind: ex.asyncify_start_rewind, stop_unwind: ex.asyncify_stop_unwind, start_unwind: ex.asyncify_start_unwind,
          get_state: ex.asyncify_get_state, entry, fuel: ex[FUEL_GLOBAL], memory,
        },
      } as WebAssembly.Imports).exports as unknown as LinkExports;
    } catch {
      // An export of another type than the protocol's (a pre-instrumented module): run from JS.
      return null;
    }
  }

  /** Bytes of the app's memory now. */
  memoryBytes(): number { return this.link !== null ? this.link.run(LINK_PAGES, 0) * 65536 : this.memory.buffer.byteLength; }

  /** True once the app exited or trapped. */
  get ended(): boolean { return this.phase === "ended"; }
  /** True between a slice that ended in a suspension or preemption and the next slice. */
  get suspended(): boolean { return this.phase === "suspended"; }

  /** Runs the app for up to `fuel` units (see instrument.ts: about one Wasm instruction each). */
  runSlice(fuel: number): SliceResult {
    const code = this.run(fuel);
    const reason = SLICE_REASONS[code];
    if (code === abi.STOP_EXITED) return { reason, value: this.lastValue, fuelUsed: this.lastFuelUsed };
    if (code === abi.STOP_TRAPPED) return { reason, error: this.lastError ?? undefined, fuelUsed: this.lastFuelUsed };
    return { reason, fuelUsed: this.lastFuelUsed };
  }

  /**
   * runSlice without its result object (what Device.step calls): the slice's STOP_* code, with
   * lastFuelUsed, lastValue (the exit code when STOP_EXITED, else 0) and lastError (when
   * STOP_TRAPPED) set. Throws what runSlice throws.
   */
  run(fuel: number): number {
    if (this.phase === "ended") throw new Error("the app's instance has ended; start a new one");
    if (this.inSlice) throw new Error("runSlice called from inside a slice");
    this.sliceFuel = Math.max(0, Math.min(Math.floor(fuel), FUEL_IDLE));
    this.overCharge = 0;
    this.refund = 0;
    this.lastValue = 0;
    this.lastError = null;
    this.inSlice = true;
    const rewinding = this.phase === "suspended";
    if (rewinding && this.linkDue) {
      this.linkDue = false;
      this.link = this.makeLink(this.instance.exports as Record<string, unknown>, this.memory, this.entry);
    }
    const link = this.link;
    /** Whether the fuel global still needs its FUEL_IDLE (the link's slice leaves it there when it returns). */
    let idleDue = true;
    try {
      let ret: number | undefined;
      let left: number;
      if (link !== null) {
        // start_rewind runs inside the link, before the entry: nothing of the host's runs between.
        if (rewinding) this.asyncState = STATE_REWINDING;
        left = link.run(rewinding ? LINK_REWIND : LINK_SLICE, this.sliceFuel);
        idleDue = false;
        if (this.asyncState === STATE_UNWINDING) {
          // The link stopped the unwind (a save area too small traps there, caught below).
          this.asyncState = STATE_NORMAL;
          this.phase = "suspended";
          this.lastFuelUsed = this.usedOf(left);
          return this.unwindReason;
        }
        ret = link.run(LINK_RET, 0);
      } else {
        this.fuel.value = this.sliceFuel;
        if (rewinding) { this.asyncify.asyncify_start_rewind(ASYNCIFY_HEADER_ADDR); this.asyncState = STATE_REWINDING; }
        ret = this.entry();
        if (this.asyncState === STATE_UNWINDING) {
          try {
            this.asyncState = STATE_NORMAL;
            this.asyncify.asyncify_stop_unwind();
          } catch (err) {
            // asyncify checks the save area's bound only here, after the frames were written.
            this.phase = "ended";
            return this.trapped(this.tooDeep(err as Error));
          }
          this.phase = "suspended";
          this.lastFuelUsed = this.used();
          return this.unwindReason;
        }
        left = this.fuel.value as number;
      }
      this.phase = "ended";
      this.lastValue = (ret ?? 0) | 0;
      this.lastFuelUsed = this.usedOf(left);
      return abi.STOP_EXITED;
    } catch (err) {
      this.phase = "ended";
      if (err instanceof AppExit) {
        this.lastValue = err.code | 0;
        this.lastFuelUsed = this.used();
        return abi.STOP_EXITED;
      }
      // A RangeError is the app's only when it is V8's stack overflow (deep recursion); any other
      // one came from host code the app called into (the GPIO model, a copy) and is rethrown.
      if (err instanceof WebAssembly.RuntimeError || isStackOverflow(err)) return this.trapped(this.explainTrap(err));
      throw err;
    } finally {
      this.inSlice = false;
      this.currentImport = null;
      if (idleDue) this.fuel.value = FUEL_IDLE;
    }
  }

  private trapped(error: Error): number {
    this.lastError = error;
    this.lastFuelUsed = this.used();
    return abi.STOP_TRAPPED;
  }

  /**
   * One syscall of this instance's task with its host work charged to the slice and the wall
   * budget checked after it: what every JS import calls (a gated module's fast imports are not
   * JS: they call the core themselves). Needs a syscall binding.
   */
  syscall(nr: number, a0: number, a1: number, a2: number, a3: number): number {
    const b = this.binding;
    if (b === null) throw new Error("syscall: this runner has no syscall binding");
    const rc = b.syscall(b.task, nr, a0, a1, a2, a3);
    this.charge(b.takeFuel(b.task));
    b.wallCheck?.();
    return rc;
  }

  /**
   * Called from inside a blocking `applibs` import: suspends the app (an asyncify unwind starts
   * when the import returns). The slice ends with `kind`. On the next slice the same import is
   * called again while `isRewinding()`; it returns the delivered value.
   */
  suspend(kind: SuspendKind): number {
    if (!this.inSlice || this.currentImport === null) throw new Error("suspend() is only valid inside an applibs import, during a slice");
    if (!this.currentMayBlock) {
      throw new Error(`applibs.${this.currentImport} cannot suspend its caller: it was not instrumented as a blocking import`);
    }
    this.startUnwind(kind === "yielded" ? abi.STOP_YIELDED : abi.STOP_BLOCKED);
    return 0;
  }

  /** The value the suspended import returns when the app is resumed (call before runSlice). */
  resumeWith(value: number): void {
    if (this.phase !== "suspended" || this.unwindReason === abi.STOP_OUT_OF_FUEL) throw new Error("resumeWith: the app is not suspended in an import");
    this.deliveredValue = value | 0;
    this.hasDelivered = true;
  }

  /** True while an import is being called again to finish a rewind. */
  isRewinding(): boolean { return this.asyncState === STATE_REWINDING; }

  /** From inside an import called during a rewind: ends the rewind; returns `value` for the import to return. */
  finishRewind(value: number): number {
    if (this.asyncState === STATE_REWINDING) this.stopRewind();
    this.hasDelivered = false;
    return value;
  }

  /** From inside an import: ends the app with `code`. */
  exit(code: number): never { throw new AppExit(code); }

  /**
   * From inside an import: charges `fuel` for host work to the running slice, exactly (it counts
   * in `fuelUsed`). When it is more than the slice has left, the app is preempted at its next
   * fuel check.
   */
  charge(fuel: number): void {
    if (!this.inSlice || !(fuel > 0)) return;
    const next = (this.fuel.value as number) - fuel;
    if (next < -1) { this.overCharge += -1 - next; this.fuel.value = -1; } else this.fuel.value = next;
  }

  /**
   * From inside an import: the slice ends at the app's next fuel check (its wall budget is
   * spent), charged only the fuel it used.
   */
  endSliceSoon(): void {
    if (!this.inSlice) return;
    const left = this.fuel.value as number;
    if (left < 0) return;
    this.refund += left + 1;
    this.fuel.value = -1;
  }

  private used(): number { return this.usedOf(this.fuel.value as number); }
  private usedOf(left: number): number { return this.sliceFuel - left + this.overCharge - this.refund; }

  private stopRewind(): void {
    this.asyncState = STATE_NORMAL;
    this.asyncify.asyncify_stop_rewind();
  }

  private wrapImport(name: string, impl: ImportFn): ImportFn {
    if (!this.blocking.has(`applibs.${name}`)) {
      // No asyncify state to look at (see the file header). An exception leaves currentImport
      // set, and run's finally clears it (imports never nest: none calls the app).
      return (a0?: number, a1?: number, a2?: number, a3?: number) => {
        this.currentImport = name;
        this.currentMayBlock = false;
        const r = impl(a0 as number, a1 as number, a2 as number, a3 as number);
        this.currentImport = null;
        return r;
      };
    }
    return (a0?: number, a1?: number, a2?: number, a3?: number) => {
      if (this.asyncState === STATE_REWINDING && this.hasDelivered) {
        this.hasDelivered = false;
        this.stopRewind();
        return this.deliveredValue;
      }
      this.currentImport = name;
      this.currentMayBlock = true;
      try {
        const r = impl(a0 as number, a1 as number, a2 as number, a3 as number);
        // An implementation that does not finish the rewind itself returns what it returned.
        if (this.asyncState === STATE_REWINDING) this.stopRewind();
        return r;
      } finally {
        this.currentImport = null;
      }
    };
  }

  private preempt(): void {
    if (this.asyncState === STATE_REWINDING) { this.stopRewind(); return; }
    if (!this.inSlice) { this.fuel.value = FUEL_IDLE; return; }
    this.startUnwind(abi.STOP_OUT_OF_FUEL);
  }

  private startUnwind(reason: number): void {
    this.unwindReason = reason;
    this.asyncState = STATE_UNWINDING;
    if (this.link !== null) { this.link.run(LINK_UNWIND, 0); return; }
    const buffer = this.memory.buffer;
    let header = this.header;
    if (!LITTLE_ENDIAN) {
      const view = new DataView(buffer);
      view.setInt32(ASYNCIFY_HEADER_ADDR, ASYNCIFY_DATA_ADDR, true);
      view.setInt32(ASYNCIFY_HEADER_ADDR + 4, this.runtimeAreaBytes, true);
    } else {
      if (header === null || header.buffer !== buffer) header = this.header = new Int32Array(buffer, 0, (ASYNCIFY_HEADER_ADDR >> 2) + 2);
      header[ASYNCIFY_HEADER_ADDR >> 2] = ASYNCIFY_DATA_ADDR;
      header[(ASYNCIFY_HEADER_ADDR >> 2) + 1] = this.runtimeAreaBytes;
    }
    this.asyncify.asyncify_start_unwind(ASYNCIFY_HEADER_ADDR);
  }

  private explainTrap(err: Error): Error {
    return this.asyncState === STATE_UNWINDING ? this.tooDeep(err) : err;
  }

  private tooDeep(err: Error): Error {
    return new Error(`the app's call stack was too deep to save when it was suspended (the save area is ${this.runtimeAreaBytes - ASYNCIFY_DATA_ADDR} bytes): ${err.message}`);
  }
}

/** What a start needs to know of a module, read once per compiled module (a restart reads none of it again). */
/** The `applibs` functions `module` imports (a host makes implementations for these only). */
export function applibsImports(module: WebAssembly.Module): readonly string[] { return moduleShape(module).applibs; }

interface ModuleShape { applibs: string[]; memoryExport: string | null; gated: boolean }
const shapes = new WeakMap<WebAssembly.Module, ModuleShape>();
function moduleShape(module: WebAssembly.Module): ModuleShape {
  let shape = shapes.get(module);
  if (!shape) {
    const imports = WebAssembly.Module.imports(module);
    shape = {
      applibs: imports.filter((i) => i.module === "applibs" && i.kind === "function").map((i) => i.name),
      memoryExport: WebAssembly.Module.exports(module).find((e) => e.kind === "memory")?.name ?? null,
      gated: imports.some((i) => i.module === PREEMPT_MODULE && i.name === GATE_SYSCALL_FIELD),
    };
    shapes.set(module, shape);
  }
  return shape;
}

/** V8's "Maximum call stack size exceeded", which a Wasm recursion too deep for the JS stack raises. */
function isStackOverflow(err: unknown): err is RangeError {
  return err instanceof RangeError && /call stack size/i.test(err.message);
}
