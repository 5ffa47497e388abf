"""`auditstream replay` against a real broker: exact counts, keys, order, rejects, exit codes."""

from __future__ import annotations

import csv
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from auditstream.cli import main as cli_main
from producer.app import Record, publish, to_record
from producer.reference_recipe import ReferenceConfig, generate_reference
from producer.replay import EXIT_REJECTS, EXIT_UNDELIVERED, run_replay
from producer.settings import ProducerSettings
from shared.codec import decode
from shared.csv_io import write_transactions_csv
from shared.kafka import TopicSpec, ensure_topics, topic_partitions
from shared.partitioning import partition_for
from shared.schemas import CSV_FIELDS, Transaction
from shared.settings import KafkaSettings, TopicSettings
from tests.integration.topic_reader import read_all

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _settings(kafka: KafkaSettings, topic: str) -> ProducerSettings:
    return ProducerSettings(
        kafka=kafka, topics=TopicSettings(transactions_topic=topic, partitions=4),
        flush_timeout_s=20,
    )


def _consume(kafka: KafkaSettings, topic: str, expected: int) -> list[tuple[int, str, Transaction]]:
    """(partition, key, transaction) for every message, in partition order, and any surplus."""
    out: list[tuple[int, str, Transaction]] = []
    for msg in read_all(kafka, topic, topic_partitions(kafka, topic), expected, timeout=30):
        value, key, partition = msg.value(), msg.key(), msg.partition()
        assert value is not None and key is not None and partition is not None
        out.append((partition, key.decode(), decode(value, Transaction)))
    return out


def _historic_file(
    tmp_path: Path, rows: int, shuffle: bool = True, seed: int = 11, name: str = "history.csv",
    id_prefix: str = "",
) -> tuple[Path, list[Transaction]]:
    txs = generate_reference(ReferenceConfig(transactions=rows, seed=seed, burst_customers=0))
    if id_prefix:  # files of one replay must not share transaction ids (duplicates are rejects)
        txs = [t.model_copy(update={"transaction_id": id_prefix + t.transaction_id})
               for t in txs]
    rows_out = list(txs)
    if shuffle:
        random.Random(5).shuffle(rows_out)  # replay must restore the time order itself
    path = tmp_path / name
    write_transactions_csv(rows_out, path)
    return path, txs


