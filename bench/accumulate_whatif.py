"""What if repeated tail events accumulated? An estimate, outside the core, of a proposed term.

    .venv/bin/python bench/accumulate_whatif.py unseen.csv [--changes sidecar.csv]

The terms are calibrated: on a customer's own habits a term exceeds s on about e^-s of
the rows. So among a customer's last n events (within `WINDOW_S`, at most `LAST`), the
count k that exceeded s on term j is about Binomial(n, e^-s), and a persistent attack made
of rows each only mildly surprising (structuring, slow card testing, a mule's stream of
new networks) shows as a count far in that binomial's tail. For each row that itself
exceeds s on j, the proposed term is -log P(Binomial(n, e^-s) >= k), less ln(number of
(j, s) tested) (Bonferroni), at most the cap; its excess over the floor is added to the
row's combined surprise (recovered from `score`: S = half x score / (1 - score)), and the
hybrid flag of bench/quality.py is taken again at the same budget.

An estimate only: the core does not see the term (its quarantine and recalibration act as
today), and the counts use the recalibrated terms the engine recorded, in arrival order,
each row's own and its customer's earlier rows only (no look-ahead). Labels are read after.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict, deque
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import _read_changes, change_groups, whatif_summary
from unseen_report import score_csv

from detector.core.config import CoreConfig
from shared.schemas import ScoredTransaction

LEVELS = np.array([2.0, 3.0, 4.0])
WINDOW_S = 7 * 86400.0
LAST = 32


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) >= k)."""
    return sum(math.comb(n, i) * p**i * (1.0 - p) ** (n - i) for i in range(k, n + 1))


def accumulated(rows: Sequence[ScoredTransaction], terms: np.ndarray, cap: float
                ) -> np.ndarray:
    """Each row's proposed accumulation term (0 where no term of it is in a tail)."""
    tests = math.log(terms.shape[1] * len(LEVELS))
    p = np.exp(-LEVELS)
    past: dict[str, deque[tuple[float, np.ndarray]]] = defaultdict(deque)
    out = np.zeros(len(rows))
    for i, r in enumerate(rows):
        t = r.timestamp.timestamp()
        mine = past[r.customer_id]
        while mine and (t - mine[0][0] > WINDOW_S or len(mine) >= LAST):
            mine.popleft()
        over = terms[i][:, None] >= LEVELS[None, :]  # (terms, levels)
        mine.append((t, over))
        if over.any() and len(mine) >= 2:
            counts = np.sum([o for _, o in mine], axis=0)
            tails = [binomial_tail(int(counts[j, s]), len(mine), float(p[s]))
                     for j, s in zip(*np.nonzero(over & (counts >= 2)), strict=True)]
            if tails:
                best = -math.log(max(min(tails), 1e-300)) - tests
                out[i] = min(cap, max(0.0, best))
    return out



def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("--changes", help="the sidecar of legitimate changes, if any")
    args = parser.parse_args(argv)
    config = CoreConfig()
    got = score_csv(Path(args.csv), config)
    rows, terms, y, scores, rules, types = (got.rows, got.terms, got.y, got.scores, got.rules,
                                            got.types)
    groups = change_groups(rows, _read_changes(args.changes)) if args.changes else {}
    half = config.score_half
    total = half * scores / np.maximum(1.0 - scores, 1e-9)
    extra = np.maximum(0.0, accumulated(rows, terms, config.surprise_cap)
                       - config.surprise_floor)
    total = total + extra
    whatif = total / (total + half)
    print(f"{args.csv}: {len(rows)} rows; accumulation term above the floor on "
          f"{100 * (extra > 0)[~y].mean():.2f}% of normal rows, {100 * (extra > 0)[y].mean():.1f}% "
          "of anomalies")
    print("\n".join(whatif_summary("today", y, scores, rules, types, groups)))
    print("\n".join(whatif_summary("with accumulation", y, whatif, rules, types, groups)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
