"""The engine's faster Python around the kernel gives what the code it replaced gave
(issue 14): each reference below is that code as it was, verbatim; the fast route must
agree with it exactly on hypothesis-generated inputs. bench/core_parity.py checks the same
on whole streams (every verdict's digest)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.core.calibration import TERMS
from detector.core.features import event_seconds
from detector.core.reasons import top_reasons
from detector.core.rules import RULES
from detector.core.surprise import GRADES
from detector.kernel.rows import event_times


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


class _Row:
    """A row with only a timestamp (`event_times` reads nothing else)."""

    def __init__(self, timestamp: datetime) -> None:
        self.timestamp = timestamp


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(
    st.datetimes(),  # any naive time, years 1-9999: beyond 2^53 us of 1970 too
    st.datetimes(min_value=datetime(1969, 12, 31), max_value=datetime(1970, 1, 2)),
    st.datetimes(min_value=datetime(2100, 12, 31), max_value=datetime(2101, 1, 1))),
    max_size=40))
def test_event_times_are_event_seconds_and_the_hour(stamps: list[datetime]) -> None:
    rows: Any = [_Row(s) for s in stamps]
    t, hour = event_times(rows)
    before = [event_seconds(row) for row in rows]  # as `score_rows` read them before
    assert t.dtype == np.float64 and hour.dtype == np.int64
    assert [x.hex() for x in t.tolist()] == [x.hex() for x in before]
    assert hour.tolist() == [s.hour for s in stamps]
