"""A client librdkafka left with no broker (librdkafka #5301): told from its statistics, and
replaced with every message it held (shared.stranded, shared.kafka.renew_producer).

The statistics are librdkafka's JSON, as `stats_cb` gets it; the producer tests run real
librdkafka producers against a scripted peer (tests/unit/kafka_peer.py) that answers as a
broker in its controlled shutdown does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import orjson
import pytest
from confluent_kafka import Producer
from hypothesis import given
from hypothesis import strategies as st

from shared.kafka import (
    DeliveryTracker,
    WatchedProducer,
    make_producer,
    make_watched_producer,
    renew_producer,
)
from shared.settings import KafkaSettings
from shared.stranded import (
    BACKOFF_WINDOW_S,
    MOST_STRANDED_S,
    STRANDED_S,
    BrokerWatch,
    Strandings,
    usable_brokers,
)
from tests.unit.kafka_peer import KafkaPeer
from tests.unit.outage_fakes import Clock


def stats(**brokers: tuple[str, str]) -> bytes:
    """Statistics JSON listing `brokers` (name: (source, state)), as librdkafka writes it."""
    return orjson.dumps({"name": "rdkafka#producer-1", "type": "producer", "brokers": {
        name: {"name": name, "nodeid": -1, "source": source, "state": state}
        for name, (source, state) in brokers.items()}})


UP = stats(b1=("learned", "UP"))
#: An ordinary outage: the brokers it knew are still listed, retried.
RETRYING = stats(b1=("learned", "DOWN"), boot=("configured", "TRY_CONNECT"))
#: After #5301's Metadata answer: every broker removed (a consumer keeps its placeholder).
NONE = stats()
ONLY_PLACEHOLDER = stats(GroupCoordinator=("logical", "UP"))


@pytest.mark.parametrize(("raw", "count"), [
    (UP, 1), (RETRYING, 2), (stats(boot=("configured", "INIT")), 1), (NONE, 0),
    (ONLY_PLACEHOLDER, 0), (stats(b=("internal", "UP")), 0), (b'{"name": "x"}', 0),
    (b'{"brokers": null}', None), (b"[]", None), (b'{"brokers": [1]}', None), (b"", None),
    (b'{"brokers": {"b": 3}}', None),
])
def test_usable_brokers_counts_the_brokers_a_client_could_connect_to(
        raw: bytes, count: int | None) -> None:
    assert usable_brokers(raw) == count


@given(st.one_of(st.binary(), st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20,
).map(orjson.dumps)))
def test_the_watch_never_raises_and_ignores_what_is_not_statistics(raw: bytes) -> None:
    """It runs inside librdkafka's callback: an exception there would surface at the
    owner's next poll. Whatever it is given, it raises nothing, and what it cannot read
    leaves its count as it was."""
    clock = Clock()
    watch = BrokerWatch(clock=clock.monotonic, strandings=Strandings())
    watch(NONE)
    count = usable_brokers(raw)
    watch(raw)
    assert count is None or count >= 0
    if count is None:
        assert (watch.usable, watch.none_since) == (0, clock.now)


def test_a_client_is_stranded_after_listing_no_broker_for_the_grace_and_not_before() -> None:
    clock = Clock()
    watch = BrokerWatch(grace=STRANDED_S, clock=clock.monotonic, strandings=Strandings())
    assert not watch.stranded()  # no statistics yet
    watch(NONE)
    assert watch.usable == 0
    clock.now += STRANDED_S - 0.001
    watch(ONLY_PLACEHOLDER)  # still none: the grace counts from the first
    assert not watch.stranded()
    clock.now += 0.001
    assert watch.stranded()
    clock.now += 0.001
    assert watch.stranded()


def test_a_broker_listed_again_ends_the_count() -> None:
    clock = Clock()
    watch = BrokerWatch(grace=STRANDED_S, clock=clock.monotonic, strandings=Strandings())
    watch(NONE)
    clock.now += STRANDED_S
    assert watch.stranded()
    watch(RETRYING)  # an ordinary outage is not stranded, however long
    clock.now += 10 * STRANDED_S
    assert not watch.stranded()


def stranded_after(clock: Clock, strandings: Strandings) -> float:
    """How long a new watch, listing no broker from now on, takes to say stranded."""
    watch = BrokerWatch(clock=clock.monotonic, strandings=strandings)
    start = clock.now
    watch(NONE)
    while not watch.stranded():
        clock.now += 0.5
    return clock.now - start


def test_strandings_in_a_row_double_the_grace_up_to_a_cap_and_a_quiet_window_resets_it(
        ) -> None:
    """A cluster that keeps answering with no broker strands every new client: replacing
    them every 5 s would leave a client closing in the background each time."""
    clock, strandings = Clock(), Strandings()
    graces = [stranded_after(clock, strandings) for _ in range(8)]
    assert graces == [5, 10, 20, 40, 80, 160, MOST_STRANDED_S, MOST_STRANDED_S]
    clock.now += BACKOFF_WINDOW_S  # exactly the window since the last: still in the streak
    assert strandings.grace(STRANDED_S, clock.now) == MOST_STRANDED_S
    clock.now += 0.5
    assert stranded_after(clock, strandings) == STRANDED_S


def test_a_watch_stranded_then_listing_a_broker_again_gets_a_new_grace() -> None:
    clock = Clock()
    watch = BrokerWatch(clock=clock.monotonic, strandings=Strandings())
    watch(NONE)
    clock.now += STRANDED_S
    assert watch.stranded() and watch.stranded()  # counted once, said until a broker shows
    watch(UP)
    assert not watch.stranded()
    watch(NONE)
    clock.now += 2 * STRANDED_S - 0.5  # the process's second stranding: twice the grace
    assert not watch.stranded()
    clock.now += 0.5
    assert watch.stranded()


TOPIC = "t"
#: A message's creation time (ms), as the producer stamps it.
CREATED = 1_735_689_600_000


@pytest.fixture
def peer() -> Iterator[KafkaPeer]:
    scripted = KafkaPeer(TOPIC)
    yield scripted
    scripted.close()


def producer_to(peer: KafkaPeer, watch: bool = True) -> WatchedProducer:
    kafka = KafkaSettings(bootstrap_servers=peer.address)
    # The peer reads uncompressed batches; quiet: its leaving is the point.
    make = make_watched_producer if watch else make_producer
    return make(kafka, **{"compression.type": "none", "log_level": 0})


def poll_for(producer: Producer, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        producer.poll(0.1)


def test_a_watched_producer_hands_its_statistics_to_the_watch(peer: KafkaPeer) -> None:
    producer = producer_to(peer)
    assert producer.watch is not None and producer.watch.usable is None
    producer.produce(TOPIC, b"v", b"k")
    assert producer.flush(10) == 0
    poll_for(producer, 1.5)
    assert producer.watch.usable == 1
    assert not producer.stranded()
    assert not producer_to(peer, watch=False).stranded()


def sent(n: int, start: int = 0) -> list[tuple[bytes, bytes]]:
    return [(f"c{i % 3}".encode(), f"v{i}".encode()) for i in range(start, start + n)]


def test_a_renewed_producer_delivers_every_held_message_once_in_order(peer: KafkaPeer) -> None:
    tracker = DeliveryTracker()
    producer = producer_to(peer)
    for i, (key, value) in enumerate(sent(5)):
        producer.produce(TOPIC, value, key, timestamp=CREATED + i, on_delivery=tracker)
    assert producer.flush(10) == 0
    peer.leave()  # Produce: not the leader; Metadata: the topic, no broker
    for i, (key, value) in enumerate(sent(5, 5), 5):
        producer.produce(TOPIC, value, key, timestamp=CREATED + i, on_delivery=tracker)
    poll_for(producer, 1.0)
    assert len(producer) == 5, "the peer delivered while leaving"
    assert peer.appended[0] == sent(5)

    renewed = renew_producer(producer, tracker, lambda: producer_to(peer))
    assert len(producer) == 0  # the old one holds nothing more
    assert tracker.failed == 0 and tracker.take_purged() == []
    peer.serve()
    assert renewed.flush(10) == 0
    assert peer.appended[0] == sent(10)
    # librdkafka hands a purged message back without its timestamp: the resend's is later.
    assert peer.timestamps[0][:5] == [CREATED + i for i in range(5)]
    assert min(peer.timestamps[0][5:]) > CREATED + 5
    assert (tracker.delivered, tracker.failed) == (10, 0)


class Holding:
    """A replaced producer that never gives its messages back (nor calls back)."""

    def __init__(self, held: int) -> None:
        self.held = held

    def purge(self, **_: bool) -> None:
        pass

    def poll(self, timeout: float = 0) -> int:
        return 0

    def __len__(self) -> int:
        return self.held


def test_messages_a_replaced_producer_keeps_count_as_failed_not_delivered(
        peer: KafkaPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    import shared.kafka

    monkeypatch.setattr(shared.kafka, "PURGE_SERVE_S", 0.2)
    tracker = DeliveryTracker()
    renewed = renew_producer(Holding(3), tracker, lambda: producer_to(peer))  # type: ignore[arg-type]
    assert len(renewed) == 0
    assert tracker.failed == 3 and "not given back" in tracker.errors[0]


class Stranded:
    """A watch whose client librdkafka has left with no broker."""

    def stranded(self) -> bool:
        return True


def test_publish_replaces_a_stranded_producer_and_every_row_arrives_once_in_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay's loop (`producer.app.publish`): its producer, stranded while the peer
    leaves, is replaced at the next check (every 1,024 messages); every row reaches the
    topic once, each partition in the order sent, and none counts as failed."""
    import producer.app as app
    from producer.settings import ProducerSettings

    topics = ProducerSettings().topics
    peer = KafkaPeer(topics.transactions_topic, topics.partitions)
    try:
        made: list[WatchedProducer] = []

        def make(kafka: KafkaSettings, **overrides: object) -> WatchedProducer:
            made.append(make_watched_producer(kafka, **{**overrides, "compression.type": "none",
                                                        "log_level": 0}))
            return made[-1]

        monkeypatch.setattr(app, "make_watched_producer", make)
        monkeypatch.setattr(app, "ensure_topics", lambda *a, **k: None)
        settings = ProducerSettings(kafka=KafkaSettings(bootstrap_servers=peer.address))
        rows = [(f"c{i % 7}".encode(), f"v{i}".encode()) for i in range(3_000)]

        def records() -> Iterator[app.Record]:
            for i, (key, value) in enumerate(rows):
                if i == 1_500:
                    peer.leave()
                    made[0].watch = Stranded()  # type: ignore[assignment]
                if i == 2_100:  # after the check at 2,048 replaced it
                    assert len(made) == 2
                    peer.serve()
                yield datetime(2025, 1, 1), key, value

        report = app.publish(records(), settings, total=len(rows))
        assert (report.sent, report.delivered, report.failed) == (3_000, 3_000, 0)
        got = [row for part in sorted(peer.appended) for row in peer.appended[part]]
        assert sorted(got) == sorted(rows)
        for part in peer.appended.values():
            sent_at = [int((v or b"v")[1:]) for _, v in part]
            assert sent_at == sorted(sent_at)
    finally:
        peer.close()


