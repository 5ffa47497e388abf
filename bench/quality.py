"""Detection quality of `score`: PR-AUC, and the hybrid flag at a 2% review budget.

    .venv/bin/python bench/quality.py                      # default generator mix
    .venv/bin/python bench/quality.py --recipe reference   # the reference project's recipe
    .venv/bin/python bench/quality.py --mix extended       # four more kinds, habit changes
    .venv/bin/python bench/quality.py --csv data.csv       # any labelled historic-layout CSV

The hybrid flag at budget b: every row some rule flags, plus the rows with the highest
scores, taking the lowest threshold t such that |{score >= t} u {any rule}| <= b * N (ties
are never split). If the rules alone exceed the budget, t is +inf and the workload is
theirs. Labels are read here, after scoring, and only here. The same flag built from
`model_score` instead of `score` is reported as "model hybrid" (the model vs the rules).

With `--mix extended`, the false-alarm rate (share of normal rows the hybrid flag takes)
is given for the normal rows of each group with a legitimate change (after it starts; the
busy season: every customer's rows inside it) and for unchanged customers outside it,
with how many of the group's customers were flagged and the rate one flag per customer
would give (the floor when the first event of a change looks like an anomaly). How quickly
a change is learnt: the same rate by each customer's count of normal events since the
change began (1st, 2nd, 3rd, 4th-5th, 6th-10th, 11th-20th, later), and the first count
from which every later bin stays within 2x the unchanged customers' rate.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.core.config import CoreConfig
from detector.offline import score_transactions
from shared.schemas import ScoredTransaction, Transaction


def budget_flags(scores: np.ndarray, rules: np.ndarray, budget: float) -> tuple[np.ndarray, float]:
    """The hybrid flag at `budget` (a share of rows) and its score threshold."""
    n = len(scores)
    limit = int(budget * n)
    free = limit - int(rules.sum())
    if free <= 0:
        return rules.copy(), float("inf")
    rest = np.sort(scores[~rules])[::-1]
    k = min(free, len(rest))
    while 0 < k < len(rest) and rest[k - 1] == rest[k]:
        k -= 1
    threshold = float(rest[k - 1]) if k > 0 else float("inf")
    return rules | (scores >= threshold), threshold


@dataclass
class Quality:
    """Every figure of the benchmark."""

    rows: int
    anomalies: int
    pr_auc: float
    threshold: float
    flagged: int
    workload: float
    recall: float
    precision: float
    rules_workload: float
    per_type: dict[str, tuple[int, int, float]] = field(default_factory=dict)
    rules: dict[str, tuple[int, int]] = field(default_factory=dict)
    models: dict[str, int] = field(default_factory=dict)
    model_pr_auc: float = float("nan")
    model_hybrid: tuple[float, float, float] = (float("nan"),) * 3  # recall, precision, load
    groups: dict[str, tuple[int, float]] = field(default_factory=dict)  # normal rows, FPR
    #: per group: customers, customers flagged at least once, the FPR if each were flagged
    #: exactly once (the floor when a change's first event looks like an anomaly)
    reach: dict[str, tuple[int, int, float]] = field(default_factory=dict)
    #: per change: (rows, flagged) in each `SINCE` bin of events since the change began
    since: dict[str, list[tuple[int, int]]] = field(default_factory=dict)


#: Bins of a customer's normal events since their change began: (first, last) event counts.
SINCE = ((1, 1), (2, 2), (3, 3), (4, 5), (6, 10), (11, 20), (21, None))


def since_change(customers: Sequence[str], flags: np.ndarray) -> list[tuple[int, int]]:
    """(rows, flagged) per `SINCE` bin, counting each customer's rows in the order given
    (the 1st row of a customer is the first event of their change)."""
    seen: Counter[str] = Counter()
    bins = [[0, 0] for _ in SINCE]
    for customer, flagged in zip(customers, flags, strict=True):
        seen[customer] += 1
        k = seen[customer]
        i = next(i for i, (lo, hi) in enumerate(SINCE) if lo <= k and (hi is None or k <= hi))
        bins[i][0] += 1
        bins[i][1] += int(flagged)
    return [(rows, hit) for rows, hit in bins]


def since_label(lo: int, hi: int | None) -> str:
    """A `SINCE` bin as printed: "3", "4-5", "21+"."""
    return f"{lo}" if hi == lo else f"{lo}-{hi}" if hi else f"{lo}+"


def learnt_after(bins: Sequence[tuple[int, int]], base: float) -> str:
    """The first bin from which every bin with rows flags at most 2x `base` ("never")."""
    label = "never"
    for (lo, hi), (rows, hit) in reversed(list(zip(SINCE, bins, strict=True))):
        if rows and hit / rows > 2 * base:
            break
        label = since_label(lo, hi)
    return label


def whatif_summary(label: str, y: np.ndarray, scores: np.ndarray, rules: np.ndarray,
                   types: np.ndarray, groups: dict[str, np.ndarray]) -> list[str]:
    """A what-if script's lines for one ranking (`scores`, with the rule flags `rules`): PR-AUC,
    the hybrid's recall, precision and threshold at a 2 % budget, recall per kind, the share
    of normal rows flagged per group of customers (`groups`; all normal rows without)."""
    flags, thr = budget_flags(scores, rules, 0.02)
    lines = [f"{label}: PR-AUC {average_precision_score(y, scores):.4f}, recall at 2% "
             f"{100 * (flags & y).sum() / y.sum():.1f}%, precision "
             f"{100 * (flags & y).sum() / max(1, flags.sum()):.1f}% (threshold {thr:.4f})"]
    kinds = [f"{k} {100 * flags[types == k].mean():.1f}% ({int(flags[types == k].sum())}"
             f"/{int((types == k).sum())})" for k in sorted(set(types[y]))]
    lines.append("  per kind: " + ", ".join(kinds))
    fpr = [f"{g} {100 * flags[m & ~y].mean():.2f}%" for g, m in groups.items() if (m & ~y).any()]
    lines.append("  normal rows flagged: " + (", ".join(fpr) if fpr else
                                              f"{100 * flags[~y].mean():.2f}%"))
    return lines


def _ap(y: np.ndarray, scores: np.ndarray) -> float:
    return float(average_precision_score(y, scores)) if y.any() else float("nan")


def evaluate(rows: Sequence[ScoredTransaction], budget: float = 0.02,
             groups: dict[str, np.ndarray] | None = None) -> Quality:
    """Every figure of the benchmark for scored rows with known labels; `groups` masks
    rows (e.g. customers with a legitimate change) whose normal rows' FPR is reported."""
    y = np.array([bool(r.is_anomaly) for r in rows])
    scores = np.array([r.score if r.score is not None else 0.0 for r in rows])
    model = np.array([getattr(r, "model_score", None) or 0.0 for r in rows])
    rules = np.array([r.is_rule_flag for r in rows])
    flags, threshold = budget_flags(scores, rules, budget)
    mflags, _ = budget_flags(model, rules, budget)
    types = np.array([r.anomaly_type or "normal" for r in rows])
    tp = int((flags & y).sum())
    mtp = int((mflags & y).sum())
    q = Quality(
        rows=len(rows),
        anomalies=int(y.sum()),
        pr_auc=_ap(y, scores),
        model_pr_auc=_ap(y, model),
        model_hybrid=(mtp / max(1, int(y.sum())), mtp / max(1, int(mflags.sum())),
                      float(mflags.mean())),
        threshold=threshold,
        flagged=int(flags.sum()),
        workload=float(flags.mean()),
        recall=tp / max(1, int(y.sum())),
        precision=tp / max(1, int(flags.sum())),
        rules_workload=float(rules.mean()),
        models=dict(Counter(r.model_version for r in rows)),
    )
    for name in sorted(set(types[y])):
        mask = types == name
        hit = int((flags & mask).sum())
        q.per_type[name] = (int(mask.sum()), hit, hit / int(mask.sum()))
    for name in rows[0].rule_flags if rows else ():
        fired = np.array([r.rule_flags[name] for r in rows])
        q.rules[name] = (int(fired.sum()), int((fired & y).sum()))
    for name, mask in (groups or {}).items():
        normal = mask & ~y
        q.groups[name] = (int(normal.sum()), float(flags[normal].mean()) if normal.any()
                          else float("nan"))
        idx: list[int] = np.flatnonzero(normal).tolist()
        customers = {rows[i].customer_id for i in idx}
        reached = {rows[i].customer_id for i in idx if flags[i]}
        q.reach[name] = (len(customers), len(reached), len(customers) / max(1, len(idx)))
        if name not in ("unchanged", "busy_season"):
            q.since[name] = since_change([rows[i].customer_id for i in idx], flags[idx])
    return q


