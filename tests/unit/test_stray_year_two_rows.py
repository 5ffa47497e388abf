"""Two rows dated years ahead in a row (one customer's, a device clock off by decades) drop
no customer of the partition, and the later rows score as without them: found 2026-12-06
checking f5b3214 (the second row was measured from the first and every other customer was
idle past `customer_ttl_s`: 1 of 30 held, 23 of the next 30 rows at 0.0), fixed by the
stray customer's next rows measured from the customer seen before it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from detector.core.engine import PartitionEngine
from tests.ci import IN_CI
from tests.cores import core_switch
from tests.unit.state_stream import CONFIG, stream

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency")

ROWS = stream(330)
LAST = ROWS[299]


def _run(core: str, extra: list[Any]) -> tuple[int, list[float | None]]:
    with core_switch(core):
        engine = PartitionEngine(CONFIG, 0)
        engine.process(ROWS[:300] + extra)
        held = len(engine.checkpoint(full=True).customers)
        return held, [v.score for v in engine.process(ROWS[300:])]


@pytest.mark.parametrize("core", ["python", "kernel"])
def test_two_rows_of_one_customer_dated_years_ahead_drop_no_customer(core: str) -> None:
    at = LAST.timestamp.replace(year=2100)
    extra = [LAST.model_copy(update={"transaction_id": f"typo{k}", "customer_id": "typo",
                                     "timestamp": at + dt.timedelta(seconds=k)})
             for k in range(2)]
    held, scores = _run(core, extra)
    plain_held, plain_scores = _run(core, [])
    assert (held, plain_held) == (31, 30)  # before: (1, 30)
    assert scores.count(0.0) == plain_scores.count(0.0) == 10  # of 30 (before: 23)
