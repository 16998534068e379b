// The manifest fuzz target (tools/fuzz-manifest.ts), a short fixed-seed pass: generated and mutated
// manifests through the core's app_install, checked against JSON.parse; plus the target's own oracle
// checked on inputs whose verdict is known.
import { test } from "node:test";
import assert from "node:assert/strict";
import { manifestTarget } from "../../tools/fuzz-manifest.js";
import { caseSeed, Prng, runCases, runInput } from "../../tools/fuzz-lib.js";

const enc = new TextEncoder();

test("3000 cases of seed 1: no trap, no disagreement with JSON.parse, no leak", async () => {
  const stats = await runCases(manifestTarget, { seed: 1, maxCases: 3000 });
  assert.equal(stats.cases, 3000);
  assert.deepEqual(stats.failures.map((f) => `case ${f.index}: ${f.message}`), []);
});

test("generation is deterministic: the same seed and case give the same bytes", async () => {
  for (const index of [0, 17, 2999]) {
    const a = await manifestTarget.generate(new Prng(caseSeed(1, index)));
    const b = await manifestTarget.generate(new Prng(caseSeed(1, index)));
    assert.deepEqual(a, b);
  }
  assert.notDeepEqual(await manifestTarget.generate(new Prng(caseSeed(1, 0))), await manifestTarget.generate(new Prng(caseSeed(2, 0))));
});

test("the oracle passes a valid manifest read back exactly, with \\u escapes decoded", async () => {
  const text = String.raw`{"SchemaVersion":1,"Name":"bl\u0069nk \u00fc","ComponentId":"1689D8B2-c835-2e27-27ad-e894d6d15fa9","EntryPoint":"a\/b.wasm","MemoryQuotaKiB":64}`;
  assert.equal(await runInput(manifestTarget, enc.encode(text)), null);
});

test("the oracle passes refusals of malformed JSON, and the core's message is one printable line", async () => {
  for (const text of ["", "{", `{"SchemaVersion":1,}`, `{"Name":"\u0001"}`, "[".repeat(5000), `{"SchemaVersion":1e999}`]) {
    assert.equal(await runInput(manifestTarget, enc.encode(text)), null, JSON.stringify(text.slice(0, 40)));
  }
});
