// Names and features at the instrumenter's edge: an app's own names never meet the runtime's,
// and each WebAssembly feature is either supported or refused in one line that names it (never
// "[object Object]", a validator dump or a numeric binaryen id).
import { test } from "node:test";
import assert from "node:assert/strict";
import binaryen from "binaryen";
import { APP_FEATURES, instrumentApp, InstrumentError } from "../../host/apps/instrument.js";
import { AppRunner } from "../../host/apps/runner.js";
import { OPTS, refused } from "./instrument-support.js";


/** WAT to a module; with `names`, the binary keeps its name section (the WAT's $names). */
function wat(text: string, features = APP_FEATURES, names = false): Uint8Array {
  const mod = binaryen.parseText(text);
  mod.setFeatures(features);
  binaryen.setDebugInfo(names);
  try {
    return mod.emitBinary();
  } finally {
    binaryen.setDebugInfo(false);
    mod.dispose();
  }
}

function run(bytes: Uint8Array, fuel: number): { value: number | undefined; slices: number } {
  const r = new AppRunner(new WebAssembly.Module(instrumentApp(bytes, OPTS).bytes as Uint8Array<ArrayBuffer>), {});
  let slices = 1;
  let res = r.runSlice(fuel);
  while (res.reason === "out_of_fuel") { slices++; res = r.runSlice(fuel); }
  assert.equal(res.reason, "exited", res.error?.message);
  return { value: res.value, slices };
}


test("an app's functions, globals and labels may carry the runtime's names: they are its own", () => {
  const { value } = run(wat(`(module (memory (export "memory") 1)
    (global $__wasphere_fuel (mut i32) (i32.const 40))
    (global $__asyncify_state (mut i32) (i32.const 2))
    (global $__asyncify_data (mut i32) (i32.const 0))
    (func $__wasphere_preempt (global.set $__wasphere_fuel (i32.add (global.get $__wasphere_fuel) (global.get $__asyncify_state))))
    (func $__wasphere_entry (result i32) (call $__wasphere_preempt) (global.get $__wasphere_fuel))
    (func (export "main") (result i32) (local $i i32)
      (loop $__wasphere_retry0
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $__wasphere_retry0 (i32.lt_u (local.get $i) (i32.const 100000))))
      (i32.add (local.get $i) (call $__wasphere_entry))))`, APP_FEATURES, true), 1000);
  assert.equal(value, 100000 + 42);
});

test("exports with the runtime's names are refused in one line", () => {
  const message = (name: string) => `the module exports "${name}": export names beginning with __wasphere_ or asyncify_ are the runtime's`;
  refused(wat(`(module (memory (export "memory") 1) (func (export "main") (result i32) (i32.const 0)) (func (export "asyncify_get_state") (result i32) (i32.const 0)))`), message("asyncify_get_state"));
  refused(wat(`(module (memory (export "memory") 1) (func (export "main") (result i32) (i32.const 0)) (global (export "__wasphere_fuel") i32 (i32.const 0)))`), message("__wasphere_fuel"));
  refused(wat(`(module (memory (export "memory") 1) (func (export "main") (result i32) (i32.const 0)) (func (export "__wasphere_entry") (result i32) (i32.const 0)))`), message("__wasphere_entry"));
});

test("a loop with parameters (multi-value) is supported: metered, preempted, and right", () => {
  // (Supported before the name and feature checks too; kept so that no refusal takes it away.)
  // The loop carries its counter on the stack, not in a local.
  const { value, slices } = run(wat(`(module (memory (export "memory") 1)
    (func (export "main") (result i32) (local $n i32)
      (i32.const 0)
      (loop $l (param i32) (result i32)
        (i32.const 1) (i32.add) (local.tee $n)
        (br_if $l (i32.lt_u (local.get $n) (i32.const 300000))))))`), 1000);
  assert.equal(value, 300000);
  assert.ok(slices > 100, `preempted ${slices - 1} times`);
});

test("tail calls are refused by name", () => {
  refused(wat(`(module (memory (export "memory") 1)
    (func $f (param i32) (result i32) (if (result i32) (local.get 0) (then (return_call $f (i32.sub (local.get 0) (i32.const 1)))) (else (i32.const 7))))
    (func (export "main") (result i32) (call $f (i32.const 10))))`, APP_FEATURES | binaryen.Features.TailCall),
  "function 0 uses tail calls (return_call), which apps may not use: a suspended app cannot be resumed across one");
});

test("exception handling is refused by name", () => {
  refused(wat(`(module (memory (export "memory") 1) (tag $t) (func (export "main") (result i32) (try (do (throw $t)) (catch $t)) (i32.const 0)))`,
    binaryen.Features.MVP | binaryen.Features.ExceptionHandling),
  "the module uses exception handling (it declares tags), which apps may not use");
});

test("memory64 is refused by name", () => {
  refused(wat(`(module (memory (export "memory") i64 1) (func (export "main") (result i32) (i32.const 0)))`, binaryen.Features.MVP | binaryen.Features.Memory64),
    "the module uses memory64 (a 64-bit memory), which apps may not use");
});

test("table.fill, table.copy and table.init are refused by name", () => {
  const table = `(memory (export "memory") 1) (table 10 funcref) (elem $e func $f) (func $f)`;
  refused(wat(`(module ${table} (func (export "main") (result i32) (table.fill 0 (i32.const 0) (ref.null func) (i32.const 5)) (i32.const 0)))`),
    "function 1 uses table.fill (bulk table operations), which apps may not use");
  refused(wat(`(module ${table} (func (export "main") (result i32) (table.copy (i32.const 0) (i32.const 1) (i32.const 2)) (i32.const 0)))`),
    "function 1 uses table.copy (bulk table operations), which apps may not use");
  refused(wat(`(module ${table} (func (export "main") (result i32) (table.init $e (i32.const 0) (i32.const 0) (i32.const 1)) (i32.const 0)))`),
    "function 1 uses table.init (bulk table operations), which apps may not use");
});

test("a module the engine cannot run is refused with the engine's one-line reason", () => {
  // A function body that pops from an empty stack.
  const bad = Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7f, 3, 2, 1, 0, 5, 3, 1, 0, 1,
    7, 17, 2, 6, ...new TextEncoder().encode("memory"), 2, 0, 4, ...new TextEncoder().encode("main"), 0, 0,
    10, 5, 1, 3, 0, 0x6a, 0x0b]);
  assert.throws(() => instrumentApp(bad, OPTS), (err: Error) => {
    assert.ok(err instanceof InstrumentError);
    assert.equal(err.message, "not a valid WebAssembly module for this engine: Compiling function #0 failed: not enough arguments on the stack for i32.add (need 1, got 0) @+48");
    return true;
  });
});
