// Core: one instance of core.wasm and the host side of its `hal` imports.
//
// The host is mechanism: it supplies a clock, GPIO, log output, copies to and from app memory and
// a flash block device, and the core decides everything else. `Core` wires a `Hal` (the parts a
// given host provides) to the import object and gives typed access to the exports (ABI.md).
// Must not: make a policy decision, or hand an app a view of core memory.
//
// No Node API is imported here (nor by Device): in a browser, pass core.wasm as a
// WebAssembly.Module; only the default loader below reaches for Node's file system, at run time.
import { Flash } from "./flash.js";
import { wallMs } from "./yield.js";
import { decodeUtf8 } from "./engine.js";

/**
 * Where the build puts core.wasm, relative to this file once compiled (dist/host/core.js), when
 * this module was loaded from a file; "" elsewhere (a bundle in a browser, gjs without `URL`).
 */
export const CORE_WASM_PATH: string = typeof URL === "function" && import.meta.url.startsWith("file:")
  ? decodeURIComponent(new URL("../../build/core.wasm", import.meta.url).pathname) : "";

/** The host services the core imports. Anything left out answers -ENODEV (or nothing). */
export interface Hal {
  clockNowMs?(): number;
  gpioConfigure?(pin: number, direction: number, initial: number): number;
  gpioWrite?(pin: number, value: number): number;
  gpioRead?(pin: number): number;
  log?(task: number, text: string): void;
  appCopyIn?(task: number, appPtr: number, len: number): Uint8Array | null;
  appCopyOut?(task: number, appPtr: number, bytes: Uint8Array): boolean;
  appMemoryBytes?(task: number): number;
  flash?: Flash;
}

/** The core's exports, as ABI.md lists them. */
export interface CoreExports {
  memory: WebAssembly.Memory;
  [name: string]: any;
}

export class CorePanic extends Error {}

/**
 * Sees every crossing of the core boundary (host/replay.ts records and checks runs with it):
 * each hal import and each export is passed through `wrap`, and each write the host makes into
 * core memory outside a hal call is reported to `hostWrite`.
 */
export interface CoreTap {
  wrap(kind: "hal" | "export", name: string, fn: (...args: number[]) => any): (...args: number[]) => any;
  hostWrite(corePtr: number, bytes: Uint8Array): void;
  /** Called once the instance exists, before any export runs. */
  attach(memory: WebAssembly.Memory): void;
}

const ENODEV = -19;
const EFAULT = -14;
const utf8 = { decode: decodeUtf8 };

let cachedModule: WebAssembly.Module | null = null;

/** Reads a file through Node's fs, found at run time so that browsers never import it. */
function readFileWithNode(path: string | URL): Uint8Array<ArrayBuffer> {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const fs = proc?.getBuiltinModule?.("node:fs") as { readFileSync(p: string | URL): Uint8Array<ArrayBuffer> } | undefined;
  if (!fs) throw new Error("no file system here: pass core.wasm to Core/Device as a compiled WebAssembly.Module");
  return fs.readFileSync(path);
}

/** core.wasm from the build folder (Node), compiled once. */
export function coreModule(path: string = CORE_WASM_PATH): WebAssembly.Module {
  if (!path) throw new Error("no core.wasm path here: pass core.wasm to Core/Device as a compiled WebAssembly.Module");
  if (path !== CORE_WASM_PATH) return new WebAssembly.Module(readFileWithNode(path));
  if (!cachedModule) cachedModule = new WebAssembly.Module(readFileWithNode(CORE_WASM_PATH));
  return cachedModule;
}

export class Core {
  readonly exports: CoreExports;
  readonly hal: Hal;

  private readonly tap: CoreTap | undefined;