def test_replay_delivers_every_row_once_keyed_by_customer_in_time_order(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    path, txs = _historic_file(tmp_path, 3_000)
    summary = run_replay([path], _settings(kafka, topic_name))
    assert summary.exit_code == 0 and summary.report is not None
    assert (summary.report.delivered, summary.report.undelivered, summary.rejected) == (3_000, 0, 0)

    got = _consume(kafka, topic_name, len(txs))
    assert len(got) == len(txs)
    assert sorted(int(t.transaction_id) for _, _, t in got) == sorted(
        int(t.transaction_id) for t in txs)
    assert all(key == tx.customer_id for _, key, tx in got)
    assert all(p == partition_for(tx.customer_id, 4) for p, _, tx in got)
    for part in range(topic_partitions(kafka, topic_name)):
        times = [tx.timestamp for p, _, tx in got if p == part]
        assert times == sorted(times)
    # The labels of the historic layout travel unchanged.
    sent = {t.transaction_id: t for t in txs}
    assert all(tx == sent[tx.transaction_id] for _, _, tx in got)


def test_time_ordered_files_are_streamed_and_merged_in_stable_order(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    first, a = _historic_file(tmp_path, 1_500, shuffle=False, seed=1, name="jan.csv")
    second, b = _historic_file(tmp_path, 1_500, shuffle=False, seed=2, name="feb.csv",
                               id_prefix="feb-")
    summary = run_replay([first, second], _settings(kafka, topic_name))
    assert summary.exit_code == 0 and summary.report is not None
    assert summary.report.delivered == 3_000

    got = _consume(kafka, topic_name, 3_000)
    assert len(got) == 3_000
    # The (file, id) pairs identify rows.
    expected = sorted(
        [(t.timestamp, 0, t.customer_id, t.transaction_id) for t in a]
        + [(t.timestamp, 1, t.customer_id, t.transaction_id) for t in b]
    )
    for part in range(4):
        sent = [(c, i) for _, _, c, i in expected if partition_for(c, 4) == part]
        assert [(tx.customer_id, tx.transaction_id) for p, _, tx in got if p == part] == sent


def _with_bad_rows(tmp_path: Path, shuffle: bool) -> Path:
    path, _ = _historic_file(tmp_path, 1_000, shuffle=shuffle)
    lines = path.read_text(encoding="utf-8").splitlines()
    parts = lines[10].split(",")
    parts[3] = "12.5x"                                                    # bad number
    lines[10] = ",".join(parts)
    parts = lines[500].split(",")
    parts[2] = "2025-02-30 10:00:00"                                      # bad timestamp
    lines[500] = ",".join(parts)
    lines[900] = ",".join(lines[900].split(",")[:5])                      # missing fields
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_three_malformed_rows_of_a_thousand_are_rejected_997_delivered_exit_says_so(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _with_bad_rows(tmp_path, shuffle=False)  # in order: the streaming path
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers)
    monkeypatch.setenv("AUDITSTREAM_TRANSACTIONS_TOPIC", topic_name)

    assert cli_main(["replay", str(path)]) == EXIT_REJECTS

    err = capsys.readouterr().err
    assert "sent 997 of 997" in err and "rejected 3 row(s)" in err
    with (tmp_path / "history.rejects.csv").open(encoding="utf-8", newline="") as fh:
        rejects = list(csv.DictReader(fh))
    assert [r["line"] for r in rejects] == ["11", "501", "901"]
    assert "amount" in rejects[0]["reason"] and "timestamp" in rejects[1]["reason"]
    assert "expected 11 columns" in rejects[2]["reason"]
    assert list(rejects[0])[:3] == ["line", "reason", CSV_FIELDS[0]]
    assert len(_consume(kafka, topic_name, 997)) == 997


def test_strict_replay_with_a_bad_row_sends_nothing(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _with_bad_rows(tmp_path, shuffle=False)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers)
    monkeypatch.setenv("AUDITSTREAM_TRANSACTIONS_TOPIC", topic_name)

    assert cli_main(["replay", "--strict", str(path)]) == 2
    assert "--strict: 3 bad row(s), nothing sent" in capsys.readouterr().err
    assert topic_partitions(kafka, topic_name) == 0  # not even created


def test_wrong_header_fails_before_anything_is_sent(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good, _ = _historic_file(tmp_path, 10)
    bad = tmp_path / "other.csv"
    bad.write_text("id,when,how_much\n1,2025-01-01,3\n", encoding="utf-8")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers)
    monkeypatch.setenv("AUDITSTREAM_TRANSACTIONS_TOPIC", topic_name)

    assert cli_main(["replay", str(good), str(bad)]) == 2
    assert "missing required column" in capsys.readouterr().err
    assert topic_partitions(kafka, topic_name) == 0


def test_messages_the_broker_refuses_are_counted_and_give_a_nonzero_exit(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    # A topic whose size limit is below one message: the broker rejects every batch.
    ensure_topics(kafka, [TopicSpec(topic_name, 1, config={"max.message.bytes": "64"})])
    path, _ = _historic_file(tmp_path, 20)
    summary = run_replay([path], _settings(kafka, topic_name))
    assert summary.report is not None
    assert summary.report.undelivered == 20 and summary.report.delivered == 0
    assert summary.exit_code == EXIT_UNDELIVERED
    assert any("UNDELIVERED 20" in line for line in summary.lines())


def test_interrupt_flushes_what_was_sent_and_reports_how_far_it_got(
    kafka: KafkaSettings, topic_name: str
) -> None:
    txs = generate_reference(ReferenceConfig(transactions=500, burst_customers=0))

    def interrupted_after(n: int) -> Iterator[Record]:
        for i, tx in enumerate(txs):
            if i == n:
                raise KeyboardInterrupt
            yield to_record(tx)

    report = publish(interrupted_after(300), _settings(kafka, topic_name), total=len(txs))
    assert report.interrupted and (report.sent, report.delivered, report.undelivered) == (
        300, 300, 0)
    assert len(_consume(kafka, topic_name, 300)) == 300


@pytest.mark.parametrize("entry", ["auditstream replay", "python -m producer"])
def test_sigterm_flushes_what_was_sent_and_reports_how_far_it_got_like_ctrl_c(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path, entry: str
) -> None:
    """SIGTERM (a `timeout`, systemd, `docker compose stop`) killed a replay where it stood:
    exit 143, no summary (a hostile probe). Now as Ctrl-C: flushed, summary, exit 130."""
    path, txs = _historic_file(tmp_path, 3_000)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
           "AUDITSTREAM_TRANSACTIONS_TOPIC": topic_name, "AUDITSTREAM_PARTITIONS": "4"}
    if entry == "python -m producer":
        args = ["producer"]
        env |= {"PRODUCER_MODE": "replay", "PRODUCER_FILES": json.dumps([str(path)]),
                "PRODUCER_RATE": "500"}
    else:
        args = ["auditstream", "replay", str(path), "--rate", "500"]
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not topic_partitions(kafka, topic_name):  # created just before the first send
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(1.5)  # about 750 sent at 500/s, about 5 s to go
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    found = re.search(r"interrupted: ([\d,]+) handed to Kafka, ([\d,]+) not sent", err)
    assert found is not None, err
    handed, unsent = (int(g.replace(",", "")) for g in found.groups())
    assert 0 < handed < len(txs) and handed + unsent == len(txs)
    assert f"sent {handed:,} of {len(txs):,} row(s)" in err  # every one handed over delivered
    assert len(_consume(kafka, topic_name, handed)) == handed


def test_rate_pacing_spreads_messages_over_time(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    path, _ = _historic_file(tmp_path, 30)
    started = datetime.now()
    summary = run_replay([path], _settings(kafka, topic_name), rate=30.0)
    elapsed = (datetime.now() - started).total_seconds()
    assert elapsed >= 29 / 30 * 0.95  # 30 messages at 30/s: the last is due after 29/30 s
    assert summary.exit_code == 0 and summary.report is not None
    assert summary.report.delivered == 30
