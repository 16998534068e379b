// The core may import only what assembly/hal/index.ts declares: this pins the list, so a stray
// Date.now, console.log, Math.random or env.abort cannot slip into core.wasm.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const core = new WebAssembly.Module(readFileSync(new URL("../../../build/core.wasm", import.meta.url)));
const halSource = readFileSync(new URL("../../../assembly/hal/index.ts", import.meta.url), "utf8");

test("core.wasm imports exactly the hal functions, and nothing else", () => {
  const declared = [...halSource.matchAll(/@external\("hal", "([a-z_]+)"\)/g)].map((m) => m[1]).sort();
  const pinned = [
    "app_copy_in", "app_copy_out", "app_memory_bytes", "clock_now_ms",
    "flash_erase", "flash_prog", "flash_read", "flash_sync", "gpio_configure", "gpio_read",
    "gpio_write", "log_write", "panic",
  ];
  assert.deepEqual(declared, pinned, "assembly/hal/index.ts declares the pinned list");
  const imports = WebAssembly.Module.imports(core);
  for (const i of imports) {
    assert.equal(i.module, "hal", `import ${i.module}.${i.name} is outside the hal`);
    assert.equal(i.kind, "function");
    assert.ok(pinned.includes(i.name), `import hal.${i.name} is not in the pinned list`);
  }
});
