"""`auditstream generate --publish` puts every generated row on the topic, keyed by customer."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.cli import main as cli_main
from shared.codec import decode
from shared.csv_io import iter_csv
from shared.kafka import make_consumer
from shared.schemas import Transaction
from shared.settings import KafkaSettings

pytestmark = pytest.mark.integration


def test_generate_publish_sends_exactly_the_rows_it_writes(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers)
    monkeypatch.setenv("AUDITSTREAM_TRANSACTIONS_TOPIC", topic_name)
    out = tmp_path / "gen.csv"
    args = ["generate", "--recipe", "reference", "--transactions", "400", "--customers", "30",
            "--out", str(out), "--publish"]
    assert cli_main(args) == 0
    written = {tx.transaction_id: tx for item in iter_csv(out) if isinstance(item, tuple)
               for tx in [item[1]]}

    consumer = make_consumer(kafka, group_id=f"{topic_name}-check")
    consumer.subscribe([topic_name])
    got: dict[str, Transaction] = {}
    idle = 0
    while len(got) < len(written) and idle < 10:
        batch = consumer.consume(num_messages=1000, timeout=1.0)
        idle = 0 if batch else idle + 1
        for msg in batch:
            assert msg.error() is None
            tx = decode(msg.value() or b"", Transaction)
            assert (msg.key() or b"").decode() == tx.customer_id
            assert tx.transaction_id not in got
            got[tx.transaction_id] = tx
    consumer.close()
    assert got == written and len(got) == 425
