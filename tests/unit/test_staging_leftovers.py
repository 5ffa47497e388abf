"""The staging folder a killed `score` (`.scored-incoming/`) or `dashboard sample`
(`.sample-incoming/`) leaves, under the next writer of the folder, whichever it is.

Before (hostile probe, 2026-12-07, session 22): each removed only its own kind's, so a
killed score's staged day files (a whole run's rows: gigabytes for a large input) stayed
for good under a sample made there since, or under a sink started on the folder a first
score was killed in, and a killed sample's staged exports under the `score` runs after it.
No reader took rows from them (Power BI lists `scored/` one level deep, the tables by name;
`dashboard report` reads the top of the folder), but nothing removed them either. Now every
writer of the folder removes both, holding the folder's lock (a staging folder is only
written under it, so one there is a killed run's), with a warning naming it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from auditstream.cli import main
from sink.folder import open_checkpoint
from sink.settings import ExportSettings
from tests.unit.score_runs import scored_a

DAY = "transactions_scored_2025-01-01.csv"


def _leftover(folder: Path, name: str) -> Path:
    """A staging folder as a run killed -9 leaves it: exports inside, a day file among them."""
    stage = folder / name
    (stage / "scored").mkdir(parents=True)
    (stage / "scored" / DAY).write_text("transaction_id\nx1\n", encoding="utf-8")
    (stage / DAY).write_text("transaction_id\nx2\n", encoding="utf-8")
    (stage / "run.json").write_text("{}", encoding="utf-8")
    return stage


@pytest.fixture
def scored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding `score`'s run of a.csv."""
    return scored_a(tmp_path, monkeypatch)


@pytest.mark.parametrize("name", [".sample-incoming", ".scored-incoming"])
def test_score_removes_a_killed_runs_staging_folder(
        scored: Path, name: str, caplog: pytest.LogCaptureFixture) -> None:
    _leftover(scored, name)
    with caplog.at_level(logging.WARNING):
        assert main(["score", "a.csv", "--out", "o"]) == 0
    assert not (scored / name).exists()
    assert name in caplog.text


@pytest.mark.parametrize("name", [".sample-incoming", ".scored-incoming"])
def test_a_sample_removes_a_killed_runs_staging_folder(scored: Path, name: str) -> None:
    _leftover(scored, name)
    assert main(["dashboard", "sample", "o", "--synthetic", "--rows", "200"]) == 0
    assert not (scored / name).exists()
    assert (scored / "run.json").exists()


def test_a_sink_started_where_a_first_score_was_killed_removes_its_staging(
        tmp_path: Path) -> None:
    """The killed first run left no export, so the sink takes the folder as a fresh one."""
    _leftover(tmp_path, ".scored-incoming")
    (tmp_path / "scored").mkdir()
    open_checkpoint(tmp_path, "t", ExportSettings(), False)
    assert not (tmp_path / ".scored-incoming").exists()


def test_a_link_at_a_staging_name_is_left_as_it_is(scored: Path, tmp_path: Path) -> None:
    """Only a folder is removed, never what a link points to."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.csv").write_text("mine", encoding="utf-8")
    (scored / ".sample-incoming").symlink_to(elsewhere)
    assert main(["score", "a.csv", "--out", "o"]) == 0
    assert (elsewhere / "keep.csv").read_text(encoding="utf-8") == "mine"
    assert (scored / ".sample-incoming").is_symlink()
