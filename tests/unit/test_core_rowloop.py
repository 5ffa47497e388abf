"""The engine's per-row loop and verdicts (`detector.core.rowloop`): which rows teach the
recalibration and the low tail, and what the forest adds to a score, at each boundary."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from datetime import timedelta
from typing import Any

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.knobs import Knobs
from detector.core.model import RULES_ONLY, FittedModel
from detector.core.reasons import top_reasons
from detector.core.rowloop import Pending, Tap, verdicts
from detector.core.rules import RULES
from detector.core.surprise import TERMS, combine, to_score
from detector.core.verdict import Verdict
from tests.unit.test_core_surprise import _crowd, _regular, tx

ZEROS = [0.0] * len(TERMS)


def _stream() -> list[Any]:
    """A crowd, a regular customer, then purchases in new countries at usual amounts (a
    country surprise with an ordinary amount: the low tail must not learn from them)."""
    base = sorted([*_crowd(6), *_regular(30)], key=lambda r: r.timestamp)
    end = base[-1].timestamp + timedelta(days=1)
    return [*base, *(tx(900 + k, end + timedelta(days=k), 46.0, country=c)
                     for k, c in enumerate(("ZZ", "QQ", "XX")))]


def _tapped(rows: list[Any], config: CoreConfig) -> tuple[PartitionEngine, Tap]:
    engine = PartitionEngine(config)
    tap: Tap = []
    engine.tap = tap
    engine.verdicts(rows)
    return engine, tap


def test_the_recalibration_learns_from_exactly_min_history_learnt_events() -> None:
    """Every row whose customer had at least `min_history` learnt events teaches the
    recalibration, the row at exactly `min_history` included, none below."""
    config = CoreConfig(first_fit_after=10**9)
    engine, tap = _tapped(_stream(), config)
    learnt = [seen for _, _, _, seen in tap]
    at_edge = sum(seen == config.min_history for seen in learnt)
    below = sum(seen == config.min_history - 1 for seen in learnt)
    assert at_edge > 0 and below > 0
    assert engine._state()[2].total == sum(seen >= config.min_history for seen in learnt)


@pytest.mark.parametrize("above", [0.0, 3.0])
def test_the_low_tail_learns_only_amounts_ordinary_in_every_other_way(above: float) -> None:
    """The low tail counts a repeat customer's row only when the terms other than the two
    amount terms add less than `quarantine_above` (the country surprise of a new country
    at a usual amount keeps it out); at exactly `quarantine_above` (0: every row) none."""
    config = CoreConfig(first_fit_after=10**9, quarantine_above=above)
    rows = _stream()
    engine, tap = _tapped(rows, config)
    knobs = Knobs(config)
    seen: Counter[str] = Counter()
    expected = kept_out = 0
    for row, (_, mapped, _, _) in zip(rows, tap, strict=True):
        other = combine(mapped, knobs) - combine(mapped[:2], knobs)
        if seen[row.customer_id]:
            expected += other < above
            kept_out += other >= above and mapped[TERMS.index("country")] > 3.0
        seen[row.customer_id] += 1
    assert engine._state()[1].low_n == expected
    if above:
        assert kept_out >= 3 and expected > 100
    else:
        assert expected == 0


def verdict(row: Pending, strength: float, model: Any, partition: int | None,
            knobs: Knobs) -> Any:
    """`verdicts` of one row."""
    return verdicts([row], np.array([strength]), [(0, 1, model)], partition, knobs)[0]


class _Model:
    version = "if-test"

    def scores(self, strengths: Any) -> Any:
        return np.minimum(1.0, np.asarray(strengths) / 10.0)


@pytest.mark.parametrize(("strength", "excess"), [(1.0, 0.0), (2.0, 0.0), (3.0, 1.0),
                                                  (6.5, 4.5)])
def test_the_forest_adds_its_weighted_excess_over_the_floor(strength: float,
                                                            excess: float) -> None:
    """With `model_weight` w, a row's combined surprise gains w x (the forest's surprise -
    `surprise_floor`) when above it, nothing at or below it (floor 2: strengths 1, 2, 3)."""
    knobs = Knobs(CoreConfig(model_weight=0.5))
    assert knobs.surprise_floor == 2.0
    terms = [*ZEROS]
    terms[TERMS.index("amount_high")] = 4.0  # an excess of 2 over the floor
    row: Pending = (None, {}, terms, {}, combine(terms, knobs), 7)  # type: ignore[assignment]
    out = verdict(row, strength, _Model(), 3, knobs)
    assert out.score == round(to_score(2.0 + 0.5 * excess, knobs), 6)
    assert out.model_score == round(min(1.0, strength / 10.0), 6)
    assert out.model_version == "if-test"
    assert (out.source_partition, out.source_offset) == (3, 7)
    plain = verdict(row, strength, None, None, knobs)
    assert plain.score == round(to_score(2.0, knobs), 6)
    assert plain.model_score is None and plain.source_offset is None


@pytest.mark.parametrize(("model_score", "flagged"), [(0.599999, False), (0.6, True),
                                                      (0.600001, True)])
def test_the_model_flags_and_explains_from_exactly_ml_threshold(model_score: float,
                                                                flagged: bool) -> None:
    """`model_score` at `ml_threshold` (0.6) is an ML flag with the model's reason; a
    millionth below is neither."""
    knobs = Knobs(CoreConfig())
    assert knobs.ml_threshold == 0.6
    row: Pending = (None, {}, [*ZEROS], {}, 0.0, 0)  # type: ignore[assignment]
    out = verdict(row, model_score * 10.0, _Model(), None, knobs)
    assert out.model_score == model_score
    assert out.is_ml_flag is flagged and out.is_flag is flagged
    assert out.reasons_top3 == (["unusual combination of habits (model)"] if flagged else [])


def test_a_fired_rule_adds_to_the_habits_surprise() -> None:
    """A rule adds `rule_surprise` to the terms' combined surprise, not in its place."""
    knobs = Knobs(CoreConfig())
    terms = [*ZEROS]
    terms[TERMS.index("amount_high")] = 4.0  # an excess of 2 over the floor
    fired = {"odd_hour": "a night purchase"}
    row: Pending = (None, fired, terms, {}, combine(terms, knobs), 0)  # type: ignore[assignment]
    out = verdict(row, 0.0, None, None, knobs)
    assert out.score == round(to_score(2.0 + knobs.rule_surprise, knobs), 6)
    assert out.triggered_rules == ["odd_hour"] and out.is_rule_flag and out.is_flag


