// The conformance run on the Node host reproduces the golden trace, and the trace format says what
// DESIGN.md (Embedding) says it does. Other hosts are compared in their own test files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { GOLDEN_PATH, nodeTrace, SCRIPT_PATH } from "../../tools/conformance.js";
import { quoteBytes, traceLine } from "../../host/conformance.js";
import { firstDifference, REGENERATE } from "./hosts-support.js";

test("the Node host's conformance trace matches tests/conformance/trace.golden", async () => {
  const trace = await nodeTrace();
  const golden = readFileSync(GOLDEN_PATH, "utf8");
  assert.ok(trace === golden, `${firstDifference(trace, golden)}\n${REGENERATE}`);
});

test("the golden trace covers every event the script is there to exercise", () => {
  const golden = readFileSync(GOLDEN_PATH, "utf8");
  for (const needle of [
    'install-refused dir="tests/conformance/apps/refused" error="ENODEV"',
    'kind="EV_DENIED" result=-13',
    'reason="out_of_fuel"', 'reason="trapped"', 'reason="exited" task=4 value=3', 'reason="blocked"',
    'kind="EV_APP_RESTART"', 'kind="EV_APP_GAVE_UP"',
    'gpio level=1 pin=12 source="external"', 'log app="button" text="pressed"',
    'text="bye\\x09\\x22caf\\xc3\\xa9\\x22\\xef\\xbf\\xbd"',
  ]) assert.ok(golden.includes(needle), `the golden trace has ${needle}`);
  const times = golden.split("\n").filter((l) => /^\d{9} /.test(l)).map((l) => Number(l.slice(0, 9)));
  assert.deepEqual(times, [...times].sort((x, y) => x - y), "device times never go backwards");
  assert.equal(times.at(-1), JSON.parse(readFileSync(SCRIPT_PATH, "utf8")).untilMs * 1000);
});

test("trace lines: keys sorted, µs floored, bytes outside printable ASCII escaped", () => {
  assert.equal(traceLine(1.2349999, "x", { b: 2, a: "q\"\\\n" }), '000001234 x a="q\\x22\\x5c\\x0a" b=2');
  // 0.0625 ms is 62.5 µs exactly: floored, where a rounding printf and toFixed would disagree.
  assert.equal(traceLine(0.0625, "t", {}), "000000062 t");
  assert.equal(quoteBytes([0x7e, 0x7f, 0x20, 0x1f, 0xff]), '"~\\x7f \\x1f\\xff"');
});
