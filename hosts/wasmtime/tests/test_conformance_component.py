"""The wasmtime host on the core as a component (build/core.component.wasm under
wasmtime.component) reproduces the Node host's conformance trace, with and without the cache."""
import tempfile
import unittest

from wasphere_wasmtime.conformance import GOLDEN_PATH, run_conformance
from wasphere_wasmtime.core import ModuleCache

from .test_component import COMPONENT, MISSING, REQUIRED
from .test_conformance import first_difference


@unittest.skipUnless(COMPONENT.exists() or REQUIRED, MISSING)
class ComponentConformanceTest(unittest.TestCase):
    def setUp(self):
        if not COMPONENT.exists():
            raise AssertionError(f"WASPHERE_REQUIRE_HOSTS is set and {MISSING}")
        self.component = COMPONENT.read_bytes()

    def test_trace_matches_golden(self):
        trace, golden = run_conformance(self.component), GOLDEN_PATH.read_text()
        self.assertTrue(trace == golden, first_difference(trace, golden))

    def test_the_component_comes_from_the_serialized_cache(self):
        with tempfile.TemporaryDirectory() as tmp:
            cold = ModuleCache(tmp)
            first = run_conformance(self.component, cache=cold)
            modules = 1 + sum(1 for line in first.splitlines() if " install " in line)
            self.assertEqual((cold.hits, cold.misses), (0, modules), "the component and each installed app compiled once")
            warm = ModuleCache(tmp)
            self.assertEqual(run_conformance(self.component, cache=warm), first)
            self.assertEqual((warm.hits, warm.misses), (modules, 0), "everything deserialized")


if __name__ == "__main__":
    unittest.main()
