"""`python -m wasphere_wasmtime`: run a device under wasmtime.

    run APP_DIR... [--seconds N] [--press PIN:AT_MS]...   apps instrumented ahead of time
                                                            (app_manifest.json + its instrumented
                                                            EntryPoint, `wasphere instrument`)
    conformance [--check] [--cache DIR]                   the conformance trace (--check: compare
                                                            with tests/conformance/trace.golden)
    bench [--cache DIR]                                   core compile / instantiate / core_boot,
                                                            instrumented blink's compile, with and
                                                            without the Module.serialize cache; the
                                                            same for build/core.component.wasm
    fuel KERNELS.wasm [--kernel ID --n N --runs R]        one compute kernel (tests/apps/instrument/
                                                            kernels.ts: configure(id, n), main())
                                                            timed without and with wasmtime's own
                                                            fuel metering (Config.consume_fuel), in
                                                            alternating rounds; JSON on stdout
--core PATH takes core.wasm or the component (build/core.component.wasm): the device runs either.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import wasmtime

from .abi import DEFAULT_BUILD_DIR
from .conformance import GOLDEN_PATH, event_line, run_conformance
from .core import ModuleCache
from .device import Device, InstallError


def _core_bytes(path: str | None) -> bytes:
    p = Path(path) if path else DEFAULT_BUILD_DIR / "core.wasm"
    if not p.exists():
        sys.exit(f"wasphere-wasmtime: {p} not found (run `npm run build`, or pass --core)")
    return p.read_bytes()


def cmd_run(args) -> int:
    device = Device(_core_bytes(args.core), cache=ModuleCache(args.cache) if args.cache else None)
    print(f"wasphere core {device.core_version} booted under wasmtime")
    device.listeners.append(lambda kind, t, f: print(event_line(device.abi, kind, t, f)))
    apps = []
    for d in args.apps:
        p = Path(d)
        try:
            apps.append(device.install_instrumented(d, (p / "app_manifest.json").read_bytes(), lambda entry, p=p: (p / entry).read_bytes()))
        except (InstallError, OSError) as err:
            print(f"wasphere-wasmtime run: {err}", file=sys.stderr)
            return 1
    for app in apps:
        device.start(app)
    presses = sorted((int(pin), float(at)) for pin, at in (s.split(":") for s in args.press))
    for pin, at in presses:
        device.run(at)
        device.clock.wait_until(at)
        device.gpio.drive(pin, 0 if device.gpio.levels[pin] else 1)
    device.run(args.seconds * 1000)
    print(f"stopped at {device.clock.now_ms() / 1000:.3f} s of device time; memory {device.memory_map()}")
    return 0


def cmd_conformance(args) -> int:
    trace = run_conformance(_core_bytes(args.core), cache=ModuleCache(args.cache) if args.cache else None)
    if not args.check:
        sys.stdout.write(trace)
        return 0
    golden = GOLDEN_PATH.read_text()
    if trace == golden:
        print(f"conformance: identical to {GOLDEN_PATH.name} ({trace.count(chr(10))} lines)")
        return 0
    for i, (a, b) in enumerate(zip(trace.splitlines() + ["(end)"], golden.splitlines() + ["(end)"])):
        if a != b:
            print(f"conformance: differs at line {i + 1}:\n  got      {a}\n  expected {b}", file=sys.stderr)
            break
    return 1


def _timed(fn, runs: int):
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def cmd_bench(args) -> int:
    core = _core_bytes(args.core)
    blink = (DEFAULT_BUILD_DIR / "conformance" / "blink" / "blink.wasm").read_bytes()
    engine = wasmtime.Engine()
    runs = args.runs
    rows = []
    compile_ms, module = _timed(lambda: wasmtime.Module(engine, core), runs)
    rows.append(("core compile (Module)", compile_ms))
    blob = module.serialize()
    rows.append(("core deserialize (cache hit)", _timed(lambda: wasmtime.Module.deserialize(engine, blob), runs)[0]))
    rows.append(("instrumented blink compile", _timed(lambda: wasmtime.Module(engine, blink), runs)[0]))
    blink_blob = wasmtime.Module(engine, blink).serialize()
    rows.append(("instrumented blink deserialize", _timed(lambda: wasmtime.Module.deserialize(engine, blink_blob), runs)[0]))

    from .abi import load_abi
    from .core import Core, Hal
    abi = load_abi()
    rows.append(("core instantiate", _timed(lambda: Core(engine, module, Hal(clock_now_ms=lambda: 0.0)), runs)[0]))
    cores = [Core(engine, module, Hal(clock_now_ms=lambda: 0.0)) for _ in range(runs)]
    it = iter(cores)
    rows.append(("core_boot", _timed(lambda: next(it).call("core_boot", 96, abi.DEFAULT_APP_QUOTA_BYTES, abi.DEFAULT_APP_QUOTA_BYTES), runs)[0]))
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("Device boot, no cache", _timed(lambda: Device(core, abi=abi), runs)[0]))
        cache = ModuleCache(args.cache or tmp)
        Device(core, abi=abi, cache=cache)
        rows.append(("Device boot, Module.serialize cache", _timed(lambda: Device(core, abi=abi, cache=cache), runs)[0]))
    component_path = DEFAULT_BUILD_DIR / "core.component.wasm"
    if component_path.exists():
        module_core = Core(engine, module, Hal(clock_now_ms=lambda: 0.0))
        module_core.call("core_boot", 96, abi.DEFAULT_APP_QUOTA_BYTES, abi.DEFAULT_APP_QUOTA_BYTES)
        rows.append(("module: 1000 export calls", _timed(lambda: [module_core.call("audit_total") for _ in range(1000)], runs)[0]))
        rows += _bench_component(engine, component_path.read_bytes(), abi, runs, args.cache)
    print(f"wasmtime {wasmtime.__name__} host, median of {runs} runs (ms):")
    for name, ms in rows:
        print(f"  {name:40s} {ms:9.3f}")
    print(f"  {'core.wasm / serialized':40s} {len(core)} B / {len(blob)} B")
    return 0


def _bench_component(engine, component_wasm: bytes, abi, runs: int, cache_dir) -> list:
    """The same figures for the core as a component (component.py), and one export call."""
    from .component import ComponentCore, compile_component
    from .core import Hal
    rows = []
    compile_ms, component = _timed(lambda: compile_component(engine, component_wasm), max(3, runs // 4))
    rows.append(("component compile (Component)", compile_ms))
    blob = component.serialize()
    rows.append(("component deserialize (cache hit)", _timed(lambda: wasmtime.component.Component.deserialize(engine, blob), runs)[0]))
    make = lambda: ComponentCore(engine, component, Hal(clock_now_ms=lambda: 0.0), cabi_arena_bytes=abi.CABI_ARENA_BYTES)
    rows.append(("component instantiate", _timed(make, runs)[0]))
    it = iter([make() for _ in range(runs)])
    rows.append(("component core_boot", _timed(lambda: next(it).call("core_boot", 96, abi.DEFAULT_APP_QUOTA_BYTES, abi.DEFAULT_APP_QUOTA_BYTES), runs)[0]))
    core = make()
    core.call("core_boot", 96, abi.DEFAULT_APP_QUOTA_BYTES, abi.DEFAULT_APP_QUOTA_BYTES)
    rows.append(("component: 1000 export calls", _timed(lambda: [core.call("audit_total") for _ in range(1000)], runs)[0]))
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("Device boot (component), no cache", _timed(lambda: Device(component_wasm, abi=abi), max(3, runs // 4))[0]))
        cache = ModuleCache(cache_dir or tmp)
        Device(component_wasm, abi=abi, cache=cache)
        rows.append(("Device boot (component), with the cache", _timed(lambda: Device(component_wasm, abi=abi, cache=cache), runs)[0]))
    return rows


def cmd_fuel(args) -> int:
    """wasmtime's own metering on the kernel `npm run bench` instruments: the figure its fib row is
    held against. Each round times the plain store and the fueled one back to back, so a noisy
    machine slows both; the ratio is taken per round."""
    import json
    kernels = Path(args.kernels).read_bytes()
    plain_engine = wasmtime.Engine()
    fuel_config = wasmtime.Config()
    fuel_config.consume_fuel = True
    fuel_engine = wasmtime.Engine(fuel_config)
    plain_module = wasmtime.Module(plain_engine, kernels)
    fuel_module = wasmtime.Module(fuel_engine, kernels)

    def once(engine, module, fueled: bool):
        store = wasmtime.Store(engine)
        if fueled:
            store.set_fuel(2**62)
        inst = wasmtime.Instance(store, module, [])
        ex = inst.exports(store)
        ex["configure"](store, args.kernel, args.n)
        t0 = time.perf_counter()
        result = ex["main"](store)
        ms = (time.perf_counter() - t0) * 1000
        used = (2**62 - store.get_fuel()) if fueled else 0
        return ms, result, used

    once(plain_engine, plain_module, False)
    once(fuel_engine, fuel_module, True)
    plain, fueled, ratios, results, fuel_used = [], [], [], set(), 0
    for _ in range(args.runs):
        p_ms, p_res, _ = once(plain_engine, plain_module, False)
        f_ms, f_res, fuel_used = once(fuel_engine, fuel_module, True)
        plain.append(p_ms)
        fueled.append(f_ms)
        ratios.append(f_ms / p_ms)
        results.update((p_res, f_res))
    if len(results) != 1:
        sys.exit(f"wasphere-wasmtime: the kernel answered differently with fuel ({sorted(results)})")
    print(json.dumps({"wasmtime": wasmtime.__version__ if hasattr(wasmtime, "__version__") else "",
                      "plainMs": plain, "fuelMs": fueled, "ratios": ratios, "result": results.pop(), "fuelUsed": fuel_used}))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="wasphere-wasmtime", description="a wasphere device under wasmtime")
    ap.add_argument("--core", help="core.wasm, or the core as a component (default: the repository's build/core.wasm)")
    sub = ap.add_subparsers(dest="verb", required=True)
    r = sub.add_parser("run", help="boot a device with pre-instrumented apps on a virtual clock")
    r.add_argument("apps", nargs="+", metavar="APP_DIR")
    r.add_argument("--seconds", type=float, default=5.0)
    r.add_argument("--press", action="append", default=[], metavar="PIN:AT_MS", help="toggle an input pin at a device time")
    r.add_argument("--cache", help="a directory for compiled modules (Module.serialize)")
    c = sub.add_parser("conformance", help="print (or --check) the conformance trace")
    c.add_argument("--check", action="store_true")
    c.add_argument("--cache")
    b = sub.add_parser("bench", help="compile, instantiate and boot times")
    b.add_argument("--cache")
    b.add_argument("--runs", type=int, default=20)
    f = sub.add_parser("fuel", help="a compute kernel without and with wasmtime's fuel metering (JSON)")
    f.add_argument("kernels", metavar="KERNELS.wasm")
    f.add_argument("--kernel", type=int, default=1, help="the kernel id configure() takes (1: fib)")
    f.add_argument("--n", type=int, default=30)
    f.add_argument("--runs", type=int, default=9)
    args = ap.parse_args(argv)
    return {"run": cmd_run, "conformance": cmd_conformance, "bench": cmd_bench, "fuel": cmd_fuel}[args.verb](args)


if __name__ == "__main__":
    sys.exit(main())
