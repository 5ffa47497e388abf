"""Incremental rollup state: counts per score bin, so a refresh costs the same at any row count.

Scores fall into 102 bins: bin 0 holds rows the model cannot flag at any grid threshold (no
score yet, NaN or negative); bin k+1 holds `k/100 <= score < (k+1)/100` (bin 101: score >= 1).
`score >= k/100` is then exactly "bin >= k+1", with the same float comparison pandas makes.
Counts are split by label (anomaly, normal, unknown) and by the detector's rule flag, once
by `score` bin and once by `model_score` bin, so the model-only, rules, hybrid and combined
metrics at every threshold come from suffix sums. Everything here is
integers (plus the bounded case book, `sink.cases`, and audit sample, `sink.sampling`),
serialisable to JSON and restorable exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.codec import field_name
from shared.columns import SCORED_INDEX
from shared.schemas import ScoredTransaction
from sink.bins import GRID as GRID  # re-exported: sink.tables and tests read it here
from sink.bins import N_BINS as N_BINS
from sink.bins import score_bin as score_bin
from sink.bins import score_bins
from sink.cases import CaseBook, flagged_of
from sink.sampling import AuditSample
from sink.unknown_rules import KNOWN_RULES, UnknownRules
from sink.watermark import DEFAULT_QUORUM, EarliestMark, RowQuorum, time_key

if TYPE_CHECKING:
    from sink.settings import ExportSettings

POS, NEG, UNK = 0, 1, 2
UNSPECIFIED_TYPE = "unspecified"

_TYPE_CELL = SCORED_INDEX["anomaly_type"]
_TIME_CELL = SCORED_INDEX["timestamp"]
_CUSTOMER_CELL = SCORED_INDEX["customer_id"]


#: What a rollup needs of one row: label index, score, is_rule_flag, rule_flags, is_ml_flag,
#: is_flag, number of triggered rules, model_version, model_score.
Facts = tuple[int, float | None, bool, dict[str, bool], bool, bool, int, str, float | None]


def facts_of(tx: ScoredTransaction) -> Facts:
    return (label_index(tx.is_anomaly), tx.score, tx.is_rule_flag, tx.rule_flags,
            tx.is_ml_flag, tx.is_flag, len(tx.triggered_rules), tx.model_version,
            tx.model_score)


def verdict_facts(is_anomaly: bool | None, w: Any) -> Facts:
    """`facts_of` the row an input's label and its verdict `w`
    (`detector.core.verdict.Verdict`) make, without making it (`auditstream score`)."""
    return (label_index(is_anomaly), w.score, w.is_rule_flag, w.rule_flags, w.is_ml_flag,
            w.is_flag, len(w.triggered_rules), w.model_version, w.model_score)


@dataclass(frozen=True)
class RollupParams:
    """What shapes the rollup besides the rows: cases (`sink.cases`), the audit sample
    (`sink.sampling`), the watermark's quorum (`sink.watermark`: the cases' recency, and the
    sink's day files). Built from `ExportSettings` by `params_of`; picklable for workers. A
    state saved before a field existed restores with its default."""

    top_cases: int = 100
    case_gap_s: float = 7200.0
    case_days: float = 7.0
    sample_per_band: int = 10
    sample_key: str = "auditstream-audit-sample"
    watermark_customers: int = DEFAULT_QUORUM

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "sample_key"}  # never stored

    @classmethod
    def from_json(cls, data: dict[str, Any], sample_key: str) -> RollupParams:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "sample_key": sample_key})


def params_of(settings: ExportSettings) -> RollupParams:
    return RollupParams(settings.top_cases, settings.case_gap_s, settings.case_days,
                        settings.sample_per_band, settings.sample_key.get_secret_value(),
                        settings.watermark_customers)


def label_index(is_anomaly: bool | None) -> int:
    return UNK if is_anomaly is None else (POS if is_anomaly else NEG)


def _earliest(cells: Sequence[list[str]], times: list[str], quorum: int
              ) -> list[tuple[str, str]]:
    """The first `quorum` customers of a batch in time order, each at its first time: all of
    the batch that can move an `EarliestMark` (any other customer of it has `quorum`
    customers at or before it), so the mark takes a few rows per batch, not each. The rows
    in time order by one sort in C (`isoformat` text: a time without microseconds is a
    prefix of one with, so it sorts first, as it should)."""
    seen: dict[str, str] = {}
    for i in sorted(range(len(times)), key=times.__getitem__):
        customer = cells[i][_CUSTOMER_CELL]
        if customer not in seen:
            seen[customer] = times[i]
            if len(seen) == quorum:
                break
    return list(seen.items())


class RollupState:
    """Integer counters behind every rollup; `update` is the only way rows get in."""

    def __init__(self, params: RollupParams | int | None = None) -> None:
        if not isinstance(params, RollupParams):  # an int: the top cases, defaults otherwise
            params = RollupParams() if params is None else RollupParams(top_cases=params)
        self.counts = np.zeros((3, 2, N_BINS), dtype=np.int64)  # label x rule flag x bin
        self.model_counts = np.zeros((3, 2, N_BINS), dtype=np.int64)  # by model_score bin
        self.by_type: dict[str, np.ndarray] = {}  # anomaly type -> (rule flag x bin), positives
        self.by_type_model: dict[str, np.ndarray] = {}  # the same by model_score bin
        self.rule_hits: dict[str, list[int]] = {}  # rule -> flags per label
        #: rules this sink has no column for (a newer detector's), bounded: `rule_hits`
        #: counts those it keeps, under the names it keeps them by
        self.unknown_rules = UnknownRules()
        self.detector_ml = [0, 0, 0]  # is_ml_flag per label
        self.detector_flag = [0, 0, 0]  # is_flag per label
        self.model_versions: dict[str, int] = {}
        self.event_min: str | None = None
        self.event_max: str | None = None
        #: Where the dashboards' date range starts (`shared.date_range`): the earliest time
        #: `watermark_customers` customers reached, so one row dated 1970 does not move it.
        self.first_mark = EarliestMark(params.watermark_customers)
        self.first_mark_saved = True  # False: restored from a state saved before the mark
        #: The range's ends while fewer than `watermark_customers` customers were seen: the
        #: earliest and latest time that many rows reached (`shared.date_range`).
        self.row_marks = RowQuorum(params.watermark_customers)
        self.row_marks_saved = True  # False: restored from a state saved before them
        self.params = params
        self.cases = CaseBook(params.top_cases, params.case_gap_s, params.case_days,
                              params.watermark_customers)
        self.sample = AuditSample(params.sample_per_band, params.sample_key)

    @property
    def rows(self) -> int:
        return int(self.counts.sum())

    def update(self, facts: Sequence[Facts], cells: Sequence[list[str]]) -> None:
        """Count a batch; `cells[i]` is row i formatted by `csvfmt.scored_cells`.

        The counters by column (numpy), the rest row by row only where a row has any:
        positives by type, fired rules, flagged rows' cases, the others' audit sample."""
        if not facts:
            return
        size = 3 * 2 * N_BINS
        labs, scores, rules, flags, mls, flagged, _n, versions, models = zip(*facts, strict=True)
        lab = np.array(labs, dtype=np.int64)
        r = np.array(rules, dtype=np.bool_).astype(np.int64)
        b, mb = score_bins(scores), score_bins(models)
        row = (lab * 2 + r) * N_BINS
        self.counts += np.bincount(row + b, minlength=size).reshape(self.counts.shape)
        self.model_counts += np.bincount(row + mb, minlength=size).reshape(
            self.model_counts.shape)
        for i in np.flatnonzero(lab == POS).tolist():
            name = cells[i][_TYPE_CELL] or UNSPECIFIED_TYPE
            per_type = self.by_type.get(name)
            if per_type is None:
                per_type = self.by_type[name] = np.zeros((2, N_BINS), dtype=np.int64)
                self.by_type_model[name] = np.zeros((2, N_BINS), dtype=np.int64)
            per_type[r[i], b[i]] += 1
            self.by_type_model[name][r[i], mb[i]] += 1
        rule_hits = self.rule_hits
        unknown = not KNOWN_RULES.issuperset(set().union(*flags))
        if unknown:
            for name in self.unknown_rules.see(flags):
                rule_hits.pop(name, None)
        for i, row_flags in enumerate(flags):
            if any(row_flags.values()):
                lab_i = labs[i]
                for name, hit in row_flags.items():
                    if hit:
                        if unknown and name not in KNOWN_RULES:
                            if not self.unknown_rules.counts(name):
                                continue
                            name = field_name(name)
                        counts = rule_hits.get(name)
                        if counts is None:
                            counts = rule_hits[name] = [0, 0, 0]
                        counts[lab_i] += 1
        for total, hits in ((self.detector_ml, mls), (self.detector_flag, flagged)):
            by_label = np.bincount(lab[np.array(hits, dtype=np.bool_)], minlength=3).tolist()
            for k in range(3):
                total[k] += by_label[k]
        cases, sample = self.cases, self.sample
        for i, flag in enumerate(flagged):
            if flag:
                cases.offer(flagged_of(cells[i], scores[i], models[i], mls[i], rules[i]))
        sample.offer_rows([cells[i] for i, flag in enumerate(flagged) if not flag])
        known = self.model_versions
        for version, n in Counter(versions).items():
            known[version] = known.get(version, 0) + n
        self._event_range(cells)

    def _event_range(self, cells: Sequence[list[str]]) -> None:
        # ISO-8601 strings of one format compare like the datetimes they spell.
        times = [c[_TIME_CELL] for c in cells]
        keys = [t if len(t) > 19 else t + ".000000" for t in times]  # time_key, inlined
        # the first time of the least key, as `min(times, key=time_key)`: keys in C
        lo = times[keys.index(min(keys))]
        self._widen(lo, times[keys.index(max(keys))])
        self.row_marks.see_keys(keys)
        mark = self.first_mark
        if mark.needs(lo):
            for customer, ts in _earliest(cells, times, self.params.watermark_customers):
                mark.see(customer, ts)

    def _widen(self, lo: str | None, hi: str | None) -> None:
        if lo is not None and (self.event_min is None
                               or time_key(lo) < time_key(self.event_min)):
            self.event_min = lo
        if hi is not None and (self.event_max is None
                               or time_key(hi) > time_key(self.event_max)):
            self.event_max = hi

    def merge(self, other: RollupState) -> None:
        """Add the counts of `other` (rows counted elsewhere, e.g. in a worker process)."""
        self.counts += other.counts
        self.model_counts += other.model_counts
        for mine_by, other_by in ((self.by_type, other.by_type),
                                  (self.by_type_model, other.by_type_model)):
            for name, per in other_by.items():
                mine = mine_by.get(name)
                mine_by[name] = per.copy() if mine is None else mine + per
        for name in self.unknown_rules.merge(other.unknown_rules):
            self.rule_hits.pop(name, None)
        for rule, hits in other.rule_hits.items():
            if rule not in KNOWN_RULES and rule not in self.unknown_rules.rows:
                continue
            mine_hits = self.rule_hits.setdefault(rule, [0, 0, 0])
            for i, n in enumerate(hits):
                mine_hits[i] += n
        for i in range(3):
            self.detector_ml[i] += other.detector_ml[i]
            self.detector_flag[i] += other.detector_flag[i]
        for version, n in other.model_versions.items():
            self.model_versions[version] = self.model_versions.get(version, 0) + n
        self._widen(other.event_min, other.event_max)
        self.first_mark.absorb(other.first_mark)
        self.row_marks.absorb(other.row_marks)
        self.cases.absorb(other.cases)
        self.sample.merge(other.sample)

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": self.counts.tolist(),
            "model_counts": self.model_counts.tolist(),
            "by_type": {k: v.tolist() for k, v in sorted(self.by_type.items())},
            "by_type_model": {k: v.tolist() for k, v in sorted(self.by_type_model.items())},
            "rule_hits": dict(sorted(self.rule_hits.items())),
            "unknown_rules": self.unknown_rules.to_json(),
            "detector_ml": self.detector_ml,
            "detector_flag": self.detector_flag,
            "model_versions": dict(sorted(self.model_versions.items())),
            "event_min": self.event_min,
            "event_max": self.event_max,
            "first_mark": self.first_mark.to_json(),
            "row_marks": self.row_marks.to_json(),
            "params": self.params.to_json(),
            "case_book": self.cases.to_json(),
            "audit_sample": self.sample.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any],
                  sample_key: str = RollupParams.sample_key) -> RollupState:
        """The state saved by `to_json`; the sample key is not saved, so it is given again
        (`ValueError` if it is not the one the sample was drawn with)."""
        state = cls(RollupParams.from_json(data.get("params", {}), sample_key))
        state.counts = np.asarray(data["counts"], dtype=np.int64).reshape(3, 2, N_BINS)
        state.by_type = {
            str(k): np.asarray(v, dtype=np.int64).reshape(2, N_BINS)
            for k, v in data["by_type"].items()
        }
        # A state saved before model_score existed counts every row as unscored by it.
        model = data.get("model_counts")
        if model is None:
            state.model_counts[:, :, 0] = state.counts.sum(axis=2)
        else:
            state.model_counts = np.asarray(model, dtype=np.int64).reshape(3, 2, N_BINS)
        by_model = data.get("by_type_model")
        for k, v in state.by_type.items():
            if by_model is not None and k in by_model:
                state.by_type_model[k] = np.asarray(by_model[k], dtype=np.int64).reshape(2, N_BINS)
            else:
                state.by_type_model[k] = np.zeros((2, N_BINS), dtype=np.int64)
                state.by_type_model[k][:, 0] = v.sum(axis=1)
        state.rule_hits = {str(k): [int(x) for x in v] for k, v in data["rule_hits"].items()}
        state.unknown_rules = UnknownRules.from_json(data.get("unknown_rules"))
        state.detector_ml = [int(x) for x in data["detector_ml"]]
        state.detector_flag = [int(x) for x in data["detector_flag"]]
        state.model_versions = {str(k): int(v) for k, v in data["model_versions"].items()}
        state.event_min = data["event_min"]
        state.event_max = data["event_max"]
        # A state saved before the mark: its earliest time seen as the mark's floor (what
        # the dashboards showed then stays shown), unless the caller recounts it from the
        # rows (the sink does, from its day files: `sink.writer`).
        state.first_mark_saved = "first_mark" in data
        state.first_mark = (EarliestMark.from_json(data["first_mark"]) if "first_mark" in data
                            else EarliestMark(state.params.watermark_customers,
                                              state.event_min or ""))
        # Saved before the row marks: none until the caller recounts them from the rows (the
        # sink does, from its day files); the range falls back to the event times meanwhile.
        state.row_marks_saved = "row_marks" in data
        if state.row_marks_saved:
            state.row_marks = RowQuorum.from_json(data["row_marks"])
        # A state saved before cases were episodes has neither (`sink.folder` refuses it
        # once it counted rows: those rows would be in no case and no sample).
        if "case_book" in data:
            state.cases = CaseBook.from_json(data["case_book"],
                                             state.params.watermark_customers)
        if "audit_sample" in data:
            state.sample = AuditSample.from_json(data["audit_sample"], sample_key)
        return state

