"""A sink that stopped cleanly is not shown caught up by the status.csv it leaves.

Found 2026-12-06: after SIGTERM, Ctrl-C or `--once` draining, the last row said lag 0 and
`minutes_behind` 0, so the dashboard said "0 minutes behind the stream" for as long as
nothing ran, and `python -m sink.health` said "caught up" for the heartbeat bound (120 s).
Now the row says when the sink stopped (`stopped_at`) and the lag it last knew; how far
behind it is from then on is unknown (`minutes_behind` empty).
"""

from __future__ import annotations

import csv
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import sink.app as sink_app
from shared.codec import encode
from sink import health as sink_health
from sink.settings import SinkSettings
from sink.status import STATUS_FILE, mark_starting, now_utc
from sink.writer import SinkWriter
from tests.unit.test_rollup_pandas import random_scored


def _row(folder: Path) -> dict[str, str]:
    with (folder / STATUS_FILE).open(newline="", encoding="utf-8") as fh:
        (row,) = csv.DictReader(fh)
    return row


class _Reader:
    """The sink's reader without Kafka: assigned to partition 0."""

    def __init__(self, settings: SinkSettings, writer: SinkWriter) -> None:
        self.current = object()
        self.commits = True  # the group grants its offsets (`sink.app._Reader.commits`)

    def open(self) -> set[int]:
        return {0}

    def close(self, seconds: float) -> None:
        pass


def _run(folder: Path, monkeypatch: pytest.MonkeyPatch, lag: int | None, how: str,
         at_stop: int | None = None) -> tuple[dict[str, str], dict[str, str], str, str]:
    """A sink run on `folder` whose loop writes 80 rows and a heartbeat with `lag` waiting
    (None: it ended before it measured any), then ends as `how` says (a drained `--once`,
    or a stop asked for by SIGTERM/Ctrl-C), when `at_stop` wait (`lag` if not given): the
    loop's last row, the row left after the run, and the wall clock around the stop."""
    seen: dict[str, Any] = {}

    def loop(reader: _Reader, writer: SinkWriter, settings: SinkSettings, parts: set[int],
             idle_limit: float | None, stop: threading.Event, run_info: dict[str, object]
             ) -> None:
        assert (idle_limit == 0.0) is (how == "once")
        writer.add([(0, i, encode(tx)) for i, tx in enumerate(random_scored(80, seed=9))])
        writer.checkpoint()
        if lag is not None:
            run_info["lag_messages"] = lag
        writer.write_rollups(run_info, report=False)
        seen["last"] = _row(folder)
        if how == "signal":
            stop.set()  # as `_Stopper` does on SIGTERM/SIGINT: the loop ends after its batch
        seen["before"] = now_utc()

    monkeypatch.setattr(sink_app, "_start_kafka", lambda settings, specs: [None, None])
    monkeypatch.setattr(sink_app, "_Reader", _Reader)
    monkeypatch.setattr(sink_app, "_loop", loop)
    monkeypatch.setattr(sink_app, "commit", lambda *a: None)
    monkeypatch.setattr(sink_app, "waiting", lambda consumer, topic, offsets, parts:
                        lag if at_stop is None else at_stop)
    sink_app.run(SinkSettings(exports_dir=folder), once=how == "once",
                 stop=threading.Event())
    return seen["last"], _row(folder), seen["before"], now_utc()


@pytest.mark.parametrize("how", ["once", "signal"])
@pytest.mark.parametrize("lag", [0, 5])
def test_a_clean_stop_leaves_stopped_at_with_the_last_lag_and_no_minutes_behind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lag: int, how: str) -> None:
    last, after, before, end = _run(tmp_path, monkeypatch, lag, how)
    assert (after["minutes_behind"], bool(after.get("stopped_at"))) == ("", True), after
    assert last["stopped_at"] == ""  # while it runs, it has not stopped
    assert last["lag_messages"] == str(lag) and last["minutes_behind"] == "0"
    assert before <= after["stopped_at"] <= end  # when it stopped
    assert after["heartbeat_at"] == after["stopped_at"]  # its last sign of life
    assert after["lag_messages"] == str(lag)  # what it last knew waited
    assert after["minutes_behind"] == ""  # from the stop on: unknown, not 0
    kept = ("data_as_of", "last_row_written_at", "rows", "auditstream_version",
            "librdkafka_version", "model_versions")
    assert {k: after[k] for k in kept} == {k: last[k] for k in kept}
    assert after["rows"] == "80" and after["data_as_of"]


