"""A sink that restarts is not vouched for by the status.csv its previous run left.

Hostile probe (2026-12-06): a sink restarted (container restart, kill -9 and a supervisor)
and waiting for its broker found the last run's status.csv, its heartbeat seconds old and
its lag 0; the health check and the dashboard read it as "caught up" for up to the
heartbeat bound (120 s), though the new run had not read a message.
"""

from __future__ import annotations

import csv
import io
import os
import stat
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sink.app as sink_app
from shared.codec import encode
from shared.columns import STATUS_COLUMNS
from shared.errors import KafkaUnreachableError
from sink import health as sink_health
from sink.csvfmt import encode_rows
from sink.settings import ExportSettings, SinkSettings
from sink.status import STATUS_FILE
from sink.writer import SinkWriter
from tests.unit.test_rollup_pandas import random_scored

#: What only a running loop knows (`sink.status.LIVE_COLUMNS`).
LIVE_COLUMNS = ("heartbeat_at", "lag_messages", "minutes_behind", "stopped_at")
NOT_STARTED = (False, "its loop has not started (starting, or waiting for the broker)")


def _rows(folder: Path) -> list[dict[str, str]]:
    with (folder / STATUS_FILE).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _last_run(folder: Path, lag: int) -> dict[str, str]:
    """An exports folder as a sink's run leaves it: rows, a checkpoint, a status just
    written with `lag` messages waiting."""
    writer = SinkWriter(folder, SinkSettings().topics.scored_topic, ExportSettings())
    writer.add([(0, i, encode(tx)) for i, tx in enumerate(random_scored(60, seed=6))])
    writer.checkpoint()
    writer.write_rollups({"librdkafka_version": "2.x", "lag_messages": lag}, report=False)
    writer.close()
    (row,) = _rows(folder)
    return row


def _restart_waiting_for_the_broker(folder: Path, monkeypatch: pytest.MonkeyPatch,
                                    ages: list[float]) -> list[tuple[bool, str]]:
    """Start the sink on `folder` with no broker: the verdicts of the health check while it
    waits, `age` seconds after the last run's heartbeat, for each age."""
    (row,) = _rows(folder)
    beat = (datetime.fromisoformat(row["heartbeat_at"]) if row["heartbeat_at"]
            else datetime(2026, 12, 6))
    seen: list[tuple[bool, str]] = []

    def broker_still_down(settings: SinkSettings, specs: object) -> str | None:
        for age in ages:
            verdict = sink_health.check(folder, beat + timedelta(seconds=age))
            seen.append((verdict.healthy, verdict.reason))
        raise KafkaUnreachableError("no Kafka broker answered")

    monkeypatch.setattr(sink_app, "_start_kafka", broker_still_down)
    with pytest.raises(KafkaUnreachableError):
        sink_app.run(SinkSettings(exports_dir=folder))
    return seen


@pytest.mark.parametrize("lag", [0, 5])
def test_a_restarted_sink_is_not_healthy_by_its_last_runs_status(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lag: int) -> None:
    before = _last_run(tmp_path, lag)
    # 0 s, and the heartbeat bound (120 s, healthy by the last run's row) and one second
    # either side: not the last run's verdict, but "not started" until this loop turns.
    seen = _restart_waiting_for_the_broker(tmp_path, monkeypatch, [0.0, 119.0, 120.0, 121.0])
    assert seen == [NOT_STARTED] * 4
    (after,) = _rows(tmp_path)
    assert {k: after[k] for k in LIVE_COLUMNS} == dict.fromkeys(LIVE_COLUMNS, "")
    assert {k: v for k, v in after.items() if k not in LIVE_COLUMNS} == {
        k: v for k, v in before.items() if k not in LIVE_COLUMNS}
    assert before["data_as_of"] and before["rows"] == "60"  # what the dashboard still shows


def test_the_sinks_first_heartbeat_after_a_restart_is_healthy_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _last_run(tmp_path, 0)
    _restart_waiting_for_the_broker(tmp_path, monkeypatch, [0.0])
    writer = SinkWriter(tmp_path, SinkSettings().topics.scored_topic, ExportSettings())
    writer.write_rollups({"lag_messages": 0}, report=False)
    writer.close()
    (row,) = _rows(tmp_path)
    verdict = sink_health.check(tmp_path, datetime.fromisoformat(row["heartbeat_at"]))
    assert verdict == (True, "caught up (0 messages waiting)")


def test_a_start_that_never_reached_its_loop_makes_no_status_where_there_was_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: object) -> None:
        raise KafkaUnreachableError("down")

    monkeypatch.setattr(sink_app, "_start_kafka", down)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with pytest.raises(KafkaUnreachableError):
        sink_app.run(SinkSettings(exports_dir=fresh))
    # nothing at status.csv's name: a later start would take it for a user's file
    assert not (fresh / STATUS_FILE).exists()
    ours = tmp_path / "ours"
    _last_run(ours, 0)
    (ours / STATUS_FILE).write_text("heartbeat_at\n")  # a header and no row: left as it is
    with pytest.raises(KafkaUnreachableError):
        sink_app.run(SinkSettings(exports_dir=ours))
    assert (ours / STATUS_FILE).read_text() == "heartbeat_at\n"


def test_a_fifo_at_the_status_name_is_not_waited_on_at_the_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The start reads the earlier status without waiting: a FIFO there (no writer) is left
    to the loop's first write, as before, not read for ever."""
    _last_run(tmp_path, 0)
    (tmp_path / STATUS_FILE).unlink()
    os.mkfifo(tmp_path / STATUS_FILE)
    seen = []

    def down(*args: object) -> None:
        seen.append(stat.S_ISFIFO(os.lstat(tmp_path / STATUS_FILE).st_mode))
        raise KafkaUnreachableError("down")

    monkeypatch.setattr(sink_app, "_start_kafka", down)
    with pytest.raises(KafkaUnreachableError):
        sink_app.run(SinkSettings(exports_dir=tmp_path))
    assert seen == [True]


_CELL = st.text(st.characters(codec="utf-8"), max_size=12)


@given(st.lists(_CELL, min_size=len(STATUS_COLUMNS), max_size=len(STATUS_COLUMNS)))
def test_starting_row_blanks_the_live_cells_and_keeps_every_other_byte(cells: list[str]
                                                                        ) -> None:
    from sink.status import LIVE_COLUMNS as live
    from sink.status import starting_row

    assert live == LIVE_COLUMNS
    data = encode_rows([cells], STATUS_COLUMNS)
    out = starting_row(data)
    assert out is not None
    header, row = list(csv.reader(io.StringIO(out.decode("utf-8"), newline="")))
    assert tuple(header) == STATUS_COLUMNS
    assert row == ["" if n in LIVE_COLUMNS else c for n, c in zip(STATUS_COLUMNS, cells,
                                                                  strict=True)]
    assert starting_row(out) == out  # a second start changes nothing
