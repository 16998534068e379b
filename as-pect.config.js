// as-pect configuration for the core's unit specs (tests/assembly/*.spec.ts).
// The specs run against host stand-ins for the core's `hal` imports: a RAM flash whose blocks
// read as 0xff until programmed, a GPIO bank, and a clock the specs can read.
const FLASH_BLOCK_BYTES = 65536; // large enough for any block size a spec configures
const flash = new Map();
let memoryRef = null;
const gpio = new Int32Array(128);
const bytes = () => new Uint8Array(memoryRef.buffer);
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
      clock_now_ms: () => performance.now(),
      gpio_configure: (pin, dir, initial) => { gpio[pin] = initial; return 0; },
      gpio_write: (pin, value) => { gpio[pin] = value; return 0; },
      gpio_read: (pin) => gpio[pin],
      log_write: () => {},
      app_copy_in: () => -14,
      app_copy_out: () => -14,
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
    const result = await instantiate(binary, createImports({ hal }));
    memoryRef = result.exports ? result.exports.memory : result.instance.exports.memory;
    return result;
  },
  outputBinary: false,
};
