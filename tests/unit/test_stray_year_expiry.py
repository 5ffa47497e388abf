"""One row dated years ahead (a mistyped year, which the schema takes up to 2100) expires no
customer (twelfth hostile probe, 2026-12-06): measured from it every customer of the
partition was idle past `customer_ttl_s`, and that one row dropped them all, so every later
row of the partition scored as a new customer's (score 0.0), on every core."""

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

CORES = ("python", "kernel")
ROWS = stream(330)
TTL = dt.timedelta(seconds=CONFIG.customer_ttl_s)
LAST = ROWS[299]  # the last row before the stray one: its customer the most recently seen


def _row(name: str, at: dt.datetime) -> Any:
    return LAST.model_copy(update={"transaction_id": name, "customer_id": name,
                                   "timestamp": at})


def _run(core: str, extra: list[Any]) -> tuple[int, list[float | None]]:
    """Customers held after the first 300 rows and `extra`, and the next 30 rows' scores."""
    with core_switch(core):
        engine = PartitionEngine(CONFIG, 0)
        engine.process(ROWS[:300] + extra)
        held = len(engine.checkpoint(full=True).customers)
        return held, [v.score for v in engine.process(ROWS[300:])]


@pytest.mark.parametrize("core", CORES)
def test_a_row_dated_years_ahead_drops_no_customer(core: str) -> None:
    held, scores = _run(core, [_row("typo", LAST.timestamp.replace(year=2100))])
    plain_held, plain_scores = _run(core, [])
    assert (held, plain_held) == (31, 30)
    assert scores == pytest.approx(plain_scores, abs=0.01)
    assert scores.count(0.0) == plain_scores.count(0.0) == 10  # of 30 (before: 30)


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize(("past_ttl_s", "held", "kept"), [(-1, 2, 1), (0, 2, 0), (1, 31, 0)])
def test_a_row_expires_only_within_the_ttl_of_the_newest_customer(
        core: str, past_ttl_s: int, held: int, kept: int) -> None:
    """A row up to the ttl past the newest customer's last event drops every customer idle
    past the ttl (all but that newest one); one second later it is stray and drops no one,
    and the next row, a second later, measured from it, drops every customer idle past the
    ttl then (`kept`: the newest one only when that is exactly the ttl)."""
    newest = max(r.timestamp for r in ROWS[:300])
    at = newest + TTL + dt.timedelta(seconds=past_ttl_s)
    with core_switch(core):
        engine = PartitionEngine(CONFIG, 0)
        engine.process([*ROWS[:300], _row("first", at)])
        assert len(engine.checkpoint(full=True).customers) == held
        engine.process([_row("second", at + dt.timedelta(seconds=1))])
        left = sorted(cid for cid, _ in engine.checkpoint(full=True).customers)
    newest_ids = sorted({r.customer_id for r in ROWS[:300] if r.timestamp == newest})
    assert left == newest_ids * kept + ["first", "second"]
