// tools/bench-jspi.ts, one round in headless Chromium: the metered-only kernels, preempted by JSPI
// suspensions, compute what the plain module computes (the tool throws otherwise) in exactly as
// many slices as the installed module under asyncify (the same metering charges the same fuel),
// and the modules a JSPI host would run carry no asyncify. Timing is printed by the tool, never
// checked here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { jspiFigures } from "../../tools/bench-jspi.js";
import { launchChromium } from "./chromium-support.js";

test("metered-only kernels under JSPI suspensions agree with asyncify's slicing and the plain results", async (t) => {
  const browser = await launchChromium(t);
  if (!browser) return;
  try {
    const f = await jspiFigures(browser, 1);
    const kernels = [...new Set(f.rows.map((r) => r.kernel))];
    assert.equal(kernels.length, 3);
    for (const k of kernels) {
      const of = (variant: string) => f.rows.find((r) => r.kernel === k && r.variant === variant);
      const installed = of("as installed (asyncify)");
      assert.ok(installed && installed.slices > 1, `${k}: the installed module was preempted`);
      for (const v of ["metered, JSPI", "metered + final -O2, JSPI"]) assert.equal(of(v)?.slices, installed.slices, `${k}: ${v}`);
    }
    assert.deepEqual(f.switches.map((s) => s.variant), ["as installed (asyncify)", "metered, JSPI"]);
    for (const s of f.switches) assert.ok(Number.isFinite(s.usPerSlice), s.variant);
    const bytes = (what: string) => f.sizes.find((z) => z.what === what)!.bytes;
    assert.ok(bytes("kernels, metered only (what a JSPI host needs)") < bytes("kernels, as installed (asyncify + resumable functions)"));
    assert.ok(bytes("kernels, metered only, final -O2") < bytes("kernels, metered only (what a JSPI host needs)"));
  } finally {
    await browser.close();
  }
});