def report(title: str, q: Quality, seconds: float) -> None:
    print(f"== {title}")
    print(f"rows {q.rows}, anomalies {q.anomalies}, scored in {seconds:.1f} s")
    print(f"PR-AUC of score: {q.pr_auc:.4f}, of model_score: {q.model_pr_auc:.4f}")
    print(
        f"hybrid at 2% budget: threshold {q.threshold:.4f}, flagged {q.flagged} "
        f"(workload {100 * q.workload:.2f}%, rules alone {100 * q.rules_workload:.2f}%), "
        f"recall {100 * q.recall:.1f}%, precision {100 * q.precision:.1f}%"
    )
    mr, mp, mw = q.model_hybrid
    print(f"model hybrid (model_score or rules) at 2%: recall {100 * mr:.1f}%, "
          f"precision {100 * mp:.1f}%, workload {100 * mw:.2f}%")
    for name, (support, hit, rec) in q.per_type.items():
        print(f"  type {name:<18} support {support:>5}  detected {hit:>5}  "
              f"recall {100 * rec:5.1f}%")
    for name, (fired, true) in q.rules.items():
        prec = 100 * true / fired if fired else 0.0
        print(f"  rule {name:<18} flags {fired:>6}  true {true:>5}  precision {prec:5.1f}%")
    print(f"  model versions: {q.models}")
    for name, (normal, fpr) in q.groups.items():
        customers, hit, floor = q.reach[name]
        print(f"  false alarms {name:<16} normal rows {normal:>6}  FPR {100 * fpr:5.2f}%  "
              f"customers {customers} (flagged {hit}; one flag each: {100 * floor:.2f}%)")
    base = q.groups.get("unchanged", (0, float("nan")))[1]
    for name, bins in q.since.items():
        cells = "  ".join(
            f"{since_label(lo, hi)}: "
            f"{100 * hit / rows if rows else float('nan'):.1f}% ({hit}/{rows})"
            for (lo, hi), (rows, hit) in zip(SINCE, bins, strict=True))
        print(f"  {name:<16} FPR by events since the change: {cells}; within 2x unchanged "
              f"from event {learnt_after(bins, base)}")


