"""A lasting change of hours is learnt from the purchases on hold too (issue 13 item 5),
while an attack's later purchases still find its device unknown (item 4)."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.features import event_seconds, observe
from detector.core.hourtail import BROKE, hour_tail, night_mass, recent_hours
from detector.core.knobs import Knobs
from detector.core.rules import odd_hour
from detector.core.state import Context, CustomerState, Population
from shared.schemas import Transaction
from tests.unit.test_core_surprise import CONFIG, START, _crowd, _regular, scored_terms, tx

#: The older test of a change of hours (two recent breaks of the habit), as a setting.
OLDER = CoreConfig(hour_change_prior=0.0)

#: The surprise of a value seen once among the recent events: -ln(weight / size) = ln 16.
ONCE_RECENT = -math.log(CONFIG.context_weight / CONFIG.context_size)


def _day_customer(days: int = 60) -> list[Transaction]:
    """A crowd and one customer who buys at 09, 12, 15 and 18 h, never at night."""
    return sorted([*_crowd(), *_regular(days)], key=lambda r: r.timestamp)


def test_a_night_purchase_after_one_on_hold_is_not_charged_for_its_hour_again() -> None:
    """The first night purchase is held (it looked anomalous); twenty minutes later the
    customer is still awake at 02 h: the hour is no news (before: charged the same again)."""
    base = _day_customer()
    night = base[-1].timestamp.replace(hour=0) + timedelta(days=1)
    first = tx(200, night + timedelta(hours=2, minutes=10), 45.0)
    second = tx(201, night + timedelta(hours=2, minutes=30), 47.0)
    terms = scored_terms([*base, first, second])
    assert terms[-2]["hour"] > CONFIG.surprise_floor + 4
    assert terms[-1]["hour"] <= ONCE_RECENT + 1e-9  # was within 0.1 of the first's


#: The surprise of an hour within 1 h of two recent events: -ln(2 weight / size) = ln 8.
TWICE_RECENT = -math.log(2 * CONFIG.context_weight / CONFIG.context_size)


@pytest.mark.parametrize("prior", [0.0, CONFIG.hour_change_prior])
def test_a_night_shift_is_learnt_from_its_first_nights_held_purchases(prior: float) -> None:
    """Three purchases a night between 01 and 03 h: from the second night on, no hour
    term above the floor; the first night's third purchase (two on hold within 1 h of it)
    is no more surprising than an hour seen twice among the recent events. Both tests of a
    change (`hour_change_prior` 0, the older one, and the default)."""
    base = _day_customer()
    night = base[-1].timestamp.replace(hour=0) + timedelta(days=1)
    rows = [tx(200 + 3 * d + k, night + timedelta(days=d, hours=1, minutes=40 * k + 7 * d),
               45.0 + k) for d in range(4) for k in range(3)]
    config = CoreConfig(hour_change_prior=prior)
    hour = [t["hour"] for t in scored_terms([*base, *rows], config)[-len(rows):]]
    assert hour[0] > config.surprise_floor + 4
    assert hour[2] <= TWICE_RECENT + 1e-9
    assert max(hour[3:]) <= config.surprise_floor


def test_a_night_takeover_still_finds_its_device_unknown() -> None:
    """Three purchases within 40 minutes at 02 h on a new device, channel and network: the
    hour of the later ones counts as known, their device, network and channel do not, and
    each is still held (its combined surprise reaches `quarantine_above`)."""
    base = _day_customer()
    night = base[-1].timestamp.replace(hour=0) + timedelta(days=1)
    attack = [tx(300 + k, night + timedelta(hours=2, minutes=20 * k), 400.0 - 10 * k,
                 device="emulator", channel="web", ip="81.2.3.4") for k in range(3)]
    held: list[int] = []
    engine = PartitionEngine(CONFIG)
    engine.process(base)
    terms = scored_terms([*base, *attack])[-3:]
    for row in attack:
        engine.process([row])
        state = engine._state()[0].get("c1", event_seconds(row))
        held.append(len(state.pending))
    assert held == [1, 2, 3]
    for later in terms[1:]:
        assert later["hour"] <= ONCE_RECENT + 1e-9
        for name in ("device", "ip_network", "channel"):  # a value seen recently: ln 16
            assert later[name] > ONCE_RECENT + 1.0, name


def _hours_state(recent: list[int], held: list[int]) -> tuple[CustomerState, Population]:
    """A customer with 60 purchases at 09-18 h, `recent` the hours of their last learnt
    events and `held` those of events on hold."""
    st = CustomerState()
    hours = [0] * 24
    for h in (9, 12, 15, 18):
        hours[h] = 15
    st.hours = bytearray(hours)
    st.context = [_context(h) for h in recent]
    st.pending = [(1e9, _context(h)) for h in held]
    pop = Population()
    pop.hours = [100 if 8 <= h <= 20 else 2 for h in range(24)]
    pop.total = sum(pop.hours)
    return st, pop


def _context(hour: int) -> Context:
    return ("CH", "mobile", "192.168.1", "app", "grocery", hour, 4.0)


@pytest.mark.parametrize(("held", "mixed"), [([], False), ([3], True), ([3, 4], True)])
def test_the_change_under_way_counts_the_held_hours_from_exactly_two_breaks(
        held: list[int], mixed: bool) -> None:
    """One learnt night purchase among day ones is not yet a change; with one more on hold
    (two breaks: the gate) the hours are a mixture and 02 h is far less surprising."""
    knobs = Knobs(OLDER)
    st, pop = _hours_state([9, 12, 15, 18, 9, 12, 15, 1], held)
    assert recent_hours(st) == [9, 12, 15, 18, 9, 12, 15, 1, *held]
    tail = hour_tail(st, pop, 2, knobs)
    alone = hour_tail(_hours_state([9, 12, 15, 18, 9, 12, 15, 1], [])[0], pop, 2, knobs)
    assert (tail > 20 * alone) is mixed
    assert (night_mass(st, pop, knobs.night_hours, knobs) > 0.0) is mixed


def _night_observation(st: CustomerState, pop: Population, share: float,
                       prior: float = 0.0) -> bool:
    """Whether `odd_hour` fires on a 01 h purchase of this customer at `odd_hour_max_share`
    `share` (and `hour_change_prior` `prior`: the older test by default)."""
    knobs = Knobs(CoreConfig(odd_hour_max_share=share, hour_change_prior=prior))
    purchase = tx(1, START.replace(hour=1), 45.0)
    o = observe(purchase, event_seconds(purchase), st, pop, knobs)
    return odd_hour(o, knobs) is not None


def test_odd_hour_reads_the_night_share_of_a_change_under_way_at_its_threshold() -> None:
    """A customer whose last evenings (22-23 h) broke their day habit: the rule's night
    share is the mixture's (more than the 4% default: silent); at a threshold exactly that
    share it fires, one unit (ulp) below it not, above it again."""
    knobs = Knobs(OLDER)
    st, pop = _hours_state([9, 12, 15, 22, 23, 22, 23, 22], [])
    mass = night_mass(st, pop, knobs.night_hours, knobs)
    assert mass > CONFIG.odd_hour_max_share
    assert not _night_observation(st, pop, CONFIG.odd_hour_max_share)  # fired before
    assert _night_observation(st, pop, mass)
    assert not _night_observation(st, pop, math.nextafter(mass, 0.0))
    assert _night_observation(st, pop, math.nextafter(mass, 1.0))


@pytest.mark.parametrize("prior", [0.0, CONFIG.hour_change_prior])
def test_odd_hour_still_fires_for_a_day_customer_without_a_change(prior: float) -> None:
    """No recent break: no mixture, the rule fires on the first night purchase as before."""
    knobs = Knobs(CoreConfig(hour_change_prior=prior))
    st, pop = _hours_state([9, 12, 15, 18, 9, 12, 15, 18], [])
    assert night_mass(st, pop, knobs.night_hours, knobs) == 0.0
    assert _night_observation(st, pop, CONFIG.odd_hour_max_share, prior)


@pytest.mark.parametrize(("recent", "mixed"), [([1], False), ([1, 3], True), ([1, 3, 2], True)])
def test_the_night_mass_counts_a_change_from_exactly_two_recent_hours(
        recent: list[int], mixed: bool) -> None:
    """A day customer whose only recent events are night ones (all breaks): one is not yet
    a change (no night mass), two are (the gate of `hour_tail`), three too."""
    knobs = Knobs(OLDER)
    st, pop = _hours_state(recent, [])
    assert (night_mass(st, pop, knobs.night_hours, knobs) > 0.0) is mixed


@pytest.mark.parametrize("prior", [0.0, CONFIG.hour_change_prior])
def test_a_customer_with_only_held_events_has_no_night_mass_and_a_plain_hour_tail(
        prior: float) -> None:
    """Two first purchases both on hold: no learnt hours, so no long habit to break (no
    mixture to read), whatever the hours on hold."""
    knobs = Knobs(CoreConfig(hour_change_prior=prior))
    st, pop = _hours_state([], [1, 2])
    st.hours = bytearray(24)
    assert recent_hours(st) == [1, 2]
    assert night_mass(st, pop, knobs.night_hours, knobs) == 0.0
    assert hour_tail(st, pop, 2, knobs) == 1.0


@pytest.mark.parametrize(("hour", "mixed"), [(7, True), (8, False), (9, False)])
def test_a_recent_hour_breaks_the_habit_only_below_the_e3_edge(hour: int, mixed: bool
                                                               ) -> None:
    """A day customer's recent 01 h purchase (a break) and one at `hour`: 07 h has a tail
    below e^-3 under the long habit (a second break: a change under way), 08 h is the
    least common hour beyond it (at the edge: no break), 09 h a habit hour."""
    knobs = Knobs(OLDER)
    plain, pop = _hours_state([9], [])  # fewer than two recent hours: the long habit
    assert hour_tail(plain, pop, 7, knobs) < BROKE < hour_tail(plain, pop, 8, knobs)
    assert hour_tail(plain, pop, 8, knobs) < hour_tail(plain, pop, 9, knobs)
    st, pop = _hours_state([9, 12, 15, 18, 9, 12, 1, hour], [])
    assert (night_mass(st, pop, knobs.night_hours, knobs) > 0.0) is mixed
