"""What if a new category's surprise were weighed by how far it is from the customer's? An estimate.

    .venv/bin/python bench/category_whatif.py --csv unseen.csv [--changes sidecar.csv]
    .venv/bin/python bench/category_whatif.py --mix extended | --recipe reference | (default)

The `category` term says how unlikely it is that this customer takes a category new to
them at all; it says nothing of *which* new category. Across the population, categories
have price levels (the mean log amount of each, less the overall mean, earlier rows
only). A customer who buys at the cheap end and turns to the dear end moves further than
one who tries a category beside theirs. For a purchase in a category the customer never
used (their earlier rows in this stream), the distance d of that category from theirs is
ranked among the distances of the population's earlier first purchases in a category
(the last `REF` of them, every customer's, unlabelled): P(a new category at least this
far | a new category) = (those at least d + 1) / (counted + 1), a conformal p-value,
valid whatever the distances' shape when first purchases in a category are exchangeable
across customers. The joint surprise of a new category this far is the `category` term
plus -ln of that P, and the difference it makes to the term's excess over the floor is
added to the row's combined surprise (recovered from `score`); the hybrid flag of
bench/quality.py is taken again at the same budget.

Distances (`--variants`, comma separated): `mean`, |level of the category - the mean
level of the customer's purchases' categories|; `near`, to the nearest category the
customer used; `amount`, |this log amount - the customer's mean log amount| (the price
itself against what they spend, category aside); `mean_up`, `amount_up`: the same
differences signed, so that only a dearer move than the population's first purchases in
a category surprises (a cheap first try does not). No constant of any generator: the
levels and the reference are the data's own.

An estimate only: the core does not see the term (its hold and recalibration act as
today). Every row's term uses its customer's earlier rows and the population's earlier
rows only (no look-ahead); labels are read after.
"""

from __future__ import annotations

import argparse
import bisect
import math
import sys
from collections import defaultdict, deque
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import _dataset, change_groups, dataset_options, whatif_summary
from unseen_report import score_txs

from detector.core.calibration import TERMS
from detector.core.config import CoreConfig

MIN_CATEGORY = 20  # population rows of a category before its level is used
REF = 2048  # first purchases in a category kept as the reference (as the population's ring)
MODES = ("mean", "near", "amount", "mean_up", "amount_up")
WEIGHTS = ("eta", "within")


def conformal(ref: Sequence[float], d: float) -> float:
    """-ln((reference values >= d) + 1) / (len + 1)); `ref` sorted."""
    at_least = len(ref) - bisect.bisect_left(ref, d)
    return -math.log((at_least + 1) / (len(ref) + 1))


def distance_terms(customers: Sequence[str], amounts: np.ndarray, categories: Sequence[str],
                   mode: str, min_history: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Each row's distance term (0 unless its category is new to its customer, who has at
    least `min_history` earlier rows) and a mask of the rows where one was computed."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} not in {MODES}")
    logs = np.log(np.maximum(amounts, 0.01)).tolist()
    cat_sum: dict[str, float] = defaultdict(float)
    cat_n: dict[str, int] = defaultdict(int)
    all_sum = 0.0  # over the i earlier rows
    used: dict[str, dict[str, int]] = defaultdict(dict)  # customer -> category -> purchases
    own_sum: dict[str, float] = defaultdict(float)  # customer's sum of log amounts
    ring: deque[float] = deque(maxlen=REF)
    out = np.zeros(len(logs))
    done = np.zeros(len(logs), dtype=bool)
    for i, (c, x, cat) in enumerate(zip(customers, logs, categories, strict=True)):
        mine = used[c]
        n = sum(mine.values())
        if n >= max(1, min_history) and cat not in mine and cat_n[cat] >= MIN_CATEGORY:
            overall = all_sum / i

            def level(k: str, overall: float = overall) -> float | None:
                return cat_sum[k] / cat_n[k] - overall if cat_n[k] >= MIN_CATEGORY else None

            here = level(cat)
            assert here is not None
            d: float | None = None
            if mode in ("amount", "amount_up"):
                d = x - own_sum[c] / n
                d = d if mode == "amount_up" else abs(d)
            else:
                known = [(v, m) for v, m in ((level(k), m) for k, m in mine.items())
                         if v is not None]
                if known:
                    if mode in ("mean", "mean_up"):
                        d = here - sum(v * m for v, m in known) / sum(m for _, m in known)
                        d = d if mode == "mean_up" else abs(d)
                    else:
                        d = min(abs(here - v) for v, _ in known)
            if d is not None:
                if ring:
                    out[i] = conformal(sorted(ring), d)
                    done[i] = True
                ring.append(d)
        mine[cat] = mine.get(cat, 0) + 1
        own_sum[c] += x
        cat_sum[cat] += x
        cat_n[cat] += 1
        all_sum += x
    return out, done


