"""An input replaced at its name between its check and its read (hostile probe, mends
review 2026-12-06): `replay`, `score` and `review import` checked the name (a regular
file, its header, its size, its archive) and then opened it by name again, so a FIFO put
there in between was waited on for ever and another file was read unchecked (`score`:
its rows scored under the other file's input_sha256). Each input is now opened once and
checked on its descriptor (`shared.inputs.InputFile`): what is checked is what is read.

Each test swaps the file at the very point between the old check and the old open (the
monkeypatched call); an alarm turns a wait for ever on a FIFO into a failure."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from auditstream.cli import main
from auditstream.sorted_input import direct
from producer.app import PublishReport, Record
from producer.replay import run_replay
from producer.settings import ProducerSettings
from producer.sources import streamable_rows
from shared.csv_encoding import encoding_of
from shared.errors import ExitCode
from tests.changed_inputs import assert_score_refuses, review_csv, review_xlsx
from tests.fifo_guard import alarm
from tests.review_publisher import publish_to_list

HEADER = "transaction_id,customer_id,timestamp,amount,country,channel,device,merchant_category,ip"


def _csv(path: Path, ids: Iterable[str]) -> Path:
    rows = [f"{t},c1,2025-01-01 10:00:0{n},12.5,NL,web,d1,grocery,1.2.3.4"
            for n, t in enumerate(ids)]
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def _swap(path: Path, to: str) -> None:
    """Put another regular file (rows T8, T9) or a FIFO at `path`, by rename (as an editor
    saves a file): the file checked is still open, under no name."""
    new = path.with_name("new-" + path.name)
    if to == "fifo":
        os.mkfifo(new)
    else:
        _csv(new, ["T8", "T9"])
    os.replace(new, path)


@pytest.fixture
def no_hang() -> Iterator[None]:
    """A read that waits on a FIFO is a failure after 10 s, not a hung test run."""
    with alarm(10, "the input's name"):
        yield


def _swapping(real: Callable[..., Any], path: Path, to: str, *, after: bool = False
              ) -> Callable[..., Any]:
    """`real`, with the file at `path` swapped just before it runs (or just after)."""
    def call(*args: Any, **kw: Any) -> Any:
        if not after:
            _swap(path, to)
        result = real(*args, **kw)
        if after:
            _swap(path, to)
        return result

    return call


@pytest.mark.usefixtures("no_hang")
@pytest.mark.parametrize("to", ["another file", "fifo"])
def test_replay_sends_the_rows_of_the_file_it_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, to: str) -> None:
    """Swapped after the header check, before the order check (which opened it by name)."""
    f = _csv(tmp_path / "in.csv", ["T1", "T2", "T3"])
    sent: list[bytes] = []

    def publish(records: Iterable[Record], _settings: Any, total: int,
                *_: Any) -> PublishReport:
        sent.extend(value for _, _, value in records)
        return PublishReport(total, sent=len(sent), delivered=len(sent))

    monkeypatch.setattr("producer.replay.publish", publish)
    monkeypatch.setattr("producer.replay.streamable_rows", _swapping(streamable_rows, f, to))
    summary = run_replay([f], ProducerSettings())
    assert [json.loads(v)["transaction_id"] for v in sent] == ["T1", "T2", "T3"]
    assert (summary.rows, summary.rejected) == (3, 0)


@pytest.mark.usefixtures("no_hang")
@pytest.mark.parametrize("to", ["another file", "fifo"])
def test_score_refuses_an_input_replaced_after_its_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        to: str) -> None:
    """Swapped once the rows are being read, before the input is stamped and hashed (by
    name, then): the rows of one file went out under the other's input_sha256, exit 0."""
    f = _csv(tmp_path / "in.csv", ["T1", "T2", "T3"])
    monkeypatch.setattr("auditstream.score.direct", _swapping(direct, f, to, after=True))
    assert_score_refuses(f, tmp_path / "out", capsys)


@pytest.mark.usefixtures("no_hang")
@pytest.mark.parametrize("to", ["another file", "fifo"])
def test_review_import_publishes_the_csv_it_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        to: str) -> None:
    """Swapped after the kind and size checks, before the encoding is guessed (by name)."""
    sent = publish_to_list(monkeypatch)
    f = review_csv(tmp_path / "r.csv", ["c1", "c2"])
    monkeypatch.setattr("auditstream.review.files.encoding_of", _swapping(encoding_of, f, to))
    assert main(["review", "import", str(f), "--no-check", "--reviewer", "a"]) == ExitCode.OK
    assert [r.id for r in sent] == ["c1", "c2"]
    assert "2 case outcome(s) published" in capsys.readouterr().out


@pytest.mark.usefixtures("no_hang")
@pytest.mark.parametrize("to", ["another file", "fifo"])
def test_review_import_publishes_the_workbook_it_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, to: str) -> None:
    """Swapped after the archive check (zip bomb, directory bound), before openpyxl opened
    it by name: an unchecked archive was unpacked."""
    import auditstream.review.files as files

    sent = publish_to_list(monkeypatch)
    f = review_xlsx(tmp_path / "r.xlsx", ["c1", "c2"])
    other = review_xlsx(tmp_path / "other.xlsx", ["c8", "c9"])

    def swap_in(path: Path, to: str) -> None:
        if to == "fifo":
            _swap(path, to)
        else:
            os.replace(other, path)

    def checked(*args: Any) -> None:
        real(*args)
        swap_in(f, to)

    real = files._check_archive
    monkeypatch.setattr(files, "_check_archive", checked)
    assert main(["review", "import", str(f), "--no-check", "--reviewer", "a"]) == ExitCode.OK
    assert [r.id for r in sent] == ["c1", "c2"]


@pytest.mark.usefixtures("no_hang")
@pytest.mark.parametrize("to", ["another file", "fifo"])
def test_an_oversize_row_is_skipped_in_the_file_being_read(tmp_path: Path, to: str) -> None:
    """The reader reads a row it gave up on (a cell over the csv module's limit) again from
    a second handle: it opened the file at the name anew, so a FIFO put there since was
    waited on for ever, another file's lines miscounted the rest."""
    from shared.csv_io import RowError, iter_csv
    from shared.schemas import CSV_FIELDS

    def row(tid: str, category: str = "food") -> str:
        return f"{tid},c1,2025-01-02 10:00:00,5,CH,app,pc,{category},,False,normal"

    big = '"' + "B" * 200_000 + "\n" + row("6", "inside-a-cell") + "\n" + "C" * 10 + '"'
    f = tmp_path / "long.csv"
    f.write_text("\n".join([",".join(CSV_FIELDS), row("1"), row("2", big), row("3")]) + "\n",
                 encoding="utf-8")
    items = iter_csv(f)  # the header read and checked
    _swap(f, to)
    got = list(items)
    assert [(i.line, i.reason) for i in got if isinstance(i, RowError)] == [
        (3, f"a cell is longer than {csv.field_size_limit():,} characters, the most a cell "
            "may hold (the row spans lines 3-5)")]
    assert [(i[0], i[1].transaction_id) for i in got if not isinstance(i, RowError)] == [
        (2, "1"), (6, "3")]
