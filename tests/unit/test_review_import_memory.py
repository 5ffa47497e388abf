"""What the import holds while it reads a file, compactly, gives back exactly what it read:
a CSV's lines (`shared.csv_lines.TextSource`, in place of `io.StringIO`) and a decided row's
cells (`Packed`)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditstream.review.records import Exported, Layout, Packed, parse_rows
from shared.csv_lines import BoundedLines, LineTooLong, TextSource

#: Any character, lone surrogates (a stray byte read with surrogateescape) and every kind of
#: line end among them.
_ANY = st.characters(codec=None, categories=None)
_TEXT = st.text(st.one_of(_ANY, st.sampled_from("\r\n,\"\u2028\x85\x0b\x0c\x00")))


def _reads(handle: io.StringIO | TextSource, size: int) -> list[tuple[str, int]]:
    return [(line, handle.tell()) for line in iter(lambda: handle.readline(size), "")]


@given(_TEXT, st.sampled_from([-1, 1, 2, 3, 7]))
def test_lines_are_those_of_a_file_opened_with_newline_empty(text: str, size: int) -> None:
    assert _reads(TextSource(text), size) == _reads(io.StringIO(text, newline=""), size)


@given(_TEXT)
def test_bounded_lines_of_a_text_are_its_lines(text: str) -> None:
    assert list(BoundedLines(TextSource(text))) == list(io.StringIO(text, newline=""))


def test_lines_end_at_cr_lf_and_crlf_only() -> None:
    source = TextSource("a\r\nb\rc\nd\u2028e\x85f")
    assert list(iter(source.readline, "")) == ["a\r\n", "b\r", "c\n", "d\u2028e\x85f"]


@given(st.dictionaries(st.text(_ANY), st.text(_ANY)))
def test_packed_cells_are_the_cells_given(cells: dict[str, str]) -> None:
    names: dict[tuple[str, ...], tuple[str, ...]] = {}
    packed = Packed(cells, names)
    again = packed.cells()
    assert again == cells
    assert list(again) == list(cells)  # in their order: the rejects file's columns
    assert Packed(dict(cells), names).names is packed.names  # one names tuple for all rows


_NOW = datetime(2026, 1, 1, tzinfo=UTC)
_OTHER = st.text(_ANY, max_size=8)


@given(st.lists(st.tuples(st.sampled_from(["c1", "c2", "c3"]),
                          st.sampled_from(["confirmed", "dismissed"]), _OTHER, _OTHER),
                min_size=1, max_size=12))
def test_rows_rejected_after_the_file_is_read_carry_their_cells_as_read(
        rows: list[tuple[str, str, str, str]]) -> None:
    """Two outcomes for one id, or a review older than the exports', are found once every
    row is read: each such reject holds its row's cells, every column as it was read."""
    given_rows = [(n + 2, {"case_id": i, "outcome": o, "reviewed_at": "2025-01-01T00:00:00Z",
                           "extra": a, "more": b})
                  for n, (i, o, a, b) in enumerate([*rows, ("c3", "confirmed", "x", "")])]
    exported = {"c3": Exported("unclear", "ann", datetime(2025, 6, 1, tzinfo=UTC))}
    result = parse_rows(iter(given_rows), Layout("case", "case_id"), reviewer="me", now=_NOW,
                        exported=exported)
    by_line = dict(given_rows)
    assert result.rejected[-1].line == len(rows) + 2  # the last c3: older than the exports'
    for err in result.rejected:
        assert err.raw == by_line[err.line]
        assert list(err.raw) == list(by_line[err.line])
    assert len(result.rejected) + len(result.reviews) + result.unchanged == len(rows) + 1


def test_a_piece_read_past_a_long_lines_cr_is_held_until_given() -> None:
    source = TextSource("x" * 6 + "\rab\n")
    lines = BoundedLines(source, limit=3)
    with pytest.raises(LineTooLong):
        next(lines)
    assert (source.tell(), lines.held()) == (10, 3)  # "ab\n" read, the next line
    assert (next(lines), lines.held()) == ("ab\n", 0)
