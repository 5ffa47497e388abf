"""Cases as episodes: a customer's flagged transactions close in time grouped into one case.

A flagged transaction joins its customer's latest case when its time lies within `gap`
of that case's span (`first - gap <= t <= last + gap`); otherwise it opens a new case.
Rows of one customer reach every reader in one order (the topics are keyed by customer,
`score` reads the file in order), so grouping depends only on that order: the same cases
for any batch cut, after a restart (the state is checkpointed exactly) and in a second
sink. `case_id` = `case-` + 16 hex digits of SHA-256 over customer id and the case's first
transaction id, so it never changes as the case grows.

State is bounded by what is exported and by the customers, not by the row count: the top
`top` cases by score, every case whose last transaction is within `days` of the flagged
rows' watermark (`sink.watermark`: the latest time `quorum` customers' flagged rows
reached, so one row dated 2100 ages no case), and each customer's latest case (the only one
that can still grow). Any other case is dropped: it can no longer grow, and it can never
come back into the listing (a case above it stays above, it only gets older, and the
watermark never goes back), so dropping it changes nothing that any reader exports,
whatever the partitions' interleaving.

A delta (rows counted in a worker process) only collects rows (`offer`); `absorb` replays
them in order into the main book, so slices of a batch group exactly as one batch would.
"""

from __future__ import annotations

import bisect
import hashlib
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from operator import attrgetter
from typing import Any

from shared.columns import CASES_COLUMNS, LIST_SEPARATORS, RULE_NAMES, SCORED_INDEX
from shared.schemas import MAX_VERDICT_ITEMS
from sink.bins import score_bin
from sink.csvfmt import number, text
from sink.watermark import DEFAULT_QUORUM, Watermark, time_key

_IX = {name: SCORED_INDEX[name] for name in (
    "transaction_id", "customer_id", "timestamp", "amount", "country", "channel",
    "is_anomaly", "anomaly_type", "score", "reasons_top3", "triggered_rules")}
_RULE_ORDER = {name: i for i, name in enumerate(RULE_NAMES)}
#: A case keeps at most this many rule names (as many as one row holds), the least in
#: cases.csv's order, then `CUT` if it left any out: a customer's rows each naming new
#: rules grew its cell and the checkpoint with every row (64 new 1,000-character names a
#: row, 2026-12-06); the mark is the one a cut name ends with (`shared.codec.field_name`).
MAX_CASE_RULES = MAX_VERDICT_ITEMS
CUT = "…"
#: total_amount's unit (`Case.total`).
_CENT = Decimal("0.01")
REASON_SEP, RULE_SEP = LIST_SEPARATORS["reasons_top3"], LIST_SEPARATORS["triggered_rules"]

#: A flagged row as a case needs it: customer, transaction id, timestamp, amount, score,
#: model_score, is_ml_flag, is_rule_flag, rules cell, reasons cell, channel, country,
#: label cell, anomaly type cell, score cell.
Flagged = tuple[str, str, str, str, float, float, bool, bool, str, str, str, str, str, str, str]


def flagged_of(cells: list[str], score: float | None, model: float | None, ml: bool,
               rule: bool) -> Flagged:
    ix = _IX
    return (cells[ix["customer_id"]], cells[ix["transaction_id"]], cells[ix["timestamp"]],
            cells[ix["amount"]], _key_score(score), _key_score(model), ml, rule,
            cells[ix["triggered_rules"]], cells[ix["reasons_top3"]], cells[ix["channel"]],
            cells[ix["country"]], cells[ix["is_anomaly"]], cells[ix["anomaly_type"]],
            cells[ix["score"]])


def _rule_key(name: str) -> tuple[int, str]:
    return _RULE_ORDER.get(name, len(_RULE_ORDER)), name


def _key_score(score: float | None) -> float:
    return score if score is not None and score == score else -1.0


def case_id(customer_id: str, first_transaction_id: str) -> str:
    """The stable id of a case (see the module docstring)."""
    digest = hashlib.sha256(f"{customer_id}\x1f{first_transaction_id}".encode()).hexdigest()
    return "case-" + digest[:16]


