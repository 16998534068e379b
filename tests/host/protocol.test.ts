// A pre-instrumented module is checked against the slice protocol (host/apps/protocol.ts, whose
// constants the instrumenter imports) and its quota before install.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as protocol from "../../host/apps/protocol.js";
import { checkInstrumentedModule, ModuleContractError } from "../../host/apps/protocol.js";
import { instrumentModule } from "../../host/instrument-cli.js";
import { app, IMPORT, wat } from "../e2e/support.js";

const KIB = 1024;

test("an instrumented module passes the check at its quota and fails below it", async () => {
  const raw = app(`${IMPORT.sleep}`, `(drop (call $sleep (i32.const 5))) (i32.const 0)`);
  const out = await instrumentModule(raw, 128 * KIB);
  checkInstrumentedModule(out, 128 * KIB);
  checkInstrumentedModule(out, 256 * KIB);
  assert.throws(() => checkInstrumentedModule(out, 64 * KIB), /memory maximum \(2 pages\) exceeds the app's quota of 1 pages/);
});

test("a raw (uninstrumented) module is refused, naming the missing export", () => {
  const raw = app(`${IMPORT.sleep}`, `(drop (call $sleep (i32.const 5))) (i32.const 0)`);
  assert.throws(() => checkInstrumentedModule(raw, 256 * KIB), (e: Error) => e instanceof ModuleContractError && /does not export the global __wasphere_fuel/.test(e.message));
});

test("shape violations are refused: foreign imports, a start function, no memory maximum, garbage", () => {
  const exportsOk = `(global (export "__wasphere_fuel") (mut i32) (i32.const 0))
    (func (export "__wasphere_entry") (result i32) (i32.const 0))
    ${protocol.ASYNCIFY_EXPORTS.map((n) => `(func (export "${n}") ${n === "asyncify_get_state" ? "(result i32) (i32.const 0)" : n.endsWith("start_unwind") || n.endsWith("start_rewind") ? "(param i32)" : ""})`).join("\n")}`;
  const mod = (extra: string, memory = `(memory (export "memory") 1 2)`) => wat(`(module ${extra} ${memory} ${exportsOk})`);
  checkInstrumentedModule(mod(""), 128 * KIB);
  assert.throws(() => checkInstrumentedModule(mod(`(import "env" "f" (func))`), 128 * KIB), /imports function env.f/);
  assert.throws(() => checkInstrumentedModule(mod(`(import "applibs" "not_a_syscall" (func))`), 128 * KIB), /applibs.not_a_syscall/);
  assert.throws(() => checkInstrumentedModule(mod(`(func $s) (start $s)`), 128 * KIB), /start function/);
  assert.throws(() => checkInstrumentedModule(mod("", `(memory (export "memory") 1)`), 128 * KIB), /memory maximum \(none\)/);
  assert.throws(() => checkInstrumentedModule(mod("", `(memory 1 2)`), 128 * KIB), /exactly one memory, exported/);
  assert.throws(() => checkInstrumentedModule(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 7, 50, 1]), 128 * KIB), /runs past the end/);
  assert.throws(() => checkInstrumentedModule(new Uint8Array([1, 2, 3]), 128 * KIB), /bad magic/);
});
