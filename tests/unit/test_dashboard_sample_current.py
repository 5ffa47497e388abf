"""The committed sample (`dashboard/sample_exports/`) is what `dashboard sample` writes today.

The `.pbix`, report.html and the screenshots are built from it: a detection change that
moves the scores without a regenerated sample ships pictures of an older detector (the
sample of 2026-12-01 drifted so until 2026-12-07). Regenerate with
`auditstream dashboard sample dashboard/sample_exports` (docs/dashboard.md, "The sample
snapshot"), then `auditstream dashboard build` and `auditstream dashboard screenshots`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from auditstream.cli import main
from dashboard.build import SAMPLE_EXPORTS

pytestmark = pytest.mark.slow  # a real generate + score + export run: ~4 s of CPU

#: run.json's fields that name the run, not its content: when it ran and on which Python.
RUN_SPECIFIC = ("written_at", "python_version")
#: status.csv's wall-clock columns: when the batch run wrote its rows and stopped.
STATUS_RUN_TIMES = ("last_row_written_at", "heartbeat_at", "stopped_at")
#: Files in the folder that are no content of the sample: a lock file an older
#: `dashboard sample` left in a checkout (ignored by git).
NOT_CONTENT = (".sink.lock",)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in NOT_CONTENT and "__pycache__" not in p.parts}


def _run(raw: bytes) -> dict[str, object]:
    """run.json with its run-specific fields masked (present or not stays compared)."""
    run = json.loads(raw)
    return {k: ("<run>" if k in RUN_SPECIFIC else v) for k, v in run.items()}


def _status(raw: bytes) -> list[dict[str, str]]:
    """status.csv's rows with the run's wall-clock times masked (empty or set stays compared)."""
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
    return [{k: ("<time>" if k in STATUS_RUN_TIMES and v else v) for k, v in row.items()}
            for row in rows]


#: Export settings of a user's environment, each of which changes some file of a sample
#: that took them (the recent cases, the audit sample): the sample takes none.
USERS_EXPORTS = {"EXPORTS_CASE_DAYS": "1", "EXPORTS_SAMPLE_PER_BAND": "1",
                 "EXPORTS_TOP_CASES": "3"}


@pytest.fixture(scope="module")
def fresh_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `auditstream dashboard sample` writes now, run by a user whose environment sets
    export settings of their own."""
    out = tmp_path_factory.mktemp("sample") / "sample"
    mp = pytest.MonkeyPatch()
    try:
        for name, value in USERS_EXPORTS.items():
            mp.setenv(name, value)
        assert main(["dashboard", "sample", str(out)]) == 0
    finally:
        mp.undo()
    return out


@pytest.fixture(scope="module")
def fresh(fresh_folder: Path) -> dict[str, bytes]:
    return _files(fresh_folder)


def test_a_sample_run_leaves_no_lock_file_in_its_folder(fresh_folder: Path) -> None:
    # the committed folder got the run's `.sink.lock` (ignored by git, but in the folder
    # the .pbix is built from, and in a copy of it)
    assert sorted(p.name for p in fresh_folder.iterdir() if p.name.startswith(".")) == []


def test_the_committed_sample_holds_the_files_a_sample_run_writes(
        fresh: dict[str, bytes]) -> None:
    assert sorted(_files(SAMPLE_EXPORTS)) == sorted(fresh)


def test_the_committed_run_json_is_a_sample_run_s(fresh: dict[str, bytes]) -> None:
    committed = _run((SAMPLE_EXPORTS / "run.json").read_bytes())
    assert committed == _run(fresh["run.json"])


def test_the_committed_status_csv_is_a_sample_run_s(fresh: dict[str, bytes]) -> None:
    assert _status((SAMPLE_EXPORTS / "status.csv").read_bytes()) == _status(fresh["status.csv"])


def test_every_committed_table_and_day_file_is_a_sample_run_s(
        fresh: dict[str, bytes]) -> None:
    committed = _files(SAMPLE_EXPORTS)
    tables = sorted(n for n in fresh if n.endswith(".csv") and n != "status.csv")
    assert len(tables) == 7 + 30  # the tables but status.csv, the 30 day files of scored/
    differ = [n for n in tables if committed.get(n) != fresh[n]]
    assert differ == []
