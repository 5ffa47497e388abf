"""Each reader of the exports' tables names a line over the bound
(`shared.csv_lines.MAX_LINE_CHARS`) by its physical line: a quoted cell over three lines
before it counts three, a blank line one, and a long line inside a quoted cell is named,
not its row's first line (DictReader's own count stops at a row's start)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from auditstream.report import count_scored_csv
from auditstream.review.files import ReviewFileError, exports_ids
from auditstream.review.page import read_cases
from dashboard.report import read_csv
from shared.columns import STATUS_COLUMNS
from shared.csv_lines import MAX_LINE_CHARS
from shared.errors import UsageError
from sink import health as sink_health
from sink.csvfmt import SCORED_HEADER

TOO_LONG = f"is longer than {MAX_LINE_CHARS:,} characters, the most a line may hold"


def _file(folder: Path, name: str, header: bytes, end: bytes, inside: bool) -> Path:
    """`name` in `folder`: `header` (line 1), a row whose first cell is quoted over lines
    2-4, then a line over the bound at line 6: after a blank line, or (`inside`) inside a
    quoted cell opened on line 5; `end` ends each line."""
    width = header.count(b",") + 1
    rest = b"," * (width - 1) + end
    f = folder / name
    f.write_bytes(header + end
                  + b'"a' + end + b"b" + end + b'c"' + rest
                  + (b'"x' if inside else b"") + end
                  + b"," * MAX_LINE_CHARS + end
                  + (b'y"' if inside else b"") + rest)
    return f


def _health(folder: Path, end: bytes, inside: bool) -> str:
    f = _file(folder, "status.csv", ",".join(STATUS_COLUMNS).encode(), end, inside)
    return sink_health.check(f.parent, datetime(2026, 12, 6, 17, 0)).reason


def _report(folder: Path, end: bytes, inside: bool) -> str:
    f = _file(folder, "transactions_scored.csv", SCORED_HEADER.rstrip(b"\r\n"), end, inside)
    with pytest.raises(UsageError) as refused:
        count_scored_csv(f)
    return str(refused.value)


def _page(folder: Path, end: bytes, inside: bool) -> str:
    with pytest.raises(ValueError) as refused:
        read_cases(_file(folder, "cases.csv", b"case_id,rank,note", end, inside))
    return str(refused.value)


def _exports(folder: Path, end: bytes, inside: bool) -> str:
    f = _file(folder, "cases.csv", b"case_id,outcome,note", end, inside)
    with pytest.raises(ReviewFileError) as refused:
        exports_ids(f.parent)
    return str(refused.value)


def _dashboard(folder: Path, end: bytes, inside: bool) -> str:
    f = _file(folder, "status.csv", ",".join(STATUS_COLUMNS).encode(), end, inside)
    with pytest.raises(UsageError) as refused:
        read_csv(f, ("data_as_of",), "status")
    return str(refused.value)


@pytest.mark.parametrize("inside", [False, True])
@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("read", [_health, _report, _page, _exports, _dashboard])
def test_a_long_line_after_a_quoted_cell_over_three_lines_is_named_by_its_own_line(
        tmp_path: Path, read: Callable[[Path, bytes, bool], str], end: bytes,
        inside: bool) -> None:
    reason = read(tmp_path, end, inside)
    assert f"line 6 {TOO_LONG}" in reason, reason
