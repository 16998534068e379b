// What an app cannot use safely on a one-thread host, and the install budget: each refused at
// install in one line naming it, before binaryen runs a pass, and an install does not stall the
// apps already running.
import { test } from "node:test";
import assert from "node:assert/strict";
import binaryen from "binaryen";
import { instrumentApp, InstrumentError, MODULE_LIMITS } from "../../host/apps/instrument.js";
import { instrumentOffThread } from "../../host/apps/instrument-async.js";
import { OPTS, refused } from "./instrument-support.js";
import { Device } from "../../host/device.js";
import { appFromBytes } from "../../host/apps/package.js";
import { blinker, manifest } from "../e2e/support.js";


/** WAT with every feature binaryen has, so that the module can hold what apps may not use. */
function watAll(text: string): Uint8Array {
  const mod = binaryen.parseText(text);
  mod.setFeatures(binaryen.Features.MVP | binaryen.Features.Atomics | binaryen.Features.BulkMemory | binaryen.Features.SignExt | binaryen.Features.MutableGlobals);
  const bytes = mod.emitBinary();
  mod.dispose();
  return bytes;
}

// A hand-assembled module: `functions` bodies of raw code, each () -> i32 with `locals` i32 locals;
// the first is exported as main. For shapes binaryen's text parser cannot take (it recurses).
const uleb = (n: number): number[] => { const o: number[] = []; do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; o.push(b); } while (n); return o; };
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const str = (s: string) => [...uleb(s.length), ...new TextEncoder().encode(s)];
function rawModule(bodies: number[][], locals = 0): Uint8Array {
  const code: number[] = [...uleb(bodies.length)];
  for (const b of bodies) {
    const body = [...(locals ? [1, ...uleb(locals), 0x7f] : [0]), ...b, 0x0b];
    code.push(...uleb(body.length), ...body);
  }
  return Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, [1, 0x60, 0, 1, 0x7f]),
    ...section(3, [...uleb(bodies.length), ...bodies.map(() => 0)]),
    ...section(5, [1, 0, 1]),
    ...section(7, [2, ...str("memory"), 2, 0, ...str("main"), 0, 0]),
    ...section(10, code)]);
}
const I32_CONST_0 = [0x41, 0];


test("shared memory is refused by name", () => {
  refused(watAll(`(module (memory (export "memory") 1 1 shared) (func (export "main") (result i32) (i32.const 0)))`),
    "the module's memory is shared (threads), which apps may not use: an app runs on one thread");
});

test("atomic wait and notify, and the other atomics, are refused by name", () => {
  refused(watAll(`(module (memory (export "memory") 1 1) (func (export "main") (result i32)
      (memory.atomic.wait32 (i32.const 9000) (i32.const 0) (i64.const -1))))`),
    "function 0 uses atomic wait/notify (threads), which apps may not use: a wait would block the device's only thread");
  refused(watAll(`(module (memory (export "memory") 1 1) (func (export "main") (result i32)
      (memory.atomic.notify (i32.const 9000) (i32.const 1))))`),
    "function 0 uses atomic wait/notify (threads), which apps may not use: a wait would block the device's only thread");
  refused(watAll(`(module (memory (export "memory") 1 1) (func (export "main") (result i32)
      (i32.atomic.rmw.add (i32.const 9000) (i32.const 1))))`),
    "function 0 uses atomics (threads), which apps may not use: an app runs on one thread");
  refused(watAll(`(module (memory (export "memory") 1 1) (func (export "main") (result i32)
      (i32.atomic.load (i32.const 9000))))`),
    "function 0 uses atomics (threads), which apps may not use: an app runs on one thread");
});

test("a module over the size budget is refused before it is parsed", () => {
  const big = new Uint8Array(MODULE_LIMITS.moduleBytes + 1);
  refused(big, `the module is ${MODULE_LIMITS.moduleBytes + 1} bytes; the install budget allows ${MODULE_LIMITS.moduleBytes}`);
});

test("6,000 tiny loop functions are refused by the function budget, quickly", () => {
  const loop = [0x03, 0x40, 0x0c, 0, 0x0b, ...I32_CONST_0]; // (loop (br 0)) (i32.const 0)
  const started = performance.now();
  refused(rawModule(new Array(6000).fill(loop)), "the module defines 6000 functions; an app may define at most 2000");
  // Refused from the function section's count: nothing was instrumented (minutes, before).
  assert.ok(performance.now() - started < 30_000);
});

test("5,000 nested loops are refused by the nesting budget, without a stack overflow", () => {
  const body = [...new Array(5000).fill([0x03, 0x40]).flat(), ...new Array(5000).fill(0x0b), ...I32_CONST_0];
  refused(rawModule([body]), `function 0 nests expressions more than ${MODULE_LIMITS.nestingDepth} deep; the install budget allows ${MODULE_LIMITS.nestingDepth}`);
});

