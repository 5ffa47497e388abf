"""The sink's checkpoint knows its topic by id, not only by name (`sink.app.same_topic`)."""

from __future__ import annotations

import pytest

from sink.rollup import RollupParams
from sink.state import Checkpoint, SinkStateError
from sink.volume import SinkRollup


def _checkpoint(**extra: str) -> Checkpoint:
    return Checkpoint(topic="scored", lengths={}, offsets={0: 189}, rollup=SinkRollup(
        RollupParams()), extra=dict(extra))


def test_a_checkpoint_without_an_id_records_the_topics() -> None:
    """A new folder, or one a version before the check wrote: nothing to compare yet."""
    from sink.app import same_topic

    cp = _checkpoint()
    same_topic(cp, "gIveKq2qTUeyb3sB+RTzxw")
    assert cp.extra["topic_id"] == "gIveKq2qTUeyb3sB+RTzxw"
    same_topic(cp, "gIveKq2qTUeyb3sB+RTzxw")  # the same topic again: resumes


def test_a_topic_created_again_under_its_name_is_refused() -> None:
    from sink.app import same_topic

    cp = _checkpoint(topic_id="old")
    with pytest.raises(SinkStateError, match="deleted and created again") as refused:
        same_topic(cp, "new")
    assert "--reset" in str(refused.value) and cp.extra["topic_id"] == "old"


def test_a_cluster_that_gives_no_id_changes_nothing() -> None:
    from sink.app import same_topic

    cp = _checkpoint(topic_id="old")
    same_topic(cp, None)
    assert cp.extra == {"topic_id": "old"}


def test_a_reviews_topic_created_again_is_read_from_its_start_keeping_the_book() -> None:
    """Its offsets are the old topic's: going on from them skipped the new topic's first
    reviews (probe of 2026-12-06). The outcomes already read stay (`extra["reviews"]`)."""
    from sink.app import same_reviews_topic

    book = {"current": {"case:c1": ["case", "c1", "confirmed", "r", "2025-01-01T00:00:00Z", ""]}}
    cp = _checkpoint()
    cp.extra.update(reviews_topic_id="old", review_offsets={"0": 3}, reviews=book)
    same_reviews_topic(cp, "old", "t.reviews")  # the same topic: resumes where it was
    assert cp.extra["review_offsets"] == {"0": 3}
    same_reviews_topic(cp, None, "t.reviews")  # no id given: nothing to compare
    assert cp.extra["review_offsets"] == {"0": 3} and cp.extra["reviews_topic_id"] == "old"
    same_reviews_topic(cp, "new", "t.reviews")
    assert cp.extra == {"reviews_topic_id": "new", "review_offsets": {}, "reviews": book}


def test_a_checkpoint_without_a_reviews_topic_id_records_it_and_resumes() -> None:
    from sink.app import same_reviews_topic

    cp = _checkpoint()
    cp.extra["review_offsets"] = {"0": 7}
    same_reviews_topic(cp, "id1", "t.reviews")
    assert cp.extra == {"review_offsets": {"0": 7}, "reviews_topic_id": "id1"}
