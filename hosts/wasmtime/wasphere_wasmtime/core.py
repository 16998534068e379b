"""Core: one instance of core.wasm under wasmtime, in its own store, and the host side of its `hal`.

The host is mechanism: a clock, GPIO, log output, copies to and from app memory and a flash block
device (ABI.md, core imports; wit/wasphere.wit's `hal`, imported from module
wasphere:core/hal@0.1.0); the core decides everything else. `Hal` is what a device supplies.
Lists cross as the canonical ABI lowers them: a list the core passes is (ptr, len) in its memory;
a list a hal call returns goes into memory the core's cabi_realloc hands out, described in the
return area the core passes; the host never writes core memory anywhere else.
Invariants: every pointer and length the core or an app passes is checked here before a byte
moves (wasmtime-py's Memory.read clamps like a Python slice and wraps negative starts, so it is
never trusted to refuse); while the core's store runs wasm it is reached only through the Caller a
hal call receives (cabi_realloc, to lower a returned list, is the one export called from there).
Must not: make a policy decision, hand an app a view of core memory, or call a core export from
inside a hal call (the core is not re-entrant).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import wasmtime
from wasmtime import Engine, FuncType, Linker, Module, Store, ValType

ENODEV = -19
EFAULT = -14
EINVAL = -22
EIO = -5
U32 = 0xFFFFFFFF


class CorePanic(Exception):
    """A broken core invariant (the core called hal.panic, or passed a pointer outside its memory)."""


def checked_range(memory_bytes: int, ptr: int, length: int) -> Optional[tuple[int, int]]:
    """[ptr, ptr + length) as unsigned 32-bit values, or None when it leaves the memory."""
    start, n = ptr & U32, length & U32
    if start + n > memory_bytes:
        return None
    return start, start + n


class ModuleCache:
    """Compiled modules, serialized by wasmtime (`Module.serialize`) into `directory`, keyed by the
    SHA-256 of the wasm bytes and the wasmtime version, so a changed module or engine recompiles.
    `load(engine, wasm, kind=Component)` does the same for a component (component.py)."""

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0

    def load(self, engine: Engine, wasm: bytes, kind=Module):
        key = hashlib.sha256(wasm).hexdigest()[:32]
        path = self.directory / f"{key}-wasmtime-{wasmtime_version()}.cwasm"
        if path.exists():
            try:
                module = kind.deserialize(engine, path.read_bytes())
                self.hits += 1
                return module
            except wasmtime.WasmtimeError:
                path.unlink()  # written by an incompatible engine configuration: recompile
        module = kind(engine, wasm)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(module.serialize())
        tmp.replace(path)
        self.misses += 1
        return module


def wasmtime_version() -> str:
    try:
        from importlib.metadata import version
        return version("wasmtime")
    except Exception:
        return "unknown"


def compile_module(engine: Engine, wasm: bytes, cache: Optional[ModuleCache] = None) -> Module:
    return cache.load(engine, wasm) if cache else Module(engine, wasm)


def app_memory_range(hal: "Hal", task: int, app_ptr: int, length: int):
    """(store, memory, (start, stop)) of [app_ptr, +length) in the task's memory, or None when the
    task has none or the range leaves it (both forms of the core, core.py and component.py)."""
    found = hal.app_memory(task) if hal.app_memory else None
    if found is None:
        return None
    app_store, mem = found
    r = checked_range(mem.data_len(app_store), app_ptr, length)
    return None if r is None else (app_store, mem, r)


@dataclass
class Hal:
    """The host services the core imports. Anything left as None answers -ENODEV (or nothing).
    The app memory hooks receive the task and return the app's (store-like, Memory) pair or None."""
    clock_now_ms: Callable[[], float]
    gpio_configure: Optional[Callable[[int, int, int], int]] = None
    gpio_write: Optional[Callable[[int, int], int]] = None
    gpio_read: Optional[Callable[[int], int]] = None
    log: Optional[Callable[[int, bytes], None]] = None
    app_memory: Optional[Callable[[int], Optional[tuple[object, wasmtime.Memory]]]] = None
    flash: Optional["Flash"] = None


