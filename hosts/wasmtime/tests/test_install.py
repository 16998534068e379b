"""Installing pre-instrumented apps: the core decides on the manifest, the host checks the module's
shape and memory maximum against the slice protocol, and a refusal frees the slot."""
import json
import unittest

import wasmtime

from wasphere_wasmtime.abi import DEFAULT_BUILD_DIR
from wasphere_wasmtime.device import Device, InstallError

CORE = (DEFAULT_BUILD_DIR / "core.wasm").read_bytes()
BLINK_DIR = DEFAULT_BUILD_DIR / "conformance" / "blink"
BLINK = (BLINK_DIR / "blink.wasm").read_bytes()


def manifest(name="probe", **fields) -> bytes:
    m = {"SchemaVersion": 1, "Name": name, "ComponentId": "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b", "EntryPoint": f"{name}.wasm",
         "CmdArgs": [], "Capabilities": {"Gpio": [8]}}
    m.update(fields)
    return json.dumps(m).encode()


class InstallTest(unittest.TestCase):
    def setUp(self):
        self.device = Device(CORE)

    def install(self, wasm: bytes, **fields):
        return self.device.install_instrumented("test", manifest(**fields), lambda entry: wasm)

    def assertRefused(self, wasm: bytes, pattern: str, **fields):
        with self.assertRaises(InstallError) as ctx:
            self.install(wasm, **fields)
        self.assertRegex(str(ctx.exception), pattern)
        # The slot was given back: the same manifest installs once a good module comes.
        self.assertEqual(self.install(BLINK).name, "probe")

    def test_instrumented_blink_installs_and_runs(self):
        app = self.install(BLINK, MemoryQuotaKiB=128)
        self.device.start(app)
        levels = []
        self.device.gpio.observers.append(lambda pin, level, source: levels.append((pin, level)))
        self.device.run(1200.0)
        self.assertEqual(levels, [(8, 0), (8, 1), (8, 0), (8, 1)])

    def test_a_raw_module_is_refused_naming_the_missing_export(self):
        raw = wasmtime.wat2wasm('(module (memory (export "memory") 1 1) (func (export "main") (result i32) (i32.const 0)))')
        self.assertRefused(raw, r"does not export __wasphere_fuel")

    def test_a_memory_maximum_above_the_quota_is_refused(self):
        # blink was instrumented for its manifest's 128 KiB: 2 pages; a 64 KiB quota is 1.
        self.assertRefused(BLINK, r"memory maximum \(2 pages\) exceeds the app's quota of 1 pages", MemoryQuotaKiB=64)

    def test_a_foreign_import_is_refused(self):
        wasm = wasmtime.wat2wasm('(module (import "env" "f" (func)) (memory (export "memory") 1 1))')
        self.assertRefused(wasm, r"imports env.f")

    def test_bytes_that_are_not_a_module_are_refused(self):
        self.assertRefused(b"\x00asm\x01\x00\x00\x00\x07\x05", r"not a valid module")

    def test_the_core_refuses_the_manifest_before_the_module_is_read(self):
        read = []
        with self.assertRaises(InstallError) as ctx:
            self.device.install_instrumented("test", manifest(Capabilities={"Gpio": [200]}), lambda e: read.append(e) or BLINK)
        self.assertEqual(self.device.abi.errno_name(ctx.exception.code), "ENODEV")
        self.assertIn("Capabilities.Gpio[0]: pin 200 does not exist on this device", str(ctx.exception))
        self.assertEqual(read, [])


if __name__ == "__main__":
    unittest.main()
