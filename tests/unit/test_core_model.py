"""The model wrapper: fit points, calibration that means the same across refits, the sample."""

from __future__ import annotations

import numpy as np
import pytest

from detector.core.config import CoreConfig
from detector.core.model import FeatureSample, FittedModel, fit, fit_rows, is_fit_point


def _score(model: FittedModel, surprise: float) -> float:
    """`model_score` of one row (`FittedModel.scores`)."""
    return float(model.scores(np.array([surprise], dtype=np.float64))[0])

CONFIG = CoreConfig(first_fit_after=100, refit_every=250, n_trees=20, sample_size=512)


def test_fit_points_are_defined_by_position_only() -> None:
    points = [p for p in range(1000) if is_fit_point(p, CONFIG)]
    assert points == [100, 350, 600, 850]


def test_calibration_maps_each_training_sample_to_the_same_scale() -> None:
    rng = np.random.default_rng(0)
    for number, spread in ((1, 1.0), (2, 25.0)):
        sample = FeatureSample(512, 4)
        sample.extend([tuple(r) for r in rng.normal(scale=spread, size=(600, 4))])
        model = fit(sample, number, CONFIG)
        surprise = model.strength(sample.view().astype(np.float64))
        assert model.version == f"if-v{number}"
        # A surprise: on its own training sample, P(surprise > s) is about e^-s.
        for s in (1.0, 2.0, 3.0):
            assert abs(float((surprise > s).mean()) - np.exp(-s)) < 0.2 * np.exp(-s)
        assert _score(model, float(surprise.max())) <= 1.0
        assert _score(model, float(np.log(513.0))) == 1.0


def test_same_sample_and_seed_fit_the_same_model() -> None:
    rng = np.random.default_rng(1)
    sample = FeatureSample(256, 3)
    sample.extend([tuple(r) for r in rng.normal(size=(300, 3))])
    probe = rng.normal(size=(50, 3))
    first, again = fit(sample, 1, CONFIG), fit(sample, 1, CONFIG)
    assert np.array_equal(first.strength(probe), again.strength(probe))


def test_bulk_and_row_by_row_sampling_keep_the_same_recent_rows() -> None:
    rng = np.random.default_rng(2)
    rows = [tuple(r) for r in rng.normal(size=(97, 3))]
    one, bulk = FeatureSample(10, 3), FeatureSample(10, 3)
    for row in rows:
        one.add(row)
    for lo in range(0, len(rows), 13):
        bulk.extend(rows[lo : lo + 13])
    assert one.count == bulk.count == 97
    assert np.array_equal(one.view(), bulk.view())
    assert np.allclose(bulk.view()[-1], rows[-1])


def _rows(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32)


def test_the_strength_of_training_rows_runs_from_zero_to_ln_n_plus_1_over_2() -> None:
    """-ln((rows at least as isolated + 1) / (N + 1)): the least isolated training row has
    every row at least as isolated (0 exactly), the most isolated only itself."""
    rows = _rows(200)
    model = fit_rows(rows, 1, CONFIG)
    strength = model.strength(rows.astype(np.float64))
    assert float(strength.min()) == 0.0
    assert float(strength.max()) == pytest.approx(np.log(201 / 2))
    beyond = model.strength(np.full((1, 4), 1e3))
    assert float(beyond[0]) == pytest.approx(np.log(201))  # more isolated than every row
    assert _score(model, float(beyond[0])) == 1.0


def test_model_score_is_the_surprise_over_its_largest_value() -> None:
    model = fit_rows(_rows(200), 1, CONFIG)
    assert _score(model, np.log(201) / 2) == pytest.approx(0.5)
    assert _score(model, 0.0) == 0.0 and _score(model, -1.0) == 0.0
    # 0..1 whatever the surprise handed in: one above the largest value still scores 1
    assert _score(model, np.log(201) * 1.5) == 1.0 and _score(model, 1e9) == 1.0


@pytest.mark.parametrize(("max_samples", "rows", "used"), [(64, 200, 64), (128, 100, 100)])
def test_each_tree_sees_max_samples_rows_or_the_whole_sample_if_smaller(
        max_samples: int, rows: int, used: int) -> None:
    cfg = CoreConfig(n_trees=8, max_samples=max_samples)
    assert fit_rows(_rows(rows), 1, cfg).forest.max_samples_ == used
