"""A transaction's age, for telling the coordinator's timeout from another instance's fence,
counts from its first send, not from `begin`: librdkafka's begin_transaction is local, and
the coordinator's transaction.timeout.ms starts at the first AddPartitionsToTxn (a row) or
AddOffsetsToTxn (the offsets). Between the two the detector scores the batch (7 to 18 s for
a first batch at load 20-25, docs/reliability.md), and a pause can fall there. Fenced after
such a gap, the process took another instance's fence for the coordinator's timeout and
replaced its producer, fencing that instance in turn."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, TopicPartition

import detector.txn as txn
from detector.app import DetectorError
from detector.metrics import Watchdog
from shared.errors import ExitCode
from tests.unit.detector_fakes import (
    FakeProducer,
    cluster_with,
    drained,
    fake_detector,
    replaced_once,
)
from tests.unit.test_detector_txn_errors import fails_at, fatal

TIMEOUT_MS = 60_000
FENCED_TEXT = "Failed to end transaction: Local: This instance has been fenced by a newer instance"


def clocked(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The clock a transaction's ages are read on (the watchdog's), set by the test
    (`now[0]`)."""
    now = [1000.0]
    monkeypatch.setattr(Watchdog, "now", lambda self: now[0])
    return now


def paused_once(now: list[float], stage: str, nth: int = 1, seconds: float = 61.0) -> Any:
    """A fault hook: the clock jumps `seconds` at the `nth` call of `stage` (a pause, or a
    slow batch)."""
    seen = 0

    def hook(at: str, p: int, off: int) -> None:
        nonlocal seen
        if at == stage:
            seen += 1
            if seen == nth:
                now[0] += seconds
    return hook


def test_fenced_after_a_gap_between_begin_and_the_first_send_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # 61 s between begin and the batch's first row (before the core scores it), then the
    # commit is fenced: the coordinator's transaction was 0 s old, so another instance
    # took the id. Before: read as the coordinator's timeout, the producer replaced (which
    # fences that instance) and the run went on.
    now = clocked(monkeypatch)
    cluster = cluster_with()
    detector = fake_detector(monkeypatch, cluster, hook=paused_once(now, "core"),
                             state_dir=tmp_path, transaction_timeout_ms=TIMEOUT_MS)
    cluster.on_txn = fails_at("commit", fatal(KafkaError._FENCED, FENCED_TEXT))
    before = cluster.producers
    with pytest.raises(DetectorError, match="was fenced") as info:
        detector.run(until=drained(cluster))
    assert info.value.exit_code == ExitCode.USAGE
    assert cluster.producers == before  # no new producer: it would fence the newer one


@pytest.mark.parametrize("offsets", [True, False], ids=["offsets only", "nothing sent"])
def test_fenced_with_nothing_produced_counts_from_the_offsets_or_not_at_all(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, offsets: bool
) -> None:
    # A transaction whose batch produced nothing (its records already processed): its
    # first send is its offsets (AddOffsetsToTxn), or, none either, it never reached the
    # coordinator, which has nothing to time out.
    now = clocked(monkeypatch)
    cluster = cluster_with()
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path,
                             transaction_timeout_ms=TIMEOUT_MS)
    t = detector._txn
    t.begin()
    now[0] += 61.0
    cluster.on_txn = fails_at("commit", fatal(KafkaError._FENCED, FENCED_TEXT))
    sent = [TopicPartition("transactions", 0, 5)] if offsets else []
    with pytest.raises(DetectorError, match="was fenced"):
        t.commit(sent, lambda: "group-metadata")
    assert t.producer_failed() is False  # not taken for its own failure: kept, not replaced


@pytest.mark.parametrize("slow", ["send_offsets", "commit"])
def test_a_transaction_of_offsets_only_is_aged_from_their_send(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    slow: str
) -> None:
    # Its batch produced nothing, so its first send is the offsets (AddOffsetsToTxn starts
    # the coordinator's clock). 61 s from their send to a fenced commit (a slow
    # send_offsets, or a slow commit) is the coordinator's own timeout: the producer is
    # replaced and the batch rewound, not an exit 2 as fenced by a newer instance. Aged
    # from the send (61 s), not from the begin (66 s).
    now = clocked(monkeypatch)
    cluster = cluster_with()
    detector = fake_detector(monkeypatch, cluster, members=lambda *a, **k: [],
                             state_dir=tmp_path, transaction_timeout_ms=TIMEOUT_MS)
    real = FakeProducer.send_offsets_to_transaction

    def send_offsets(self: Any, *args: Any) -> None:
        real(self, *args)
        if slow == "send_offsets":
            now[0] += 61.0
    monkeypatch.setattr(FakeProducer, "send_offsets_to_transaction", send_offsets)
    fence = fails_at("commit", fatal(KafkaError._FENCED, FENCED_TEXT))

    def on_txn(step: str) -> None:
        if step == "commit" and slow == "commit":
            now[0] += 61.0
        fence(step)
    cluster.on_txn = on_txn
    t = detector._txn
    t.begin()
    now[0] += 5.0
    with caplog.at_level(logging.WARNING, "detector"), pytest.raises(txn.ProducerFailed):
        t.commit([TopicPartition("transactions", 0, 5)], lambda: "group-metadata")
    [line] = [r.getMessage() for r in caplog.records if "fenced after" in r.getMessage()]
    assert line.startswith("commit: fenced after the transaction was open 61 s, over "
                           "transaction.timeout.ms"), line


