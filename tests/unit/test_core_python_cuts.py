"""The engine's faster Python around the kernel gives what the code it replaced gave
(issue 14): each reference below is that code as it was, verbatim; the fast route must
agree with it exactly on hypothesis-generated inputs. bench/core_parity.py checks the same
on whole streams (every verdict's digest)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from detector.core.calibration import TERMS
from detector.core.reasons import top_reasons
from detector.core.rules import RULES
from detector.core.surprise import GRADES


def _top_reasons_before(fired: dict[str, str], values: list[float], reasons: dict[str, str],
                        model: str | None, floor: float) -> list[str]:
    """`top_reasons` before it read only the terms in `reasons` (every term, in order)."""
    ranked: list[tuple[float, str]] = [(1e9 - i, r) for i, r in enumerate(fired.values())]
    for i in range(len(TERMS)):
        name = TERMS[i]
        reason = reasons.get(name)
        value = values[i]
        if reason is not None and value > floor and GRADES.get(name) not in fired:
            ranked.append((value, f"{reason} (surprise {value:.1f})"))
    if model is not None:
        ranked.append((-1.0, model))
    ranked.sort(key=lambda r: r[0], reverse=True)
    out: list[str] = []
    for _, text in ranked:
        if text not in out:
            out.append(text)
            if len(out) == 3:
                break
    return out


#: Few distinct values and texts, so that ties, equal texts and the floor's edge come up.
_VALUE = st.one_of(st.sampled_from([-2.0, -1.0, 0.0, 1.0, 2.0, 2.04, 2.05, 3.0, 1e9]),
                   st.floats(allow_nan=True, allow_infinity=True))
_TEXT = st.sampled_from(["a", "b", "a (surprise 2.0)", "model"])


@settings(max_examples=1500, deadline=None)
@given(fired=st.dictionaries(st.sampled_from(list(RULES)), _TEXT, max_size=4),
       values=st.lists(_VALUE, min_size=len(TERMS), max_size=len(TERMS)),
       reasons=st.dictionaries(st.sampled_from([*TERMS, "not_a_term"]), _TEXT, max_size=6),
       model=st.none() | _TEXT,
       floor=st.sampled_from([-1.5, 0.0, 2.0, 2.05]))
def test_top_reasons_is_the_reading_of_every_term(
        fired: dict[str, str], values: list[float], reasons: dict[str, str],
        model: str | None, floor: float) -> None:
    # the reasons' keys in any order (a dict's order is its insertion's)
    assert top_reasons(fired, values, reasons, model, floor) == _top_reasons_before(
        fired, values, reasons, model, floor)
    backwards = dict(reversed(list(reasons.items())))
    assert top_reasons(fired, values, backwards, model, floor) == _top_reasons_before(
        fired, values, backwards, model, floor)
