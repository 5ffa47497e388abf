"""`auditstream generate --publish` puts every generated row on the topic, keyed by customer."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditstream.cli import main as cli_main
from shared.codec import decode
from shared.csv_io import iter_csv
from shared.kafka import topic_partitions
from shared.schemas import Transaction
from shared.settings import KafkaSettings
from tests.integration.topic_reader import read_all

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

    got: dict[str, Transaction] = {}
    for msg in read_all(kafka, topic_name, topic_partitions(kafka, topic_name), len(written),
                        timeout=30):
        tx = decode(msg.value() or b"", Transaction)
        assert (msg.key() or b"").decode() == tx.customer_id
        assert tx.transaction_id not in got
        got[tx.transaction_id] = tx
    assert got == written and len(got) == 425
