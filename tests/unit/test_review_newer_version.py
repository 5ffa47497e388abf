"""A rollback of the review workflow (helper session 18, 2026-12-07): an older release reading
reviews a newer one wrote on the reviews topic (`schema_version` past this release's). The
sink's checkpoint has its own version (`tests/unit/test_sink_upgrade.py`); a review record is
the other piece of review state a newer release writes and an older one reads. Before: the
sink rejected each such review into sink_rejected.jsonl and went on past it (so the newer
release, run again on the folder, never read it: the decision counted nowhere), and the page
skipped it with a warning, showing the case as open or with its earlier outcome. Now both
hold that partition at it: nothing of the partition taken (sink) or shown (page) from that
offset on, everything else goes on, and the places an operator looks say so (one WARNING,
`python -m sink.health`'s and report.html's note, the page's status line). Neither stops:
one odd message never halts a service (a halting remedy of the same day, exit 2, let anyone
able to write `{"schema_version": 99}` stop the exports for good)."""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.reviews import REVIEW_SCHEMA_VERSION, Review, encode_review
from sink.writer import REJECTED_FILE, REVIEWS_LOG_FILE
from tests.unit.test_review_follower_faults import MOD, TOPIC, _Consumer, _Msg, _Run
from tests.unit.test_review_follower_faults import _review as _page_review
from tests.unit.test_sink_reviews import REVIEWS, _review, _writer

NEWER = REVIEW_SCHEMA_VERSION + 1
#: What the sink and the page say of a held partition (0 here, at offset 1).
SAID = (f"{REVIEWS} partition 0 offset 1 holds a review of schema version {NEWER}, written by "
        f"a newer auditstream release; this release reads version {REVIEW_SCHEMA_VERSION}")


def _newer(id_: str = "c9", version: int = NEWER) -> bytes:
    """A review as a newer release might write it: a later version, a field of its own."""
    value = json.loads(encode_review(Review(
        target="case", id=id_, outcome="confirmed", reviewer="ann",
        reviewed_at=datetime(2026, 12, 7, tzinfo=UTC)))[1])
    return json.dumps({**value, "schema_version": version, "evidence": "doc-7"}).encode()


def _logged(folder: Path) -> list[str]:
    """The ids reviews_log.csv holds, in its order."""
    lines = (folder / REVIEWS_LOG_FILE).read_text().splitlines()[1:]
    return [line.split(",")[2] for line in lines]


def test_the_sink_holds_a_partition_at_a_newer_releases_review_and_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from dashboard.report import collect
    from sink.health import note

    w = _writer(tmp_path)
    with caplog.at_level(logging.WARNING):
        taken = w.add_reviews([(0, 0, _review("case", "c1", "confirmed", 1)),
                               (1, 0, _review("case", "c5", "confirmed", 2)),
                               (0, 1, _newer()),
                               (0, 2, _review("case", "c3", "dismissed", 3)),
                               (1, 1, _review("case", "c6", "dismissed", 4))], REVIEWS)
        # later batches: partition 0 ignored (not taken, not rejected), 1 goes on
        assert w.add_reviews([(0, 3, _review("case", "c4", "dismissed", 5)),
                              (1, 2, _review("case", "c7", "confirmed", 6))], REVIEWS) == 1
    assert taken == 3
    assert w.review_offsets == {0: 1, 1: 3}  # partition 0 stays at the newer review
    w.checkpoint()
    w.write_rollups()
    w.close()
    assert _logged(tmp_path) == ["c1", "c5", "c6", "c7"]
    assert not (tmp_path / REJECTED_FILE).exists()
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
              and SAID in r.getMessage()]
    assert len(warned) == 1, warned  # when it starts holding, not a batch
    assert "run that release (or a later one) on this folder" in warned[0], warned
    said = note(tmp_path)
    assert said.startswith("note: ") and SAID in said, said
    assert "run that release (or a later one) on this folder" in said, said
    assert SAID in collect(tmp_path)["skew"]

    # a restart reads partition 0 from the newer review again, and holds it again
    w = _writer(tmp_path)
    assert w.review_offsets == {0: 1, 1: 3}
    assert w.add_reviews([(0, 1, _newer()), (0, 2, _review("case", "c3", "dismissed", 3))],
                         REVIEWS) == 0
    assert w.review_offsets == {0: 1, 1: 3}
    w.checkpoint()
    w.write_rollups()
    w.close()
    assert _logged(tmp_path) == ["c1", "c5", "c6", "c7"]
    assert SAID in note(tmp_path)


