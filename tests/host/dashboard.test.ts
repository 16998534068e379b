// The browser dashboard in headless Chromium (Debian chromium, playwright-core): loaded from the
// loopback server of `wasphere dashboard`, with examples/button, examples/blink and a hostile app.
// A click on the button's input pin (GPIO 12) must reach the app through the Device and the core:
// the app mirrors it onto its LED (GPIO 9) and logs it. The hostile app's name and log line (HTML,
// an ESC, a newline, a bidi override) must show escaped, as text, with no element made from them.
// Saves a screenshot (build/test-output/dashboard.png) and prints its path and the time from page
// load to the first LED lit (figures, never asserted on).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDashboard } from "../../host/dashboard-cli.js";
import { printable } from "../../host/printable.js";
import { REPO } from "../../tools/conformance.js";
import { IMPORT, app, manifest } from "../e2e/support.js";
import { launchChromium } from "./chromium-support.js";

const HOSTILE_NAME = `<img src=x onerror="window.pwned=1">\u202e`;
const HOSTILE_TEXT = `<script>window.pwned=2</script><b>bold</b>\u001b[31m\nforged line`;
export const SCREENSHOT_PATH = join(REPO, "build/test-output/dashboard.png");

/** An app directory whose manifest Name and single log line are `HOSTILE_NAME` and `HOSTILE_TEXT`. */
function hostileAppDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "wasphere-dashboard-"));
  const text = Buffer.from(HOSTILE_TEXT, "utf8");
  const data = [...text].map((b) => `\\${b.toString(16).padStart(2, "0")}`).join("");
  const wasm = app(`${IMPORT.log} ${IMPORT.sleep}`, `
    (drop (call $log (i32.const 8192) (i32.const ${text.length})))
    (loop $forever (drop (call $sleep (i32.const 1000))) (br $forever))
    (i32.const 0)`, `(data (i32.const 8192) "${data}")`);
  writeFileSync(join(dir, "app_manifest.json"), JSON.stringify(manifest("hostile", { Name: HOSTILE_NAME })));
  writeFileSync(join(dir, "hostile.wasm"), wasm);
  return dir;
}

test("the dashboard in Chromium: a click on GPIO 12 reaches button, which lights GPIO 9; hostile text shows escaped", async (t) => {
  const browser = await launchChromium(t);
  if (!browser) return;
  const hostile = hostileAppDir();
  let srv: Awaited<ReturnType<typeof startDashboard>> | undefined;
  try {
    srv = await startDashboard({ port: 0, appDirs: [join(REPO, "examples/button"), join(REPO, "examples/blink"), hostile] });
    const url = srv.url;
    assert.equal((srv.server.address() as { address: string }).address, "127.0.0.1", "loopback only");
    const page = await browser.newPage();
    const errors: string[] = [], foreign: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("request", (r) => { if (!r.url().startsWith(url) && !r.url().startsWith("data:")) foreign.push(r.url()); });
    await page.goto(url);
    await page.waitForFunction(() => (window as unknown as { wasphere: { figures: { firstLedOnMs?: number } } }).wasphere.figures.firstLedOnMs !== undefined, null, { timeout: 120_000 });
    const figures = await page.evaluate(() => (window as unknown as { wasphere: { figures: Record<string, number> } }).wasphere.figures);

    const button = page.locator('[data-pin="12"][data-dir="input"] button');
    const led = page.locator('[data-pin="9"][data-dir="output"]');
    await button.waitFor();
    await led.waitFor();
    assert.equal(await led.getAttribute("data-level"), "0", "the LED starts off");
    await button.click();
    await page.locator('[data-pin="9"][data-level="1"]').waitFor({ timeout: 30_000 });
    await page.locator("#log li", { hasText: "button: pressed" }).waitFor({ timeout: 30_000 });
    assert.equal(await page.evaluate(() => (window as unknown as { wasphere: { device: { gpio: { level(p: number): number } } } }).wasphere.device.gpio.level(12)), 1, "the click drove GPIO 12 high");
    await button.click();
    await page.locator('[data-pin="9"][data-level="0"]').waitFor({ timeout: 30_000 });
    await page.locator("#log li", { hasText: "button: released" }).waitFor({ timeout: 30_000 });
    // Blink runs beside it on GPIO 8, and the memory map and the app list are drawn.
    await page.locator('[data-pin="8"][data-dir="output"]').waitFor();
    assert.equal(await page.locator("#memory-map").getAttribute("data-total-bytes"), String(4 * 1024 * 1024));
    assert.deepEqual(await page.locator("#apps tbody tr").evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.state)).then((s) => s.length), 3);

    // The hostile app: its name and its log line, as text, escaped by printable.
    const shownName = printable(HOSTILE_NAME);
    assert.notEqual(shownName, HOSTILE_NAME, "the name holds something printable escapes");
    const logLine = page.locator("#log li", { hasText: "forged line" });
    await logLine.waitFor({ timeout: 30_000 });
    const line = await logLine.textContent();
    assert.ok(line!.endsWith(`] ${printable(`${HOSTILE_NAME}: ${HOSTILE_TEXT}`)}`), `the log line is escaped text: ${line}`);
    assert.ok(line!.includes("\\x1b[31m\\nforged line") && line!.includes("\\u{202e}"), "ESC, newline and the bidi override shown as escapes");
    const names = await page.locator("#apps td.name").allTextContents();
    assert.ok(names.includes(shownName), `the app list shows the escaped name: ${JSON.stringify(names)}`);
    assert.equal(await page.locator("main img, main script, main b").count(), 0, "no element made from app text");
    assert.equal(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined, "no app text ran as script");
    assert.deepEqual(foreign, [], "the page fetched from its own origin only");
    assert.deepEqual(errors, []);

    mkdirSync(join(REPO, "build/test-output"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT_PATH, fullPage: true });
    t.diagnostic(`screenshot: ${SCREENSHOT_PATH}`);
    t.diagnostic(`chromium ${browser.version()}, ms since navigation start: core compiled and booted ${figures.coreReadyMs.toFixed(1)}, apps started ${figures.appsStartedMs.toFixed(1)}, first LED lit (GPIO ${figures.firstLedPin}) ${figures.firstLedOnMs.toFixed(1)}`);
  } finally {
    await browser.close();
    await srv?.close();
    rmSync(hostile, { recursive: true, force: true });
  }
});
