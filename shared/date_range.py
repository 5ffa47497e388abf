"""The days the dashboards' date axes and date tables span: one rule for report.html and
the Power BI model (`dashboard`), written into run.json by the exports (`sink.exports`).

The range runs from the day of `event_low_watermark` (the earliest time
EXPORTS_WATERMARK_CUSTOMERS customers reached, `sink.watermark.EarliestMark`) to the day of
`event_watermark` (the latest time that many reached: status.csv's `data_as_of`), so one
stray row dated 1970 or 2100 (the schema takes 1970-2100) widens no axis. With fewer
customers than the quorum the marks are missing, and the ends are the earliest and latest
time that many rows reached (`ROW_MARK_FIELDS`, `sink.watermark.RowQuorum`), so with 7
customers one stray row (up to 7) widens no axis either; with fewer rows than that, or for
exports written before the marks, the event times seen (`event_time_min`,
`event_time_max`). Rows outside the range are never dropped: the dashboards count and list
them under "outside the data's range".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: run.json's fields: the first and last day (ISO dates) of the range.
FIELDS = FIRST, LAST = "date_range_first", "date_range_last"
#: run.json's fields: the earliest and latest time EXPORTS_WATERMARK_CUSTOMERS rows reached.
ROW_MARK_FIELDS = ("event_low_row_mark", "event_row_mark")


def _day(run: Mapping[str, Any], *fields: str) -> str:
    for name in fields:
        value = run.get(name)
        if isinstance(value, str) and len(value) >= 10:
            return value[:10]
    return ""


def date_range(run: Mapping[str, Any]) -> tuple[str, str] | None:
    """(first day, last day) from run.json's event times; None when it has none. Ordered:
    with barely a quorum of customers (or rows) the two marks can cross, and each is still
    a day the quorum reached."""
    first = _day(run, "event_low_watermark", ROW_MARK_FIELDS[0], "event_time_min")
    last = _day(run, "event_watermark", ROW_MARK_FIELDS[1], "event_time_max")
    if not first or not last:
        return None
    return (first, last) if first <= last else (last, first)


def range_fields(run: Mapping[str, Any]) -> dict[str, str | None]:
    """run.json's FIRST and LAST for `run`'s event times (None when there are none)."""
    span = date_range(run)
    return {FIRST: span[0] if span else None, LAST: span[1] if span else None}


def read_range(run: Mapping[str, Any]) -> tuple[str, str] | None:
    """The range a run.json records (FIRST, LAST), or for one written before them, the
    range its event times give."""
    first, last = _day(run, FIRST), _day(run, LAST)
    return (first, last) if first and last else date_range(run)
