"""detector/kernel/total.py: the round fold, the combined surprise and the score equal the
core's to the bit, at the floor and the cap and one step either side."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.core.config import CoreConfig
from detector.core.knobs import Knobs
from detector.core.surprise import combine, fold_round, to_score
from detector.kernel import total as kt
from tests.ci import IN_CI

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")

KNOBS = Knobs(CoreConfig())
FLOOR, CAP, HALF = KNOBS.surprise_floor, KNOBS.surprise_cap, KNOBS.score_half
EDGES = [0.0, -0.0, FLOOR, math.nextafter(FLOOR, 0.0), math.nextafter(FLOOR, 99.0), CAP,
         math.nextafter(CAP, 0.0), math.nextafter(CAP, 99.0), 1e-9, 7.25]
term = st.one_of(st.sampled_from(EDGES), st.floats(-1.0, 20.0, allow_nan=False))


@settings(deadline=None)
@given(st.lists(term, min_size=12, max_size=12), st.one_of(st.sampled_from(EDGES), term))
def test_fold_combine_and_score_are_the_cores(values: list[float], extra: float) -> None:
    want = list(values)
    fold_round(want, extra, KNOBS)
    got = np.array(values)
    kt.fold_round(got, extra, FLOOR, CAP)
    assert [x.hex() for x in got] == [x.hex() for x in want]
    total = combine(want, KNOBS)
    mine = kt.combine(got, FLOOR)
    assert float(total).hex() == mine.hex()
    assert to_score(total, KNOBS).hex() == kt.to_score(mine, HALF).hex()


def test_nothing_above_the_floor_is_zero() -> None:
    values = [FLOOR] * 12
    assert combine(values, KNOBS) == kt.combine(np.array(values), FLOOR) == 0.0
    assert kt.to_score(0.0, HALF) == 0.0
