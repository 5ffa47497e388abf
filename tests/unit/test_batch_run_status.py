"""A batch run's status.csv is read as a batch run's, not a sink's: `auditstream score`
sets `stopped_at` at the end of its run (so its folder never reads as a live "0 minutes
behind", nor later as "sink not heard from"), but report.html and the dashboard then said
"sink stopped T, lag unknown since" for a run that had no sink (found 2026-12-06, wording
review: misleading to an auditor). The row says which program wrote it (`source`, as
run.json says: `shared.columns.SOURCE_SCORE`); every reader says "scored by a batch run at
T (no live stream)" for it however old, and `python -m sink.health` says no sink writes
the folder. A sink's row (and an older release's, without `source`) reads as before.
The dashboard's card: tests/unit/test_dashboard_batch_status.py."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from auditstream.cli import main
from dashboard.report import collect
from shared.csv_io import write_transactions_csv
from shared.freshness import STALE_S, describe
from sink import health as sink_health
from sink.status import STATUS_FILE, write_status
from tests.unit.test_core_engine import stream

END = datetime(2026, 12, 6, 5, 0, 0)
RUN = {"event_watermark": "2025-03-01T10:20:30", "rows": 900, "auditstream_version": "0.1.0"}
BATCH = "data as of 2025-03-01 10:20, scored by a batch run at 2026-12-06 05:00 (no live stream)"
AGES = [0, STALE_S, STALE_S + 1, 86400]


def _row(folder: Path) -> dict[str, str]:
    with (folder / STATUS_FILE).open(newline="", encoding="utf-8") as fh:
        (row,) = csv.DictReader(fh)
    return row


def _scored(folder: Path, source: str, stopped: bool = True) -> None:
    """status.csv as a run of `source` (run.json's `source`) leaves it, ending at END."""
    write_status(folder, RUN | {"source": source}, END.isoformat(), 0,
                 heartbeat=END.isoformat(), stopped=stopped)


@pytest.mark.parametrize("age", AGES)
def test_a_batch_runs_row_says_when_it_scored_however_old(tmp_path: Path, age: int) -> None:
    _scored(tmp_path, "auditstream score")
    now = END + timedelta(seconds=age)
    assert describe(_row(tmp_path), now) == BATCH
    # report.html: the sentence, and no "last heartbeat" of a sink the run never had
    assert collect(tmp_path, now=now)["status"] == {"freshness": BATCH, "heartbeat_at": ""}


def test_a_batch_runs_row_without_its_end_still_says_batch_not_sink() -> None:
    row = {"data_as_of": "2025-03-01T10:20:30", "source": "auditstream score",
           "heartbeat_at": "", "stopped_at": "", "minutes_behind": ""}
    assert describe(row, END) == "data as of 2025-03-01 10:20, scored by a batch run (no " \
                                 "live stream)"


@pytest.mark.parametrize("source", ["auditstream sink", ""])
def test_a_sinks_stopped_row_still_says_the_sink_stopped(tmp_path: Path, source: str) -> None:
    _scored(tmp_path, source)
    for age in (0, STALE_S + 1):
        assert collect(tmp_path, now=END + timedelta(seconds=age))["status"] == {
            "freshness": "data as of 2025-03-01 10:20, sink stopped 2026-12-06 05:00, lag "
                         "unknown since", "heartbeat_at": END.isoformat()}


@pytest.mark.parametrize("age", [STALE_S, STALE_S + 1])
def test_a_running_sinks_row_is_not_taken_for_a_batch_run(tmp_path: Path, age: int) -> None:
    _scored(tmp_path, "auditstream sink", stopped=False)
    said = describe(_row(tmp_path), END + timedelta(seconds=age))
    assert "batch" not in said
    assert said.endswith("0 minutes behind the stream" if age == STALE_S
                         else "sink not heard from since 2026-12-06 05:00"), said


@pytest.mark.parametrize("age", [0, 86400])
def test_the_health_check_says_no_sink_writes_a_batch_runs_folder(
        tmp_path: Path, age: int) -> None:
    _scored(tmp_path, "auditstream score")
    verdict = sink_health.check(tmp_path, END + timedelta(seconds=age))
    assert not verdict.healthy
    assert "batch run's (auditstream score, ended 2026-12-06T05:00:00): no sink writes this " \
           "folder" in verdict.reason, verdict.reason
    assert "the sink stopped" not in verdict.reason


def test_the_health_check_still_says_a_sink_stopped(tmp_path: Path) -> None:
    _scored(tmp_path, "auditstream sink")
    verdict = sink_health.check(tmp_path, END)
    assert not verdict.healthy
    assert verdict.reason.startswith("the sink stopped at 2026-12-06T05:00:00"), verdict.reason


def test_score_writes_a_batch_runs_status_and_its_report_says_so(tmp_path: Path) -> None:
    source = tmp_path / "history.csv"
    write_transactions_csv(stream(n=200, customers=10, seed=3), source)
    out = tmp_path / "ex"
    assert main(["score", str(source), "--out", str(out)]) == 0
    row = _row(out)
    assert row["source"] == "auditstream score"
    assert row["stopped_at"] == row["heartbeat_at"] != ""
    ended = datetime.fromisoformat(row["stopped_at"])
    said = collect(out, now=ended + timedelta(seconds=STALE_S + 1))["status"]["freshness"]
    assert said.endswith(f", scored by a batch run at {ended:%Y-%m-%d %H:%M} (no live "
                         "stream)"), said
    assert "sink" not in said
