// The conformance run on the Node host with the core as a component (host/core-component.ts, over
// jco's bindings of build/core.component.wasm) reproduces the golden trace line for line. Without
// the component toolchain the test is skipped and says how to install it; WASPHERE_REQUIRE_HOSTS=1
// (.ci/run) makes that a failure.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { GOLDEN_PATH, nodeTrace } from "../../tools/conformance.js";
import { firstDifference, REGENERATE } from "./hosts-support.js";
import { componentPresent } from "./component-support.js";

test("the Node host on the component core: the conformance trace matches tests/conformance/trace.golden", async (t) => {
  if (!componentPresent(t)) return;
  const trace = await nodeTrace(undefined, { core: "component" });
  const golden = readFileSync(GOLDEN_PATH, "utf8");
  assert.ok(trace === golden, `${firstDifference(trace, golden)}\n${REGENERATE}`);
});
