"""What if a slow drift of a customer's amounts were a surprise? An estimate, outside the core.

    .venv/bin/python bench/drift_whatif.py --csv unseen.csv [--changes sidecar.csv]
    .venv/bin/python bench/drift_whatif.py --mix extended | --recipe reference | (default)

A one-sided CUSUM on the ranks of a customer's amounts: each purchase's amount (its
category's population offset removed, past rows only) is ranked among the customer's last
`ring` amounts, the rank made a standard normal z (z = Phi^-1((rank + 1/2) / (n + 1)),
distribution-free when the amounts are exchangeable), and S = max(0, S + z - k). For
i.i.d. standard normal steps less k the stationary S has P(S > s) ~ C e^(-2k s) (Wald's
exponential tail, C < 1), so k = 1/2 makes S itself a surprise with share above s about
e^-s on a customer's own habits, with no constant of any generator. The term's excess
over the floor is added to the row's combined surprise (recovered from `score`), and the
hybrid flag of bench/quality.py is taken again at the same budget.

`--variants ring:k:min_ref:reset:mode`: the term is S itself (`cusum`); or the rise
within S's current run (the rows since S was last 0, the CUSUM's estimate of where a
change began), -ln P(Mann-Kendall >= observed | exchangeable), so that a step (a raise)
should read as a level and only a continuing rise as a drift (`mk`); the later half of
the run only (`mk2`); a rise from each third of the run to the next, the smaller of the two
Mann-Whitney surprises, so that one step does not pass (`mk3`); or the smaller of S and
`mk` (`min`). `reset` > 0 re-anchors the
reference on the run's last `min_ref` amounts when S reaches it.

An estimate only: the core does not see the term (its hold and recalibration act as
today). Every row's term uses its customer's earlier rows and the population's earlier
rows only (no look-ahead); labels are read after.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict, deque
from collections.abc import Sequence
from pathlib import Path
from statistics import NormalDist

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import _dataset, change_groups, dataset_options, whatif_summary
from unseen_report import score_txs

from detector.core.config import CoreConfig

PHI_INV = NormalDist().inv_cdf
MIN_CATEGORY = 20  # population rows of a category before its offset is used


def mk_surprise(trend: int, n: int) -> float:
    """-ln P(Mann-Kendall statistic >= `trend` | n exchangeable values), normal approximation
    with continuity correction; 0 for no rise."""
    if n < 3 or trend <= 0:
        return 0.0
    z = (trend - 1) / math.sqrt(n * (n - 1) * (2 * n + 5) / 18.0)
    return -math.log(max(0.5 * math.erfc(z / math.sqrt(2.0)), 1e-300))


def rise_surprise(lo: Sequence[float], hi: Sequence[float]) -> float:
    """-ln P(Mann-Whitney U of `hi` over `lo` >= observed | exchangeable), normal
    approximation with continuity correction; 0 for no rise."""
    m, n = len(lo), len(hi)
    if not m or not n:
        return 0.0
    u = sum((b > a) + 0.5 * (b == a) for b in hi for a in lo)
    z = (u - m * n / 2.0 - 0.5) / math.sqrt(m * n * (m + n + 1) / 12.0)
    return -math.log(max(0.5 * math.erfc(z / math.sqrt(2.0)), 1e-300)) if z > 0 else 0.0


def drift(customers: Sequence[str], amounts: np.ndarray, categories: Sequence[str],
          ring: int, k: float, min_ref: int, reset: float, mode: str = "cusum") -> np.ndarray:
    """Each row's drift term (`mode`, module docstring) against the customer's last
    `ring` amounts, none before `min_ref` of them."""
    logs = np.log(np.maximum(amounts, 0.01)).tolist()
    cat_sum: dict[str, float] = defaultdict(float)
    cat_n: dict[str, int] = defaultdict(int)
    all_sum = 0.0  # over the i earlier rows
    refs: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=ring))
    run: dict[str, list[float]] = defaultdict(list)  # amounts since S was last 0
    level: dict[str, float] = defaultdict(float)
    trend: dict[str, int] = defaultdict(int)  # Mann-Kendall statistic over `run`
    out = np.zeros(len(logs))
    for i, (c, lx, cat) in enumerate(zip(customers, logs, categories, strict=True)):
        x = float(lx)
        if cat_n[cat] >= MIN_CATEGORY:
            x -= cat_sum[cat] / cat_n[cat] - all_sum / i
        ref = refs[c]
        if len(ref) >= min_ref:
            below = sum(1.0 if v < x else 0.5 if v == x else 0.0 for v in ref)
            z = PHI_INV((below + 0.5) / (len(ref) + 1))
            s = max(0.0, level[c] + z - k)
            if s == 0.0:
                run[c].clear()
                trend[c] = 0
            else:
                trend[c] += sum((x > v) - (x < v) for v in run[c])
                run[c].append(x)
            if mode == "mk2":  # the later half of the run: a step at its start is flat there
                half = run[c][len(run[c]) // 2:]
                t2 = sum((b > a) - (b < a) for j, b in enumerate(half) for a in half[:j])
                mk = mk_surprise(t2, len(half))
            elif mode == "mk3":  # a rise from each third of the run to the next: not one step
                r = run[c]
                a, b = len(r) // 3, 2 * len(r) // 3
                mk = min(rise_surprise(r[:a], r[a:b]), rise_surprise(r[a:b], r[b:]))
            else:
                mk = mk_surprise(trend[c], len(run[c]))
            out[i] = s if mode == "cusum" else min(s, mk) if mode == "min" else mk
            if reset > 0 and s >= reset:
                keep = run[c][-min_ref:]
                ref.clear()
                ref.extend(keep)
                run[c].clear()
                trend[c] = 0
                s = 0.0
            level[c] = s
        ref.append(x)
        cat_sum[cat] += lx
        cat_n[cat] += 1
        all_sum += lx
    return out



def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dataset_options(parser)
    parser.add_argument("--variants", default="32:0.5:8:0",
                        help="ring:k:min_ref:reset[:cusum|mk|min], comma separated")
    args = parser.parse_args(argv)
    title, txs, changes = _dataset(args)
    config = CoreConfig()
    got = score_txs(txs, config)
    rows, y, scores, rules, types = got.rows, got.y, got.scores, got.rules, got.types
    groups = change_groups(rows, changes) if changes else {}
    customers = [r.customer_id for r in rows]
    amounts = np.array([float(r.amount) for r in rows])
    categories = [r.merchant_category for r in rows]
    half = config.score_half
    total = half * scores / np.maximum(1.0 - scores, 1e-9)
    print(f"== {title}: {len(rows)} rows, {int(y.sum())} anomalies")
    print("\n".join(whatif_summary("today", y, scores, rules, types, groups)))
    for spec in args.variants.split(","):
        ring, k, min_ref, reset, mode = (spec + ":cusum").split(":")[:5]
        s = drift(customers, amounts, categories, int(ring), float(k), int(min_ref),
                  float(reset), mode)
        normal = ~y
        calib = ", ".join(f"s={v}: {np.mean(s[normal] > v) / math.exp(-v):.2f}"
                          for v in (1, 2, 3, 4, 6))
        extra = np.maximum(0.0, np.minimum(s, config.surprise_cap) - config.surprise_floor)
        whatif = (total + extra) / (total + extra + half)
        print(f"-- drift ring {ring} k {k} min_ref {min_ref} reset {reset} {mode}: share of normal "
              f"rows above s over e^-s: {calib}; above the floor on "
              f"{100 * (extra > 0)[normal].mean():.2f}% of normal rows, "
              f"{100 * (extra > 0)[y].mean():.1f}% of anomalies")
        print("\n".join(whatif_summary("with drift", y, whatif, rules, types, groups)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
