"""Why each anomaly kind is caught or missed, and false alarms by customer activity.

    .venv/bin/python bench/unseen_report.py unseen.csv [--budget 0.02]

Scores a labelled CSV with one engine (the terms recorded as the engine computes them,
through its tap, as bench/term_calibration.py does), takes the hybrid flag of
bench/quality.py at the budget, and prints per anomaly kind: recall, the median score,
how often each rule fires, and per surprise term the share of the kind's rows where the
(recalibrated) term is above the floor and its median there; then the same for the missed
rows. The false-alarm side: the share of normal rows flagged, by the customer's activity
(rows per day over the data's span) and by the row's position in the customer's history,
with the terms that fire most on the flagged ones and those that exceed 3 on more than
1.5 e^-3 of the group's normal rows (a term miscalibrated for this kind of customer).
Labels are read only after scoring.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import budget_flags

import detector.core.engine as engine_module
from detector.core.calibration import TERMS
from detector.core.config import CoreConfig
from shared.csv_io import load_sorted
from shared.schemas import ScoredTransaction, Transaction

ACTIVITY = ((0.0, 0.2), (0.2, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 5.0), (5.0, float("inf")))
POSITION = ((1, 5), (6, 20), (21, 100), (101, 10**9))


def score_with_terms(txs: Sequence[Transaction], config: CoreConfig
                     ) -> tuple[list[ScoredTransaction], np.ndarray]:
    """The engine's scored rows and every row's recalibrated terms (rows x TERMS), read
    from the engine's tap (detector.core.rowloop)."""
    engine = engine_module.PartitionEngine(config, 0)
    engine.tap = []
    rows = engine.process(list(txs))
    return rows, np.array([mapped for _, mapped, _, _ in engine.tap])


@dataclass(frozen=True)
class Scored:
    """A labelled CSV scored by the engine: its rows, terms and the arrays the reports use."""

    txs: list[Transaction]
    bad: int  # rows the reader rejected
    rows: list[ScoredTransaction]
    terms: np.ndarray  # rows x TERMS, recalibrated
    y: np.ndarray  # labelled anomalous
    scores: np.ndarray
    rules: np.ndarray  # any rule fired
    types: np.ndarray  # anomaly_type, "normal" for the rest


def score_csv(path: Path, config: CoreConfig) -> Scored:
    """Read, score (one partition) and arrange `path` for the reports."""
    txs, errors = load_sorted([path])
    return score_txs(txs, config, bad=len(errors))


def score_txs(txs: Sequence[Transaction], config: CoreConfig, bad: int = 0) -> Scored:
    """Score `txs` (one partition) and arrange them for the reports."""
    rows, terms = score_with_terms(txs, config)
    return Scored(
        txs=list(txs), bad=bad, rows=rows, terms=terms,
        y=np.array([bool(r.is_anomaly) for r in rows]),
        scores=np.array([r.score or 0.0 for r in rows]),
        rules=np.array([r.is_rule_flag for r in rows]),
        types=np.array([r.anomaly_type or "normal" for r in rows]))


def order_cells(mask: np.ndarray, order: np.ndarray, flags: np.ndarray) -> str:
    """Recall of the 1st, 2nd, 3rd and later rows of a kind for their customer."""
    cells = []
    for lo, hi, label in ((1, 1, "1st"), (2, 2, "2nd"), (3, 3, "3rd"), (4, 10**9, "4+")):
        m = mask & (order >= lo) & (order <= hi)
        if m.any():
            cells.append(f"{label} {100 * flags[m].mean():.0f}% ({int(m.sum())})")
    return ", ".join(cells)


def incident_order(rows: Sequence[ScoredTransaction]) -> np.ndarray:
    """Each labelled row's rank among its customer's rows of its kind (1 = first)."""
    seen: Counter[tuple[str, str]] = Counter()
    order = np.zeros(len(rows), dtype=int)
    for i, r in enumerate(rows):
        if r.is_anomaly:
            key = (r.customer_id, r.anomaly_type or "")
            seen[key] += 1
            order[i] = seen[key]
    return order


