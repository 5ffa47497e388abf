"""The engine's per-row loop (compiled with the rest of the per-row core): each row's
features, terms, rules and learning, in arrival order, between two model events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np

from detector.core.calibration import Recalibration
from detector.core.features import Observation, event_seconds, observe
from detector.core.habits import learn, release
from detector.core.knobs import Knobs
from detector.core.lowtail import amount_z
from detector.core.model import RULES_ONLY
from detector.core.reasons import top_reasons
from detector.core.rounding import rounded
from detector.core.rules import RULES, apply_rules
from detector.core.state import Population
from detector.core.surprise import TERMS, combine, fold_round, terms
from detector.core.table import CustomerTable
from detector.core.verdict import Verdict
from shared.schemas import TransactionView

#: One row's verdict inputs: (tx, fired rules, term values, term reasons, surprise, position).
#: Only a term reason reads the values (`top_reasons`): a row without one may have none.
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


def verdicts(rows: list[Pending], strengths: Any, segments: list[tuple[int, int, Any]],
             partition: int | None, cfg: Knobs) -> list[Any]:
    """Each row's `Verdict` from its inputs and the forest's surprise (`strengths`, an
    array), rows `a` to `b` of each segment under its model (a `FittedModel`, or None
    before the first). The numbers by column, as the row-by-row arithmetic gives them to
    the bit (`rounding.rounded` is `round`), the objects row by row."""
    n = len(rows)
    total = np.array([row[4] for row in rows], dtype=np.float64)
    fired_n = np.array([len(row[1]) for row in rows], dtype=np.float64)
    model_score = np.zeros(n, dtype=np.float64)
    for a, b, model in segments:
        if model is not None and b > a:
            s = strengths[a:b]
            model_score[a:b] = rounded(model.scores(s), 6)
            # The forest's own surprise, weighted, adds its excess over the floor (0 default).
            excess = s - cfg.surprise_floor
            total[a:b] = total[a:b] + cfg.model_weight * np.where(excess > 0.0, excess, 0.0)
    total = np.where(fired_n > 0.0, total + cfg.rule_surprise * fired_n, total)
    with np.errstate(all="ignore"):  # `to_score`, then clipped to 0..1, by column
        mapped = np.where(total > 0.0, total / (total + cfg.score_half), 0.0)
    mapped = np.where(mapped < 0.0, 0.0, mapped)
    scores: list[float] = rounded(np.where(mapped > 1.0, 1.0, mapped), 6).tolist()
    model_scores: list[float] = model_score.tolist()
    ml_threshold, score_threshold = cfg.ml_threshold, cfg.score_threshold
    floor = cfg.surprise_floor
    out: list[Any] = []
    for a, b, model in segments:
        version = model.version if model is not None else RULES_ONLY
        for i in range(a, b):
            row = rows[i]
            _, fired, values, term_reasons, _, position = row
            score = scores[i]
            model_reason: str | None = None
            ml_flag = False
            this_model_score: float | None = None
            if model is not None:
                this_model_score = model_scores[i]
                if this_model_score >= ml_threshold:
                    model_reason = _MODEL_REASON
                    ml_flag = True
            if fired:
                triggered = [name for name in _RULE_NAMES if name in fired]
                rule_flags = {name: name in fired for name in _RULE_NAMES}
            else:
                triggered = []
                rule_flags = dict(_NO_RULES)
            reasons = (top_reasons(fired, values, term_reasons, model_reason, floor)
                       if fired or term_reasons or model_reason else [])
            out.append(Verdict(
                score=score,
                model_score=this_model_score,
                is_ml_flag=ml_flag,
                rule_flags=rule_flags,
                is_rule_flag=bool(fired),
                is_flag=ml_flag or bool(fired) or score >= score_threshold,
                reasons_top3=reasons,
                triggered_rules=triggered,
                model_version=version,
                source_partition=partition,
                source_offset=None if partition is None else position,
            ))
    return out
