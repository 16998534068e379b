// Shared by the tests of the core as a component: whether the optional component toolchain (jco,
// `npm run component:setup`) is installed, and the skip-or-fail rule every optional host follows
// (skipped with how to install it; a failure under WASPHERE_REQUIRE_HOSTS=1, as .ci/run sets).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { TestContext } from "node:test";
import { requireHosts } from "./hosts-support.js";

export const REPO = fileURLToPath(new URL("../../../", import.meta.url));
/** As tools/build-component.mjs finds it (WASPHERE_COMPONENT_TOOLCHAIN overrides tools/component). */
export const JCO_PACKAGE = `${process.env.WASPHERE_COMPONENT_TOOLCHAIN || `${REPO}tools/component`}/node_modules/@bytecodealliance/jco/package.json`;
export const COMPONENT_WASM = `${REPO}build/core.component.wasm`;
export const BINDINGS_JS = `${REPO}build/core-component/core.js`;

/** Why the component tests cannot run here, or null when they can. */
export function componentMissing(): string | null {
  if (!existsSync(JCO_PACKAGE)) return "the component toolchain (jco) is not installed: install it with `npm run component:setup`, then `npm run build`";
  if (!existsSync(COMPONENT_WASM) || !existsSync(BINDINGS_JS)) return "jco is installed but build/core.component.wasm or its bindings are missing: run `npm run build`";
  return null;
}

/** True when the test may go on; otherwise skips it (or fails it when hosts are required). */
export function componentPresent(t: TestContext): boolean {
  const why = componentMissing();
  if (!why) return true;
  if (requireHosts()) assert.fail(`WASPHERE_REQUIRE_HOSTS is set and the core cannot run as a component: ${why}`);
  t.skip(why);
  return false;
}
