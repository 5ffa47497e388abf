"""A status.csv saved back by hand with a byte order mark (Excel's "CSV UTF-8", or a tool
that also quotes every name) and then rewritten by a starting or stopping sink
(`sink.status.starting_row`): its first column's name was read with the mark in it and
written back so. Excel's save kept the mark at the file's start (every reader skips it
there); a quoted name put it inside the quotes, where no reader skips it: `data_as_of` was
gone, and the dashboard said "no data yet" over the data until the loop's first write."""

from __future__ import annotations

import codecs
from datetime import datetime
from pathlib import Path

import pytest

from dashboard.report import read_status
from sink.status import STATUS_FILE, mark_starting, mark_stopped, starting_row, write_status

NOW = datetime(2026, 12, 6, 17, 1, 30)


def _status(folder: Path) -> bytes:
    write_status(folder, {"event_watermark": "2026-12-06T17:00:00", "rows": 5},
                 "2026-12-06T17:00:00", 0, heartbeat="2026-12-06T17:01:00")
    return (folder / STATUS_FILE).read_bytes()


def _quoted(data: bytes) -> bytes:
    """`data` with every name of its header quoted (its row as it was)."""
    header, rest = data.split(b"\n", 1)
    return b",".join(b'"' + name + b'"' for name in header.split(b",")) + b"\n" + rest


@pytest.mark.parametrize("saved", ["excel", "quoted"])
def test_a_status_saved_with_a_bom_is_rewritten_without_it(tmp_path: Path, saved: str) -> None:
    data = _status(tmp_path)
    hand = (data.replace(b"\n", b"\r\n") if saved == "excel" else _quoted(data))
    assert starting_row(codecs.BOM_UTF8 + hand) == starting_row(hand) == starting_row(data)


@pytest.mark.parametrize("mark", [mark_starting, mark_stopped])
def test_a_quoted_header_with_a_bom_keeps_its_data_as_of_through_a_restart(
        tmp_path: Path, mark: object) -> None:
    path = tmp_path / STATUS_FILE
    path.write_bytes(codecs.BOM_UTF8 + _quoted(_status(tmp_path)))
    assert read_status(tmp_path, NOW)["freshness"].startswith("data as of 2026-12-06 17:00, ")
    mark(tmp_path)  # type: ignore[operator]
    assert read_status(tmp_path, NOW)["freshness"].startswith("data as of 2026-12-06 17:00, ")
    assert path.read_bytes().startswith(b"data_as_of,")
