"""Graded evidence: how strongly each habit is broken, in 0..1, with the reason in words.

Rules are yes/no and auditable; the score needs degrees. Each component maps one
observation to a strength with a logistic curve whose midpoint is "clearly unusual" (e.g.
an amount 4 robust deviations above the customer's median); the evidence score is their
noisy-OR, so two moderate breaks rank above one. Components and midpoints are documented
in docs/detection.md.
"""

from __future__ import annotations

import math

from detector.core.config import CoreConfig
from detector.core.features import Observation
from detector.core.rules import duration, needed_seconds, ordinal

#: Components weaker than this are left out (they would not change a ranking).
TRACE = 0.01
#: A tiny amount alone is weaker evidence than a huge one.
LOW_AMOUNT_WEIGHT = 0.6
#: Longest field value quoted in a reason (a huge value must not make a huge message).
VALUE_CHARS = 40


def _v(text: str) -> str:
    """`text` as it appears in a reason: cut to `VALUE_CHARS` with an ellipsis."""
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS] + "…"


def _sig(x: float, mid: float, width: float) -> float:
    v = (x - mid) / width
    if v > 30:
        return 1.0
    if v < -30:
        return 0.0
    return 1.0 / (1.0 + math.exp(-v))


def components(o: Observation, cfg: CoreConfig) -> list[tuple[float, str, str]]:
    """(strength, kind, reason) of every component above a trace level.

    `kind` is the rule the component grades (its reason gives way to the rule's) or a
    name of its own.
    """
    out: list[tuple[float, str, str]] = []
    add = out.append
    # Novelty for the customer means little until they have a history (cold start).
    known = min(1.0, o.history / cfg.min_history)
    # Each `if` skips a curve that would give less than the trace level (saves time).
    if o.amount_z > 1.7 or o.over_max > 0.0:
        e = max(_sig(o.amount_z, 4.5, 0.6), _sig(o.over_max, 0.7, 0.15))
        if e > TRACE:
            add((e, "high_amount",
                 f"amount {o.amount_ratio:.1f}x this customer's usual for {_v(o.category)}"))
    if o.amount_z < -2.0 and o.history >= cfg.min_history:
        # Far below the customer's usual: how card testing starts.
        e = LOW_AMOUNT_WEIGHT * _sig(-o.amount_z, 4.5, 0.6)
        if e > TRACE:
            add((e, "low_amount", f"amount 1/{1 / o.amount_ratio:.0f} of this customer's"
                 f" usual for {_v(o.category)}"))
    if o.gap_surprise > 2.3:
        e = _sig(o.gap_surprise, 6.5, 0.8)
        if e > TRACE:
            add((e, "gap",
                 f"{duration(o.gap_s)} after the previous purchase (usually much longer)"))
    if o.burst_count >= 2:
        e = _sig(o.burst_count, cfg.burst_min_count - 1.5, 0.4)
        if e > TRACE:
            add((e, "burst",
                 f"{ordinal(o.burst_count)} purchase in {duration(max(o.burst_span_s, 1))}"))
    if o.dup_age_s is not None:
        add((0.95, "duplicate", f"repeats a purchase {duration(o.dup_age_s)} earlier"))
    if o.hour_surprise > 0.75:
        e = _sig(o.hour_surprise, 2.6, 0.4)
        if e > TRACE:
            add((e, "odd_hour", f"{o.hour:02d} h is unusual for this customer"))
    if o.country_surprise > 1.7:
        e = known * _sig(o.country_surprise, 4.0, 0.5)
        if e > TRACE:
            seen = "never seen" if o.country_seen == 0 else f"seen only {o.country_seen}x before"
            add((e, "new_country", f"{_v(o.country)} {seen} for this customer"))
    if o.travel_km > cfg.travel_slack_km:
        need = needed_seconds(o, cfg)
        familiar = o.country_seen / o.history if o.history else 0.0
        e = _sig(math.log(need / max(o.travel_dt_s, 60.0)), 0.0, 0.35)
        e *= max(0.0, 1.0 - familiar / max(cfg.travel_familiar_share, 1e-9))
        e *= max(0.0, 1.0 - o.hop_rate / max(2 * cfg.travel_max_hop_rate, 1e-9))
        if e > TRACE:
            add((e, "impossible_travel",
                 f"{_v(o.country)} {duration(o.travel_dt_s)} after a purchase in "
                 f"{_v(o.prev_country)}"))
    # Rare across customers matters only while the value is new to this customer.
    if o.country_rarity > 2.2:
        e = _sig(o.country_rarity, 5.0, 0.6) * (1.0 if o.country_seen == 0 else 0.3)
        if e > TRACE:
            add((e, "country_rarity", f"{_v(o.country)} is rare across all customers"))
    if o.category_surprise > 1.7:
        e = 0.6 * known * _sig(o.category_surprise, 4.0, 0.5)
        if e > TRACE:
            add((e, "category", f"category {_v(o.category)} new for this customer"))
    if o.category_rarity > 3.2:
        e = 0.5 * _sig(o.category_rarity, 6.0, 0.6) * (1.0 if o.category_seen == 0 else 0.3)
        if e > TRACE:
            add((e, "category_rarity", f"category {_v(o.category)} is rare across all customers"))
    if o.channel_surprise > 1.7:
        e = 0.4 * known * _sig(o.channel_surprise, 4.0, 0.5)
        if e > TRACE:
            add((e, "channel", "channel new for this customer"))
    if o.device_surprise > 1.7:
        e = 0.3 * known * _sig(o.device_surprise, 4.0, 0.5)
        if e > TRACE:
            add((e, "device", "device new for this customer"))
    return out


def noisy_or(strengths: list[float]) -> float:
    keep = 1.0
    for s in strengths:
        keep *= 1.0 - s
    return 1.0 - keep


def model_strength(isolation: float) -> float:
    """The forest's calibrated isolation as evidence: 0.5 at 1.5x the top-1% level."""
    return _sig(isolation, 1.5, 0.25)
