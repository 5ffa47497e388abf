"""A sink of this release stopped during its start-up in a folder whose status.csv an older
release wrote, without the `stopped_at` column (probe of 2026-12-06): the stop is recorded
all the same. `mark_stopped` rewrote the row by the old header's names, so the stop had no
cell to go in: the row said "starting" for good (the health check "its loop has not
started", the dashboard "lag unknown"), as before stopping was recorded at all."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

from sink import health as sink_health
from sink.status import STATUS_FILE, mark_starting, mark_stopped

OLD_HEADER = ["data_as_of", "last_row_written_at", "heartbeat_at", "rows", "lag_messages",
              "minutes_behind", "auditstream_version"]
OLD_ROW = ["2026-12-05T10:00:00", "2026-12-05T10:00:00", "2026-12-05T10:00:05", "900", "0",
           "0", "0.0.9"]


def _old(folder: Path) -> Path:
    path = folder / STATUS_FILE
    path.write_text(",".join(OLD_HEADER) + "\n" + ",".join(OLD_ROW) + "\n", "utf-8")
    return path


def _row(path: Path) -> dict[str, str]:
    (row,) = csv.DictReader(io.StringIO(path.read_text("utf-8"), newline=""))
    return row


def test_a_stop_during_start_up_is_recorded_in_an_older_release_status(tmp_path: Path
                                                                       ) -> None:
    path = _old(tmp_path)
    mark_starting(tmp_path)
    mark_stopped(tmp_path)
    row = _row(path)
    stopped = row.get("stopped_at") or ""
    assert stopped, row
    assert {k: row[k] for k in OLD_HEADER} == dict(zip(OLD_HEADER, OLD_ROW, strict=True)) | {
        "heartbeat_at": "", "lag_messages": "", "minutes_behind": ""}
    verdict = sink_health.check(tmp_path, datetime.fromisoformat(stopped))
    assert verdict == (False, f"the sink stopped at {stopped} (a clean stop; how many "
                              "messages were waiting then was unknown)")


def test_a_start_leaves_an_older_release_status_starting(tmp_path: Path) -> None:
    path = _old(tmp_path)
    mark_starting(tmp_path)
    row = _row(path)
    assert row["stopped_at"] == ""  # the column added, blank: not stopped
    assert (row["heartbeat_at"], row["data_as_of"]) == ("", "2026-12-05T10:00:00")
