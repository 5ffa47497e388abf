"""`review serve` reads the exports' `cases.csv` a line at a time, each no longer than the
CSV reader's line bound (`shared.csv_lines.MAX_LINE_CHARS`, 1,048,576 characters, its line
end included; 2026-12-06), as `review import` reads the same file. Before, each line was
taken whole (cases.csv has no size bound): a hand-edited or damaged file with a 1 GB line,
or without a line end at all, was read whole into memory at every request. A line over the
bound is a damaged export: a 503 page naming the file and why, the server still serving."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from auditstream.review.page import read_cases
from shared.csv_lines import MAX_LINE_CHARS
from tests.unit.review_page import Running

HEADER = b"case_id,rank,note"


def _line(chars: int, end: bytes) -> bytes:
    """A row of `chars` characters, its line end included: case c1, rank 1, then empty
    cells (each under the csv reader's cell limit)."""
    head = b"c1,1,n"
    return head + b"," * (chars - len(head) - len(end)) + end


def _too_long(path: Path, line: int) -> str:
    return (f"cannot read {path}: line {line} is longer than {MAX_LINE_CHARS:,} characters, "
            "the most a line may hold (not the exports' cases.csv)")


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("over", [-1, 0, 1])
def test_a_row_longer_than_the_line_bound_is_refused_naming_its_line(
        tmp_path: Path, over: int, end: bytes) -> None:
    f = tmp_path / "cases.csv"
    f.write_bytes(HEADER + end + _line(MAX_LINE_CHARS + over, end) + b"c2,2," + end)
    if over <= 0:
        assert [c.id for c in read_cases(f)] == ["c1", "c2"]
        return
    with pytest.raises(ValueError) as refused:
        read_cases(f)
    assert str(refused.value) == _too_long(f, 2)


@pytest.mark.parametrize("over", [0, 1])
def test_a_header_longer_than_the_line_bound_is_refused(tmp_path: Path, over: int) -> None:
    """A file of commas without a line end is all header."""
    f = tmp_path / "cases.csv"
    f.write_bytes(HEADER + b"," * (MAX_LINE_CHARS + over - len(HEADER)))
    if over == 0:  # read as a header (of a million empty names), no rows
        assert read_cases(f) == []
        return
    with pytest.raises(ValueError) as refused:
        read_cases(f)
    assert str(refused.value) == _too_long(f, 1)


def test_a_long_line_inside_a_quoted_cell_is_named_by_its_own_line(tmp_path: Path) -> None:
    """Lines 2-4 are one row (a quoted note over three lines): the second is named."""
    f = tmp_path / "cases.csv"
    f.write_bytes(HEADER + b'\nc1,1,"a\n' + b"x" * MAX_LINE_CHARS + b'\nb"\nc2,2,\n')
    with pytest.raises(ValueError) as refused:
        read_cases(f)
    assert str(refused.value) == _too_long(f, 3)


def test_a_cases_file_with_a_line_over_the_bound_is_a_503_and_the_server_serves_on(
        page: Running) -> None:
    cases = page.app.exports / "cases.csv"
    good = cases.read_bytes()
    cases.write_bytes(good + _line(MAX_LINE_CHARS + 1, b"\n"))
    status, headers, body = page.request("GET", "/")
    assert status == 503, body
    assert _too_long(cases, 5).replace("'", "&#x27;") in body, body
    assert headers["X-Content-Type-Options"] == "nosniff"
    status, _, body = page.request("POST", "/review", page.form())
    assert status == 503 and "line 5 is longer than" in body and page.published == []
    cases.write_bytes(good)  # made again: the same server lists its cases
    status, _, body = page.request("GET", "/")
    assert status == 200 and 'data-id="case-a"' in body, body


@pytest.mark.parametrize("row", [True, False])
def test_a_long_line_costs_no_more_than_the_line_bound(tmp_path: Path, row: bool) -> None:
    """16 MB of commas as a row (before: a peak of 258 MiB traced, a cell each; now 4.1 MiB)
    or as the header without a line end (before: 182 MiB, a header of 16 million names)."""
    f = tmp_path / "cases.csv"
    f.write_bytes((HEADER + b"\n" if row else b"") + b"," * 16_000_000
                  + (b"\nc1,1,\n" if row else b""))
    refused = ""
    tracemalloc.start()
    try:
        try:
            read_cases(f)
        except ValueError as exc:
            refused = str(exc)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MAX_LINE_CHARS, f"{peak:,} bytes"
    assert "is longer than" in refused
