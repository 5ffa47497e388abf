"""A zombie that wakes up: a detector paused (SIGSTOP, a frozen VM) past its transaction
timeout while its supervisor started another process with its instance id. Fenced when it
wakes, it must leave the id to that newer process (exit 2), not replace its producer and
fence the newer one in turn; a producer fenced by the coordinator's own timeout (a broker
restart, no other instance) is still replaced. Found by bench/chaos_soak.py (seed 502,
`--plan kill_sink,kill_sink,pause_long,replace_paused,kill_sink`): the zombie woke after
73 s, replaced its producer, and the newer process exited 2."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

import detector.app as app
from detector.app import DetectorError
from detector.kafka_io import MEMBERS_TIMEOUT_S
from detector.metrics import Watchdog
from shared.errors import ExitCode
from tests.unit.detector_fakes import (
    FakeConsumer,
    cluster_with,
    drained,
    every_row_once,
    fake_detector,
    replaced_once,
)
from tests.unit.test_detector_watchdog_pause import asked_while_queued

TIMEOUT_MS = 60_000
NEWER = "member-of-the-newer-process"
#: Rows a partition for the tests of lost partitions: several commits, so one falls between
#: two consumes with no transaction open.
LONG = 600


def paused_then_fenced(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, open_s: float,
                       members: Any, n: int = 30, paused: bool = True,
                       error: KafkaError | None = None) -> tuple[Any, Any]:
    """A fake detector whose first commit finds its transaction open `open_s` seconds and
    its producer fenced (or failed fatally with `error`); `members(detector)` is what the
    group's description then lists (client id, member id), None when the cluster does not
    answer; `paused`: whether its watchdog saw the process paused (else the group is never
    described)."""
    cluster = cluster_with(n)
    ids = iter(range(1, 1000))

    def memberid(consumer: FakeConsumer) -> str:  # own-1, own-2, ... by consumer
        if not consumer.__dict__.get("member"):
            consumer.__dict__["member"] = f"own-{next(ids)}"
        return str(consumer.__dict__["member"])

    monkeypatch.setattr(FakeConsumer, "memberid", memberid, raising=False)
    detector = fake_detector(monkeypatch, cluster, state_dir=tmp_path,
                             transaction_timeout_ms=TIMEOUT_MS, batch_size=10)
    monkeypatch.setattr(app, "group_members", lambda s, *a, **k: members(detector),
                        raising=False)
    monkeypatch.setattr(detector._watchdog, "paused_within",
                        lambda seconds, since=None: paused)
    commits = 0

    def on_txn(step: str) -> None:
        nonlocal commits
        if step != "commit":
            return
        commits += 1
        if commits == 1:
            detector._txn.started -= open_s
            # the paused consumer's session ran out: it rejoined under a new member id
            detector._consumer.member = "own-after-the-pause"
            raise KafkaException(error or KafkaError(
                KafkaError._FENCED, "Failed to end transaction: Local: This instance has been "
                "fenced by a newer instance", fatal=True))

    cluster.on_txn = on_txn
    return cluster, detector


def client_id(detector: Any) -> str:
    """The client id an instance's group consumer has: `<KAFKA_CLIENT_ID>-<transactional id>`."""
    return f"{detector.settings.kafka.client_id}-{detector.settings.transactional_id}"


def test_a_zombie_fenced_after_its_timeout_leaves_the_id_to_the_newer_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cluster, detector = paused_then_fenced(
        monkeypatch, tmp_path, TIMEOUT_MS / 1000 + 13,
        lambda d: [(client_id(d), NEWER), ("auditstream-other-instance", "m-9")])
    before = cluster.producers
    with pytest.raises(DetectorError, match="another instance with the same id") as info:
        detector.run(until=drained(cluster))
    assert info.value.exit_code == ExitCode.USAGE
    assert cluster.producers == before  # the newer process is not fenced


