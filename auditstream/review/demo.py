"""`auditstream demo --review`: a simulated reviewer closes the loop on the demo's exports.

After the sink has written every row: wait for the rollup that covers them, answer the
listed cases and the audit sample from the generator's labels (`simulate`), publish the
reviews, and wait for the sink's next refresh to count them; then print the figures the
sink computed without labels next to the truth from labels (run.json's `assurance`).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auditstream.review.publish import ReviewPublisher
from auditstream.review.simulate import Reviewer, labels_of, simulate
from shared.errors import AuditstreamError, UsageError
from shared.exports_folder import RUN_FILE
from shared.names import shown
from shared.outputs import open_text
from shared.reviews import now_utc
from shared.settings import KafkaSettings, TopicSettings

#: How long to wait for the sink to roll up the rows, then to count the reviews.
WAIT_S = 180.0


def add_review_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--review", action="store_true",
                   help="then a simulated reviewer answers the listed cases and the audit "
                   "sample from the generator's labels, and the summary shows the figures "
                   "the sink computes from those reviews (docs/review.md)")
    # no argparse default: an option given without --review is told from one not given
    p.add_argument("--review-accuracy", type=_share, metavar="P",
                   help="--review: chance a true anomaly is confirmed (default 0.95)")
    p.add_argument("--review-false-confirm", type=_share, metavar="P",
                   help="--review: chance a normal case or row is confirmed (default 0)")
    p.add_argument("--review-share", type=_share, metavar="P",
                   help="--review: share of the cases and sampled rows reviewed (default 1)")


#: The simulated reviewer's options and their defaults.
REVIEW_DEFAULTS = {"review_accuracy": 0.95, "review_false_confirm": 0.0, "review_share": 1.0}


def check_review_args(args: argparse.Namespace) -> None:
    """Refuse a reviewer's option without `--review` (it was ignored without a word: the
    demo ran with no reviewer); then fill in the defaults of those not given."""
    given = [f"--{name.replace('_', '-')}" for name in REVIEW_DEFAULTS
             if getattr(args, name) is not None]
    if given and not args.review:
        raise UsageError(f"{' and '.join(given)} need --review (the simulated reviewer they "
                         "tune); nothing started")
    for name, default in REVIEW_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def read_run(exports: Path) -> dict[str, Any]:
    """run.json's object ({} until the sink has written one); `not_regular` (exit 2) when it
    is no regular file: a FIFO there waited for ever."""
    try:
        with open_text(exports / RUN_FILE, "utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def wait_for_run(exports: Path, ready: Callable[[dict[str, Any]], bool], what: str,
                 check: Callable[[], None], timeout: float = WAIT_S) -> dict[str, Any]:
    """Poll run.json until `ready` holds (the sink's rollups are replaced atomically)."""
    deadline = time.monotonic() + timeout
    while True:
        check()
        run = read_run(exports)
        if run and ready(run):
            return run
        if time.monotonic() > deadline:
            raise AuditstreamError(f"the sink did not {what} within {timeout:.0f} s")
        time.sleep(0.5)


def generated_labels(args: argparse.Namespace) -> dict[str, bool]:
    """The demo stream's labels, generated again exactly as `auditstream generate` did."""
    import producer.cli

    parser = argparse.ArgumentParser()
    producer.cli.register(parser.add_subparsers())
    gen = parser.parse_args(["generate", "--seed", str(args.seed), "--customers",
                             str(args.customers), "--days", str(args.days)])
    gen.entry = None  # its shortfalls were the demo's warnings as it published the stream
    return labels_of(producer.cli.make_transactions(gen))


def review_loop(args: argparse.Namespace, exports: Path, bootstrap: str, topic: str,
                rows: int, check: Callable[[], None]) -> None:
    wait_for_run(exports, lambda r: int(r.get("rows") or 0) >= rows,
                 "roll up every row", check)
    reviewer = Reviewer(accuracy=args.review_accuracy, false_confirm=args.review_false_confirm,
                        seed=args.seed, fraction=args.review_share)
    reviews = simulate(exports, generated_labels(args), reviewer, now_utc())
    cases = sum(r.target == "case" for r in reviews)
    kafka = KafkaSettings(bootstrap_servers=bootstrap)
    ReviewPublisher(kafka, TopicSettings(reviews_topic=topic)).publish(reviews)
    print(f"simulated reviewer (confirms {reviewer.accuracy:g} of true anomalies, "
          f"{reviewer.false_confirm:g} of normal items; seed {reviewer.seed}): "
          f"{cases:,} cases and {len(reviews) - cases:,} sampled transactions reviewed, "
          f"published to {topic}")
    wait_for_run(exports, lambda r: int((r.get("assurance") or {}).get("reviews_read") or 0)
                 >= len(reviews), "count the reviews", check)


def _pct(v: object) -> str:
    return "n/a" if not isinstance(v, int | float) else f"{100 * v:.2f}%"


def _triple(v: object) -> str:
    if not isinstance(v, dict):
        return "n/a"
    return f"{_pct(v.get('estimate'))} [{_pct(v.get('low'))}, {_pct(v.get('high'))}]"


def print_assurance(exports: Path) -> None:
    """The sink's figures from reviews (95% intervals) beside the truth from labels."""
    a = read_run(exports).get("assurance") or {}
    print("assurance (from reviews, 95% interval; truth from the generator's labels):")
    print(f"  reviewed cases: {a.get('reviewed_cases', 0):,}; reviewed precision "
          f"{_triple(a.get('reviewed_precision'))}, labels {_pct(a.get('labelled_precision'))}")
    print(f"  miss rate (audit sample) {_triple(a.get('miss_rate'))}; implied recall "
          f"{_triple(a.get('implied_recall'))}, labels {_pct(a.get('labelled_recall'))}")
    print(f"  details: {shown(exports / 'assurance.csv')}, "
          f"{shown(exports / 'reviews_log.csv')}")
