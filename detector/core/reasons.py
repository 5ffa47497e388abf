"""A row's top reasons (split from `detector.core.engine` so that mypyc compiles it: it runs
for every row with a rule fired or a term above the floor)."""

from __future__ import annotations

from operator import itemgetter

from detector.core.calibration import TERMS
from detector.core.surprise import GRADES

_RANK = itemgetter(0)


def top_reasons(fired: dict[str, str], values: list[float], reasons: dict[str, str],
                model: str | None, floor: float) -> list[str]:
    """Up to three reasons: fired rules' first (in rule order), then the terms above the
    floor by surprise (a term graded by a fired rule gives way to it), then the model's."""
    ranked: list[tuple[float, str]] = [(1e9 - i, r) for i, r in enumerate(fired.values())]
    for i in range(len(TERMS)):
        name = TERMS[i]
        reason = reasons.get(name)
        value = values[i]
        if reason is not None and value > floor and GRADES.get(name) not in fired:
            ranked.append((value, f"{reason} (surprise {value:.1f})"))
    if model is not None:
        ranked.append((-1.0, model))
    # highest first, ties in the order above (a reversed sort is stable too)
    ranked.sort(key=_RANK, reverse=True)
    out: list[str] = []
    for _, text in ranked:
        if text not in out:
            out.append(text)
            if len(out) == 3:
                break
    return out