def test_a_zombie_asks_the_group_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Its exit's shutdown aborts the open transaction with the fenced producer, fenced past
    # the timeout again: that asked the group a second time, for nothing (no producer is
    # made at the shutdown), one more DescribeConsumerGroups that can abort the process
    # (librdkafka #4605), and, answered otherwise (here no answer), a WARNING "(not another
    # instance); replacing the producer" after the newer process was found.
    answers = iter([True, False])
    asked: list[int] = []

    def members(d: Any) -> list[tuple[str, str]] | None:
        asked.append(1)
        return [(client_id(d), NEWER)] if next(answers) else None

    cluster, detector = paused_then_fenced(monkeypatch, tmp_path, TIMEOUT_MS / 1000 + 13,
                                           members)
    before = cluster.producers
    with caplog.at_level(logging.WARNING, "detector"), pytest.raises(
            DetectorError, match="another instance with the same id") as info:
        detector.run(until=drained(cluster))
    assert info.value.exit_code == ExitCode.USAGE
    assert cluster.producers == before
    assert [r.getMessage() for r in caplog.records
            if "not another instance" in r.getMessage()] == []
    assert len(asked) == 1


@pytest.mark.parametrize("listed", ["nobody", "other instances", "own earlier member",
                                    "own member now", "no answer"])
def test_fenced_after_the_timeout_without_a_newer_process_replaces_the_producer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, listed: str
) -> None:
    # A broker restart outlasting the transaction (the fault suite, seed 7): the group may
    # still list this process's member from before it rejoined, under its own client id.
    members = {
        "nobody": lambda d: [],
        "other instances": lambda d: [("auditstream-other-instance", "m-9"),
                                      (client_id(d) + "x", "m-8")],
        "own earlier member": lambda d: [(client_id(d), "own-1")],
        "own member now": lambda d: [(client_id(d), "own-after-the-pause")],
        "no answer": lambda d: None,
    }[listed]
    cluster, detector = paused_then_fenced(monkeypatch, tmp_path, TIMEOUT_MS / 1000 + 1,
                                           members)
    replaced_once(detector, cluster)


def test_fenced_within_the_timeout_exits_2_whoever_the_group_lists(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # 1 s inside the timeout the coordinator cannot have aborted it: another instance did.
    cluster, detector = paused_then_fenced(monkeypatch, tmp_path, TIMEOUT_MS / 1000 - 1,
                                           lambda d: [])
    before = cluster.producers
    with pytest.raises(DetectorError, match="fenced") as info:
        detector.run(until=drained(cluster))
    assert info.value.exit_code == ExitCode.USAGE
    assert cluster.producers == before


@pytest.mark.parametrize("code", ["TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
                                  "CLUSTER_AUTHORIZATION_FAILED"])
@pytest.mark.parametrize("past_timeout_s", [-1, 0, 1])
@pytest.mark.parametrize("newer_listed", [False, True])
def test_rights_refused_at_the_commit_are_named_not_taken_for_a_fencing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    code: str, past_timeout_s: int, newer_listed: bool
) -> None:
    # An ACL removed while the detector runs: librdkafka's fatal authorization error was
    # one of the "fenced" codes, so past the timeout it was logged "the coordinator aborted
    # it and bumped the epoch (not another instance)" and the producer replaced, and
    # within it "fenced (another instance with the same id?)". Either way: rights refused.
    asked: list[int] = []

    def members(d: Any) -> list[tuple[str, str]]:
        asked.append(1)
        return [(client_id(d), NEWER)] if newer_listed else []

    error = KafkaError(getattr(KafkaError, code), "Failed to end transaction: Broker: "
                       "authorization failed", fatal=True)
    cluster, detector = paused_then_fenced(
        monkeypatch, tmp_path, TIMEOUT_MS / 1000 + past_timeout_s, members, error=error)
    before = cluster.producers
    with caplog.at_level(logging.WARNING, "detector"), pytest.raises(DetectorError) as info:
        detector.run(until=drained(cluster))
    line = str(info.value)
    assert code in line and "refused" in line, line
    assert "ACL" in line and "KAFKA_SASL_USERNAME" in line, line
    assert detector.settings.transactional_id in line, line
    assert "fenced" not in line and "another instance" not in line, line
    assert info.value.exit_code == ExitCode.USAGE
    assert cluster.producers == before
    assert asked == []
    assert [r.getMessage() for r in caplog.records if "fenced" in r.getMessage()] == []


