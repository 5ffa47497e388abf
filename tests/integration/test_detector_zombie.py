"""A zombie that wakes up, against a real broker: detector A paused (SIGSTOP, a frozen VM)
past its session and transaction timeouts while a supervisor started B with the same
instance id (so the same transactional id). Woken, A must exit 2 and leave the id to B,
not replace its producer and fence B; B goes on, and the scored topic holds every
transaction once, exactly as `score` rates it. Where the pause falls picks the branch: A
paused with a transaction open is fenced at its commit, paused between two loses its
partitions; both end with the same line, with static membership too (the rejoin then
answered FENCED_INSTANCE_ID, fatal). Found by bench/chaos_soak.py (seeds 502, 504);
`tests/unit/test_detector_zombie.py` covers each branch with fakes."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from detector.kafka_io import MEMBERS_TIMEOUT_S
from shared.kafka import make_admin
from shared.schemas import Transaction
from shared.settings import KafkaSettings
from tests.integration.detector_harness import (
    DetectorProcess,
    Topics,
    assert_exactly_the_offline_result,
    keyed,
    make_transactions,
    produce,
    produce_in_background,
    read_all,
    supervised,
)
from tests.integration.test_detector_rewind_race import release

#: slow: in the serial group, so the pause is not timed on a machine shared with other runs
pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Short, so the pause outlasts it in seconds, not the default minute. The harness's session
#: (6 s, the broker's group.min.session.timeout.ms) is already short.
TRANSACTION_TIMEOUT_MS = 8_000
ZOMBIE_ENV = {"DETECTOR_TRANSACTION_TIMEOUT_MS": str(TRANSACTION_TIMEOUT_MS)}
#: Past the transaction timeout by a margin (A's open transaction is timed by its own clock).
LEAST_PAUSE_S = TRANSACTION_TIMEOUT_MS / 1000 + 4
#: Rows B must have committed after the pause before A wakes: it has taken over.
TAKEN_OVER = 800


def committed(kafka: KafkaSettings, topics: Topics, at_least: int,
              running: list[DetectorProcess], timeout: float = 90.0) -> int:
    """Committed rows on the scored topic once there are `at_least` (fails on a timeout)."""
    n = len(read_all(kafka, topics.scored, topics.partitions, at_least, timeout=timeout,
                     settle=1.0, running=running))
    assert n >= at_least, f"only {n} of {at_least} scored rows within {timeout} s"
    return n


def same_id(kafka: KafkaSettings, topics: Topics, tmp_path: Path, env: dict[str, str]
            ) -> tuple[DetectorProcess, DetectorProcess]:
    """A started and B not yet, both with instance id "x", each with its own state folder."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = DetectorProcess(kafka, topics, "x", tmp_path / "a", env).start()
    return a, DetectorProcess(kafka, topics, "x", tmp_path / "b", env)


def pause_for_b_to_take_over(kafka: KafkaSettings, topics: Topics, a: DetectorProcess,
                             b: DetectorProcess, rows: int, txs: list[Transaction],
                             rate: float) -> threading.Thread:
    """`txs` fed at `rate` from A's restore on, A paused (SIGSTOP) once it committed rows; B
    started once A's session ran out and `rows` more committed (or every row fed, should A
    have scored nearly all before its pause); back when A has been paused LEAST_PAUSE_S, B
    running all along. Returns the feeder.

    Fed from A's restore, not from its start: a start slower than the feed (flake19,
    2026-12-07, load 12-17) left A every row to score before its pause, and B none to take
    over: `only 6000 of 6500 scored rows` (the both-paused test feeds 6000 before the wake),
    about 2 in 8 runs."""
    assert a.proc is not None
    a.wait_for("restored", timeout=90)
    feeder = produce_in_background(kafka, topics.input, txs, rate=rate)
    committed(kafka, topics, 500, [a])
    a.proc.send_signal(signal.SIGSTOP)
    paused_at = time.monotonic()
    at_pause = committed(kafka, topics, 1, [])
    b.start().wait_for("restored", timeout=90)  # after A's session ran out
    committed(kafka, topics, min(at_pause + rows, len(txs)), [b])
    while time.monotonic() < paused_at + LEAST_PAUSE_S:
        assert b.alive(), b.logs()
        time.sleep(0.2)
    return feeder


