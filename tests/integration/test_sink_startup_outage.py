"""A sink started while its broker is down waits for it (`SINK_STARTUP_WAIT_S`), then exports.

As `test_detector_startup_outage.py` for the detector: its own local KRaft broker on free
ports (run once to format its storage, then stopped), the sink started against it with
`KAFKA_STARTUP_WAIT_S` at 2 s (the commands' wait, which bounded the sink's and ended it with
exit 4 after a broker restart in the fault suite), the broker started `DOWN_S` later.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path

import pytest

from auditstream.broker import LocalBroker
from detector.core.config import CoreConfig
from detector.offline import score_transactions
from shared.codec import encode
from shared.kafka import make_producer
from shared.settings import KafkaSettings
from tests.integration.service_run import DOWN_S, ROOT, running, wait_for
from tests.scored_days import read_scored
from tests.unit.detector_fakes import tx

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_sink_started_while_its_broker_is_down_waits_for_it_then_exports(
    tmp_path: Path, own_broker: LocalBroker,
) -> None:
    broker = own_broker  # its storage formatted: the restart below keeps the data
    name = f"sinkstart-{uuid.uuid4().hex[:8]}"
    exports = tmp_path / "exports"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
           "KAFKA_STARTUP_WAIT_S": "2", "SINK_STARTUP_WAIT_S": "150",
           "SINK_GROUP_ID": name, "AUDITSTREAM_SCORED_TOPIC": f"{name}.scored",
           "AUDITSTREAM_REVIEWS_TOPIC": f"{name}.reviews", "AUDITSTREAM_PARTITIONS": "2"}
    log = tmp_path / "sink.log"
    broker.stop()
    with running(["sink", "--exports", str(exports)], env, log) as proc:
        wait_for(proc, log, "waiting for Kafka at", 30)
        time.sleep(DOWN_S)
        assert proc.poll() is None, log.read_text()  # past KAFKA_STARTUP_WAIT_S: waiting
        first = log.read_text(errors="replace")
        left = re.search(r"still trying for (\d+) s \(SINK_STARTUP_WAIT_S\)", first)
        assert left is not None and int(left.group(1)) >= 140, first
        broker.start()
        wait_for(proc, log, "assigned", 150)
        rows = score_transactions([tx(i, f"c{i % 4}") for i in range(40)], CoreConfig(), 2)
        producer = make_producer(KafkaSettings(bootstrap_servers=broker.bootstrap))
        for row in rows:
            producer.produce(f"{name}.scored", key=row.customer_id.encode(), value=encode(row))
        assert producer.flush(30) == 0
        deadline = time.monotonic() + 120
        while not (exports / "scored").is_dir() or len(_ids(exports)) < len(rows):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-5000:]
            time.sleep(0.5)
        assert sorted(_ids(exports)) == sorted(r.transaction_id for r in rows)  # each once


def _ids(exports: Path) -> list[str]:
    try:
        return list(read_scored(exports)["transaction_id"])
    except (AssertionError, FileNotFoundError, ValueError):
        return []