def test_a_held_partition_is_read_anew_when_the_reviews_topic_is_created_again(
        tmp_path: Path) -> None:
    """Its offsets start again (`sink.app.same_reviews_topic`): so does its hold."""
    from sink.app import same_reviews_topic

    w = _writer(tmp_path)
    w.cp.extra["reviews_topic_id"] = "old"
    w.add_reviews([(0, 0, _newer())], REVIEWS)
    same_reviews_topic(w.cp, "new", REVIEWS)
    assert w.add_reviews([(0, 0, _review("case", "c1", "confirmed", 1))], REVIEWS) == 1
    w.close()


def test_the_hold_is_told_after_a_restart_before_the_held_review_is_read_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """The hold is in the checkpoint, not only in memory (fixes19): before, a restart's
    run.json (its first rollup, the page's and report.html's note) said nothing of it until
    the consumer had read the held review again. A reviews topic created again, or a release
    that reads the review's version, holds nothing."""
    import sink.writer as writer
    from sink.app import same_reviews_topic
    from sink.health import note

    w = _writer(tmp_path)
    w.cp.extra["reviews_topic_id"] = "id-1"
    w.add_reviews([(0, 0, _review("case", "c1", "confirmed", 1)), (0, 1, _newer())], REVIEWS)
    w.checkpoint()
    w.close()
    w = _writer(tmp_path)  # a restart: nothing read yet
    same_reviews_topic(w.cp, "id-1", REVIEWS)  # as sink.app.run_sink starts
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        w.tell_holds()
    w.write_rollups()
    assert SAID in note(tmp_path)
    warned = [r.getMessage() for r in caplog.records if SAID in r.getMessage()]
    assert len(warned) == 1, warned  # told once at the start, as when it began holding
    # its later records, read on, are still not taken; the rest of the topic goes on
    assert w.add_reviews([(0, 1, _newer()), (0, 2, _review("case", "c3", "dismissed", 3)),
                          (1, 0, _review("case", "c5", "confirmed", 4))], REVIEWS) == 1
    assert w.review_offsets == {0: 1, 1: 1}
    w.checkpoint()
    w.close()
    assert _logged(tmp_path) == ["c1", "c5"]

    # the reviews topic deleted and created again while the sink was down: read anew
    w = _writer(tmp_path)
    same_reviews_topic(w.cp, "id-2", REVIEWS)
    w.write_rollups()
    assert SAID not in note(tmp_path)
    assert w.add_reviews([(0, 0, _review("case", "c6", "confirmed", 5))], REVIEWS) == 1
    w.checkpoint()
    w.close()

    # a release that reads the held review's version holds nothing of it
    w = _writer(tmp_path)
    w.add_reviews([(0, 1, _newer())], REVIEWS)
    w.checkpoint()
    w.close()
    monkeypatch.setattr(writer, "REVIEW_SCHEMA_VERSION", NEWER)
    w = _writer(tmp_path)
    assert w.held == {}
    w.close()


@pytest.mark.parametrize("version", [0, -1, REVIEW_SCHEMA_VERSION])
def test_a_review_of_an_unknown_older_version_is_rejected_as_before(
        tmp_path: Path, version: int) -> None:
    """Not a newer release's: a bad record (version 0, or this version with a field it does
    not know), rejected into sink_rejected.jsonl; the sink goes on."""
    w = _writer(tmp_path)
    assert w.add_reviews([(0, 0, _newer(version=version)),
                          (0, 1, _review("case", "c1", "confirmed", 1))], REVIEWS) == 1
    assert (tmp_path / REJECTED_FILE).exists()
    w.close()


KINDS = st.sampled_from(["v1", "v2", "bad"])


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(logs=st.lists(st.lists(KINDS, max_size=8), min_size=1, max_size=3),
       cuts=st.lists(st.integers(1, 5), min_size=1, max_size=12),
       restarts=st.sets(st.integers(0, 11)))
def test_whatever_the_sequence_every_review_before_a_partitions_first_newer_one_once(
        logs: list[list[str]], cuts: list[int], restarts: set[int]) -> None:
    """Any sequence of v1, v2 and bad messages per partition, read in any batches across
    restarts (each resuming at the checkpoint, as `assign_from_checkpoint`): the sink never
    raises; it logs every v1 review before its partition's first v2 exactly once, and none
    after it."""
    topic: dict[int, list[bytes]] = {}
    want: list[str] = []
    for p, kinds in enumerate(logs):
        topic[p] = []
        held = False
        for o, kind in enumerate(kinds):
            id_ = f"p{p}o{o}"
            topic[p].append(_review("case", id_, "confirmed", o) if kind == "v1"
                            else _newer(id_) if kind == "v2" else b'{"schema_version": 0}')
            held = held or kind == "v2"
            if kind == "v1" and not held:
                want.append(id_)
    with tempfile.TemporaryDirectory() as folder:
        w = _writer(Path(folder))
        at = dict.fromkeys(topic, 0)
        for turn, size in enumerate(cuts):
            batch = []
            for p, values in topic.items():  # the consumer reads on past a held offset
                batch += [(p, o, values[o]) for o in range(at[p], min(at[p] + size, len(values)))]
                at[p] = min(at[p] + size, len(values))
            w.add_reviews(batch, REVIEWS)
            if turn in restarts:
                w.checkpoint()
                w.close()
                w = _writer(Path(folder))
                at = {p: w.review_offsets.get(p, 0) for p in topic}
        # drained: the rest of each partition read
        w.add_reviews([(p, o, values[o]) for p, values in topic.items()
                       for o in range(at[p], len(values))], REVIEWS)
        w.checkpoint()
        w.close()
        assert sorted(_logged(Path(folder))) == sorted(want)