def test_a_pause_after_the_first_send_still_counts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The zombie's and the broker restart's case: rows went out (the coordinator's clock
    # runs), then 61 s passed and more rows went: the age is the first send's, not the
    # last one's, and the fence is the coordinator's own timeout: replaced, every row once.
    now = clocked(monkeypatch)
    cluster = cluster_with()
    detector = fake_detector(monkeypatch, cluster, hook=paused_once(now, "produce", nth=2),
                             state_dir=tmp_path, transaction_timeout_ms=TIMEOUT_MS)
    cluster.on_txn = fails_at("commit", fatal(KafkaError._FENCED, FENCED_TEXT))
    replaced_once(detector, cluster)


def test_the_age_counts_from_the_first_send_not_from_begin(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    now = clocked(monkeypatch)
    detector = fake_detector(monkeypatch, cluster_with(), state_dir=tmp_path,
                             transaction_timeout_ms=TIMEOUT_MS)
    t = detector._txn
    t.begin()
    now[0] += 100.0
    assert t._overdue() is None  # nothing sent: no transaction at the coordinator
    t.sending()
    now[0] += 59.99
    t.sending()  # a later send does not move the clock
    assert t._overdue() is None
    now[0] += 0.01
    assert t._overdue() == pytest.approx(60.0)  # from the first send, not the begin's 160


@pytest.mark.parametrize("newer_listed", [True, False], ids=["newer listed", "none listed"])
def test_a_zombie_paused_before_its_first_send_asks_the_group_as_one_past_its_timeout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, newer_listed: bool
) -> None:
    # Paused (the watchdog saw it) 61 s between begin and its first row while its
    # supervisor started a newer process: fenced at the commit. A pause since begin is
    # judged from begin, as before the first-send clock: listed, the newer one gets the
    # zombie's line (exit 2, no new producer); not listed (paused itself, or not joined
    # yet), the zombie goes on with a new producer, as the both-paused broker test's
    # `older first` asks (counted from the first send it exited 2 fenced there, 2026-12-07).
    now = clocked(monkeypatch)
    cluster = cluster_with()
    asked: list[int] = []

    def members(s: Any, *a: Any, **k: Any) -> list[tuple[str, str]]:
        asked.append(1)
        me = f"{s.kafka.client_id}-{s.transactional_id}"
        return [(me, "member-of-the-newer-process")] if newer_listed else []

    detector = fake_detector(monkeypatch, cluster, hook=paused_once(now, "core"),
                             members=members, state_dir=tmp_path,
                             transaction_timeout_ms=TIMEOUT_MS)
    monkeypatch.setattr(detector._watchdog, "paused_within", lambda seconds, since=None: True)
    cluster.on_txn = fails_at("commit", fatal(KafkaError._FENCED, FENCED_TEXT))
    before = cluster.producers
    if not newer_listed:
        detector.run(until=drained(cluster))
        assert cluster.producers == before + 1
        assert len(asked) == 1
        return
    with pytest.raises(DetectorError) as info:
        detector.run(until=drained(cluster))
    assert info.value.exit_code == ExitCode.USAGE
    assert cluster.producers == before
    assert "it ends and leaves the id to that one, which goes on" in str(info.value)
    # the age judged, from its begin (from the first send it said "open 0 s")
    assert "was fenced while its transaction was open 61 s (" in str(info.value)
    assert len(asked) == 1


def test_the_output_starts_the_age_at_the_first_send_and_asks_once_a_transaction(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # `KafkaOutput.scored` called `Transactions.sending` for every row (a fifth of its own
    # CPU with a no-op producer, bench/output_bench.py): it asks only while the open
    # transaction has sent nothing, whichever send is first (a row, a dead letter).
    calls: list[float | None] = []
    real = txn.Transactions.sending

    def sending(self: txn.Transactions) -> None:
        calls.append(self.started)
        real(self)
    monkeypatch.setattr(txn.Transactions, "sending", sending)
    now = clocked(monkeypatch)
    detector = fake_detector(monkeypatch, cluster_with(), state_dir=tmp_path,
                             transaction_timeout_ms=TIMEOUT_MS)
    t, out = detector._txn, detector.processor.output
    t.begin()
    now[0] += 5.0
    for i in range(1000):
        out.scored(b"c%d" % i, b"{}")
        now[0] += 0.01
    assert t.started == 1005.0 and calls == [None]  # once, at the first row
    t.commit([], lambda: None)
    t.begin()
    now[0] = 1020.0
    out.dead(SimpleNamespace(key=lambda: b"k", value=lambda: b"v"),
             [("error.class", b"SchemaError")])
    now[0] += 1.0
    out.scored(b"c1", b"{}")
    assert t.started == 1020.0 and calls == [None, None]  # the dead letter was first


def hooks(*each: Any) -> Any:
    """One fault hook calling each of `each` in turn."""
    def hook(at: str, p: int, off: int) -> None:
        for h in each:
            h(at, p, off)
    return hook


@pytest.mark.parametrize("where", ["paused since its begin", "after its first send"])
def test_the_fenced_line_gives_the_age_the_timeout_was_judged_by(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    where: str
) -> None:
    # Fenced past the timeout, nobody newer listed: the WARNING before the producer is
    # replaced says how long the transaction was open as judged. Paused 61 s since its
    # begin with nothing sent, that is from its begin (before: "open 0 s", the first send's
    # age); 30 s scoring and then 61 s after its first row, from the first row (61 s, not
    # the begin's 91).
    now = clocked(monkeypatch)
    cluster = cluster_with()
    paused = where == "paused since its begin"
    hook = (paused_once(now, "core") if paused else
            hooks(paused_once(now, "core", seconds=30.0), paused_once(now, "produce", nth=2)))
    detector = fake_detector(monkeypatch, cluster, hook=hook, members=lambda *a, **k: [],
                             state_dir=tmp_path, transaction_timeout_ms=TIMEOUT_MS)
    monkeypatch.setattr(detector._watchdog, "paused_within",
                        lambda seconds, since=None: paused)
    cluster.on_txn = fails_at("commit", fatal(KafkaError._FENCED, FENCED_TEXT))
    with caplog.at_level(logging.WARNING, "detector"):
        replaced_once(detector, cluster)
    [line] = [r.getMessage() for r in caplog.records if "fenced after" in r.getMessage()]
    assert line.startswith("commit: fenced after the transaction was open 61 s, over "
                           "transaction.timeout.ms"), line


def _watched(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Any, list[float], Any]:
    """A transaction manager whose watchdog (a real one, run by hand) and `detector.txn`'s
    monotonic clock read the test's clock, `now[0]`."""
    from detector.metrics import Watchdog

    now = clocked(monkeypatch)
    detector = fake_detector(monkeypatch, cluster_with(), state_dir=tmp_path,
                             transaction_timeout_ms=TIMEOUT_MS)
    t = detector._txn
    watchdog = Watchdog(4.0, lambda: now[0], run=False, cpu=lambda: 0.0,
                        waited=lambda: None)
    t._watchdog = watchdog
    return t, now, watchdog


def _checks(watchdog: Any, now: list[float], *at: float) -> None:
    for when in at:
        now[0] = when
        watchdog.check()


@pytest.mark.parametrize(("age", "overdue"), [(59.99, False), (60.0, True), (60.01, True)])
def test_a_transaction_paused_since_its_begin_is_overdue_from_the_timeout_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, age: float, overdue: bool
) -> None:
    # Nothing sent, stopped 1001 -> 1030 (the watchdog's own check saw it, then kept time):
    # judged from its begin, at the timeout (60 s) and past it, not before; the pause seen
    # well before the question, not at it (`paused_within`'s `since`, not its seconds).
    t, now, watchdog = _watched(monkeypatch, tmp_path)
    t.begin()
    _checks(watchdog, now, 1001.0, 1030.0, *(1030.0 + i for i in range(1, 30)))
    assert watchdog.paused_at == 1030.0
    now[0] = 1000.0 + age
    assert t._overdue() == (pytest.approx(age) if overdue else None)


def test_a_pause_before_the_begin_makes_no_transaction_overdue(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Stopped 980 -> 999, then begun at 1000 and open 61 s with nothing sent, not paused
    # since: no coordinator's timeout (nothing reached it), another instance's fence.
    t, now, watchdog = _watched(monkeypatch, tmp_path)
    _checks(watchdog, now, 979.0, 980.0, 999.0)
    assert watchdog.paused_at == 999.0
    now[0] = 1000.0
    t.begin()
    _checks(watchdog, now, *(1000.0 + i for i in range(1, 62)))
    assert t._overdue() is None
    t.sending()  # from its first send on, its own clock
    now[0] += 60.0
    assert t._overdue() == pytest.approx(60.0)


def test_a_scored_row_is_sent_with_its_key_also_through_a_full_queue() -> None:
    # the key is the customer's: the scored topic's partition, the sink's order per customer
    from detector.kafka_io import KafkaOutput
    from detector.settings import DetectorSettings

    sent: list[tuple[Any, ...]] = []
    full = [True]

    class Producer:
        def produce(self, *args: Any, **kwargs: Any) -> None:
            if full[0]:  # the queue full once: the retry's path
                full[0] = False
                raise BufferError
            sent.append((*args, kwargs))

        def poll(self, timeout: float) -> int:
            return 0

    age = SimpleNamespace(started=None, sending=lambda: None)
    out = KafkaOutput(Producer(), DetectorSettings(instance_id="t"), 1, age)  # type: ignore[arg-type]
    out.scored(b"c1", b'{"a": 1}')
    out.scored(b"c2", b'{"a": 2}')
    assert sent == [("transactions.scored", {"value": b'{"a": 1}', "key": b"c1"}),
                    ("transactions.scored", b'{"a": 2}', b"c2", {})]
