"""A day file listed as a regular file (`shared.dayfiles.day_files`) and swapped for a FIFO
or a symbolic link before it is opened. Hostile probe of 2026-12-06: the sink's resume
(`read_marks`, the recount of a checkpoint from before the volume counts) and the
demo's row counter opened the listed names with a plain `open`, so a FIFO swapped in
waited for a writer for ever and a link was read through (another folder's rows counted
as the exports'). Now each opens it as a regular file at its name (`sink.days.open_day`)
and a swap is the very one-line error (exit 2) the sink gives for such an entry found by
the listing (`check_strangers`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from auditstream import demo
from shared.columns import SCORED_COLUMNS
from shared.errors import ExitCode
from sink import days as dy
from sink import folder as sink_folder
from sink.state import SinkStateError
from tests.fifo_guard import within

_ROW = ["t1", "2025-01-01T10:00:00", "c1"]


def _day_file(tmp_path: Path) -> tuple[Path, Path]:
    """An exports folder with one day file of one row; (folder, the day file)."""
    folder = tmp_path / "exports"
    (folder / dy.SCORED_DIR).mkdir(parents=True)
    path = folder / dy.day_file("2025-01-01")
    row = dict(zip(SCORED_COLUMNS, [""] * len(SCORED_COLUMNS), strict=True))
    row.update(transaction_id="t1", timestamp="2025-01-01T10:00:00", customer_id="c1")
    path.write_text(",".join(SCORED_COLUMNS) + "\n" + ",".join(row.values()) + "\n")
    return folder, path


def _swap(path: Path, kind: str, tmp_path: Path) -> None:
    """Put a FIFO, or a link to another folder's copy of the file, at `path`."""
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_bytes(path.read_bytes())
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(elsewhere)


def _listed_error(folder: Path) -> str:
    """What the sink says of the entry when the listing finds it (its start's check)."""
    with pytest.raises(SinkStateError) as listed:
        dy.check_strangers(folder)
    return str(listed.value)


def _read_marks(folder: Path) -> Any:
    return dy.read_marks(folder, 1)[0].value


def _recount(folder: Path) -> Any:
    return sink_folder._recount(dy.day_files(folder)).rows


def _demo_count(folder: Path) -> Any:
    return demo._DayFilesCounter(folder).rows()


READERS: dict[str, Callable[[Path], Any]] = {
    "resume's first mark": _read_marks, "resume's recount": _recount,
    "demo's counter": _demo_count}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_day_file_is_read_as_listed(tmp_path: Path, reader: str) -> None:
    folder, _ = _day_file(tmp_path)
    expected = {"resume's first mark": "2025-01-01T10:00:00", "resume's recount": 1,
                "demo's counter": 1}
    assert READERS[reader](folder) == expected[reader]


@pytest.mark.parametrize("kind", ["fifo", "link"])
@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_day_file_swapped_after_the_listing_is_the_listings_one_line_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str, kind: str) -> None:
    folder, path = _day_file(tmp_path)
    listing = dy.day_files(folder)
    assert listing == [path]
    _swap(path, kind, tmp_path)
    said = _listed_error(folder)
    # the listing as it was before the swap, wherever the reader lists
    for module in (dy, demo):  # sink.folder lists through sink.days
        monkeypatch.setattr(module, "day_files", lambda _folder: list(listing))
    with pytest.raises(SinkStateError) as caught:
        within(8, path, lambda: READERS[reader](folder))
    assert str(caught.value) == said
    assert caught.value.exit_code == ExitCode.USAGE and "\n" not in said


def test_the_demo_counter_counts_a_file_the_sink_cut_again_from_its_start(
        tmp_path: Path) -> None:
    folder, path = _day_file(tmp_path)
    counter = demo._DayFilesCounter(folder)
    assert counter.rows() == 1
    with path.open("ab") as fh:
        fh.write(b"second row\n")
    assert counter.rows() == 2
    path.write_bytes(path.read_bytes().split(b"\n", 1)[0] + b"\n")  # cut to its header
    assert counter.rows() == 0
    path.unlink()  # a --reset removed it
    assert counter.rows() == 0


def test_an_empty_day_file_reads_as_no_rows(tmp_path: Path) -> None:
    """A day file of no bytes at all (not even its header) beside one of one row: every
    reader of the listed day files reads the other's row and nothing of it, as if it were
    not there (each skips a header only if there is one)."""
    folder, _ = _day_file(tmp_path)
    (folder / dy.day_file("2024-12-31")).write_bytes(b"")
    assert len(dy.day_files(folder)) == 2

    def watermarks(f: Path) -> Any:
        return dy.read_watermarks(f, 1, "", "")[0].value

    readers = {**READERS, "resume's watermarks": watermarks}
    assert {name: read(folder) for name, read in readers.items()} == {
        "resume's first mark": "2025-01-01T10:00:00", "resume's recount": 1,
        "demo's counter": 1, "resume's watermarks": "2025-01-01T10:00:00"}


@pytest.mark.parametrize("kind", ["fifo", "link", "folder"])
def test_an_entry_at_a_day_file_s_name_that_is_no_regular_file_is_named_with_what_to_do(
        tmp_path: Path, kind: str) -> None:
    """The refusal (exit 2) names the entry, says why it matters and what to do."""
    folder, path = _day_file(tmp_path)
    if kind == "folder":
        path.unlink()
        path.mkdir()
    else:
        _swap(path, kind, tmp_path)
    assert _listed_error(folder) == (
        f"{path} is not a regular file (a folder, symbolic link, FIFO or device) but has a "
        "day file's name, where that day's rows are written: move it out of scored/")
