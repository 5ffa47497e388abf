"""The engine's per-row loop (compiled with the rest of the per-row core): each row's
features, terms, rules and learning, in arrival order, between two model events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from detector.core.calibration import Recalibration
from detector.core.features import Observation, event_seconds, observe
from detector.core.habits import learn, release
from detector.core.knobs import Knobs
from detector.core.lowtail import amount_z
from detector.core.model import RULES_ONLY
from detector.core.reasons import top_reasons
from detector.core.rules import RULES, apply_rules
from detector.core.state import Population
from detector.core.surprise import TERMS, combine, fold_round, terms, to_score
from detector.core.table import CustomerTable
from detector.core.verdict import Verdict
from shared.schemas import TransactionView

#: One row's verdict inputs: (tx, fired rules, term values, term reasons, surprise, position).
Pending = tuple[TransactionView, dict[str, str], list[float], dict[str, str], float, int]
#: Each row's terms as scored, for measuring: (raw, recalibrated, reasons, the customer's
#: learnt events then).
Tap = list[tuple[list[float], list[float], dict[str, str], int]]

_RULE_NAMES: Final = tuple(RULES)
_NO_RULES: Final = dict.fromkeys(RULES, False)
_MODEL_REASON: Final = "unusual combination of habits (model)"


#: Columns of the model's feature matrix (`model_vector`): every surprise term, then
#: population rarity.
MODEL_FEATURES: Final[tuple[str, ...]] = (*TERMS, "country_rarity", "category_rarity")


def model_vector(values: list[float], o: Observation) -> tuple[float, ...]:
    return (*values, o.country_rarity, o.category_rarity)


def score_rows(txs: Sequence[TransactionView], lo: int, hi: int, first: int,
               table: CustomerTable, pop: Population, calibration: Recalibration,
               cfg: Knobs, pending: list[Pending], vectors: list[tuple[float, ...]],
               tap: Tap | None = None) -> None:
    """Rows `lo` to `hi` of `txs` (partition positions from `first + lo`), each against
    the rows before it: their verdict inputs onto `pending`, model vectors onto `vectors`,
    and their terms onto `tap` if given."""
    for i in range(lo, hi):
        tx = txs[i]
        t = event_seconds(tx)
        state = table.get(tx.customer_id, t)
        release(state, pop, cfg, t)
        obs = observe(tx, t, state, pop, cfg)
        raw, reasons, wake = terms(t, state, pop, obs, cfg)
        values = calibration.apply(raw)
        fold_round(values, obs.round_extra, cfg)
        total = combine(values, cfg)
        if tap is not None:
            tap.append((raw, values, reasons, state.learnt))
        if state.learnt >= cfg.min_history:
            calibration.learn(raw)
        # the low tail's shape, from amounts that look ordinary in every other way
        # (their own term would always exclude the far ones)
        if state.n and total - combine(values[:2], cfg) < cfg.quarantine_above:
            pop.learn_low(amount_z(state, obs, cfg)[0])
        vectors.append(model_vector(values, obs))
        pending.append((tx, apply_rules(obs, cfg), values, reasons, total, first + i))
        learn(t, state, pop, cfg, obs, total, wake, values)


def verdict(row: Pending, strength: float, model: Any, partition: int | None,
            cfg: Knobs) -> Any:
    """One row's `Verdict` from its inputs and the forest's `strength` (its surprise) under
    `model` (a `FittedModel`, or None before the first)."""
    _, fired, values, term_reasons, total, position = row
    model_score: float | None = None
    model_reason: str | None = None
    if model is not None:
        model_score = round(model.score(strength), 6)
        # The forest's own surprise, weighted, adds its excess over the floor (0 default).
        total += cfg.model_weight * max(0.0, strength - cfg.surprise_floor)
        if model_score >= cfg.ml_threshold:
            model_reason = _MODEL_REASON
    if fired:
        total += cfg.rule_surprise * len(fired)
        triggered = [name for name in _RULE_NAMES if name in fired]
        rule_flags = {name: name in fired for name in _RULE_NAMES}
    else:
        triggered = []
        rule_flags = dict(_NO_RULES)
    reasons = (top_reasons(fired, values, term_reasons, model_reason, cfg.surprise_floor)
               if fired or term_reasons or model_reason else [])
    score = round(min(max(to_score(total, cfg), 0.0), 1.0), 6)
    ml_flag = model_score is not None and model_score >= cfg.ml_threshold
    return Verdict(
        score=score,
        model_score=model_score,
        is_ml_flag=ml_flag,
        rule_flags=rule_flags,
        is_rule_flag=bool(fired),
        is_flag=ml_flag or bool(fired) or score >= cfg.score_threshold,
        reasons_top3=reasons,
        triggered_rules=triggered,
        model_version=model.version if model else RULES_ONLY,
        source_partition=partition,
        source_offset=None if partition is None else position,
    )
