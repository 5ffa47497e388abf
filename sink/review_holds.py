"""The reviews partitions the sink holds at a review a newer release wrote (docs/review.md,
"Rollbacks"), kept in the checkpoint beside the offsets they hold (`review_offsets`), so that
a restart tells them (run.json's `held_reviews`, its WARNING) before the held review is read
again. Before (fixes19) they lived in memory only: a restart's first rollups said nothing.

A hold is taken back as its checkpoint is read when it no longer matches: its partition's
offset moved or was reset (a reviews topic created again), or this release reads its
version (the newer release run on the folder)."""

from __future__ import annotations

from typing import Any

#: The checkpoint's `extra` key: partition -> {"topic", "offset", "version"}.
KEY = "held_reviews"

#: A held partition: (reviews topic, the held review's offset, its schema version).
Hold = tuple[str, int, int]


def holds(extra: dict[str, Any], reads: int) -> dict[int, Hold]:
    """The holds the checkpoint's `extra` keeps that still hold: at their partition's
    checkpointed offset, of a version past `reads` (this release's)."""
    offsets, held = extra.get("review_offsets"), extra.get(KEY)
    if not (isinstance(offsets, dict) and isinstance(held, dict)):
        return {}
    kept: dict[int, Hold] = {}
    for part, at in held.items():
        if not (isinstance(part, str) and part.isdigit() and isinstance(at, dict)):
            continue
        topic, offset, version = at.get("topic"), at.get("offset"), at.get("version")
        if (type(offset) is int and type(version) is int and isinstance(topic, str)
                and version > reads and offsets.get(part) == offset):
            kept[int(part)] = (topic, offset, version)
    return kept


def hold(extra: dict[str, Any], part: int, at: Hold) -> None:
    """Keep partition `part` held at `at` in the checkpoint's `extra`."""
    topic, offset, version = at
    held = dict(extra.get(KEY, {}))
    held[str(part)] = {"topic": topic, "offset": offset, "version": version}
    extra[KEY] = dict(sorted(held.items(), key=lambda item: int(item[0])))


def release(extra: dict[str, Any]) -> None:
    """Hold nothing (the reviews topic was created again: its offsets start again)."""
    extra.pop(KEY, None)
