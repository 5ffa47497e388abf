"""`auditstream dashboard ...` and `review import` on folders that are not (all) theirs
(hostile probe, 2026-12-05): `dashboard report ~/work` read the user's own cases.csv as the
cases table and replaced their report.html, exit 0; a FIFO at a table's name hung it for
ever, a folder there was a traceback; `dashboard build --out DIR` with a link at the
project's folder wrote through it and deleted the linked folder's files; `review import`
published its reviews and only then found a FIFO at its rejects report's name. The same
rule as the sink's and `score`'s (`shared.exports_folder`), checked before anything is
written or published."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditstream.cli import main
from dashboard.spec import NAME
from shared.errors import ExitCode
from tests.folder_tree import tree

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "dashboard" / "sample_exports"


def _work(tmp_path: Path, *theirs: str) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    for name in theirs:
        (work / name).write_text("id,name\n1,bob\n" if name.endswith(".csv")
                                 else '{"mine": 1}\n' if name.endswith(".json")
                                 else f"the user's own {name}\n")
    (work / "notes.txt").write_text("notes\n")
    return work


def _error(capsys: pytest.CaptureFixture[str], prog: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"auditstream {prog}: error: "), err
    return err.strip()


@pytest.mark.parametrize("theirs", [["report.html"], ["cases.csv", "report.html"],
                                    ["run.json", "report.html"],
                                    ["thresholds.csv", "report.html"]])
def test_dashboard_report_refuses_a_folder_of_other_files_at_its_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], theirs: list[str]) -> None:
    """The user's report.html was replaced by a page of their own cases.csv, exit 0."""
    work = _work(tmp_path, *theirs)
    before = tree(work)
    assert main(["dashboard", "report", str(work)]) == ExitCode.USAGE
    assert _error(capsys, "dashboard").startswith(
        f"auditstream dashboard: error: {work} holds report.html but no exports (no "
        "run.json, sink checkpoint or day file of auditstream's): dashboard report would "
        "replace it; give")
    assert tree(work) == before


@pytest.mark.parametrize("theirs", ["cases.csv", "run.json", "thresholds.csv",
                                    "assurance.csv"])
def test_dashboard_report_reads_no_table_of_a_folder_without_exports(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], theirs: str) -> None:
    """A user's cases.csv (or run.json of their own) made the folder "exports": report.html
    was written from it, exit 0. Exports are what the sink and `score` say they are."""
    work = _work(tmp_path, theirs)
    before = tree(work)
    assert main(["dashboard", "report", str(work)]) == ExitCode.USAGE
    assert f"no exports in {work} (no run.json of auditstream's" in _error(capsys, "dashboard")
    assert tree(work) == before


@pytest.mark.parametrize("mark", ["run.json", ".sink-state.json", "transactions_scored.csv",
                                  "scored/transactions_scored_2025-01-01.csv"])
def test_dashboard_report_writes_into_a_folder_with_exports_beside_other_files(
        tmp_path: Path, mark: str) -> None:
    """Each thing that makes a folder exports (auditstream's run.json, the checkpoint, the
    reference layout's file, a day file) lets report.html be (re)written there; the user's
    other files stay as they are."""
    work = _work(tmp_path)
    shutil.copy(SAMPLE / "cases.csv", work / "cases.csv")
    (work / mark).parent.mkdir(exist_ok=True)
    source = SAMPLE / "run.json" if mark == "run.json" else None
    (work / mark).write_bytes(source.read_bytes() if source else b"")
    (work / "report.html").write_text("an older report\n")
    assert main(["dashboard", "report", str(work)]) == ExitCode.OK
    assert (work / "notes.txt").read_text() == "notes\n"
    assert "case-1cfc29c7b605741d" in (work / "report.html").read_text()


def _exports(tmp_path: Path) -> Path:
    exports = tmp_path / "exports"
    shutil.copytree(SAMPLE, exports)
    return exports


@pytest.mark.parametrize("name", ["thresholds.csv", "cases.csv", "run.json",
                                  "transactions_scored.csv"])
