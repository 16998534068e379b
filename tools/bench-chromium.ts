// Chromium's embedding figures, as gjs-bench.mjs and jsc-bench.mjs give them for their engines:
// medians of 9 runs of core compile, instantiate, core_boot and instrumented blink's compile, in
// a page (build/engines/chromium-bench.html, written by tools/bundle.ts) served from the
// repository on loopback. `node dist/tools/bench-chromium.js` after a build. Chromium's
// performance.now() is coarsened (0.1 ms in a page that is not cross-origin isolated): figures
// below that resolution read as 0.000 or 0.100.
import { fileURLToPath } from "node:url";
import { serveStatic } from "../host/dashboard-cli.js";
import { launchHeadlessChromium } from "./chromium.js";
import { REPO } from "./conformance.js";

export async function chromiumBench(): Promise<string[]> {
  const srv = await serveStatic(REPO, 0);
  const browser = await launchHeadlessChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`${srv.url}build/engines/chromium-bench.html`);
    await page.waitForFunction(() => ((window as unknown as { wasphereBench?: string[] }).wasphereBench ?? []).length >= 4, null, { timeout: 120_000 });
    const lines = await page.evaluate(() => (window as unknown as { wasphereBench: string[] }).wasphereBench);
    return [`chromium ${browser.version()}`, ...lines];
  } finally {
    await browser.close();
    await srv.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const line of await chromiumBench()) process.stdout.write(`${line}\n`);
}
