"""The one way every part pauses Python's cyclic garbage collector around a step that makes
many small objects and no reference cycles (a batch of rows, a restore, a whole `score`).

A collection in the middle of such a step only rescans the growing heap (it doubled the
sink's cost per row, made most of a 1,000,000-customer restore, and was the detector shell's
largest single cost per batch: docs/benchmarks.md); collections run again once it ends. A
step nested inside another leaves the collector as the outer one wants it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block; the collector as it was after it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
