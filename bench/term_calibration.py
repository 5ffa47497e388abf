"""Is a surprise term calibrated? P(term > s) / e^-s on established normal rows.

    .venv/bin/python bench/term_calibration.py --recipe reference            # the hour term
    .venv/bin/python bench/term_calibration.py --mix default --customers 300 --term amount_low

Scores the data with the engine, recording each row's raw term (as `terms` computed it)
and its value after the engine's recalibration, and the customer's learnt events at the
time. For the normal rows of customers with at least `min_history` learnt events (the rows
the recalibration learns from), by history length, it prints the share of rows whose term
exceeds s divided by e^-s, for s = 2..6: about 1 (or below: a cautious term) when the term
is a calibrated tail probability; above 1 when it surprises more often than it should.
Labels are read only after scoring.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.core.calibration import TERMS
from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from shared.schemas import Transaction

LEVELS = (2.0, 3.0, 4.0, 5.0, 6.0)
BUCKETS = ((5, 20), (20, 40), (40, 10**9))


def _dataset(args: argparse.Namespace) -> list[Transaction]:
    if args.recipe == "reference":
        from producer.reference_recipe import ReferenceConfig, generate_reference

        return generate_reference(ReferenceConfig(seed=args.seed))
    from producer.generator import generate_with_changes, mix_config

    cfg = mix_config(args.mix, seed=args.seed, customers=args.customers, days=args.days)
    return generate_with_changes(cfg)[0]


def record(txs: list[Transaction], config: CoreConfig, term: str
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's raw and recalibrated `term`, and its customer's learnt events then."""
    i = TERMS.index(term)
    raw: list[float] = []
    calibrated: list[float] = []
    learnt: list[int] = []
    engine = PartitionEngine(config)
    engine.tap = []
    engine.process(txs)
    for values, mapped, _, seen in engine.tap:
        raw.append(values[i])
        calibrated.append(mapped[i])
        learnt.append(seen)
    return np.array(raw), np.array(calibrated), np.array(learnt)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=("default", "reference"), default="default")
    parser.add_argument("--mix", choices=("default", "extended"), default="default")
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--days", type=int, default=92)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--term", choices=TERMS, default="hour")
    args = parser.parse_args(argv)
    config = CoreConfig()
    txs = _dataset(args)
    raw, calibrated, learnt = record(txs, config, args.term)
    normal = np.array([not tx.is_anomaly for tx in txs])
    print(f"term {args.term}: P(term > s) / e^-s on normal rows, raw | recalibrated")
    for lo, hi in ((config.min_history, 10**9), *BUCKETS):
        rows = normal & (learnt >= lo) & (learnt < hi)
        if not rows.any():
            continue
        label = f"learnt >= {lo}" if hi == 10**9 else f"learnt {lo}-{hi - 1}"
        cells = [f"s={s:.0f}: {np.mean(raw[rows] > s) / math.exp(-s):.2f} | "
                 f"{np.mean(calibrated[rows] > s) / math.exp(-s):.2f}" for s in LEVELS]
        print(f"  {label:<14} {int(rows.sum()):>7} rows  " + "; ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
