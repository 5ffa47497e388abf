"""Which flags a legitimate change's customers get after their first one, and why.

    .venv/bin/python bench/change_flags.py [--seed 42] [--config '{"...": ...}'] [--rows]

Scores the extended generator mix as `bench/quality.py --mix extended` does, takes its
hybrid flag at a 2% budget, and for each group of customers with a legitimate change
(night shift, relocation, raise) counts their flagged normal rows after the change by
whether each is the customer's first flag or a later one, and by the rules that fired
(none: the terms alone). `--rows` prints every later flag: its index among the
customer's normal events since the change, hour, country, score, rules and reasons.
One flag per changed customer cannot be removed by a past-only detector (the first night
purchase, the first purchase abroad, are as surprising as an anomaly at that moment): the
later ones are what faster learning can remove. Labels are read only after scoring.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import _dataset, budget_flags, change_groups

from detector.core.config import CoreConfig
from detector.offline import score_transactions


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--days", type=int, default=92)
    parser.add_argument("--config", help="CoreConfig overrides as JSON")
    parser.add_argument("--rows", action="store_true", help="print every later flag")
    args = parser.parse_args(argv)
    args.csv, args.recipe, args.mix = None, "default", "extended"
    _, txs, changes = _dataset(args)
    config = CoreConfig(**json.loads(args.config)) if args.config else CoreConfig()
    rows = score_transactions(txs, config)
    groups = change_groups(rows, changes)
    y = np.array([bool(r.is_anomaly) for r in rows])
    scores = np.array([r.score if r.score is not None else 0.0 for r in rows])
    flags, threshold = budget_flags(scores, np.array([r.is_rule_flag for r in rows]), 0.02)
    print(f"hybrid threshold at 2%: {threshold:.4f}")
    for kind in ("night_shift", "relocation", "raise"):
        if kind not in groups:
            continue
        since: Counter[str] = Counter()
        flagged: Counter[str] = Counter()
        by: Counter[tuple[str, str]] = Counter()
        for i in np.flatnonzero(groups[kind] & ~y).tolist():
            r = rows[i]
            since[r.customer_id] += 1
            if not flags[i]:
                continue
            flagged[r.customer_id] += 1
            which = "first" if flagged[r.customer_id] == 1 else "later"
            by[(which, "+".join(r.triggered_rules) or "terms alone")] += 1
            if args.rows and which == "later":
                print(f"  {kind} event {since[r.customer_id]:>3} h {r.timestamp.hour:02d} "
                      f"{r.country} score {r.score:.3f} rules {r.triggered_rules}: "
                      + " | ".join(r.reasons_top3))
        print(f"{kind}: {len(since)} customers, {sum(flagged.values())} flagged normal rows "
              f"of {sum(since.values())}, {len(flagged)} customers flagged")
        for (which, why), n in sorted(by.items(), key=lambda x: (x[0][0], -x[1])):
            print(f"  {which:<5} {why:<32} {n:>4}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
