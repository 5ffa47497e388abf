"""Generate the review files `review import` was measured on (docs/benchmarks.md, section
"`review import` at its bounds"): rows of the exports' cases.csv, or narrow rows.

    python bench/review_import_files.py cases big.csv 685000 --seed 7 --conflicts 0.01 \\
        --bad 0.005 --stamped 0.1          # then cut to 128 MiB at a line end
    python bench/review_import_files.py narrow narrow.csv 1000000
    /usr/bin/time -f "%e %M" python -m auditstream review import big.csv --no-check --dry-run
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

from shared.columns import CASES_COLUMNS

OUTCOMES = ("confirmed", "dismissed", "unclear", " Dismissed ")


def _row(r: random.Random, i: int, n: int, args: argparse.Namespace) -> dict[str, str]:
    drawn = r.randrange(n) if r.random() < args.conflicts else i  # an id drawn twice
    row = dict.fromkeys(CASES_COLUMNS, "")
    row.update(rank=str(i + 1), case_id=f"c{drawn:08d}-{i % 7}",
               customer_id=f"cust{r.randrange(10**6)}", first_time="2025-01-18T14:46:00Z",
               last_time="2025-01-18T15:46:00Z", transactions=str(r.randrange(1, 9)),
               total_amount=f"{r.random() * 1e4:.2f}", score=f"{r.random():.4f}",
               model_score=f"{r.random():.4f}", is_ml_flag="True", is_rule_flag="False",
               triggered_rules="velocity;amount",
               reasons_top3="amount far above habit; new country; night",
               top_transaction_id=f"t{i}", channel="web", country="FR")
    row["outcome"] = "" if r.random() < args.blank else r.choice(OUTCOMES)
    if r.random() < args.bad:  # an unknown outcome, a bad or future time, no id
        row["outcome"] = r.choice(["maybe", "confirmed"])
        row["reviewed_at"] = r.choice(["2099-01-01", "junk", ""])
        if r.random() < 0.3:
            row["case_id"] = ""
    if r.random() < args.stamped:  # a review as the exports show one
        row["reviewed_at"] = r.choice(["2025-02-01T10:00:00Z", "2025-03-01T10:00:00Z",
                                       "2025-01-01T00:00:00Z"])
        row["reviewer"] = r.choice(["", "ann", "bob"])
        row["note"] = r.choice(["", "seen", "=cmd()"])
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("kind", choices=("cases", "narrow"))
    p.add_argument("path", type=Path)
    p.add_argument("rows", type=int)
    p.add_argument("--seed", type=int, default=1)
    for share in ("conflicts", "bad", "blank", "stamped"):
        p.add_argument(f"--{share}", type=float, default=0.0, help="share of the rows")
    args = p.parse_args()
    with args.path.open("w", newline="") as fh:
        if args.kind == "narrow":
            fh.write("case_id,outcome\n")
            fh.writelines(f"c{i},confirmed\n" for i in range(args.rows))
            return
        r = random.Random(args.seed)
        w = csv.writer(fh)
        w.writerow(CASES_COLUMNS)
        for i in range(args.rows):
            w.writerow(_row(r, i, args.rows, args).values())


if __name__ == "__main__":
    main()