  constructor(hal: Hal, module: WebAssembly.Module = coreModule(), tap?: CoreTap) {
    this.hal = hal;
    this.tap = tap;
    const mem = () => new Uint8Array(this.exports.memory.buffer);
    const startMs = wallMs();
    const flashView = (ptr: number, len: number) => mem().subarray(ptr, ptr + len);
    const imports = {
      hal: {
        clock_now_ms: () => (hal.clockNowMs ? hal.clockNowMs() : wallMs() - startMs),
        gpio_configure: (pin: number, dir: number, initial: number) => (hal.gpioConfigure ? hal.gpioConfigure(pin, dir, initial) : ENODEV),
        gpio_write: (pin: number, value: number) => (hal.gpioWrite ? hal.gpioWrite(pin, value) : ENODEV),
        gpio_read: (pin: number) => (hal.gpioRead ? hal.gpioRead(pin) : ENODEV),
        log_write: (task: number, ptr: number, len: number) => hal.log?.(task, utf8.decode(mem().slice(ptr, ptr + len))),
        app_copy_in: (task: number, appPtr: number, len: number, corePtr: number) => {
          const bytes = hal.appCopyIn ? hal.appCopyIn(task, appPtr >>> 0, len >>> 0) : null;
          if (!bytes) return EFAULT;
          mem().set(bytes, corePtr);
          return 0;
        },
        app_copy_out: (task: number, corePtr: number, appPtr: number, len: number) => {
          if (!hal.appCopyOut) return EFAULT;
          return hal.appCopyOut(task, appPtr >>> 0, mem().slice(corePtr, corePtr + (len >>> 0))) ? 0 : EFAULT;
        },
        app_memory_bytes: (task: number) => (hal.appMemoryBytes ? hal.appMemoryBytes(task) : 0),
        flash_read: (block: number, off: number, ptr: number, len: number) => (hal.flash ? hal.flash.read(block >>> 0, off >>> 0, flashView(ptr, len >>> 0)) : ENODEV),
        flash_prog: (block: number, off: number, ptr: number, len: number) => (hal.flash ? hal.flash.prog(block >>> 0, off >>> 0, flashView(ptr, len >>> 0)) : ENODEV),
        flash_erase: (block: number) => (hal.flash ? hal.flash.erase(block >>> 0) : ENODEV),
        flash_sync: () => 0,
        panic: (msgPtr: number, filePtr: number, line: number, column: number) => {
          throw new CorePanic(`core panic: ${this.readAsString(msgPtr)} at ${this.readAsString(filePtr)}:${line}:${column}`);
        },
      },
    };
    if (tap) imports.hal = Object.fromEntries(Object.entries(imports.hal).map(([n, f]) => [n, tap.wrap("hal", n, f)])) as typeof imports.hal;
    const raw = new WebAssembly.Instance(module, imports).exports as unknown as CoreExports;
    if (!tap) { this.exports = raw; return; }
    tap.attach(raw.memory);
    this.exports = Object.fromEntries(Object.entries(raw).map(([n, v]) => [n, typeof v === "function" ? tap.wrap("export", n, v as (...a: number[]) => any) : v])) as CoreExports;
  }

  /** Bytes of core memory (a copy). */
  read(ptr: number, len: number): Uint8Array {
    return new Uint8Array(this.exports.memory.buffer).slice(ptr, ptr + len);
  }

  /** Writes bytes into the I/O buffer at `offset`; returns their length. */
  writeIo(bytes: Uint8Array, offset = 0): number {
    const size = this.exports.core_io_buffer_bytes();
    if (offset + bytes.length > size) throw new RangeError(`${bytes.length} bytes do not fit the core's ${size}-byte I/O buffer`);
    const ptr = this.exports.core_io_buffer() + offset;
    new Uint8Array(this.exports.memory.buffer).set(bytes, ptr);
    this.tap?.hostWrite(ptr, bytes);
    return bytes.length;
  }

  readIo(len: number, offset = 0): Uint8Array {
    return this.read(this.exports.core_io_buffer() + offset, len);
  }

  /** The text of the core's last error, or "" when it set none. */
  lastError(): string {
    const len = this.exports.core_error_message_bytes();
    return len > 0 ? utf8.decode(this.read(this.exports.core_error_message(), len)) : "";
  }

  /** An AssemblyScript string (UTF-16, length in the header) at `ptr`, for panic messages. */
  private readAsString(ptr: number): string {
    if (!ptr) return "";
    const view = new DataView(this.exports.memory.buffer);
    const bytes = view.getUint32(ptr - 4, true);
    return String.fromCharCode(...new Uint16Array(this.exports.memory.buffer.slice(ptr, ptr + bytes)));
  }
}