@pytest.mark.parametrize(("shift", "flagged"), [(-1e-6, True), (0.0, True), (1e-6, False)])
def test_a_score_flags_from_exactly_score_threshold(shift: float, flagged: bool) -> None:
    """`is_flag` from `score >= score_threshold`: a score at the threshold is flagged, one a
    millionth below it is not (no rule, no model)."""
    base = Knobs(CoreConfig())
    at = round(to_score(2.0, base), 6)
    knobs = Knobs(CoreConfig(score_threshold=round(at + shift, 6)))
    terms = [*ZEROS]
    terms[TERMS.index("amount_high")] = 4.0
    row: Pending = (None, {}, terms, {}, combine(terms, knobs), 0)  # type: ignore[assignment]
    out = verdict(row, 0.0, None, None, knobs)
    assert out.score == at
    assert out.is_flag is flagged and not out.is_rule_flag and not out.is_ml_flag


class _Forest:
    """A model with `FittedModel`'s own scores over `n` training rows."""

    def scores(self, strengths: Any) -> Any:
        return FittedModel.scores(self, strengths)  # type: ignore[arg-type]

    def __init__(self, n: int, version: str) -> None:
        self.ranked, self.version = np.zeros(n), version


def _row_by_row(row: Pending, strength: float, model: Any, partition: int | None,
                cfg: Knobs) -> Any:
    """The verdict as it was computed row by row before the columns (the reference)."""
    _, fired, values, term_reasons, total, position = row
    model_score: float | None = None
    model_reason: str | None = None
    if model is not None:
        model_score = round(max(0.0, min(1.0, strength / math.log(len(model.ranked) + 1.0))),
                            6)
        total += cfg.model_weight * max(0.0, strength - cfg.surprise_floor)
        if model_score >= cfg.ml_threshold:
            model_reason = "unusual combination of habits (model)"
    if fired:
        total += cfg.rule_surprise * len(fired)
    names = tuple(RULES)
    reasons = (top_reasons(fired, values, term_reasons, model_reason, cfg.surprise_floor)
               if fired or term_reasons or model_reason else [])
    score = round(min(max(to_score(total, cfg), 0.0), 1.0), 6)
    ml_flag = model_score is not None and model_score >= cfg.ml_threshold
    return Verdict(
        score=score, model_score=model_score, is_ml_flag=ml_flag,
        rule_flags={name: name in fired for name in names}, is_rule_flag=bool(fired),
        is_flag=ml_flag or bool(fired) or score >= cfg.score_threshold,
        reasons_top3=reasons, triggered_rules=[name for name in names if name in fired],
        model_version=model.version if model else RULES_ONLY, source_partition=partition,
        source_offset=None if partition is None else position)


