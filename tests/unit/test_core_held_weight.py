"""What a suspicious event teaches the long habits (`habits.held_weight`): in proportion to
how plausible it is as ordinary, so an attack's own rows do not make a habit of it, and in
full from a checkpoint written before the weights (docs/benchmarks.md, "Slow attacks")."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from detector.core.calibration import TERMS
from detector.core.config import CoreConfig
from detector.core.features import event_seconds, observe
from detector.core.habits import held_weight, learn, release
from detector.core.knobs import Knobs
from detector.core.packed import pack_fields, unpack
from detector.core.state import NOVELTY, CustomerState, Population
from detector.core.surprise import combine
from shared.schemas import Transaction

CONFIG = CoreConfig()
Q = CONFIG.quarantine_above
T0 = datetime(2025, 3, 3, 12, 0)
DEVICE = NOVELTY.index("device")


def _tx(at: datetime, amount: float = 50.0, device: str = "mobile") -> Transaction:
    return Transaction(transaction_id="t", customer_id="c", timestamp=at, amount=amount,
                       country="CH", channel="app", device=device,
                       merchant_category="grocery", ip="10.1.2.3")


def _learn(st: CustomerState, pop: Population, tx: Transaction, surprise: float,
           cfg: CoreConfig = CONFIG, values: list[float] | None = None) -> None:
    t, knobs = event_seconds(tx), Knobs(cfg)
    release(st, pop, knobs, t)
    learn(t, st, pop, knobs, observe(tx, t, st, pop, knobs), surprise, 0.0, values)


def _after_a_held_tablet(surprise: float, cfg: CoreConfig = CONFIG,
                         values: list[float] | None = None) -> tuple[CustomerState, float]:
    """A customer's state once a purchase of 900 on a new tablet, scored `surprise`, has
    been held and learnt; and what it added to the rate of new devices' exposure."""
    st, pop = CustomerState(), Population()
    for i in range(3):
        _learn(st, pop, _tx(T0 + timedelta(hours=i)), 0.0, cfg)
    _learn(st, pop, _tx(T0 + timedelta(hours=5), 900.0, "tablet"), surprise, cfg, values)
    before = st.explore[DEVICE]
    _learn(st, pop, _tx(T0 + timedelta(hours=5, seconds=cfg.quarantine_s)), 0.0, cfg)
    return st, st.explore[DEVICE] - before


def test_held_weight_is_one_up_to_quarantine_above_then_falls_exponentially() -> None:
    knobs = Knobs(CONFIG)
    assert held_weight(Q - 1.0, knobs) == 1.0 and held_weight(Q, knobs) == 1.0
    assert held_weight(Q + 1.0, knobs) == pytest.approx(math.exp(-1.0))
    assert held_weight(Q + 3.0, knobs) == pytest.approx(math.exp(-3.0))
    half = Knobs(CoreConfig(quarantine_discount=0.5))
    assert held_weight(Q + 2.0, half) == pytest.approx(math.exp(-1.0))
    assert held_weight(Q + 50.0, Knobs(CoreConfig(quarantine_discount=0.0))) == 1.0


# w = e^-0.69 = 0.5016 keeps the new value "seen once" and the amount; e^-0.70 = 0.4966 not
@pytest.mark.parametrize(("excess", "seen_once"), [(0.69, True), (0.70, False)])
def test_a_held_new_value_counts_as_tried_once_only_from_weight_one_half(
        excess: float, seen_once: bool) -> None:
    st, _ = _after_a_held_tablet(Q + excess)
    assert st.devices["tablet"] == (1 if seen_once else 2)  # known either way
    assert (max(st.amounts) > math.log(500.0)) is seen_once
    assert [c[1] for c in st.context].count("tablet") == 1  # the recent context as ever


def test_a_held_event_adds_its_weight_of_exposure_to_the_rate_of_new_values() -> None:
    _, full = _after_a_held_tablet(Q + 2.0, CoreConfig(quarantine_discount=0.0))
    _, weighted = _after_a_held_tablet(Q + 2.0)
    _, ordinary = _after_a_held_tablet(Q + 50.0)  # weight ~0: only the later event's
    assert weighted - ordinary == pytest.approx(math.exp(-2.0) * (full - ordinary))
    assert full > ordinary > 0.0


def test_a_new_values_novelty_is_weighed_by_the_rest_of_the_event() -> None:
    values = [0.0] * len(TERMS)
    values[TERMS.index("device")] = 12.0  # only the new device is news
    surprise = combine(values, Knobs(CONFIG))
    st, _ = _after_a_held_tablet(surprise, values=values)
    assert st.devices["tablet"] == 1  # tried once: a new value does not discount itself
    assert max(st.amounts) < math.log(500.0)  # the amount: by the whole event's surprise
    values[TERMS.index("amount_high")] = Q + 2.7  # the rest beyond quarantine_above + 0.7
    st, _ = _after_a_held_tablet(combine(values, Knobs(CONFIG)), values=values)
    assert st.devices["tablet"] == 2


