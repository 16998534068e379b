// Shared by the tests that run in headless Chromium (tools/chromium.ts launches it).
// A missing Chromium skips the test with how to install it; WASPHERE_REQUIRE_HOSTS=1 (.ci/run) fails.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import type { TestContext } from "node:test";
import type { Browser } from "playwright-core";
import { requireHosts } from "./hosts-support.js";
import { CHROMIUM_HOW_TO, CHROMIUM_PATH, launchHeadlessChromium } from "../../tools/chromium.js";

/** A headless Chromium, or null after skipping `t` (failing under WASPHERE_REQUIRE_HOSTS) when none is installed. */
export async function launchChromium(t: TestContext): Promise<Browser | null> {
  if (!existsSync(CHROMIUM_PATH)) {
    const how = `${CHROMIUM_PATH} not found: ${CHROMIUM_HOW_TO}`;
    if (requireHosts()) assert.fail(`WASPHERE_REQUIRE_HOSTS is set and ${how}`);
    t.skip(how);
    return null;
  }
  return launchHeadlessChromium();
}
