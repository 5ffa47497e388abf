"""The same file replayed twice (a common mistake): each transaction once in the exports.

The second copies reach the detector, which knows their `transaction_id`s from the first copy
and dead-letters them with the reason `duplicate transaction_id` and the first copy's offset;
the exports then equal `auditstream score` of the file, as if it had been replayed once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import KafkaSettings
from tests.integration.detector_harness import Topics, read_all
from tests.integration.pipeline_harness import (
    PIPELINE_CORE_ENV,
    ROLLUP_FILES,
    base_env,
    detector,
    diff_rows,
    export_and_score,
    freeze_sources,
    generate_csv,
    read_scored_csv,
    replay,
    rollups_equal,
)
from tests.integration.topic_reader import headers_of

pytestmark = pytest.mark.integration

PARTITIONS = 4


def test_a_file_replayed_twice_lands_once_and_the_second_copies_are_dead_lettered(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    topics = Topics(topic_name, PARTITIONS).create(kafka)
    env = base_env(kafka, topics, PIPELINE_CORE_ENV, freeze_sources(tmp_path / "src"))
    source = tmp_path / "payments.csv"
    n = generate_csv(source, env, seed=11, customers=60, days=20)
    assert 2_000 <= n <= 6_000, n

    det = detector("a", env, tmp_path).start()
    try:
        for _ in range(2):
            feed = replay(source, env, tmp_path).start()
            assert feed.wait(90) == 0, feed.logs()[-3000:]
        published = read_all(kafka, topics.scored, PARTITIONS, n, timeout=120, settle=2.0,
                             running=[det])
        dead = read_all(kafka, topics.dlq, PARTITIONS, n, timeout=120, settle=2.0,
                        running=[det])
    finally:
        code = det.terminate()
    assert code == 0, det.logs()[-3000:]
    assert len(published) == n, f"{len(published)} scored messages for {n} transactions"

    # Every second copy is a dead letter, once, naming the reason and the first offset.
    assert len(dead) == n, f"{len(dead)} dead letters for {n} second copies"
    dead_keys = set()
    for m in dead:
        h = headers_of(m)
        assert "duplicate transaction_id" in h["error.message"], h
        # The first copy sits earlier in the same input partition.
        assert int(h["duplicate.first_offset"]) < int(h["source.offset"]), h
        dead_keys.add((int(h["source.partition"]), int(h["source.offset"])))
    assert len(dead_keys) == n

    streamed_dir, offline_dir = export_and_score(source, env, PARTITIONS, tmp_path)
    streamed = read_scored_csv(streamed_dir)
    offline = read_scored_csv(offline_dir)
    diff = diff_rows(streamed, offline)
    assert diff.clean, diff
    assert len(streamed) == n
    assert rollups_equal(streamed_dir, offline_dir) == dict.fromkeys(ROLLUP_FILES, True)
