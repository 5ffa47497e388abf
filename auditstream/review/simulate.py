"""A simulated reviewer for the demo and the end-to-end tests: outcomes from generator labels.

The reviewer looks at the exports as an auditor would (the cases of cases.csv with their
transactions from case_transactions.csv, and the transactions of audit_sample.csv) and
answers from the generator's labels: a case is a true anomaly when one of its transactions
is. A true anomaly is confirmed with probability `accuracy` (else dismissed: a miss by the
reviewer); a normal item is confirmed with probability `false_confirm` (default 0: an
auditor rarely calls a normal payment fraud), else dismissed. Every draw is a keyed hash of
(seed, purpose, id), so the same exports and seed give the same reviews in any order and on
any machine.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from shared.exports_folder import AUDIT_SAMPLE_FILE, CASE_TRANSACTIONS_FILE, CASES_FILE
from shared.outputs import open_text
from shared.reviews import Outcome, Review
from shared.schemas import Transaction, unguarded

REVIEWER = "simulated reviewer"


def keyed_uniform(seed: int, purpose: str, ident: str) -> float:
    """A uniform draw in [0, 1) fixed by (seed, purpose, id)."""
    digest = hashlib.blake2b(f"{seed}\x1f{purpose}\x1f{ident}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def simulated_outcome(truth: bool, draw: float, accuracy: float,
                      false_confirm: float = 0.0) -> Outcome:
    """A true anomaly is confirmed when `draw < accuracy`; a normal item when
    `draw < false_confirm`; anything else is dismissed."""
    return "confirmed" if draw < (accuracy if truth else false_confirm) else "dismissed"


@dataclass(frozen=True)
class Reviewer:
    accuracy: float = 0.95
    false_confirm: float = 0.0
    seed: int = 42
    #: Share of the listed cases and sampled transactions reviewed (a seeded random subset).
    fraction: float = 1.0
    name: str = REVIEWER

    def __post_init__(self) -> None:
        if not all(0.0 <= v <= 1.0 for v in (self.accuracy, self.false_confirm, self.fraction)):
            raise ValueError("accuracy, false_confirm and fraction must lie in [0, 1]")

    def outcome(self, target: str, ident: str, truth: bool) -> Outcome | None:
        """This reviewer's outcome for one item, or None when it is not picked."""
        if keyed_uniform(self.seed, f"pick-{target}", ident) >= self.fraction:
            return None
        return simulated_outcome(truth, keyed_uniform(self.seed, f"judge-{target}", ident),
                                 self.accuracy, self.false_confirm)


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file of the exports as dicts (none when it is missing;
    `not_regular`, exit 2, when it is no regular file)."""
    try:
        fh = open_text(path, "utf-8-sig", newline="")
    except FileNotFoundError:
        return []
    with fh:
        return [{k: v or "" for k, v in row.items() if k is not None}
                for row in csv.DictReader(fh)]


def case_members(exports: Path) -> dict[str, list[str]]:
    """case id -> its transaction ids (case_transactions.csv)."""
    members: dict[str, list[str]] = {}
    for row in read_rows(exports / CASE_TRANSACTIONS_FILE):
        members.setdefault(unguarded(row["case_id"]), []).append(unguarded(row["transaction_id"]))
    return members


def simulate(exports: Path, labels: Mapping[str, bool], reviewer: Reviewer,
             now: datetime) -> list[Review]:
    """Reviews of the listed cases (rank order), then of the audit sample (file order).

    Items whose truth the labels do not give (an id missing from `labels`) are left open.
    """
    members = case_members(exports)
    out: list[Review] = []

    def add(target: str, ident: str, truth: bool | None) -> None:
        if truth is None:
            return
        outcome = reviewer.outcome(target, ident, truth)
        if outcome is not None:
            out.append(Review(target=target, id=ident, outcome=outcome,
                              reviewer=reviewer.name, reviewed_at=now,
                              note=f"simulated (accuracy {reviewer.accuracy:g})"))

    for row in read_rows(exports / CASES_FILE):
        cid = unguarded(row.get("case_id", ""))
        txs = members.get(cid, [])
        known = [labels[t] for t in txs if t in labels]
        add("case", cid, any(known) if cid and known and len(known) == len(txs) else None)
    for row in read_rows(exports / AUDIT_SAMPLE_FILE):
        tx = unguarded(row.get("transaction_id", ""))
        add("transaction", tx, labels.get(tx))
    return out


def labels_from_csv(path: Path) -> dict[str, bool]:
    """transaction id -> is_anomaly from a generated (historic-layout) CSV."""
    return {row["transaction_id"]: row["is_anomaly"].strip().lower() == "true"
            for row in read_rows(path) if row.get("is_anomaly", "").strip()}


def labels_of(transactions: Iterable[Transaction]) -> dict[str, bool]:
    """transaction id -> is_anomaly of generated transactions (labelled ones only)."""
    return {tx.transaction_id: tx.is_anomaly for tx in transactions if tx.is_anomaly is not None}
