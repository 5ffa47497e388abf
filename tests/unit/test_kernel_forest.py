"""detector/kernel/forest.py: the compiled walk down the forest gives `ForestArrays`'
isolation (so scikit-learn's scores) to the bit: any fitted forest, values on the
thresholds and one float32 step either side, infinities, missing values, ties, batches of
one row and beyond a chunk."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.core.config import CoreConfig
from detector.core.forestarrays import CHUNK, pack
from detector.core.model import fit_rows
from tests.ci import IN_CI
from tests.unit.test_forest_arrays import _forest, _probe, _reference

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")

from detector.kernel.forest import depths


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")  # 1e300 as float32: inf
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), width=st.integers(1, 12), rows=st.integers(2, 300),
       trees=st.integers(1, 30), samples=st.integers(2, 256), repeats=st.booleans(),
       missing=st.booleans())
def test_equal_to_the_arrays_and_scikit_learn_on_any_fitted_forest(
        seed: int, width: int, rows: int, trees: int, samples: int, repeats: bool,
        missing: bool) -> None:
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(rows, width)).astype(np.float32).astype(np.float64)
    if repeats:  # ties and constant columns leave several rows in a leaf
        data = np.round(data)
    if missing:  # learnt with missing values: each node sends them left or right
        data[rng.random(data.shape) < 0.1] = np.nan
    forest = _forest(data, trees, min(samples, rows), seed)
    arrays = pack(forest, data, _reference(forest, data))
    assert arrays is not None
    probe = _probe(rng, forest, width, np.nan)
    if missing:
        probe[rng.random(probe.shape) < 0.3] = np.nan
    walked = arrays.isolation(probe, depths)
    assert np.array_equal(walked, arrays.isolation(probe))
    assert np.array_equal(walked, _reference(forest, probe))
    assert np.array_equal(arrays.isolation(probe[:1], depths), _reference(forest, probe[:1]))


def test_a_batch_beyond_a_chunk_and_a_single_row() -> None:
    data = np.random.default_rng(11).normal(size=(500, 5))
    forest = _forest(data, trees=40, samples=256)
    arrays = pack(forest, data, _reference(forest, data))
    assert arrays is not None
    probe = np.random.default_rng(12).normal(scale=2.0, size=(3 * CHUNK + 7, 5))
    assert np.array_equal(arrays.isolation(probe, depths), arrays.isolation(probe))
    assert np.array_equal(arrays.isolation(probe[5:6], depths), arrays.isolation(probe[5:6]))
    assert np.array_equal(arrays.isolation(probe[:0], depths), arrays.isolation(probe[:0]))


def test_the_model_strength_is_the_same_through_the_walk() -> None:
    cfg = CoreConfig(n_trees=16, max_samples=128)
    rows = np.random.default_rng(8).normal(size=(600, 6)).astype(np.float32)
    model = fit_rows(rows, 3, cfg)
    probe = np.random.default_rng(9).normal(scale=2.0, size=(300, 6))
    assert np.array_equal(model.strength(probe, depths), model.strength(probe))
