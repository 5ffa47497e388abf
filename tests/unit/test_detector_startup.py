"""The detector's start-up waits out a broker restart (bounded), then exits 4, not 2; a
configuration error is still exit 2 at once; SIGTERM stops the wait at once.

The errors are the ones a restarting local KRaft broker gave (docs/reliability.md, probe of
2026-11-30): `create_topics` -> `_TIMED_OUT` and `INVALID_REPLICATION_FACTOR` ("All brokers
are currently fenced"), `init_transactions` -> `_TIMED_OUT`, `COORDINATOR_LOAD_IN_PROGRESS`.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from detector.outage import OUTAGE_CODES, is_config_error, is_outage
from detector.txn import DetectorError
from shared import retry
from shared.errors import ExitCode, KafkaUnreachableError, KafkaWiringError
from shared.kafka import CONFIG_CODES, worth_waiting
from shared.retry import retry_within, unreachable_after
from tests.unit.detector_fakes import FakeCluster, cluster_with, drained, fake_detector
from tests.unit.outage_fakes import BrokerGoneAfterAnswering, Clock

FENCED_TEXT = ("Unable to replicate the partition 1 time(s): All brokers are currently fenced, "
               "or have all been shut down")


def kexc(code: int, text: str = "x", fatal: bool = False) -> KafkaException:
    return KafkaException(KafkaError(code, text, fatal=fatal))


def create_failed(code: int, text: str = "x") -> KafkaWiringError:
    """What shared.kafka.ensure_topics raises for a topic it could not create."""
    try:
        raise kexc(code, text)
    except KafkaException as exc:
        try:
            raise KafkaWiringError(f"could not create topic t: {text}", text) from exc
        except KafkaWiringError as wiring:
            return wiring


# --- which errors are an outage -------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(OUTAGE_CODES))
def test_each_outage_code_is_waited_out_and_is_no_configuration_error(code: int) -> None:
    assert is_outage(kexc(code)) and not is_config_error(kexc(code))
    assert is_outage(create_failed(code))  # also behind ensure_topics' KafkaWiringError
    assert not is_outage(kexc(code, fatal=True))  # a fatal client is never waited for


@pytest.mark.parametrize("code", sorted(CONFIG_CODES))
def test_each_configuration_code_is_not_an_outage(code: int) -> None:
    assert is_config_error(kexc(code)) and not is_outage(kexc(code), 1, 5)


@pytest.mark.parametrize(("exc", "waited"), [
    (kexc(KafkaError._UNKNOWN_PARTITION), True),   # not an outage code, yet it may pass
    (kexc(KafkaError.LEADER_NOT_AVAILABLE), True),
    (kexc(KafkaError.LEADER_NOT_AVAILABLE, fatal=True), False),
    (KafkaException("no KafkaError behind it"), True),
    (RuntimeError("not Kafka"), False),
    *((kexc(code), False) for code in sorted(CONFIG_CODES)),
])
def test_worth_waiting_is_any_kafka_error_but_a_fatal_or_configuration_one(
    exc: BaseException, waited: bool
) -> None:
    """The one predicate of the sink's assignment and the detector's rewinds."""
    assert worth_waiting(exc) is waited


@pytest.mark.parametrize(("rf", "brokers", "waited"), [
    (1, 1, True), (1, 0, False),             # a restarting broker lists itself, fenced
    (3, 3, True), (3, 4, True), (3, 2, False),  # at, one over, one under the broker count
])
def test_invalid_replication_factor_is_an_outage_only_with_enough_brokers(
    rf: int, brokers: int, waited: bool
) -> None:
    assert is_outage(create_failed(KafkaError.INVALID_REPLICATION_FACTOR, FENCED_TEXT), rf,
                     brokers) is waited


def test_unreachable_and_topics_not_visible_are_outages_other_errors_are_not() -> None:
    assert is_outage(KafkaUnreachableError("no broker answered"))
    assert is_outage(KafkaWiringError("topics not visible after 30s: ['t']", "_UNKNOWN_TOPIC"))
    assert not is_outage(KafkaWiringError("bad", "no such code"))
    assert not is_outage(kexc(KafkaError.UNKNOWN_TOPIC_OR_PART))  # not created by us: exit 2
    assert not is_outage(DetectorError("fenced"))


def failing_for(clock: Clock, seconds: float, exc: Exception, try_s: float = 5.0) -> Any:
    calls: list[float] = []

    def call(left: float) -> str:
        calls.append(left)
        if clock.now < seconds:
            clock.sleep(min(try_s, left))
            raise exc
        return "started"
    return call, calls


def retry_outages(call: Any, clock: Clock, brokers: int = 0, replication_factor: int = 1,
                  sleep: Any = None, stopping: Any = lambda: False) -> Any:
    """`call` waited out for 180 s while `is_outage` says so, as the detector's waits do."""
    return retry_within(call, lambda exc: is_outage(exc, replication_factor, brokers), 180.0,
                        lambda exc, waited: unreachable_after(exc, "starting", waited),
                        "starting", clock.monotonic, sleep or clock.sleep, stopping)


