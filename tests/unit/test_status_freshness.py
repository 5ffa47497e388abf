"""A status.csv row read after its sink was killed claims no lag: every reader that knows
when it reads (the health check, report.html at its making, the dashboard at its refresh:
tests/unit/test_dashboard_silent_sink.py) says "sink not heard from since T" once the
heartbeat is more than `shared.freshness.STALE_S` old, and the last lag up to it.

Found 2026-12-06: after kill -9 or a crash of the sink, status.csv kept "0 minutes behind"
and report.html and the dashboard showed it as current.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard.report import collect, render
from shared.errors import UsageError
from shared.freshness import STALE_S, describe, silent_for
from sink import health as sink_health
from sink.status import STATUS_FILE, write_status

NODE = shutil.which("node")
BEAT = datetime(2026, 12, 6, 5, 0, 0)
RUN = {"event_watermark": "2025-03-01T10:20:30", "rows": 900, "auditstream_version": "0.1.0"}


def _killed(folder: Path) -> None:
    """status.csv as a sink killed right after a heartbeat at BEAT leaves it: caught up."""
    write_status(folder, RUN, "2026-12-06T04:59:30", 0, heartbeat=BEAT.isoformat())


@pytest.mark.parametrize("age", [STALE_S - 1, STALE_S])
def test_a_fresh_heartbeat_keeps_its_lag_in_the_report(tmp_path: Path, age: int) -> None:
    _killed(tmp_path)
    status = collect(tmp_path, now=BEAT + timedelta(seconds=age))["status"]
    assert status == {"freshness": "data as of 2025-03-01 10:20, 0 minutes behind the stream",
                      "heartbeat_at": "2026-12-06T05:00:00"}
    assert sink_health.check(tmp_path, BEAT + timedelta(seconds=age)).healthy


@pytest.mark.parametrize("age", [STALE_S + 1, 3 * 86400])
def test_a_stale_heartbeat_says_the_sink_is_not_heard_from(tmp_path: Path, age: int) -> None:
    _killed(tmp_path)
    now = BEAT + timedelta(seconds=age)
    status = collect(tmp_path, now=now)["status"]
    assert status == {"freshness": "data as of 2025-03-01 10:20, sink not heard from since "
                                   "2026-12-06 05:00", "heartbeat_at": "2026-12-06T05:00:00"}
    verdict = sink_health.check(tmp_path, now)
    assert verdict == (False, f"sink not heard from since 2026-12-06T05:00:00 ({age} s, bound "
                              "120 s): killed, crashed or stuck; 0 messages were waiting then")


@pytest.mark.skipif(NODE is None, reason="node is not installed")
@pytest.mark.parametrize(("age", "said"), [
    (STALE_S, "0 minutes behind the stream"),
    (STALE_S + 1, "sink not heard from since 2026-12-06 05:00")])
def test_the_page_shows_the_status_as_judged_when_it_was_made(
        tmp_path: Path, age: int, said: str) -> None:
    _killed(tmp_path)
    page = tmp_path / "report.html"
    page.write_text(render(collect(tmp_path, now=BEAT + timedelta(seconds=age))), "utf-8")
    out = subprocess.run([str(NODE), str(Path(__file__).with_name("report_fakedom.js")),
                          str(page)], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(out.stdout)["_freshness"] == (
        f"data as of 2025-03-01 10:20, {said} (when this page was made; last heartbeat "
        "2026-12-06T05:00:00 UTC)")


def test_a_folder_without_status_has_no_freshness_line(tmp_path: Path) -> None:
    assert collect(tmp_path, now=BEAT)["status"] == {}


@given(st.integers(min_value=-3600, max_value=3 * 86400), st.integers(0, 999_999),
       st.sampled_from(["0", "7", ""]))
def test_no_lag_is_claimed_past_the_staleness(age: int, micro: int, behind: str) -> None:
    """Whole seconds decide (as the row's times and the dashboard's DATEDIFF): a fraction
    of a second more is no second more. Either way: a heartbeat more than STALE_S ahead
    vouches for nothing either (tests/unit/test_freshness_clocks.py)."""
    now = BEAT + timedelta(seconds=age, microseconds=micro)
    row = {"data_as_of": "2025-03-01T10:20:30", "heartbeat_at": BEAT.isoformat(),
           "minutes_behind": behind, "stopped_at": ""}
    said = describe(row, now)
    assert (silent_for(row["heartbeat_at"], now) is not None) is (age > STALE_S)
    if age > STALE_S:
        assert said.endswith(", sink not heard from since 2026-12-06 05:00"), said
    elif age < -STALE_S:  # a heartbeat that far ahead: the clocks disagree
        assert said.endswith(", heartbeat 2026-12-06 05:00 ahead of the reader's clock, "
                             "lag unknown"), said
    else:
        assert "not heard from" not in said
        assert said.endswith(f", {behind} minutes behind the stream" if behind
                             else ", lag unknown"), said


def test_a_stopped_row_says_stopped_however_old(tmp_path: Path) -> None:
    write_status(tmp_path, RUN, "", 3, heartbeat=BEAT.isoformat(), stopped=True)
    for age in (0, STALE_S + 1, 86400):
        assert collect(tmp_path, now=BEAT + timedelta(seconds=age))["status"]["freshness"] == (
            "data as of 2025-03-01 10:20, sink stopped 2026-12-06 05:00, lag unknown since")


def test_a_damaged_status_is_one_line_not_a_report(tmp_path: Path) -> None:
    _killed(tmp_path)
    path = tmp_path / STATUS_FILE
    path.write_text(path.read_text("utf-8").replace("2026-12-06T05:00:00", "yesterday"),
                    "utf-8")
    with pytest.raises(UsageError, match=r"^cannot read .*status\.csv: a time or count"):
        collect(tmp_path, now=BEAT)
