"""The wasmtime host on the core as a component (build/core.component.wasm under
wasmtime.component) passes the module form's conformance tests: the Node host's trace, with and
without the serialized cache."""
import unittest

from . import test_conformance
from .test_component import COMPONENT, MISSING, REQUIRED


@unittest.skipUnless(COMPONENT.exists() or REQUIRED, MISSING)
class ComponentConformanceTest(test_conformance.ConformanceTest):
    """test_conformance.ConformanceTest's tests, with the component as the core."""

    @classmethod
    def setUpClass(cls):
        if not COMPONENT.exists():
            raise AssertionError(f"WASPHERE_REQUIRE_HOSTS is set and {MISSING}")
        cls.core = COMPONENT.read_bytes()


if __name__ == "__main__":
    unittest.main()
