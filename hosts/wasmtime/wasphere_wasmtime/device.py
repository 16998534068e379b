"""Device: a wasphere device under wasmtime: the core, its GPIO, a clock, and pre-instrumented apps.

Mechanism only, as host/device.ts: the core decides whether a manifest is acceptable, whether an
app fits, who runs next and for how much fuel, whether a syscall is allowed. Each app instance
lives in its own store; the device copies bytes between an app's memory and the core's (the hal's
own bounds checks, core.py) and never gives an app a view of core memory.
Apps come pre-instrumented (`wasphere instrument`): this host has no binaryen. Their shape and
memory maximum are checked at install (check_instrumented_module); their metering is trusted.
Invariants: one slice runs at a time; an app's trap ends that app's instance only; the core is
told why every slice ended; events are emitted in the same order as the Node host's, which the
conformance run checks line by line.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import wasmtime
from wasmtime import Engine, Module

from .abi import Abi, load_abi
from .core import Core, Flash, Hal, ModuleCache, compile_module
from .component import ComponentCore, compile_component, is_component
from .runner import AppRunner, SliceResult

STOP = {"yielded": "STOP_YIELDED", "blocked": "STOP_BLOCKED", "out_of_fuel": "STOP_OUT_OF_FUEL", "exited": "STOP_EXITED", "trapped": "STOP_TRAPPED"}
PAGE_BYTES = 65536


class InstallError(Exception):
    def __init__(self, origin: str, code: int, message: str):
        super().__init__(f"{origin}: {message}")
        self.origin, self.code = origin, code


class VirtualClock:
    """Moves only when the device charges a slice's fuel or waits for a deadline (as clock.ts)."""
    virtual = True

    def __init__(self, fuel_per_ms: float, min_slice_ms: float):
        self.now = 0.0
        self.fuel_per_ms, self.min_slice_ms = fuel_per_ms, min_slice_ms

    def now_ms(self) -> float:
        return self.now

    def charge_fuel(self, fuel: int) -> None:
        self.now += max(self.min_slice_ms, fuel / self.fuel_per_ms)

    def wait_until(self, deadline_ms: float) -> None:
        if deadline_ms > self.now:
            self.now = float(deadline_ms)


class GpioBank:
    """Pins with a direction and a level, as peripherals/gpio.ts: observers hear of a level change or
    of a pin becoming an output, never of a write that leaves the level as it was."""
    ENODEV, EINVAL = -19, -22

    def __init__(self, pin_count: int, dir_input: int, dir_output: int):
        self.pin_count = pin_count
        self.levels = [0] * pin_count
        self.directions = [-1] * pin_count
        self.dir_input, self.dir_output = dir_input, dir_output
        self.observers: list[Callable[[int, int, str], None]] = []
        self.on_input_change: Optional[Callable[[int, int], None]] = None

    def _exists(self, pin: int) -> bool:
        return 0 <= pin < self.pin_count

    def configure(self, pin: int, direction: int, initial: int) -> int:
        if not self._exists(pin):
            return self.ENODEV
        if direction not in (self.dir_input, self.dir_output):
            return self.EINVAL
        becomes_output = direction == self.dir_output and self.directions[pin] != self.dir_output
        self.directions[pin] = direction
        if direction == self.dir_output:
            self._set(pin, 1 if initial else 0, "core", announce=becomes_output)
        return 0

    def write(self, pin: int, value: int) -> int:
        if not self._exists(pin):
            return self.ENODEV
        if self.directions[pin] != self.dir_output:
            return self.EINVAL
        self._set(pin, 1 if value else 0, "core")
        return 0

    def read(self, pin: int) -> int:
        return self.levels[pin] if self._exists(pin) else self.ENODEV

    def drive(self, pin: int, level: int) -> None:
        """The outside world drives an input pin (a button)."""
        if not self._exists(pin):
            raise IndexError(f"GPIO {pin} does not exist (pins 0..{self.pin_count - 1})")
        level = 1 if level else 0
        if self.levels[pin] == level:
            return
        self._set(pin, level, "external")
        if self.directions[pin] == self.dir_input and self.on_input_change:
            self.on_input_change(pin, level)

    def _set(self, pin: int, level: int, source: str, announce: bool = False) -> None:
        changed = self.levels[pin] != level
        self.levels[pin] = level
        if changed or announce:
            for o in self.observers:
                o(pin, level, source)


