"""A bounded count of names: the least `k` names, each with its count, exact under any cut.

A name kept in the end is among the least `k` of every part of the stream that holds it
(fewer than `k` names below it in the whole, so fewer in any part): each batch, worker
slice and restart counted all its rows, and merged parts give the whole's counts whatever
the cuts. A "first `k` seen" would drop a later-kept name's rows from a part where `k`
others came first (run.json's `unknown_scored_fields` did, until 2026-12-06).
"""

from __future__ import annotations

from collections.abc import Mapping


def add_least(counts: dict[str, int], name: str, n: int, k: int) -> str | None:
    """Add `n` to `name`'s count in `counts`, which keeps the `k` least names; the name
    this leaves out (`name` itself, or the greatest kept, which it replaced), else None."""
    if name in counts:
        counts[name] += n
        return None
    out = None
    if len(counts) >= k:
        most = max(counts)
        if name > most:
            return name
        del counts[most]
        out = most
    counts[name] = n
    return out


def merge_least(into: dict[str, int], counts: Mapping[str, int], k: int) -> set[str]:
    """Add `counts` (name -> count, the least `k` of a part) into `into`; the names left
    out."""
    out: set[str] = set()
    for name, n in counts.items():
        if (left := add_least(into, name, n, k)) is not None:
            out.add(left)
    return out - into.keys()