def change_groups(txs: Sequence[Transaction], changes: Sequence[tuple[str, str, datetime,
                  datetime | None]]) -> dict[str, np.ndarray]:
    """Row masks per legitimate change (after it starts) and for unchanged customers."""
    changed: dict[str, tuple[str, datetime]] = {}
    busy: list[tuple[datetime, datetime]] = []
    for customer, kind, start, end in changes:
        if customer == "*":
            busy.append((start, end or datetime.max))
        else:
            changed[customer] = (kind, start)
    out: dict[str, np.ndarray] = {}
    kinds = np.array([changed.get(t.customer_id, ("", datetime.max))[0] for t in txs])
    after = np.array([t.timestamp >= changed.get(t.customer_id, ("", datetime.max))[1]
                      for t in txs])
    in_busy = np.array([any(a <= t.timestamp < b for a, b in busy) for t in txs])
    for kind in sorted({k for k, _ in changed.values()}):
        out[kind] = (kinds == kind) & after
    if busy:
        out["busy_season"] = in_busy & (kinds == "")
    out["unchanged"] = (kinds == "") & ~in_busy
    return out


Changes = list[tuple[str, str, datetime, datetime | None]]


def dataset_options(parser: argparse.ArgumentParser) -> None:
    """The options `_dataset` reads: a recipe, a mix or a labelled CSV, and the size."""
    parser.add_argument("--recipe", choices=("default", "reference"), default="default")
    parser.add_argument("--mix", choices=("default", "extended"), default="default")
    parser.add_argument("--csv", help="score this labelled CSV instead of generating")
    parser.add_argument("--changes", help="with --csv: its sidecar of legitimate changes")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--days", type=int, default=92)
    parser.add_argument("--seed", type=int, default=42)


def _dataset(args: argparse.Namespace) -> tuple[str, list[Transaction], Changes]:
    if args.csv:
        from shared.csv_io import load_sorted

        txs, errors = load_sorted([Path(args.csv)])
        if errors:
            print(f"{len(errors)} bad rows skipped", file=sys.stderr)
        return f"CSV {args.csv}", txs, _read_changes(args.changes)
    if args.recipe == "reference":
        from producer.reference_recipe import ReferenceConfig, generate_reference

        return f"reference recipe, seed {args.seed}", generate_reference(
            ReferenceConfig(seed=args.seed)
        ), []
    from producer.generator import generate_with_changes, mix_config

    cfg = mix_config(args.mix, seed=args.seed, customers=args.customers, days=args.days)
    txs, found = generate_with_changes(cfg)
    start = cfg.start
    changes: Changes = [
        ("*" if c.customer < 0 else str(c.customer + 1), c.kind,
         start + timedelta(seconds=c.start),
         None if c.end is None else start + timedelta(seconds=c.end))
        for c in found
    ]
    return (
        f"{args.mix} generator mix, {args.customers} customers, {args.days} days, "
        f"seed {args.seed}", txs, changes,
    )


def _read_changes(path: str | None) -> Changes:
    """A sidecar of legitimate changes (producer/extended.py `write_changes`)."""
    if not path:
        return []
    import csv

    with open(path, encoding="utf-8", newline="") as f:
        return [(r["customer_id"], r["change"], datetime.fromisoformat(r["start"]),
                 datetime.fromisoformat(r["end"]) if r["end"] else None)
                for r in csv.DictReader(f)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dataset_options(parser)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--config", help="CoreConfig overrides as JSON, e.g. {\"seed\": 7}")
    args = parser.parse_args(argv)
    title, txs, changes = _dataset(args)
    start = time.perf_counter()
    config = CoreConfig(**json.loads(args.config)) if args.config else CoreConfig()
    rows = score_transactions(txs, config, partitions=args.partitions)
    seconds = time.perf_counter() - start
    groups = change_groups(rows, changes) if changes else None
    report(f"{title}, {args.partitions} partition(s)", evaluate(rows, groups=groups), seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