@dataclass
class InstalledApp:
    slot: int
    name: str
    component_id: str
    module: Module
    instrumented_bytes: int
    quota_bytes: int


@dataclass
class AuditEntry:
    seq: int
    time_ms: float
    kind: int
    task: int
    app: int
    syscall: int
    arg: int
    result: int


def check_instrumented_module(wasm: bytes, module: Module, quota_bytes: int, abi: Abi) -> None:
    """The slice protocol's shape (host/apps/protocol.ts): imports, exports, no start, memory max."""
    p = abi.protocol
    syscalls = {i["name"] for i in abi.app_imports}
    gate_functions = {p["GATE_SYSCALL_FIELD"], p["GATE_OVER_FIELD"], p["GATE_WALL_FIELD"]}
    gate_globals = {p["GATE_TASK_FIELD"], p["GATE_WALLED_FIELD"]}
    for imp in module.imports:
        fn = isinstance(imp.type, wasmtime.FuncType)
        own = imp.module == p["PREEMPT_MODULE"]
        gate = own and ((fn and imp.name in gate_functions) or (isinstance(imp.type, wasmtime.GlobalType) and imp.name in gate_globals))
        if not gate and (not fn or not ((imp.module == "applibs" and imp.name in syscalls) or (own and imp.name == p["PREEMPT_FIELD"]))):
            raise ValueError(f"the module imports {imp.module}.{imp.name}; an instrumented app imports only applibs functions, {p['PREEMPT_MODULE']}.{p['PREEMPT_FIELD']} and the syscall gates' {p['PREEMPT_MODULE']} imports")
    if _has_start_section(wasm):
        raise ValueError(f"the module has a start function; an instrumented app starts only from {p['ENTRY_EXPORT']}")
    exports = {e.name: e.type for e in module.exports}
    want = [(p["FUEL_GLOBAL"], wasmtime.GlobalType), (p["ENTRY_EXPORT"], wasmtime.FuncType)] + [(n, wasmtime.FuncType) for n in p["ASYNCIFY_EXPORTS"]]
    for name, ty in want:
        if not isinstance(exports.get(name), ty):
            raise ValueError(f"the module does not export {name} (was it instrumented? run `wasphere instrument`)")
    memories = [t for t in exports.values() if isinstance(t, wasmtime.MemoryType)]
    if len(memories) != 1:
        raise ValueError("an instrumented app has exactly one memory, exported")
    max_pages = memories[0].limits.max
    quota_pages = quota_bytes // PAGE_BYTES
    if max_pages is None or max_pages > quota_pages:
        raise ValueError(f"the module's memory maximum ({'none' if max_pages is None else f'{max_pages} pages'}) exceeds the app's quota of {quota_pages} pages (instrument it with the quota its manifest gives)")


def _has_start_section(wasm: bytes) -> bool:
    pos = 8
    while pos < len(wasm):
        section_id = wasm[pos]
        pos += 1
        size = shift = 0
        while True:
            b = wasm[pos]
            pos += 1
            size |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        if section_id == 8:
            return True
        pos += size
    return False