def woken_and_killed(*procs: DetectorProcess) -> None:
    """Each of `procs` still running woken (SIGCONT) and killed."""
    for proc in procs:
        if proc.alive():
            assert proc.proc is not None
            proc.proc.send_signal(signal.SIGCONT)
            proc.kill()


#: Static membership (group.instance.id): B's join fences A's member at once, and A's
#: rejoin is answered FENCED_INSTANCE_ID (fatal); the leave line must still be A's exit.
MEMBERSHIP = {"dynamic": {}, "static": {"DETECTOR_STATIC_MEMBERSHIP": "true"}}


@pytest.mark.parametrize("membership", sorted(MEMBERSHIP))
def test_a_zombie_woken_past_its_timeouts_leaves_the_id_to_the_newer_process(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path, membership: str
) -> None:
    env = {**ZOMBIE_ENV, **MEMBERSHIP[membership]}
    txs = make_transactions(12_000, customers=500, seed=13)
    topics = Topics(topic_name, 2).create(kafka)
    a, b = same_id(kafka, topics, tmp_path, env)
    assert a.proc is not None
    try:
        # Paced so that A is mid-stream (a transaction open) when paused and B has rows left.
        feeder = pause_for_b_to_take_over(kafka, topics, a, b, TAKEN_OVER, txs, 300)
        a.proc.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 90
        while a.alive() and b.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert b.alive(), f"the newer process ended:\n{b.logs()[-3000:]}\nzombie:\n" \
                          f"{a.logs()[-3000:]}"
        assert not a.alive(), f"the zombie still runs:\n{a.logs()[-3000:]}"
        assert a.proc.returncode == 2, a.logs()[-3000:]
        assert "it ends and leaves the id to that one, which goes on" in a.logs(), a.logs()
        feeder.join(90)
        assert not feeder.is_alive()
        assert_exactly_the_offline_result(kafka, topics, txs, [b])
        assert b.terminate() == 0, b.logs()[-3000:]
    finally:
        woken_and_killed(a, b)


def restores(proc: DetectorProcess) -> int:
    """The partitions `proc` has restored so far (its log's lines)."""
    return proc.logs().count(" restored (")


#: Rows fed after both wake: records on every partition, so a process whose producer the
#: other fenced (woken together) uses it, is told so and ends.
AFTER_WAKING = 2_500


@pytest.mark.parametrize("woken", ["older first", "together"])
def test_both_paused_exactly_one_runs_on_when_they_wake(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path, woken: str
) -> None:
    # A paused, B started with its id and took over, then B paused too, each past its
    # session and transaction timeouts, so the group lists neither when they wake. The one
    # woken first finds no other member with the id and goes on (its new producer fences
    # the other's); the other, waking, finds it and leaves the id, or is fenced at its first
    # send (exit 2 either way). Woken together, whichever started its producer first is
    # fenced and leaves. Never none, never both.
    txs = make_transactions(8_500, customers=500, seed=6)
    topics = Topics(topic_name, 2).create(kafka)
    a, b = same_id(kafka, topics, tmp_path, ZOMBIE_ENV)
    assert a.proc is not None
    try:
        feeder = pause_for_b_to_take_over(kafka, topics, a, b, 500, txs[:-AFTER_WAKING], 250)
        assert b.proc is not None
        b.proc.send_signal(signal.SIGSTOP)
        b_paused = time.monotonic()
        while time.monotonic() < b_paused + LEAST_PAUSE_S:  # no event to wait for: a pause
            time.sleep(0.2)
        feeder.join(60)
        assert not feeder.is_alive()
        restored = restores(a)
        a.proc.send_signal(signal.SIGCONT)
        if woken == "older first":
            # A back in the group with the partitions: listed by the group (what B, waking,
            # asks), not only restored. A's rewind after its fence restores too, before its
            # consumer hears its session is gone (flake17, 2026-12-07, load 7 and two busy
            # loops): B woken then found no member, made a producer and ran on, A ended.
            admin, group = make_admin(kafka, quiet=True), topics.env()["DETECTOR_GROUP_ID"]
            deadline = time.monotonic() + 60
            while restores(a) == restored or group_members(admin, group) != 1:
                assert a.alive(), a.logs()[-3000:]
                assert time.monotonic() < deadline, f"A took nothing back:\n{a.logs()[-3000:]}"
                time.sleep(0.2)
        b_restored = restores(b)
        b.proc.send_signal(signal.SIGCONT)
        # Fed once each process still running is back in the group with a partition (or one
        # ended). Fed at once, one slow to rejoin on a loaded machine found every row scored
        # by the other and idled with its fenced producer: both ran on (zombie19, 2026-12-07,
        # load 17; docs/reliability.md's row of an idle zombie).
        admin, group = make_admin(kafka, quiet=True), topics.env()["DETECTOR_GROUP_ID"]
        until("both back in the group, or one ended", lambda: not (a.alive() and b.alive()) or (
            restores(a) > restored and restores(b) > b_restored
            and group_members(admin, group) == 2), [], timeout=90)
        feeder = produce_in_background(kafka, topics.input, txs[-AFTER_WAKING:], rate=250)
        deadline = time.monotonic() + 90
        while a.alive() and b.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        logs = f"A:\n{a.logs()[-3000:]}\nB:\n{b.logs()[-3000:]}"
        assert a.alive() != b.alive(), f"{'both' if a.alive() else 'neither'} ran on:\n{logs}"
        left, kept = (b, a) if a.alive() else (a, b)
        assert left.proc is not None and left.proc.returncode == 2, logs
        if woken == "older first":
            assert kept is a, logs
            # B paused with a transaction open asks the group at its timed-out step and
            # leaves; B paused between transactions is fenced at its first send, before any
            # new producer of its own: the generic fenced line (CI 2026-12-07 02:21, "no
            # step was open"). Either way it ends in one line naming the fence, exit 2.
            assert ("it ends and leaves the id to that one, which goes on" in exit_line(b)
                    or "was fenced (another instance with the same id?)" in exit_line(b)), logs
        feeder.join(90)
        assert not feeder.is_alive()
        assert_exactly_the_offline_result(kafka, topics, txs, [kept])
        assert kept.alive(), logs
        assert kept.terminate() == 0, kept.logs()[-3000:]
    finally:
        woken_and_killed(a, b)


