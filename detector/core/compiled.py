"""The detection core compiled to C by mypyc, used only when built from the sources on disk.

The core's per-row modules (`MODULES`) are plain, strictly typed Python. `build()` compiles
them with mypyc (part of mypy) into `_compiled/` beside them, with a stamp naming the
SHA-256 of exactly the sources it compiled. `enable()`, called by `detector.core` before
any of them is imported, puts that folder first on the package's path only when the stamp
matches the sources on disk and this interpreter, so an edited source is never shadowed by
an older build: the core then runs as Python, with the same outputs, slower, and `KIND`
says why. `AUDITSTREAM_CORE=python` forces Python. Outputs are identical to the bit either
way (`bench/core_parity.py`, tests/unit/test_core_compiled.py).
Built by `python -m detector.core.compile` (make does it when a core source changes).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Where `build` writes: `core/` (the modules' extensions), `lib/` (mypyc's shared runtime
#: of this group), `stamp.json`.
TARGET = HERE / "_compiled"
#: The modules compiled: the per-row work (the customer table's look-up included). The
#: engine stays Python (it batches, calls the model and is patched in tests); so do the
#: state formats and the packing (run once per checkpoint or per cold customer).
MODULES: tuple[str, ...] = (
    "calibration", "features", "geo", "habits", "hourtail", "knobs", "lowtail", "reasons",
    "rowloop", "rules", "state", "surprise", "table", "variety",
)
#: Which detection core runs (`CORES`); unset or empty: the compiled kernel when numba is
#: installed (a dependency of every install), else the mypyc build.
SWITCH = "AUDITSTREAM_CORE"
#: The values of `SWITCH`: "kernel" runs the engine's row loop in the compiled kernel
#: (detector.kernel; refused without numba), "compiled" the core's own loop as built by
#: mypyc (Python without a build of these sources), "python" the core as Python even when a
#: build exists. Every one gives the same outputs to the bit.
CORES: tuple[str, ...] = ("kernel", "compiled", "python")


class CoreUnavailable(Exception):
    """The detection core asked for cannot run here (the commands refuse it: exit 2)."""


class SwitchError(CoreUnavailable, ValueError):
    """`SWITCH` holds a value not in `CORES`."""


class KernelMissing(CoreUnavailable, RuntimeError):
    """The kernel is asked for (or is the default) but numba or the kernel cannot load."""


def switch() -> str:
    """`SWITCH`'s value, trimmed and in lower case ("" when unset); `SwitchError` naming
    the values for any other than `CORES` (a typo would otherwise run a core nobody asked
    for)."""
    value = os.environ.get(SWITCH, "").strip().lower()
    if value and value not in CORES:
        raise SwitchError(f"{SWITCH} must be one of {', '.join(CORES)} or unset (the kernel "
                         f"when numba is installed), not {value[:40]!r}")
    return value


def kernel_wanted() -> bool:
    """Whether the engine runs its row loop in the compiled kernel (detector.kernel.rows,
    docs/kernel.md; the same outputs): asked for by `AUDITSTREAM_CORE=kernel`, and the
    default when numba is installed and nothing else is asked for. `SwitchError` as `switch`."""
    value = switch()
    return value == "kernel" or (not value and importlib.util.find_spec("numba") is not None)


def sources_digest(folder: Path = HERE) -> str:
    """SHA-256 over the compiled modules' names and bytes, in `MODULES` order."""
    digest = hashlib.sha256()
    for name in MODULES:
        digest.update(name.encode() + b"\0" + (folder / f"{name}.py").read_bytes() + b"\0")
    return digest.hexdigest()


def expected(folder: Path) -> dict[str, str]:
    """The stamp a build of the sources in `folder` by this interpreter carries."""
    return {"sources": sources_digest(folder), "python": sys.implementation.cache_tag}


def enable(package_path: list[str], folder: Path = HERE, target: Path = TARGET) -> str:
    """Put the build in `target` first on `package_path` (the core package's `__path__`)
    if it was made from the sources in `folder` by this interpreter; the core's kind, in
    words ("compiled (mypyc)" or "python (why)")."""
    if os.environ.get(SWITCH, "").strip().lower() == "python":  # read on import: no refusal
        return f"python ({SWITCH}=python)"
    try:
        stamp = json.loads((target / "stamp.json").read_text())
    except (OSError, ValueError):
        return "python (not compiled: `make core` or `python -m detector.core.compile` builds it)"
    if "failed" in stamp:
        return f"python (compiling failed: {stamp['failed']})"
    if stamp != expected(folder):
        return "python (the compiled core is older than its sources: run `make core`)"
    package_path.insert(0, str(target / "core"))
    if str(target / "lib") not in sys.path:
        sys.path.append(str(target / "lib"))
    return "compiled (mypyc)"
