"""A real sink SIGKILLed while it replaces a file leaves that file's hidden temporary in the
exports folder; the next sink start removes it, never a temporary file another writer (one
that does not take the folder's lock) is writing there at that moment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from shared.kafka import TopicSpec, ensure_topics
from shared.settings import KafkaSettings
from sink.settings import ExportSettings
from tests.integration.test_sink_kafka import _produce
from tests.scored_days import read_scored
from tests.unit.test_atomic_temporaries import finish, writer_process
from tests.unit.test_rollup_pandas import assert_rollups_match_pandas, random_scored

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _hidden(folder: Path) -> list[Path]:
    return sorted(folder.rglob(".*.tmp"))


def _kill_mid_write(proc: subprocess.Popen[bytes], folder: Path, within: float) -> Path:
    """SIGKILL `proc` while one of its temporary files exists; return that file. Each time
    one is seen, the sink is frozen (SIGSTOP) and looked at again: if it is still there,
    the kill lands mid-write for certain, else the sink goes on and the watch with it."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and proc.poll() is None:
        if _hidden(folder):
            proc.send_signal(signal.SIGSTOP)
            caught = _hidden(folder)
            if caught:
                proc.send_signal(signal.SIGKILL)
                assert proc.wait(10) == -signal.SIGKILL
                return caught[0]
            proc.send_signal(signal.SIGCONT)
        time.sleep(0.0005)
    raise AssertionError(f"no temporary file of the sink seen in {within} s "
                         f"(exit {proc.poll()})")


def test_a_sink_killed_mid_write_leaves_a_temporary_the_next_start_removes(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    n = 5_000
    ensure_topics(kafka, [TopicSpec(topic_name, partitions=3)])
    rows = random_scored(n, seed=71)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
           "AUDITSTREAM_SCORED_TOPIC": topic_name, "AUDITSTREAM_PARTITIONS": "3",
           "AUDITSTREAM_REVIEWS_TOPIC": f"{topic_name}.reviews",
           "SINK_EXPORTS_DIR": str(tmp_path), "SINK_GROUP_ID": f"{topic_name}-sink",
           "SINK_BATCH_SIZE": "500", "SINK_CHECKPOINT_INTERVAL_S": "0.05",
           "SINK_ROLLUP_INTERVAL_S": "0"}  # rollups after every batch: many replacements
    feeder = threading.Thread(target=_produce, args=(kafka, topic_name, rows),
                              kwargs={"per_txn": 500, "pause": 0.02})
    feeder.start()
    sink = subprocess.Popen([sys.executable, "-m", "sink"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        leftover = _kill_mid_write(sink, tmp_path, within=60)
    finally:
        if sink.poll() is None:
            sink.kill()
            sink.wait(10)
        feeder.join()
    assert _hidden(tmp_path) == [leftover]

    # As the sink restarts, a writer without the folder's lock is busy there: `review
    # import exports/cases.csv` writing exports/cases.rejects.csv.
    with writer_process(tmp_path / "cases.rejects.csv") as (review, review_tmp):
        done = subprocess.run([sys.executable, "-m", "sink", "--once"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        assert not leftover.exists()
        assert _hidden(tmp_path) == [review_tmp]  # the live writer's file is kept
        assert finish(review) == "done"
    assert f"removed 1 temporary file(s) a killed writer left in {tmp_path}: " \
           f"{leftover.relative_to(tmp_path)}" in done.stderr
    assert _hidden(tmp_path) == []
    assert (tmp_path / "cases.rejects.csv").read_bytes() == b"first half,second half\n"

    df = read_scored(tmp_path)  # and the kill cost no row, nor doubled one
    ids = df["transaction_id"].astype(int)
    assert len(df) == n and ids.is_unique and set(ids) == set(range(n))
    assert_rollups_match_pandas(tmp_path, ExportSettings())
