"""`review serve`, `review import`'s id check and `demo --review` read the exports' files
(cases.csv, case_transactions.csv, audit_sample.csv, run.json) only as regular files at
their names (`shared.outputs.open_regular`), as `dashboard report` reads them. Hostile probe
of 2026-12-06: a FIFO at run.json hung the review page's request (and `demo --review`'s
wait) for ever; a FIFO or folder at cases.csv showed an empty queue, or skipped the id
check ("no cases.csv"), without a word; a symbolic link was read through to any file.
Now: one line, exit 2 (a 503 page while the page serves), naming the file and what it is."""

from __future__ import annotations

import csv
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from auditstream.review.demo import read_run
from auditstream.review.files import exports_ids
from auditstream.review.simulate import Reviewer, simulate
from shared.errors import ExitCode, UsageError
from tests.fifo_guard import within
from tests.loopback import raw
from tests.review_publisher import publish_to_list
from tests.unit.review_page import Running, cases_folder

HEADER = ["rank", "case_id", "outcome"]
KINDS = ["fifo", "folder", "link"]
NOW = datetime(2025, 5, 1, tzinfo=UTC)
SAYS = {"fifo": "is a FIFO or device, not a regular file",
        "folder": "is a folder, not a regular file",
        "link": "is a symbolic link, not a regular file"}


def _plant(path: Path, kind: str, elsewhere: Path) -> None:
    """A FIFO without a writer, a folder, or a link to `elsewhere` (a regular file of the
    same content an export would have) at `path`."""
    if path.exists() or path.is_symlink():
        path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        path.symlink_to(elsewhere)


def _elsewhere(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "elsewhere.txt"
    path.write_text(text)
    return path


# --- review serve -------------------------------------------------------------------------

def _get(page: Running) -> bytes:
    port = page.app.port
    return raw(port, f"GET / HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode(), timeout=30)


@pytest.mark.parametrize("name", ["cases.csv", "run.json"])
@pytest.mark.parametrize("kind", KINDS)
def test_the_review_page_is_a_503_naming_a_name_that_is_no_regular_file(
        page: Running, tmp_path: Path, name: str, kind: str) -> None:
    path = page.app.exports / name
    text = (path.read_text() if name == "cases.csv"
            else '{\n  "auditstream_version": "1", "rows": 7}\n')
    _plant(path, kind, _elsewhere(tmp_path, text))
    reply = within(8, path if kind == "fifo" else None, lambda: _get(page))
    status, _, body = reply.partition(b"\r\n")
    assert status == b"HTTP/1.0 503 Service Unavailable", reply[:300]
    assert f"{path} {SAYS[kind]}".encode() in body, body[-600:]
    assert b"X-Content-Type-Options: nosniff" in reply  # the page's own headers
    if name == "cases.csv":  # nor a review of a case read through it
        assert page.request("POST", "/review", page.form())[0] == 503
        assert page.published == []


def _no_serving(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, ...]]:
    """`serve` replaced by a record of its calls (the real one serves until stopped)."""
    import auditstream.review.server as server

    served: list[tuple[object, ...]] = []

    def serve(*args: object) -> int:
        served.append(args)
        return 0

    monkeypatch.setattr(server, "serve", serve)
    return served


@pytest.mark.parametrize("name", ["cases.csv", "run.json"])
@pytest.mark.parametrize("kind", KINDS)
def test_review_serve_refuses_such_a_name_at_its_start_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        name: str, kind: str) -> None:
    """Before it waits for Kafka or binds a port: exit 2, nothing served."""
    from auditstream.cli import main

    served = _no_serving(monkeypatch)
    exports = cases_folder(tmp_path / "ex")
    path = exports / name
    _plant(path, kind, _elsewhere(tmp_path, "case_id\nx\n"))
    code = within(8, path if kind == "fifo" else None, lambda: main(
        ["review", "serve", "--exports", str(exports), "--port", "0", "--reviewer", "ana"]))
    err = capsys.readouterr().err
    assert (code, served) == (ExitCode.USAGE, []), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"auditstream review: error: {path} {SAYS[kind]}" in err, err


