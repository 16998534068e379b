"""AppRunner: one pre-instrumented app module in its own wasmtime store, run in slices.

The slice protocol (host/apps/protocol.ts; DESIGN.md, Embedding) as host/apps/runner.ts runs it:
a slice sets the exported fuel global, calls `__wasphere_entry` (first slice) or rewinds the saved
call stack (later slices) and ends when the app returns, exits, traps, runs out of fuel (the module
calls `wasphere.preempt`, answered by an asyncify unwind) or suspends in a blocking `applibs`
import. On rewind the suspended import is called again and returns the value delivered for it.
A module instrumented with syscall gates calls `wasphere.syscall_charged(task, nr, a0..a3)` in
place of its non-blocking imports: here that calls the task's `applibs` implementation of `nr`
(whose charges are its own, so the gate owes no fuel: the high half is 0), `wasphere.over` charges
as an import does, and there is no wall budget (`wasphere.walled` is 0).
Invariants: outside a slice the fuel is FUEL_IDLE and a preempt request only refills it; one store
per instance (an instance is freed only with its store); while the app runs, its store is reached
only through the Caller of the import being served (`caller`).
Must not: pass a host exception (anything but AppExit or a wasm Trap) off as an app failure.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import wasmtime
from wasmtime import Engine, FuncType, Linker, Module, Store

from .abi import Abi

UNWINDING, REWINDING = 1, 2


class AppExit(Exception):
    def __init__(self, code: int):
        super().__init__(f"app exited with code {code}")
        self.code = code


@dataclass
class SliceResult:
    reason: str  # "exited" | "yielded" | "blocked" | "out_of_fuel" | "trapped"
    fuel_used: int
    value: int = 0
    error: Optional[BaseException] = None


ImportImpl = Callable[..., Optional[int]]


class AppRunner:
    def __init__(self, engine: Engine, module: Module, applibs: dict[str, ImportImpl], abi: Abi):
        p = abi.protocol
        self.fuel_idle: int = p["FUEL_IDLE"]
        self.header_addr: int = p["ASYNCIFY_HEADER_ADDR"]
        self.data_addr: int = p["ASYNCIFY_DATA_ADDR"]
        self.runtime_area_bytes: int = abi.APP_RUNTIME_AREA_BYTES
        self.blocking = {i["name"] for i in abi.app_imports if i["blocking"]}
        self.store = Store(engine)
        self.phase = "fresh"  # "fresh" | "suspended" | "ended"
        self.in_slice = False
        self.slice_fuel = 0
        #: Fuel charged for host work beyond what the fuel global could hold (see charge).
        self.over_charge = 0
        self.unwind_reason = "out_of_fuel"
        self.current_import: Optional[str] = None
        self.delivered: Optional[int] = None
        #: The Caller of the applibs import running now: the app's store while it runs wasm.
        self.caller = None

        linker = Linker(engine)
        gate_globals = {p["GATE_TASK_FIELD"], p["GATE_WALLED_FIELD"]}
        for imp in module.imports:
            ty = imp.type
            if imp.module == p["PREEMPT_MODULE"] and imp.name in gate_globals and isinstance(ty, wasmtime.GlobalType):
                # The task is this runner's own (its applibs are the task's); no wall budget.
                linker.define(self.store, imp.module, imp.name, wasmtime.Global(self.store, ty, wasmtime.Val.i32(0)))
                continue
            if not isinstance(ty, FuncType):
                raise ValueError(f"the app imports {imp.module}.{imp.name}, which is not a function")
            if (imp.module, imp.name) == (p["PREEMPT_MODULE"], p["GATE_SYSCALL_FIELD"]):
                linker.define_func(imp.module, imp.name, ty, self._gate(applibs, abi), access_caller=True)
            elif (imp.module, imp.name) == (p["PREEMPT_MODULE"], p["GATE_OVER_FIELD"]):
                linker.define_func(imp.module, imp.name, ty, self._over, access_caller=True)
            elif (imp.module, imp.name) == (p["PREEMPT_MODULE"], p["GATE_WALL_FIELD"]):
                linker.define_func(imp.module, imp.name, ty, lambda: None)
            elif imp.module == "applibs":
                impl = applibs.get(imp.name)
                if impl is None:
                    raise ValueError(f"the app imports applibs.{imp.name}, which the host does not provide")
                linker.define_func("applibs", imp.name, ty, self._wrap(imp.name, impl, len(ty.params), len(ty.results)), access_caller=True)
            elif (imp.module, imp.name) == (p["PREEMPT_MODULE"], p["PREEMPT_FIELD"]):
                linker.define_func(imp.module, imp.name, ty, self._preempt, access_caller=True)
            else:
                raise ValueError(f"the app imports {imp.module}.{imp.name}; instrumented apps import only applibs and {p['PREEMPT_MODULE']}.{p['PREEMPT_FIELD']}")
        instance = linker.instantiate(self.store, module)
        ex = instance.exports(self.store)
        memories = [ex[e.name] for e in module.exports if isinstance(e.type, wasmtime.MemoryType)]
        if len(memories) != 1:
            raise ValueError("the app module exports no memory (was it instrumented?)")
        self.memory: wasmtime.Memory = memories[0]
        self.fuel: wasmtime.Global = ex[p["FUEL_GLOBAL"]]
        self.entry: wasmtime.Func = ex[p["ENTRY_EXPORT"]]
        self.start_unwind, self.stop_unwind = ex["asyncify_start_unwind"], ex["asyncify_stop_unwind"]
        self.start_rewind, self.stop_rewind = ex["asyncify_start_rewind"], ex["asyncify_stop_rewind"]
        self.get_state = ex["asyncify_get_state"]
        self.fuel.set_value(self.store, self.fuel_idle)

    @property
    def ended(self) -> bool:
        return self.phase == "ended"

    def store_like(self):
        """Where to reach the app's memory now: the running import's Caller, else the store."""
        return self.caller if self.caller is not None else self.store

    def run_slice(self, fuel: int) -> SliceResult:
        if self.phase == "ended":
            raise RuntimeError("the app's instance has ended; start a new one")
        if self.in_slice:
            raise RuntimeError("run_slice called from inside a slice")
        self.slice_fuel = max(0, min(math.floor(fuel), self.fuel_idle))
        self.over_charge = 0
        self.fuel.set_value(self.store, self.slice_fuel)
        self.in_slice = True
        try:
            if self.phase == "suspended":
                self.start_rewind(self.store, self.header_addr)
            ret = self.entry(self.store)
            if self.get_state(self.store) == UNWINDING:
                try:
                    self.stop_unwind(self.store)
                except wasmtime.Trap as err:
                    # asyncify checks the save area's bound only here, after the frames were written.
                    self.phase = "ended"
                    return SliceResult("trapped", self._used(), error=err)
                self.phase = "suspended"
                return SliceResult(self.unwind_reason, self._used())
            self.phase = "ended"
            return SliceResult("exited", self._used(), value=(ret or 0))
        except AppExit as e:
            self.phase = "ended"
            return SliceResult("exited", self._used(), value=e.code)
        except wasmtime.Trap as err:
            self.phase = "ended"
            return SliceResult("trapped", self._used(), error=err)
        except BaseException:
            self.phase = "ended"
            raise
        finally:
            self.in_slice = False
            self.current_import = None
            self.caller = None
            self.fuel.set_value(self.store, self.fuel_idle)

    # -- called from inside an applibs import -----------------------------------------------

    def suspend(self, kind: str) -> int:
        if not self.in_slice or self.current_import is None:
            raise RuntimeError("suspend() is only valid inside an applibs import, during a slice")
        if self.current_import not in self.blocking:
            raise RuntimeError(f"applibs.{self.current_import} cannot suspend its caller: it was not instrumented as a blocking import")
        self._start_unwind(self.caller, kind)
        return 0

    def is_rewinding(self) -> bool:
        return self.get_state(self.store_like()) == REWINDING

    def finish_rewind(self, value: int) -> int:
        if self.is_rewinding():
            self.stop_rewind(self.store_like())
        self.delivered = None
        return value

    def exit(self, code: int):
        raise AppExit(code)

    def charge(self, fuel: int) -> None:
        """From inside an import: charges `fuel` for host work to the running slice, exactly (it
        counts in the fuel used); past what the slice has left, the app is preempted at its next
        fuel check."""
        if not self.in_slice or fuel <= 0:
            return
        nxt = self.fuel.value(self.store_like()) - fuel
        if nxt < -1:
            self.over_charge += -1 - nxt
            nxt = -1
        self.fuel.set_value(self.store_like(), nxt)

    # ---------------------------------------------------------------------------------------

    def _used(self) -> int:
        return self.slice_fuel - self.fuel.value(self.store) + self.over_charge

    def _wrap(self, name: str, impl: ImportImpl, n_params: int, n_results: int):
        def wrapped(caller, *args):
            outer_caller, self.caller = self.caller, caller
            try:
                if self.is_rewinding() and self.delivered is not None:
                    v, self.delivered = self.delivered, None
                    self.stop_rewind(caller)
                    return v if n_results else None
                outer, self.current_import = self.current_import, name
                try:
                    r = impl(*args)
                    if self.is_rewinding():
                        self.stop_rewind(caller)
                    return (r or 0) if n_results else None
                finally:
                    self.current_import = outer
            finally:
                self.caller = outer_caller
        return wrapped

    def _gate(self, applibs: dict[str, ImportImpl], abi: Abi):
        """wasphere.syscall_charged: the applibs implementation of `nr`, its result as the low half."""
        by_nr = {i["nr"]: i for i in abi.app_imports}
        wrapped: dict[int, Callable] = {}

        def gate(caller, _task, nr, *args):
            fn = wrapped.get(nr)
            if fn is None:
                imp = by_nr.get(nr)
                impl = applibs.get(imp["name"]) if imp else None
                if imp is None or impl is None:
                    raise RuntimeError(f"a syscall gate called number {nr}, which the host does not provide")
                fn = wrapped[nr] = self._wrap(imp["name"], impl, imp["params"], 1)
            return fn(caller, *args[:by_nr[nr]["params"]]) & 0xFFFFFFFF
        return gate

    def _over(self, caller, fuel: int) -> None:
        outer, self.caller = self.caller, caller
        try:
            self.charge(fuel)
        finally:
            self.caller = outer

    def _preempt(self, caller) -> None:
        if self.get_state(caller) == REWINDING:
            self.stop_rewind(caller)
            return
        if not self.in_slice:
            self.fuel.set_value(caller, self.fuel_idle)
            return
        self._start_unwind(caller, "out_of_fuel")

    def _start_unwind(self, caller, reason: str) -> None:
        header = self.data_addr.to_bytes(4, "little") + self.runtime_area_bytes.to_bytes(4, "little")
        self.memory.write(caller, header, self.header_addr)
        self.unwind_reason = reason
        self.start_unwind(caller, self.header_addr)
