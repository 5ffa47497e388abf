"""A row's terms into its combined surprise and score (`detector.core.surprise.fold_round`,
`combine`, `to_score`), to the bit (tests/unit/test_kernel_total.py).

One difference of type, not of value: `combine` of a row with no term above the floor is
the int 0 in the core (Python's `sum` of nothing) and 0.0 here; every use of it compares
or adds it, where the two are equal.
"""

from __future__ import annotations

from typing import Any

from detector.kernel.jit import jit


@jit
def fold_round(values: Any, extra: float, floor: float,
               cap: float) -> None:  # pragma: no cover - compiled
    """`surprise.fold_round`: a round amount's excess surprise added to amount_high
    (`values[0]`, recalibrated) from the floor up, capped."""
    if extra > 0.0:
        high = values[0]
        high = (high if high > floor else floor) + extra
        values[0] = high if high < cap else cap


@jit
def combine(values: Any, floor: float) -> float:  # pragma: no cover - compiled
    """`surprise.combine`: every term's excess over the floor, summed left to right."""
    total = 0.0
    for i in range(values.shape[0]):
        v = values[i]
        if v > floor:
            total += v - floor
    return total


@jit
def to_score(total: float, half: float) -> float:  # pragma: no cover - compiled
    """`surprise.to_score`: S / (S + score_half), 0 for S <= 0."""
    return total / (total + half) if total > 0 else 0.0
