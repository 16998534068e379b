// ComponentCore: the core as a WebAssembly component (build/core.component.wasm), run through the
// JS bindings jco transpiled from it (build/core-component/, tools/build-component.mjs), behind
// the same WIT-level `Core` as ModuleCore (host/core.ts).
//
// The bindings do the canonical ABI's lowering and lifting; this file maps the host's numbers to
// WIT values and back: an enum is its case index (what the canonical ABI lowers it to) and jco's
// case name, a result<T, s32> is T or the negative errno (jco throws its err as a ComponentError),
// option<T> none is null.
// Invariants: no export runs while another is on the stack: the component model forbids
// re-entering a component from one of its own imports, and neither jco 1.35's bindings nor
// wasmtime check it, so this class does and throws CoreReentered; a list longer than the core's
// cabi arena is refused before the core is entered (a trap in cabi_realloc would leave the
// component instance unusable for good, where a module instance survives it).
// Memory: the component owns its 4 MiB; the host never sees it (a component exports no memory).
// Must not: be imported by the default path (Device, the bundles): the bindings are optional,
// built only when jco is installed, so this module is loaded on request (`--core component`).
import { CABI_ARENA_BYTES, EIO } from "../assembly/abi.js";
import {
  CabiArenaFull, CorePanic, effectiveHal, EXPORT_SHAPES, tapCore, WIT_PACKAGE, WIT_VERSION,
  type Core, type CoreExports, type CoreTap, type ExportName, type Hal, type HalFunctions, type OrErrno,
} from "./core.js";

/**
 * Where the build puts the bindings, relative to this file once compiled
 * (dist/host/core-component.js), when it was loaded from a file.
 */
export const CORE_COMPONENT_DIR: string = typeof URL === "function" && import.meta.url.startsWith("file:")
  ? decodeURIComponent(new URL("../../build/core-component/", import.meta.url).pathname) : "";

/** The enums of wit/wasphere.wit, as the build extracted them (build/core-component/enums.json). */
export interface WitEnums {
  cases: Record<string, string[]>;
  /** Per function (WIT name): its parameters' enum names, null for a parameter of another type. */
  params: Record<string, (string | null)[]>;
}

type JcoFunctions = Record<string, (...args: any[]) => any>;
interface JcoRoot { kernel: JcoFunctions; fs: JcoFunctions }
type JcoInstantiate = (getCoreModule: (name: string) => WebAssembly.Module, imports: Record<string, JcoFunctions>) => JcoRoot;

/** The transpiled bindings and their compiled core modules: instantiate as many cores as you like. */
export interface ComponentBindings {
  instantiate: JcoInstantiate;
  /** The component's core modules by the names the bindings ask for (core.core.wasm holds core.wasm). */
  coreModule(name: string): WebAssembly.Module;
  enums: WitEnums;
}

/** Thrown when an export is called while another is running (from inside a hal call). */
/**
 * What a hal's list answer (flash-read, app-copy-in; periph-read, `atMost`) becomes for jco: ok
 * with exactly (at most) the bytes asked for, else err -errno, as ModuleCore lowers it. The core checks the length again, so a host
 * that skipped this would still be caught there; this keeps a wrong answer from crossing at all.
 */
export function halListResult(value: OrErrno<Uint8Array>, wantBytes: number, atMost = false): { tag: "ok"; val: Uint8Array } | { tag: "err"; val: number } {
  if (typeof value !== "number") return (atMost ? value.length <= wantBytes : value.length === wantBytes) ? { tag: "ok", val: value } : { tag: "err", val: -EIO };
  return { tag: "err", val: value < 0 ? value : -EIO };
}

export class CoreReentered extends Error {}

/** What is missing when the bindings are not built: how to get them. */
export const COMPONENT_SETUP_HINT = "install the component toolchain with `npm run component:setup`, then `npm run build`";

/**
 * Loads the bindings from `dir` (by default the build's). Each core module is compiled once, when
 * first asked for; with Node's file system (the default `read`) all of them are compiled here.
 * Elsewhere pass `read`.
 */
export async function loadComponentBindings(dir: string = CORE_COMPONENT_DIR, read?: (path: string) => Uint8Array): Promise<ComponentBindings> {
  if (!dir) throw new Error("no build/core-component path here: pass the bindings' folder");
  let names: string[] = [];
  if (!read) {
    const fs = await import("node:fs");
    if (!fs.existsSync(`${dir}core.js`)) throw new Error(`no component bindings in ${dir}: ${COMPONENT_SETUP_HINT}`);
    read = (path) => fs.readFileSync(path);
    names = fs.readdirSync(dir).filter((n) => /^core\.core\d*\.wasm$/.test(n));
  }
  const readBytes = read;
  const { instantiate } = await import(new URL(`file://${dir}core.js`).href) as { instantiate: JcoInstantiate };
  const enums = JSON.parse(new TextDecoder().decode(readBytes(`${dir}enums.json`))) as WitEnums;
  const modules = new Map<string, WebAssembly.Module>();
  const coreModule = (name: string) => {
    let m = modules.get(name);
    if (!m) { m = new WebAssembly.Module(readBytes(`${dir}${name}`) as Uint8Array<ArrayBuffer>); modules.set(name, m); }
    return m;
  };
  for (const name of names) coreModule(name);
  return { instantiate, coreModule, enums };
}

