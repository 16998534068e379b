"""The hal's own bounds checks: wasmtime-py's Memory.read clamps, so the host must refuse first."""
import unittest

import wasmtime

from wasphere_wasmtime.abi import DEFAULT_BUILD_DIR, load_abi
from wasphere_wasmtime.core import CabiArenaFull, Core, Hal, checked_range, compile_module

PAGE = 65536


class BoundsTest(unittest.TestCase):
    def test_memory_read_clamps_instead_of_failing(self):
        # The fact the checks exist for: an out-of-range read returns fewer bytes, silently.
        store = wasmtime.Store()
        mem = wasmtime.Memory(store, wasmtime.MemoryType(wasmtime.Limits(1, 1)))
        self.assertEqual(len(mem.read(store, PAGE - 6, PAGE + 100)), 6)
        self.assertEqual(len(mem.read(store, -4, None)), 4)

    def test_checked_range(self):
        self.assertEqual(checked_range(PAGE, PAGE - 4, 4), (PAGE - 4, PAGE))
        self.assertEqual(checked_range(PAGE, PAGE, 0), (PAGE, PAGE))
        self.assertIsNone(checked_range(PAGE, PAGE - 2, 4))
        self.assertIsNone(checked_range(PAGE, PAGE + 1, 0))
        self.assertIsNone(checked_range(PAGE, -2, 4), "i32 -2 is 0xfffffffe, and +4 must not wrap to 2")
        self.assertIsNone(checked_range(PAGE, 0, -1), "a negative length is 4 GiB")
        self.assertIsNone(checked_range(0, 0, 1))


class ListLoweringTest(unittest.TestCase):
    """Lists go in through the core's cabi_realloc arena, and only there."""

    def setUp(self):
        self.abi = load_abi()
        engine = wasmtime.Engine()
        module = compile_module(engine, (DEFAULT_BUILD_DIR / "core.wasm").read_bytes())
        self.core = Core(engine, module, Hal(clock_now_ms=lambda: 0.0), self.abi.CABI_ARENA_BYTES)
        self.assertEqual(self.core.call("core_boot", 8, 262144, 262144), 0)

    def test_a_list_longer_than_the_arena_is_refused_before_the_core_is_called(self):
        with self.assertRaises(CabiArenaFull):
            self.core.call("app_install", b"{" * (self.abi.CABI_ARENA_BYTES + 1))
        manifest = b'{"SchemaVersion": 1, "Name": "a", "ComponentId": "1689d8b2-c835-2e27-27ad-e894d6d15fa9", "EntryPoint": "a.wasm"}'
        slot = self.core.call("app_install", manifest)
        self.assertEqual(slot, 0)
        self.assertEqual(self.core.call("app_string", slot, self.abi.APP_STRING_NAME), b"a")
        self.assertEqual(self.core.call("app_string", 99, self.abi.APP_STRING_NAME), -self.abi.ENOENT)

    def test_a_refusal_carries_the_cores_message(self):
        self.assertEqual(self.core.call("app_install", b"[]"), -self.abi.EINVAL)
        self.assertTrue(self.core.last_error())

    def test_a_result_this_host_does_not_lift_is_refused_before_the_core_is_called(self):
        # Handed back unlifted it would be the return area's address: a number that looks like success.
        with self.assertRaisesRegex(NotImplementedError, "pkg_parse: the wasmtime host does not lift pkg-info"):
            self.core.call("pkg_parse", 4096, 0, 4096)
        with self.assertRaisesRegex(NotImplementedError, "ptable_parse"):
            self.core.call("ptable_parse", 4096, 16)


if __name__ == "__main__":
    unittest.main()
