"""A rollback of the review workflow (helper session 18, 2026-12-07): an older release reading
reviews a newer one wrote on the reviews topic (`schema_version` past this release's). The
sink's checkpoint has its own version (`tests/unit/test_sink_upgrade.py`); a review record is
the other piece of review state a newer release writes and an older one reads. Before: the
sink rejected each such review into sink_rejected.jsonl and went on past it (so the newer
release, run again on the folder, never read it: the decision counted nowhere), and the page
skipped it with a warning, showing the case as open or with its earlier outcome, for the
reviewer to decide again over the newer decision. Now both stop in one line naming both
versions and the way back, exit 2, and take nothing from that record on."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.errors import AuditstreamError, ExitCode
from shared.reviews import REVIEW_SCHEMA_VERSION, Review, encode_review
from sink.writer import REJECTED_FILE, REVIEWS_LOG_FILE
from tests.unit.test_review_follower_faults import MOD, _Consumer, _Msg, _ok, _Run
from tests.unit.test_sink_reviews import REVIEWS, _review, _writer


def _newer(id_: str = "c9", version: int = REVIEW_SCHEMA_VERSION + 1) -> bytes:
    """A review as a newer release might write it: a later version, a field of its own."""
    value = json.loads(encode_review(Review(
        target="case", id=id_, outcome="confirmed", reviewer="ann",
        reviewed_at=datetime(2026, 12, 7, tzinfo=UTC)))[1])
    return json.dumps({**value, "schema_version": version, "evidence": "doc-7"}).encode()


def test_the_sink_stops_at_a_review_of_a_newer_release_and_takes_nothing_from_it(
        tmp_path: Path) -> None:
    from sink.reviews_state import ReviewsStateError

    w = _writer(tmp_path)
    w.add_reviews([(0, 0, _review("case", "c1", "confirmed", 1))], REVIEWS)
    w.checkpoint()
    log_before = (tmp_path / REVIEWS_LOG_FILE).read_bytes()
    offsets = dict(w.review_offsets)
    with pytest.raises(ReviewsStateError) as raised:
        w.add_reviews([(0, 1, _review("case", "c2", "dismissed", 2)), (0, 2, _newer()),
                       (0, 3, _review("case", "c3", "dismissed", 3))], REVIEWS)
    line = str(raised.value)
    assert "\n" not in line
    assert (f"{REVIEWS} partition 0 offset 2 holds a review of schema version "
            f"{REVIEW_SCHEMA_VERSION + 1}, written by a newer auditstream release; this "
            f"release reads version {REVIEW_SCHEMA_VERSION}") in line, line
    assert "run that release (or a later one)" in line, line
    assert raised.value.exit_code == ExitCode.USAGE
    # nothing of the batch taken: the newer release reads it again from the checkpoint
    assert w.review_offsets == offsets
    assert (tmp_path / REVIEWS_LOG_FILE).read_bytes() == log_before
    assert not (tmp_path / REJECTED_FILE).exists()
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


def test_the_pages_follower_stops_at_a_review_of_a_newer_release(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from auditstream.review import server

    outcomes = server.Outcomes()
    consumer = _Consumer([([_ok(0, "a", "confirmed"), _Msg(1, _newer("b")),
                            _ok(2, "c", "dismissed")], 0)], outcomes)
    with caplog.at_level(logging.INFO, logger=MOD.log.name):
        run = _Run(monkeypatch, [consumer], outcomes, turns=3)
    assert run.died == []
    assert outcomes.snapshot() == {"case:a": "confirmed"}  # nothing from it on
    refused = run.follower.refused
    assert isinstance(refused, AuditstreamError), refused
    assert (f"reviews partition 0 offset 1 holds a review of schema version "
            f"{REVIEW_SCHEMA_VERSION + 1}, written by a newer auditstream release; this "
            f"release reads version {REVIEW_SCHEMA_VERSION}") in str(refused)
    lapse = outcomes.lapse
    assert lapse is not None and lapse.fatal
    # a restart would meet it again: the line does not advise one
    assert lapse.line().endswith(f"{refused}; the follower has stopped, and the page stops")
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [lapse.line()]


def test_review_serve_exits_2_in_one_line_when_its_follower_meets_a_newer_review(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The page stops (a reviewer would decide again over decisions it cannot show)."""
    import threading
    import time

    from auditstream.cli import main
    from auditstream.review import server
    from tests.unit.review_page import cases_folder

    class Follower(threading.Thread):
        def __init__(self, kafka: object, topic: str, outcomes: object,
                     on_refused: object = None) -> None:
            super().__init__(daemon=True)
            self.stopping = threading.Event()
            self.on_refused = on_refused
            self.refused: AuditstreamError | None = None

        def run(self) -> None:
            self.refused = AuditstreamError("reviews partition 0 offset 1 holds a review of "
                                            "schema version 2, ...")
            if callable(self.on_refused):
                self.on_refused()
                return
            for _ in range(100):  # no way to stop the page: shut it down (exit 0), no hang
                if made:
                    made[0].shutdown()
                    return
                time.sleep(0.05)

    class Publisher:
        def __init__(self, *a: object, **k: object) -> None:
            pass

    made: list[Any] = []
    make = server.make_server

    def making(*a: Any) -> Any:
        made.append(make(*a))
        return made[-1]

    monkeypatch.setattr(server, "make_server", making)
    monkeypatch.setattr(server, "TopicFollower", Follower)
    monkeypatch.setattr(server, "ReviewPublisher", Publisher)
    exports = cases_folder(tmp_path / "ex")
    code = main(["review", "serve", "--exports", str(exports), "--port", "0",
                 "--reviewer", "ann"])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE, err
    assert err.strip().splitlines() == [
        "auditstream review: error: reviews partition 0 offset 1 holds a review of schema "
        "version 2, ..."], err
