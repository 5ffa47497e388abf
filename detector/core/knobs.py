"""The settings the per-row core reads, as one native object built once from a `CoreConfig`.

`CoreConfig` (pydantic: validation, defaults, docs) stays the one declared contract; `Knobs`
only copies the fields the compiled modules read per row, under the same names, and a few
values derived from them. Compiled by mypyc, each read is a field of a C struct instead of
a generic attribute look-up on the pydantic model (about a tenth of the compiled core's
instructions, docs/benchmarks.md). The engine builds it in `PartitionEngine.__init__`; it
is never stored in a snapshot. tests/unit/test_core_knobs.py checks that every field
`FIELDS` names, and every `CoreConfig` field a compiled module reads, is carried and equal.
"""

from __future__ import annotations

from typing import Final, final

from detector.core.config import CoreConfig

#: The `CoreConfig` fields `Knobs` carries, under their own names.
FIELDS: Final[tuple[str, ...]] = (
    "amount_history", "burst_min_count", "burst_window_s", "context_size", "context_weight",
    "dormancy_alpha", "duplicate_window_s", "high_amount_over_max", "high_amount_ratio",
    "high_amount_z", "hour_change_prior", "max_population_keys", "max_seen", "min_history",
    "ml_threshold",
    "model_weight", "new_country_max_rate", "new_country_min_history", "new_value_prior",
    "odd_hour_max_share", "odd_hour_min_history", "prior_bands", "prior_weight",
    "quarantine_above", "quarantine_discount", "quarantine_s", "rate_windows_s",
    "repeat_window_s", "round_amounts", "rule_surprise", "score_half", "score_threshold",
    "similar_window_s", "surprise_cap",
    "surprise_floor", "travel_familiar_share",
    "travel_max_hop_rate", "travel_slack_km", "travel_speed_kmh", "travel_unknown_km",
    "variety_window_s", "wake_s",
)


def night_hours(start: int, end: int) -> tuple[int, ...]:
    """The hours of the night `start` (inclusive) to `end` (exclusive), across midnight if
    `end` <= `start`."""
    return tuple(h % 24 for h in range(start, end if end > start else end + 24))


def in_night(hour: int, mask: bytes) -> bool:
    """Whether `hour` is a night hour, `hour in Knobs.night_hours` (every such hour is in
    0..23), read from `Knobs.night_mask`: the rules' night and the features' alike."""
    return 0 <= hour < 24 and mask[hour] != 0


@final
class Knobs:
    """`CoreConfig`'s per-row settings (see the module docstring); read-only."""

    def __init__(self, cfg: CoreConfig) -> None:
        # --- carried (`FIELDS`): each the `CoreConfig` field of its name ------------------
        self.amount_history: Final[int] = cfg.amount_history
        self.burst_min_count: Final[int] = cfg.burst_min_count
        self.burst_window_s: Final[float] = cfg.burst_window_s
        self.context_size: Final[int] = cfg.context_size
        self.context_weight: Final[float] = cfg.context_weight
        self.dormancy_alpha: Final[float] = cfg.dormancy_alpha
        self.duplicate_window_s: Final[float] = cfg.duplicate_window_s
        self.high_amount_over_max: Final[float] = cfg.high_amount_over_max
        self.high_amount_ratio: Final[float] = cfg.high_amount_ratio
        self.high_amount_z: Final[float] = cfg.high_amount_z
        self.hour_change_prior: Final[float] = cfg.hour_change_prior
        self.max_population_keys: Final[int] = cfg.max_population_keys
        self.max_seen: Final[int] = cfg.max_seen
        self.min_history: Final[int] = cfg.min_history
        self.ml_threshold: Final[float] = cfg.ml_threshold
        self.model_weight: Final[float] = cfg.model_weight
        self.new_country_max_rate: Final[float] = cfg.new_country_max_rate
        self.new_country_min_history: Final[int] = cfg.new_country_min_history
        self.new_value_prior: Final[float] = cfg.new_value_prior
        self.odd_hour_max_share: Final[float] = cfg.odd_hour_max_share
        self.odd_hour_min_history: Final[int] = cfg.odd_hour_min_history
        self.prior_bands: Final[tuple[int, ...]] = cfg.prior_bands
        self.prior_weight: Final[float] = cfg.prior_weight
        self.quarantine_above: Final[float] = cfg.quarantine_above
        self.quarantine_discount: Final[float] = cfg.quarantine_discount
        self.quarantine_s: Final[float] = cfg.quarantine_s
        self.rate_windows_s: Final[tuple[float, ...]] = cfg.rate_windows_s
        self.repeat_window_s: Final[float] = cfg.repeat_window_s
        self.round_amounts: Final[bool] = cfg.round_amounts
        self.rule_surprise: Final[float] = cfg.rule_surprise
        self.score_half: Final[float] = cfg.score_half
        self.score_threshold: Final[float] = cfg.score_threshold
        self.similar_window_s: Final[float] = cfg.similar_window_s
        self.surprise_cap: Final[float] = cfg.surprise_cap
        self.surprise_floor: Final[float] = cfg.surprise_floor
        self.travel_familiar_share: Final[float] = cfg.travel_familiar_share
        self.travel_max_hop_rate: Final[float] = cfg.travel_max_hop_rate
        self.travel_slack_km: Final[float] = cfg.travel_slack_km
        self.travel_speed_kmh: Final[float] = cfg.travel_speed_kmh
        self.travel_unknown_km: Final[float] = cfg.travel_unknown_km
        self.variety_window_s: Final[float] = cfg.variety_window_s
        self.wake_s: Final[float] = cfg.wake_s
        # --- derived: computed once instead of per row --------------------------------------
        #: `night_hours(night_start_hour, night_end_hour)`: the per-row code reads the night
        #: only as these hours or `night_mask` (`in_night`), never its two ends.
        self.night_hours: Final[tuple[int, ...]] = night_hours(
            cfg.night_start_hour, cfg.night_end_hour)
        #: `night_mask[h]` is 1 if hour h is in `night_hours`, else 0 (24 bytes: a native
        #: test where `h in night_hours` compares boxed ints one by one).
        self.night_mask: Final[bytes] = bytes(
            1 if h in self.night_hours else 0 for h in range(24))
        #: The longest activity window, `max(rate_windows_s)`.
        self.rate_horizon_s: Final[float] = max(cfg.rate_windows_s)
        #: How far back `CustomerState.days` keeps events for the repetition over days
        #: (at most `habits.MAX_WINDOW`): `similar_window_s`, or 0 (none kept, the test
        #: off) unless it is longer than `repeat_window_s`.
        self.days_s: Final[float] = (cfg.similar_window_s
                                     if cfg.similar_window_s > cfg.repeat_window_s else 0.0)


__all__ = ["FIELDS", "Knobs", "in_night", "night_hours"]
