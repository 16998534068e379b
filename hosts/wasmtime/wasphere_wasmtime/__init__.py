"""wasphere under wasmtime: the unchanged core module (or the same core as a component), its hal,
and pre-instrumented apps.

    from wasphere_wasmtime import Device
    device = Device(open("build/core.wasm", "rb").read())
    device = Device(open("build/core.component.wasm", "rb").read())   # under wasmtime.component

See hosts/wasmtime/README.md and DESIGN.md (Embedding).
"""
from .abi import Abi, load_abi
from .component import ComponentCore, CoreReentered, is_component
from .core import CabiArenaFull, Core, CorePanic, Flash, Hal, ModuleCache
from .device import Device, InstallError, InstalledApp, check_instrumented_module
from .runner import AppExit, AppRunner, SliceResult

__all__ = ["Abi", "load_abi", "Core", "CorePanic", "ComponentCore", "CoreReentered", "CabiArenaFull", "is_component", "Flash", "Hal", "ModuleCache", "Device", "InstallError", "InstalledApp",
           "check_instrumented_module", "AppExit", "AppRunner", "SliceResult"]
