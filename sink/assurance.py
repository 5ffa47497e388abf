"""Figures without ground truth: reviewed precision, the audit sample's miss rate, recall.

Pure functions of small inputs (reviewed cases, the sample's strata, a few totals), so a
refresh costs the same at any row count.

- **Precision** of a group of cases (a mode, a rule, `score >= t`): confirmed / (confirmed
  + dismissed) over its reviewed cases (`unclear` ones are counted, not in the ratio), with
  the 95% Wilson score interval. It estimates the group's precision when the reviewed cases
  are a random (or complete) selection of its cases. `labelled_precision` is the share of
  ALL the group's cases (reviewed or not) holding a labelled anomaly: the truth, on
  generated data.
- **Miss rate** (anomalies among non-flagged rows) from the reviewed audit sample
  (`sink.sampling`): stratified estimate `sum_h W_h x_h / n_h` over strata (day, amount
  band) with reviews, `W_h` = the stratum's share of their non-flagged rows; interval:
  Wilson on the effective sample size `n_eff = 1 / sum_h W_h^2 / n_h` (Kish), which is the
  plain Wilson interval when the sample is proportional.
- **Implied recall** = T / (T + M): T = flagged rows x the reviewed cases' share of
  confirmed transactions, M = non-flagged rows x miss rate; its interval combines the
  bounds (T low with M high, and the reverse), so it is at least 95%.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: The two-sided 95% normal quantile.
Z95 = 1.959963984540054


def wilson(k: float, n: float, z: float = Z95) -> tuple[float, float, float] | None:
    """(k/n, low, high): the Wilson score interval for k successes in n trials; None if n=0."""
    if n <= 0:
        return None
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # At p = 0 (or 1) the bound is exactly 0 (1); the float sum would leave ~1e-17.
    low = 0.0 if p <= 0.0 else max(0.0, centre - half)
    high = 1.0 if p >= 1.0 else min(1.0, centre + half)
    return p, low, high


@dataclass(frozen=True)
class Stratum:
    population: int  # non-flagged rows of the stratum
    reviewed: int  # reviewed sample rows with a decisive outcome
    confirmed: int  # of which anomalies


def miss_rate(strata: Iterable[Stratum]) -> tuple[float, float, float, float] | None:
    """(estimate, low, high, effective n) over the strata with reviews; None without any."""
    used = [s for s in strata if s.reviewed > 0 and s.population > 0]
    total = sum(s.population for s in used)
    if not used or total == 0:
        return None
    weights = [s.population / total for s in used]
    p = sum(w * s.confirmed / s.reviewed for w, s in zip(weights, used, strict=True))
    n_eff = 1.0 / sum(w * w / s.reviewed for w, s in zip(weights, used, strict=True))
    interval = wilson(p * n_eff, n_eff)
    assert interval is not None
    return p, interval[1], interval[2], n_eff


def implied_recall(flagged: int, precision: tuple[float, float, float] | None,
                   non_flagged: int, missed: tuple[float, float, float] | None
                   ) -> tuple[float, float, float] | None:
    """(recall, low, high) from the flagged rows' precision and the miss rate (each
    (estimate, low, high)); None also when the estimate is 0/0 (no confirmed case, no miss:
    no anomaly estimated at all; it was 1.0, a recall nothing measured)."""
    if precision is None or missed is None:
        return None
    if flagged * precision[0] + non_flagged * missed[0] <= 0:
        return None

    def recall(p: float, m: float) -> float:
        t, miss = flagged * p, non_flagged * m
        return t / (t + miss) if t + miss > 0 else 1.0

    return (recall(precision[0], missed[0]), recall(precision[1], missed[2]),
            recall(precision[2], missed[1]))


@dataclass
class Tally:
    """One group's counts: outcomes of its reviewed cases, labels of all its cases."""

    confirmed: int = 0
    dismissed: int = 0
    unclear: int = 0
    labelled: int = 0
    anomalous: int = 0

    @property
    def reviewed(self) -> int:
        return self.confirmed + self.dismissed + self.unclear

    def add_outcome(self, outcome: str) -> None:
        if outcome == "confirmed":
            self.confirmed += 1
        elif outcome == "dismissed":
            self.dismissed += 1
        elif outcome == "unclear":
            self.unclear += 1

    def precision(self) -> tuple[float, float, float] | None:
        return wilson(self.confirmed, self.confirmed + self.dismissed)

    def labelled_precision(self) -> float | None:
        return self.anomalous / self.labelled if self.labelled else None


def groups(score_bin: int, model_bin: int, ml: bool, rule: bool, rules: Sequence[str]
           ) -> list[tuple[str, str, int | None]]:
    """The (section, name, bin) groups one case belongs to: its modes, its rules, and its
    score and model_score bins (section `bin`; a threshold's group is every bin above it,
    summed by the caller, so the cost does not grow with the grid)."""
    out: list[tuple[str, str, int | None]] = [("mode", "hybrid", None)]
    if rule:
        out.append(("mode", "rules", None))
    if ml:
        out.append(("mode", "model", None))
    out += [("rule", r, None) for r in rules]
    out += [("bin", "combined", score_bin), ("bin", "ml", model_bin)]
    return out