def test_a_fifo_at_a_file_dashboard_report_reads_is_one_line_not_a_hang(
        tmp_path: Path, name: str) -> None:
    """A FIFO at a table's (or run.json's, the reference layout's scored file's) name: the
    report waited for a writer for ever. Now it is named in one line, exit 2, report.html
    not written. (One at a day file's name is no day file, `shared.dayfiles`: not read.)"""
    exports = _exports(tmp_path)
    if name == "transactions_scored.csv":  # read in the reference layout, without scored/
        shutil.rmtree(exports / "scored")
    else:
        (exports / name).unlink()
    os.mkfifo(exports / name)
    try:
        done = subprocess.run([sys.executable, "-m", "auditstream", "dashboard", "report",
                               str(exports)], cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60,
                              check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"dashboard report waited on the FIFO at {name}")
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert done.stderr.strip() == (
        f"auditstream dashboard: error: {exports / name} is a FIFO or device, not a regular "
        "file: auditstream writes its exports only as regular files in the folder, never "
        "through a link, into a FIFO or over a folder; move it away and run again")
    assert not (exports / "report.html").exists()


@pytest.mark.parametrize("name", ["cases.csv", "run.json", "transactions_scored.csv"])
def test_a_folder_at_a_file_dashboard_report_reads_is_one_line_not_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    exports = _exports(tmp_path)
    if name == "transactions_scored.csv":  # read in the reference layout, without scored/
        shutil.rmtree(exports / "scored")
    else:
        (exports / name).unlink()
    (exports / name).mkdir()
    assert main(["dashboard", "report", str(exports)]) == ExitCode.USAGE
    assert _error(capsys, "dashboard").endswith(f"{exports / name} is a folder, not a regular "
                                                "file: auditstream writes its exports only "
                                                "as regular files in the folder, never "
                                                "through a link, into a FIFO or over a "
                                                "folder; move it away and run again")
    assert not (exports / "report.html").exists()


@pytest.mark.parametrize("linked", [f"{NAME}.Report", f"{NAME}.SemanticModel",
                                    f"{NAME}.Report/definition"])
def test_dashboard_build_writes_and_deletes_nothing_through_a_link(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], linked: str) -> None:
    """A link at the project's folder (or one below it): the build wrote the project into
    the linked folder and removed every file there it does not make, exit 0. Now refused
    in one line, exit 2, before anything is written; the linked folder as it was."""
    out, theirs = tmp_path / "out", tmp_path / "theirs"
    for folder in (out, theirs, theirs / "sub"):
        folder.mkdir()
    (theirs / "precious.txt").write_text("the user's own file\n")
    (theirs / "sub" / "more.txt").write_text("another\n")
    (out / linked).parent.mkdir(parents=True, exist_ok=True)
    (out / linked).symlink_to(theirs)
    before, built = tree(theirs), tree(out)
    assert main(["dashboard", "build", "--out", str(out), "--no-pbix"]) == ExitCode.USAGE
    assert _error(capsys, "dashboard").endswith(
        f"{out / linked} is a symbolic link, not a regular file: auditstream writes its "
        "exports only as regular files in the folder, never through a link, into a FIFO or "
        "over a folder; move it away and run again")
    assert tree(theirs) == before
    assert tree(out) == built


def test_dashboard_build_still_removes_a_link_the_spec_does_not_make(tmp_path: Path) -> None:
    """A link inside the project at a name the spec does not make is removed as before (the
    link, never what it points at)."""
    out, theirs = tmp_path / "out", tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "precious.txt").write_text("the user's own file\n")
    assert main(["dashboard", "build", "--out", str(out), "--no-pbix"]) == ExitCode.OK
    (out / f"{NAME}.Report" / "extra").symlink_to(theirs)
    assert main(["dashboard", "build", "--out", str(out), "--no-pbix"]) == ExitCode.OK
    assert not os.path.lexists(out / f"{NAME}.Report" / "extra")
    assert (theirs / "precious.txt").read_text() == "the user's own file\n"


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_review_import_refuses_its_rejects_name_before_it_publishes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """A FIFO (or a folder) at `<name>.rejects.csv`: the reviews were published, then the
    report refused, exit 2, the rejected rows past the 20 shown on stderr in no file. Now
    the name is checked with the inputs, before anything is read or published."""
    from auditstream.review.publish import ReviewPublisher

    def published(self: object, reviews: object) -> int:
        raise AssertionError("published before the rejects report's name was checked")

    monkeypatch.setattr(ReviewPublisher, "__init__", lambda *a, **k: None)
    monkeypatch.setattr(ReviewPublisher, "publish", published)
    source = tmp_path / "reviews.csv"
    source.write_text("case_id,outcome\nc1,confirmed\nc2,bogus\n")
    report = tmp_path / "reviews.rejects.csv"
    os.mkfifo(report) if kind == "fifo" else report.mkdir()
    assert main(["review", "import", str(source), "--no-check"]) == ExitCode.USAGE
    line = _error(capsys, "review")
    assert str(report) in line and ("not a regular file" in line or "is a folder" in line)


