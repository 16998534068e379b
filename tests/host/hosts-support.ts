// Shared by the tests that compare a host's conformance trace with the golden one.

/** The first differing line of two traces, for a message a person can act on. */
export function firstDifference(actual: string, expected: string): string {
  const a = actual.split("\n"), e = expected.split("\n");
  for (let i = 0; i < Math.max(a.length, e.length); i++) {
    if (a[i] !== e[i]) return `line ${i + 1}:\n  got      ${a[i] ?? "(end)"}\n  expected ${e[i] ?? "(end)"}`;
  }
  return "identical";
}

export const REGENERATE = "if the change is intended, regenerate the golden file with `npm run conformance:golden` and review its diff";

/** WASPHERE_REQUIRE_HOSTS=1 (as .ci/run sets): a host that cannot run fails instead of skipping. */
export const requireHosts = () => /^(1|true|all)$/i.test(process.env.WASPHERE_REQUIRE_HOSTS ?? "");
