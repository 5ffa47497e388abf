"""A sink killed mid-write (SIGKILL, OOM, power cut) leaves the hidden temporary file of
what it was replacing; the next sink start on the folder removes it, and never a temporary
file another writer is still writing there (no broker: the writer side of the sink)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.atomic import atomic_writer
from sink import days as dy
from sink.settings import ExportSettings
from sink.writer import Record, SinkWriter
from tests.unit.test_atomic_temporaries import finish, killed_writer_leftover, writer_process
from tests.unit.test_sink_writer import TOPIC, _files, _records


def _run(folder: Path, records: list[Record], *, reset: bool = False) -> None:
    w = SinkWriter(folder, TOPIC, ExportSettings(), reset=reset)
    w.add(records)
    w.checkpoint()
    w.write_rollups(report=False)
    w.close()


def _hidden(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*.tmp"))


@pytest.mark.parametrize("reset", [False, True])
def test_the_next_sink_start_removes_what_a_killed_one_left_never_a_live_writers(
        tmp_path: Path, reset: bool) -> None:
    records = _records(1_000)
    clean, folder = tmp_path / "clean", tmp_path / "folder"
    _run(clean, records[:600])
    _run(clean, records[600:])
    _run(folder, records[:600])
    day = dy.day_files(folder)[0]
    # Killed while replacing a rollup and run.json (the sink), a day file (`score`).
    stale = [killed_writer_leftover(folder / name) for name in ("cases.csv", "run.json")]
    stale.append(killed_writer_leftover(day))
    assert len(_hidden(folder)) == 3
    # Another writer without the folder's lock, busy in the folder as the sink starts: a
    # `review import exports/cases.csv` writing its rejects, in another process, and a
    # `dashboard report` in this one.
    with writer_process(folder / "cases.rejects.csv") as (review, review_tmp), \
            atomic_writer(folder / "report.html") as report:
        report.write(b"<html>")
        _run(folder, records[600:] if not reset else records, reset=reset)
        assert [p.exists() for p in stale] == [False, False, False]
        assert review_tmp.read_bytes() == b"first half,"
        assert len(_hidden(folder)) == 2  # the two live writers' files
        assert finish(review) == "done"
    assert _hidden(folder) == []
    assert (folder / "cases.rejects.csv").read_bytes() == b"first half,second half\n"
    assert (folder / "report.html").read_bytes() == b"<html>"
    assert _files(folder) == _files(clean)  # the exports themselves as if never killed