@pytest.mark.parametrize(("down_s", "started"), [(170.0, True), (175.0, True), (181.0, False)])
def test_an_outage_is_retried_for_the_wait_then_is_exit_4(down_s: float, started: bool) -> None:
    # Tries of 5 s and pauses of 1 s: the try starting at 174 s (left 6 s) ends at 179 s,
    # succeeds at 180 s; one down until 181 s fails the try at the deadline.
    clock = Clock()
    call, calls = failing_for(clock, down_s, kexc(KafkaError._TRANSPORT, "connection refused"))
    if started:
        assert retry_outages(call, clock) == "started"
        assert clock.now <= 181.0
        return
    with pytest.raises(KafkaUnreachableError) as info:
        retry_outages(call, clock)
    assert info.value.exit_code == ExitCode.KAFKA_UNREACHABLE
    assert "could not be reached for 180 s" in str(info.value)
    assert "connection refused" in str(info.value)
    assert 180.0 <= clock.now < 186.0  # bounded: never a try past the deadline's
    assert all(left <= 180.0 for left in calls)


@pytest.mark.parametrize("exc", [
    kexc(KafkaError.TOPIC_AUTHORIZATION_FAILED, "denied"),
    create_failed(KafkaError.INVALID_REPLICATION_FACTOR, "only 1 broker"),  # rf 3 below
    create_failed(KafkaError.INVALID_CONFIG, "bad segment.ms"),
    kexc(KafkaError.COORDINATOR_LOAD_IN_PROGRESS, "fatal", fatal=True),
])
def test_a_configuration_error_is_raised_at_once_unchanged(exc: Exception) -> None:
    clock = Clock()
    call, calls = failing_for(clock, 1e9, exc)
    with pytest.raises(type(exc)) as info:
        retry_outages(call, clock, brokers=1, replication_factor=3)
    assert info.value is exc and len(calls) == 1


def test_a_stop_asked_during_the_pause_ends_the_wait_without_another_try() -> None:
    # Before: one more try after the pause (a replaced producer's init_transactions, up to
    # INIT_TRY_S) before the stop was seen; a rewind already stopped there.
    clock, asked = Clock(), []
    call, calls = failing_for(clock, 1e9, kexc(KafkaError._TRANSPORT, "connection refused"))

    def pause(seconds: float) -> None:
        clock.sleep(seconds)
        asked.append(True)  # SIGTERM arrives while paused
    with pytest.raises(KafkaException):
        retry_outages(call, clock, sleep=pause, stopping=lambda: bool(asked))
    assert len(calls) == 1


# --- the detector's start-up on a fake cluster ----------------------------------------------


def start(monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster, step: Any,
          init_errors: list[Exception] | None = None, broker: Any = lambda *a, **k: 1,
          **settings: Any) -> Any:
    """A `Detector` on `cluster` whose broker wait is `broker`, topic step is `step` and
    whose producers' init_transactions raise `init_errors` first, one per producer."""
    monkeypatch.setattr(retry, "PAUSE_S", 0.0)
    errors = list(init_errors or [])

    def producer(s: Any) -> Any:
        made = cluster.producer()
        if errors:
            err = errors.pop(0)

            def init(timeout: float) -> None:
                raise err
            made.init_transactions = init  # type: ignore[method-assign]
        return made

    return fake_detector(monkeypatch, cluster, producer=producer, ensure=step, broker=broker,
                         **settings)