def test_a_review_publisher_whose_flush_ran_out_publishes_next_with_a_new_producer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The review page keeps one publisher for its lifetime: a producer librdkafka left
    with no broker would fail every later publish. One whose flush ran out is replaced;
    what it held is dropped (the error said so), not sent behind the error's back."""
    import auditstream.review.publish as publish
    from shared.reviews import REVIEWS_PARTITIONS, Review, encode_review
    from shared.settings import TopicSettings

    topics = TopicSettings()
    peer = KafkaPeer(topics.reviews_topic, REVIEWS_PARTITIONS)
    try:
        monkeypatch.setattr(publish, "ensure_topics", lambda *a, **k: None)
        monkeypatch.setattr(publish, "cleanup_policy", lambda *a, **k: "compact")
        monkeypatch.setattr(publish, "check_rights", lambda *a, **k: None)  # no ACLs
        monkeypatch.setattr(publish, "make_producer", lambda kafka, **o: make_producer(
            kafka, **{**o, "compression.type": "none", "log_level": 0}))
        kafka = KafkaSettings(bootstrap_servers=peer.address)
        publisher = publish.ReviewPublisher(kafka, topics, flush_timeout_s=1.0)

        def reviews(*ids: str) -> list[Review]:
            return [Review(target="transaction", id=i, outcome="confirmed",
                           reviewed_at=datetime(2025, 2, 1, 9)) for i in ids]

        first = publisher._producer
        peer.leave()
        with pytest.raises(publish.ReviewsUndeliveredError):
            publisher.publish(reviews("a", "b"))
        assert publisher._producer is not first
        peer.serve()
        assert publisher.publish(reviews("c")) == 1
        poll_for(first, 1.5)  # the old one sends nothing later
        assert peer.appended[0] == [encode_review(r) for r in reviews("c")]
    finally:
        peer.close()
