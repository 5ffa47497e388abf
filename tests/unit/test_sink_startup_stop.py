"""A sink stopped during its start-up (SIGTERM or Ctrl-C before its loop first turned)
leaves status.csv saying it stopped, not "starting" for good.

Found 2026-12-06: the start blanks the earlier run's live cells (`mark_starting`); a stop
before the first heartbeat left them blank with no `stopped_at`, so the health check said
"its loop has not started" and the dashboard "lag unknown" for as long as nothing ran.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException

import sink.app as sink_app
from sink import health as sink_health
from sink.settings import SinkSettings
from sink.status import now_utc
from tests.unit.test_sink_restart_status import LIVE_COLUMNS, _last_run, _rows

KEPT = ("data_as_of", "last_row_written_at", "rows", "auditstream_version",
        "librdkafka_version", "model_versions")


def _stopped_while_waiting(folder: Path, monkeypatch: pytest.MonkeyPatch, how: str
                           ) -> tuple[str, str]:
    """Start the sink on `folder`; while it waits for its broker, stop it as `how` says (a
    SIGTERM to this process, or a stop asked for and then the broker's error). The wall
    clock around the run."""
    stop = threading.Event()

    def waiting_for_the_broker(settings: SinkSettings, specs: object) -> list[str | None]:
        if how == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)  # `_Stopper` ends the start-up at once
            time.sleep(5)
            raise AssertionError("SIGTERM did not end the start-up")
        stop.set()
        raise KafkaException(KafkaError(KafkaError._TRANSPORT, "broker down"))

    monkeypatch.setattr(sink_app, "_start_kafka", waiting_for_the_broker)
    before = now_utc()
    result = sink_app.run(SinkSettings(exports_dir=folder), stop=stop)
    assert result.rows == 0
    return before, now_utc()


@pytest.mark.parametrize("how", ["sigterm", "stop then broker error"])
@pytest.mark.parametrize("lag", [0, 5])
def test_a_sink_stopped_before_its_first_heartbeat_says_it_stopped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, lag: int) -> None:
    last = _last_run(tmp_path, lag)
    before, after = _stopped_while_waiting(tmp_path, monkeypatch, how)
    (row,) = _rows(tmp_path)
    assert before <= row["stopped_at"] <= after, row
    # this run measured nothing: no heartbeat, no lag; the rest as the last run left it
    assert {k: row[k] for k in LIVE_COLUMNS if k != "stopped_at"} == {
        "heartbeat_at": "", "lag_messages": "", "minutes_behind": ""}
    assert {k: row[k] for k in KEPT} == {k: last[k] for k in KEPT}
    verdict = sink_health.check(tmp_path, datetime.fromisoformat(after))
    assert verdict == (False, f"the sink stopped at {row['stopped_at']} (a clean stop; how "
                              "many messages were waiting then was unknown)")
