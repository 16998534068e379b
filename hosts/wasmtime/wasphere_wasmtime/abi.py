"""The ABI's numbers, as the build writes them from assembly/abi.ts (build/abi.json).

One source of truth: nothing here is typed in by hand. `Abi` is a namespace over the JSON:
`abi.SYS_LOG`, `abi.protocol["FUEL_GLOBAL"]`, `abi.app_imports`. Name lookups (`name_of`) scan the
keys in the JSON's order, which is the alphabetical order of the JS module namespace the Node host
scans, so both hosts name a value the same way.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

#: The wasphere repository (for its build/ and tests/conformance/); WASPHERE_REPO overrides it when
#: the package is installed elsewhere than hosts/wasmtime of a checkout.
REPO_ROOT = Path(os.environ.get("WASPHERE_REPO", Path(__file__).resolve().parents[3]))
DEFAULT_BUILD_DIR = Path(os.environ.get("WASPHERE_BUILD_DIR", REPO_ROOT / "build"))


class Abi:
    def __init__(self, data: dict[str, Any]):
        self.numbers: dict[str, int] = data["abi"]
        self.app_imports: list[dict[str, Any]] = data["appImports"]
        self.protocol: dict[str, Any] = data["protocol"]
        self.virtual_clock: dict[str, float] = data["virtualClock"]

    def __getattr__(self, name: str) -> int:
        try:
            return self.numbers[name]
        except KeyError:
            raise AttributeError(f"assembly/abi.ts defines no {name}") from None

    def name_of(self, prefix: str, value: int) -> str:
        """The first constant starting with `prefix` whose value is `value`, else the number."""
        for k, v in self.numbers.items():
            if k.startswith(prefix) and v == value:
                return k
        return str(value)

    def errno_name(self, code: int) -> str:
        """`-13` -> "EACCES", as the Node host's errnoName."""
        for k, v in self.numbers.items():
            if v == -code and re.fullmatch(r"E[A-Z]+", k):
                return k
        return str(code)


def load_abi(path: Path | str | None = None) -> Abi:
    p = Path(path) if path else DEFAULT_BUILD_DIR / "abi.json"
    if not p.exists():
        raise FileNotFoundError(f"{p}: not built yet (run `npm run build` in the repository: it writes the ABI's numbers there)")
    return Abi(json.loads(p.read_text()))
