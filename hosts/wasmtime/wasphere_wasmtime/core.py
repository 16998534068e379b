"""Core: one instance of core.wasm under wasmtime, in its own store, and the host side of its `hal`.

The host is mechanism: a clock, GPIO, log output, copies to and from app memory and a flash block
device (ABI.md, core imports); the core decides everything else. `Hal` is what a device supplies.
Invariants: every pointer and length the core or an app passes is checked here before a byte
moves (wasmtime-py's Memory.read clamps like a Python slice and wraps negative starts, so it is
never trusted to refuse); while the core's store runs wasm it is reached only through the Caller a
hal call receives.
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


class Core:
    """core.wasm instantiated with `hal`; `exports` calls the core's exports on its store."""

    def __init__(self, engine: Engine, module: Module, hal: Hal):
        self.engine = engine
        self.hal = hal
        self.store = Store(engine)
        linker = Linker(engine)
        i32, f64 = ValType.i32(), ValType.f64()

        def define(name: str, params: list, results: list, fn: Callable) -> None:
            linker.define_func("hal", name, FuncType(params, results), fn, access_caller=True)

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

        def app_range(task: int, app_ptr: int, length: int):
            found = hal.app_memory(task) if hal.app_memory else None
            if found is None:
                return None
            app_store, mem = found
            r = checked_range(mem.data_len(app_store), app_ptr, length)
            return None if r is None else (app_store, mem, r)

        def app_copy_in(caller, task, app_ptr, length, core_ptr):
            found = app_range(task, app_ptr, length)
            if found is None:
                return EFAULT
            app_store, mem, (start, stop) = found
            core_write(caller, core_ptr, bytes(mem.read(app_store, start, stop)))
            return 0

        def app_copy_out(caller, task, core_ptr, app_ptr, length):
            found = app_range(task, app_ptr, length)
            if found is None:
                return EFAULT
            app_store, mem, (start, _) = found
            mem.write(app_store, core_read(caller, core_ptr, length), start)
            return 0

        def app_memory_bytes(caller, task):
            found = hal.app_memory(task) if hal.app_memory else None
            return 0 if found is None else found[1].data_len(found[0])

        def log_write(caller, task, ptr, length):
            if hal.log:
                hal.log(task, core_read(caller, ptr, length))

        def flash_read(caller, block, off, ptr, length):
            if not hal.flash:
                return ENODEV
            data = hal.flash.read(block & U32, off & U32, length & U32)
            if data is None:
                return EINVAL
            core_write(caller, ptr, data)
            return 0

        def flash_prog(caller, block, off, ptr, length):
            return hal.flash.prog(block & U32, off & U32, core_read(caller, ptr, length)) if hal.flash else ENODEV

        def panic(caller, msg_ptr, file_ptr, line, column):
            raise CorePanic(f"core panic: {self._as_string(caller, msg_ptr)} at {self._as_string(caller, file_ptr)}:{line}:{column}")

        define("clock_now_ms", [], [f64], lambda c: float(hal.clock_now_ms()))
        define("gpio_configure", [i32, i32, i32], [i32], lambda c, p, d, v: hal.gpio_configure(p, d, v) if hal.gpio_configure else ENODEV)
        define("gpio_write", [i32, i32], [i32], lambda c, p, v: hal.gpio_write(p, v) if hal.gpio_write else ENODEV)
        define("gpio_read", [i32], [i32], lambda c, p: hal.gpio_read(p) if hal.gpio_read else ENODEV)
        define("log_write", [i32, i32, i32], [], log_write)
        define("app_copy_in", [i32, i32, i32, i32], [i32], app_copy_in)
        define("app_copy_out", [i32, i32, i32, i32], [i32], app_copy_out)
        define("app_memory_bytes", [i32], [i32], app_memory_bytes)
        define("flash_read", [i32, i32, i32, i32], [i32], flash_read)
        define("flash_prog", [i32, i32, i32, i32], [i32], flash_prog)
        define("flash_erase", [i32], [i32], lambda c, b: hal.flash.erase(b & U32) if hal.flash else ENODEV)
        define("flash_sync", [], [i32], lambda c: 0)
        define("panic", [i32, i32, i32, i32], [], panic)
        self.instance = linker.instantiate(self.store, module)
        raw = self.instance.exports(self.store)
        self.memory: wasmtime.Memory = raw["memory"]
        self._exports = raw

    def call(self, name: str, *args):
        """Calls the core export `name` (outside any hal call)."""
        return self._exports[name](self.store, *args)

    def __getattr__(self, name: str):
        fn = self._exports.get(name) if name != "_exports" else None
        if fn is None:
            raise AttributeError(f"core.wasm exports no {name}")
        return lambda *args: fn(self.store, *args)

    def read(self, ptr: int, length: int) -> bytes:
        r = checked_range(self.memory.data_len(self.store), ptr, length)
        if r is None:
            raise CorePanic(f"[{ptr}, +{length}) is outside core memory")
        return bytes(self.memory.read(self.store, r[0], r[1]))

    def write_io(self, data: bytes) -> None:
        size = self.call("core_io_buffer_bytes")
        if len(data) > size:
            raise ValueError(f"{len(data)} bytes do not fit the core's {size}-byte I/O buffer")
        self.memory.write(self.store, data, self.call("core_io_buffer"))

    def read_io(self, length: int) -> bytes:
        return self.read(self.call("core_io_buffer"), length)

    def last_error(self) -> str:
        n = self.call("core_error_message_bytes")
        return self.read(self.call("core_error_message"), n).decode("utf-8", "replace") if n > 0 else ""

    @staticmethod
    def _as_string(caller, ptr: int) -> str:
        """An AssemblyScript string (UTF-16, byte length in the header) at `ptr`, for panics."""
        if not ptr:
            return ""
        mem = caller.get("memory")
        size = mem.data_len(caller)
        if not 4 <= ptr <= size:
            return f"<string at {ptr}>"
        n = int.from_bytes(mem.read(caller, ptr - 4, ptr), "little")
        if ptr + n > size:
            return f"<string at {ptr}>"
        return bytes(mem.read(caller, ptr, ptr + n)).decode("utf-16-le", "replace")
