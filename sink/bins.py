"""The threshold grid and score bins shared by the rollup, the cases and the assurance."""

from __future__ import annotations

from bisect import bisect_right

GRID: tuple[float, ...] = tuple(k / 100 for k in range(101))
N_BINS = len(GRID) + 1


def score_bin(score: float | None) -> int:
    """0 for no score (None, NaN, negative); k+1 for `k/100 <= score < (k+1)/100`."""
    if score is None or not score >= 0.0:
        return 0
    return bisect_right(GRID, score)
