"""A row's top reasons (split from `detector.core.engine` so that mypyc compiles it: it runs
for every row with a rule fired or a term above the floor)."""

from __future__ import annotations

from operator import itemgetter

from detector.core.calibration import TERMS
from detector.core.surprise import GRADES

_RANK = itemgetter(0)
#: Each term's column in `values`, and the rule that grades it (None: none).
_TERM: dict[str, tuple[int, str | None]] = {
    name: (i, GRADES.get(name)) for i, name in enumerate(TERMS)}


def top_reasons(fired: dict[str, str], values: list[float], reasons: dict[str, str],
                model: str | None, floor: float) -> list[str]:
    """Up to three reasons: fired rules' first (in rule order), then the terms above the
    floor by surprise (a term graded by a fired rule gives way to it), then the model's.

    The terms are read from `reasons` (one or two a row, of 12 terms: ~1.5 us a call
    against ~2.2 reading every term), taken in `TERMS` order as the ranking's ties need."""
    ranked: list[tuple[float, str]] = []
    if fired:
        for i, r in enumerate(fired.values()):
            ranked.append((1e9 - i, r))
    if len(reasons) == 1:
        for name, reason in reasons.items():
            term = _TERM.get(name)
            if term is not None:
                value = values[term[0]]
                if value > floor and term[1] not in fired:
                    ranked.append((value, f"{reason} (surprise {value:.1f})"))
    elif reasons:
        found: list[tuple[int, str, str | None]] = []
        for name, reason in reasons.items():
            term = _TERM.get(name)
            if term is not None:
                found.append((term[0], reason, term[1]))
        found.sort(key=_RANK)
        for i, reason, grade in found:
            value = values[i]
            if value > floor and grade not in fired:
                ranked.append((value, f"{reason} (surprise {value:.1f})"))
    if model is not None:
        ranked.append((-1.0, model))
    if len(ranked) == 1:
        return [ranked[0][1]]
    return _top(ranked)


def _top(ranked: list[tuple[float, str]]) -> list[str]:
    """The first three distinct texts, highest first, ties in the order given (a reversed
    sort is stable too)."""
    ranked.sort(key=_RANK, reverse=True)
    out: list[str] = []
    for _, text in ranked:
        if text not in out:
            out.append(text)
            if len(out) == 3:
                break
    return out
