"""Both forms of the core under wasmtime give the same answer to the same call: a script of kernel
and fs calls (errors, lists, records, option none included) run on core.wasm through core.py and on
build/core.component.wasm through component.py, each over its own flash."""
import json
import unittest

import wasmtime

from wasphere_wasmtime.abi import DEFAULT_BUILD_DIR, load_abi
from wasphere_wasmtime.component import ComponentCore, compile_component
from wasphere_wasmtime.core import Core, Flash, Hal

from .test_component import COMPONENT, MISSING, REQUIRED

O_RDWR, O_CREAT, SEEK_SET = 3, 0x0100, 0
MANIFEST = json.dumps({
    "SchemaVersion": 1, "Name": "diff", "ComponentId": "5d1c7e3a-2b4f-4c6d-8e9a-0f1b2c3d4e5f", "EntryPoint": "diff.wasm",
    "CmdArgs": ["a", "b"], "Capabilities": {"Gpio": [3]},
}).encode()


def script(core, a) -> list:
    log = []

    def call(name, *args):
        r = core.call(name, *args)
        log.append((name, args, r))
        return r
    call("core_boot", 16, 256 * 1024, 64 * 1024)
    call("app_install", b"{ not json")
    log.append(("last_error", core.last_error()))
    slot = call("app_install", MANIFEST)
    for field in range(a.APP_FIELD_MEM_PEAK_BYTES + 1):
        call("app_field", slot, field)
    for which in (a.APP_STRING_NAME, a.APP_STRING_COMPONENT_ID, a.APP_STRING_ENTRY_POINT, a.APP_STRING_CMD_ARGS):
        call("app_string", slot, which)
    call("app_string", 7, a.APP_STRING_NAME)
    task = call("app_start", slot)
    call("sched_next", 0.0)
    call("syscall", task, a.SYS_GPIO_OPEN_OUTPUT, 3, 1, 0, 0)
    call("syscall", task, a.SYS_GPIO_OPEN_OUTPUT, 4, 1, 0, 0)
    call("sched_report", task, a.STOP_YIELDED, 0, 100)
    for seq in range(call("audit_total")):
        for f in range(a.AUDIT_SEQ, a.AUDIT_RESULT + 1):
            call("audit_field", seq, f)
        call("audit_time_ms", seq)
    for m in ("mem_static_bytes", "mem_heap_in_use_bytes", "mem_app_reserved_bytes", "mem_free_bytes", "mem_table_bytes", "mem_cabi_arena_bytes"):
        call(m)
    log.append(("memory_bytes", core.memory_bytes()))
    call("fs_config", 512, 64, 16, 16, 64, 16, 500, 255, 0)
    call("fs_format")
    call("fs_mount")
    call("fs_mkdir", b"/d")
    fd = call("fs_open", b"/d/f", O_CREAT | O_RDWR)
    call("fs_write", fd, b"hello, component")
    call("fs_seek", fd, 0, SEEK_SET)
    call("fs_read", fd, 5)
    call("fs_close", fd)
    call("fs_read", fd, 5)
    call("fs_setattr", b"/d/f", 7, b"attr")
    call("fs_getattr", b"/d/f", 7)
    call("fs_getattr", b"/d/f", 8)
    call("fs_listattrs", b"/d/f")
    call("fs_stat", b"/d/f")
    call("fs_stat", b"/nope")
    d = call("fs_dir_open", b"/d")
    for _ in range(4):
        call("fs_dir_read", d)
    call("fs_dir_close", d)
    call("fs_fsinfo")
    call("fs_check", 0)
    call("fs_mount_info", 0)
    call("fs_mount_info", 1)
    call("fs_rename", b"/d/f", b"/g")
    call("fs_remove", b"/d")
    call("fs_unmount")
    return log


@unittest.skipUnless(COMPONENT.exists() or REQUIRED, MISSING)
class ComponentVersusModuleTest(unittest.TestCase):
    def test_the_same_calls_get_the_same_answers(self):
        if not COMPONENT.exists():
            raise AssertionError(f"WASPHERE_REQUIRE_HOSTS is set and {MISSING}")
        a, engine = load_abi(), wasmtime.Engine()
        hal = lambda: Hal(clock_now_ms=lambda: 0.0, gpio_configure=lambda p, d, v: 0, flash=Flash(512, 64))
        module = Core(engine, wasmtime.Module(engine, (DEFAULT_BUILD_DIR / "core.wasm").read_bytes()), hal(), a.CABI_ARENA_BYTES)
        component = ComponentCore(engine, compile_component(engine, COMPONENT.read_bytes()), hal(), cabi_arena_bytes=a.CABI_ARENA_BYTES)
        via_module, via_component = script(module, a), script(component, a)
        self.assertEqual(via_component, via_module)
        results = [e[2] for e in via_module if len(e) == 3]
        self.assertIn(b"hello", results)
        self.assertIn(None, results, "option none at the end of a directory")
        for errno in (a.ENODATA, a.ENOENT, a.EBADF):
            self.assertIn(-errno, results)
        self.assertTrue(any(isinstance(r, dict) and "kind" in r for r in results), "a record")


if __name__ == "__main__":
    unittest.main()
