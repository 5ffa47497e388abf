"""The review workflow probed as a careless auditor team would use it, on a real broker
(probe of 2026-12-06): the reviews topic deleted and created again under the sink."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from shared.kafka import TopicSpec, ensure_topics
from shared.settings import KafkaSettings
from sink.app import run
from sink.state import STATE_FILE
from sink.writer import REVIEWS_LOG_FILE
from tests.integration.test_sink_kafka import _produce, _settings, running_sink
from tests.integration.test_sink_reviews_kafka import _publish, _read, _wait
from tests.reviews_topic import recreate as recreate_reviews_topic
from tests.unit.test_rollup_pandas import random_scored

pytestmark = pytest.mark.integration


def test_a_reviews_topic_deleted_and_created_again_is_read_from_its_start(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    """The checkpoint kept the old reviews topic's next offset (3): on the new topic the
    sink went on from offset 3, the new topic's first three reviews never logged nor
    counted (or, with fewer than 3, a crash at every start). Now the new topic is read from
    its start, and the outcomes the old one gave stay as logged."""
    ensure_topics(kafka, [TopicSpec(topic_name, partitions=3)])
    settings = _settings(kafka, topic_name, tmp_path)
    reviews_topic = settings.topics.reviews_topic
    _produce(kafka, topic_name, random_scored(2_000, seed=71), per_txn=1_000)
    run(settings, once=True)
    cases = _read(tmp_path, "cases.csv")
    assert cases is not None and len(cases) >= 4
    c = list(cases["case_id"][:4])
    before = [("case", c[0], "confirmed"), ("case", c[1], "dismissed"),
              ("case", c[2], "unclear")]
    _publish(kafka, reviews_topic, before)
    run(settings, once=True)
    old_id = json.loads((tmp_path / STATE_FILE).read_text())["extra"].get("reviews_topic_id")

    recreate_reviews_topic(kafka, reviews_topic)
    after = [("case", c[0], "dismissed"), ("case", c[3], "confirmed"),
             ("case", "case-never-listed", "confirmed"), ("case", c[1], "confirmed"),
             ("case", c[3], "dismissed")]
    _publish(kafka, reviews_topic, after)
    run(settings, once=True)
    run(settings, once=True)  # nothing new: nothing logged twice

    log = _read(tmp_path, REVIEWS_LOG_FILE)
    assert log is not None
    assert list(zip(log["target"], log["id"], log["outcome"], strict=True)) == before + after
    assert list(log["offset"]) == ["0", "1", "2", "0", "1", "2", "3", "4"]
    now = _read(tmp_path, "cases.csv")
    assert now is not None
    outcomes = dict(zip(now["case_id"], now["outcome"], strict=True))
    # the old topic's c2 stays as logged; every other case has the new topic's last outcome
    assert [outcomes[x] for x in c] == ["dismissed", "confirmed", "unclear", "dismissed"]
    extra = json.loads((tmp_path / STATE_FILE).read_text())["extra"]
    assert extra["reviews_topic_id"] not in (None, old_id)


def test_a_reviews_topic_created_again_while_the_sink_runs_is_read_from_its_start(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    """While the sink ran, its consumer went on at the old topic's next offset (3) in the new
    topic: reviews 0-2 of the new topic never logged, without a word (and a restart could
    not tell). The topic's id is asked before each batch of reviews is taken now."""
    ensure_topics(kafka, [TopicSpec(topic_name, partitions=3)])
    settings = _settings(kafka, topic_name, tmp_path).model_copy(
        update={"rollup_interval_s": 0.5})
    reviews_topic = settings.topics.reviews_topic
    _produce(kafka, topic_name, random_scored(500, seed=73), per_txn=500)
    with running_sink(settings):
        before = [("case", f"old-{i}", "confirmed") for i in range(3)]
        _publish(kafka, reviews_topic, before)
        _wait(tmp_path, lambda: _lines(tmp_path) == 3)
        recreate_reviews_topic(kafka, reviews_topic)
        after = [("case", f"new-{i}", "dismissed") for i in range(5)]
        _publish(kafka, reviews_topic, after)
        _wait(tmp_path, lambda: _lines(tmp_path) >= 7)
        time.sleep(2)  # a line logged twice would come now
    run(settings, once=True)  # a restart neither loses nor repeats one
    log = _read(tmp_path, REVIEWS_LOG_FILE)
    assert log is not None
    assert list(zip(log["target"], log["id"], log["outcome"], strict=True)) == before + after
    assert list(log["offset"]) == ["0", "1", "2", "0", "1", "2", "3", "4"]


def _lines(folder: Path) -> int:
    log = _read(folder, REVIEWS_LOG_FILE)
    return 0 if log is None else len(log)


