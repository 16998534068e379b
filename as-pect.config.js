// as-pect configuration for the core's unit specs (tests/assembly/*.spec.ts).
// The specs run against host stand-ins for the core's `hal` imports: a RAM flash whose blocks
// read as 0xff until programmed, a GPIO bank, and a clock the specs can read.
const FLASH_BLOCK_BYTES = 65536; // large enough for any block size a spec configures
const flash = new Map();
let memoryRef = null;
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
    const hal = {
      clock_now_ms: () => (manualClockMs ?? performance.now()),
      gpio_configure: (pin, dir, initial) => { gpio[pin] = initial; return 0; },
      gpio_write: (pin, value) => { gpio[pin] = value; return 0; },
      gpio_read: (pin) => gpio[pin],
      log_write: (task, ptr, len) => { logs.push(bytes().slice(ptr, ptr + len)); },
      app_copy_in: (task, appPtr, len, corePtr) => {
        if (!appMemoryOn || appPtr >>> 0 > 65536 - len) return -14;
        bytes().set(appMemory(task).subarray(appPtr, appPtr + len), corePtr);
        return 0;
      },
      app_copy_out: (task, corePtr, appPtr, len) => {
        if (!appMemoryOn || appPtr >>> 0 > 65536 - len) return -14;
        appMemory(task).set(bytes().subarray(corePtr, corePtr + len), appPtr);
        return 0;
      },
      app_memory_bytes: () => 65536,
      flash_read: (b, off, ptr, len) => { bytes().set(block(b).subarray(off, off + len), ptr); return 0; },
      flash_prog: (b, off, ptr, len) => {
        const dst = block(b);
        const src = bytes().subarray(ptr, ptr + len);
        for (let i = 0; i < len; i++) dst[off + i] &= src[i];
        return 0;
      },
      flash_erase: (b) => { block(b).fill(0xff); return 0; },
      flash_sync: () => 0,
      panic: () => { throw new Error("core panic"); },
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
    const result = await instantiate(binary, createImports({ hal, spec }));
    memoryRef = result.exports ? result.exports.memory : result.instance.exports.memory;
    return result;
  },
  outputBinary: false,
};
