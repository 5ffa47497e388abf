"""The threshold grid and score bins shared by the rollup, the cases and the assurance."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

import numpy as np

GRID: tuple[float, ...] = tuple(k / 100 for k in range(101))
N_BINS = len(GRID) + 1


def score_bin(score: float | None) -> int:
    """0 for no score (None, NaN, negative); k+1 for `k/100 <= score < (k+1)/100`."""
    if score is None or not score >= 0.0:
        return 0
    return bisect_right(GRID, score)


_EDGES = np.array(GRID, dtype=np.float64)


def score_bins(scores: Sequence[float | None]) -> np.ndarray:
    """`score_bin` of each score (int64), by column: the same float comparisons."""
    s = np.array(scores, dtype=np.float64)  # None is NaN: bin 0, as `score_bin`'s
    bins = np.searchsorted(_EDGES, s, side="right")
    bins[~(s >= 0.0)] = 0
    return bins.astype(np.int64)