def exit_line(proc: DetectorProcess) -> str:
    """The line a detector ended with (its error), "" if none."""
    lines = [line for line in proc.logs().splitlines()
             if line.startswith("python -m detector: error:")]
    return lines[-1] if lines else ""


def both_logs(a: DetectorProcess, b: DetectorProcess) -> str:
    return f"A:\n{a.logs()[-3000:]}\nB:\n{b.logs()[-3000:]}"


def until(what: str, done: Callable[[], bool], running: list[DetectorProcess],
          timeout: float = 60.0) -> None:
    """Wait (polling the logs) until `done()`; fails if one of `running` ends first."""
    deadline = time.monotonic() + timeout
    while not done():
        for proc in running:
            assert proc.alive(), f"{what}: a process ended:\n{proc.logs()[-3000:]}"
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.1)


#: Rows fed once the fenced zombie idles in the group (its partition gets some of them).
WOKEN_IDLE = 1_000


def test_both_paused_woken_together_the_fenced_one_idles_until_records_come(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    # Woken together, made deterministic: A wakes first, finds no member with its id, and
    # its new producer (fencing B's) is held inside its lost-partitions callback, before it
    # rejoins; B wakes meanwhile, finds no member either (A is not back), and its new
    # producer fences A's. A released rejoins and is given a partition: an idle zombie with
    # a fenced producer, nothing fed. No transaction is tried at an assignment (an empty one
    # would not reach the coordinator: librdkafka commits it locally), so A stays in the
    # group unaware; it can commit nothing, and makes no producer (none would fence B) while
    # idle. The first records: A's transaction is refused, it exits 2 ("fenced by a newer
    # instance"), and B takes its partition and runs on; every row once.
    txs = make_transactions(3_000, customers=500, seed=7)
    topics = Topics(topic_name, 2).create(kafka)
    fifo = tmp_path / "hold"
    os.mkfifo(fifo)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = DetectorProcess(kafka, topics, "x", tmp_path / "a", ZOMBIE_ENV,
                        hold={"replaced-on-loss": fifo}).start()
    b = DetectorProcess(kafka, topics, "x", tmp_path / "b", ZOMBIE_ENV)
    assert a.proc is not None
    try:
        a.wait_for("restored", timeout=90)
        # Fed from A's start on, paced: A is mid-stream when paused, B has rows left.
        feeder = produce_in_background(kafka, topics.input, txs[:-WOKEN_IDLE], rate=250)
        committed(kafka, topics, 500, [a])
        a.proc.send_signal(signal.SIGSTOP)
        a_paused = time.monotonic()
        at_pause = committed(kafka, topics, 1, [])
        b.start().wait_for("restored", timeout=90)  # after A's session ran out
        assert b.proc is not None
        committed(kafka, topics, at_pause + 500, [b])
        while time.monotonic() < a_paused + LEAST_PAUSE_S:  # no event to wait for: a pause
            assert b.alive(), b.logs()
            time.sleep(0.2)
        b.proc.send_signal(signal.SIGSTOP)
        b_paused = time.monotonic()
        while time.monotonic() < b_paused + LEAST_PAUSE_S:
            time.sleep(0.2)
        feeder.join(60)
        assert not feeder.is_alive()
        a.proc.send_signal(signal.SIGCONT)
        # A asked the group (no member), made a new producer; held before it rejoins. Or
        # (CI, 2026-12-06: the order is librdkafka's) A's first poll after waking returned
        # records fetched before its session's loss was noticed: their transaction met the
        # producer B's start fenced, not past the timeout, and A exits 2 at once; B woken
        # runs on alone. Both are right: exactly one runs on, every row once.
        until("A held before it rejoins, or ended",
              lambda: "hold: replaced-on-loss" in a.logs() or not a.alive(), [b])
        if not a.alive():
            assert a.proc.wait() == 2, both_logs(a, b)
            assert "fenced by a newer instance" in exit_line(a), both_logs(a, b)
            b.proc.send_signal(signal.SIGCONT)
            feeder = produce_in_background(kafka, topics.input, txs[-WOKEN_IDLE:], rate=400)
            feeder.join(60)
            assert not feeder.is_alive()
            assert_exactly_the_offline_result(kafka, topics, txs, [b])
            assert b.terminate() == 0, b.logs()[-3000:]
            return
        b_restored = restores(b)
        b.proc.send_signal(signal.SIGCONT)
        until("B back alone with both partitions", lambda: restores(b) >= b_restored + 2,
              [a, b])
        a_restored = restores(a)
        rows = committed(kafka, topics, 1, [])
        release(fifo)
        until("A back in the group with a partition", lambda: restores(a) > a_restored, [a, b])
        # Idle with a fenced producer: alive, nothing committed, no producer made since.
        assert a.alive() and b.alive(), both_logs(a, b)
        assert committed(kafka, topics, 1, []) == rows, both_logs(a, b)
        assert "fenced by a newer instance" not in a.logs() + b.logs(), both_logs(a, b)
        feeder = produce_in_background(kafka, topics.input, txs[-WOKEN_IDLE:], rate=400)
        deadline = time.monotonic() + 60
        while a.alive() and b.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert b.alive() and not a.alive(), both_logs(a, b)
        assert a.proc.returncode == 2, both_logs(a, b)
        assert "fenced by a newer instance" in exit_line(a), both_logs(a, b)
        feeder.join(60)
        assert not feeder.is_alive()
        assert_exactly_the_offline_result(kafka, topics, txs, [b])
        assert b.terminate() == 0, b.logs()[-3000:]
    finally:
        woken_and_killed(a, b)


def release_held(fifo: Path, timeout: float = 10.0) -> None:
    """`release`, retried while nobody holds the FIFO open yet (a process just continued
    from a stop restarts its blocked open of it)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            release(fifo)
            return
        except OSError:
            assert time.monotonic() < deadline, f"nobody held {fifo} within {timeout} s"
            time.sleep(0.05)


#: The pause of the gap test: A's open transaction is timed on the clock the test paces
#: the pause by, so its timeout plus a second is past it for sure, and 3 s past the session.
GAP_PAUSE_S = TRANSACTION_TIMEOUT_MS / 1000 + 1


def group_members(admin: AdminClient, group: str) -> int | None:
    """How many members `group` lists (None: the broker did not say)."""
    try:
        described = admin.describe_consumer_groups([group], request_timeout=5)[group].result(
            timeout=10)
    except (KafkaException, TimeoutError):
        return None
    return len(described.members)


def test_a_zombie_woken_between_the_newer_ones_producer_and_its_join(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    # A stopped inside its commit (held there, then SIGSTOP) past its session and
    # transaction timeouts; B started with its id and held after its start-up (its
    # init_transactions has fenced A's producer) before its consumer joins. A continued:
    # its commit is refused past the timeout, the group lists no other member with its id
    # (B has not joined), so it takes the fence for the coordinator's own and makes a new
    # producer (fencing B's); held as its lost partitions are told, B joins, takes both
    # partitions and is held before its first transaction. A then must not leave to B
    # (its producer is the newest: B's is fenced) but go on; B's first transaction is
    # refused: it exits 2. Exactly one runs on (the older), every row once. Before the fix
    # A asked the group again at the loss, found B and left: both exited 2.
    # B's process starts once A runs and is held before its start-up's Kafka steps: the
    # pause is as long as the scenario needs, not as B's imports.
    txs = make_transactions(4_000, customers=500, seed=11)
    topics = Topics(topic_name, 2).create(kafka)
    holds = {name: tmp_path / name for name in
             ("a-commit", "a-losing", "a-replaced", "b-connect", "b-subscribe", "b-begin")}
    for fifo in holds.values():
        os.mkfifo(fifo)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = DetectorProcess(kafka, topics, "x", tmp_path / "a", ZOMBIE_ENV, hold={
        "commit": holds["a-commit"], "losing": holds["a-losing"],
        "replaced-on-loss": holds["a-replaced"]}).start()
    # B with the default transaction timeout (60 s): nothing here pauses B, and its first
    # transaction's age counts from its begin, before the batch is scored. A first batch
    # (the kernel's first calls, the first fit) once took 10 s on a loaded machine (flake17,
    # 2026-12-07, load 22 on 2 cores): past A's 8 s, B took its fence for the coordinator's
    # timeout, found no member with its id (A held before its rejoin), made a new producer
    # and went on, and the test waited in vain for B's exit line. The fence B must meet is
    # A's producer, whatever its first batch takes.
    b = DetectorProcess(kafka, topics, "x", tmp_path / "b", {}, hold={
        "connect": holds["b-connect"], "subscribe": holds["b-subscribe"],
        "begin": holds["b-begin"]})
    assert a.proc is not None
    try:
        a.wait_for("restored", timeout=90)
        b.start()  # its imports while A runs, not in A's start-up
        assert b.proc is not None
        feeder = produce_in_background(kafka, topics.input, txs[:-AFTER_WAKING], rate=250)
        a.wait_for("hold: commit", timeout=60)
        a.proc.send_signal(signal.SIGSTOP)
        a_paused = time.monotonic()
        b.wait_for("hold: connect", timeout=90)
        release_held(holds["b-connect"])
        b.wait_for("hold: subscribe", timeout=60)  # B's producer fenced A's
        # No event to wait for but A's session ending at the broker (its member gone); the
        # rest is a length of pause.
        admin, group = make_admin(kafka, quiet=True), topics.env()["DETECTOR_GROUP_ID"]
        until("the group lists A no more", lambda: group_members(admin, group) == 0, [b],
              timeout=30)
        while time.monotonic() < a_paused + GAP_PAUSE_S:
            assert b.alive(), b.logs()
            time.sleep(0.1)
        a.proc.send_signal(signal.SIGCONT)
        release_held(holds["a-commit"])  # A's commit: refused, a new producer fences B's
        a.wait_for("hold: losing", timeout=30)
        release_held(holds["b-subscribe"])
        b.wait_for("hold: begin", timeout=60)  # B joined, owns both partitions
        release_held(holds["a-losing"])
        # Not asked (its producer is newer than B's): a new one again, before it rejoins.
        a.wait_for("hold: replaced-on-loss", timeout=30)
        assert "leaves the id" not in a.logs(), both_logs(a, b)
        feeder.join(60)
        assert not feeder.is_alive()
        release_held(holds["b-begin"])
        # B's error line comes after its shutdown (its consumer closed: it left the group);
        # A rejoins meanwhile, not after B's interpreter ended. It follows B's first batch,
        # which took 7 to 10 s on a loaded machine (flake17, 2026-12-07): as long as a start.
        b.wait_for("python -m detector: error:", timeout=90)
        assert "fenced by a newer instance" in exit_line(b), both_logs(a, b)
        release_held(holds["a-replaced"])
        assert b.proc.wait(30) == 2, both_logs(a, b)
        # Unpaced: A alone reads them whenever they come.
        produce(kafka, topics.input, keyed(txs[-AFTER_WAKING:]))
        assert_exactly_the_offline_result(kafka, topics, txs, [a])
        assert a.terminate() == 0, a.logs()[-3000:]
    finally:
        woken_and_killed(a, b)


#: Static membership on (`DETECTOR_STATIC_MEMBERSHIP`): the consumer's group.instance.id is
#: its transactional id.
STATIC_ENV = {"DETECTOR_STATIC_MEMBERSHIP": "true"}


def test_a_live_static_member_whose_id_another_process_takes_ends_in_one_line(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    # A runs, idle, never paused; B starts with its instance id: B's producer fences A's
    # (unused while idle), B's join replaces A's static member, and A's next heartbeat is
    # answered FENCED_INSTANCE_ID, a fatal consumer error. A must end with one line saying
    # another process with its instance id took its place (exit 2), fencing nothing; B goes
    # on, every row once.
    txs = make_transactions(2_000, customers=300, seed=17)
    topics = Topics(topic_name, 2).create(kafka)
    a, b = same_id(kafka, topics, tmp_path, STATIC_ENV)
    assert a.proc is not None
    try:
        a.wait_for("restored", timeout=90)
        produce(kafka, topics.input, keyed(txs[:1_000]))
        committed(kafka, topics, 1_000, [a])  # every row fed so far: A idles
        b.start()
        assert a.proc.wait(60) == 2, both_logs(a, b)
        assert b.alive(), both_logs(a, b)
        line = exit_line(a)
        assert "another process with the same instance id" in line, both_logs(a, b)
        assert "took its place" in line and "DETECTOR_INSTANCE_ID=x," in line, both_logs(a, b)
        produce(kafka, topics.input, keyed(txs[1_000:]))
        assert_exactly_the_offline_result(kafka, topics, txs, [b])
        assert b.terminate() == 0, b.logs()[-3000:]
    finally:
        woken_and_killed(a, b)


#: The harness's session (6 s) and the group describe's timeout: a process stopped this long
#: while it started asks its group before its producer starts (`Detector.
#: _leave_if_replaced_starting`); a second more, as its stop begins a little after its start.
STARTING_STOP_S = 6.0 + MEMBERS_TIMEOUT_S + 1.0


def test_a_detector_stopped_while_starting_leaves_the_id_to_its_replacement(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    # bench/chaos_soak.py seed 700: A stopped (SIGSTOP) in its imports, before its producer
    # or any watchdog exists; its supervisor starts B with its id meanwhile, and B takes
    # over. Woken past a session and the members' timeout of stop, A must find B in the
    # group and exit 2 ("leaves the id to it") before its init_transactions fences B's
    # producer; B runs on unrestarted, every row once. Before the fix A started as new and
    # fenced B, and both ran on (B's next transaction would have been refused).
    txs = make_transactions(1_200, customers=300, seed=19)
    topics = Topics(topic_name, 2).create(kafka)
    a, b = same_id(kafka, topics, tmp_path, {})
    assert a.proc is not None
    a.proc.send_signal(signal.SIGSTOP)  # at once: in the interpreter's start or its imports
    stopped_at = time.monotonic()
    try:
        b.start()
        with supervised(b, every=0.2) as restarts:
            b.wait_for("restored", timeout=90)  # B is in the group
            # Every row fed now: B scores them while A wakes (A undone would fence it).
            produce(kafka, topics.input, keyed(txs))
            while time.monotonic() < stopped_at + STARTING_STOP_S:  # no event: a stop's length
                assert b.alive(), b.logs()[-3000:]
                time.sleep(0.1)
            a.proc.send_signal(signal.SIGCONT)
            # Ended, or joined the group as new (its producer fenced B's): the fix undone.
            until("A ended or joined", lambda: not a.alive() or "consuming" in a.logs(), [b],
                  timeout=90)
            assert not a.alive(), f"A started as new, fencing B:\n{both_logs(a, b)}"
            assert a.proc.returncode == 2, both_logs(a, b)
            line = exit_line(a)
            assert "was stopped while it started" in line, both_logs(a, b)
            assert "leaves the id to it" in line, both_logs(a, b)
            assert_exactly_the_offline_result(kafka, topics, txs, [b])
            assert "fenced" not in b.logs(), both_logs(a, b)
        assert restarts == [], both_logs(a, b)
        assert b.terminate() == 0, b.logs()[-3000:]
    finally:
        woken_and_killed(a, b)
