"""Readers of the exports' tables other than `review` read a line no longer than the CSV
reader's line bound (`shared.csv_lines.MAX_LINE_CHARS`, 1,048,576 characters, its line end
included; 2026-12-06): the sink's health check (`status.csv`, at every probe), the report's
count of the day files, `dashboard report`'s tables, and a starting sink's rewrite of its
`status.csv`, which reads no more than a header and a row within the bound. None of these
files has a size bound: a hand-edited or damaged one with a 1 GB line was read whole (a
line of commas a cell each, 8 bytes a comma and more)."""

from __future__ import annotations

import tracemalloc
from datetime import datetime
from pathlib import Path

import pytest

from auditstream.report import count_scored_csv
from dashboard.report import read_csv
from shared.csv_lines import MAX_LINE_CHARS
from shared.errors import UsageError
from sink import health as sink_health
from sink.csvfmt import SCORED_HEADER
from sink.status import STATUS_FILE, mark_starting, write_status

NOW = datetime(2026, 12, 6, 17, 1, 30)
TOO_LONG = f"is longer than {MAX_LINE_CHARS:,} characters, the most a line may hold"


def _status(folder: Path) -> tuple[bytes, bytes]:
    """status.csv's header and row as a sink writes them, each with its line end."""
    write_status(folder, {"event_watermark": "2026-12-06T17:00:00", "rows": 5},
                 "2026-12-06T17:00:00", 0, heartbeat="2026-12-06T17:01:00")
    header, row, _ = (folder / STATUS_FILE).read_bytes().split(b"\n")
    return header + b"\n", row + b"\n"


def _padded(line: bytes, chars: int) -> bytes:
    """`line` (ending in its line end) as a line of `chars` characters: commas added."""
    return line[:-1] + b"," * (chars - len(line)) + b"\n"


@pytest.mark.parametrize("over", [-1, 0, 1])
def test_the_health_check_refuses_a_status_line_over_the_bound(tmp_path: Path,
                                                               over: int) -> None:
    header, row = _status(tmp_path)
    (tmp_path / STATUS_FILE).write_bytes(header + _padded(row, MAX_LINE_CHARS + over))
    verdict = sink_health.check(tmp_path, NOW)
    if over <= 0:
        assert TOO_LONG not in verdict.reason, verdict
        return
    assert verdict == (False, f"cannot read {tmp_path / STATUS_FILE}: line 2 {TOO_LONG}")


@pytest.mark.parametrize("over", [0, 1])
def test_the_reports_count_refuses_a_scored_line_over_the_bound(tmp_path: Path,
                                                                over: int) -> None:
    f = tmp_path / "transactions_scored.csv"
    f.write_bytes(SCORED_HEADER + b"," * (MAX_LINE_CHARS + over - 1) + b"\n")
    with pytest.raises(UsageError) as refused:
        count_scored_csv(f)
    if over == 0:  # read, and too wide
        assert "data row 1 has" in str(refused.value)
        return
    assert f"cannot read {f}: line 2 {TOO_LONG} (a damaged or hand-edited file)" in str(
        refused.value)


@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("over", [0, 1])
def test_dashboard_report_refuses_a_table_line_over_the_bound(tmp_path: Path, over: int,
                                                              header: bool) -> None:
    """A row, or a header without a line end, over the bound."""
    f = tmp_path / STATUS_FILE
    head, row = _status(tmp_path)
    f.write_bytes(_padded(head, MAX_LINE_CHARS + over + 1)[:-1] if header  # no line end
                  else head + _padded(row, MAX_LINE_CHARS + over))
    with pytest.raises(UsageError) as refused:
        read_csv(f, ("data_as_of",), "status")
    if over == 0:  # read: cut short (no line end), or too wide
        assert TOO_LONG not in str(refused.value)
        return
    assert f"cannot read {f}: line {1 if header else 2} {TOO_LONG} (a damaged" in str(
        refused.value)


def test_a_starting_sink_reads_no_more_of_a_huge_status_than_a_header_and_a_row(
        tmp_path: Path) -> None:
    """16 MB of commas as its row: left as it is (not a header and one row), as before,
    but no longer read whole (before: 16 MB read, decoded and split, a cell a comma)."""
    f = tmp_path / STATUS_FILE
    head, row = _status(tmp_path)
    f.write_bytes(head + _padded(row, 16_000_000))
    was = f.read_bytes()
    tracemalloc.start()
    try:
        mark_starting(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MAX_LINE_CHARS, f"{peak:,} bytes"
    assert f.read_bytes() == was
