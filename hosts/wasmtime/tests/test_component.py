"""The core as a component under wasmtime.component (component.py): its hal as component imports,
app memory bounds-checked before a byte moves, re-entry and over-long lists refused with the core
left usable, enums mapped by the component's own types."""
import json
import os
import unittest

import wasmtime

from wasphere_wasmtime.abi import DEFAULT_BUILD_DIR, load_abi
from wasphere_wasmtime.component import ComponentCore, CoreReentered, compile_component, is_component
from wasphere_wasmtime.core import CabiArenaFull, Hal

COMPONENT = DEFAULT_BUILD_DIR / "core.component.wasm"
PAGE = 65536
MANIFEST = json.dumps({
    "SchemaVersion": 1, "Name": "comp", "ComponentId": "5d1c7e3a-2b4f-4c6d-8e9a-0f1b2c3d4e5f", "EntryPoint": "comp.wasm",
    "CmdArgs": ["a"], "Capabilities": {"Gpio": [3]},
}).encode()


MISSING = f"{COMPONENT} is not built (install jco with `npm run component:setup`, then `npm run build`)"
#: As the Node tests: under WASPHERE_REQUIRE_HOSTS=1 (.ci/run) a missing component fails instead of skipping.
REQUIRED = os.environ.get("WASPHERE_REQUIRE_HOSTS", "").lower() in ("1", "true", "all")


@unittest.skipUnless(COMPONENT.exists() or REQUIRED, MISSING)
class ComponentCoreTest(unittest.TestCase):
    engine = wasmtime.Engine()
    abi = load_abi()

    @classmethod
    def setUpClass(cls):
        if not COMPONENT.exists():
            raise AssertionError(f"WASPHERE_REQUIRE_HOSTS is set and {MISSING}")
        cls.component = compile_component(cls.engine, COMPONENT.read_bytes())

    def core(self, **hal) -> ComponentCore:
        core = ComponentCore(self.engine, self.component, Hal(clock_now_ms=lambda: 0.0, **hal), cabi_arena_bytes=self.abi.CABI_ARENA_BYTES)
        self.assertEqual(core.call("core_boot", 16, 256 * 1024, 64 * 1024), 0)
        return core

    def started(self, core: ComponentCore) -> int:
        slot = core.call("app_install", MANIFEST)
        self.assertGreaterEqual(slot, 0, core.last_error())
        task = core.call("app_start", slot)
        self.assertEqual(core.call("sched_next", 0.0), task)
        return task

    def test_the_build_makes_a_component_of_core_wasm(self):
        self.assertTrue(is_component(COMPONENT.read_bytes()))
        self.assertFalse(is_component((DEFAULT_BUILD_DIR / "core.wasm").read_bytes()))

    def test_results_enums_and_records_cross_as_wit_values(self):
        a, core = self.abi, self.core()
        self.assertEqual(core.call("app_install", b"{ not json"), -a.EINVAL)
        self.assertRegex(core.last_error(), r"^manifest: invalid JSON")
        slot = core.call("app_install", MANIFEST)
        self.assertEqual(core.call("app_string", slot, a.APP_STRING_NAME), b"comp")
        self.assertEqual(core.call("app_string", slot, a.APP_STRING_CMD_ARGS), b"a\0")
        self.assertEqual(core.call("app_string", slot + 1, a.APP_STRING_NAME), -a.ENOENT)
        self.assertEqual(core.call("app_field", slot, a.APP_FIELD_QUOTA_BYTES), 64 * 1024)
        self.assertEqual(core.call("app_field", slot, a.APP_FIELD_TASK), -a.ENOENT)
        field_count = len([n for n in a.numbers if n.startswith("APP_FIELD_")])
        with self.assertRaisesRegex(ValueError, rf"^app_field: {field_count} is no case of its enum \(0\.\.{field_count - 1}\)$"):
            core.call("app_field", slot, field_count)
        self.assertEqual(core.memory_bytes(), 64 * PAGE)

    def test_app_memory_is_bounds_checked_before_a_byte_moves(self):
        a = self.abi
        store = wasmtime.Store(self.engine)
        mem = wasmtime.Memory(store, wasmtime.MemoryType(wasmtime.Limits(1, 1)))
        mem.write(store, b"hello", PAGE - 5)
        logged = []
        core = self.core(app_memory=lambda task: (store, mem), log=lambda task, line: logged.append(line))
        task = self.started(core)
        self.assertEqual(core.call("syscall", task, a.SYS_LOG, PAGE - 5, 5, 0, 0), 5)
        # One byte past the end: Memory.read would hand back 5 bytes; the hal refuses first.
        self.assertEqual(core.call("syscall", task, a.SYS_LOG, PAGE - 5, 6, 0, 0), -a.EFAULT)
        self.assertEqual(core.call("syscall", task, a.SYS_LOG, -2, 4, 0, 0), -a.EFAULT)
        self.assertEqual(logged, [b"hello"])
        # Out: CmdArgs ("a\0") into the last byte of the page, and into the last two.
        self.assertEqual(core.call("syscall", task, a.SYS_ARGS_GET, PAGE - 1, 2, 0, 0), -a.EFAULT)
        self.assertEqual(core.call("syscall", task, a.SYS_ARGS_GET, PAGE - 2, 2, 0, 0), 2)
        self.assertEqual(bytes(mem.read(store, PAGE - 5, PAGE)), b"hela\0")

    def test_a_call_into_the_core_from_a_hal_call_is_refused(self):
        a = self.abi
        inner = []

        def configure(pin, direction, initial):
            try:
                core.call("core_version")
            except CoreReentered as err:
                inner.append(str(err))
                raise
            return 0
        core = self.core(gpio_configure=configure)
        task = self.started(core)
        with self.assertRaises(CoreReentered):
            core.call("syscall", task, a.SYS_GPIO_OPEN_OUTPUT, 3, 1, 0, 0)
        self.assertEqual(inner, ["core_version called while syscall runs (from inside a hal call): the core is not re-entrant"])

    def test_the_hal_gets_enum_cases_as_the_abi_numbers(self):
        a = self.abi
        seen = []
        core = self.core(gpio_configure=lambda pin, direction, initial: seen.append((pin, direction, initial)) or 0)
        task = self.started(core)
        self.assertGreaterEqual(core.call("syscall", task, a.SYS_GPIO_OPEN_OUTPUT, 3, 1, 0, 0), 0)
        self.assertEqual(seen, [(3, a.GPIO_DIR_OUTPUT, 1)])

    def test_a_list_longer_than_the_cabi_arena_is_refused_and_the_core_goes_on(self):
        core = self.core()
        with self.assertRaises(CabiArenaFull):
            core.call("app_install", b"{" * (self.abi.CABI_ARENA_BYTES + 1))
        self.assertGreaterEqual(core.call("app_install", MANIFEST), 0)


if __name__ == "__main__":
    unittest.main()