def omega_squared(n: Sequence[int], sums: Sequence[float], squares: Sequence[float]) -> float:
    """Omega squared of values in groups given each group's count, sum and sum of squares
    (the categories seen, n >= 1): the share of their variance between the groups, less
    what chance gives k groups; clamped to [0, 1], 0 without two groups and a row to spare."""
    total_n = sum(n)
    k = len(n)
    if k < 2 or total_n <= k:
        return 0.0
    total = sum(sums)
    ss_total = sum(squares) - total * total / total_n
    ss_between = sum(s * s / m for s, m in zip(sums, n, strict=True)) - total * total / total_n
    ms_within = max(0.0, ss_total - ss_between) / (total_n - k)
    if ss_total + ms_within <= 0.0:
        return 0.0
    return min(1.0, max(0.0, (ss_between - (k - 1) * ms_within) / (ss_total + ms_within)))


def category_weight(customers: Sequence[str], amounts: np.ndarray, categories: Sequence[str],
                    kind: str) -> np.ndarray:
    """Each row's weight: omega squared of the earlier rows' log amounts (`eta`) or of their
    residuals from their customer's earlier mean log amount (`within`; a customer's first
    row has none) between categories."""
    if kind not in WEIGHTS:
        raise ValueError(f"weight {kind!r} not in {WEIGHTS}")
    logs = np.log(np.maximum(amounts, 0.01)).tolist()
    shift = logs[0] if logs else 0.0  # sums of squares about a typical value, not about 0
    cat_n: dict[str, int] = defaultdict(int)
    cat_sum: dict[str, float] = defaultdict(float)
    cat_sq: dict[str, float] = defaultdict(float)
    own_n: dict[str, int] = defaultdict(int)
    own_sum: dict[str, float] = defaultdict(float)
    out = np.zeros(len(logs))
    for i, (c, x, cat) in enumerate(zip(customers, logs, categories, strict=True)):
        out[i] = omega_squared(list(cat_n.values()), list(cat_sum.values()),
                               list(cat_sq.values()))
        if kind == "eta":
            v: float | None = x - shift
        else:
            v = x - own_sum[c] / own_n[c] if own_n[c] else None
        if v is not None:
            cat_n[cat] += 1
            cat_sum[cat] += v
            cat_sq[cat] += v * v
        own_n[c] += 1
        own_sum[c] += x
    return out


def parse_variant(variant: str) -> tuple[str, str | None]:
    """`MODE` or `MODE*WEIGHT` -> (mode, weight or None); unknown names refused."""
    mode, _, weight = variant.partition("*")
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} not in {MODES}")
    if weight and weight not in WEIGHTS:
        raise ValueError(f"weight {weight!r} not in {WEIGHTS}")
    return mode, weight or None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dataset_options(parser)
    parser.add_argument("--variants", default=",".join(MODES[:3]),
                        help=f"MODE or MODE*WEIGHT, comma separated; MODE in {MODES}, "
                             f"WEIGHT in {WEIGHTS}")
    parser.add_argument("--min-history", type=int, default=1,
                        help="earlier rows a customer needs before a new category is weighed "
                             "(5 = the core's prior_bands: beyond the short-history bands)")
    args = parser.parse_args(argv)
    title, txs, changes = _dataset(args)
    config = CoreConfig()
    got = score_txs(txs, config)
    rows, terms, y, scores = got.rows, got.terms, got.y, got.scores
    rules, types = got.rules, got.types
    groups = change_groups(rows, changes) if changes else {}
    customers = [r.customer_id for r in rows]
    amounts = np.array([float(r.amount) for r in rows])
    categories = [r.merchant_category for r in rows]
    half, floor, cap = config.score_half, config.surprise_floor, config.surprise_cap
    total = half * scores / np.maximum(1.0 - scores, 1e-9)
    cat_term = terms[:, TERMS.index("category")]
    print(f"== {title}: {len(rows)} rows, {int(y.sum())} anomalies")
    print("\n".join(whatif_summary("today", y, scores, rules, types, groups)))
    weights: dict[str, np.ndarray] = {}
    for variant in args.variants.split(","):
        mode, kind = parse_variant(variant)
        t, done = distance_terms(customers, amounts, categories, mode, args.min_history)
        if kind is not None:
            if kind not in weights:
                weights[kind] = category_weight(customers, amounts, categories, kind)
            w = weights[kind]
            t = w * t
            print(f"-- weight {kind}: at the end {w[-1]:.4f}; on the rows with a term: "
                  f"median {np.median(w[done]) if done.any() else 0.0:.4f}, "
                  f"max {w[done].max() if done.any() else 0.0:.4f}")
        normal = ~y
        calib = ", ".join(f"s={v}: {np.mean(t[normal & done] > v) / math.exp(-v):.2f}"
                          for v in (1, 2, 3, 4))
        joint = np.minimum(cat_term + t, cap)
        extra = np.maximum(0.0, joint - floor) - np.maximum(0.0, cat_term - floor)
        whatif = (total + extra) / (total + extra + half)
        kinds = sorted(set(types[y & done]))
        per_kind = ", ".join(f"{k} {np.median(t[(types == k) & done]):.2f}" for k in kinds)
        print(f"-- distance {variant}: on {100 * done[normal].mean():.2f}% of normal rows, "
              f"{100 * done[y].mean():.1f}% of anomalies; share of those normal rows above "
              f"s over e^-s: {calib}; adds on {100 * (extra > 0)[normal].mean():.2f}% of "
              f"normal rows; median term: normal {np.median(t[normal & done]):.2f}, {per_kind}")
        print("\n".join(whatif_summary(f"with {variant}", y, whatif, rules, types, groups)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
