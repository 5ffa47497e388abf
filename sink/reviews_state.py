"""Review outcomes in the sink: the last outcome per case or transaction, and their log.

The sink reads the compacted `transactions.reviews` topic (`shared.reviews`) from its
start; each message replaces the outcome of its target (last wins) and is appended to
`reviews_log.csv` (checkpointed like every appended file, so each change is logged once).
The book also remembers what the assurance needs of each reviewed case or sampled
transaction (`remember`), so a review still counts after its case left the case book.
Human-sized: one entry per reviewed id, nothing per row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from shared.errors import SchemaError
from shared.reviews import NewerReviewError, decode_review
from shared.schemas import unguarded
from shared.settings import REVIEWS_PASS_VARIABLE as PASS_VARIABLE
from sink.batch import Record, rejection
from sink.cases import CaseBook
from sink.csvfmt import encode_rows, text
from sink.sampling import AuditSample

#: (target, id) -> what the sink knows of it when the review is read ("case",
#: "audit_sample", "case_transaction" or "" for not yet seen).
Lookup = Callable[[str, str], str]


class ReviewBook:
    """Current outcome per review key, and the facts of reviewed cases and sampled rows."""

    def __init__(self) -> None:
        #: "target:id" -> [target, id, outcome, reviewer, reviewed_at, note]
        self.current: dict[str, list[str]] = {}
        #: case id -> fact, labelled 0/1, anomalous 0/1, transactions, reviewed_tx (ids of
        #: its transactions reviewed one by one)
        self.cases: dict[str, dict[str, Any]] = {}
        #: sampled transaction id -> [stratum, label cell]
        self.sampled: dict[str, list[str]] = {}
        self.messages = 0
        self.rejected = 0

    def apply(self, records: Sequence[Record], topic: str, now: str, lookup: Lookup,
              passed: frozenset[tuple[int, int]] = frozenset(),
              ) -> tuple[bytes, list[bytes], dict[int, tuple[int, int]]]:
        """Take a batch of review messages; return reviews_log.csv lines, rejections, and
        the partitions held in it: partition -> (offset, version) of a review a newer release
        wrote (`NewerReviewError`), nothing of that partition taken from it on. Rejected, it
        was passed for good (the newer release, run again on the folder, never read it);
        so it is at a position `passed` names (`TopicSettings.reviews_pass`: no release
        will read it), the operator's choice."""
        rows: list[list[str]] = []
        rejected: list[bytes] = []
        held: dict[int, tuple[int, int]] = {}
        for partition, offset, value in records:
            if partition in held:
                continue
            try:
                if value is None:
                    raise SchemaError("empty message (tombstone)")
                review = decode_review(value)
            except NewerReviewError as exc:
                if (partition, offset) not in passed:
                    held[partition] = (offset, exc.version)
                    continue
                self.messages += 1
                self.rejected += 1
                rejected.append(rejection(partition, offset, value,
                                          f"{topic}: {exc}; passed, as {PASS_VARIABLE} asks"))
                continue
            except SchemaError as exc:
                self.messages += 1
                self.rejected += 1
                rejected.append(rejection(partition, offset, value, f"{topic}: {exc}"))
                continue
            self.messages += 1
            at = review.reviewed_at.isoformat().replace("+00:00", "Z")
            self.current[review.key] = [review.target, review.id, review.outcome,
                                        review.reviewer, at, review.note]
            rows.append([now, review.target, text(review.id), review.outcome,
                         text(review.reviewer), at, text(review.note), str(partition),
                         str(offset), lookup(review.target, review.id)])
        return encode_rows(rows), rejected, held

    def outcome(self, target: str, id_: str) -> list[str] | None:
        return self.current.get(f"{target}:{id_}")

    def remember(self, book: CaseBook, sample: AuditSample) -> None:
        """Note the facts of every reviewed case and sampled row the state still holds."""
        tx_case: dict[str, str] | None = None
        sampled: dict[str, list[str]] | None = None
        for target, id_, *_ in self.current.values():
            if target == "case":
                self._note_case(book, id_)
                continue
            if id_ in self.sampled:
                continue
            if sampled is None:
                sampled = {unguarded(row[1]): [stratum, str(row[7])]
                           for stratum, rows in sample.strata.items() for row in rows}
            if id_ in sampled:
                self.sampled[id_] = sampled[id_]
                continue
            if tx_case is None:
                tx_case = {unguarded(tx[0]): c.id for c in book.cases.values() for tx in c.txs}
            cid = tx_case.get(id_)
            if cid is not None:  # a flagged transaction: its outcome counts for its case
                self._note_case(book, cid)
                if id_ not in self.cases[cid]["reviewed_tx"]:
                    self.cases[cid]["reviewed_tx"].append(id_)

    def _note_case(self, book: CaseBook, cid: str) -> None:
        case = book.cases.get(cid)
        if case is None:
            return
        known = self.cases.setdefault(cid, {"reviewed_tx": []})
        known.update(fact=case.fact(), labelled=int(case.labels[1] > 0),
                     anomalous=int(case.labels[0] > 0), transactions=len(case.txs))

    def unmatched(self) -> int:
        """Current reviews that count in no figure: a case's whose facts were never noted
        (its case had left the book, `sink.cases`, before the review was read, or was never
        in it), a transaction's neither sampled nor of a noted case."""
        of_cases = {t for known in self.cases.values() for t in known.get("reviewed_tx", ())}
        return sum(("fact" not in self.cases.get(id_, {})) if target == "case" else
                   (id_ not in self.sampled and id_ not in of_cases)
                   for target, id_, *_ in self.current.values())

    def case_review(self, case_id: str) -> list[str] | None:
        """A case's review: its own, else the latest review of its transactions (what
        cases.csv shows, so that its open cases are those the assurance counts open)."""
        own = self.current.get(f"case:{case_id}")
        if own is not None:
            return own
        known = self.cases.get(case_id)
        tx = [self.current[f"transaction:{t}"] for t in (known or {}).get("reviewed_tx", ())
              if f"transaction:{t}" in self.current]
        # As times: as text `...:00.5Z` sorts before `...:00Z`. Equal times: the larger
        # transaction id's, not the first noted (which could differ between two sinks).
        return max(tx, key=lambda r: (datetime.fromisoformat(r[4]), r[1])) if tx else None

    def case_outcome(self, case_id: str) -> str | None:
        """A case's outcome: its own review's, else the latest of its transactions'."""
        review = self.case_review(case_id)
        return None if review is None else review[2]

    def to_json(self) -> dict[str, Any]:
        return {"current": dict(sorted(self.current.items())),
                "cases": dict(sorted(self.cases.items())),
                "sampled": dict(sorted(self.sampled.items())),
                "messages": self.messages, "rejected": self.rejected}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReviewBook:
        book = cls()
        book.current = {str(k): [str(x) for x in v] for k, v in data["current"].items()}
        book.cases = {str(k): dict(v) for k, v in data["cases"].items()}
        book.sampled = {str(k): [str(x) for x in v] for k, v in data["sampled"].items()}
        book.messages, book.rejected = int(data["messages"]), int(data["rejected"])
        return book
