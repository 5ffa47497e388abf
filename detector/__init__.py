"""auditstream detector service."""

from __future__ import annotations

import os

# The engine's row loop in the compiled kernel when asked (docs/kernel.md). Only then is
# the core imported here: `python -m detector` otherwise loads it where it always did.
if "kernel" in os.environ.get("AUDITSTREAM_CORE", "").lower():
    from detector.core import compiled

    if compiled.kernel_wanted():
        from detector.kernel.jit import NUMBA

        if NUMBA:  # else the engine says what is missing
            import detector.kernel.rows  # noqa: F401  (registers the kernel with the engine)