def test_a_new_export_imported_back_publishes_only_what_was_changed(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sink's own cases.csv, filled in and imported, then the next cases.csv (every
    outcome the sink shows in it, one changed) imported back: only the change is published,
    stamped by the importer. Before, every outcome was published again under its earlier
    reviewer and time, the change as the earlier reviewer's at the earlier second."""
    import csv

    from auditstream.cli import main

    ensure_topics(kafka, [TopicSpec(topic_name, partitions=3)])
    settings = _settings(kafka, topic_name, tmp_path / "exports")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers)
    monkeypatch.setenv("AUDITSTREAM_REVIEWS_TOPIC", settings.topics.reviews_topic)
    _produce(kafka, topic_name, random_scored(2_000, seed=75), per_txn=1_000)
    run(settings, once=True)
    exports = settings.exports_dir

    def fill(name: str, outcomes: dict[str, str]) -> Path:
        with (exports / "cases.csv").open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert rows
        out = tmp_path / name
        with out.open("w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            for row in rows:
                w.writerow(row | ({"outcome": outcomes[row["case_id"]]}
                                  if row["case_id"] in outcomes else {}))
        return out

    cases = _read(exports, "cases.csv")
    assert cases is not None and len(cases) >= 3
    c = list(cases["case_id"][:3])
    first = fill("first.csv", {c[0]: "confirmed", c[1]: "dismissed", c[2]: "unclear"})
    assert main(["review", "import", str(first), "--exports", str(exports),
                 "--reviewer", "alice"]) == 0
    run(settings, once=True)
    second = fill("second.csv", {c[1]: "confirmed"})  # the next export, one outcome changed
    assert main(["review", "import", str(second), "--exports", str(exports),
                 "--reviewer", "bob"]) == 0
    run(settings, once=True)
    log = _read(exports, REVIEWS_LOG_FILE)
    assert log is not None
    assert list(zip(log["id"], log["outcome"], log["reviewer"], strict=True)) == [
        (c[0], "confirmed", "alice"), (c[1], "dismissed", "alice"), (c[2], "unclear", "alice"),
        (c[1], "confirmed", "bob")]
    assert log["reviewed_at"][3] >= log["reviewed_at"][1]


def test_imports_at_once_are_all_logged_and_each_case_counts_once_by_its_last_outcome(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path,
) -> None:
    """One file imported twice at once, then two reviewers' files with other outcomes for
    two cases at once, all while the sink is stopped (probe of 2026-12-06): the exports
    cannot tell the imports what the other published, so every row is published and
    logged; each case counts once, by the last outcome on the topic, which cases.csv shows."""
    import csv
    import os
    import subprocess
    import sys

    ensure_topics(kafka, [TopicSpec(topic_name, partitions=3)])
    settings = _settings(kafka, topic_name, tmp_path / "exports")
    _produce(kafka, topic_name, random_scored(2_000, seed=77), per_txn=1_000)
    run(settings, once=True)
    exports = settings.exports_dir
    cases = _read(exports, "cases.csv")
    assert cases is not None and len(cases) >= 6
    c = list(cases["case_id"][:6])

    def write(name: str, ids: list[str], outcome: str) -> Path:
        path = tmp_path / name
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["case_id", "outcome"])
            w.writerows([i, outcome] for i in ids)
        return path

    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
           "AUDITSTREAM_REVIEWS_TOPIC": settings.topics.reviews_topic,
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

    def at_once(*jobs: tuple[Path, str]) -> None:
        procs = [subprocess.Popen(
            [sys.executable, "-m", "auditstream", "review", "import", str(f), "--exports",
             str(exports), "--reviewer", who], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True) for f, who in jobs]
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            assert out.startswith("review import: 4 case outcome(s) published"), out

    a, b = write("a.csv", c[:4], "confirmed"), write("b.csv", c[2:], "dismissed")
    at_once((a, "alice"), (a, "alice"))
    at_once((a, "alice"), (b, "bob"))
    run(settings, once=True)

    log = _read(exports, REVIEWS_LOG_FILE)
    assert log is not None and len(log) == 16
    assert sorted(zip(log["id"][:8], log["outcome"][:8], strict=True)) == sorted(
        [(i, "confirmed") for i in c[:4]] * 2)
    last = dict(zip(log["id"], log["outcome"], strict=True))  # the topic's order
    assert set(last) == set(c)
    now = _read(exports, "cases.csv")
    assert now is not None
    assert {i: o for i, o in zip(now["case_id"], now["outcome"], strict=True) if i in c} == last
    summary = json.loads((exports / "run.json").read_text())["assurance"]
    assert (summary["reviews_read"], summary["reviewed_cases"]) == (16, 6)