def kind_lines(name: str, mask: np.ndarray, flags: np.ndarray, scores: np.ndarray,
               order: np.ndarray, terms: np.ndarray, rules: dict[str, np.ndarray],
               floor: float) -> list[str]:
    """Recall, median score, rules and terms of the rows in `mask`, then of those missed."""
    out = []
    for label, m in (("all", mask), ("missed", mask & ~flags)):
        n = int(m.sum())
        if not n:
            continue
        head = (f"{name:<22} {label:<6} rows {n:>5}  recall {100 * flags[m].mean():5.1f}%  "
                f"median score {np.median(scores[m]):.3f}")
        fired = [f"{r} {100 * v[m].mean():.0f}%" for r, v in rules.items() if v[m].any()]
        above = terms[m] > floor
        cells = [f"{t} {100 * above[:, j].mean():.0f}% "
                 f"(med {np.median(terms[m][above[:, j], j]):.1f})"
                 for j, t in enumerate(TERMS) if above[:, j].mean() >= 0.05]
        if label == "all":
            head += "  by order in the customer's incident: " + order_cells(m, order, flags)
        out.append(head + "\n    rules: " + (", ".join(fired) or "none")
                   + "\n    terms > floor: " + (", ".join(cells) or "none"))
    return out


def activity_lines(txs: Sequence[Transaction], flags: np.ndarray, y: np.ndarray,
                   terms: np.ndarray, floor: float) -> list[str]:
    """The flag rate of normal rows by customer activity and by history position, and
    the terms above the floor most often among the flagged ones."""
    days = max(1.0, (txs[-1].timestamp - txs[0].timestamp).total_seconds() / 86400)
    per_customer = Counter(t.customer_id for t in txs)
    rate = np.array([per_customer[t.customer_id] / days for t in txs])
    seen: Counter[str] = Counter()
    position = np.zeros(len(txs), dtype=int)
    for i, t in enumerate(txs):
        seen[t.customer_id] += 1
        position[i] = seen[t.customer_id]
    normal = ~y
    base = flags[normal].mean()
    out = [f"normal rows flagged: {100 * base:.2f}% of {int(normal.sum())}"]
    for label, values, bins in (("rows/day", rate, ACTIVITY), ("position", position, POSITION)):
        for lo, hi in bins:
            m = normal & (values >= lo) & (values < hi if label == "rows/day" else values <= hi)
            if m.any():
                customers = len({txs[int(i)].customer_id for i in np.flatnonzero(m)})
                hit = m & flags
                above = (terms[hit] > floor).mean(axis=0) if hit.any() else np.zeros(len(TERMS))
                top = ", ".join(f"{TERMS[j]} {100 * above[j]:.0f}%"
                                for j in np.argsort(-above)[:3] if above[j] > 0)
                # calibration at s = 3: P(term > 3) / e^-3 among these normal rows
                ratio = (terms[m] > 3.0).mean(axis=0) / math.exp(-3.0)
                hot = ", ".join(f"{TERMS[j]} {ratio[j]:.1f}" for j in np.argsort(-ratio)[:3]
                                if ratio[j] > 1.5)
                out.append(f"  {label} {lo:g}-{hi:g}: {100 * flags[m].mean():5.2f}% of "
                           f"{int(m.sum()):>6} rows, {customers} customers "
                           f"({flags[m].mean() / base:.1f}x); flagged rows: {top or '-'}; "
                           f"P(term > 3) / e^-3 above 1.5: {hot or '-'}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("--budget", type=float, default=0.02)
    parser.add_argument("--config", help="CoreConfig overrides as JSON, as bench/quality.py")
    args = parser.parse_args(argv)
    config = CoreConfig(**json.loads(args.config)) if args.config else CoreConfig()
    got = score_csv(Path(args.csv), config)
    txs, rows, terms, y, scores, types = got.txs, got.rows, got.terms, got.y, got.scores, got.types
    flags, threshold = budget_flags(scores, got.rules, args.budget)
    rules = {n: np.array([r.rule_flags[n] for r in rows]) for n in rows[0].rule_flags}
    order = incident_order(rows)
    print(f"{args.csv}: {len(rows)} rows ({got.bad} bad), {int(y.sum())} anomalies, "
          f"threshold {threshold:.4f} at a {100 * args.budget:g}% budget")
    for name in sorted(set(types[y])):
        print("\n".join(kind_lines(name, types == name, flags, scores, order, terms, rules,
                                   config.surprise_floor)))
    print("\n".join(activity_lines(txs, flags, y, terms, config.surprise_floor)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
