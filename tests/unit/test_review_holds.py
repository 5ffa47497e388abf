"""`sink.review_holds` on its own: which holds a checkpoint's `extra` keeps (the offset it
holds, a version past this release's, every other entry skipped alone), how a hold is
written and released. The sink's tests (test_review_newer_version.py, test_review_pass.py)
reach it through a whole writer and one partition; mutation round 20 (docs/mutation.md)
found there no test of a malformed entry beside a good one, of a partition `-1`, or of the
version bound itself."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sink import review_holds as rh

READS = 4  # this release's review schema version, as the tests take it


def _extra(held: dict[Any, Any], offsets: dict[str, Any] | None = None) -> dict[str, Any]:
    """A checkpoint's `extra` holding `held`, each held partition's offset checkpointed where
    it is held unless `offsets` says otherwise."""
    if offsets is None:
        offsets = {str(p): at["offset"] for p, at in held.items()
                   if isinstance(at, dict) and "offset" in at}
    return {"review_offsets": offsets, rh.KEY: held}


def _at(offset: int = 7, version: int = READS + 1, topic: str = "reviews") -> dict[str, Any]:
    return {"topic": topic, "offset": offset, "version": version}


@pytest.mark.parametrize(("version", "kept"), [
    (READS - 1, False), (READS, False), (READS + 1, True), (READS + 2, True)])
def test_a_hold_holds_only_at_a_version_past_this_releases(version: int, kept: bool) -> None:
    """At this release's own version the newer release was run on the folder: released."""
    got = rh.holds(_extra({"0": _at(version=version)}), READS)
    assert got == ({0: ("reviews", 7, version)} if kept else {})


@pytest.mark.parametrize(("checkpointed", "kept"), [(6, False), (7, True), (8, False)])
def test_a_hold_holds_only_at_its_partitions_checkpointed_offset(
        checkpointed: int, kept: bool) -> None:
    """The offset moved (or the topic was created again and read anew): no longer held."""
    got = rh.holds(_extra({"3": _at(offset=7)}, {"3": checkpointed}), READS)
    assert got == ({3: ("reviews", 7, READS + 1)} if kept else {})


@pytest.mark.parametrize("bad", [
    ("-1", _at()),                                      # no partition
    ("x", _at()),
    ("1.0", _at()),
    (1, _at()),                                         # a key JSON never writes
    ("2", [_at()]),                                     # not an object
    ("2", {**_at(), "offset": True}),                   # bool is no offset
    ("2", {**_at(), "offset": "7"}),
    ("2", {**_at(), "offset": 7.0}),
    ("2", {**_at(), "version": True}),
    ("2", {**_at(), "version": str(READS + 1)}),
    ("2", {**_at(), "version": float(READS + 1)}),
    ("2", {**_at(), "topic": None}),
    ("2", {"offset": 7, "version": READS + 1}),
])
def test_a_malformed_hold_is_skipped_and_the_others_still_hold(bad: tuple[Any, Any]) -> None:
    """Each entry on its own: the malformed one first, a good one after it still read."""
    part, at = bad
    held = {part: at, "5": _at(offset=9, topic="r2")}
    offsets = {str(part): 7, "5": 9}
    assert rh.holds(_extra(held, offsets), READS) == {5: ("r2", 9, READS + 1)}


@pytest.mark.parametrize("extra", [
    {}, {rh.KEY: {"0": _at()}}, {"review_offsets": {"0": 7}},
    {"review_offsets": [7], rh.KEY: {"0": _at()}}, {"review_offsets": {"0": 7}, rh.KEY: [1]},
])
def test_no_holds_without_both_the_offsets_and_the_holds(extra: dict[str, Any]) -> None:
    assert rh.holds(extra, READS) == {}


def test_holds_are_written_by_partition_in_number_order_and_read_back() -> None:
    """As the checkpoint's JSON keeps them: partition 10 after 2 (text order put it first),
    a partition's new hold replacing its old one, the others kept."""
    extra: dict[str, Any] = {"review_offsets": {"1": 4, "2": 5, "10": 6}}
    rh.hold(extra, 10, ("t", 6, READS + 1))
    rh.hold(extra, 2, ("t", 3, READS + 1))
    rh.hold(extra, 1, ("u", 4, READS + 3))
    rh.hold(extra, 2, ("t", 5, READS + 2))
    assert json.dumps(extra[rh.KEY]) == json.dumps({
        "1": {"topic": "u", "offset": 4, "version": READS + 3},
        "2": {"topic": "t", "offset": 5, "version": READS + 2},
        "10": {"topic": "t", "offset": 6, "version": READS + 1}})
    assert rh.holds(extra, READS) == {
        1: ("u", 4, READS + 3), 2: ("t", 5, READS + 2), 10: ("t", 6, READS + 1)}


def test_release_drops_every_hold_and_nothing_else() -> None:
    extra: dict[str, Any] = {"review_offsets": {"0": 7}, "other": 1}
    rh.release(extra)  # nothing held: nothing to drop, no error
    assert extra == {"review_offsets": {"0": 7}, "other": 1}
    rh.hold(extra, 0, ("t", 7, READS + 1))
    rh.release(extra)
    assert extra == {"review_offsets": {"0": 7}, "other": 1}
    assert rh.holds(extra, READS) == {}
