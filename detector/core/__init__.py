"""The detection core: pure Python and numpy, no Kafka (see docs/detection.md).

`CoreConfig` holds every knob; `PartitionEngine` scores one partition's stream. Its row loop
runs in the compiled kernel (detector.kernel, numba) unless `AUDITSTREAM_CORE` asks for the
core's own; the per-row modules run compiled by mypyc when a build of these very sources
exists (`detector.core.compiled`; `KIND` says which, and why not).
"""

from __future__ import annotations

from typing import Any

from detector.core import compiled

#: "compiled (mypyc)", or "python (why)": set before any compiled module is imported;
#: prefixed when the kernel (numba) runs the row loop around it (the default).
KIND = compiled.enable(__path__)
try:
    if compiled.kernel_wanted():
        KIND = f"kernel (numba), the rest {KIND}"
except compiled.SwitchError as exc:  # refused where a command starts (exit 2), not here
    KIND = f"{KIND}; {exc}"

from detector.core.config import CoreConfig  # noqa: E402  (after the path is set)

__all__ = ["KIND", "CoreConfig", "PartitionEngine"]


def __getattr__(name: str) -> Any:
    """`PartitionEngine` on first use: the engine brings scikit-learn (~0.9 s), which a
    command that only reads the settings, or `auditstream --help`, never needs."""
    if name == "PartitionEngine":
        from detector.core.engine import PartitionEngine

        return PartitionEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