class Case:
    """One episode; plain fields so it serialises to JSON and back exactly."""

    __slots__ = (
        "amount",
        "customer",
        "first",
        "id",
        "labels",
        "last",
        "ml",
        "model",
        "reasons",
        "rule",
        "rules",
        "score",
        "seq",
        "top",
        "txs",
        "types",
    )

    def __init__(self, cid: str, row: Flagged) -> None:
        self.id, self.customer = cid, row[0]
        self.first = self.last = row[2]
        self.amount = 0.0
        self.score = self.model = -1.0
        self.ml = self.rule = False
        self.rules: list[str] = []
        self.reasons: list[list[Any]] = []  # [-score, seq, reason], best 3 distinct
        self.top: list[str] = []  # transaction id, channel, country of the strongest row
        self.labels = [0, 0]  # anomalous, labelled
        self.types: list[str] = []
        self.txs: list[list[str]] = []  # transaction id, timestamp, amount, score, label
        self.seq = 0
        self.add(row)

    def add(self, row: Flagged) -> None:
        (_c, txid, ts, amount, score, model, ml, rule, rules, reasons, channel, country,
         label, kind, score_cell) = row
        self.first = min(self.first, ts, key=time_key)
        self.last = max(self.last, ts, key=time_key)
        self.amount += float(amount) if amount else 0.0
        if score > self.score or not self.top:
            self.top = [txid, channel, country]
        self.score, self.model = max(self.score, score), max(self.model, model)
        self.ml, self.rule = self.ml or ml, self.rule or rule
        for name in rules.split(RULE_SEP) if rules else ():
            if name not in self.rules:
                self._rule(name)
        for reason in reasons.split(REASON_SEP) if reasons else ():
            self._reason(-score, reason)
        if label:
            self.labels[1] += 1
            if label == "True":
                self.labels[0] += 1
                if kind and kind not in self.types:
                    self.types.append(kind)
                    self.types.sort()
        self.txs.append([txid, ts, amount, score_cell, label])

    def _rule(self, name: str) -> None:
        """Keep `name` among the least `MAX_CASE_RULES` rules (the known ones first, in
        their order, then by name), `CUT` after them once one was left out."""
        rules = self.rules
        cut = rules[-1:] == [CUT]
        if cut:
            rules.pop()
        key = _rule_key(name)
        if name == CUT or (len(rules) >= MAX_CASE_RULES and key > _rule_key(rules[-1])):
            cut = True
        else:
            bisect.insort(rules, name, key=_rule_key)
            if len(rules) > MAX_CASE_RULES:
                del rules[MAX_CASE_RULES:]
                cut = True
        if cut:
            rules.append(CUT)

    def _reason(self, neg: float, reason: str) -> None:
        self.seq += 1
        for item in self.reasons:
            if item[2] == reason:
                if neg < item[0]:
                    item[0], item[1] = neg, self.seq
                    self.reasons.sort()
                return
        self.reasons.append([neg, self.seq, reason])
        self.reasons.sort()
        del self.reasons[3:]

    def within(self, ts: str, gap: timedelta) -> bool:
        t = _parse(ts)
        return _parse(self.first) - gap <= t <= _parse(self.last) + gap

    def fact(self) -> str:
        """What the assurance groups a case by: score bin, model bin, ML flag, rule flag,
        rules; one text so retired cases can be counted by it (`CaseBook.retired`)."""
        return (f"{score_bin(self.score)}|{score_bin(self.model)}|{int(self.ml)}|"
                f"{int(self.rule)}|{RULE_SEP.join(self.rules)}")

    def rank_key(self) -> tuple[float, int, str]:
        return (-self.score, -len(self.rules), self.id)

    def cells(self, rank: int) -> list[str]:
        """A cases.csv row without the review columns (the caller adds them)."""
        score = "" if self.score < 0 else number(self.score)
        model = "" if self.model < 0 else number(self.model)
        labelled = self.labels[1] > 0
        return [str(rank), self.id, self.customer, self.first, self.last, str(len(self.txs)),
                number(self.total()), score, model, str(self.ml), str(self.rule),
                # Re-sorted, a rule a row's cell held safely inside may lead (`b;=1+1`).
                text(RULE_SEP.join(self.rules)),
                text(REASON_SEP.join(r[2] for r in self.reasons)),
                *self.top, str(self.labels[0]) if labelled else "", RULE_SEP.join(self.types)]

    def total(self) -> float:
        """total_amount: the exact sum of the amount cells to cents, half away from zero (as
        Excel's and Power BI's ROUND). `amount`, the float sum, kept for the checkpoint's
        format, could end below a half cent that the decimal sum reaches (57.555 read as
        57.55499...: 57.55 where 57.56 is due; an auditor's check, 2026-12-05)."""
        exact = sum((Decimal(tx[2]) for tx in self.txs if tx[2]), Decimal(0))
        return float(exact.quantize(_CENT, rounding=ROUND_HALF_UP))

    def to_json(self) -> list[Any]:
        return list(_CASE_FIELDS(self))

    @classmethod
    def from_json(cls, data: list[Any]) -> Case:
        case = cls.__new__(cls)
        for name, value in zip(cls.__slots__, data, strict=True):
            setattr(case, name, value)
        return case


#: A case's fields in `__slots__` order, read at once (`Case.to_json`, each checkpoint).
_CASE_FIELDS = attrgetter(*Case.__slots__)
#: Columns of cases.csv that `Case.cells` fills; the review columns follow.
CASE_CELLS = len(CASES_COLUMNS) - 4


