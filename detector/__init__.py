"""auditstream detector service."""

from __future__ import annotations

from detector.core import compiled

if compiled.kernel_wanted():  # the engine's row loop in the compiled kernel (docs/kernel.md)
    from detector.kernel.jit import NUMBA

    if NUMBA:  # else the engine says what is missing
        import detector.kernel.rows  # noqa: F401  (registers the kernel with the engine)
