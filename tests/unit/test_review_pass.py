"""Reviews of a later schema version that no release will read, passed by position
(`AUDITSTREAM_REVIEWS_PASS`, `TopicSettings.reviews_pass`; docs/review.md, "Rollbacks").
The sink and the page hold a reviews partition at a review a newer release wrote
(`tests/unit/test_review_newer_version.py`), so that the newer release, run again, reads it.
But anyone able to write `{"schema_version": 99}` to the topic (one partition by default),
or a newer release's bug, held that partition for good: no review taken or shown after it,
and no release to run that would read it (soak19's probe, 2026-12-07). The operator names the
position; the sink rejects that review into sink_rejected.jsonl with the reason and takes
the rest, the page skips it with a warning. Only a review the release cannot read is
passed: a readable one at a named position is taken as ever."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.partitioning import MAX_PARTITIONS
from shared.settings import (
    MAX_REVIEWS_PASSED,
    REVIEWS_PASS_VARIABLE,
    TopicSettings,
    passed_positions,
)
from sink.settings import ExportSettings
from sink.writer import REJECTED_FILE, SinkWriter
from tests.unit.test_review_follower_faults import MOD, _Consumer, _Run
from tests.unit.test_review_follower_faults import TOPIC as PAGE_TOPIC
from tests.unit.test_review_newer_version import NEWER, PAGE_SAID, _logged, _newer, _ok, _PMsg
from tests.unit.test_sink_reviews import REVIEWS, _review
from tests.unit.test_sink_writer import TOPIC


def _writer(folder: Path, passed: frozenset[tuple[int, int]] = frozenset()) -> SinkWriter:
    return SinkWriter(folder, TOPIC, ExportSettings(sample_per_band=3), passed=passed)


def test_the_variable_is_named_from_the_setting() -> None:
    assert REVIEWS_PASS_VARIABLE == "AUDITSTREAM_REVIEWS_PASS"


@pytest.mark.parametrize(("value", "positions"), [
    ("", frozenset()), ("  ", frozenset()), ("0:17", {(0, 17)}),
    (" 0:17 , 2:0,0:18", {(0, 17), (2, 0), (0, 18)}),
    (f"0:{2**63 - 1}", {(0, 2**63 - 1)}),
    (f"{MAX_PARTITIONS - 1}:0", {(MAX_PARTITIONS - 1, 0)}),  # the highest partition
    (",".join(f"0:{i}" for i in range(MAX_REVIEWS_PASSED)),
     {(0, i) for i in range(MAX_REVIEWS_PASSED)}),
])
def test_positions_are_read_from_the_environment(
        monkeypatch: pytest.MonkeyPatch, value: str, positions: set[tuple[int, int]]) -> None:
    monkeypatch.setenv(REVIEWS_PASS_VARIABLE, value)
    assert TopicSettings().reviews_passed == positions == passed_positions(value)


@pytest.mark.parametrize(("value", "item"), [
    ("0", "0"), ("0:x", "0:x"), ("0:1,", ""), ("0:1,,1:2", ""), ("-1:3", "-1:3"),
    ("0:-3", "0:-3"), ("0:1.0", "0:1.0"), ("0 : 1", "0 : 1"), ("0:\u0661\u0667", "0:\u0661\u0667"),
    (f"0:{2**63}", f"0:{2**63}"),
    (f"{MAX_PARTITIONS}:0", f"{MAX_PARTITIONS}:0"),  # one past it
    (",".join(f"0:{i}" for i in range(MAX_REVIEWS_PASSED + 1)), None),
])
def test_a_position_that_is_none_is_refused_naming_the_variable_and_the_item(
        monkeypatch: pytest.MonkeyPatch, value: str, item: str | None) -> None:
    from shared.entry import settings_error

    monkeypatch.setenv(REVIEWS_PASS_VARIABLE, value)
    with pytest.raises(ValidationError) as info:
        TopicSettings()
    said = settings_error(info.value) or ""
    assert REVIEWS_PASS_VARIABLE in said, said
    if item is None:
        assert f"over {MAX_REVIEWS_PASSED}" in said, said
    else:
        assert (f"{item!r} is not a position; give partition:offset, whole numbers (e.g. "
                "0:17), separated by commas;") in said, said


def test_the_sink_passes_a_held_review_named_at_its_restart_and_takes_the_rest(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from sink.health import note

    w = _writer(tmp_path)
    w.add_reviews([(0, 0, _review("case", "c1", "confirmed", 1)), (0, 1, _newer("c2", 99))],
                  REVIEWS)
    w.checkpoint()
    w.close()
    # restarted with the held review's position named (and another, readable one)
    w = _writer(tmp_path, frozenset({(0, 1), (0, 3)}))
    assert w.held == {}  # the checkpoint's hold is not told, nor kept
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        w.tell_holds()
        taken = w.add_reviews([(0, 1, _newer("c2", 99)),
                               (0, 2, _review("case", "c3", "dismissed", 3)),
                               (0, 3, _review("case", "c4", "confirmed", 4)),
                               (1, 0, _review("case", "c5", "confirmed", 5))], REVIEWS)
    assert taken == 3
    assert w.review_offsets == {0: 4, 1: 1}
    assert not [r for r in caplog.records if "holds a review" in r.getMessage()]
    w.checkpoint()
    run = w.write_rollups()
    w.close()
    assert _logged(tmp_path) == ["c1", "c3", "c4", "c5"]  # a named readable review taken
    # run.json counts the passed review once, read and rejected (the held one, not read)
    assert (run["assurance"]["reviews_read"], run["assurance"]["reviews_rejected"]) == (5, 1)
    [line] = (tmp_path / REJECTED_FILE).read_text().splitlines()
    kept = json.loads(line)
    assert (kept["partition"], kept["offset"]) == (0, 1)
    assert kept["error"] == (f"{REVIEWS}: a review of schema version 99, written by a newer "
                             "auditstream release; this release reads version 1; passed, as "
                             f"{REVIEWS_PASS_VARIABLE} asks")
    assert json.loads(kept["value"])["schema_version"] == 99  # the record itself, kept
    assert "holds a review" not in note(tmp_path)


def test_a_newer_review_at_a_position_not_named_is_still_held(tmp_path: Path) -> None:
    w = _writer(tmp_path, frozenset({(0, 2), (1, 1)}))  # one off each side, another partition
    assert w.add_reviews([(0, 0, _review("case", "c1", "confirmed", 1)), (0, 1, _newer()),
                          (1, 0, _review("case", "c5", "confirmed", 2))], REVIEWS) == 2
    assert w.held == {0: (REVIEWS, 1, 2)}
    assert w.review_offsets == {0: 1, 1: 1}
    w.close()
    assert not (tmp_path / REJECTED_FILE).exists()


def test_the_page_passes_a_named_review_and_shows_the_rest(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from auditstream.review import server

    outcomes = server.Outcomes()
    consumer = _Consumer([([_ok(0, 0, "a", "confirmed"), _PMsg(0, 1, _newer("b")),
                            _ok(0, 2, "d", "confirmed")], 0)], outcomes)
    with caplog.at_level(logging.INFO, logger=MOD.log.name):
        run = _Run(monkeypatch, [consumer], outcomes, turns=3, passed=frozenset({(0, 1)}))
    assert run.died == []
    assert outcomes.snapshot() == {"case:a": "confirmed", "case:d": "confirmed"}
    assert PAGE_SAID not in outcomes.not_current()
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (f"{PAGE_TOPIC}: passing the review at partition 0 offset 1, as "
            f"{REVIEWS_PASS_VARIABLE} asks: a review of schema version {NEWER}, written by a newer "
            f"auditstream release; this release reads version {NEWER - 1}") in warned, warned


def test_a_passed_review_is_counted_read_and_rejected_after_the_others() -> None:
    """`ReviewBook`'s counts, which run.json's reviews_read and reviews_rejected give: a bad
    review before the passed one, a good one after it, each counted once."""
    from sink.reviews_state import ReviewBook

    book = ReviewBook()
    lines, rejected, held = book.apply(
        [(0, 0, b"{}"), (0, 1, _newer("c2", 99)), (0, 2, _review("case", "c3", "confirmed", 3)),
         (1, 0, _newer("c4", 99))], REVIEWS, "2026-12-07T12:00:00Z", lambda target, id_: "",
        frozenset({(0, 1)}))
    assert (book.messages, book.rejected) == (3, 2)
    assert [json.loads(r)["offset"] for r in rejected] == [0, 1]
    assert held == {1: (0, 99)}  # not named: held, not counted
    assert lines.count(b"\n") == 1