def lost_after_first_commit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                            members: Any, txn_open: bool = False,
                            paused: bool = True) -> tuple[Any, Any]:
    """A fake detector whose consumer, at a consume after the first with a transaction open
    or not (`txn_open`), reports its partitions lost (its session ran out while the process
    was paused) and rejoins under a new member id; `members(detector)` as above."""
    cluster, detector = paused_then_fenced(monkeypatch, tmp_path, 0.0, members, n=LONG,
                                           paused=paused)
    cluster.on_txn = None
    consume = FakeConsumer.consume
    fired = False

    def consume_then_lose(consumer: FakeConsumer, num_messages: int = 1,
                          timeout: float = 0) -> Any:
        nonlocal fired
        if (consumer.consumes >= 2 and detector._txn.open == txn_open and not fired
                and consumer.assigned):
            fired = True
            consumer.__dict__["member"] = "own-after-the-pause"
            consumer.callbacks["on_lost"](consumer, [])
            consumer.assigned = False  # rejoins: assigned anew at this consume
        return consume(consumer, num_messages, timeout)

    monkeypatch.setattr(FakeConsumer, "consume", consume_then_lose)
    monkeypatch.setattr(cluster, "fired", lambda: fired, raising=False)
    return cluster, detector


@pytest.mark.parametrize("txn_open", [False, True], ids=["between", "in-a-transaction"])
def test_a_zombie_that_lost_its_partitions_leaves_the_id_to_the_newer_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    txn_open: bool
) -> None:
    # bench/chaos_soak.py, seed 504 (same plan): paused between two transactions, the zombie
    # woke to its partitions lost and replaced its producer as after a broker outage; the new
    # producer's init_transactions fenced the newer process, which exited 2. Paused with its
    # transaction open (the broker test in a CI run, 2026-12-06), it aborted it, and the
    # abort's new producer fenced the newer process the same way.
    cluster, detector = lost_after_first_commit(
        monkeypatch, tmp_path, lambda d: [(client_id(d), NEWER)], txn_open)
    before = cluster.producers
    with caplog.at_level(logging.ERROR, "detector"), pytest.raises(
            DetectorError, match="another instance with the same id") as info:
        detector.run(until=drained(cluster))
    assert info.value.exit_code == ExitCode.USAGE
    assert cluster.producers == before
    # Its reason is the exit line alone, not an ERROR "lost callback failed" before it (the
    # broker test saw both: it read as a crash).
    assert [r.getMessage() for r in caplog.records if "callback failed" in r.getMessage()] == []


#: librdkafka's text of a static member's fence, as a broker run printed it (2026-12-07).
STATIC_FENCED = ("Fatal error: Broker: Static consumer fenced by other consumer with same "
                 "group.instance.id: Fatal consumer error: Broker: Static consumer fenced by "
                 "other consumer with same group.instance.id")


class _StaticFenced:
    """librdkafka's fatal error event as a consume returns it when a static member's rejoin
    (or heartbeat) is answered FENCED_INSTANCE_ID (its code is _FATAL; the text names the
    cause); `text`: another fatal error's."""

    def __init__(self, text: str = STATIC_FENCED) -> None:
        self.err = KafkaError(KafkaError._FATAL, text, fatal=True)

    def error(self) -> KafkaError:
        return self.err


