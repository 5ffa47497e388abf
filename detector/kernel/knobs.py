"""The core's per-row settings (`detector.core.knobs.Knobs`) as one tuple numba takes as an
argument: every field `Knobs` carries and derives, under the same names (a tuple of
numbers as an array), and the few values the kernel derives once more."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from detector.core.knobs import FIELDS, Knobs

#: `Knobs`' derived fields.
DERIVED = ("night_hours", "night_mask", "rate_horizon_s", "days_s")
#: The kernel's own: how far back and how many recent events the clock keeps
#: (`habits._learn_clock`'s `max(burst_window_s, duplicate_window_s)` and
#: `2 * burst_min_count + 8`).
OWN = ("recent_horizon_s", "recent_keep")

KernelKnobs = namedtuple("KernelKnobs", (*FIELDS, *DERIVED, *OWN))  # type: ignore[misc]


def _value(v: Any) -> Any:
    if isinstance(v, bytes):
        return np.frombuffer(v, np.uint8).copy()
    if isinstance(v, tuple):
        return np.array(v, np.float64 if any(isinstance(x, float) for x in v) else np.int64)
    return v


def kernel_knobs(k: Knobs) -> Any:
    """`k` as a `KernelKnobs`."""
    values = {name: _value(getattr(k, name)) for name in (*FIELDS, *DERIVED)}
    values["recent_horizon_s"] = max(k.burst_window_s, k.duplicate_window_s)
    values["recent_keep"] = 2 * k.burst_min_count + 8
    return KernelKnobs(**values)