class Topics:
    """ensure_detector_topics failing with `errors` first (one per call)."""

    def __init__(self, cluster: FakeCluster, errors: list[Exception]) -> None:
        self.cluster, self.errors, self.calls = cluster, list(errors), 0

    def __call__(self, s: Any, kafka: Any = None, timeout: float = 30.0) -> int:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.cluster.partitions


def test_a_detector_started_during_a_broker_restart_waits_it_out_and_scores_everything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Each of these errors used to end the start-up with exit 2.
    cluster = cluster_with(20)
    topics = Topics(cluster, [
        KafkaUnreachableError("no Kafka broker answered"),
        create_failed(KafkaError._TIMED_OUT, "Failed while waiting for controller"),
        create_failed(KafkaError.INVALID_REPLICATION_FACTOR, FENCED_TEXT),
        KafkaWiringError("topics not visible after 30s: ['transactions']", "_UNKNOWN_TOPIC"),
    ])
    detector = start(monkeypatch, cluster, topics, [
        kexc(KafkaError._TIMED_OUT, "Timed out waiting for operation to finish"),
        kexc(KafkaError.COORDINATOR_LOAD_IN_PROGRESS, "Coordinator load in progress"),
    ], state_dir=tmp_path)
    assert topics.calls == 7  # 4 topic failures, 2 init_transactions failures, then started
    detector.run(until=drained(cluster))
    scored = sorted(r.key or b"" for r in cluster.rows("transactions.scored"))
    assert len(scored) == 40 and cluster.commits >= 1


def test_a_cluster_unreachable_past_the_start_up_wait_is_exit_4_not_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cluster = cluster_with(20)
    fenced = create_failed(KafkaError.INVALID_REPLICATION_FACTOR, FENCED_TEXT)
    topics = Topics(cluster, [fenced] * 10_000)
    with pytest.raises(KafkaUnreachableError) as info:
        start(monkeypatch, cluster, topics, state_dir=tmp_path, startup_wait_s=0.2)
    assert info.value.exit_code == ExitCode.KAFKA_UNREACHABLE
    assert "starting: the Kafka cluster could not be reached for 0 s (DETECTOR_STARTUP_WAIT_S; "\
        "last error: " in str(info.value)  # the setting to raise, as the sink's line says
    assert topics.calls > 1


def test_a_broker_gone_after_answering_at_start_up_is_exit_4_naming_the_whole_wait(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Before: the line gave the last try's time ("within 0 s"), as if the wait were shorter.
    broker = BrokerGoneAfterAnswering(0.05)  # tries of 0.05 s: no busy loop, the pause is 0
    cluster = cluster_with(20)
    topics = Topics(cluster, [KafkaWiringError("topics not visible after 2s", "_UNKNOWN_TOPIC")])
    with pytest.raises(KafkaUnreachableError) as info:
        start(monkeypatch, cluster, topics, broker=broker, state_dir=tmp_path, startup_wait_s=2)
    assert len(broker.calls) > 2 and broker.calls[-1] < 1.5  # the last try had less left
    assert "within 2 s (DETECTOR_STARTUP_WAIT_S; last error: Broker transport failure)" in str(
        info.value)


@pytest.mark.parametrize(("error", "rf"), [
    (create_failed(KafkaError.INVALID_REPLICATION_FACTOR, "only 1 broker registered"), 3),
    (create_failed(KafkaError.TOPIC_AUTHORIZATION_FAILED, "denied"), 1),
    (create_failed(KafkaError.POLICY_VIOLATION, "compaction not allowed"), 1),
])
def test_a_configuration_error_at_start_up_is_still_exit_2_at_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, error: KafkaWiringError, rf: int
) -> None:
    cluster = cluster_with(20)
    topics = Topics(cluster, [error] * 3)
    with pytest.raises(KafkaWiringError) as info:
        start(monkeypatch, cluster, topics, state_dir=tmp_path,
              topics={"replication_factor": rf})
    assert info.value.exit_code == ExitCode.USAGE and topics.calls == 1


