// as-pect configuration for the core's unit specs (tests/assembly/*.spec.ts).
// The specs run against host stand-ins for the core's `hal` imports: a RAM flash whose blocks
// read as 0xff until programmed, a GPIO bank, and a clock the specs can read.
const FLASH_BLOCK_BYTES = 65536; // large enough for any block size a spec configures
const flash = new Map();
let memoryRef = null;
let reallocRef = null;
const gpio = new Int32Array(128);
const bytes = () => new Uint8Array(memoryRef.buffer);
// Kernel specs (module "spec"): a clock they set, per-task app memories, captured logs.
let manualClockMs = null;
let appMemoryOn = false;
const appMemories = new Map();
const appMemory = (task) => {
  let m = appMemories.get(task);
  if (!m) { m = new Uint8Array(65536); appMemories.set(task, m); }
  return m;
};
const logs = [];
const block = (n) => {
  let b = flash.get(n);
  if (!b) { b = new Uint8Array(FLASH_BLOCK_BYTES).fill(0xff); flash.set(n, b); }
  return b;
};

export default {
  entries: ["tests/assembly/**/*.spec.ts"],
  include: ["tests/assembly/**/*.include.ts"],
  disclude: [/node_modules/],
  async instantiate(memory, createImports, instantiate, binary) {
    // The hal as the canonical ABI lowers wit/wasphere.wit's interface (assembly/hal/index.ts):
    // a list the core passes is (ptr, len); a list returned goes into memory from the core's
    // cabi_realloc (exported by setup.include.ts), described in the return area `ret`.
    const returnList = (ret, bytes) => {
      const view = new DataView(memoryRef.buffer);
      if (typeof bytes === "number") { view.setUint8(ret, 1); view.setInt32(ret + 4, bytes, true); return; }
      const ptr = reallocRef(0, 0, 1, bytes.length) >>> 0;
      new Uint8Array(memoryRef.buffer).set(bytes, ptr);
      view.setUint8(ret, 0);
      view.setUint32(ret + 4, ptr, true);
      view.setUint32(ret + 8, bytes.length, true);
    };
    const hal = {
      "clock-now-ms": () => (manualClockMs ?? performance.now()),
      "gpio-configure": (pin, dir, initial) => { gpio[pin] = initial; return 0; },
      "gpio-write": (pin, value) => { gpio[pin] = value; return 0; },
      "gpio-read": (pin) => gpio[pin],
      "log-write": (task, ptr, len) => { logs.push(bytes().slice(ptr, ptr + len)); },
      "app-copy-in": (task, appPtr, len, ret) => {
        if (!appMemoryOn || appPtr >>> 0 > 65536 - len) return returnList(ret, -14);
        returnList(ret, appMemory(task).slice(appPtr, appPtr + len));
      },
      "app-copy-out": (task, appPtr, ptr, len) => {
        if (!appMemoryOn || appPtr >>> 0 > 65536 - len) return -14;
        appMemory(task).set(bytes().subarray(ptr, ptr + len), appPtr);
        return 0;
      },
      "app-memory-bytes": () => 65536,
      "flash-read": (b, off, len, ret) => returnList(ret, block(b).slice(off, off + len)),
      "flash-prog": (b, off, ptr, len) => {
        const dst = block(b);
        const src = bytes().subarray(ptr, ptr + len);
        for (let i = 0; i < len; i++) dst[off + i] &= src[i];
        return 0;
      },
      "flash-erase": (b) => { block(b).fill(0xff); return 0; },
      "flash-sync": () => 0,
      // No peripheral models in the specs: the units' host side is tested in tests/e2e/peripherals.
      "periph-control": () => -19,
      "periph-read": (id, fn, op, arg, ptr, len, maxLen, ret) => returnList(ret, -19),
      // No security processor in the specs: tests/e2e/random covers the mailbox end to end.
      "mailbox-post": () => -19,
      // No network in the specs: tests/e2e/net covers the sockets end to end.
      "net-control": () => -19,
      "net-read": (socket, op, arg, maxLen, ret) => returnList(ret, -19),
      "panic": () => { throw new Error("core panic"); },
    };
    const spec = {
      set_clock_ms: (ms) => { manualClockMs = ms; },
      app_memory_enable: (on) => { appMemoryOn = on !== 0; appMemories.clear(); },
      app_poke: (task, appPtr, corePtr, len) => { appMemory(task).set(bytes().subarray(corePtr, corePtr + len), appPtr); },
      app_peek: (task, appPtr, corePtr, len) => { bytes().set(appMemory(task).subarray(appPtr, appPtr + len), corePtr); },
      log_count: () => logs.length,
      log_copy_last: (corePtr) => { const l = logs[logs.length - 1] ?? new Uint8Array(0); bytes().set(l, corePtr); return l.length; },
      gpio_level: (pin) => gpio[pin],
    };
    const result = await instantiate(binary, createImports({ "wasphere:core/hal@0.1.0": hal, spec }));
    const exports = result.exports ?? result.instance.exports;
    memoryRef = exports.memory;
    reallocRef = exports.cabi_realloc;
    return result;
  },
  outputBinary: false,
};
