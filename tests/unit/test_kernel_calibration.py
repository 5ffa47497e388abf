"""detector/kernel/calibration.py: the kernel's recalibration learns and maps a row's terms
as `Recalibration` does, to the bit, row after row: through the first maps (512 rows), each
recompute (every 256), maps of one and two points, slopes at both clamps, the moving
window's halving, and values at bin edges, below 0 and beyond the cap."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.core.calibration import TERMS, Recalibration
from detector.kernel import calibration as kc
from tests.ci import IN_CI

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")

CAP = 12.0


def test_constants_are_the_cores() -> None:
    assert kc.LEVELS == Recalibration.LEVELS
    assert (kc.BINS_PER_UNIT, kc.MIN_ROWS, kc.EVERY, kc.WINDOW) == (
        Recalibration.BINS_PER_UNIT, Recalibration.MIN_ROWS, Recalibration.EVERY,
        Recalibration.WINDOW)


def _row(rng: random.Random, heavy: float) -> list[float]:
    """Terms: exponential (calibrated), some far heavier (`heavy`: maps), some exactly on
    a bin edge, 0, negative, or beyond the cap."""
    out = []
    for i in range(len(TERMS)):
        u = rng.random()
        if u < 0.05:
            out.append(rng.choice([0.0, -0.0, -1.5, CAP, CAP + 3.0, 2.9, 3.0, 4.0, 0.1]))
        elif i % 4 == 0:
            out.append(rng.expovariate(1.0 / heavy))
        elif i % 4 == 1:
            out.append(rng.uniform(0.0, 2.5))
        else:
            out.append(rng.expovariate(1.0))
    return out


def _same(cal: Recalibration, a: kc.CalibrationArrays) -> None:
    back = kc.from_arrays(a, CAP)
    assert back.hist == cal.hist
    assert [x.hex() for x in back.scales] == [x.hex() for x in cal.scales]
    assert [[[x.hex() for x in p] for p in s] for s in back.shapes] == \
        [[[x.hex() for x in p] for p in s] for s in cal.shapes]
    assert back.total == cal.total


def _run(seed: int, rows: int, heavy: float, start_total: int = 0) -> tuple[int, int]:
    rng = random.Random(seed)
    cal = Recalibration(CAP)
    cal.total = start_total
    a = kc.to_arrays(cal)
    out = np.empty(len(TERMS))
    maps = halvings = 0
    for _ in range(rows):
        raw = _row(rng, heavy)
        want = cal.apply(raw)
        kc.apply(np.array(raw), out, a.shapes, a.shape_len, a.scales)
        assert [x.hex() for x in out] == [x.hex() for x in want]
        before = cal.total
        cal.learn(raw)
        kc.learn(np.array(raw), a.hist, a.total, a.shapes, a.shape_len, a.scales)
        halvings += cal.total < before
        if cal.total % 256 == 0 or cal.total < before:
            _same(cal, a)
        maps = max(maps, sum(len(s) for s in cal.shapes))
    _same(cal, a)
    return maps, halvings


def test_rows_through_the_first_maps_and_recomputes() -> None:
    maps, _ = _run(seed=1, rows=3_000, heavy=2.5)
    assert maps >= 4  # several terms mapped, some with two points


def test_the_moving_window_halves() -> None:
    """Started just below the window (a restored count): the halving happens on the
    kernel's row as on the core's, and the sums after it agree."""
    _, halvings = _run(seed=3, rows=600, heavy=3.0, start_total=Recalibration.WINDOW - 300)
    assert halvings == 1


@settings(deadline=None, max_examples=60)
@given(st.lists(st.floats(-2.0, 15.0, allow_nan=False), min_size=12, max_size=12),
       st.lists(st.tuples(st.floats(0.1, 12.0), st.floats(0.1, 12.0)), max_size=2),
       st.floats(1.0 / 3.0, 1.0))
def test_apply_on_any_map(values: list[float], points: list[tuple[float, float]],
                          slope: float) -> None:
    cal = Recalibration(CAP)
    pts = sorted({p[0]: p for p in points}.values())
    cal.shapes = [[list(p) for p in pts] for _ in TERMS]
    cal.scales = [slope] * len(TERMS)
    a = kc.to_arrays(cal)
    out = np.empty(len(TERMS))
    kc.apply(np.array(values), out, a.shapes, a.shape_len, a.scales)
    assert [x.hex() for x in out] == [x.hex() for x in cal.apply(values)]


def test_a_lump_in_one_bin_gives_one_point() -> None:
    """A term with a tenth of its rows at exactly 5.0: both levels' edges fall in that bin,
    so the second is skipped (a map of one point, not two at one place)."""
    rng = random.Random(4)
    cal = Recalibration(CAP)
    a = kc.to_arrays(cal)
    for _ in range(1_024):
        raw = [5.0 if rng.random() < 0.1 else rng.expovariate(1.0) for _ in TERMS]
        cal.learn(raw)
        kc.learn(np.array(raw), a.hist, a.total, a.shapes, a.shape_len, a.scales)
    assert [len(s) for s in cal.shapes] == [1] * len(TERMS)
    _same(cal, a)


def test_a_map_of_two_points_recomputed_as_one_forgets_the_second() -> None:
    """A restored map of two points per term, then rows whose recompute gives one point
    (the lump of `test_a_lump_in_one_bin_gives_one_point`): the slope is from the origin to
    that point, as the core's, never from the old second point left in the arrays. Found
    by bench/kernel_mutation.py: `_rescale` taking a one-point map's start from the slot
    before it (`m == 0` for `m == 1`, so index -1: the stale point) went unnoticed, every
    one-point map in the tests having been computed into zeroed arrays."""
    rng = random.Random(4)
    cal = Recalibration(CAP)
    cal.shapes = [[[3.5, 3.0], [4.5, 4.0]] for _ in TERMS]
    cal.scales = [0.5] * len(TERMS)
    a = kc.to_arrays(cal)
    for _ in range(1_024):
        raw = [5.0 if rng.random() < 0.1 else rng.expovariate(1.0) for _ in TERMS]
        cal.learn(raw)
        kc.learn(np.array(raw), a.hist, a.total, a.shapes, a.shape_len, a.scales)
    assert [len(s) for s in cal.shapes] == [1] * len(TERMS)
    assert a.shapes[:, 1, 0].tolist() == [4.5] * len(TERMS)  # the old point still there
    _same(cal, a)
