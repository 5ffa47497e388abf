"""An input written to in place while it is read (the same inode, through the descriptor
the command holds): appended to, or rewritten by an editor or an export job (probe of
2026-12-06). `replay` streamed the rows as read, so the rows sent could mix the old and the
new content, and it ended with exit 0; `score` compared only the stamp (size, modification
time), which a same-size write in the same tick of the file system's clock leaves as it
was, so run.json's input_sha256 could name other bytes than those scored; `review import`
read a CSV or a workbook's sheet with no check at all.

Every input is now versioned (`shared.inputs.InputFile.version`: stamp, then SHA-256)
before its first row is read and compared once its last row has been read: a change is one
line, exit 2, naming the file and what was done (nothing sent or published when it can
still say so; for a streamed replay, how many rows went out). A same-size rewrite whose
modification time is put back (`os.utime`) stands in for the write in the same tick."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from auditstream.cli import main
from producer.app import PublishReport, Record
from shared.errors import ExitCode
from tests.changed_inputs import assert_score_refuses, review_csv, review_xlsx
from tests.review_publisher import publish_to_list

HEADER = "transaction_id,customer_id,timestamp,amount,country,channel,device,merchant_category,ip"


def _rows(ids: Iterable[str], amount: str = "12.5") -> str:
    return "\n".join([HEADER, *(f"{t},c1,2025-01-01 10:00:{n:02d},{amount},NL,web,d1,"
                                "grocery,1.2.3.4" for n, t in enumerate(ids))]) + "\n"


def _change(path: Path, how: str) -> None:
    """Write to `path` in place: `appended` (a row more), `rewritten` (the same size, other
    bytes, its modification time put back), or `unchanged` (nothing)."""
    st = path.stat()
    if how == "appended":
        with open(path, "ab") as out:
            out.write(b"T9,c1,2025-01-01 10:00:59,12.5,NL,web,d1,grocery,1.2.3.4\n")
    elif how == "rewritten":
        data = path.read_bytes()
        with open(path, "r+b") as out:
            out.write(data.replace(b"12.5", b"99.5"))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert path.stat().st_size == st.st_size
    else:
        assert how == "unchanged"


def _publishing(sent: list[dict[str, Any]], path: Path, how: str) -> Callable[..., Any]:
    """A `publish` that sends into `sent` and writes to `path` after the first row."""
    def publish(records: Iterable[Record], _settings: Any, total: int,
                *_: Any) -> PublishReport:
        for i, record in enumerate(records):
            sent.append(json.loads(record[2]))
            if i == 0:
                _change(path, how)
        return PublishReport(total, sent=len(sent), delivered=len(sent))

    return publish


@pytest.mark.parametrize("how", ["appended", "rewritten", "unchanged"])
def test_replay_says_a_file_changed_while_its_rows_were_sent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        how: str) -> None:
    f = tmp_path / "in.csv"
    f.write_text(_rows(["T1", "T2", "T3"]), "utf-8")
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr("producer.replay.publish", _publishing(sent, f, how))
    code = main(["replay", str(f)])
    err = capsys.readouterr().err
    # streamed as read: the row appended after the first was sent went out too
    ids = ["T1", "T2", "T3", *(["T9"] if how == "appended" else [])]
    assert [r["transaction_id"] for r in sent] == ids
    assert f"sent {len(ids)} of 3 row(s)" in err
    if how == "unchanged":
        assert code == ExitCode.OK, err
        assert "changed" not in err
        return
    assert code == ExitCode.USAGE, err
    assert err.splitlines()[-1] == (
        f"auditstream replay: error: {f} changed while it was sent (written to in place): "
        f"the {len(ids)} row(s) sent may mix its old and new content; replay it once nothing "
        "writes to it, to fresh topics (a transaction_id already sent is dropped as a duplicate)")


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("how", ["appended", "rewritten"])
def test_replay_sends_nothing_of_a_file_changed_while_it_was_sorted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        how: str, strict: bool) -> None:
    """Not in time order (or `--strict`): every row is read before the first is sent, so a
    change while they are read is found before anything is sent."""
    import producer.replay

    f = tmp_path / "in.csv"
    f.write_text(_rows(["T1", "T2", "T3"]).replace("10:00:00", "10:00:09"), "utf-8")
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr("producer.replay.publish", _publishing(sent, f, "unchanged"))
    real = producer.replay.load

    def load(*args: Any) -> Any:
        loaded = real(*args)
        _change(f, how)
        return loaded

    monkeypatch.setattr("producer.replay.load", load)
    code = main(["replay", str(f), *(["--strict"] if strict else [])])
    err = capsys.readouterr().err
    assert (code, sent) == (ExitCode.USAGE, []), err
    assert err.splitlines()[-1] == (
        f"auditstream replay: error: {f} changed while it was read (written to in place), "
        "nothing sent; replay it once nothing writes to it")
    assert not (tmp_path / "in.rejects.csv").exists()


def test_replay_of_an_unchanged_unordered_file_sends_it_all(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "in.csv"
    f.write_text(_rows(["T1", "T2", "T3"]).replace("10:00:00", "10:00:09"), "utf-8")
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr("producer.replay.publish", _publishing(sent, f, "unchanged"))
    assert main(["replay", str(f)]) == ExitCode.OK
    assert [r["transaction_id"] for r in sent] == ["T2", "T3", "T1"]


def test_score_refuses_an_input_rewritten_within_one_tick_of_its_hash(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Rewritten (the same size, its time put back) once hashed, before its rows are read:
    the new bytes were scored under the old bytes' input_sha256, exit 0."""
    import auditstream.score

    f = tmp_path / "in.csv"
    f.write_text(_rows(["T1", "T2", "T3"]), "utf-8")
    real, calls = auditstream.score._sha256, list[Any]()

    def sha256(inputs: Any) -> Any:
        digest = real(inputs)
        if not calls:
            _change(f, "rewritten")
        calls.append(digest)
        return digest

    monkeypatch.setattr("auditstream.score._sha256", sha256)
    assert_score_refuses(f, tmp_path / "out", capsys)


