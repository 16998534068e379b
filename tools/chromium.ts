// Headless Chromium for the tests and benchmarks that run in a browser: Debian's `chromium`,
// driven by playwright-core (a devDependency without an install script; it never downloads a
// browser of its own, since executablePath is always given).
import type { Browser } from "playwright-core";

export const CHROMIUM_PATH = process.env.WASPHERE_CHROMIUM ?? "/usr/bin/chromium";
export const CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"];
export const CHROMIUM_HOW_TO = "install it with `apt-get install --no-install-recommends chromium` (or set WASPHERE_CHROMIUM to a Chromium binary)";

export async function launchHeadlessChromium(): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true, timeout: 120_000 });
}
