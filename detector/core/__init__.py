"""The detection core: pure Python and numpy, no Kafka (see docs/detection.md).

`CoreConfig` holds every knob; `PartitionEngine` scores one partition's stream. Its per-row
modules run compiled by mypyc when a build of these very sources exists
(`detector.core.compiled`; `KIND` says which, and why not).
"""

from __future__ import annotations

from typing import Any

from detector.core import compiled

#: "compiled (mypyc)", or "python (why)": set before any compiled module is imported;
#: with `AUDITSTREAM_CORE=kernel`, the kernel (numba) runs the row loop around it.
KIND = compiled.enable(__path__)
if compiled.kernel_wanted():
    KIND = f"kernel (numba), the rest {KIND}"

from detector.core.config import CoreConfig  # noqa: E402  (after the path is set)

__all__ = ["KIND", "CoreConfig", "PartitionEngine"]


def __getattr__(name: str) -> Any:
    """`PartitionEngine` on first use: the engine brings scikit-learn (~0.9 s), which a
    command that only reads the settings, or `auditstream --help`, never needs."""
    if name == "PartitionEngine":
        from detector.core.engine import PartitionEngine

        return PartitionEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
