"""The conformance run under wasmtime: host/conformance.ts's script and trace format, line for line.

The script is tests/conformance/script.json; the apps are the ones the build instrumented into
build/conformance/<app>/ (the Node host runs the very same bytes). The trace must equal
tests/conformance/trace.golden, the Node host's.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

from .abi import DEFAULT_BUILD_DIR, REPO_ROOT, Abi, load_abi
from .core import ModuleCache
from .device import AuditEntry, Device, InstallError

TRACE_HEADER = "# wasphere conformance trace v1"
SCRIPT_PATH = REPO_ROOT / "tests" / "conformance" / "script.json"
GOLDEN_PATH = REPO_ROOT / "tests" / "conformance" / "trace.golden"


def quote_bytes(data: bytes) -> str:
    out = ['"']
    for b in data:
        out.append(chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\x{b:02x}")
    out.append('"')
    return "".join(out)


def trace_line(time_ms: float, event: str, fields: dict) -> str:
    us = math.floor(time_ms * 1000)
    parts = []
    for k in sorted(fields):
        v = fields[k]
        # The Node host's text is a JS string: what it quotes is its UTF-8 (lone surrogates cannot occur).
        parts.append(f"{k}={v}" if isinstance(v, int) else f"{k}={quote_bytes(str(v).encode('utf-8'))}")
    return " ".join([str(us).zfill(9), event, *parts])


def _audit_fields(abi: Abi, a: AuditEntry) -> dict:
    return {"seq": a.seq, "kind": abi.name_of("EV_", a.kind), "task": a.task, "app": a.app, "syscall": a.syscall, "arg": a.arg, "result": a.result}


def event_line(abi: Abi, kind: str, time_ms: float, f: dict) -> Optional[str]:
    """A device event as a trace line (as host/conformance.ts's eventLine)."""
    if kind in ("gpio", "log"):
        return trace_line(time_ms, kind, f)
    if kind == "audit":
        return trace_line(time_ms, "audit", _audit_fields(abi, f["entry"]))
    return None


def run_conformance(core_wasm: bytes, *, build_dir: Path = DEFAULT_BUILD_DIR, script_path: Path = SCRIPT_PATH,
                    cache: Optional[ModuleCache] = None) -> str:
    abi = load_abi(build_dir / "abi.json")
    script = json.loads(Path(script_path).read_text())
    d = script["device"]
    device = Device(core_wasm, abi=abi, gpio_pin_count=d["gpioPinCount"], app_quota_ceiling_bytes=d["appQuotaCeilingBytes"],
                    default_app_quota_bytes=d["defaultAppQuotaBytes"], cache=cache)
    now = device.clock.now_ms
    lines = [TRACE_HEADER, trace_line(now(), "boot", {"core": device.core_version, "pins": d["gpioPinCount"], "quota_ceiling": d["appQuotaCeilingBytes"], "quota_default": d["defaultAppQuotaBytes"]})]

    def on_event(kind: str, time_ms: float, f: dict) -> None:
        line = event_line(abi, kind, time_ms, f)
        if line:
            lines.append(line)

    device.listeners.append(on_event)
    device.on_slice = lambda task, app, r, fuel: lines.append(trace_line(now(), "slice", {"task": task, "app": app, "reason": r.reason, "fuel": fuel, "value": r.value}))
    installed = []
    for rel in script["apps"]:
        prepared = build_dir / "conformance" / Path(rel).name
        manifest = (prepared / "app_manifest.json").read_bytes()
        try:
            app = device.install_instrumented(rel, manifest, lambda entry, prepared=prepared: (prepared / entry).read_bytes())
        except InstallError as err:
            lines.append(trace_line(now(), "install-refused", {"dir": rel, "error": abi.errno_name(err.code)}))
            continue
        lines.append(trace_line(now(), "install", {"dir": rel, "app": app.name, "slot": app.slot, "quota": app.quota_bytes, "module_bytes": app.instrumented_bytes}))
        installed.append(app)
    for app in installed:
        task = device.start(app)
        lines.append(trace_line(now(), "start", {"app": app.name, "task": task}))
    for inp in sorted(script["inputs"], key=lambda i: i["atMs"]):
        device.run(inp["atMs"])
        device.clock.wait_until(inp["atMs"])
        lines.append(trace_line(now(), "input", {"pin": inp["pin"], "level": inp["level"]}))
        device.gpio.drive(inp["pin"], inp["level"])
    device.run(script["untilMs"])
    for app in installed:
        f = lambda field: device.core.call("app_field", app.slot, field)
        lines.append(trace_line(now(), "app", {
            "app": app.name, "state": abi.name_of("TASK_", f(abi.APP_FIELD_STATE)), "crashes": f(abi.APP_FIELD_CRASHES), "restarts": f(abi.APP_FIELD_RESTARTS),
            "slices": f(abi.APP_FIELD_SLICES), "fuel_k": f(abi.APP_FIELD_FUEL_KILO), "mem_peak": f(abi.APP_FIELD_MEM_PEAK_BYTES),
        }))
    lines.append(trace_line(now(), "memory", device.memory_map()))
    lines.append(trace_line(now(), "end", {"audit_total": device.core.call("audit_total")}))
    return "\n".join(lines) + "\n"