def static_fenced_at_the_third_consume(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                       paused: bool, newer_listed: bool,
                                       text: str = STATIC_FENCED, raised: bool = False
                                       ) -> tuple[DetectorError, list[int], Any]:
    """A fake detector whose third consume returns the fatal error `text` (a static
    member's fence by default; `raised`: raises it, as a client call would), run to its
    exit 2: its error, the group's descriptions asked (counted), the detector."""
    asked: list[int] = []

    def members(d: Any) -> list[tuple[str, str]]:
        asked.append(1)
        return [(client_id(d), NEWER)] if newer_listed else []

    cluster, detector = paused_then_fenced(monkeypatch, tmp_path, 0.0, members, n=LONG,
                                           paused=paused)
    cluster.on_txn = None
    consume = FakeConsumer.consume

    def consume_then_fenced(consumer: FakeConsumer, num_messages: int = 1,
                            timeout: float = 0) -> Any:
        if consumer.consumes >= 2:
            consumer.consumes += 1
            if raised:
                raise KafkaException(_StaticFenced(text).err)
            return [_StaticFenced(text)]
        return consume(consumer, num_messages, timeout)

    monkeypatch.setattr(FakeConsumer, "consume", consume_then_fenced)
    before = cluster.producers
    with pytest.raises(DetectorError) as info:
        detector.run(until=drained(cluster))
    assert info.value.exit_code == ExitCode.USAGE
    assert cluster.producers == before  # no new producer: it would fence the newer one
    return info.value, asked, detector


@pytest.mark.parametrize(("paused", "newer_listed"), [(True, True), (True, False),
                                                      (False, True), (False, False)])
def test_a_static_member_fenced_before_its_partitions_are_lost_is_told_the_same(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, paused: bool, newer_listed: bool
) -> None:
    # DETECTOR_STATIC_MEMBERSHIP=true: the zombie's rejoin is answered FENCED_INSTANCE_ID,
    # and a consume can return that fatal error before the lost callback runs (the broker
    # test saw the callback first). Paused with a newer process listed, the exit line is
    # the leave line either way; else the consumer's own fence line (a live member whose id
    # another process took; or, none running, fenced by its own earlier member after a
    # broker restart, librdkafka #3437). Exit 2 each, no new producer.
    error, asked, _ = static_fenced_at_the_third_consume(monkeypatch, tmp_path, paused,
                                                         newer_listed)
    line = str(error)
    if paused and newer_listed:
        assert "it ends and leaves the id to that one, which goes on" in line, line
    else:
        assert "took its place" in line, line
    assert len(asked) == (1 if paused else 0)


@pytest.mark.parametrize("raised", [False, True], ids=["consumed", "raised"])
def test_a_live_static_member_fenced_says_another_process_with_its_id_took_its_place(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, raised: bool
) -> None:
    # Never paused, its id taken by a process started with it (the broker test
    # `test_a_live_static_member_whose_id_another_process_takes_ends_in_one_line`): before,
    # `fatal consumer error: KafkaError{code=_FATAL,...}` (raised by a client call: `Kafka
    # client error: ...`), where the producer's fence is one clear line.
    error, asked, detector = static_fenced_at_the_third_consume(monkeypatch, tmp_path, False,
                                                                True, raised=raised)
    line, s = str(error), detector.settings
    assert line.startswith(f"group consumer {s.transactional_id} "), line
    assert f"group {s.group_id}" in line, line
    for part in ("another process with the same instance id", "took its place",
                 "it ends and leaves the id to that one", "librdkafka #3437"):
        assert part in line, line
    assert "KafkaError{" not in line, line
    assert asked == []


def test_a_static_members_other_fatal_error_is_still_the_fatal_consumer_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    error, _, _ = static_fenced_at_the_third_consume(
        monkeypatch, tmp_path, False, False, "Fatal error: Broker: Invalid request")
    line = str(error)
    assert line.startswith("fatal consumer error") and "Invalid request" in line, line
    assert "took its place" not in line, line


@pytest.mark.parametrize("listed", ["nobody", "own earlier member", "no answer"])
def test_partitions_lost_without_a_newer_process_replace_the_producer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, listed: str
) -> None:
    members = {"nobody": lambda d: [], "own earlier member": lambda d: [(client_id(d), "own-1")],
               "no answer": lambda d: None}[listed]
    cluster, detector = lost_after_first_commit(monkeypatch, tmp_path, members)
    before = cluster.producers
    detector.run(until=drained(cluster))
    assert cluster.fired()
    assert cluster.producers == before + 1  # as after a broker outage
    assert every_row_once(cluster, n=LONG)


