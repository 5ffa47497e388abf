"""`dashboard report DIR` beside a writer of DIR (`score --out`, `dashboard sample`, a sink).

Before (hostile probe, 2026-12-07, session 22): `dashboard report` took no lock. Run while
`score --out DIR` replaced the folder, it read the earlier run's tables and run.json, the
score moved its own files and report.html in, and the report then put the earlier run's
page over it: a page of other numbers beside the new tables for good (no writer comes back
to fix it, as a sink's next refresh would), exit 0 both. Now it takes the folder's lock as
every writer does: beside one it is exit 6 naming it, the folder untouched; a folder that
kept no lock file (a sample's) keeps none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from auditstream.cli import main
from shared.errors import ExitCode
from shared.folderlock import LOCK_FILE, FolderLock
from tests.unit.score_runs import files, scored_a


@pytest.fixture
def earlier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding `score`'s run of a.csv; b.csv, another input, beside it."""
    return scored_a(tmp_path, monkeypatch)


def test_a_score_finishing_while_the_report_is_made_leaves_no_stale_page(
        earlier: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The report reads the folder, then `score b.csv --out o` runs before it writes."""
    import dashboard.report as page

    render = page.render
    scored: list[int] = []

    def score_meanwhile(data: Any) -> str:
        scored.append(main(["score", "b.csv", "--out", "o"]))
        return render(data)

    monkeypatch.setattr(page, "render", score_meanwhile)
    code = main(["dashboard", "report", "o"])
    run = (earlier / "run.json").read_text(encoding="utf-8")
    sha = run.split('"input_sha256": "')[1].split('"')[0]
    # the page is the run's whose tables are there: before, a.csv's page beside b.csv's run
    assert sha in (earlier / "report.html").read_text(encoding="utf-8")
    assert (code, scored) == (0, [ExitCode.LOCKED])  # the score waits its turn: exit 6


@pytest.mark.parametrize("holder", ["score", "dashboard sample", "sink"])
def test_the_report_beside_a_writer_is_exit_6_naming_it(
        earlier: Path, capsys: pytest.CaptureFixture[str], holder: str) -> None:
    before = files(earlier)
    with FolderLock(earlier, holder):
        assert main(["dashboard", "report", "o"]) == ExitCode.LOCKED
    err = capsys.readouterr().err
    assert f"({holder})" in err and "o/.sink.lock" in err, err
    assert "report.html" in err  # what to do: the writer makes its own page
    after = files(earlier)
    after.pop(LOCK_FILE)
    before.pop(LOCK_FILE)
    assert after == before


def test_a_folder_without_a_lock_file_keeps_none(earlier: Path) -> None:
    """A sample's folder holds no `.sink.lock` (`FolderLock(keep=False)`): the report
    leaves none either; a score's keeps its own."""
    assert main(["dashboard", "report", "o"]) == 0
    assert (earlier / LOCK_FILE).exists()
    (earlier / LOCK_FILE).unlink()
    assert main(["dashboard", "report", "o"]) == 0
    assert not (earlier / LOCK_FILE).exists()
    assert (earlier / "report.html").exists()