class CaseBook:
    """The cases of a stream (see the module docstring); `offer` rows, `absorb` deltas."""

    def __init__(self, top: int = 100, gap_s: float = 7200.0, days: float = 7.0,
                 quorum: int = DEFAULT_QUORUM) -> None:
        self.top, self.gap_s, self.days = top, gap_s, days
        self.cases: dict[str, Case] = {}
        self.latest: dict[str, str] = {}  # customer -> id of the latest case
        self.pending: list[Flagged] = []  # offered, not yet grouped (a delta holds only these)
        self.created = 0  # cases ever opened
        self.flagged = 0  # flagged rows grouped
        self.clock = Watermark(quorum)  # over the rows grouped: what "recent" is measured by
        #: dropped cases by `Case.fact()`: [cases, labelled, anomalous] (the truth of
        #: assurance.csv's labelled_precision needs every case, not only the listed ones)
        self.retired: dict[str, list[int]] = {}
        self._prune_at = 256

    def offer(self, row: Flagged) -> None:
        self.pending.append(row)

    def absorb(self, other: CaseBook) -> None:
        """Group `other`'s rows after this book's own (a delta's rows follow ours)."""
        if other.cases:
            raise ValueError("only a delta (rows offered, none grouped) can be absorbed")
        self.pending.extend(other.pending)
        self.fold()

    def fold(self) -> None:
        """Group the offered rows in order."""
        gap = timedelta(seconds=self.gap_s)
        for row in self.pending:
            customer, ts = row[0], row[2]
            cid = self.latest.get(customer)
            case = self.cases.get(cid) if cid is not None else None
            if case is not None and case.within(ts, gap):
                case.add(row)
            else:
                case = Case(case_id(customer, row[1]), row)
                if case.id in self.cases:  # the same first transaction twice: keep one case
                    case = self.cases[case.id]
                    case.add(row)
                else:
                    self.cases[case.id] = case
                    self.created += 1
                self.latest[customer] = case.id
            self.flagged += 1
            self.clock.see(customer, ts)
        self.pending = []
        if len(self.cases) >= self._prune_at:
            self.prune()

    def prune(self) -> None:
        """Drop cases that are neither top, recent nor their customer's latest."""
        keep = {c.id for c in self._listed()}
        for cid, case in list(self.cases.items()):
            if cid in keep or self.latest.get(case.customer) == cid:
                continue
            del self.cases[cid]
            counts = self.retired.setdefault(case.fact(), [0, 0, 0])
            counts[0] += 1
            counts[1] += case.labels[1] > 0
            counts[2] += case.labels[0] > 0
        self._prune_at = len(self.cases) * 3 // 2 + 256

    def _cutoff(self) -> datetime:
        if not self.clock.key:
            return datetime.min
        return _parse(self.clock.value) - timedelta(days=self.days)

    def listed(self) -> list[Case]:
        """cases.csv's cases: the top `top` by score plus every recent one, ranked."""
        self.fold()
        return self._listed()

    def _listed(self) -> list[Case]:
        ranked = sorted(self.cases.values(), key=Case.rank_key)
        cutoff = self._cutoff()
        return [c for i, c in enumerate(ranked) if i < self.top or _parse(c.last) >= cutoff]

    def ranked(self) -> list[list[str]]:
        """cases.csv rows of `listed()`, the review columns empty (no review book here)."""
        return [[*c.cells(rank), "", "", "", ""] for rank, c in enumerate(self.listed(), 1)]

    def to_json(self) -> dict[str, Any]:
        self.fold()
        return {"top": self.top, "gap_s": self.gap_s, "days": self.days,
                "created": self.created, "flagged": self.flagged,
                # "watermark": the value, for a version before the quorum (its whole state)
                "watermark": self.clock.value, "clock": self.clock.to_json(),
                "latest": dict(sorted(self.latest.items())),
                "retired": dict(sorted(self.retired.items())),
                "cases": [c.to_json() for c in sorted(self.cases.values(), key=lambda c: c.id)]}

    @classmethod
    def from_json(cls, data: dict[str, Any], quorum: int = DEFAULT_QUORUM) -> CaseBook:
        """The book `to_json` saved; one saved before the quorum (its latest time grouped,
        `watermark`, only) restores it as the watermark's floor, with `quorum`."""
        book = cls(int(data["top"]), float(data["gap_s"]), float(data["days"]), quorum)
        book.created, book.flagged = int(data["created"]), int(data["flagged"])
        book.clock = Watermark.from_json(data.get("clock", str(data["watermark"])), quorum)
        book.retired = {str(k): [int(x) for x in v] for k, v in data["retired"].items()}
        book.latest = {str(k): str(v) for k, v in data["latest"].items()}
        book.cases = {c.id: c for c in (Case.from_json(d) for d in data["cases"])}
        book._prune_at = len(book.cases) * 3 // 2 + 256
        return book


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)

