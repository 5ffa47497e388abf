"""The sink's group refused (its Read): found from what the sink already sees, never asked.

The group only serves lag monitoring (the checkpoint holds the sink's progress): refused,
one WARNING naming the right, no commits from then on, every row exported. The sink's
start-up asks the cluster its topics' rights only: DescribeConsumerGroups while a broker's
connection drops can abort the whole process (librdkafka #4605), and a sink (re)started
while the broker restarts is a tested fault. The refusal comes as the consumer's
`GROUP_AUTHORIZATION_FAILED` (the coordinator's lookup) or as an async commit's result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, TopicPartition
from confluent_kafka.admin._acl import AclOperation

import shared.kafka
import sink.app as sink_app
from sink.settings import SinkSettings
from tests.unit.test_sink_loop_reviews_renewed import (
    REVIEWS,
    ROWS,
    SCORED,
    FakeConsumer,
    FakeMessage,
)

GROUP = SinkSettings().group_id
REFUSED = KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED, "Broker: Group authorization failed")
OnCommit = Callable[[KafkaError | None, list[TopicPartition]], None]


class FakeAdmin:
    """Grants `ops` (Read, Write and Describe unless told) on every topic and group; records
    what it is asked to describe ("topics", "groups")."""

    def __init__(self, ops: tuple[AclOperation, ...] = (
            AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE)) -> None:
        self.asked: list[str] = []
        self.ops = list(ops)

    def _granted(self, names: list[str]) -> dict[str, Future[Any]]:
        out: dict[str, Future[Any]] = {}
        for name in names:
            out[name] = Future()
            out[name].set_result(SimpleNamespace(authorized_operations=self.ops))
        return out

    def describe_topics(self, topics: Any, **kwargs: Any) -> dict[str, Future[Any]]:
        self.asked.append("topics")
        return self._granted(list(topics.topic_names))

    def describe_consumer_groups(self, groups: list[str], **kwargs: Any
                                 ) -> dict[str, Future[Any]]:
        self.asked.append("groups")
        return self._granted(groups)


class RefusingConsumer(FakeConsumer):
    """`FakeConsumer` whose group is refused: the coordinator's lookup fails in the batches
    `lookups` names (1 = the first), and each commit's result, given to `on_commit` at the
    next `consume` (as librdkafka serves it), is `GROUP_AUTHORIZATION_FAILED` when `commits`
    says so. Records each commit and when the sink warned."""

    def __init__(self, on_commit: OnCommit | None, lookups: set[int], commits: bool) -> None:
        super().__init__({SCORED: {0: ROWS[:25], 1: ROWS[25:]}, REVIEWS: {0: []}})
        self.on_commit, self.lookups, self.refuse_commits = on_commit, lookups, commits
        self.calls, self.commits = 0, 0
        self.results: list[list[TopicPartition]] = []

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[FakeMessage]:
        self.calls += 1
        results, self.results = self.results, []
        for tps in results:
            if self.on_commit is not None:
                self.on_commit(REFUSED if self.refuse_commits else None, tps)
        out = super().consume(num_messages, timeout)
        if self.calls in self.lookups:  # a consumer error: no topic, no partition
            out.append(FakeMessage(None, None, None, None, REFUSED))  # type: ignore[arg-type]
        return out

    def commit(self, offsets: Any = None, asynchronous: bool = True) -> None:
        self.commits += 1
        self.results.append(list(offsets or []))


def _run(monkeypatch: pytest.MonkeyPatch, folder: Path, make: Callable[[dict[str, Any]],
         FakeConsumer], admin: FakeAdmin | None = None) -> sink_app.SinkResult:
    """`run(once=True)`, the cluster's rights asked of `admin` (every one granted), each
    consumer made by `make(its config overrides)`; 10 rows a batch, a checkpoint each."""
    fake = admin or FakeAdmin()
    monkeypatch.setattr(shared.kafka, "make_admin", lambda *a, **k: fake)
    monkeypatch.setattr(sink_app, "wait_for_broker", lambda *a, **k: 1)
    monkeypatch.setattr(sink_app, "ensure_topics", lambda *a, **k: None)
    monkeypatch.setattr(sink_app, "topic_id", lambda *a, **k: "id")
    monkeypatch.setattr(sink_app, "make_watched_consumer", lambda *a, **k: make(k))
    return sink_app.run(SinkSettings(exports_dir=folder, batch_size=10, checkpoint_rows=10),
                        once=True)


def _group_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if f"Read on group {GROUP}" in r.getMessage()]


def test_the_sink_s_start_up_asks_its_topics_rights_and_not_its_group_s(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    admin = FakeAdmin()
    result = _run(monkeypatch, tmp_path, lambda k: FakeConsumer(
        {SCORED: {0: ROWS[:25], 1: ROWS[25:]}, REVIEWS: {0: []}}), admin)
    assert result.rows == len(ROWS)
    assert admin.asked == ["topics"]


@pytest.mark.parametrize(("lookups", "commits_refused"), [
    ({1}, False),  # the coordinator's lookup, before the first commit
    ({2, 3, 4}, False),  # after a commit (never answered), again and again
    (set(), True),  # only the commit's result says it
    ({3}, True),  # both: the commit's result first
])
def test_a_group_refused_warns_once_and_commits_no_more_and_exports_every_row(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        lookups: set[int], commits_refused: bool) -> None:
    made: list[RefusingConsumer] = []
    commits_at_warning: list[int] = []

    def make(overrides: dict[str, Any]) -> RefusingConsumer:
        consumer = RefusingConsumer(overrides.get("on_commit"), lookups, commits_refused)
        made.append(consumer)
        return consumer

    class AtWarning(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if f"Read on group {GROUP}" in record.getMessage():
                commits_at_warning.append(made[-1].commits)

    handler = AtWarning()
    logging.getLogger("sink.app").addHandler(handler)
    try:
        with caplog.at_level(logging.INFO):
            result = _run(monkeypatch, tmp_path, make)
    finally:
        logging.getLogger("sink.app").removeHandler(handler)
    assert result.rows == len(ROWS) and result.offsets == {0: 25, 1: 15}
    warned = _group_warnings(caplog)
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING, caplog.text
    assert "refuses the sink Read on group" in warned[0].getMessage()
    assert [made[0].commits] == commits_at_warning  # none after the warning
    assert not [r for r in caplog.records if "Group authorization failed" in r.getMessage()]


def test_a_group_granted_commits_each_checkpoint_and_warns_nothing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The boundary: commit results without an error stop nothing."""
    made: list[RefusingConsumer] = []

    def make(overrides: dict[str, Any]) -> RefusingConsumer:
        made.append(RefusingConsumer(overrides.get("on_commit"), set(), False))
        return made[-1]

    result = _run(monkeypatch, tmp_path, make)
    assert result.rows == len(ROWS)
    assert made[0].commits >= 3  # a checkpoint a batch of 10 rows, and the stop's
    assert not _group_warnings(caplog)
