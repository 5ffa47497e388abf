"""The Isolation Forest: a bounded sample of recent feature rows, fitted at data-defined points.

`FeatureSample` keeps the last `sample_size` feature rows of a partition. At partition
position `first_fit_after` and every `refit_every` rows after it, a new forest is fitted on
that sample (about 0.1 s, in the background: detector.core.refit) with seed
`(seed + version) mod 2^32`, and scores every row from `refit_delay` rows later until the
next one takes over, so a refit never touches rows scored before it. Raw isolation
scores are calibrated on the training sample as a surprise, like the habit terms:
`-ln((training rows at least as isolated + 1) / (N + 1))`; `model_score` divides it by its
largest value `ln(N + 1)`, so 1.0 means "more isolated than every training row", 0.55 the
training sample's top 1% (N = 4096), whatever the refit. A fitted forest scores through
detector.core.forestarrays (a batch in a few numpy calls, the same values to the bit)
unless that module cannot prove so on the training rows; then through scikit-learn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from detector.core.config import CoreConfig
from detector.core.forestarrays import ForestArrays, Walk, pack

if TYPE_CHECKING:  # scikit-learn (with scipy: ~1 s of CPU) loaded at the first fit only
    from sklearn.ensemble import IsolationForest

RULES_ONLY = "rules-only"


class FeatureSample:
    """A ring of the most recent feature rows (float32), oldest overwritten first."""

    def __init__(self, size: int, width: int) -> None:
        self.rows = np.zeros((size, width), dtype=np.float32)
        self.count = 0

    def add(self, row: tuple[float, ...]) -> None:
        self.rows[self.count % len(self.rows)] = row
        self.count += 1

    def extend(self, rows: list[tuple[float, ...]]) -> None:
        """Add many rows at once (same result as `add` on each, far fewer numpy calls)."""
        size = len(self.rows)
        if len(rows) > size:
            self.count += len(rows) - size
            rows = rows[-size:]
        block = np.asarray(rows, dtype=np.float32).reshape(len(rows), self.rows.shape[1])
        start = self.count % size
        head = min(len(block), size - start)
        self.rows[start : start + head] = block[:head]
        self.rows[: len(block) - head] = block[head:]
        self.count += len(block)

    def view(self) -> NDArray[np.float32]:
        """The rows held, oldest first (a copy)."""
        size = len(self.rows)
        if self.count <= size:
            return self.rows[: self.count].copy()
        start = self.count % size
        return np.concatenate((self.rows[start:], self.rows[:start]))


@dataclass(frozen=True)
class FittedModel:
    """One fitted forest with its calibration and the version it scores under."""

    version: str
    forest: IsolationForest
    ranked: NDArray[np.float64]  # the training rows' raw isolation, ascending
    number: int = 0  # the fit's number (its seed is `seed + number`)
    #: The rows it was fitted on (what a snapshot stores; None after a format-2 restore).
    training: NDArray[np.float32] | None = None
    #: The trees as arrays, scoring a batch at once (None: scikit-learn scores).
    arrays: ForestArrays | None = None

    def strength(self, matrix: NDArray[np.float64], walk: Walk | None = None
                 ) -> NDArray[np.float64]:
        """The model's surprise for each row: -ln of the (smoothed) share of training rows
        at least as isolated; on the training sample P(surprise > s) is about e^-s. `walk`:
        `ForestArrays.isolation`'s."""
        if self.arrays is not None:
            raw = self.arrays.isolation(matrix, walk)
        else:
            raw = -self.forest.score_samples(matrix)
        n = len(self.ranked)
        above = n - np.searchsorted(self.ranked, raw, side="left")
        return np.asarray(-np.log((above + 1.0) / (n + 1.0)), dtype=np.float64)

    def scores(self, strengths: NDArray[np.float64]) -> NDArray[np.float64]:
        """Each row's `model_score` in 0..1: its surprise over the largest possible value
        (as `max(0.0, min(1.0, s / ln(n + 1)))` row by row, NaN included)."""
        x = np.asarray(strengths, dtype=np.float64) / math.log(len(self.ranked) + 1.0)
        x = np.where(x < 1.0, x, 1.0)
        return np.where(x > 0.0, x, 0.0)


def fit(sample: FeatureSample, number: int, cfg: CoreConfig) -> FittedModel:
    """Fit forest number `number` (1-based) on the sample; deterministic given the seed."""
    return fit_rows(sample.view(), number, cfg)


def fit_rows(rows: NDArray[np.float32], number: int, cfg: CoreConfig) -> FittedModel:
    """Fit forest number `number` on `rows` (float32, as the sample holds them): the same
    rows and number give the same forest, which is how a snapshot restores it."""
    from sklearn.ensemble import IsolationForest

    data = rows.astype(np.float64)
    forest = IsolationForest(
        n_estimators=cfg.n_trees,
        max_samples=min(cfg.max_samples, len(data)),
        random_state=(cfg.seed + number) % 2**32,  # any seed, at any fit number
    )
    forest.fit(data)
    isolation = -forest.score_samples(data)
    arrays = pack(forest, data, isolation)
    return FittedModel(f"if-v{number}", forest, np.sort(isolation), number, rows, arrays)


def is_fit_point(position: int, cfg: CoreConfig) -> bool:
    """Whether a new model takes over at this partition position (0-based row index)."""
    if position < cfg.first_fit_after:
        return False
    return (position - cfg.first_fit_after) % cfg.refit_every == 0


def next_fit_point(position: int, cfg: CoreConfig) -> int:
    """The first fit point at or after `position`."""
    if position <= cfg.first_fit_after:
        return cfg.first_fit_after
    steps = -(-(position - cfg.first_fit_after) // cfg.refit_every)
    return cfg.first_fit_after + steps * cfg.refit_every