class Device:
    def __init__(self, core_wasm: bytes, *, abi: Optional[Abi] = None, gpio_pin_count: int = 96,
                 app_quota_ceiling_bytes: Optional[int] = None, default_app_quota_bytes: Optional[int] = None,
                 engine: Optional[Engine] = None, cache: Optional[ModuleCache] = None, flash: Optional[Flash] = None):
        self.abi = abi or load_abi()
        a = self.abi
        self.engine = engine or Engine()
        self.cache = cache
        self.clock = VirtualClock(a.virtual_clock["VIRTUAL_FUEL_PER_MS"], a.virtual_clock["VIRTUAL_MIN_SLICE_MS"])
        self.gpio = GpioBank(gpio_pin_count, a.GPIO_DIR_INPUT, a.GPIO_DIR_OUTPUT)
        self.apps: dict[int, InstalledApp] = {}
        self.live: dict[int, tuple[InstalledApp, AppRunner]] = {}
        self.audit_seen = 0
        self.listeners: list[Callable[[str, float, dict], None]] = []
        self.on_slice: Optional[Callable[[int, str, SliceResult, int], None]] = None
        self.gpio.observers.append(lambda pin, level, source: self._emit("gpio", self.clock.now_ms(), {"pin": pin, "level": level, "source": source}))
        self.gpio.on_input_change = lambda pin, level: self.core.call("gpio_notify", pin, level)
        hal = Hal(
            clock_now_ms=self.clock.now_ms,
            gpio_configure=self.gpio.configure, gpio_write=self.gpio.write, gpio_read=self.gpio.read,
            log=self._log, app_memory=self._app_memory, flash=flash,
        )
        if is_component(core_wasm):
            # The core as a component (build/core.component.wasm): the same calls, under wasmtime.component.
            self.core = ComponentCore(self.engine, compile_component(self.engine, core_wasm, cache), hal, cabi_arena_bytes=a.CABI_ARENA_BYTES)
        else:
            self.core = Core(self.engine, compile_module(self.engine, core_wasm, cache), hal, a.CABI_ARENA_BYTES)
        ceiling = a.DEFAULT_APP_QUOTA_BYTES if app_quota_ceiling_bytes is None else app_quota_ceiling_bytes
        default = a.DEFAULT_APP_QUOTA_BYTES if default_app_quota_bytes is None else default_app_quota_bytes
        rc = self.core.call("core_boot", gpio_pin_count, ceiling, default)
        if rc < 0:
            raise RuntimeError(f"core_boot failed: {a.errno_name(rc)} {self.core.last_error()}")

    # -- what the device does ----------------------------------------------------------------

    @property
    def core_version(self) -> str:
        v = self.core.call("core_version")
        return f"{v >> 16}.{(v >> 8) & 0xFF}.{v & 0xFF}"

    def install_instrumented(self, origin: str, manifest: bytes, load_entry_point: Callable[[str], bytes]) -> InstalledApp:
        a = self.abi
        slot = self._admit(origin, manifest)
        try:
            entry_point = self._app_string(slot, a.APP_STRING_ENTRY_POINT)
            quota = self.core.call("app_field", slot, a.APP_FIELD_QUOTA_BYTES)
            wasm = load_entry_point(entry_point)
            try:
                module = compile_module(self.engine, wasm, self.cache)
            except wasmtime.WasmtimeError as err:
                raise ValueError(f"{entry_point} is not a valid module: {str(err).splitlines()[0]}") from None
            check_instrumented_module(wasm, module, quota, a)
            app = InstalledApp(slot, self._app_string(slot, a.APP_STRING_NAME), self._app_string(slot, a.APP_STRING_COMPONENT_ID), module, len(wasm), quota)
        except (ValueError, OSError) as err:
            self.core.call("app_uninstall", slot)
            raise InstallError(origin, -a.EINVAL, str(err)) from None
        self.apps[slot] = app
        return app

    def start(self, app: InstalledApp) -> int:
        task = self.core.call("app_start", app.slot)
        self._drain_audit()
        if task < 0:
            raise InstallError(app.name, task, f"cannot start ({self.abi.errno_name(task)}): {self.core.last_error() or 'no detail'}")
        return task

    def step(self) -> bool:
        """One scheduling decision; False when no task is ready now (as Device.step)."""
        a, core = self.abi, self.core
        task = core.call("sched_next", self.clock.now_ms())
        if task < 0:
            self._drain_audit()
            return False
        fuel = core.call("sched_slice_fuel")
        live = self.live.get(task)
        if live is None or core.call("task_needs_instance", task):
            live = self._instantiate(task)
        app, runner = live
        result = runner.run_slice(fuel)
        if result.reason in ("exited", "trapped"):
            self.live.pop(task, None)
        fuel_used = max(0, min(result.fuel_used, 0x7FFFFFFF))
        if self.on_slice:
            self.on_slice(task, app.name, result, fuel_used)
        self.clock.charge_fuel(fuel_used)
        core.call("sched_report", task, getattr(a, STOP[result.reason]), result.value, fuel_used)
        self._drain_audit()
        return True

    def run(self, until_ms: float) -> None:
        """Runs until `until_ms` of virtual device time, or until nothing will ever be ready."""
        while self.clock.now_ms() < until_ms:
            if self.step():
                continue
            deadline = self.core.call("sched_next_deadline_ms")
            if deadline < 0:
                break
            self.clock.wait_until(min(deadline, until_ms))

    def audit(self, from_seq: int = 0) -> list[AuditEntry]:
        a, c = self.abi, self.core
        total = c.call("audit_total")
        out = []
        for seq in range(max(from_seq, total - a.AUDIT_ENTRIES), total):
            kind = c.call("audit_field", seq, a.AUDIT_KIND)
            if kind < 0:
                continue
            f = lambda which: c.call("audit_field", seq, which)
            out.append(AuditEntry(seq, c.call("audit_time_ms", seq), kind, f(a.AUDIT_TASK), f(a.AUDIT_APP), f(a.AUDIT_SYSCALL), f(a.AUDIT_ARG), f(a.AUDIT_RESULT)))
        return out

    def memory_map(self) -> dict[str, int]:
        c = self.core
        return {
            "total": c.memory_bytes(), "static": c.call("mem_static_bytes"), "tables": c.call("mem_table_bytes"),
            "heap_in_use": c.call("mem_heap_in_use_bytes"), "heap_peak": c.call("mem_heap_peak_bytes"),
            "apps_reserved": c.call("mem_app_reserved_bytes"), "free": c.call("mem_free_bytes"),
        }

    # -- internals -----------------------------------------------------------------------------

    def _emit(self, kind: str, time_ms: float, fields: dict) -> None:
        for listener in self.listeners:
            listener(kind, time_ms, fields)

    def _log(self, task: int, data: bytes) -> None:
        live = self.live.get(task)
        # Decoded as the Node host's TextDecoder does: invalid UTF-8 becomes U+FFFD, a leading BOM goes.
        text = data.decode("utf-8", "replace")
        if text.startswith("\ufeff"):
            text = text[1:]
        self._emit("log", self.clock.now_ms(), {"app": live[0].name if live else f"task {task}", "text": text})

    def _app_memory(self, task: int):
        live = self.live.get(task)
        if live is None:
            return None
        runner = live[1]
        return runner.store_like(), runner.memory

    def _admit(self, origin: str, manifest: bytes) -> int:
        a = self.abi
        if len(manifest) > a.MANIFEST_MAX_BYTES:
            raise InstallError(origin, -a.EINVAL, f"app_manifest.json is {len(manifest)} bytes; the limit is {a.MANIFEST_MAX_BYTES}")
        slot = self.core.call("app_install", manifest)
        self._drain_audit()
        if slot < 0:
            raise InstallError(origin, slot, f"app_manifest.json refused ({a.errno_name(slot)}): {self.core.last_error() or 'no detail'}")
        return slot

    def _app_string(self, slot: int, which: int) -> str:
        text = self.core.call("app_string", slot, which)
        return text.decode("utf-8", "replace") if isinstance(text, bytes) else ""

    def _drain_audit(self) -> None:
        total = self.core.call("audit_total")
        if total == self.audit_seen:
            return
        for entry in self.audit(self.audit_seen):
            self._emit("audit", entry.time_ms, {"entry": entry})
        self.audit_seen = total

    def _instantiate(self, task: int) -> tuple[InstalledApp, AppRunner]:
        slot = self.core.call("task_app", task)
        app = self.apps.get(slot)
        if app is None:
            raise RuntimeError(f"core scheduled task {task} of app slot {slot}, which the host never installed")
        live = (app, AppRunner(self.engine, app.module, self._trampolines(task), self.abi))
        self.live[task] = live
        return live

    def _trampolines(self, task: int) -> dict[str, Callable[..., int]]:
        """The applibs imports of one task: each calls the core's syscall with the caller's task."""
        a, core = self.abi, self.core
        out = {}
        for imp in a.app_imports:
            def trampoline(*args, nr=imp["nr"]):
                live = self.live.get(task)
                if live is None:
                    return -a.EPERM
                runner = live[1]
                if runner.is_rewinding():
                    return runner.finish_rewind(core.call("task_take_result", task))
                padded = (list(args) + [0, 0, 0, 0])[:4]
                rc = core.call("syscall", task, nr, *padded)
                # What the call made the host do is charged to the slice (no wall budget here:
                # the conformance run is on a virtual clock).
                runner.charge(core.call("task_take_fuel", task))
                if nr == a.SYS_EXIT:
                    runner.exit(padded[0])
                if nr == a.SYS_YIELD and rc >= 0:
                    return runner.suspend("yielded")
                if rc == a.SYSCALL_SUSPEND:
                    return runner.suspend("blocked")
                return rc
            out[imp["name"]] = trampoline
        return out
