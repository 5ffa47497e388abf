"""The hour term's tail at its edges: the population's hours as the prior of a customer
with few, and the change of habit that exactly two recent breaks start (issue 13's
mutation run found both untested)."""

from __future__ import annotations

import pytest

from detector.core.config import CoreConfig
from detector.core.hourtail import BROKE, hour_tail
from detector.core.knobs import Knobs
from detector.core.state import CustomerState, Population

CONFIG = CoreConfig(hour_change_prior=0.0)  # the older test of a change (two breaks)
KNOBS = Knobs(CONFIG)


def test_a_customer_with_few_hours_is_shrunk_to_the_populations_hours() -> None:
    """Three purchases at 12 h: 20 h, where the population buys, is ordinary for them
    (the prior is `prior_weight` pseudo-events spread as the population's hours); 03 h,
    where nobody buys, is not."""
    st, pop = CustomerState(), Population()
    st.hours[12] = 3
    pop.hours[20] = pop.total = 1000
    assert hour_tail(st, pop, 20, KNOBS) > 0.4
    assert hour_tail(st, pop, 3, KNOBS) < 0.02
    assert hour_tail(st, pop, 12, KNOBS) == pytest.approx(1.0, abs=1e-9)


def _day_customer(recent: list[int]) -> CustomerState:
    """600 purchases at 11-13 h, the last learnt events at the hours `recent`."""
    st = CustomerState()
    for h in (11, 12, 13):
        st.hours[h] = 200
    st.context = [("IT", "pc", "10.0.0", "app", "food", h, 4.0) for h in recent]
    return st


@pytest.mark.parametrize(("recent", "hour", "changed"), [  # the last learnt events' hours
    ([2], 2, False),        # one break alone: by chance
    ([12, 2], 2, False),    # two recent events, one of them a break
    ([2, 2], 2, True),      # exactly two breaks: a change under way
    ([12, 2, 2], 2, True),
    ([23, 23], 23, True),   # across midnight: spread to 21 h .. 01 h
])
def test_exactly_two_recent_breaks_of_the_habit_start_a_change(
        recent: list[int], hour: int, changed: bool) -> None:
    pop = Population()
    st = _day_customer(recent)
    plain = hour_tail(_day_customer([]), pop, hour, KNOBS)
    assert plain <= BROKE  # the hour breaks the day habit
    tails = [hour_tail(st, pop, h, KNOBS) for h in range(24)]
    if not changed:
        assert tails[hour] == plain
        return
    assert tails[hour] > 0.5  # the recent breaks' hour is likely under the mixture
    # the mixture is a distribution: the tail of its likeliest hour is all its mass, and
    # every hour keeps some (the long habit and the breaks weigh 1 - share and share)
    assert max(tails) == pytest.approx(1.0)
    assert min(tails) > 0.0
    if 12 in recent:  # a third of the recent events kept the habit: its hours stay usual
        assert tails[12] > 0.5
    if all(h == hour for h in recent):  # only breaks: the long habit has no weight left
        assert tails[hour] == pytest.approx(1.0)  # the breaks' hour is the likeliest
        before, after = tails[(hour - 1) % 24], tails[(hour + 1) % 24]
        assert before == pytest.approx(after)  # spread evenly both sides
        assert before > max(tails[(hour - 3) % 24], tails[(hour + 3) % 24])
