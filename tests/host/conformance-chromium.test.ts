// Chromium runs the conformance script through the same host bundle as gjs and jsc
// (build/wasphere-host.mjs, no binaryen inside), in a page served from the repository on loopback
// (build/engines/chromium.html, written by tools/bundle.ts), and must print the golden trace.
// Prints the run's time in the page (a figure, never asserted on).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { serveStatic } from "../../host/dashboard-cli.js";
import { GOLDEN_PATH, REPO } from "../../tools/conformance.js";
import { firstDifference, REGENERATE } from "./hosts-support.js";
import { launchChromium } from "./chromium-support.js";

test("chromium: the conformance trace through the bundle matches the golden trace", async (t) => {
  const browser = await launchChromium(t);
  if (!browser) return;
  const srv = await serveStatic(REPO, 0);
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${srv.url}build/engines/chromium.html`);
    await page.waitForFunction(() => "wasphereTrace" in window || "wasphereError" in window, null, { timeout: 240_000 });
    const out = await page.evaluate(() => {
      const w = window as unknown as { wasphereTrace?: string; wasphereError?: string; wasphereRunMs?: number };
      return { trace: w.wasphereTrace, error: w.wasphereError, runMs: w.wasphereRunMs };
    });
    assert.equal(out.error, undefined, `the page failed: ${out.error}\n${errors.join("\n")}`);
    const golden = readFileSync(GOLDEN_PATH, "utf8");
    assert.ok(out.trace === golden, `${firstDifference(out.trace ?? "", golden)}\n${REGENERATE}`);
    t.diagnostic(`chromium ${browser.version()}: conformance run ${out.runMs!.toFixed(1)} ms in the page (core compile, boot, installs, 8 s of device time)`);
  } finally {
    await browser.close();
    await srv.close();
  }
});
