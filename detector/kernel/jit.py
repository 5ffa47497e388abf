"""numba's `njit`, with its cache on, or the plain function where numba is missing (the
modules still import: their docs, and tests that skip outside CI)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])

#: Whether numba is installed.
NUMBA = importlib.util.find_spec("numba") is not None


def jit(fn: F) -> F:
    """`fn` compiled in nopython mode, cached on disk (no `fastmath`: reassociating a float
    sum would break parity with the core, docs/kernel.md "Parity")."""
    if not NUMBA:
        return fn
    from numba import njit

    return cast(F, njit(cache=True)(fn))