_SURPRISE = st.one_of(st.floats(-5.0, 40.0), st.sampled_from([0.0, -0.0, 2.0, 1e-300]),
                      st.floats(allow_nan=False, allow_infinity=False))


@st.composite
def _rows(draw: st.DrawFn) -> tuple[list[Pending], list[float]]:
    n = draw(st.integers(1, 12))
    rows: list[Pending] = []
    for i in range(n):
        fired = {name: f"{name} fired" for name in draw(st.sets(st.sampled_from(tuple(RULES))))}
        values = draw(st.lists(st.floats(0.0, 30.0), min_size=len(TERMS),
                               max_size=len(TERMS)))
        reasons = {name: f"{name} is odd" for name in draw(st.sets(st.sampled_from(TERMS)))}
        rows.append((None, fired, values, reasons, draw(_SURPRISE), 100 + i))  # type: ignore[arg-type]
    strengths = draw(st.lists(_SURPRISE, min_size=n, max_size=n))
    return rows, strengths


@given(_rows(), st.data(), st.sampled_from([None, 0, 3]),
       st.sampled_from([{}, {"model_weight": 0.5}, {"ml_threshold": 0.2, "score_threshold": 0.3}]))
@settings(max_examples=200, deadline=None)
def test_the_verdicts_by_column_are_the_row_by_row_ones(
        drawn: tuple[list[Pending], list[float]], data: st.DataObject, partition: int | None,
        settings_: dict[str, float]) -> None:
    """Any rows, surprises and segments (with a model or none, empty ones too): every field
    of every verdict as the row-by-row arithmetic gives it, to the bit."""
    rows, strengths = drawn
    knobs = Knobs(CoreConfig(**settings_))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(rows)), max_size=3)))
    bounds = [0, *cuts, len(rows)]
    segments = [(a, b, data.draw(st.sampled_from([None, _Forest(200, "if-v1"),
                                                  _Forest(4096, "if-v2")])))
                for a, b in itertools.pairwise(bounds)]
    got = verdicts(rows, np.array(strengths, dtype=np.float64), segments, partition, knobs)
    want = [_row_by_row(rows[i], strengths[i], model, partition, knobs)
            for a, b, model in segments for i in range(a, b)]
    assert [msgspec.json.encode(v) for v in got] == [msgspec.json.encode(v) for v in want]


def test_scores_next_to_a_millionth_half_round_as_python_rounds() -> None:
    """Totals and forest surprises whose scores land next to a half of the sixth decimal
    (where `np.round`, scaling first, goes the other way for some): as row by row."""
    knobs = Knobs(CoreConfig())
    forest = _Forest(4096, "if-v1")
    rows: list[Pending] = []
    strengths: list[float] = []
    for k in range(1, 400_000, 397):
        half = (k + 0.5) / 1e6
        total = knobs.score_half * half / (1.0 - half)
        strength = half * math.log(4097.0)
        for step in (-2, -1, 0, 1, 2):
            t, s = total, strength
            for _ in range(abs(step)):
                t = math.nextafter(t, math.inf if step > 0 else -math.inf)
                s = math.nextafter(s, math.inf if step > 0 else -math.inf)
            rows.append((None, {}, [*ZEROS], {}, t, len(rows)))  # type: ignore[arg-type]
            strengths.append(s)
    got = verdicts(rows, np.array(strengths), [(0, len(rows), None)], 0, knobs)
    want = [_row_by_row(row, s, None, 0, knobs) for row, s in zip(rows, strengths, strict=True)]
    assert [v.score for v in got] == [v.score for v in want]
    mapped = np.array([row[4] / (row[4] + knobs.score_half) for row in rows])
    assert (np.round(mapped, 6) != [v.score for v in want]).any()  # the case has teeth
    got = verdicts(rows, np.array(strengths), [(0, len(rows), forest)], 0, knobs)
    want = [_row_by_row(row, s, forest, 0, knobs) for row, s in zip(rows, strengths, strict=True)]
    assert [v.model_score for v in got] == [v.model_score for v in want]
    assert (np.round(forest.scores(np.array(strengths)), 6)
            != np.array([v.model_score for v in want])).any()