@pytest.mark.parametrize("how", ["once", "signal"])
def test_the_stop_row_has_the_lag_measured_at_the_stop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """A `--once` that drains before its loop measured a lag (a caught-up folder: found
    against a real broker, tests/integration/test_sink_status_kafka.py) says 0 waited, not
    "unknown"; one that measured 5 and then read them says 0, not 5."""
    for loop_lag in (None, 5):
        folder = tmp_path / str(loop_lag)
        folder.mkdir()
        _, after, _, _ = _run(folder, monkeypatch, loop_lag, how, at_stop=0)
        assert (after["lag_messages"], after["minutes_behind"]) == ("0", ""), after
        assert after["stopped_at"]


@pytest.mark.parametrize("age", [0.0, 119.0, 120.0, 121.0, 86_400.0])
def test_the_health_check_says_stopped_at_once_and_for_good(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, age: float) -> None:
    _, after, _, _ = _run(tmp_path, monkeypatch, 0, "signal")
    stopped = after["heartbeat_at"]  # = stopped_at (above)
    now = datetime.fromisoformat(stopped) + timedelta(seconds=age)
    assert sink_health.check(tmp_path, now) == (
        False, f"the sink stopped at {stopped} (a clean stop; 0 messages were waiting then)")


def test_a_stop_with_the_lag_unknown_says_so(tmp_path: Path) -> None:
    writer = SinkWriter(tmp_path, SinkSettings().topics.scored_topic,
                        SinkSettings().exports)
    writer.write_rollups({"lag_messages": None}, report=False)
    writer.stopped({"lag_messages": None})
    writer.close()
    row = _row(tmp_path)
    assert (row["lag_messages"], row["minutes_behind"]) == ("", "")
    assert sink_health.check(tmp_path, datetime.fromisoformat(row["stopped_at"])) == (
        False, f"the sink stopped at {row['stopped_at']} (a clean stop; how many messages "
               "were waiting then was unknown)")


def test_a_stopped_at_that_is_not_a_time_is_a_damaged_status(tmp_path: Path) -> None:
    writer = SinkWriter(tmp_path, SinkSettings().topics.scored_topic, SinkSettings().exports)
    writer.write_rollups({"lag_messages": 0}, report=False)
    writer.close()
    row = _row(tmp_path) | {"stopped_at": "yesterday"}
    with (tmp_path / STATUS_FILE).open("w", newline="", encoding="utf-8") as fh:
        out = csv.DictWriter(fh, list(row))
        out.writeheader()
        out.writerow(row)
    verdict = sink_health.check(tmp_path, datetime.now())
    assert not verdict.healthy
    assert verdict.reason.startswith(f"{tmp_path / STATUS_FILE} does not read as the sink "
                                     "writes it: ")


def test_a_restart_after_a_stop_is_starting_not_stopped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, after, _, _ = _run(tmp_path, monkeypatch, 0, "once")
    mark_starting(tmp_path)  # what the next start does first, under the folder's lock
    row = _row(tmp_path)
    live = ("heartbeat_at", "lag_messages", "minutes_behind", "stopped_at")
    assert {k: row[k] for k in live} == dict.fromkeys(live, "")
    assert {k: v for k, v in row.items() if k not in live} == {
        k: v for k, v in after.items() if k not in live}
    assert sink_health.check(tmp_path, datetime.fromisoformat(after["heartbeat_at"])) == (
        False, "its loop has not started (starting, or waiting for the broker)")
