"""detector/kernel/forest.py: the compiled walk down the forest gives `ForestArrays`'
isolation (so scikit-learn's scores) to the bit: any fitted forest, values on the
thresholds and one float32 step either side, infinities, missing values, ties, batches of
one row and beyond a chunk; down the complete trees (`ForestArrays.complete`) for rows
without missing values, compiled and as Python, and down the numbered nodes otherwise."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.core import forestarrays
from detector.core.config import CoreConfig
from detector.core.forestarrays import CHUNK, pack
from detector.core.model import fit_rows
from tests.ci import IN_CI
from tests.unit.test_forest_arrays import _forest, _probe, _reference

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")

from detector.kernel import forest as kforest
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


def _complete_depths(arrays: forestarrays.ForestArrays, x: np.ndarray,
                     compiled: bool = True) -> np.ndarray:
    """The path lengths down `arrays.complete` (the compiled walk, or its Python)."""
    complete = arrays.complete
    assert complete is not None
    walk: Any = kforest._walk_complete
    if not compiled:
        walk = walk.py_func  # numba's: the function as written, run as Python
    out = np.full(len(x), np.nan)
    walk(x, complete.feature, complete.threshold, complete.leaf_length, arrays.levels, out)
    return out


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")  # 1e300 as float32: inf
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), width=st.integers(1, 12), rows=st.integers(1, 300),
       trees=st.integers(1, 30), samples=st.integers(1, 256), repeats=st.booleans(),
       missing=st.booleans())
def test_the_complete_trees_walk_as_the_numbered_nodes(
        seed: int, width: int, rows: int, trees: int, samples: int, repeats: bool,
        missing: bool) -> None:
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(rows, width)).astype(np.float32).astype(np.float64)
    if repeats:  # ties and constant columns: leaves above the deepest level
        data = np.round(data)
    if missing:  # learnt with missing values (the probe has none: the complete walk)
        data[rng.random(data.shape) < 0.1] = np.nan
    forest = _forest(data, trees, min(samples, rows), seed)
    arrays = pack(forest, data, _reference(forest, data))
    assert arrays is not None
    rows64 = _probe(rng, forest, width)
    probe = np.ascontiguousarray(rows64, dtype=np.float32)
    expected = arrays._depths(probe)
    assert np.array_equal(_complete_depths(arrays, probe), expected)
    assert np.array_equal(_complete_depths(arrays, probe, compiled=False), expected)
    assert np.array_equal(arrays.isolation(rows64, depths), _reference(forest, rows64))


def test_a_row_with_a_missing_value_walks_the_numbered_nodes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = np.random.default_rng(3).normal(size=(400, 4))
    data[::7, 1] = np.nan  # the nodes send missing values left or right
    forest = _forest(data, trees=12, samples=128)
    arrays = pack(forest, data, _reference(forest, data))
    assert arrays is not None and arrays.complete is not None
    numbered: list[int] = []
    walk = kforest._walk

    def counted(x: np.ndarray, *rest: Any) -> None:
        numbered.append(len(x))
        walk(x, *rest)

    monkeypatch.setattr(kforest, "_walk", counted)
    probe = np.random.default_rng(4).normal(size=(30, 4))
    probe[29, 3] = np.nan  # the batch's last value
    assert np.array_equal(arrays.isolation(probe, depths), _reference(forest, probe))
    assert numbered == [30]
    out = np.full(30, -1.0)
    complete = arrays.complete
    x = np.ascontiguousarray(probe, dtype=np.float32)
    assert not kforest._walk_complete(x, complete.feature, complete.threshold,
                                      complete.leaf_length, arrays.levels, out)
    assert (out == -1.0).all()  # nothing walked
    probe[29, 3] = 0.0
    assert np.array_equal(arrays.isolation(probe, depths), _reference(forest, probe))
    assert numbered == [30]  # the complete trees walked it


def test_a_forest_beyond_the_bound_has_no_complete_trees_and_walks_as_numbered(
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = np.random.default_rng(5).normal(size=(300, 3))
    forest = _forest(data, trees=10, samples=256)
    arrays = pack(forest, data, _reference(forest, data))
    assert arrays is not None
    nodes = 10 << (arrays.levels + 1)
    monkeypatch.setattr(forestarrays, "COMPLETE_NODES", nodes)  # at the bound: laid out
    assert arrays.complete is not None
    monkeypatch.setattr(forestarrays, "COMPLETE_NODES", nodes - 1)  # one node fewer: none
    again = pack(forest, data, _reference(forest, data))
    assert again is not None and again.complete is None
    probe = np.random.default_rng(6).normal(scale=2.0, size=(40, 3))
    assert np.array_equal(again.isolation(probe, depths), _reference(forest, probe))


def test_the_complete_trees_hold_the_node_each_path_of_turns_reaches() -> None:
    data = np.round(np.random.default_rng(7).normal(size=(200, 2)))  # ties: shallow leaves
    forest = _forest(data, trees=6, samples=64)
    arrays = pack(forest, data, _reference(forest, data))
    assert arrays is not None
    complete = arrays.complete
    assert complete is not None
    levels = arrays.levels
    assert complete.feature.shape == (6, (1 << levels) - 1)
    assert complete.leaf_length.shape == (6, 1 << levels)
    shallow = 0
    for t, root in enumerate(arrays.roots.tolist()):
        for h in range((1 << (levels + 1)) - 1):  # heap node h: the turns of h + 1's bits
            node, depth = root, (h + 1).bit_length() - 1
            for bit in range(depth - 1, -1, -1):
                node = arrays.children[2 * node + (((h + 1) >> bit) & 1)]
            if h < (1 << levels) - 1:
                assert complete.feature[t, h] == arrays.feature[node]
                assert complete.threshold[t, h] == arrays.threshold[node]
                shallow += int(arrays.children[2 * node] == node)  # a leaf above the last
            else:
                assert complete.leaf_length[t, h - (1 << levels) + 1] == \
                    arrays.leaf_length[node]
    assert shallow > 0