class _PMsg(_Msg):
    def __init__(self, partition: int, offset: int, value: bytes) -> None:
        super().__init__(offset, value)
        self._partition = partition

    def partition(self) -> int:
        return self._partition


def _ok(partition: int, offset: int, id_: str, outcome: str) -> _PMsg:
    return _PMsg(partition, offset, encode_review(_page_review(id_, outcome))[1])


#: The page's line for partition 0 held at offset 1.
PAGE_SAID = (f"reviews of {TOPIC} partition 0 from offset 1 on are not shown: a newer "
             f"auditstream release wrote them (a review of schema version {NEWER}; this "
             f"release reads version {REVIEW_SCHEMA_VERSION})")


def test_the_pages_follower_holds_a_partition_at_a_newer_releases_review(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from auditstream.review import server

    outcomes = server.Outcomes()
    consumer = _Consumer([([_ok(0, 0, "a", "confirmed"), _PMsg(0, 1, _newer("b")),
                            _ok(1, 0, "c", "dismissed"), _ok(0, 2, "d", "confirmed")], 0),
                          ([_ok(1, 1, "e", "confirmed"), _ok(0, 3, "f", "confirmed")], 0)],
                         outcomes)
    with caplog.at_level(logging.INFO, logger=MOD.log.name):
        run = _Run(monkeypatch, [consumer], outcomes, turns=4)
    assert run.died == []
    assert consumer.calls == 4  # it read on: no stop
    # partition 0 from offset 1 on not shown, partition 1 shown
    assert outcomes.snapshot() == {"case:a": "confirmed", "case:c": "dismissed",
                                   "case:e": "confirmed"}
    lapse = outcomes.lapse
    assert lapse is None or not lapse.fatal, lapse
    line = outcomes.not_current()
    assert PAGE_SAID in line, line
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
              and PAGE_SAID in r.getMessage()]
    assert len(warned) == 1, [r.getMessage() for r in caplog.records]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_review_serve_goes_on_and_says_which_reviews_it_does_not_show(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The page keeps serving (exit 0 at its stop), its status line naming the held
    partition."""
    from auditstream.cli import main
    from auditstream.review import server
    from tests.unit.review_page import cases_folder

    class Slow(_Consumer):  # an idle consumer waits as a real one does
        def consume(self, n: int, timeout: float) -> list[_Msg]:
            if not self.turns:
                time.sleep(0.05)
            return super().consume(n, timeout)

    consumer = Slow([([_ok(0, 0, "a", "confirmed"), _PMsg(0, 1, _newer("b")),
                       _ok(1, 0, "c", "dismissed")], 0)], server.Outcomes())
    monkeypatch.setattr(MOD, "make_watched_consumer", lambda *a, **k: consumer)
    monkeypatch.setattr(MOD, "topic_id", lambda *a, **k: "id-1")
    monkeypatch.setattr(MOD, "topic_gone", lambda *a, **k: False, raising=False)
    monkeypatch.setattr(MOD, "topic_partitions", lambda *a, **k: 1)
    monkeypatch.setattr(server, "topic_id", lambda *a, **k: "id-1", raising=False)

    class Publisher:
        def __init__(self, *a: object, **k: object) -> None:
            pass

    made: list[Any] = []
    make = server.make_server

    def making(*a: Any) -> Any:
        made.append(make(*a))
        return made[-1]

    bodies: list[str] = []

    def look() -> None:
        for _ in range(200):
            if made:
                port = made[0].server_address[1]
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                    body = resp.read().decode()
                if "partition 0 from offset 1 on are not shown" in body:
                    bodies.append(body)
                    break
            time.sleep(0.05)
        if made:
            made[0].shutdown()

    monkeypatch.setattr(server, "make_server", making)
    monkeypatch.setattr(server, "ReviewPublisher", Publisher)
    exports = cases_folder(tmp_path / "ex")
    looking = threading.Thread(target=look, daemon=True)
    looking.start()
    code = main(["review", "serve", "--exports", str(exports), "--port", "0",
                 "--reviewer", "ann"])
    looking.join(15)
    err = capsys.readouterr().err
    assert code == 0, err
    assert bodies, err