const camel = (witName: string) => witName.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The payload of the ComponentError jco throws for a result's err (the negative errno), else undefined. */
function errPayload(err: unknown): number | undefined {
  if (!(err instanceof Error) || err.constructor.name !== "ComponentError" || !Object.prototype.hasOwnProperty.call(err, "payload")) return undefined;
  const payload = (err as { payload?: unknown }).payload;
  return typeof payload === "number" ? payload : undefined;
}

/** Core over the component, through jco's bindings. */
export class ComponentCore implements Core {
  readonly exports: CoreExports;
  readonly hal: Hal;
  private running: string | null = null;

  constructor(hal: Hal, bindings: ComponentBindings, tap?: CoreTap) {
    this.hal = hal;
    let witHal = effectiveHal(hal);
    if (tap) witHal = Object.fromEntries(Object.entries(witHal).map(([n, f]) => [n, tap.wrap("hal", n, f)])) as HalFunctions;
    const { cases, params } = bindings.enums;
    /** jco's enum case name -> the host's number, for the hal's enum parameters. */
    const fromCase = (witName: string, i: number, v: unknown) => {
      const e = params[witName]?.[i];
      if (!e) return v;
      const n = cases[e].indexOf(v as string);
      if (n < 0) throw new CorePanic(`${witName}: ${String(v)} is no case of enum ${e}`);
      return n;
    };
    const h = witHal;
    const imports: JcoFunctions = {};
    for (const [witName, fn] of Object.entries(h) as [keyof HalFunctions, (...a: any[]) => any][]) {
      const call = (...args: any[]) => fn(...args.map((v, i) => fromCase(witName, i, v)));
      imports[camel(witName)] = witName === "app-copy-in" || witName === "flash-read"
        ? (a: number, b: number, len: number) => halListResult(call(a, b, len), len)
        : witName === "periph-read"
          ? (id: number, fn: number, op: number, arg: number, data: Uint8Array, maxLen: number) => halListResult(call(id, fn, op, arg, data, maxLen), maxLen, true)
          : call;
    }
    // jco 1.35 looks the interface up without its version; its .d.ts names it with one.
    const root = bindings.instantiate(bindings.coreModule, { [`${WIT_PACKAGE}/hal`]: imports, [`${WIT_PACKAGE}/hal@${WIT_VERSION}`]: imports });
    this.exports = tapCore(this.lift(root, bindings.enums), tap);
  }

  /** The core's memory is fixed at 64 pages, initial = maximum (tests/host/core-build.test.ts). */
  memoryBytes(): number { return 64 * 65536; }

  lastError(): string { return new TextDecoder().decode(this.exports.core_error_message()); }

  private lift(root: JcoRoot, { cases, params }: WitEnums): CoreExports {
    const out: Record<string, (...a: any[]) => unknown> = {};
    for (const [name, [iface, paramShapes, result]] of Object.entries(EXPORT_SHAPES) as [ExportName, (typeof EXPORT_SHAPES)[ExportName]][]) {
      const witName = name.replace(/_/g, "-");
      const fn = root[iface]?.[camel(witName)];
      if (typeof fn !== "function") continue; // a variant without this part (no-fs, fs-readonly)
      const enumOf = params[witName] ?? [];
      out[name] = (...args: any[]) => {
        if (this.running) throw new CoreReentered(`${name} called while ${this.running} runs (from inside a hal call): the core is not re-entrant`);
        const witArgs = args.map((v, i) => {
          if (paramShapes[i] === "L") {
            const len = (v as Uint8Array).length;
            if (len > CABI_ARENA_BYTES) throw new CabiArenaFull(`a list of ${len} bytes is longer than the core's ${CABI_ARENA_BYTES}-byte cabi arena`);
            return v;
          }
          const e = enumOf[i];
          if (!e) return v;
          const c = cases[e][v as number];
          if (c === undefined) throw new RangeError(`${name}: ${v} is no case of enum ${e} (0..${cases[e].length - 1})`);
          return c;
        });
        this.running = name;
        try {
          const r = fn(...witArgs);
          return result === "result-dir" && r === undefined ? null : r;
        } catch (err) {
          const errno = result.startsWith("result-") ? errPayload(err) : undefined;
          if (errno !== undefined) return errno;
          throw err;
        } finally {
          this.running = null;
        }
      };
    }
    return out as unknown as CoreExports;
  }
}

/** A Device's `createCore` over the bindings in `dir` (by default the build's), loaded once. */
export async function componentCoreFactory(dir?: string): Promise<(hal: Hal, tap?: CoreTap) => Core> {
  const bindings = await loadComponentBindings(dir);
  return (hal, tap) => new ComponentCore(hal, bindings, tap);
}
