"""ComponentCore: the core as a WebAssembly component (build/core.component.wasm) under
wasmtime.component, in its own store, with the hal supplied as the component's imports.

The same WIT-level calls as the module form (core.py): `call(name, *args)` with the export's WIT
name spelled with `_`, numbers for s32/u32/f64 and for enums (the case index, which is what the
canonical ABI lowers an enum to), bytes for list<u8>; a result<T, s32> comes back as T or the
negative errno, an option's none as None, a record as a dict keyed by its field names (`_` for
`-`). wasmtime does the canonical ABI; this class maps numbers to enum cases by the component's
own types, so no table is typed in here.
Invariants: no export runs while another is on the stack (the component model forbids re-entering
a component from its imports, and wasmtime 49 does not check it: this class raises CoreReentered);
a list longer than the core's cabi arena is refused before the core is entered (a trap inside
cabi_realloc would leave the instance unusable for good); every app pointer is bounds-checked
here before a byte moves (wasmtime-py's Memory.read clamps instead of failing).
Memory: the component's 4 MiB live in its store; the host never sees them.
Must not: make a policy decision, or hand an app a view of core memory.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import wasmtime
from wasmtime import Engine, Store
from wasmtime.component import Component, EnumType, FuncType, Linker, ListType, Record

from .core import EFAULT, EINVAL, EIO, ENODEV, CabiArenaFull, CorePanic, Hal, ModuleCache, app_memory_range

#: The WIT package and version the component's interfaces are named after (wit/wasphere.wit).
WIT_PACKAGE = "wasphere:core"
WIT_VERSION = "0.1.0"
HAL_INSTANCE = f"{WIT_PACKAGE}/hal@{WIT_VERSION}"
EXPORT_INSTANCES = (f"{WIT_PACKAGE}/kernel@{WIT_VERSION}", f"{WIT_PACKAGE}/fs@{WIT_VERSION}")
#: The core's memory: 64 pages, initial = maximum (tests/host/core-build.test.ts checks core.wasm).
CORE_MEMORY_BYTES = 64 * 65536


class CoreReentered(Exception):
    """A core export was called while another was running (from inside a hal call)."""


def is_component(wasm: bytes) -> bool:
    """True for a component binary (version 0x0d, layer 1), False for a core module."""
    return wasm[:4] == b"\0asm" and wasm[4:8] == b"\x0d\x00\x01\x00"


def _func_type(item: Any) -> Any:
    return getattr(item, "ty", item)


def _plain(value: Any) -> Any:
    """A lifted WIT value as the module form gives it (core.py): a record as a dict (field names
    with `_`), a tuple as a list."""
    if isinstance(value, Record):
        return {k.replace("-", "_"): _plain(v) for k, v in value.__dict__.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


class ComponentCore:
    """build/core.component.wasm instantiated with `hal`; `call` runs the core's exports on its store."""

    def __init__(self, engine: Engine, component: Component, hal: Hal, *, cabi_arena_bytes: int):
        self.engine = engine
        self.hal = hal
        self.cabi_arena_bytes = cabi_arena_bytes
        self.store = Store(engine)
        self._running: Optional[str] = None
        ctype = component.type
        hal_types = {n: _func_type(t) for n, t in ctype.imports(engine)[HAL_INSTANCE].ty.exports(engine).items() if isinstance(_func_type(t), FuncType)}
        linker = Linker(engine)
        with linker.root() as root:
            with root.add_instance(HAL_INSTANCE) as instance:
                for name, fn in self._hal_functions().items():
                    if name in hal_types:  # panic only where the build has an assertion
                        instance.add_func(name, self._from_cases(name, hal_types[name], fn))
        self.instance = linker.instantiate(self.store, component)
        self._exports: dict[str, Callable[..., Any]] = {}
        for iface in EXPORT_INSTANCES:
            index = self.instance.get_export_index(self.store, iface)
            if index is None:
                continue  # a variant without this part (the no-fs core)
            for name, item in ctype.exports(engine)[iface].ty.exports(engine).items():
                if not isinstance(_func_type(item), FuncType):
                    continue  # the interface's types (enums, records)
                func = self.instance.get_func(self.store, self.instance.get_export_index(self.store, name, index))
                self._exports[name.replace("-", "_")] = self._lifted(name, _func_type(item), func)

    # -- the hal, as component imports -----------------------------------------------------------

    def _hal_functions(self) -> dict[str, Callable[..., Any]]:
        hal = self.hal

        app_range = lambda task, app_ptr, length: app_memory_range(hal, task, app_ptr, length)

        def app_copy_in(store, task, app_ptr, length):
            found = app_range(task, app_ptr, length)
            if found is None:
                return EFAULT
            app_store, mem, (start, stop) = found
            return bytes(mem.read(app_store, start, stop))

        def app_copy_out(store, task, app_ptr, data):
            found = app_range(task, app_ptr, len(data))
            if found is None:
                return EFAULT
            app_store, mem, (start, _) = found
            mem.write(app_store, data, start)
            return 0

        def app_memory_bytes(store, task):
            found = hal.app_memory(task) if hal.app_memory else None
            return 0 if found is None else found[1].data_len(found[0])

        def log_write(store, task, line):
            if hal.log:
                hal.log(task, line)

        def flash_read(store, block, offset, length):
            if not hal.flash:
                return ENODEV
            data = hal.flash.read(block, offset, length)
            return EINVAL if data is None else (data if len(data) == length else EIO)

        def panic(store, message_utf16, file_utf16, line, column):
            text = lambda b: b.decode("utf-16-le", "replace")
            raise CorePanic(f"core panic: {text(message_utf16)} at {text(file_utf16)}:{line}:{column}")

        return {
            "clock-now-ms": lambda store: float(hal.clock_now_ms()),
            "gpio-configure": lambda store, p, d, v: hal.gpio_configure(p, d, v) if hal.gpio_configure else ENODEV,
            "gpio-write": lambda store, p, v: hal.gpio_write(p, v) if hal.gpio_write else ENODEV,
            "gpio-read": lambda store, p: hal.gpio_read(p) if hal.gpio_read else ENODEV,
            "log-write": log_write,
            "app-copy-in": app_copy_in,
            "app-copy-out": app_copy_out,
            "app-memory-bytes": app_memory_bytes,
            "flash-read": flash_read,
            "flash-prog": lambda store, b, o, data: hal.flash.prog(b, o, data) if hal.flash else ENODEV,
            "flash-erase": lambda store, b: hal.flash.erase(b) if hal.flash else ENODEV,
            "flash-sync": lambda store: 0,
            # This host models no peripherals: every peripheral operation answers -ENODEV.
            "periph-control": lambda store, *args: ENODEV,
            "periph-read": lambda store, *args: ENODEV,
            # This host has no security processor: a mailbox request is refused, so nothing waits on it.
            "mailbox-post": lambda store, *args: ENODEV,
            # This host has no network: a connect or listen is refused, so no socket exists.
            "net-control": lambda store, *args: ENODEV,
            "net-read": lambda store, *args: ENODEV,
            "panic": panic,
        }

    @staticmethod
    def _from_cases(name: str, fty: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
        """`fn` with each enum argument turned from its case name into its index."""
        cases = [(i, t.names) for i, (_, t) in enumerate(fty.params) if isinstance(t, EnumType)]
        if not cases:
            return fn

        def call(store, *args):
            args = list(args)
            for i, names in cases:
                args[i] = names.index(args[i])
            return fn(store, *args)
        return call

    # -- the exports -------------------------------------------------------------------------------

    def _lifted(self, name: str, fty: Any, func: Any) -> Callable[..., Any]:
        params = fty.params
        enums = {i: t.names for i, (_, t) in enumerate(params) if isinstance(t, EnumType)}
        lists = [i for i, (_, t) in enumerate(params) if isinstance(t, ListType)]
        snake = name.replace("-", "_")

        def call(*args):
            if self._running is not None:
                raise CoreReentered(f"{snake} called while {self._running} runs (from inside a hal call): the core is not re-entrant")
            args = list(args)
            for i in lists:
                if len(args[i]) > self.cabi_arena_bytes:
                    raise CabiArenaFull(f"a list of {len(args[i])} bytes is longer than the core's {self.cabi_arena_bytes}-byte cabi arena")
                args[i] = bytes(args[i])
            for i, names in enums.items():
                if not 0 <= args[i] < len(names):
                    raise ValueError(f"{snake}: {args[i]} is no case of its enum (0..{len(names) - 1})")
                args[i] = names[args[i]]
            self._running = snake
            try:
                return _plain(func(self.store, *args))
            finally:
                self._running = None
        return call

    def call(self, name: str, *args):
        """Calls the core export `name` (its WIT name with `_`), outside any hal call."""
        fn = self._exports.get(name)
        if fn is None:
            raise AttributeError(f"the core component exports no {name}")
        return fn(*args)

    def memory_bytes(self) -> int:
        return CORE_MEMORY_BYTES

    def last_error(self) -> str:
        return self.call("core_error_message").decode("utf-8", "replace")


def compile_component(engine: Engine, wasm: bytes, cache: Optional[ModuleCache] = None) -> Component:
    """The component compiled (Cranelift), or deserialized from `cache` (`Component.serialize`)."""
    try:
        return cache.load(engine, wasm, kind=Component) if cache else Component(engine, wasm)
    except wasmtime.WasmtimeError as err:
        raise ValueError(f"not a valid component: {str(err).splitlines()[0]}") from None
