"""The detector's and the sink's health checks (docker-compose.yml): healthy means the
service is doing its job. The decision (`shared.health.judge`) at each bound and one unit
either side; its inputs as each service records them; the check commands end to end."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from confluent_kafka import TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from auditstream.broker.process import free_port
from detector.ending import TransactionEnds
from detector.health import BEAT_S, LAG_EVERY_S, STALL_S, Pulse, probe, probe_url
from detector.metrics import Metrics
from detector.ownership import PartitionOwnership
from shared.codec import encode
from shared.freshness import BEATS_WITHIN, STALE_S, beat_every
from shared.health import NO_BROKER_S, Bounds, Signs, judge
from shared.kafka import WatchedConsumer
from shared.stranded import BrokerWatch, Strandings
from sink import health as sink_health
from sink.assign import waiting
from sink.settings import ExportSettings
from sink.status import STATUS_FILE
from sink.writer import SinkWriter
from tests.unit.outage_fakes import Clock
from tests.unit.test_rollup_pandas import random_scored
from tests.unit.test_stranded import RETRYING, UP

ROOT = Path(__file__).resolve().parents[2]
B = Bounds(beat_s=120.0, stall_s=300.0)


# --- the decision --------------------------------------------------------------------------

@pytest.mark.parametrize(("beat", "healthy"), [(119.0, True), (120.0, True), (121.0, False)])
def test_a_loop_that_stopped_turning_is_unhealthy_one_second_past_the_bound(
        beat: float, healthy: bool) -> None:
    verdict = judge(Signs(beat_age_s=beat, lag=0, stalled_s=5.0), B)
    assert verdict.healthy is healthy
    if not healthy:
        assert verdict.reason == "its loop has not turned for 121 s (bound 120 s): stuck"


@pytest.mark.parametrize(("stalled", "healthy"), [(299.0, True), (300.0, True), (301.0, False)])
def test_waiting_messages_without_progress_are_unhealthy_one_second_past_the_bound(
        stalled: float, healthy: bool) -> None:
    verdict = judge(Signs(beat_age_s=1.0, lag=2_500, stalled_s=stalled), B)
    assert verdict.healthy is healthy
    assert verdict.reason == (
        f"2,500 messages waiting, progress {stalled:.0f} s ago" if healthy else
        "2,500 messages waiting and no progress for 301 s (bound 300 s)")


@pytest.mark.parametrize(("lag", "healthy"), [(0, True), (1, False)])
def test_a_quiet_hour_is_healthy_when_caught_up_and_not_with_one_message_waiting(
        lag: int, healthy: bool) -> None:
    verdict = judge(Signs(beat_age_s=1.0, lag=lag, stalled_s=3600.0), B)
    assert verdict == (healthy, "caught up (0 messages waiting)" if healthy else
                       "1 messages waiting and no progress for 3600 s (bound 300 s)")


@given(beat=st.floats(0, 120), stalled=st.none() | st.floats(0, 1e9))
def test_caught_up_with_a_turning_loop_is_healthy_however_long_the_topic_is_quiet(
        beat: float, stalled: float | None) -> None:
    assert judge(Signs(beat_age_s=beat, lag=0, stalled_s=stalled), B).healthy


@pytest.mark.parametrize(("signs", "reason"), [
    (Signs(None, 0, None), "its loop has not started (starting, or waiting for the broker)"),
    (Signs(1.0, None, 1.0), "how many messages wait is unknown: no broker connection for 30 s, "
                            "or the partitions' ends not known yet"),
    (Signs(1.0, 3, None), "3 messages waiting and no progress made yet"),
    # A stale loop is named first, whatever else is known.
    (Signs(500.0, None, None), "its loop has not turned for 500 s (bound 120 s): stuck"),
])
def test_what_makes_a_service_unhealthy_is_named(signs: Signs, reason: str) -> None:
    assert judge(signs, B) == (False, reason)


# --- no broker: the consumer's statistics ----------------------------------------------------

@pytest.mark.parametrize(("after", "out"), [(NO_BROKER_S - 1, False), (NO_BROKER_S, False),
                                            (NO_BROKER_S + 1, True)])
def test_a_consumer_is_out_of_touch_one_second_past_the_bound_without_a_connected_broker(
        after: float, out: bool) -> None:
    clock = Clock()
    watch = BrokerWatch(clock=clock.monotonic, strandings=Strandings())
    clock.now = 100.0
    watch(UP)
    clock.now = 110.0
    watch(RETRYING)  # brokers listed but none connected (DOWN, TRY_CONNECT): no reset
    clock.now = 100.0 + after
    watch(RETRYING)
    assert watch.out_of_touch(NO_BROKER_S) is out
    watch(UP)
    assert not watch.out_of_touch(NO_BROKER_S)


def test_a_consumer_that_never_connected_is_out_of_touch_from_its_creation() -> None:
    clock = Clock()
    clock.now = 50.0
    watch = BrokerWatch(clock=clock.monotonic, strandings=Strandings())
    clock.now = 50.0 + NO_BROKER_S
    assert not watch.out_of_touch(NO_BROKER_S)
    clock.now += 1
    assert watch.out_of_touch(NO_BROKER_S)


@dataclass
class FakeConsumer:
    """The part of a consumer `waiting` and `_waiting` read: cached ends, positions."""

    ends: dict[int, int]
    positions: dict[int, int] = field(default_factory=dict)
    touch: bool = True
    asked: list[float] = field(default_factory=list)

    def out_of_touch(self, seconds: float) -> bool:
        self.asked.append(seconds)
        return not self.touch

    def get_watermark_offsets(self, tp: TopicPartition, cached: bool = False
                              ) -> tuple[int, int]:
        assert cached  # no request to the broker from the loop
        return 0, self.ends[tp.partition]

    def position(self, tps: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.positions.get(tp.partition, -1001))
                for tp in tps]


def test_the_sink_reports_its_lag_unknown_once_out_of_touch() -> None:
    # Before, status.csv kept the last cached lag through an outage: "0 behind" for ever.
    consumer = FakeConsumer(ends={0: 10, 1: 7}, positions={0: 4, 1: 7})
    assert waiting(cast(WatchedConsumer, consumer), "t", {}, {0, 1}) == 6
    consumer.touch = False
    assert waiting(cast(WatchedConsumer, consumer), "t", {}, {0, 1}) is None
    assert consumer.asked == [NO_BROKER_S, NO_BROKER_S]


@dataclass
class FakeState:
    next_offset: int


@dataclass
class FakeProcessor:
    parts: dict[int, FakeState]


@dataclass
class FakeDetector:
    _consumer: FakeConsumer
    processor: FakeProcessor
    _topic: str = "transactions"
    _partition_lag = TransactionEnds._partition_lag  # the real count over the fake consumer


@pytest.mark.parametrize(("ends", "touch", "lag"), [
    ({0: 12, 1: 3}, True, 2 + 0),
    ({0: 10, 1: 3}, True, 0),
    ({0: 12, 1: -1001}, True, None),  # an end not known yet
    ({0: 10, 1: 3}, False, None),  # no broker connection for NO_BROKER_S
])
def test_the_detector_notes_messages_waiting_or_unknown(
        ends: dict[int, int], touch: bool, lag: int | None) -> None:
    detector = FakeDetector(FakeConsumer(ends=ends, touch=touch),
                            FakeProcessor({0: FakeState(10), 1: FakeState(3)}))
    assert PartitionOwnership._waiting(cast(Any, detector)) == lag


# --- the detector: its loop's pulse, served on GET /health -----------------------------------

def test_the_pulse_is_unhealthy_before_the_loop_and_judges_from_its_first_turn() -> None:
    clock = Clock()
    pulse = Pulse(clock.monotonic)
    assert not pulse.verdict().healthy and pulse.lag_due()
    clock.now = 500.0  # a start-up that waited for the broker is not a stall
    pulse.turned()
    pulse.noted_lag(40)
    assert pulse.verdict() == (True, "40 messages waiting, progress 0 s ago")
    assert not pulse.lag_due()
    clock.now += LAG_EVERY_S
    assert pulse.lag_due()
    clock.now = 500.0 + STALL_S
    pulse.turned()
    assert pulse.verdict().healthy
    clock.now += 1
    pulse.turned()
    assert pulse.verdict() == (False, f"40 messages waiting and no progress for "
                                      f"{STALL_S + 1:.0f} s (bound {STALL_S:.0f} s)")
    pulse.progressed()  # a commit
    assert pulse.verdict().healthy
    clock.now += BEAT_S + 1  # the loop stuck since
    assert pulse.verdict().reason.startswith(f"its loop has not turned for {BEAT_S + 1:.0f} s")


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_metrics_endpoint_answers_health_with_its_verdict() -> None:
    port = free_port()
    metrics = Metrics(port, "127.0.0.1")
    url = probe_url("127.0.0.1", port)
    assert _get(url) == (503, "unhealthy: its loop has not started (starting, or waiting for "
                              "the broker)\n")
    assert probe(url) == (False, "its loop has not started (starting, or waiting for the "
                                 "broker)")
    metrics.pulse.turned()
    metrics.pulse.noted_lag(0)
    assert _get(url) == (200, "healthy: caught up (0 messages waiting)\n")
    assert probe(url) == (True, "caught up (0 messages waiting)")
    assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 404


@pytest.mark.parametrize(("host", "url"), [
    ("127.0.0.1", "http://127.0.0.1:9464/health"), ("0.0.0.0", "http://127.0.0.1:9464/health"),
    ("::", "http://[::1]:9464/health"), ("::1", "http://[::1]:9464/health"),
])
def test_the_check_asks_the_endpoint_on_loopback(host: str, url: str) -> None:
    assert probe_url(host, 9464) == url


def test_a_reply_cut_short_is_unhealthy_not_a_traceback() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 99\r\n\r\nhealthy: ")

        thread = threading.Thread(target=answer)
        thread.start()
        verdict = probe(probe_url("127.0.0.1", port))
        thread.join()
    assert not verdict.healthy
    assert verdict.reason.startswith(f"the detector's metrics endpoint http://127.0.0.1:{port}"
                                     "/health does not answer (IncompleteRead(")


def _check(module: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("DETECTOR_", "SINK_", "EXPORTS_"))}
    return subprocess.run([sys.executable, "-m", module], env={**full, **env}, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_detector_check_exits_0_only_when_the_endpoint_says_healthy() -> None:
    port = free_port()
    proc = _check("detector.health", DETECTOR_METRICS_PORT=str(port))
    assert proc.returncode == 1
    assert proc.stdout == (f"unhealthy: the detector's metrics endpoint "
                           f"http://127.0.0.1:{port}/health does not answer ([Errno 111] "
                           "Connection refused): not started yet, or the process is gone\n")
    metrics = Metrics(port, "127.0.0.1")
    proc = _check("detector.health", DETECTOR_METRICS_PORT=str(port))
    assert (proc.returncode, proc.stdout) == (
        1, "unhealthy: its loop has not started (starting, or waiting for the broker)\n")
    metrics.pulse.turned()
    metrics.pulse.noted_lag(0)
    proc = _check("detector.health", DETECTOR_METRICS_PORT=str(port))
    assert (proc.returncode, proc.stdout) == (0, "healthy: caught up (0 messages waiting)\n")
    proc = _check("detector.health")
    assert (proc.returncode, proc.stdout) == (
        1, "unhealthy: no health endpoint: DETECTOR_METRICS_PORT is unset\n")


# --- the sink: its status.csv heartbeat -----------------------------------------------------

NOW = datetime(2026, 12, 5, 21, 0, 0)


def _status(folder: Path, beat_age: float, lag: str = "0", written_age: float | None = 60.0
            ) -> None:
    beat = (NOW - timedelta(seconds=beat_age)).isoformat()
    written = "" if written_age is None else (NOW - timedelta(seconds=written_age)).isoformat()
    (folder / STATUS_FILE).write_text(
        "data_as_of,last_row_written_at,heartbeat_at,rows,lag_messages,minutes_behind,"
        "auditstream_version,librdkafka_version,model_versions\n"
        f"2025-03-01T00:00:00,{written},{beat},900,{lag},0,0.1.0,2.x,m0:900\n")


@pytest.mark.parametrize(("age", "healthy"), [(119.0, True), (120.0, True), (121.0, False)])
def test_the_sink_is_unhealthy_one_second_after_its_heartbeat_is_due(
        tmp_path: Path, age: float, healthy: bool) -> None:
    _status(tmp_path, age)
    verdict = sink_health.check(tmp_path, NOW)
    assert verdict.healthy is healthy
    # whole seconds, as the row's times (and the dashboard's DATEDIFF): 0.9 s more is no second
    assert sink_health.check(tmp_path, NOW + timedelta(seconds=0.9)) == verdict
    if not healthy:  # killed (kill -9, a crash) or stuck: its last lag is not claimed
        beat = (NOW - timedelta(seconds=age)).isoformat()
        assert verdict.reason == (f"sink not heard from since {beat} (121 s, bound 120 s): "
                                  "killed, crashed or stuck; 0 messages were waiting then")


@pytest.mark.parametrize("interval", [5.0, 60.0, 600.0])
def test_a_long_rollup_interval_does_not_widen_the_sinks_heartbeat_bound(
        tmp_path: Path, interval: float) -> None:
    """The sink beats at least BEATS_WITHIN times within STALE_S whatever its rollup
    interval, so every reader of status.csv judges it by the one staleness."""
    assert beat_every(interval) == min(interval, STALE_S / BEATS_WITHIN)
    _status(tmp_path, float(STALE_S))
    assert sink_health.check(tmp_path, NOW).healthy
    _status(tmp_path, STALE_S + 1.0)
    assert not sink_health.check(tmp_path, NOW).healthy


@pytest.mark.parametrize(("lag", "written", "verdict"), [
    ("0", 7200.0, (True, "caught up (0 messages waiting)")),  # a quiet topic for two hours
    ("", 1.0, (False, "how many messages wait is unknown: no broker connection for 30 s, or "
                      "the partitions' ends not known yet")),
    ("8", 120.0, (True, "8 messages waiting, progress 120 s ago")),
    ("8", 121.0, (False, "8 messages waiting and no progress for 121 s (bound 120 s)")),
    ("8", None, (False, "8 messages waiting and no progress made yet")),
])
def test_the_sink_is_judged_by_its_lag_and_last_rows(
        tmp_path: Path, lag: str, written: float | None, verdict: tuple[bool, str]) -> None:
    _status(tmp_path, 2.0, lag, written)
    assert sink_health.check(tmp_path, NOW) == verdict


def test_the_sink_check_reads_the_status_the_sink_writes(tmp_path: Path) -> None:
    assert sink_health.check(tmp_path, datetime.now()) == (
        False, f"no {tmp_path / STATUS_FILE} yet: the sink has not started its loop")
    writer = SinkWriter(tmp_path, "transactions.scored", ExportSettings())
    writer.add([(0, i, encode(tx)) for i, tx in enumerate(random_scored(50, seed=4))])
    writer.checkpoint()
    writer.heartbeat({"lag_messages": 0})
    proc = _check("sink.health", SINK_EXPORTS_DIR=str(tmp_path))
    assert (proc.returncode, proc.stdout) == (0, "healthy: caught up (0 messages waiting)\n")
    writer.heartbeat({"lag_messages": None})  # out of touch
    proc = _check("sink.health", SINK_EXPORTS_DIR=str(tmp_path))
    assert proc.returncode == 1 and proc.stdout.startswith("unhealthy: how many messages")
    writer.close()


def test_a_damaged_status_file_is_unhealthy_in_one_line(tmp_path: Path) -> None:
    (tmp_path / STATUS_FILE).write_text("heartbeat_at,lag_messages\nyesterday,0\n")
    verdict = sink_health.check(tmp_path, NOW)
    assert not verdict.healthy
    assert verdict.reason.startswith(f"{tmp_path / STATUS_FILE} does not read as the sink "
                                     "writes it: ")


def test_a_status_file_saved_back_by_excel_with_semicolons_is_named_so(tmp_path: Path
                                                                      ) -> None:
    """status.csv saved in place from Excel where the decimal mark is a comma (`;`, a BOM,
    CRLF; hostile probe, 2026-12-06, fourteenth): read with commas its row had none of the
    sink's fields, and the check blamed the sink, "its loop has not started (starting, or
    waiting for the broker)". Saved back comma-separated with a BOM it reads as before."""
    _status(tmp_path, 2.0)
    path = tmp_path / STATUS_FILE
    text = path.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8-sig")
    assert sink_health.check(tmp_path, NOW) == (True, "caught up (0 messages waiting)")
    path.write_text(text.replace(",", ";").replace("\n", "\r\n"), encoding="utf-8-sig")
    verdict = sink_health.check(tmp_path, NOW)
    assert not verdict.healthy
    assert verdict.reason.startswith(
        f"{path} does not read as the sink writes it: its header has no heartbeat_at column; "
        "its columns are separated by semicolons, not commas"), verdict.reason
