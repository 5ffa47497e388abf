"""Reasons never repeat a field's value unboundedly (a huge category made a 2.7 MB message)."""

from __future__ import annotations

from detector.core.config import CoreConfig
from detector.core.evidence import VALUE_CHARS, components
from detector.core.features import Observation


def _observation(country: str, category: str) -> Observation:
    o = Observation()
    values: dict[str, object] = {
        "amount": 5000.0, "amount_dev": 9.0, "amount_ratio": 20.0, "amount_z": 9.0,
        "over_max": 2.0, "log_amount": 8.5, "history": 50, "gap_s": 30.0, "gap_surprise": 9.0,
        "burst_count": 6, "burst_span_s": 60.0, "dup_age_s": 120.0, "hour": 3,
        "hour_surprise": 5.0, "night_share": 0.0, "night_count": 0, "night_total": 50,
        "country": country, "prev_country": country + "-before", "country_seen": 0,
        "country_surprise": 9.0, "country_rarity": 9.0, "hop_rate": 0.0, "novel_rate": 0.0,
        "travel_km": 9000.0, "travel_dt_s": 600.0, "travel_speed": 54000.0,
        "category": category, "category_seen": 0, "category_surprise": 9.0,
        "category_rarity": 9.0, "channel_seen": 0, "channel_surprise": 9.0, "device_seen": 0,
        "device_surprise": 9.0,
    }
    for name in Observation.__slots__:
        setattr(o, name, values[name])
    return o


def test_long_values_are_cut_in_every_reason() -> None:
    huge = "x" * 900_000
    reasons = [r for _, _, r in components(_observation(huge, huge), CoreConfig())]
    kinds = {k for _, k, _ in components(_observation(huge, huge), CoreConfig())}
    assert {"high_amount", "new_country", "impossible_travel", "category"} <= kinds
    assert all(len(r) < 3 * VALUE_CHARS + 80 for r in reasons), max(map(len, reasons))
    assert any("x" * VALUE_CHARS + "…" in r for r in reasons)


def test_short_values_are_kept_whole() -> None:
    reasons = [r for _, _, r in components(_observation("CN", "electronics"), CoreConfig())]
    assert any("for electronics" in r for r in reasons)
    assert any(r.startswith("CN ") for r in reasons)
    assert not any("…" in r for r in reasons)
