"""Knob values a user can set (DETECTOR_CORE__*, `score --seed`) that crashed mid-run.

Found by probing every `CoreConfig` field at and beyond its bounds (2026-12-03): a seed at
the top of scikit-learn's range failed at the first or a later fit (a traceback, exit 1;
for `detect`, hours into a stream), a huge `surprise_cap` sized the recalibration's
histograms by it (`inf` or 1e308: a traceback; 1e7: gigabytes), and a `prior_weight` of
1e308 overflowed an amount's robust z (a traceback at the first low amount).
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from detector.core.config import CoreConfig
from detector.core.model import fit_rows
from detector.offline import score_transactions
from producer.generator import GeneratorConfig, generate
from shared.schemas import Transaction

TOP = 2**32 - 1  # the largest random_state scikit-learn's IsolationForest accepts


def _rows() -> np.ndarray:
    return np.random.default_rng(3).normal(size=(200, 3)).astype(np.float32)


def _fit(seed: int, number: int) -> np.ndarray:
    cfg = CoreConfig(seed=seed, n_trees=8, max_samples=16)
    model = fit_rows(_rows(), number, cfg)
    return model.strength(_rows()[:20].astype(np.float64))


@pytest.mark.parametrize("seed", [0, 1, TOP - 2, TOP - 1, TOP])
def test_a_seed_in_range_fits_at_every_fit_number(seed: int) -> None:
    for number in (1, 2, 3):
        assert _fit(seed, number).shape == (20,)


@pytest.mark.parametrize("seed", [TOP + 1, TOP + 43, 10**23, -1, -(10**23)])
def test_a_seed_that_would_wrap_onto_another_is_refused(seed: int) -> None:
    """2^32 + 42 fitted 42's forests: two seeds, one result (a hostile probe, 2026-12-05)."""
    with pytest.raises(ValidationError, match="seed"):
        CoreConfig(seed=seed)


def test_a_seed_within_range_fits_the_forest_it_always_did() -> None:
    """seed + number at the top of the range (at, and one below) is used as it is; one
    above wraps to 0 (the fit number wraps, never the seed), as seed 0 at fit 0 would be."""
    assert np.array_equal(_fit(TOP - 1, 1), _fit(TOP - 2, 2))  # both random_state TOP
    assert not np.array_equal(_fit(TOP - 1, 1), _fit(TOP - 2, 1))  # TOP vs TOP - 1
    assert np.array_equal(_fit(TOP, 2), _fit(0, 1))  # 2**32 + 1 wraps to 1


@pytest.mark.parametrize("cap", [float("inf"), 1e308, 1e7, 1001.0])
def test_surprise_cap_beyond_any_term_is_refused(cap: float) -> None:
    with pytest.raises(ValidationError, match="surprise_cap"):
        CoreConfig(surprise_cap=cap)


@pytest.mark.parametrize("cap", [12.0, 999.0, 1000.0])
def test_surprise_cap_up_to_the_largest_term_is_accepted(cap: float) -> None:
    assert CoreConfig(surprise_cap=cap).surprise_cap == cap


def _stream() -> list[Transaction]:
    return generate(GeneratorConfig(seed=9, customers=40, days=20))


@pytest.mark.parametrize("weight", [1e308, float("inf"), 1e12 * (1 + 2**-52)])
def test_prior_weight_beyond_any_count_of_events_is_refused(weight: float) -> None:
    """1e308 overflowed the amount's robust z to -inf: int(inf) mid-stream (a traceback)."""
    with pytest.raises(ValidationError, match="prior_weight"):
        CoreConfig(prior_weight=weight)


@pytest.mark.parametrize("weight", [5e-324, 3.0, 1e12])
def test_prior_weight_within_its_range_scores_a_stream(weight: float) -> None:
    rows = _stream()
    scored = score_transactions(rows, CoreConfig(prior_weight=weight, first_fit_after=500))
    assert len(scored) == len(rows)
    assert all(r.score is not None and 0.0 <= r.score <= 1.0 for r in scored)


@pytest.mark.parametrize("windows", [(0.0,), (-300.0,), (300.0, -1.0)])
def test_an_activity_window_of_no_length_is_refused(windows: tuple[float, ...]) -> None:
    """Before: accepted; the longest window is the `rate` term's horizon, so (-300,) turned
    the term off without a word and (0,) judged only purchases in the same second."""
    with pytest.raises(ValidationError, match="rate_windows_s"):
        CoreConfig(rate_windows_s=windows)


@pytest.mark.parametrize("windows", [(5e-324,), (300.0, 3600.0, 86400.0), (86400.0, 300.0)])
def test_an_activity_window_of_any_length_is_accepted(windows: tuple[float, ...]) -> None:
    assert CoreConfig(rate_windows_s=windows).rate_windows_s == windows