def test_a_held_event_from_a_checkpoint_before_the_weights_is_learnt_in_full() -> None:
    st, pop = CustomerState(), Population()
    knobs = Knobs(CONFIG)
    _learn(st, pop, _tx(T0), 0.0)
    st.pending = [(event_seconds(_tx(T0)) + 60.0,
                   ("CH", "tablet", "10.1.2", "app", "grocery", 12, math.log(900.0)))]
    release(st, pop, knobs, event_seconds(_tx(T0)) + 60.0)
    assert st.devices["tablet"] == 1 and max(st.amounts) > math.log(500.0) and not st.pending


def test_with_no_discount_a_held_event_is_learnt_in_full() -> None:
    st, _ = _after_a_held_tablet(Q + 50.0, CoreConfig(quarantine_discount=0.0))
    assert st.devices["tablet"] == 1 and max(st.amounts) > math.log(500.0)


@pytest.mark.parametrize("weights", [[], [0.25, 0.5]])
def test_a_held_event_record_reads_back_with_or_without_its_weights(
        weights: list[float]) -> None:
    held = ["CH", "tablet", "10.1.2", "app", "grocery", 12, 6.8, *weights]
    st = unpack(pack_fields({"pending": [[1.5, held]]}))
    assert st.pending == [(1.5, tuple(held))]
    for wrong in (held[:6], [*held, *[1.0] * (10 - len(held))]):  # 6 or 10 fields
        with pytest.raises(ValueError, match="pending"):
            pack_fields({"pending": [[1.5, wrong]]})


@pytest.mark.parametrize("size", [7, 8, 9])
def test_a_held_event_record_of_8_values_is_refused_as_read(size: int) -> None:
    """A held event has 7 values, or 9 with its two weights (`habits.Weighted`): 8 is
    neither (one weight without the other); read, it crashed at the event's release
    (`_learn_held` reads place 8), the customer's every transaction failing from then."""
    held = ["CH", "tablet", "10.1.2", "app", "grocery", 12, 6.8, 0.25, 0.5][:size]
    if size == 8:
        with pytest.raises(ValueError, match=r"'pending'.*8 values at held event 0"):
            pack_fields({"pending": [[1.5, held]]})
        return
    st = unpack(pack_fields({"pending": [[1.5, held]]}))
    release(st, Population(), Knobs(CoreConfig()), 1.5)  # learnt, no IndexError
    assert not st.pending and "tablet" in st.devices


@pytest.mark.parametrize("at, value", [
    (0, 7), (4, 1.5), (5, "12"), (5, 12.0), (5, -1), (5, 24), (6, "6.8"), (7, "0.25"),
    (8, "x")])
def test_a_held_event_record_with_a_value_of_another_kind_is_refused_as_read(
        at: int, value: object) -> None:
    held: list[object] = ["CH", "tablet", "10.1.2", "app", "grocery", 12, 6.8, 0.25, 0.5]
    held[at] = value
    with pytest.raises(ValueError, match=r"'pending'.*held event 0"):
        pack_fields({"pending": [[1.5, held]]})


@pytest.mark.parametrize("hour", [0, 23])
def test_a_held_event_record_takes_every_hour_of_the_day(hour: int) -> None:
    held = ["CH", "tablet", "10.1.2", "app", "grocery", hour, 6.8, 1, 0.5]
    (_, event), = unpack(pack_fields({"pending": [[1.5, held]]})).pending
    assert event == tuple(held)


def test_at_quarantine_above_the_weight_is_one_even_with_an_infinite_discount() -> None:
    """An infinite discount (allowed: a suspicious event then teaches nothing) still
    leaves an event at exactly `quarantine_above` an ordinary one: no excess, no discount
    (e^-(inf x 0) would be nan, which would poison the rates it is added to)."""
    knobs = Knobs(CoreConfig(quarantine_discount=math.inf))
    assert held_weight(math.nextafter(Q, 0.0), knobs) == 1.0
    assert held_weight(Q, knobs) == 1.0
    assert held_weight(math.nextafter(Q, math.inf), knobs) == 0.0


@pytest.mark.parametrize(("hold_s", "held"), [(0.0, False), (1.0, True), (2.0, True)])
def test_any_positive_hold_holds_a_suspicious_event(hold_s: float, held: bool) -> None:
    """`quarantine_s` 0 turns the hold off; one second (and more) is a hold: a purchase
    on a new device scored `quarantine_above` waits, its device not yet known."""
    st, pop = CustomerState(), Population()
    cfg = CoreConfig(quarantine_s=hold_s)
    _learn(st, pop, _tx(T0), 0.0, cfg)
    _learn(st, pop, _tx(T0 + timedelta(minutes=5), device="tablet"), Q, cfg)
    assert bool(st.pending) is held
    assert ("tablet" in st.devices) is not held