def test_init_transactions_refused_for_good_at_start_up_is_exit_2_at_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cluster = cluster_with(20)
    topics = Topics(cluster, [])
    denied = kexc(KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "denied", fatal=True)
    with pytest.raises(KafkaException):
        start(monkeypatch, cluster, topics, [denied] * 3, state_dir=tmp_path)
    assert topics.calls == 1


def test_sigterm_while_the_start_up_waits_out_an_outage_ends_it_at_once_with_0(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:

    import detector.app as app
    from detector.settings import DetectorSettings

    monkeypatch.setattr(retry, "PAUSE_S", 0.05)
    monkeypatch.setattr(app, "wait_for_broker", lambda *a, **k: 1)
    monkeypatch.setattr(app, "check_rights", lambda *a, **k: None)  # no ACLs
    monkeypatch.setattr(app, "missing_rights", lambda *a, **k: None)
    fenced = create_failed(KafkaError.INVALID_REPLICATION_FACTOR, FENCED_TEXT)
    tries = 0
    first_try: list[float] = []

    # SIGTERM 0.3 s into the outage (not into the test: the start-up before the first try
    # may take longer than that on a loaded machine, and the signal would come before it)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))

    def topics(*a: Any, **k: Any) -> int:
        nonlocal tries
        tries += 1
        if tries == 1:
            first_try.append(time.monotonic())
            timer.start()
        raise fenced

    monkeypatch.setattr(app, "ensure_detector_topics", topics)
    try:
        code = app.run_service(DetectorSettings(instance_id="t", state_dir=tmp_path))
    finally:
        timer.cancel()
    assert code == 0 and tries > 1
    # timed from the outage's first try: the core's loading before it took over 5 s at load 14
    assert time.monotonic() - first_try[0] < 5  # not the 180 s wait


# --- mid-run: a producer replaced while the cluster is out of reach --------------------------


def transactions(monkeypatch: pytest.MonkeyPatch, init_errors: list[Exception],
                 stopping: Any = lambda: False) -> tuple[Any, list[float]]:
    """`Transactions` on a fake cluster; producers after the first fail init_transactions
    with `init_errors` (one each); returns it and the timeouts each init was given."""
    import detector.txn as txn
    from detector.metrics import Metrics, Watchdog
    from detector.settings import DetectorSettings

    monkeypatch.setattr(retry, "PAUSE_S", 0.0)
    cluster, errors, timeouts = FakeCluster(), list(init_errors), []

    def producer(s: Any) -> Any:
        made = cluster.producer()
        first = cluster.producers == 1

        def init(timeout: float) -> None:
            timeouts.append(timeout)
            if errors and not first:
                raise errors.pop(0)
        made.init_transactions = init  # type: ignore[method-assign]
        return made

    monkeypatch.setattr(txn, "make_transactional_producer", producer)
    t = txn.Transactions(DetectorSettings(instance_id="t"), Watchdog(45.0), Metrics(None),
                         stopping)
    return t, timeouts


def test_a_producer_replaced_in_an_outage_waits_for_the_coordinator_below_the_watchdog(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    # Replaced after an abort that timed out in a broker restart: its init_transactions (60 s)
    # blocked past the 45 s watchdog (exit 3), or raised _TIMED_OUT (exit 2).
    import detector.txn as txn

    timed_out = kexc(KafkaError._TIMED_OUT, "Timed out waiting for operation to finish")
    t, timeouts = transactions(monkeypatch, [timed_out, timed_out, kexc(
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS, "Coordinator load in progress")])
    old = t.producer
    t.replace_producer()
    assert t.producer is not old and len(timeouts) == 1 + 4
    assert all(s <= txn.INIT_TRY_S < 45.0 for s in timeouts[1:])


def test_a_producer_replacement_past_its_wait_is_exit_4_and_a_stop_ends_it_at_once(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    import detector.txn as txn

    timed_out = kexc(KafkaError._TIMED_OUT, "Timed out waiting for operation to finish")
    monkeypatch.setattr(txn, "REPLACE_RETRY_S", 0.05)
    t, _ = transactions(monkeypatch, [timed_out] * 100_000)
    with pytest.raises(KafkaUnreachableError) as info:
        t.replace_producer()
    assert info.value.exit_code == ExitCode.KAFKA_UNREACHABLE

    monkeypatch.setattr(txn, "REPLACE_RETRY_S", 180.0)
    stop = False
    t, timeouts = transactions(monkeypatch, [timed_out] * 100_000, lambda: stop)
    old, stop = t.producer, True
    t.replace_producer()  # no exception: the shutdown goes on without a new producer
    assert t.producer is old and len(timeouts) == 2


def test_a_producer_refused_for_good_is_not_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    denied = kexc(KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "denied", fatal=True)
    t, timeouts = transactions(monkeypatch, [denied] * 3)
    with pytest.raises(KafkaException):
        t.replace_producer()
    assert len(timeouts) == 2


@pytest.mark.parametrize(("snapshot_partitions", "ok"), [(3, False), (4, True), (5, False)])
def test_a_state_topic_with_other_partitions_than_the_input_is_exit_2_at_once(
    monkeypatch: pytest.MonkeyPatch, snapshot_partitions: int, ok: bool
) -> None:
    # Made with the input's count, the state topic keeps it. Fewer: partitions were added to
    # the input since (partition 3's checkpoints would also go to a partition that does not
    # exist); the old message asked to enlarge the state topic, after which the detector ran
    # on with customers split across partitions. More: it would let partitions added to the
    # input later pass (5 was accepted before).
    import detector.kafka_io as kafka_io
    from detector.settings import DetectorSettings

    counts = {"transactions": 4, "transactions.detector-snapshots": snapshot_partitions}
    monkeypatch.setattr(kafka_io, "ensure_topics", lambda *a, **k: None)
    monkeypatch.setattr(kafka_io, "topic_partitions", lambda kafka, topic, t=0: counts[topic])
    s = DetectorSettings(instance_id="t")
    if ok:
        assert kafka_io.ensure_detector_topics(s) == 4
        return
    with pytest.raises(KafkaWiringError) as info:
        kafka_io.ensure_detector_topics(s)
    assert info.value.exit_code == ExitCode.USAGE and not is_outage(info.value, 1, 1)
    assert (f"transactions has 4 partitions, not the {snapshot_partitions} of its state "
            "topic transactions.detector-snapshots: partitions added to it would split "
            "customers") in str(info.value)


@pytest.mark.parametrize("stop", [True, False])
def test_a_stop_met_inside_c_code_at_start_up_still_ends_it_with_0(
    stop: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Soak seed 855: SIGTERM while `ensure_detector_topics` read the metadata; the start-up's
    stop request, raised by the handler inside C code, came out as `SystemError: <method
    'get' of 'dict' objects> returned a result with an exception set` caused by it, and the
    detector ended with exit 70 and "internal error". A SystemError of another cause stays
    one."""
    import detector.app as app
    from detector.settings import DetectorSettings

    monkeypatch.setattr(app, "wait_for_broker", lambda *a, **k: 1)
    monkeypatch.setattr(app, "check_rights", lambda *a, **k: None)
    monkeypatch.setattr(app, "missing_rights", lambda *a, **k: None)
    text = "<method 'get' of 'dict' objects> returned a result with an exception set"

    def topics(*a: Any, **k: Any) -> int:
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)
        try:
            if stop:
                handler(signal.SIGTERM, None)  # as the interpreter runs it inside C code
            raise ValueError("not a stop")
        except BaseException as cause:
            raise SystemError(text) from cause

    monkeypatch.setattr(app, "ensure_detector_topics", topics)
    if stop:
        assert app.run_service(DetectorSettings(instance_id="t", state_dir=tmp_path)) == 0
    else:
        with pytest.raises(SystemError, match="returned a result with an exception set"):
            app.run_service(DetectorSettings(instance_id="t", state_dir=tmp_path))
