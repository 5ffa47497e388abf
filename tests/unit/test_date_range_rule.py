"""`shared.date_range`: the days the dashboards' axes and date tables span, from run.json."""

from __future__ import annotations

from shared.date_range import date_range, read_range


def test_the_range_rule_reads_the_quorum_marks_and_falls_back_to_the_event_times() -> None:
    marks = {"event_time_min": "1970-01-01T00:00:00", "event_time_max": "2100-01-01T00:00:00",
             "event_low_watermark": "2025-01-01T06:00:00", "event_watermark": "2025-01-30T09:00:00"}
    assert date_range(marks) == ("2025-01-01", "2025-01-30")
    # fewer customers than the quorum (no marks): the event times seen
    assert date_range({k: marks[k] for k in ("event_time_min", "event_time_max")}) == (
        "1970-01-01", "2100-01-01")
    # barely a quorum: the marks cross (the 8th earliest first time after the 8th latest)
    assert date_range({**marks, "event_low_watermark": "2025-02-01T00:00:00"}) == (
        "2025-01-30", "2025-02-01")
    assert date_range({}) is None
    # a run.json that records the range is read as it is; an older one by its event times
    assert read_range({**marks, "date_range_first": "2025-01-03",
                       "date_range_last": "2025-01-04"}) == ("2025-01-03", "2025-01-04")
    assert read_range(marks) == ("2025-01-01", "2025-01-30")