test("a 3,000-statement dependent chain is refused by the per-function budget, without a stack overflow", () => {
  // local0 = local0 * local0 + k, 3,000 times: flat in the binary, one deep tree once optimised.
  const body: number[] = [];
  for (let k = 0; k < 3000; k++) body.push(0x20, 0, 0x20, 0, 0x6c, 0x41, ...uleb(k % 64), 0x6a, 0x21, 0);
  body.push(0x20, 0);
  refused(rawModule([body], 1), `function 0 has more than ${MODULE_LIMITS.instructionsPerFunction} instructions; the install budget allows ${MODULE_LIMITS.instructionsPerFunction} in one function`);
});

test("loops and locals per function are budgeted", () => {
  const loops = [...new Array(MODULE_LIMITS.loopsPerFunction + 1).fill([0x03, 0x40, 0x0b]).flat(), ...I32_CONST_0];
  refused(rawModule([loops]), `function 0 has more than ${MODULE_LIMITS.loopsPerFunction} loops; the install budget allows ${MODULE_LIMITS.loopsPerFunction} in one function`);
  refused(rawModule([I32_CONST_0], MODULE_LIMITS.localsPerFunction + 1),
    `function 0 has ${MODULE_LIMITS.localsPerFunction + 1} locals; the install budget allows ${MODULE_LIMITS.localsPerFunction}`);
});

test("within the budget, 400 loop functions are instrumented and stay within the growth factor", () => {
  const loop = [0x03, 0x40, 0x0c, 0, 0x0b, ...I32_CONST_0];
  const wasm = rawModule(new Array(400).fill(loop));
  const out = instrumentApp(wasm, OPTS);
  assert.ok(out.instrumentedBytes <= MODULE_LIMITS.growthFactor * wasm.length + MODULE_LIMITS.growthSlackBytes);
});

test("off the thread: refusals arrive as InstrumentError, and a job over its time budget is refused", async () => {
  await assert.rejects(instrumentOffThread(rawModule(new Array(6000).fill(I32_CONST_0)), OPTS), (err: Error) => {
    assert.ok(err instanceof InstrumentError);
    assert.equal(err.message, "the module defines 6000 functions; an app may define at most 2000");
    return true;
  });
  await assert.rejects(instrumentOffThread(rawModule([I32_CONST_0]), OPTS, 1), (err: Error) => {
    assert.ok(err instanceof InstrumentError);
    assert.equal(err.message, "instrumenting the module took longer than 1 ms, the install budget");
    return true;
  });
  // The worker was replaced: the next job works.
  const out = await instrumentOffThread(rawModule([I32_CONST_0]), OPTS);
  assert.ok(WebAssembly.validate(out.bytes as Uint8Array<ArrayBuffer>));
});

test("installing a large app does not stall the running ones: blink keeps its schedule meanwhile", async () => {
  const dev = new Device(); // a real clock: the schedule is wall time
  const periodMs = 50;
  const witness = await dev.install(appFromBytes("witness", manifest("witness", { Capabilities: { Gpio: [20] } }), blinker(20, periodMs)));
  dev.start(witness);
  const control = new AbortController();
  const running = dev.run({ signal: control.signal });
  await new Promise((r) => setTimeout(r, 300));
  // 1,500 functions with loops: seconds of binaryen work.
  const loopFn = [0x03, 0x40, 0x0c, 0, 0x0b, ...I32_CONST_0];
  const heavy = rawModule(new Array(1500).fill(loopFn));
  const startedMs = dev.clock.nowMs();
  await dev.install(appFromBytes("heavy", manifest("heavy"), heavy));
  const endedMs = dev.clock.nowMs();
  control.abort();
  await running;
  const during = dev.events.of("gpio").filter((e) => e.pin === 20 && e.source === "core" && e.timeMs >= startedMs && e.timeMs <= endedMs).map((e) => e.timeMs);
  assert.ok(endedMs - startedMs > 4 * periodMs, `the install took ${Math.round(endedMs - startedMs)} ms: long enough to see the schedule`);
  const points = [startedMs, ...during, endedMs];
  const gaps = points.slice(1).map((t, i) => t - points[i]);
  // Toggles kept coming (a loaded machine delays timers; a blocked thread delays them all).
  assert.ok(Math.max(...gaps) < (endedMs - startedMs) / 2, `longest gap ${Math.round(Math.max(...gaps))} ms of ${Math.round(endedMs - startedMs)} ms`);
  assert.ok(during.length >= 3, `${during.length} toggles during the install`);
});