@pytest.mark.parametrize("txn_open", [False, True], ids=["between", "in-a-transaction"])
def test_partitions_lost_without_a_pause_never_describe_the_group(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, txn_open: bool
) -> None:
    # A broker restart loses the partitions of a process that was never paused: it is no
    # zombie, and DescribeConsumerGroups while the connection drops can abort the process
    # (librdkafka #4605: the fault suite's broker restart did, in a CI run, 2026-12-06).
    asked: list[str] = []

    def members(d: Any) -> list[tuple[str, str]]:
        asked.append(client_id(d))
        return [(client_id(d), NEWER)]

    cluster, detector = lost_after_first_commit(monkeypatch, tmp_path, members, txn_open,
                                                paused=False)
    before = cluster.producers
    detector.run(until=drained(cluster))
    assert cluster.fired()
    assert asked == []
    assert cluster.producers == before + 1  # as after a broker outage
    assert every_row_once(cluster, n=LONG)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def lost_after_a_pause_and_a_long_step(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                       members: Any, turns_between: int) -> tuple[Any, Any]:
    """A fake detector (its watchdog on a fake clock) stopped 30 s inside a turn, then busy
    20 s after the wake-up in that same turn (restoring its assignment, a rewind: nothing
    polls the consumer meanwhile), which finds its partitions lost `turns_between` turns
    later; `members(detector)` as above."""
    cluster, detector = paused_then_fenced(monkeypatch, tmp_path, 0.0, members, n=LONG)
    cluster.on_txn = None
    clock = _Clock()
    watchdog = Watchdog(4.0, clock, run=False, cpu=lambda: 0.0, waited=lambda: None)
    detector._watchdog = detector._txn._watchdog = watchdog
    detector._txn._made_at = watchdog.now()  # its producer made at the start, on that clock
    consume = FakeConsumer.consume
    paused_at: int | None = None
    fired = False

    def consume_then_lose(consumer: FakeConsumer, num_messages: int = 1,
                          timeout: float = 0) -> Any:
        nonlocal paused_at, fired
        if consumer.assigned and consumer.consumes >= 2 and paused_at is None:
            paused_at = consumer.consumes
            clock.now += 30  # stopped: the watchdog's next check is 30 s late
            watchdog.check()
            for _ in range(20):  # 20 s busy after the wake-up, the checks on time
                clock.now += 1
                watchdog.check()
        elif (paused_at is not None and consumer.consumes > paused_at + turns_between
                and not fired):
            fired = True
            consumer.__dict__["member"] = "own-after-the-pause"
            consumer.callbacks["on_lost"](consumer, [])
            consumer.assigned = False
        return consume(consumer, num_messages, timeout)

    monkeypatch.setattr(FakeConsumer, "consume", consume_then_lose)
    monkeypatch.setattr(cluster, "fired", lambda: fired, raising=False)
    return cluster, detector


