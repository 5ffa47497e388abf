"""A zombie that wakes up, against a real broker: detector A paused (SIGSTOP, a frozen VM)
past its session and transaction timeouts while a supervisor started B with the same
instance id (so the same transactional id). Woken, A must exit 2 and leave the id to B,
not replace its producer and fence B; B goes on, and the scored topic holds every
transaction once, exactly as `score` rates it. Where the pause falls picks the branch: A
paused with a transaction open is fenced at its commit, paused between two loses its
partitions; both end with the same line. Found by bench/chaos_soak.py (seeds 502, 504);
`tests/unit/test_detector_zombie.py` covers each branch with fakes."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from shared.settings import KafkaSettings
from tests.integration.detector_harness import (
    DetectorProcess,
    Topics,
    make_transactions,
    read_all,
)
from tests.integration.test_detector_faults import (
    assert_exactly_the_offline_result,
    produce_in_background,
)

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


def test_a_zombie_woken_past_its_timeouts_leaves_the_id_to_the_newer_process(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    txs = make_transactions(12_000, customers=500, seed=13)
    topics = Topics(topic_name, 2).create(kafka)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    # Paced so that A is mid-stream (a transaction open) when paused and B has rows left.
    feeder = produce_in_background(kafka, topics.input, txs, rate=300)
    a = DetectorProcess(kafka, topics, "x", tmp_path / "a", ZOMBIE_ENV).start()
    b = DetectorProcess(kafka, topics, "x", tmp_path / "b", ZOMBIE_ENV)
    assert a.proc is not None
    try:
        a.wait_for("restored", timeout=90)
        committed(kafka, topics, 500, [a])
        a.proc.send_signal(signal.SIGSTOP)
        paused_at = time.monotonic()
        at_pause = committed(kafka, topics, 1, [])
        b.start().wait_for("restored", timeout=90)  # after A's session ran out
        committed(kafka, topics, at_pause + TAKEN_OVER, [b])
        while time.monotonic() < paused_at + LEAST_PAUSE_S:
            assert b.alive(), b.logs()
            time.sleep(0.2)
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
        for proc in (a, b):
            if proc.alive():
                assert proc.proc is not None
                proc.proc.send_signal(signal.SIGCONT)
                proc.kill()