class Flash:
    """A NOR-style block device in RAM: erased bytes read 0xff, a program only clears bits."""

    def __init__(self, block_size_bytes: int, block_count: int):
        self.block_size_bytes = block_size_bytes
        self.block_count = block_count
        self.bytes = bytearray(b"\xff" * (block_size_bytes * block_count))

    def _at(self, block: int, offset: int, length: int) -> Optional[int]:
        if block >= self.block_count or offset + length > self.block_size_bytes:
            return None
        return block * self.block_size_bytes + offset

    def read(self, block: int, offset: int, length: int) -> Optional[bytes]:
        at = self._at(block, offset, length)
        return None if at is None else bytes(self.bytes[at:at + length])

    def prog(self, block: int, offset: int, data: bytes) -> int:
        at = self._at(block, offset, len(data))
        if at is None:
            return EINVAL
        for i, b in enumerate(data):
            self.bytes[at + i] &= b
        return 0

    def erase(self, block: int) -> int:
        at = self._at(block, 0, 0)
        if at is None:
            return EINVAL
        self.bytes[at:at + self.block_size_bytes] = b"\xff" * self.block_size_bytes
        return 0


#: The WIT package of the core's boundary (wit/wasphere.wit) and its hal's import module.
WIT_PACKAGE = "wasphere:core"
WIT_VERSION = "0.1.0"
HAL_MODULE = f"{WIT_PACKAGE}/hal@{WIT_VERSION}"

#: Exports whose result is not one number: how to lift it. Exactly the non-number results of
#: host/core.ts's EXPORT_SHAPES (tests/host/wasmtime-shapes.test checks both ways), so that no
#: export's return-area pointer is ever handed back as if it were a number.
RESULT_SHAPES = {
    "core_error_message": "list", "app_string": "result-list", "fs_read": "result-list", "fs_getattr": "result-list",
    "fs_listattrs": "result-list", "fs_stat": "result-stat", "fs_dir_read": "result-dir", "fs_fsinfo": "result-info",
    "fs_check": "result-fault", "fs_mount_info": "result-mount",
    "fs_store_entry": "result-list", "fs_store_read_entry_point": "result-list", "fs_store_attest": "result-list",
    "pkg_parse": "result-pkg", "ptable_parse": "result-partitions",
}

#: Shapes this host knows but does not lift (nothing it runs needs them): calling one is refused.
UNLIFTED_SHAPES = {"result-pkg": "pkg-info", "result-partitions": "list<partition-entry>"}


def lowered_export_name(name: str) -> str:
    """The core-wasm export of a WIT function given as `app_install`: wasphere:core/kernel@0.1.0#app-install."""
    iface = "fs" if name.startswith("fs_") else "kernel"
    return f"{WIT_PACKAGE}/{iface}@{WIT_VERSION}#{name.replace('_', '-')}"


class CabiArenaFull(ValueError):
    """A list longer than the core's cabi arena, or one that does not fit what is left of it."""


