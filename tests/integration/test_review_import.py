"""`auditstream review import` against the real broker: what lands on the reviews topic."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._resource import ResourceType

from shared.kafka import TopicSpec, ensure_topics, make_admin, topic_partitions
from shared.settings import KafkaSettings
from tests.integration.topic_reader import read_all

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _import(kafka: KafkaSettings, topic: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(Path.home()),
           "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
           "AUDITSTREAM_REVIEWS_TOPIC": topic}
    return subprocess.run([sys.executable, "-m", "auditstream", "review", "import", *args],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_import_publishes_valid_rows_in_order_keyed_and_reports_the_rest(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path,
) -> None:
    exports = tmp_path / "ex"
    exports.mkdir()
    _write(exports / "cases.csv", ["rank", "case_id"], [["1", "case-a"], ["2", "case-b"],
                                                          ["3", "case-c"]])
    header = ["rank", "case_id", "outcome", "reviewer", "reviewed_at", "note"]
    first = _write(tmp_path / "cases.csv", header, [
        ["1", "case-a", "confirmed", "ana", "2025-03-01T10:00:00Z", "stolen card"],
        ["2", "case-b", "", "", "", ""],
        ["3", "case-zz", "dismissed", "", "", ""],
        ["4", "case-c", "Unclear", "bo", "2025-03-01T11:00:00+01:00", ""],
    ])
    done = _import(kafka, topic_name, str(first), "--exports", str(exports))
    assert done.returncode == 1, done.stderr
    assert f"{first}: line 4: case_id: 'case-zz' is not a known case" in done.stderr
    assert done.stdout.strip() == (
        f"review import: 2 case outcome(s) published to {topic_name} (1 confirmed, "
        "1 unclear); 1 row(s) without an outcome skipped; 1 rejected")
    assert topic_partitions(kafka, topic_name) == 1
    msgs = read_all(kafka, topic_name, 1, expected=2)
    assert [(m.key(), json.loads(m.value() or b"")) for m in msgs] == [
        (b"case:case-a", {"schema_version": 1, "target": "case", "id": "case-a",
                          "outcome": "confirmed", "reviewer": "ana",
                          "reviewed_at": "2025-03-01T10:00:00Z", "note": "stolen card"}),
        (b"case:case-c", {"schema_version": 1, "target": "case", "id": "case-c",
                          "outcome": "unclear", "reviewer": "bo",
                          "reviewed_at": "2025-03-01T10:00:00Z", "note": ""}),
    ]
    # A second file changes one outcome: the topic keeps the change, the last one wins.
    again = _write(tmp_path / "again.csv", header, [["1", "case-a", "dismissed", "cy", "", ""]])
    assert _import(kafka, topic_name, str(again), "--exports", str(exports)).returncode == 0
    msgs = read_all(kafka, topic_name, 1, expected=3)
    last = {m.key(): json.loads(m.value() or b"")["outcome"] for m in msgs}
    assert last == {b"case:case-a": "dismissed", b"case:case-c": "unclear"}


def test_the_topic_is_created_compacted(kafka: KafkaSettings, topic_name: str,
                                        tmp_path: Path) -> None:
    f = _write(tmp_path / "s.csv", ["transaction_id", "outcome"], [["T1", "dismissed"]])
    done = _import(kafka, topic_name, str(f), "--no-check")
    assert done.returncode == 0 and "not compact" not in done.stderr, done.stderr
    resource = ConfigResource(ResourceType.TOPIC, topic_name)
    admin = make_admin(kafka)  # kept alive until the answer arrives
    configs = admin.describe_configs([resource])[resource].result(timeout=30)
    assert configs["cleanup.policy"].value == "compact"
    assert configs["min.compaction.lag.ms"].value == str(7 * 24 * 3600 * 1000)
    [msg] = read_all(kafka, topic_name, 1, expected=1)
    assert msg.key() == b"transaction:T1"



def test_a_topic_made_without_compaction_is_named_in_a_warning(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path,
) -> None:
    ensure_topics(kafka, [TopicSpec(topic_name, 1)])  # someone else's default topic
    f = _write(tmp_path / "s.csv", ["transaction_id", "outcome"], [["T1", "dismissed"]])
    done = _import(kafka, topic_name, str(f), "--no-check")
    assert done.returncode == 0, done.stderr
    assert f"topic {topic_name} has cleanup.policy=delete, not compact" in done.stderr
