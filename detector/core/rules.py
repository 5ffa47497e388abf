"""Auditable rules: each a small named check of one `Observation` with a reason in plain words.

Adding a rule touches one place: write a function `(Observation, Knobs) -> str | None`
(the reason when it fires) and list it in `RULES` under its name (a `rule_*` export column).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

from detector.core.features import Observation
from detector.core.knobs import Knobs, in_night

#: Longest field value quoted in a reason (a huge value must not make a huge message).
VALUE_CHARS: Final = 40


def quoted(text: str) -> str:
    """`text` as it appears in a reason: cut to `VALUE_CHARS` with an ellipsis."""
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS] + "…"

Rule = Callable[[Observation, Knobs], str | None]


def duration(seconds: float) -> str:
    """`40 s`, `35 min`, `5 h`, `3 days`: how an auditor says a gap."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def high_amount(o: Observation, cfg: Knobs) -> str | None:
    if o.amount_ratio < cfg.high_amount_ratio:
        return None
    if o.history >= cfg.min_history:
        if o.over_max >= math.log(cfg.high_amount_over_max):
            return f"amount {o.amount_ratio:.0f}x this customer's usual for {quoted(o.category)}"
    elif o.amount_z >= cfg.high_amount_z:
            return f"amount {o.amount_ratio:.0f}x the usual amount (new customer)"
    return None


def odd_hour(o: Observation, cfg: Knobs) -> str | None:
    if (
        in_night(o.hour, cfg.night_mask)
        and o.night_total >= cfg.odd_hour_min_history
        and o.night_share <= cfg.odd_hour_max_share
    ):
        return f"{o.hour:02d} h purchase; {o.night_count} of {o.night_total} earlier ones at night"
    return None


def duplicate(o: Observation, cfg: Knobs) -> str | None:
    if o.dup_age_s is None:
        return None
    return f"same amount, category and channel as a purchase {duration(o.dup_age_s)} earlier"


def burst(o: Observation, cfg: Knobs) -> str | None:
    if o.burst_count >= cfg.burst_min_count:
        return f"{ordinal(o.burst_count)} purchase in {duration(max(o.burst_span_s, 1.0))}"
    return None


def needed_seconds(o: Observation, cfg: Knobs) -> float:
    """Shortest plausible trip between the previous and this event's country."""
    return max(0.0, o.travel_km - cfg.travel_slack_km) / cfg.travel_speed_kmh * 3600.0


def impossible_travel(o: Observation, cfg: Knobs) -> str | None:
    if o.travel_km <= 0 or o.travel_dt_s >= needed_seconds(o, cfg):
        return None
    if o.hop_rate > cfg.travel_max_hop_rate:
        return None
    # familiar: this share of the customer's events, or of their recent ones (a new home)
    if o.history and max(o.country_seen / o.history, o.country_recent) >= \
            cfg.travel_familiar_share:
        return None
    return (f"{quoted(o.country)} {duration(o.travel_dt_s)} after a purchase in "
            f"{quoted(o.prev_country)}")


def new_country(o: Observation, cfg: Knobs) -> str | None:
    if (
        o.country_seen == 0
        and o.history >= cfg.new_country_min_history
        and o.novel_rate <= cfg.new_country_max_rate
    ):
        return f"{quoted(o.country)} never seen for this customer ({o.history} earlier purchases)"
    return None


#: Every rule by name, in `shared.columns.RULE_NAMES` order.
RULES: dict[str, Rule] = {
    "high_amount": high_amount,
    "odd_hour": odd_hour,
    "duplicate": duplicate,
    "burst": burst,
    "impossible_travel": impossible_travel,
    "new_country": new_country,
}


def apply_rules(o: Observation, cfg: Knobs) -> dict[str, str]:
    """Reason of every rule that fires, by rule name, in `RULES` order."""
    fired: dict[str, str] = {}
    for name, rule in RULES.items():
        reason = rule(o, cfg)
        if reason is not None:
            fired[name] = reason
    return fired


__all__ = ["RULES", "apply_rules", "duration", "needed_seconds", "ordinal"]
