// Shared by the tests that run in headless Chromium: Debian's `chromium`, driven by playwright-core
// (a devDependency that never downloads a browser of its own: executablePath is always set).
// A missing Chromium skips the test with how to install it; WASPHERE_REQUIRE_HOSTS=1 (.ci/run) fails.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import type { TestContext } from "node:test";
import type { Browser } from "playwright-core";
import { requireHosts } from "./hosts-support.js";

export const CHROMIUM_PATH = process.env.WASPHERE_CHROMIUM ?? "/usr/bin/chromium";
export const CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"];

/** A headless Chromium, or null after skipping `t` (failing under WASPHERE_REQUIRE_HOSTS) when none is installed. */
export async function launchChromium(t: TestContext): Promise<Browser | null> {
  if (!existsSync(CHROMIUM_PATH)) {
    const how = `${CHROMIUM_PATH} not found: install it with \`apt-get install --no-install-recommends chromium\` (or set WASPHERE_CHROMIUM to a Chromium binary)`;
    if (requireHosts()) assert.fail(`WASPHERE_REQUIRE_HOSTS is set and ${how}`);
    t.skip(how);
    return null;
  }
  const { chromium } = await import("playwright-core");
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true, timeout: 120_000 });
}
