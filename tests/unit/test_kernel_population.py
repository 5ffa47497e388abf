"""detector/kernel/population.py `observe`: the population's event count, value counts and
singles, amount ring and its median and spread, row by row as the core's on realistic
rows (the values of suspicious rows not counted), past the ring's length and the
recomputes at the 32nd event and every 256th."""

from __future__ import annotations

from typing import Any

import pytest

from detector.core.config import CoreConfig
from detector.core.knobs import Knobs
from detector.core.state import Population
from detector.kernel import population as kp
from detector.kernel.codes import Codes
from tests.ci import IN_CI
from tests.unit.kernel_rows import core_rows, exact, generated

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")

FIELDS = ("total", "tables", "singles", "amount_ring", "amount_center", "amount_scale")


def _run(config: CoreConfig, txs: list[Any], every: int) -> int:
    knobs = Knobs(config)
    codes = Codes()
    p = kp.to_arrays(Population(), codes, config.max_population_keys)
    rows = held = 0
    for row in core_rows(txs, config):
        o = row.obs
        country, category, channel, device, ipnet = (
            codes.code(x) for x in (o.country, o.category, o.channel, o.device, o.ipnet))
        p = kp.grow_codes(p, len(codes.values))
        values = not (row.total >= knobs.quarantine_above and knobs.quarantine_s > 0)
        held += not values
        kp.observe(p, country, category, channel, device, ipnet, o.log_amount,
                   knobs.max_population_keys, values)
        rows += 1
        if rows % every == 0 or rows in (31, 32, 33, 255, 256, 257):
            back = kp.from_arrays(p, codes)
            for name in FIELDS:
                assert exact(getattr(back, name)) == exact(getattr(row.pop, name)), (rows, name)
    back = kp.from_arrays(p, codes)
    for name in FIELDS:
        assert exact(getattr(back, name)) == exact(getattr(row.pop, name)), name
    assert held > 0
    return rows


def test_realistic_rows_past_the_ring() -> None:
    rows = _run(CoreConfig(first_fit_after=10**9), generated(seed=8, customers=150, days=14),
                every=97)
    assert rows > 2 * Population.RING


def test_tiny_key_bounds() -> None:
    """Tables full at 16 keys (the least allowed; devices and networks fill them): a new
    value is not counted, singles stay exact."""
    _run(CoreConfig(first_fit_after=10**9, max_population_keys=16),
         generated(seed=9, customers=60, days=6), every=13)
