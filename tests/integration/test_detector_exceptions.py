"""Exactly once under exceptions: faults injected at every step of a batch, with restarts."""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from shared.settings import KafkaSettings
from tests.integration.detector_harness import (
    FAULT_ENV,
    FAULT_GAPS,
    DetectorProcess,
    Topics,
    assert_exactly_the_offline_result,
    headers,
    make_transactions,
    produce_in_background,
    read_all,
    scored_rows,
    supervised,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_exceptions_at_every_step_with_restarts_keep_the_output_exactly_once(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    seed = 20261130
    rng = random.Random(seed)
    txs = make_transactions(30_000, customers=1_000, seed=17)
    topics = Topics(topic_name, 4).create(kafka)
    feeder = produce_in_background(kafka, topics.input, txs, rate=3_000)
    # Small batches: transactions commit often, so faults land between commits too.
    env = {**FAULT_ENV, "DETECTOR_BATCH_SIZE": "500"}
    detector = DetectorProcess(kafka, topics, "a", tmp_path, env, faults_seed=seed)
    detector.start()
    kills = 0
    try:
        with supervised(detector, every=0.2) as exits:
            for _ in range(3):  # and a few kill -9 at random moments on top
                time.sleep(rng.uniform(2.0, 6.0))
                if detector.alive():
                    detector.kill()
                    kills += 1
            feeder.join(60)
            assert_exactly_the_offline_result(kafka, topics, txs, [])
            dead = read_all(kafka, topics.dlq, topics.partitions, 0, timeout=5, settle=1.0)
    finally:
        code = detector.terminate()
    logs = detector.logs()
    assert code == 0, logs[-5000:]
    assert dead == [], [m.headers() for m in dead[:5]]  # no good record dead-lettered
    fired = Counter(re.findall(r"injected fault at (\w+)", logs))
    assert set(fired) == set(FAULT_GAPS), f"faults injected: {dict(fired)} (seed {seed})"
    assert "Traceback" not in logs or "InjectedFault" in logs
    circuit = [line for line in logs.splitlines()
               if re.search(r"POISON|in a row|injected fault", line)]
    assert 7 not in exits, ("a transient fault must never trip the poison-pill circuit:\n"
                            + "\n".join(circuit[-80:]))
    assert "aborting the open transaction" in logs
    print(f"faults injected {dict(fired)}, {kills} kills, exits {exits}")


def test_output_over_the_size_limit_is_dead_lettered_and_the_stream_goes_on(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    """A scored row over DETECTOR_MAX_OUTPUT_BYTES (here 3,000 bytes, so that a valid input can
    exceed it) is a dead letter with its reason, checked before producing: a message over the
    broker's limit would fail the transaction again after every rewind or restart."""
    from shared.codec import encode
    from tests.integration.detector_harness import keyed, produce

    topics = Topics(topic_name, 1).create(kafka)
    txs = make_transactions(300, seed=29)
    wide = txs[100].model_copy(update={"attributes": {f"k{i}": "v" * 200 for i in range(20)}})
    items = [*keyed(txs[:100]), (b"wide", encode(wide)), *keyed(txs[101:])]
    produce(kafka, topics.input, items)
    detector = DetectorProcess(kafka, topics, "a", tmp_path,
                               {"DETECTOR_MAX_OUTPUT_BYTES": "3000"}).start()
    try:
        scored = read_all(kafka, topics.scored, 1, 299, running=[detector])
        dead = read_all(kafka, topics.dlq, 1, 1, running=[detector])
    finally:
        assert detector.terminate() == 0, detector.logs()
    assert len(scored) == 299 and wide.transaction_id not in {
        (m.value() or b"").split(b'"transaction_id":"')[1].split(b'"')[0].decode()
        for m in scored}
    (m,) = dead
    h = headers(m)
    assert m.value() == encode(wide) and h["error.class"] == "OutputTooLarge"
    assert "over the limit of 3,000" in h["error.message"]


def test_a_bug_at_one_offset_stops_the_detector_with_exit_7_not_a_crash_loop(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    from tests.integration.detector_harness import keyed, produce

    txs = make_transactions(500, seed=37)
    topics = Topics(topic_name, 1).create(kafka)
    produce(kafka, topics.input, keyed(txs))
    detector = DetectorProcess(kafka, topics, "a", tmp_path, {"DETECTOR_BATCH_SIZE": "50"},
                               bug_at=("encode", 0, 321))
    detector.start()
    assert detector.proc is not None
    assert detector.proc.wait(120) == 7
    first = detector.logs()
    assert first.count("POISON PILL: partition 0 offset 321 failed the detector 3 times") == 1
    assert "ZeroDivisionError: a bug at encode of partition 0 offset 321" in first
    assert "error: partition 0 offset 321 failed 3 times in a row" in first  # one line
    # nothing at or after the bug was committed, nothing twice (the failing transactions
    # were aborted; rows committed before them, if any, form a gapless prefix)
    rows = scored_rows(read_all(kafka, topics.scored, 1, 321, timeout=10))
    assert [r.source_offset for r in rows] == list(range(len(rows))) and len(rows) <= 321
    # the count survives the process: a restart fails once more and stops again at once
    detector.start()
    assert detector.proc.wait(120) == 7
    assert "failed the detector 4 times in a row" in detector.logs()
