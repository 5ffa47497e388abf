"""detector/kernel/geo.py: the kernel's great-circle distance over the centroid table equals
the core's `geo.distance_km` to the bit, over every pair of countries it knows, unknown ones
and other spellings; the shell's table grows as codes arrive."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.core import geo
from detector.kernel import geo as kernel
from detector.kernel.codes import Codes
from tests.ci import IN_CI

if not IN_CI:  # in CI a missing numba fails the run , never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")

#: Every known country, then spellings the core upper-cases, then unknown ones ("" is a
#: fresh customer's `last_country`).
VALUES = [*geo.CENTROIDS, "ch", "Us", "gB", "", "XX", "zz", "Switzerland", "C H"]


def _distance(a: str, b: str, unknown_km: float, codes: Codes, table: np.ndarray) -> float:
    return kernel.distance_km(codes.code(a), codes.code(b), unknown_km, table, 2.0)


def test_the_earth_is_the_cores() -> None:
    assert kernel.EARTH_KM == geo._EARTH_KM


def test_every_pair_of_countries() -> None:
    """All ordered pairs (the same country included) of known, re-spelt and unknown
    countries, at two distances for the unknown: the haversine's sin, cos, asin, sqrt and
    squares to the bit."""
    codes = Codes()
    for value in VALUES:
        codes.code(value)
    table = kernel.centroid_table(codes.values)
    known = 0
    for a in VALUES:
        for b in VALUES:
            for unknown_km in (2500.0, 0.0):
                want = geo.distance_km(a, b, unknown_km)
                assert _distance(a, b, unknown_km, codes, table).hex() == want.hex(), (a, b)
                known += want not in (0.0, unknown_km)
    assert known > 2 * len(geo.CENTROIDS) ** 2 - 1000


@settings(deadline=None)  # the first example compiles the kernel (or loads it)
@given(st.sampled_from(VALUES), st.sampled_from(VALUES), st.floats(0.0, 1e9))
def test_distance_is_the_cores(a: str, b: str, unknown_km: float) -> None:
    codes = Codes()  # codes in this example's order (b first): their values never matter
    codes.code(b)
    codes.code(a)
    table = kernel.centroid_table(codes.values)
    want = geo.distance_km(a, b, unknown_km)
    assert _distance(a, b, unknown_km, codes, table).hex() == want.hex()


def test_the_table_grows_as_codes_arrive() -> None:
    """Filled in steps (the shell's, per batch), the table is the one filled at once; a
    known country's row is its centroid in radians, an unknown one's NaN."""
    whole = kernel.centroid_table(VALUES)
    table = kernel.centroid_table([])
    assert table.shape == (0, 2)
    for end in (1, 5, 5, 40, len(VALUES)):
        table = kernel.centroid_table(VALUES[:end], table)
        assert table.shape == (end, 2)
    np.testing.assert_array_equal(table, whole)
    assert kernel.centroid_table(VALUES, whole) is whole  # nothing new: kept
    for code, value in enumerate(VALUES):
        at = geo.CENTROIDS.get(value.upper())
        if at is None:
            assert math.isnan(whole[code, 0]) and math.isnan(whole[code, 1])
        else:
            assert (whole[code, 0], whole[code, 1]) == (math.radians(at[0]), math.radians(at[1]))


def test_the_moves_of_generated_customers() -> None:
    """Each customer's changes of country in generated rows (the pairs the engine asks
    for: the previous country, this one), codes in order of first arrival."""
    from producer.generator import generate, mix_config

    codes = Codes()
    table = kernel.centroid_table([])
    last: dict[str, str] = {}
    moves = 0
    rows = sorted(generate(mix_config("extended", seed=4, customers=200, days=20)),
                  key=lambda tx: tx.timestamp)
    for tx in rows:
        before = last.get(tx.customer_id, "")
        last[tx.customer_id] = tx.country
        codes.code(before)
        codes.code(tx.country)
        table = kernel.centroid_table(codes.values, table)
        if before != tx.country:
            want = geo.distance_km(before, tx.country, 2500.0)
            assert _distance(before, tx.country, 2500.0, codes, table).hex() == want.hex()
            moves += 1
    assert moves > 300
