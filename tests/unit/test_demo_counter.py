"""The demo's progress count: data rows across growing day files, read incrementally."""

from __future__ import annotations

from pathlib import Path

from auditstream.demo import _DayFilesCounter
from sink import days as dy

HEADER = b"transaction_id,timestamp\n"


def _append(folder: Path, day: str, rows: int, start: int = 0) -> None:
    path = folder / dy.day_file(day)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as fh:
        if fh.tell() == 0:
            fh.write(HEADER)
        fh.write(b"".join(f"{i},{day}T00:00:00\n".encode() for i in range(start, start + rows)))


def test_counts_rows_of_every_day_file_as_they_grow_and_after_a_cut(tmp_path: Path) -> None:
    counter = _DayFilesCounter(tmp_path)
    assert counter.rows() == 0  # no scored/ yet
    _append(tmp_path, "2025-01-01", 3)
    assert counter.rows() == 3
    _append(tmp_path, "2025-01-01", 2, start=3)
    _append(tmp_path, "2025-01-02", 4)
    assert counter.rows() == 9  # headers not counted, a new day picked up
    path = tmp_path / dy.day_file("2025-01-02")
    path.write_bytes(HEADER + b"0,x\n")  # a restarted sink cut rows past its checkpoint
    assert counter.rows() == 6
    path.unlink()  # a day file removed on restart (created after the last checkpoint)
    assert counter.rows() == 5