def test_review_serve_starts_on_a_folder_without_cases_yet(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check refuses only what is at the names: a folder the sink has not filled yet
    is served (its queue empty until cases.csv comes)."""
    from auditstream.cli import main

    served = _no_serving(monkeypatch)
    (tmp_path / "ex").mkdir()
    code = main(["review", "serve", "--exports", str(tmp_path / "ex"), "--port", "0",
                 "--reviewer", "ana"])
    assert (code, len(served)) == (0, 1)


@pytest.mark.parametrize("given", ["missing", "file", "default file"])
def test_review_serve_refuses_an_exports_folder_that_is_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        given: str) -> None:
    """A mistyped `--exports` (no such folder, or a file such as the cases.csv itself) served
    "0 open of 0 cases ... No open cases.", a queue that looked done, where `review import
    --exports` of the same is exit 2 (hostile probe, 2026-12-06, fifteenth). Now one line,
    exit 2, before Kafka. The default folder may be missing (the sink creates it later)."""
    from auditstream.cli import main

    served = _no_serving(monkeypatch)
    target = tmp_path / "ex"
    if given != "missing":
        target.write_text("case_id\n")
    argv = ["review", "serve", "--port", "0", "--reviewer", "ana"]
    if given == "default file":
        monkeypatch.setenv("SINK_EXPORTS_DIR", str(target))
    else:
        argv += ["--exports", str(target)]
    assert main(argv) == ExitCode.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(target) in err[0] and "folder" in err[0], err
    assert served == []


def test_review_serve_starts_on_a_default_folder_the_sink_has_not_made_yet(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from auditstream.cli import main

    served = _no_serving(monkeypatch)
    monkeypatch.setenv("SINK_EXPORTS_DIR", str(tmp_path / "later"))
    assert main(["review", "serve", "--port", "0", "--reviewer", "ana"]) == 0
    assert len(served) == 1


# --- review import's id check -------------------------------------------------------------

def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def no_publish(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    return publish_to_list(monkeypatch)


@pytest.mark.parametrize("given", [True, False], ids=["--exports", "SINK_EXPORTS_DIR"])
@pytest.mark.parametrize("kind", KINDS)
def test_review_import_refuses_a_cases_file_of_the_exports_that_is_no_regular_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        no_publish: list[Any], kind: str, given: bool) -> None:
    """Before: a FIFO or a folder said `no cases.csv in DIR` (with --exports) or skipped
    the check with a note and published (the default folder); a link was read through."""
    from auditstream.cli import main

    exports = tmp_path / "ex"
    exports.mkdir()
    path = exports / "cases.csv"
    _plant(path, kind, _write(tmp_path / "theirs.csv", ["case_id"], [["c1"], ["c2"]]))
    reviewed = _write(tmp_path / "reviewed.csv", ["case_id", "outcome"], [["c1", "confirmed"]])
    monkeypatch.setenv("SINK_EXPORTS_DIR", str(exports))
    code = within(8, path if kind == "fifo" else None, lambda: main(
        ["review", "import", str(reviewed), "--reviewer", "ana",
         *(["--exports", str(exports)] if given else [])]))
    out, err = capsys.readouterr()
    assert (code, no_publish, out) == (ExitCode.USAGE, [], ""), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"auditstream review: error: {path} {SAYS[kind]}" in err, err


def test_review_import_still_checks_regular_exports_and_skips_a_missing_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        no_publish: list[Any]) -> None:
    from auditstream.cli import main

    exports = tmp_path / "ex"
    exports.mkdir()
    reviewed = _write(tmp_path / "reviewed.csv", ["case_id", "outcome"],
                      [["c1", "confirmed"], ["c9", "dismissed"]])
    monkeypatch.setenv("SINK_EXPORTS_DIR", str(exports))
    assert main(["review", "import", str(reviewed), "--reviewer", "ana"]) == 0
    assert "note: ids not checked" in capsys.readouterr().err
    _write(exports / "cases.csv", ["case_id"], [["c1"]])
    no_publish.clear()
    assert main(["review", "import", str(reviewed), "--reviewer", "ana"]) == 1
    assert [r.id for r in no_publish] == ["c1"]


# --- demo --review (the simulated reviewer) -----------------------------------------------

@pytest.mark.parametrize("name", ["cases.csv", "case_transactions.csv", "audit_sample.csv"])
@pytest.mark.parametrize("kind", KINDS)
def test_the_simulated_reviewer_refuses_an_export_that_is_no_regular_file(
        tmp_path: Path, name: str, kind: str) -> None:
    """Before: a FIFO or folder read as no rows, the reviews of its items silently not
    made; a link read through."""
    _write(tmp_path / "cases.csv", HEADER, [["1", "case-a", ""]])
    _write(tmp_path / "case_transactions.csv", ["case_id", "transaction_id"], [["case-a", "T1"]])
    _write(tmp_path / "audit_sample.csv", ["day", "transaction_id"], [["d", "T5"]])
    path = tmp_path / name
    _plant(path, kind, _elsewhere(tmp_path, path.read_text()))
    with pytest.raises(UsageError) as caught:
        within(8, path if kind == "fifo" else None, lambda: simulate(
            tmp_path, {"T1": True, "T5": False}, Reviewer(accuracy=1.0), NOW))
    assert str(caught.value).startswith(f"{path} {SAYS[kind]}")


@pytest.mark.parametrize("kind", KINDS)
def test_run_json_that_is_no_regular_file_is_refused_not_waited_on(
        tmp_path: Path, kind: str) -> None:
    """`demo --review` polls run.json (`wait_for_run`): a FIFO there waited for ever."""
    path = tmp_path / "run.json"
    _plant(path, kind, _elsewhere(tmp_path, '{"rows": 5}'))
    with pytest.raises(UsageError) as caught:
        within(8, path if kind == "fifo" else None, lambda: read_run(tmp_path))
    assert str(caught.value).startswith(f"{path} {SAYS[kind]}")


def test_run_json_missing_or_damaged_reads_as_none_yet(tmp_path: Path) -> None:
    """What the sink has not written yet, or a run.json of no object, is polled again."""
    assert read_run(tmp_path) == {}
    (tmp_path / "run.json").write_text("[1]")
    assert read_run(tmp_path) == {}
    (tmp_path / "run.json").write_text('{"rows": 5}')
    assert read_run(tmp_path) == {"rows": 5}


def test_the_exported_reviews_are_read_as_the_id_check_reads_them(tmp_path: Path) -> None:
    """The reviews to compare a re-import with come from the one read of cases.csv the id
    check makes: before, a second read by name read a link swapped in between through."""
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text("case_id,outcome\nc1,confirmed\n", encoding="utf-8")
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "cases.csv").symlink_to(elsewhere)
    with pytest.raises(UsageError, match=r"cases\.csv"):
        exports_ids(exports)
