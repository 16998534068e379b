"""The hal's own bounds checks: wasmtime-py's Memory.read clamps, so the host must refuse first."""
import unittest

import wasmtime

from wasphere_wasmtime.core import checked_range

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


if __name__ == "__main__":
    unittest.main()
