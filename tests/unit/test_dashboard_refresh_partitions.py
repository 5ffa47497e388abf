"""The fact table's incremental refresh policy in the service: every row the schema accepts,
dated up to the refresh date, is in exactly one partition (hostile probe leftover,
2026-12-06: with a 2-year archive a row dated 1970 was in none, so the service's model
silently lacked it while Desktop, the `.pbix` and report.html had it).

Power BI's basic policy (year rolling window of N periods, day increments) tiles
[1 January of (refresh year - N), refresh day + 1 day) with year, then month, then day
partitions (Microsoft's example: 5 years refreshed on 1 January 2019 drops 2013), each
running the table's query with its own RangeStart/RangeEnd. The query keeps a day file when
`[Day] >= RangeStart and RangeEnd > [Day]`, Day the file's date at midnight. A row dated
after the refresh day is in no partition (no partition exists past it: how incremental
refresh works; docs/dashboard.md says why no clamp can place it in exactly one).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from itertools import pairwise

import pytest
from pydantic import ValidationError

from dashboard.spec import TABLES
from dashboard.tmdl import partition_m, refresh_policy_tmdl
from shared.dayfiles import day_of
from shared.schemas import ScoredTransaction
from sink.days import day_file
from tests.unit.test_rollup_pandas import random_scored

FACT = next(t for t in TABLES if t.day_folder)
#: The schema's first and last second, and one second either side.
INSIDE = (datetime(1970, 1, 1), datetime(2100, 12, 31, 23, 59, 59))
OUTSIDE = (datetime(1969, 12, 31, 23, 59, 59), datetime(2101, 1, 1))
REFRESH_DAYS = (date(2026, 12, 6), date(2060, 6, 15), date(2100, 1, 1), date(2100, 12, 31))


def _policy() -> tuple[int, int]:
    """(years kept, days refreshed) as the generated TMDL sets them."""
    text = "\n".join(refresh_policy_tmdl(FACT))
    assert "rollingWindowGranularity: year" in text and "incrementalGranularity: day" in text
    years = int(re.search(r"rollingWindowPeriods: (\d+)", text)[1])  # type: ignore[index]
    days = int(re.search(r"incrementalPeriods: (\d+)", text)[1])  # type: ignore[index]
    return years, days


def _partitions(refresh: date, years: int) -> list[tuple[datetime, datetime]]:
    """[RangeStart, RangeEnd) of each partition of a basic policy refreshed on `refresh`."""
    edges = [date(y, 1, 1) for y in range(refresh.year - years, refresh.year + 1)]
    edges += [date(refresh.year, m, 1) for m in range(2, refresh.month + 1)]
    day = date(refresh.year, refresh.month, 2)
    while day <= refresh + timedelta(days=1):
        edges.append(day)
        day += timedelta(days=1)
    edges = sorted(set(edges))
    return [(datetime.combine(a, datetime.min.time()), datetime.combine(b, datetime.min.time()))
            for a, b in pairwise(edges)]


def _holding(day: datetime, parts: list[tuple[datetime, datetime]]) -> int:
    """How many partitions' queries take a day file dated `day` (the M filter's test)."""
    return sum(1 for start, end in parts if day >= start and end > day)


def _day(ts: datetime) -> datetime:
    """The date of the day file a row of `ts` lands in, as the query reads it."""
    name = day_file(ts.date().isoformat())
    text = day_of(name)
    assert text is not None, name
    return datetime.fromisoformat(text)


def test_the_query_filters_each_partition_by_half_open_day_ranges() -> None:
    assert "[Day] >= RangeStart and RangeEnd > [Day]" in partition_m(FACT)


def test_the_schemas_bounds_are_the_ones_the_partitions_are_tested_at() -> None:
    tx = random_scored(1, seed=1)[0].model_dump()
    for ts in INSIDE:
        assert ScoredTransaction.model_validate({**tx, "timestamp": ts}).timestamp == ts
    for ts in OUTSIDE:
        with pytest.raises(ValidationError, match="out of range"):
            ScoredTransaction.model_validate({**tx, "timestamp": ts})


@pytest.mark.parametrize("refresh", REFRESH_DAYS)
def test_every_row_the_schema_accepts_up_to_the_refresh_day_is_in_exactly_one_partition(
        refresh: date) -> None:
    years, _ = _policy()
    parts = _partitions(refresh, years)
    assert all(a[1] == b[0] for a, b in pairwise(parts))  # a tiling
    first, last = INSIDE
    assert _holding(_day(first), parts) == 1  # 1970-01-01: in the archive
    # 2100-12-31: in its day's partition once the refresh day reaches it, before in none
    assert _holding(_day(last), parts) == (1 if last.date() <= refresh else 0)
    # each partition edge, and the day either side: one partition each, never two
    for start, _end in parts[1:]:
        for day in (start - timedelta(days=1), start, start + timedelta(days=1)):
            if day.date() <= refresh:
                assert _holding(day, parts) == 1, day
    assert _holding(datetime.combine(refresh, datetime.min.time()), parts) == 1
    assert _holding(datetime.combine(refresh + timedelta(days=1), datetime.min.time()),
                    parts) == 0  # after the refresh day: none (docs/dashboard.md)
