"""Rollup tables from a `RollupState`: thresholds, recommendation, confusion, metrics by type.

Pure functions of integer counts: the cost is fixed by the grid, not by the row count.
Label-based figures are None (an empty cell) when there are no labels to compute them from.
Precision of a rule or of the model is over every row it flagged (all types together), not
within one type's rows, where it would always be 1.0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from shared.columns import MODES, RULE_NAMES
from shared.date_range import ROW_MARK_FIELDS
from sink.csvfmt import boolean, number, ratio, text
from sink.rollup import GRID, NEG, POS, RollupState
from sink.settings import ExportSettings
from sink.volume import SinkRollup


@dataclass(frozen=True)
class ModeStats:
    """One mode at one threshold."""

    flagged: int
    tp: int | None
    fp: int | None
    fn: int | None
    tn: int | None
    precision: float | None
    recall: float | None
    fpr: float | None
    workload_pct: float | None
    expected_cost: float | None


@dataclass(frozen=True)
class Capacity:
    """What the capacity rule needs: expected cases per day at every grid index and mode,
    and (without labels) the reviewed precision of cases at each grid index."""

    per_day: dict[str, list[float | None]]
    precision_at: dict[str, dict[int, float]]


def cases_per_day(state: RollupState, stats: dict[str, list[ModeStats]]
                  ) -> dict[str, list[float | None]]:
    """Expected cases per day at each threshold: flagged rows x (cases per flagged row, as
    grouped so far) / days of event time covered (at least one): the span from the first
    row to the last, but never more days than have rows, so one row dated 1970 or 2100
    does not stretch it. An estimate: at another threshold the rows would group a little
    differently."""
    book = state.cases
    book.fold()
    per_row = book.created / book.flagged if book.flagged else 1.0
    days = 1.0
    if state.event_min and state.event_max:
        span = datetime.fromisoformat(state.event_max) - datetime.fromisoformat(state.event_min)
        days = max(1.0, min(span.total_seconds() / 86400, _days_with_rows(state)))
    return {mode: [s.flagged * per_row / days if state.rows else None for s in rows]
            for mode, rows in stats.items()}


def _days_with_rows(state: RollupState) -> float:
    """How many days have rows, from the report's counts by day; infinite (no bound) when
    they do not hold every row (a checkpoint from before them)."""
    if not isinstance(state, SinkRollup) or state.volume.rows != state.rows:
        return math.inf
    return len({key[0] for key in state.volume.counts["day"]})


@dataclass(frozen=True)
class Recommendation:
    index: int  # grid index k, threshold GRID[k]
    mode: str
    criterion: str
    within_budget: bool

    @property
    def threshold(self) -> float:
        return GRID[self.index]


def _suffix(a: np.ndarray) -> np.ndarray:
    """suffix[..., b] = a[..., b:].sum(); one extra trailing zero."""
    out = np.zeros((*a.shape[:-1], a.shape[-1] + 1), dtype=np.int64)
    out[..., :-1] = np.cumsum(a[..., ::-1], axis=-1)[..., ::-1]
    return out


def flagged_counts(by_score: np.ndarray, by_model: np.ndarray) -> dict[str, np.ndarray]:
    """Rows flagged at every grid index k by each mode, for (rule flag x bin) count arrays
    by `score` bin and by `model_score` bin (of the same rows)."""
    grid = slice(1, len(GRID) + 1)
    rules = np.full(len(GRID), by_score[1].sum(), dtype=np.int64)
    return {
        "ml": _suffix(by_model.sum(axis=0))[grid],
        "rules": rules,
        "hybrid": by_model[1].sum() + _suffix(by_model[0])[grid],
        "combined": _suffix(by_score.sum(axis=0))[grid],
    }


def mode_stats(state: RollupState, settings: ExportSettings) -> dict[str, list[ModeStats]]:
    """Model-only, rules, hybrid and combined figures at every grid threshold."""
    total = state.rows
    n_pos = int(state.counts[POS].sum())
    n_neg = int(state.counts[NEG].sum())
    labelled = n_pos + n_neg > 0
    every = flagged_counts(state.counts.sum(axis=0), state.model_counts.sum(axis=0))
    pos = flagged_counts(state.counts[POS], state.model_counts[POS])
    neg = flagged_counts(state.counts[NEG], state.model_counts[NEG])
    out: dict[str, list[ModeStats]] = {}
    for mode in MODES:
        stats = []
        for k in range(len(GRID)):
            flagged = int(every[mode][k])
            tp, fp = int(pos[mode][k]), int(neg[mode][k])
            fn, tn = n_pos - tp, n_neg - fp
            stats.append(ModeStats(
                flagged=flagged,
                tp=tp if labelled else None,
                fp=fp if labelled else None,
                fn=fn if labelled else None,
                tn=tn if labelled else None,
                precision=ratio(tp, tp + fp),
                recall=ratio(tp, n_pos),
                fpr=ratio(fp, n_neg),
                workload_pct=100.0 * flagged / total if total else None,
                expected_cost=settings.cost_fp * fp + settings.cost_fn * fn if labelled else None,
            ))
        out[mode] = stats
    return out


def recommend(stats: dict[str, list[ModeStats]], settings: ExportSettings,
              capacity: Capacity | None = None) -> Recommendation | None:
    """Lowest expected cost among thresholds within the review budget (if set) and whose
    expected cases per day fit `EXPORTS_DAILY_CAPACITY` (if set); ties go to the higher
    threshold.

    The cost is the labels' (`expected_cost`); without labels, the reviewed precision p of
    cases at t gives it per day: `cost_fp * c (1 - p) - cost_fn * c p` for c cases a day
    (the missed anomalies' cost up to a constant). Without either, a budget or capacity
    alone picks the lowest threshold within it; with neither, nothing is recommended.
    """
    mode = settings.recommend_for
    rows = stats[mode]
    budget, cap = settings.review_budget_pct, settings.daily_capacity
    per_day = capacity.per_day[mode] if capacity is not None and cap is not None else None
    ks = range(len(rows))
    fits = [k for k in ks if (budget is None or (rows[k].workload_pct or 0.0) <= budget)
            and (per_day is None or (per_day[k] or 0.0) <= cap)]  # type: ignore[operator]
    within = bool(fits)
    if not within:  # the budget or capacity cannot be met: least workload instead
        least = min((rows[k].flagged, -k) for k in ks)
        fits = [-least[1]]
    limits = ((f" within {budget}% review budget" if budget else "")
              + (f" within {cap:g} cases/day" if per_day is not None else ""))
    costs = [(rows[k].expected_cost, -k) for k in fits if rows[k].expected_cost is not None]
    if costs:
        k = -min(costs)[1]
        return Recommendation(k, mode, "lowest expected cost" + limits, within)
    if capacity is not None and mode in capacity.precision_at:
        reviewed = capacity.precision_at[mode]
        day = capacity.per_day[mode]
        costs = [(settings.cost_fp * (day[k] or 0.0) * (1 - reviewed[k])
                  - settings.cost_fn * (day[k] or 0.0) * reviewed[k], -k)
                 for k in fits if k in reviewed]
        if costs:
            k = -min(costs)[1]
            return Recommendation(k, mode, "lowest expected cost from reviewed precision"
                                  + limits, within)
    if (budget is not None or per_day is not None) and rows and rows[0].workload_pct is not None:
        return Recommendation(min(fits), mode, "lowest threshold" + limits, within)
    return None


Stats = dict[str, list[ModeStats]]


def threshold_rows(stats: Stats, rec: Recommendation | None,
                   per_day: dict[str, list[float | None]] | None = None,
                   capacity: float | None = None) -> list[list[str]]:
    rows = []
    for k, t in enumerate(GRID):
        cells = [f"{t:.2f}"]
        for mode in MODES:
            s = stats[mode][k]
            cells += [number(v) for v in (s.tp, s.fp, s.fn, s.tn, s.flagged, s.precision,
                                          s.recall, s.fpr, s.workload_pct, s.expected_cost)]
        cells.append(boolean(rec is not None and rec.index == k))
        cells += [number(per_day[mode][k]) if per_day else "" for mode in MODES]
        cells.append(number(capacity))
        rows.append(cells)
    return rows


def confusion_rows(stats: Stats, rec: Recommendation | None) -> list[list[str]]:
    rows = []
    for mode in MODES:
        s = stats[mode][rec.index] if rec is not None else None
        cells: dict[tuple[bool, bool], int | None] = (
            {(True, True): s.tp, (False, True): s.fp, (True, False): s.fn, (False, False): s.tn}
            if s is not None else {}
        )
        for actual in (True, False):
            for predicted in (True, False):
                rows.append([mode, f"{rec.threshold:.2f}" if rec else "", boolean(actual),
                             boolean(predicted), number(cells.get((actual, predicted)))])
    return rows


def metrics_rows(state: RollupState, stats: dict[str, list[ModeStats]],
                 rec: Recommendation | None) -> list[list[str]]:
    """metrics_by_type.csv: anomaly types (what each mode detects at the recommended
    threshold), then rules, then the model, the hybrid flag and the combined score."""
    labelled = int(state.counts[POS].sum() + state.counts[NEG].sum()) > 0
    rows: list[list[str]] = []
    for name, per in sorted(state.by_type.items()):
        support = int(per.sum())
        cells = [""] * 8
        if rec is not None:
            flagged = flagged_counts(per, state.by_type_model[name])
            cells = []
            for mode in ("hybrid", "ml", "rules", "combined"):
                det = int(flagged[mode][rec.index])
                cells += [number(det), number(ratio(det, support))]
        rows.append(["anomaly_type", name, number(support), *cells, "", "", ""])

    def flag_row(section: str, name: str, flags: int | None, tp: int | None,
                 fp: int | None) -> None:
        true_flags = tp if labelled else None
        prec = ratio(tp, tp + fp) if tp is not None and fp is not None else None
        rows.append([section, text(name), *[""] * 9, number(flags), number(true_flags),
                     number(prec)])

    extra = sorted(set(state.rule_hits) - set(RULE_NAMES))
    for rule in (*RULE_NAMES, *extra):
        hits = state.rule_hits.get(rule, [0, 0, 0])
        flag_row("rule", rule, sum(hits), hits[POS], hits[NEG])
    for section, name, per_label in (("model", "is_ml_flag", state.detector_ml),
                                     ("hybrid", "is_flag", state.detector_flag)):
        flag_row(section, name, sum(per_label), per_label[POS], per_label[NEG])
    for section, mode in (("model", "ml"), ("hybrid", "hybrid"), ("combined", "combined")):
        s = stats[mode][rec.index] if rec else None
        flag_row(section, f"{section}_at_recommended", s.flagged if s else None,
                 s.tp if s else None, s.fp if s else None)
    return rows


def summary(state: RollupState, stats: dict[str, list[ModeStats]],
            rec: Recommendation | None, settings: ExportSettings) -> dict[str, Any]:
    """Figures for run.json."""
    s = stats[rec.mode][rec.index] if rec else None
    return {
        "recommended_threshold": rec.threshold if rec else None,
        "recommended_mode": rec.mode if rec else None,
        "recommended_criterion": rec.criterion if rec else "no labels and no review budget",
        "recommended_within_budget": rec.within_budget if rec else None,
        "recommended_precision": s.precision if s else None,
        "recommended_recall": s.recall if s else None,
        "recommended_workload_pct": s.workload_pct if s else None,
        "recommended_expected_cost": s.expected_cost if s else None,
        "rows": state.rows,
        "rows_anomalous": int(state.counts[POS].sum()),
        "rows_normal": int(state.counts[NEG].sum()),
        "rows_unlabelled": int(state.counts[2].sum()),
        "rows_unscored": int(state.counts[:, :, 0].sum()),
        "rows_flagged_by_detector": sum(state.detector_flag),
        "event_time_min": state.event_min,
        "event_time_max": state.event_max,
        # where the dashboards' date range starts (`shared.date_range`)
        "event_low_watermark": state.first_mark.value or None,
        # its ends while fewer customers than the quorum were seen: by rows
        **dict(zip(ROW_MARK_FIELDS, (v or None for v in state.row_marks.values), strict=True)),
        "model_versions": dict(state.model_versions),
        "cost_fp": settings.cost_fp,
        "cost_fn": settings.cost_fn,
        "review_budget_pct": settings.review_budget_pct,
    }