class Core:
    """core.wasm instantiated with `hal`, at the level of its WIT world: `call(name, *args)` takes
    bytes for a list<u8> parameter and returns bytes, a dict (a record), None (an option's none)
    or an int (a number, or a result's negative errno), lowering and lifting as the canonical ABI
    does: lists in through the core's cabi_realloc, results out of return areas."""

    def __init__(self, engine: Engine, module: Module, hal: Hal, arena_bytes: int = 8192):
        self.engine = engine
        self.hal = hal
        self.arena_bytes = arena_bytes
        self.store = Store(engine)
        linker = Linker(engine)
        i32, f64 = ValType.i32(), ValType.f64()

        def define(name: str, params: list, results: list, fn: Callable) -> None:
            linker.define_func(HAL_MODULE, name, FuncType(params, results), fn, access_caller=True)

        def core_memory(caller) -> wasmtime.Memory:
            return caller.get("memory")

        def core_read(caller, ptr: int, length: int) -> bytes:
            mem = core_memory(caller)
            r = checked_range(mem.data_len(caller), ptr, length)
            if r is None:
                raise CorePanic(f"the core passed [{ptr & U32}, +{length & U32}) outside its memory")
            return bytes(mem.read(caller, r[0], r[1]))

        def core_write(caller, ptr: int, data: bytes) -> None:
            mem = core_memory(caller)
            if checked_range(mem.data_len(caller), ptr, len(data)) is None:
                raise CorePanic(f"the core passed [{ptr & U32}, +{len(data)}) outside its memory")
            mem.write(caller, data, ptr & U32)

        def return_list(caller, ret: int, value, want: int) -> None:
            """Lowers result<list<u8>, s32> into the core's return area: the bytes into memory the
            core's cabi_realloc hands out. A list of another length than asked is lowered as -EIO."""
            if isinstance(value, (bytes, bytearray)) and len(value) != want & U32:
                value = EIO
            if not isinstance(value, (bytes, bytearray)):
                core_write(caller, ret, b"\x01\x00\x00\x00" + (value if value < 0 else EIO).to_bytes(4, "little", signed=True))
                return
            ptr = caller.get("cabi_realloc")(caller, 0, 0, 1, len(value)) & U32
            core_write(caller, ptr, bytes(value))
            core_write(caller, ret, b"\x00\x00\x00\x00" + ptr.to_bytes(4, "little") + len(value).to_bytes(4, "little"))

        app_range = lambda task, app_ptr, length: app_memory_range(hal, task, app_ptr, length)

        def app_copy_in(caller, task, app_ptr, length, ret):
            found = app_range(task, app_ptr, length)
            if found is None:
                return_list(caller, ret, EFAULT, length)
                return
            app_store, mem, (start, stop) = found
            return_list(caller, ret, bytes(mem.read(app_store, start, stop)), length)

        def app_copy_out(caller, task, app_ptr, ptr, length):
            found = app_range(task, app_ptr, length)
            if found is None:
                return EFAULT
            app_store, mem, (start, _) = found
            mem.write(app_store, core_read(caller, ptr, length), start)
            return 0

        def app_memory_bytes(caller, task):
            found = hal.app_memory(task) if hal.app_memory else None
            return 0 if found is None else found[1].data_len(found[0])

        def log_write(caller, task, ptr, length):
            if hal.log:
                hal.log(task, core_read(caller, ptr, length))

        def flash_read(caller, block, off, length, ret):
            if not hal.flash:
                return_list(caller, ret, ENODEV, length)
                return
            data = hal.flash.read(block & U32, off & U32, length & U32)
            return_list(caller, ret, EINVAL if data is None else data, length)

        def flash_prog(caller, block, off, ptr, length):
            return hal.flash.prog(block & U32, off & U32, core_read(caller, ptr, length)) if hal.flash else ENODEV

        def panic(caller, msg_ptr, msg_len, file_ptr, file_len, line, column):
            text = lambda p, n: core_read(caller, p, n).decode("utf-16-le", "replace")
            raise CorePanic(f"core panic: {text(msg_ptr, msg_len)} at {text(file_ptr, file_len)}:{line & U32}:{column & U32}")

        define("clock-now-ms", [], [f64], lambda c: float(hal.clock_now_ms()))
        define("gpio-configure", [i32, i32, i32], [i32], lambda c, p, d, v: hal.gpio_configure(p, d, v) if hal.gpio_configure else ENODEV)
        define("gpio-write", [i32, i32], [i32], lambda c, p, v: hal.gpio_write(p, v) if hal.gpio_write else ENODEV)
        define("gpio-read", [i32], [i32], lambda c, p: hal.gpio_read(p) if hal.gpio_read else ENODEV)
        define("log-write", [i32, i32, i32], [], log_write)
        define("app-copy-in", [i32, i32, i32, i32], [], app_copy_in)
        define("app-copy-out", [i32, i32, i32, i32], [i32], app_copy_out)
        define("app-memory-bytes", [i32], [i32], app_memory_bytes)
        define("flash-read", [i32, i32, i32, i32], [], flash_read)
        define("flash-prog", [i32, i32, i32, i32], [i32], flash_prog)
        define("flash-erase", [i32], [i32], lambda c, b: hal.flash.erase(b & U32) if hal.flash else ENODEV)
        define("flash-sync", [], [i32], lambda c: 0)
        # This host models no peripherals: every peripheral operation answers -ENODEV.
        define("periph-control", [i32] * 6, [i32], lambda c, *args: ENODEV)
        define("periph-read", [i32] * 8, [], lambda c, *args: return_list(c, args[7], ENODEV, args[6]))
        # This host has no security processor: a mailbox request is refused, so nothing waits on it.
        define("mailbox-post", [i32, i32], [i32], lambda c, *args: ENODEV)
        # This host has no network: a connect or listen is refused, so no socket exists.
        define("net-control", [i32] * 5, [i32], lambda c, *args: ENODEV)
        define("net-read", [i32] * 5, [], lambda c, *args: return_list(c, args[4], ENODEV, args[3]))
        define("panic", [i32, i32, i32, i32, i32, i32], [], panic)
        self.instance = linker.instantiate(self.store, module)
        raw = self.instance.exports(self.store)
        self.memory: wasmtime.Memory = raw["memory"]
        self._exports = raw

    def call(self, name: str, *args):
        """Calls the WIT function `name` (`-` spelled `_`), outside any hal call."""
        fn = self._exports.get(lowered_export_name(name))
        if fn is None:
            raise AttributeError(f"core.wasm exports no {lowered_export_name(name)}")
        shape = RESULT_SHAPES.get(name)
        if shape in UNLIFTED_SHAPES:
            raise NotImplementedError(f"{name}: the wasmtime host does not lift {UNLIFTED_SHAPES[shape]} results")
        flat = []
        for arg in args:
            if isinstance(arg, (bytes, bytearray)):
                flat += [self._lower_list(bytes(arg)), len(arg)]
            else:
                flat.append(arg)
        result = fn(self.store, *flat)
        return result if shape is None else self._lift(shape, result & U32)

    def memory_bytes(self) -> int:
        return self.memory.data_len(self.store)

    def _lower_list(self, data: bytes) -> int:
        if len(data) > self.arena_bytes:
            raise CabiArenaFull(f"a list of {len(data)} bytes is longer than the core's {self.arena_bytes}-byte cabi arena")
        try:
            ptr = self._exports["cabi_realloc"](self.store, 0, 0, 1, len(data)) & U32
        except wasmtime.Trap:
            raise CabiArenaFull(f"a list of {len(data)} bytes does not fit what is left of the core's cabi arena") from None
        if checked_range(self.memory_bytes(), ptr, len(data)) is None:
            raise CorePanic(f"cabi_realloc returned {ptr}, outside the core's memory")
        self.memory.write(self.store, data, ptr)
        return ptr

    def _u32(self, at: int) -> int:
        return int.from_bytes(self.read(at, 4), "little")

    def _list(self, at: int) -> bytes:
        return self.read(self._u32(at), self._u32(at + 4))

    def _lift(self, shape: str, ret: int):
        if shape == "list":
            return self._list(ret)
        tag = self.read(ret, 1)[0]
        if tag == 1:
            return int.from_bytes(self.read(ret + 4, 4), "little", signed=True)
        if tag != 0:
            raise CorePanic(f"the core returned a result tagged {tag}")
        at = ret + 4
        if shape == "result-list":
            return self._list(at)
        if shape == "result-stat":
            return {"kind": self.read(at, 1)[0], "size": self._u32(at + 4)}
        if shape == "result-dir":
            if self.read(at, 1)[0] == 0:
                return None
            return {"kind": self.read(at + 4, 1)[0], "size": self._u32(at + 8), "name": self._list(at + 12)}
        if shape == "result-info":
            names = ["disk_version", "block_size", "block_count", "name_max", "file_max", "attr_max"]
            return {n: self._u32(at + 4 * i) for i, n in enumerate(names)}
        if shape == "result-fault":
            return {"code": self._u32(at), "detail": [self._u32(at + 4 + 4 * i) for i in range(4)]}
        if shape == "result-mount":
            owner = int.from_bytes(self.read(at + 12, 4), "little", signed=True)
            return {"base_block": self._u32(at), "block_count": self._u32(at + 4), "mount_flags": self._u32(at + 8),
                    "owner": owner, "ram_bytes": self._u32(at + 16)}
        raise ValueError(f"no shape {shape}")

    def read(self, ptr: int, length: int) -> bytes:
        r = checked_range(self.memory.data_len(self.store), ptr, length)
        if r is None:
            raise CorePanic(f"[{ptr}, +{length}) is outside core memory")
        return bytes(self.memory.read(self.store, r[0], r[1]))

    def last_error(self) -> str:
        return self.call("core_error_message").decode("utf-8", "replace")
