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
