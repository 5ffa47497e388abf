"""The forest as arrays gives scikit-learn's scores to the bit, or is not used."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.ensemble import IsolationForest

from detector.core.config import CoreConfig
from detector.core.forestarrays import CHUNK, pack
from detector.core.model import fit_rows


def _forest(data: np.ndarray, trees: int = 20, samples: int | float = 64, seed: int = 1,
            **kw: object) -> IsolationForest:
    return IsolationForest(n_estimators=trees, max_samples=samples, random_state=seed,
                           **kw).fit(data)


def _reference(forest: IsolationForest, rows: np.ndarray) -> np.ndarray:
    return np.asarray(-forest.score_samples(rows))


def _edges(forest: IsolationForest, width: int) -> np.ndarray:
    """Rows whose values sit on the trees' thresholds: the float32 nearest each threshold
    and the float32 either side of it, one feature at a time."""
    rows = []
    for estimator in forest.estimators_[:3]:
        tree = estimator.tree_
        for node in np.flatnonzero(tree.children_left != -1)[:8]:
            at = np.float32(tree.threshold[node])
            for value in (np.nextafter(at, np.float32(-np.inf)), at,
                          np.nextafter(at, np.float32(np.inf))):
                row = np.zeros(width, dtype=np.float32)
                row[tree.feature[node]] = value
                rows.append(row)
    return np.asarray(rows, dtype=np.float64)


def _probe(rng: np.random.Generator, forest: IsolationForest, width: int,
           *extra: float) -> np.ndarray:
    """Rows to score: random ones, the thresholds' edges (`_edges`), then one row of each
    of infinity, minus infinity, 1e300 (infinity as float32), -0.0 and `extra`."""
    specials = (np.inf, -np.inf, 1e300, -0.0, *extra)
    return np.vstack([rng.normal(scale=3.0, size=(50, width)),
                      _edges(forest, width).reshape(-1, width),
                      *(np.full((1, width), v) for v in specials)])


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")  # 1e300 as float32: inf
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), width=st.integers(1, 12), rows=st.integers(2, 300),
       trees=st.integers(1, 30), samples=st.integers(2, 256), repeats=st.booleans())
def test_equal_to_scikit_learn_on_any_fitted_forest(
        seed: int, width: int, rows: int, trees: int, samples: int, repeats: bool) -> None:
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(rows, width)).astype(np.float32).astype(np.float64)
    if repeats:  # ties and constant columns leave several rows in a leaf
        data = np.round(data)
    forest = _forest(data, trees, min(samples, rows), seed)
    arrays = pack(forest, data, _reference(forest, data))
    assert arrays is not None
    probe = _probe(rng, forest, width)
    assert np.array_equal(arrays.isolation(probe), _reference(forest, probe))
    assert np.array_equal(arrays.isolation(probe[:1]), _reference(forest, probe[:1]))


def test_missing_values_go_where_each_node_sends_them() -> None:
    rng = np.random.default_rng(3)
    data = rng.normal(size=(400, 3))
    data[rng.random(data.shape) < 0.1] = np.nan  # learnt with missing values
    forest = _forest(data, samples=128)
    nan_left = [e.tree_.missing_go_to_left[e.tree_.children_left != -1] for e in
                forest.estimators_]
    assert any(side.any() for side in nan_left) and any((~side).any() for side in nan_left)
    arrays = pack(forest, data, _reference(forest, data))
    assert arrays is not None
    probe = rng.normal(size=(200, 3))
    probe[rng.random(probe.shape) < 0.3] = np.nan
    assert np.array_equal(arrays.isolation(probe), _reference(forest, probe))


def test_one_training_row_scores_as_scikit_learn_does() -> None:
    data = np.array([[1.0, 2.0]])
    forest = _forest(data, samples=1)
    arrays = pack(forest, data, _reference(forest, data))
    assert arrays is not None
    probe = np.array([[0.0, 0.0], [5.0, -1.0]])
    assert np.array_equal(arrays.isolation(probe), _reference(forest, probe))


def test_not_used_unless_it_matches_to_the_last_bit() -> None:
    data = np.random.default_rng(4).normal(size=(200, 4))
    forest = _forest(data)
    expected = _reference(forest, data)
    assert pack(forest, data, expected) is not None
    expected[17] = np.nextafter(expected[17], np.inf)  # one value one unit away
    assert pack(forest, data, expected) is None


def test_not_used_for_trees_on_subsampled_features() -> None:
    data = np.random.default_rng(5).normal(size=(200, 4))
    forest = _forest(data, max_features=0.5)
    assert pack(forest, data, _reference(forest, data)) is None


def test_not_used_when_scikit_learn_no_longer_has_what_it_reads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = np.random.default_rng(6).normal(size=(200, 4))
    forest = _forest(data)
    monkeypatch.delattr(forest, "_decision_path_lengths")
    assert pack(forest, data, np.zeros(200)) is None


def test_rows_of_another_width_are_refused() -> None:
    data = np.random.default_rng(7).normal(size=(100, 4))
    forest = _forest(data)
    arrays = pack(forest, data, _reference(forest, data))
    assert arrays is not None
    with pytest.raises(ValueError, match="4 features"):
        arrays.isolation(np.zeros((3, 5)))


def test_the_detector_model_scores_through_it_with_the_same_strength() -> None:
    cfg = CoreConfig(n_trees=16, max_samples=128)
    rows = np.random.default_rng(8).normal(size=(600, 6)).astype(np.float32)
    model = fit_rows(rows, 3, cfg)
    assert model.arrays is not None
    probe = np.random.default_rng(9).normal(scale=2.0, size=(300, 6))
    through_sklearn = type(model)(model.version, model.forest, model.ranked, model.number,
                                  model.training, None)
    assert np.array_equal(model.strength(probe), through_sklearn.strength(probe))


def test_a_value_equal_to_a_threshold_goes_left_as_in_scikit_learn() -> None:
    """Thresholds are float64 and values float32, so a fitted forest hardly ever meets an
    exact tie: make every threshold a float32 value, then probe with exactly those."""
    data = np.random.default_rng(10).normal(size=(300, 3))
    forest = _forest(data, trees=10)
    for estimator in forest.estimators_:
        threshold = estimator.tree_.threshold  # a writable view of the tree's nodes
        threshold[:] = threshold.astype(np.float32)
    arrays = pack(forest, data, _reference(forest, data))
    assert arrays is not None
    ties = _edges(forest, 3)[1::3]  # the middle row of each triple: the threshold itself
    assert np.array_equal(arrays.isolation(ties), _reference(forest, ties))
    assert len(ties) >= 10
    with_missing = np.vstack([ties, np.full((1, 3), np.nan)])  # the walk that checks for NaN
    assert np.array_equal(arrays.isolation(with_missing), _reference(forest, with_missing))



@pytest.mark.parametrize("rows", [CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7])
def test_batches_longer_than_a_chunk_score_as_scikit_learn_does(rows: int) -> None:
    rng = np.random.default_rng(13)
    data = rng.normal(size=(400, 4))
    forest = _forest(data, samples=128)
    arrays = pack(forest, data, _reference(forest, data))
    assert arrays is not None
    probe = rng.normal(scale=2.0, size=(rows, 4))
    probe[rows - 1, 0] = np.nan  # in the last chunk only: its own NaN check
    assert np.array_equal(arrays.isolation(probe), _reference(forest, probe))
