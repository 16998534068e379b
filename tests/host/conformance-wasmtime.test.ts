// The wasmtime host (hosts/wasmtime) passes its own tests, the conformance run against the golden
// trace among them, when python3 with wasmtime-py is present. Without it the test is skipped and
// says how to install it; with WASPHERE_REQUIRE_HOSTS=1 (as .ci/run sets) a missing host fails.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { requireHosts } from "./hosts-support.js";

const pkgDir = fileURLToPath(new URL("../../../hosts/wasmtime/", import.meta.url));
const python = process.env.PYTHON ?? "python3";

function missing(): string | null {
  const probe = spawnSync(python, ["-c", "import wasmtime, sys; sys.stdout.write(wasmtime.__name__)"], { encoding: "utf8" });
  if (probe.error) return `${python} not found`;
  return probe.status === 0 ? null : "wasmtime-py is not installed";
}

test("wasmtime host: its unit tests and the conformance run", (t) => {
  const why = missing();
  if (why) {
    const how = `${why}: install with \`pip install wasmtime==49.0.0\` (or \`pip install ./hosts/wasmtime\`)`;
    if (requireHosts()) assert.fail(`WASPHERE_REQUIRE_HOSTS is set and the wasmtime host cannot run: ${how}`);
    t.skip(how);
    return;
  }
  const r = spawnSync(python, ["-m", "unittest", "discover", "-s", "tests", "-t", "."], {
    cwd: pkgDir, encoding: "utf8", env: { ...process.env, PYTHONPATH: pkgDir, PYTHONDONTWRITEBYTECODE: "1" },
  });
  assert.equal(r.status, 0, `python -m unittest failed:\n${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /Ran \d+ tests/);
  assert.match(r.stderr, /\nOK\n?$/);
});