@pytest.fixture
def interleaved(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], None]], None]:
    """The review CSV's one read of the whole file (asking for over 1 MiB) made of reads of
    16 bytes, `write` run after the first: a write that lands inside the read, as one may
    in a large file's. Other reads are left whole."""
    def install(write: Callable[[], None]) -> None:
        real, done = os.preadv, [False]

        def preadv(fd: int, buffers: list[Any], offset: int) -> int:
            view = memoryview(buffers[0])
            if len(view) <= 1 << 20:
                return real(fd, [view], offset)
            n = real(fd, [view[:16]], offset)
            if not done[0]:
                done[0] = True
                write()
            return n

        monkeypatch.setattr("shared.inputs.os.preadv", preadv)

    return install


@pytest.mark.parametrize("how", ["rewritten", "unchanged"])
def test_review_import_publishes_nothing_of_a_csv_changed_while_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        interleaved: Callable[[Callable[[], None]], None], how: str) -> None:
    sent = publish_to_list(monkeypatch)
    f = review_csv(tmp_path / "r.csv", ["c1", "c2", "c3"])

    def rewrite() -> None:
        if how == "rewritten":  # the same size, its time put back
            st = f.stat()
            review_csv(f, ["c7", "c8", "c9"])
            os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))

    interleaved(rewrite)
    code = main(["review", "import", str(f), "--no-check", "--reviewer", "a"])
    out, err = capsys.readouterr()
    if how == "unchanged":
        assert (code, [r.id for r in sent]) == (ExitCode.OK, ["c1", "c2", "c3"]), err
        return
    assert (code, sent) == (ExitCode.USAGE, []), out + err
    assert err.splitlines()[-1] == (
        f"auditstream review: error: {f} changed while it was read (written to in place), "
        "nothing published; import it once nothing writes to it")


def test_review_import_publishes_nothing_of_a_workbook_changed_while_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A workbook's sheet is read as its rows are: rewritten in place once the book is
    open, the rows came from the new bytes, the shared strings from the old."""
    import auditstream.review.files as files

    sent = publish_to_list(monkeypatch)
    f = review_xlsx(tmp_path / "r.xlsx", ["c1", "c2"])
    new = review_xlsx(tmp_path / "new.xlsx", ["c8", "c9"]).read_bytes()
    real = files._hidden_values

    def hidden(*args: Any) -> Any:
        found = real(*args)
        with open(f, "r+b") as out:  # in place: the descriptor held reads it
            out.write(new)
            out.truncate()
        return found

    monkeypatch.setattr(files, "_hidden_values", hidden)
    code = main(["review", "import", str(f), "--no-check", "--reviewer", "a"])
    err = capsys.readouterr().err
    assert (code, sent) == (ExitCode.USAGE, []), err
    assert err.splitlines()[-1] == (
        f"auditstream review: error: {f} changed while it was read (written to in place), "
        "nothing published; import it once nothing writes to it")


def test_a_version_names_the_bytes(tmp_path: Path) -> None:
    """Equal before and after only when the bytes and the stamp are."""
    from shared.inputs import InputFile, changed

    f = tmp_path / "in.csv"
    f.write_text(_rows(["T1"]), "utf-8")
    with InputFile.open(f) as file:
        before = [file.version()]
        assert changed([file], before) == []
        _change(f, "rewritten")
        assert file.stamp() == before[0].stamp
        assert changed([file], before) == [f]
