"""The wasmtime host reproduces the Node host's conformance trace, with and without the cache."""
import tempfile
import unittest

from wasphere_wasmtime.abi import DEFAULT_BUILD_DIR
from wasphere_wasmtime.conformance import GOLDEN_PATH, run_conformance
from wasphere_wasmtime.core import ModuleCache


def first_difference(got: str, want: str) -> str:
    for i, (a, b) in enumerate(zip(got.splitlines() + ["(end)"], want.splitlines() + ["(end)"])):
        if a != b:
            return f"line {i + 1}:\n  got      {a}\n  expected {b}"
    return "identical"


class ConformanceTest(unittest.TestCase):
    core = (DEFAULT_BUILD_DIR / "core.wasm").read_bytes()

    def test_trace_matches_golden(self):
        trace, golden = run_conformance(self.core), GOLDEN_PATH.read_text()
        self.assertTrue(trace == golden, first_difference(trace, golden))

    def test_trace_matches_golden_from_the_serialized_module_cache(self):
        with tempfile.TemporaryDirectory() as tmp:
            cold = ModuleCache(tmp)
            first = run_conformance(self.core, cache=cold)
            modules = 1 + sum(1 for line in first.splitlines() if " install " in line)
            self.assertEqual((cold.hits, cold.misses), (0, modules), "the core and each installed app compiled once")
            warm = ModuleCache(tmp)
            second = run_conformance(self.core, cache=warm)
            self.assertEqual((warm.hits, warm.misses), (modules, 0), "everything deserialized")
            self.assertEqual(first, second)
            self.assertEqual(second, GOLDEN_PATH.read_text())


if __name__ == "__main__":
    unittest.main()