def test_run_json_is_named_once() -> None:
    """run.json's name is declared in `shared.exports_folder` alone (review's demo had its
    own `RUN_FILE`)."""
    declared = [str(p.relative_to(ROOT)) for folder in ("auditstream", "dashboard", "sink",
                                                       "shared", "detector", "producer")
                for p in sorted((ROOT / folder).rglob("*.py"))
                if re.search(r"^RUN_FILE\s*[:=]", p.read_text(), re.M)]
    assert declared == ["shared/exports_folder.py"]


class _Page:
    """Playwright's page as the screenshots use it: `screenshot(path=...)` writes the bytes
    with `open(path, "wb")` (playwright/_impl/browser_context.py, `write_file`), without a
    path it returns them."""

    PNG = b"\x89PNG a screenshot\n"

    def __init__(self) -> None:
        self.opened: dict[Path, str] = {}  # each file opened -> its text then

    def goto(self, url: str) -> None:
        if url.startswith("file://"):
            path = Path(url.removeprefix("file://").split("#")[0])
            self.opened[path] = path.read_text()

    def wait_for_function(self, expression: str) -> _Page:
        return self

    def json_value(self) -> bool:
        return True

    def screenshot(self, path: str | None = None, full_page: bool = False) -> bytes:
        if path is not None:
            with open(path, "wb") as fh:
                fh.write(self.PNG)
        return self.PNG


@pytest.mark.parametrize("kind", ["link", "fifo"])
def test_a_screenshot_writes_nothing_through_a_link_or_into_a_fifo(
        tmp_path: Path, kind: str) -> None:
    """`dashboard screenshots --out DIR` with a link at report-kpis.png wrote the PNG into
    the linked file (the user's own); a FIFO there waited for a reader for ever. Now the
    PNG replaces the link (its target kept), a FIFO is refused in one line (exit 2)."""
    from dashboard.browser import Chromium
    from shared.errors import UsageError

    theirs, target = tmp_path / "theirs.png", tmp_path / "report-kpis.png"
    theirs.write_bytes(b"the user's own picture\n")
    browser = Chromium.__new__(Chromium)
    browser.page = _Page()  # type: ignore[assignment]
    if kind == "link":
        target.symlink_to(theirs)
        assert browser.screenshot(target) == target
        assert not target.is_symlink() and target.read_bytes() == _Page.PNG
    else:
        os.mkfifo(target)
        with pytest.raises(UsageError, match="not a regular file"):
            browser.screenshot(target)
    assert theirs.read_bytes() == b"the user's own picture\n"


@pytest.mark.parametrize("odd", ["fifo", "dangling link"])
def test_screenshots_read_only_the_exports_not_every_file_beside_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, odd: str) -> None:
    """The screenshots copied the whole exports folder to write report.html outside it: a
    FIFO or a link to nothing anywhere in it (files no export reads) was a traceback, exit
    70, and every other file was copied. Now the report is written from the folder, into a
    folder of its own; the exports folder as it was."""
    import auditstream.dashboard_cmd as cmd

    pages: list[_Page] = []

    class Fake:
        def __init__(self, **kwargs: object) -> None:
            pass

        def __enter__(self) -> object:
            from dashboard.browser import Chromium

            browser = Chromium.__new__(Chromium)
            browser.page = _Page()  # type: ignore[assignment]
            pages.append(browser.page)  # type: ignore[arg-type]
            return browser

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(cmd, "Chromium", Fake)
    exports, out = _exports(tmp_path), tmp_path / "shots"
    os.mkfifo(exports / "notes") if odd == "fifo" else (exports / "notes").symlink_to(
        tmp_path / "nowhere")
    before = tree(exports)
    assert main(["dashboard", "screenshots", "--exports", str(exports), "--out", str(out),
                 "--pbix", ""]) == ExitCode.OK
    assert sorted(p.name for p in out.iterdir()) == [
        "report-cases.png", "report-kpis.png", "report-volume.png"]
    [(report, html)] = pages[0].opened.items()
    assert "case-1cfc29c7b605741d" in html and report.parent != exports
    assert tree(exports) == before