def test_a_zombie_busy_after_its_pause_past_the_window_still_asks_the_group(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Paused inside a long step (restoring its assignment in the assign callback, a rewind),
    # it polls again only once the step is over: its lost partitions come 20 s after the
    # wake-up, past the window (a 10 s session and 5 s), yet the pause was in the turn
    # before: it was asked, and the zombie leaves the id (before: not asked, its new
    # producer fenced the newer process).
    cluster, detector = lost_after_a_pause_and_a_long_step(
        monkeypatch, tmp_path, lambda d: [(client_id(d), NEWER)], turns_between=0)
    before = cluster.producers
    with pytest.raises(DetectorError, match="another instance with the same id") as info:
        detector.run(until=drained(cluster))
    assert info.value.exit_code == ExitCode.USAGE
    assert cluster.producers == before


def test_partitions_lost_a_turn_after_a_pause_past_the_window_do_not_ask(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The same pause, but a whole turn polled the consumer after the busy step: a pause
    # before that turn and past the window is not this loss's (a broker restart's).
    asked: list[str] = []

    def members(d: Any) -> list[tuple[str, str]]:
        asked.append(client_id(d))
        return [(client_id(d), NEWER)]

    cluster, detector = lost_after_a_pause_and_a_long_step(monkeypatch, tmp_path, members,
                                                            turns_between=1)
    before = cluster.producers
    detector.run(until=drained(cluster))
    assert cluster.fired()
    assert asked == []
    assert cluster.producers == before + 1
    assert every_row_once(cluster, n=LONG)


def test_the_group_is_described_within_a_session_and_the_members_timeout_of_a_pause(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A fence or a loss that long after the wake-up is no longer the pause's: the window is
    # session.timeout.ms (the consumer's session running out) plus the description's wait.
    detector = fake_detector(monkeypatch, cluster_with(), state_dir=tmp_path,
                             session_timeout_ms=12_000)
    assert detector.settings.session_timeout_ms / 1000 + MEMBERS_TIMEOUT_S == 17.0
    now = [0.0]
    detector._watchdog = Watchdog(4.0, lambda: now[0], run=False, cpu=lambda: 0.0,
                                  waited=lambda: None)
    asked: list[Any] = []
    monkeypatch.setattr(app, "group_members", lambda s, *a, **k: asked.append(s))  # None
    for t in [1.0, 2.0, 30.0, *range(31, 48)]:  # stopped 2 -> 30 s, then checked on time
        now[0] = t
        detector._watchdog.check()
    assert detector._watchdog.paused_at == 30.0
    now[0] = 47.0  # 17 s after the wake-up: at the bound, asked (with its own settings)
    assert detector._newer_instance() is False  # the group did not answer
    assert len(asked) == 1 and asked[0] is detector.settings
    now[0] = 47.25  # just past it: not asked
    assert detector._newer_instance() is False
    assert len(asked) == 1


def test_a_transaction_has_timed_out_from_exactly_its_timeout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    detector = fake_detector(monkeypatch, cluster_with(), state_dir=tmp_path,
                             transaction_timeout_ms=TIMEOUT_MS)
    t = detector._txn
    now = [0.0]
    monkeypatch.setattr(Watchdog, "now", lambda self: now[0])
    t.open, t.started = True, 1000.0
    for at, age in [(1059.99, None), (1060.0, 60.0), (1060.01, 60.01)]:
        now[0] = at
        assert t._overdue() == (None if age is None else pytest.approx(age)), at
    t.open = False
    assert t._overdue() is None


def test_the_zombies_exit_line_names_its_id_its_group_and_what_goes_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    detector = fake_detector(monkeypatch, cluster_with(), state_dir=tmp_path)
    t = detector._txn
    monkeypatch.setattr(t, "_newer_instance", lambda: False)
    t.leave_to_newer("lost its partitions")  # no newer process: nothing said
    monkeypatch.setattr(t, "_newer_instance", lambda: True)
    with pytest.raises(DetectorError) as info:
        t.leave_to_newer("lost its partitions")
    s = detector.settings
    assert str(info.value) == (
        f"transactional producer {s.transactional_id} lost its partitions, and another "
        f"instance with the same id is in group {s.group_id} (this process was "
        "paused?); it ends and leaves the id to that one, which goes on")


@pytest.mark.parametrize(("wait", "described"), [(29.0, False), (0.01, True)])
def test_a_live_detector_asking_while_its_watchdog_waits_to_run_describes_no_group(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, wait: float, described: bool
) -> None:
    # On an overloaded machine the main thread (its partitions lost in a broker restart)
    # asks whether it was paused while the watchdog's thread still waits on the run queue,
    # its wait not counted yet. Before: taken for a pause, the group was described
    # (DescribeConsumerGroups as the connection drops: librdkafka #4605's abort). Woken from
    # a stop (about no wait), it is asked. Either way a live process never leaves: only a
    # member with its client id that was never its own would make it, and it has none.
    detector = fake_detector(monkeypatch, cluster_with(), state_dir=tmp_path)
    asked: list[Any] = []
    monkeypatch.setattr(FakeConsumer, "memberid", lambda c: "own-1", raising=False)

    def members(s: Any, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        asked.append(s)
        return [(client_id(detector), "own-1")]  # its own member only

    monkeypatch.setattr(app, "group_members", members)

    def ask(w: Watchdog) -> bool:
        detector._watchdog = w
        return bool(detector._newer_instance())

    answer, _ = asked_while_queued(wait, ask)
    assert answer is False
    assert len(asked) == (1 if described else 0)


def made_a_producer_since_waking_then_lost(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, members: Any,
        paused_after: float | None = None) -> tuple[Any, Any, Watchdog]:
    """A fake detector (its watchdog on a clock that goes on a little at each reading)
    stopped 30 s with a transaction open, fenced past its timeout at its commit, asked the
    group (`members(detector)`), and, once asked and given a new producer, its partitions
    lost; `paused_after`: seen paused that long (from its check before) in between,
    `cluster.seen` then (when, and when the producer was made)."""
    cluster, detector = paused_then_fenced(monkeypatch, tmp_path, TIMEOUT_MS / 1000 + 13,
                                           members, n=LONG)
    ticks = [0.0]
    tick = 2 ** -10  # exact in binary: a pause's length is exactly the one asked

    def clock() -> float:  # time goes on: a little at each reading
        ticks[0] += tick
        return ticks[0]

    watchdog = Watchdog(4.0, clock, run=False, cpu=lambda: 0.0, waited=lambda: None)
    detector._watchdog = detector._txn._watchdog = watchdog
    detector._txn._made_at = watchdog.now()  # its producer made before the pause
    ticks[0] = 30.0  # stopped 30 s: seen at the next check
    consume = FakeConsumer.consume
    fired = False
    seen: list[tuple[float | None, float]] = []

    def consume_then_lose(consumer: FakeConsumer, num_messages: int = 1,
                          timeout: float = 0) -> Any:
        nonlocal fired
        if detector._txn._made_at > 30.0 and not fired and consumer.assigned:
            fired = True  # after the fence's question and the new producer
            if paused_after is not None:
                watchdog.check()
                ticks[0] += paused_after - tick  # the check's own reading is the last tick
                watchdog.check()
                seen.append((watchdog.paused_at, detector._txn._made_at))
            consumer.__dict__["member"] = "own-after-the-loss"
            consumer.callbacks["on_lost"](consumer, [])
            consumer.assigned = False
        return consume(consumer, num_messages, timeout)

    monkeypatch.setattr(FakeConsumer, "consume", consume_then_lose)
    monkeypatch.setattr(cluster, "fired", lambda: fired, raising=False)
    monkeypatch.setattr(cluster, "seen", seen, raising=False)
    return cluster, detector, watchdog


def joined_after_the_first_ask(asked: list[str]) -> Callable[[Any], list[tuple[str, str]]]:
    """`group_members`' stand-in recording each ask in `asked`: nobody listed at the first,
    the newer process with this id at every later one (B joined meanwhile)."""
    def members(d: Any) -> list[tuple[str, str]]:
        asked.append(client_id(d))
        return [] if len(asked) == 1 else [(client_id(d), NEWER)]
    return members


def test_a_zombie_that_made_a_producer_since_waking_does_not_leave_to_one_it_fenced(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The broker test of a zombie woken between the newer process's init_transactions and
    # its join (second run, 2026-12-06): A, fenced past its timeout at send_offsets, asked
    # the group (B not in it yet), made a new producer (fencing B's) and rewound; its lost
    # partitions came once B had joined: asked again, it found B and left, while B's first
    # transaction was refused (fenced by A's new producer): both exited 2, nobody ran on.
    # A producer made since the pause holds the id's newest epoch: not asked again, it goes
    # on (a new producer after the loss), and the listed one ends at its next step.
    asked: list[str] = []
    members = joined_after_the_first_ask(asked)
    cluster, detector, watchdog = made_a_producer_since_waking_then_lost(
        monkeypatch, tmp_path, members)
    before = cluster.producers
    detector.run(until=drained(cluster))
    assert cluster.fired()
    assert len(asked) == 1
    assert watchdog.paused_at is not None and watchdog.paused_at >= 30.0
    assert cluster.producers == before + 2  # after the fence, after the loss
    assert every_row_once(cluster, n=LONG)


@pytest.mark.parametrize(("paused_s", "leaves"), [(2.5, False), (9.99, False), (10.0, True),
                                                  (30.0, True)])
def test_a_pause_since_its_new_producer_counts_only_if_the_group_could_have_replaced_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, paused_s: float, leaves: bool
) -> None:
    # The both-paused broker test woken together (2 in 8 runs at load, "only 6000 of 6500
    # scored rows"): A woke, found nobody, made a producer (fencing B's); then a check of
    # its watchdog ran a second late on the loaded machine, a "pause" after that producer.
    # Its lost partitions told, A asked the group again, found B (which its producer had
    # fenced) and left: nobody ran on. Only a pause as long as the session (10 s here,
    # under the 60 s transaction timeout) lets the group drop this member and a newer
    # process take its place: a shorter one keeps A's producer the newest, A goes on; one
    # that long has A ask, and leave to the newer one listed.
    asked: list[str] = []
    members = joined_after_the_first_ask(asked)
    cluster, detector, watchdog = made_a_producer_since_waking_then_lost(
        monkeypatch, tmp_path, members, paused_after=paused_s)
    assert detector.settings.session_timeout_ms == 10_000
    before = cluster.producers
    if leaves:
        with pytest.raises(DetectorError, match="lost its partitions, and another instance"):
            detector.run(until=drained(cluster))
        assert len(asked) == 2
        assert cluster.producers == before + 1  # after the fence only: B is not fenced again
        return
    detector.run(until=drained(cluster))
    assert cluster.fired()
    [(paused_at, made_at)] = cluster.seen
    assert paused_at is not None and paused_at > made_at  # seen after its new producer
    assert watchdog.last_pause(0.0) == paused_at
    assert len(asked) == 1
    assert cluster.producers == before + 2
    assert every_row_once(cluster, n=LONG)


@pytest.mark.parametrize(("session_ms", "timeout_ms", "paused_s", "newest"), [
    (10_000, 60_000, 9.99, True), (10_000, 60_000, 9.999, True), (10_000, 60_000, 10.0, False),
    (10_000, 60_000, 10.01, False),
    (10_000, 8_000, 7.99, True), (10_000, 8_000, 7.999, True), (10_000, 8_000, 8.0, False),
    (10_000, 8_000, 8.01, False)])
def test_a_producer_stays_the_newest_through_pauses_shorter_than_the_session_and_timeout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, session_ms: int, timeout_ms: int,
    paused_s: float, newest: bool
) -> None:
    # A pause of the session's length (the group may drop the member) or the transaction
    # timeout's (the coordinator aborts its transaction), whichever is shorter, after the
    # producer was made: a newer process may hold the id since. A shorter one (a late check
    # of a loaded machine's watchdog) is not: the producer still holds the newest epoch.
    detector = fake_detector(monkeypatch, cluster_with(), state_dir=tmp_path,
                             session_timeout_ms=session_ms, transaction_timeout_ms=timeout_ms)
    t = detector._txn
    now = [0.0]
    watchdog = Watchdog(4.0, lambda: now[0], run=False, cpu=lambda: 0.0, waited=lambda: None)
    t._watchdog, t._made_at = watchdog, 0.5  # its producer made at the start
    for at in [1.0, 2.0, 40.0, 41.0]:  # stopped 2 -> 40: a zombie's pause
        now[0] = at
        watchdog.check()
    assert not t._newest()  # made before that pause
    # made at the very reading of the wake-up: maybe before the stop (it may have come
    # after init_transactions returned, before the reading), so not the newest
    t._made_at = 40.0
    assert not t._newest()
    t._made_at = 41.5  # a new producer since
    assert t._newest()
    now[0] = 42.0
    watchdog.check()
    now[0] = 42.0 + paused_s
    assert t._newest() is newest
    assert watchdog.paused_at == now[0]  # a pause all the same
