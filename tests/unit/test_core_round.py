"""Round amounts (`CoreConfig.round_amounts`): roundness decided on the cents, the
customer's share shrunk to the population's, a run of round amounts judged against it, and
state written before the counters restoring with them at zero."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from detector.core.calibration import TERMS
from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.features import Observation, event_seconds, observe
from detector.core.habits import _learn_round, learn, release
from detector.core.knobs import Knobs
from detector.core.packed import pack, pack_fields, unpack
from detector.core.state import CustomerState, Population, count_round, round_level
from detector.core.surprise import (
    binomial_tail,
    fold_round,
    round_reason,
    round_surprise,
    round_tail,
    terms,
)
from shared.schemas import Transaction
from tests.unit.state_stream import stream

ON = CoreConfig()  # on by default
OFF = CoreConfig(round_amounts=False)
KNOBS = Knobs(ON)
START = datetime(2025, 3, 3)
DATA = Path(__file__).resolve().parents[1] / "data" / "state"


def tx(i: int, amount: float, minutes: float, customer: str = "c1") -> Transaction:
    return Transaction(
        transaction_id=f"{customer}-{i}", customer_id=customer,
        timestamp=START + timedelta(minutes=minutes), amount=amount, country="CH",
        channel="app", device="mobile", merchant_category="grocery", ip="192.168.1.7")


@pytest.mark.parametrize(("amount", "level"), [
    (0.99, 0), (1.00, 1), (1.01, 0),
    (9.99, 0), (10.00, 2), (10.01, 0),
    (99.99, 0), (100.00, 3), (100.01, 0),
    (999.99, 0), (1000.00, 4), (1000.01, 0),
    (20000.00, 4),  # beyond the last step: as round as the last level
    (0.0, 0), (-50.0, 0), (0.10, 0),
])
def test_roundness_is_the_number_of_decimal_steps_dividing_the_cents(
        amount: float, level: int) -> None:
    assert round_level(amount) == level


def test_roundness_is_decided_on_the_cents_not_the_float() -> None:
    assert round_level(19.99 + 0.01) == 2  # 20.000000000000004 is 2000 cents
    assert round_level(0.1 + 0.2) == 0  # 0.30000000000000004: 30 cents
    assert round_level(69.999999) == 2  # 7000 cents after rounding
    assert round_level(70.004) == 2 and round_level(70.006) == 0  # half a cent either side


def test_the_counters_count_each_amount_at_every_level_it_reaches() -> None:
    counts = [0] * 5
    for amount in (12.34, 5.00, 50.00, 500.00, 5000.00):
        count_round(counts, round_level(amount))
    assert counts == [5, 4, 3, 2, 1]


def _population(share_whole: float, total: int = 10_000) -> Population:
    pop = Population()
    whole = int(total * share_whole)
    for i in range(total):
        pop.learn_round(1 if i < whole else 0)
    return pop


@pytest.mark.parametrize("counted", [19_999, 20_000, 20_001])
def test_the_populations_counters_halve_from_20000_amounts(counted: int) -> None:
    """A moving window: from 20 000 counted amounts every counter is halved (integer
    halves: exact) before the next amount is counted."""
    pop = Population()
    pop.rounds = [counted, 4001, 1001, 101, 11]
    pop.learn_round(2)
    if counted < 20_000:
        assert pop.rounds == [counted + 1, 4002, 1002, 101, 11]
    else:
        assert pop.rounds == [counted // 2 + 1, 2001, 501, 50, 5]
        assert all(type(c) is int for c in pop.rounds)


def test_a_short_history_is_judged_by_the_population_and_a_long_one_by_its_own() -> None:
    pop = _population(0.01)
    q = pop.round_share(1)
    assert q == pytest.approx(101 / 10_002)
    st = CustomerState()
    assert round_tail(1, st, pop, KNOBS) == pytest.approx(q)  # no history: everybody's
    w = KNOBS.prior_weight
    st.rounds = [3, 3, 0, 0, 0]  # three purchases, all whole: as much own as prior weight
    assert round_tail(1, st, pop, KNOBS) == pytest.approx((3 + w * q) / (3 + w))
    st.rounds = [300, 150, 0, 0, 0]  # a long history, half whole: its own share
    assert round_tail(1, st, pop, KNOBS) == pytest.approx((150 + w * q) / (300 + w))
    assert abs(round_tail(1, st, pop, KNOBS) - 0.5) < 0.01


def _customer_with_window(amounts: list[float]) -> CustomerState:
    st = CustomerState()
    st.window = [(60.0 * i, a, "grocery", "app") for i, a in enumerate(amounts)]
    return st


def test_a_single_round_amount_is_no_evidence_a_run_of_them_is() -> None:
    pop = _population(0.01)
    t = 3600.0
    alone = _customer_with_window([12.34, 56.78, 9.10])
    assert round_surprise(1, t, alone, pop, KNOBS) == (0.0, 1, 4)
    run = _customer_with_window([70.00, 70.00, 70.00])
    bits, k, m = round_surprise(2, t, run, pop, KNOBS)
    assert (k, m) == (4, 4)
    q = round_tail(2, run, pop, KNOBS)
    assert bits == pytest.approx(min(KNOBS.surprise_cap, -math.log(q ** 3)))
    assert bits > 10.0


def test_the_run_counts_the_last_day_to_the_second() -> None:
    pop = _population(0.01)
    st = _customer_with_window([70.00])  # at t = 0
    day = 86400.0
    assert round_surprise(2, day, st, pop, KNOBS)[1:] == (2, 2)  # exactly a day: counted
    assert round_surprise(2, day + 1.0, st, pop, KNOBS)[1:] == (1, 1)  # a second after: not
    assert round_surprise(2, day - 1.0, st, pop, KNOBS)[1:] == (2, 2)


def test_a_run_only_counts_amounts_at_least_this_round() -> None:
    pop = _population(0.01)
    st = _customer_with_window([7.00, 70.00, 700.00])
    assert round_surprise(3, 600.0, st, pop, KNOBS)[1:] == (2, 4)  # only 700.00 with 500.00
    assert round_surprise(2, 600.0, st, pop, KNOBS)[1:] == (3, 4)
    assert round_surprise(1, 600.0, st, pop, KNOBS)[1:] == (4, 4)


def test_a_population_of_whole_amounts_gives_no_surprise() -> None:
    pop = _population(1.0)
    st = _customer_with_window([12.00, 7.00, 31.00, 4.00, 18.00])
    bits, k, m = round_surprise(1, 600.0, st, pop, KNOBS)
    assert (k, m) == (6, 6)
    assert bits < 0.01
    regular = CustomerState()
    regular.rounds = [200, 200, 20, 2, 0]  # and a customer who always pays whole amounts
    regular.window = st.window
    assert round_surprise(1, 600.0, regular, _population(0.01), KNOBS)[0] < 0.1


@pytest.mark.parametrize(("amount", "level", "name"), [
    (7.00, 1, "whole amounts"), (70.00, 2, "whole tens"), (700.00, 3, "whole hundreds"),
    (7000.00, 4, "whole thousands")])
def test_the_reason_gives_the_run_the_customers_count_and_everybodys_share(
        amount: float, level: int, name: str) -> None:
    pop = Population()
    pop.rounds = [200, 50, 50, 50, 50]  # a quarter of everybody's amounts, at every level
    st = CustomerState()
    st.rounds = [40, 5, 5, 5, 5]
    assert round_reason(amount, level, 4, 5, st, pop, 86400.0) == (
        f"an amount of exactly {amount:.2f} (4 of 5 purchases within 24 h were {name}; 5 of "
        "this customer's 40 earlier purchases were as round; 25.0% of all purchases)")


def test_before_any_amount_is_counted_the_reason_says_so() -> None:
    """A fresh customer and population (a restore of state written before the counters):
    no share to divide, and no "0 of 0"."""
    assert round_reason(70.0, 2, 2, 2, CustomerState(), Population(), 3600.0) == (
        "an amount of exactly 70.00 (2 of 2 purchases within 60 min were whole tens; none "
        "of this customer's purchases counted yet; 0.0% of all purchases)")


def test_binomial_tail_at_its_edges() -> None:
    assert binomial_tail(0, 5, 0.3) == 1.0
    assert binomial_tail(6, 5, 0.3) == 0.0
    assert binomial_tail(5, 5, 1.0) == 1.0
    assert binomial_tail(1, 1, 0.25) == pytest.approx(0.25)
    assert binomial_tail(2, 3, 0.5) == pytest.approx(0.5)


@pytest.mark.parametrize(("k", "n", "tail"), [(0, 3, 1.0), (1, 3, 1e-300), (3, 3, 1e-300),
                                           (4, 3, 0.0)])
def test_binomial_tail_of_a_share_of_zero_is_the_smallest_probability(
        k: int, n: int, tail: float) -> None:
    """q = 0 (no prior weight and nothing round yet): k <= 0 is certain, k up to n the
    smallest probability (its surprise finite), more than n impossible."""
    assert binomial_tail(k, n, 0.0) == tail
    if k == n:  # and where its sum underflows (1e-600)
        assert binomial_tail(k, n, 1e-200) == 1e-300


def test_binomial_tail_is_never_above_one() -> None:
    """The sum of a near-certain tail rounds above 1; the tail is 1."""
    for n in range(1, 40):
        for q in (0.5, 0.9, 0.99):
            assert binomial_tail(1, n, q) <= 1.0


def test_fold_round_adds_the_excess_to_amount_high_from_the_floor_up_capped() -> None:
    floor, cap = KNOBS.surprise_floor, KNOBS.surprise_cap
    for high, extra, folded in [
            (floor - 1.5, 0.0, floor - 1.5),  # no excess: unchanged, even below the floor
            (floor - 1.5, 0.5, floor + 0.5),  # below the floor: from the floor up
            (floor + 1.0, 0.5, floor + 1.5), (floor + 1.0, 2.0, floor + 3.0),
            (cap - 1.0, 0.5, cap - 0.5), (cap - 1.0, 1.0, cap), (cap - 1.0, 1.5, cap)]:
        values = [high, 0.25, 0.5]
        fold_round(values, extra, KNOBS)
        assert values == [pytest.approx(folded), 0.25, 0.5]


def _run_judged(amount: float, cfg: CoreConfig) -> tuple[
        Observation, list[float], dict[str, str], tuple[float, int, int]]:
    """A customer of 40 amounts near 70 with cents, then three purchases of 70.00 two
    hours apart, then one of `amount`: its observation, terms, reasons kept and the round
    surprise its state gave (`round_surprise` at its roundness)."""
    knobs = Knobs(cfg)
    st, pop = CustomerState(), Population()
    rows = [tx(i, 68.17 + 0.31 * i, 600 * i) for i in range(40)]
    rows += [tx(100 + i, 70.0, 600 * 40 + 120 * i) for i in range(4)]
    rows[-1] = tx(103, amount, 600 * 40 + 360)
    for row in rows:
        t = event_seconds(row)
        release(st, pop, knobs, t)
        o = observe(row, t, st, pop, knobs)
        judged = round_surprise(round_level(amount), t, st, pop, knobs)
        values, kept, wake = terms(t, st, pop, o, knobs)
        learn(t, st, pop, knobs, o, 0.0, wake)
    return o, values, kept, judged


def test_a_run_keeps_its_excess_for_amount_high_and_its_reason_alone() -> None:
    o, values, kept, (bits, k, m) = _run_judged(70.0, ON)
    floor = KNOBS.surprise_floor
    assert (k, m) == (4, 5) and bits > floor
    assert o.round_extra == pytest.approx(bits - floor)
    assert values[0] <= floor  # 70.00 is no far amount for this customer
    assert kept["amount_high"].startswith("an amount of exactly 70.00 (4 of 5 purchases")
    assert "amount_low" not in kept


def test_a_plain_amount_keeps_no_amount_reason() -> None:
    o, values, kept, _ = _run_judged(70.13, ON)
    assert o.round_extra == 0.0 and values[0] <= KNOBS.surprise_floor
    assert "amount_high" not in kept


@pytest.mark.parametrize("excess", [0.25, 1.0, 1.5])
def test_any_excess_of_the_run_over_the_floor_keeps_its_reason(excess: float) -> None:
    bits = _run_judged(70.0, ON)[3][0]
    o, _, kept, _ = _run_judged(70.0, CoreConfig(surprise_floor=bits - excess))
    assert o.round_extra == pytest.approx(excess)
    assert "amount_high" in kept


def test_with_no_floor_only_terms_above_it_are_kept() -> None:
    """A floor of 0: a term of exactly 0 gives no reason (the round run's amount_high
    does: its excess)."""
    o, values, kept, _ = _run_judged(70.0, CoreConfig(surprise_floor=0.0))
    assert any(v == 0.0 for v in values)
    for name in kept:
        assert values[TERMS.index(name)] > 0.0 or (name == "amount_high" and o.round_extra)


def test_a_roundness_of_zero_is_no_evidence_whatever_the_window() -> None:
    st = _customer_with_window([12.34, 70.00, 56.78])
    assert round_surprise(0, 600.0, st, _population(0.01), KNOBS) == (0.0, 0, 0)


@pytest.mark.parametrize("before", [1, 2, 3])
def test_a_run_is_judged_from_two_round_amounts(before: int) -> None:
    """k = 1 (this one alone) is no run; from k = 2 the chance that the k - 1 others are
    round too: q^(k-1) when all m are (k = m)."""
    pop = _population(0.01)
    st = _customer_with_window([70.00] * (before - 1))
    bits, k, m = round_surprise(2, 600.0, st, pop, KNOBS)
    assert (k, m) == (before, before)
    q = round_tail(2, st, pop, KNOBS)
    expected = min(KNOBS.surprise_cap, -math.log(q ** (before - 1)))
    assert bits == (0.0 if before == 1 else pytest.approx(expected))


@pytest.mark.parametrize(("weight", "counted"), [(0.49, 0), (0.5, 1), (0.51, 1)])
def test_a_round_amount_is_counted_from_a_weight_of_one_half(weight: float, counted: int
                                                             ) -> None:
    st, pop = CustomerState(), Population()
    _learn_round(st, pop, 70.0, weight)
    assert st.rounds == [counted, counted, counted, 0, 0]
    assert pop.rounds == st.rounds


def test_without_a_hold_a_suspicious_round_amount_is_counted_in_full() -> None:
    """`quarantine_s` 0: nothing is held, so the amount is counted at once, whatever its
    surprise (its weight is for held events: e^-1 here, below one half)."""
    cfg = CoreConfig(quarantine_s=0.0)
    knobs = Knobs(cfg)
    st, pop = CustomerState(), Population()
    row = tx(0, 70.0, 0)
    t = event_seconds(row)
    learn(t, st, pop, knobs, observe(row, t, st, pop, knobs), cfg.quarantine_above + 1.0, 0.0)
    assert st.rounds == [1, 1, 1, 0, 0] and not st.pending


def test_on_by_default_and_off_nothing_is_counted() -> None:
    assert CoreConfig().round_amounts
    rows = [tx(i, 70.0, 30 * i) for i in range(6)]
    engine = PartitionEngine(OFF)
    engine.process(rows)
    assert engine._state()[0].get("c1", 0.0).rounds == [0] * 5
    assert engine._state()[1].rounds == [0] * 5


def test_on_a_run_of_round_amounts_scores_higher_and_says_why() -> None:
    habit = [tx(i, 23.17 + 0.31 * i, 600 * i) for i in range(40)]  # 10 h apart, none whole
    run = [tx(100 + i, 70.0, 600 * 40 + 120 * i) for i in range(4)]  # 2 h apart
    # without the repetition over days: it reads the habit's steady ramp (each amount 1%
    # above the last) as similar amounts above the level and holds half of them, which
    # the round counts then leave out (docs/benchmarks.md, "similar amounts over days")
    days_off = {"similar_window_s": 0.0}
    off = PartitionEngine(OFF.model_copy(update=days_off)).process(habit + run)
    on = PartitionEngine(ON.model_copy(update=days_off)).process(habit + run)
    assert [v.score for v in on[:40]] == [v.score for v in off[:40]]
    last_on, last_off = on[-1].score, off[-1].score
    assert last_on is not None and last_off is not None and last_on > last_off
    said = " ".join(on[-1].reasons_top3)
    assert "an amount of exactly 70.00 (4 of 5 purchases within 24 h were whole tens; 0 of " \
        "this customer's 40 earlier purchases were as round;" in said


def test_the_counters_pack_and_a_record_without_them_restores_at_zero() -> None:
    st = CustomerState()
    st.rounds = [9, 4, 2, 1, 0]
    assert unpack(pack(st)).rounds == [9, 4, 2, 1, 0]
    assert unpack(pack_fields({"n": 3})).rounds == [0] * 5


@pytest.mark.parametrize(("rounds", "ok"), [
    ([3, 2, 1, 0], False), ([3, 2, 1, 0, 0], True), ([3, 2, 1, 0, 0, 0], False),
    ([3, -1, 0, 0, 0], False), ([0, 0, 0, 0, 0], True)])
def test_a_record_with_counters_of_another_length_or_below_zero_is_refused_as_read(
        rounds: list[int], ok: bool) -> None:
    """Five counters ([counted, whole, tens, hundreds, thousands]), none below 0: else the
    record is refused as read, not an IndexError at the customer's next round amount."""
    if ok:
        assert unpack(pack_fields({"rounds": rounds})).rounds == rounds
    else:
        with pytest.raises(ValueError, match="'rounds'"):
            pack_fields({"rounds": rounds})


def test_a_snapshot_written_before_the_counters_restores_them_at_zero_and_counts_on() -> None:
    old = PartitionEngine.restore((DATA / "engine-format3.bin").read_bytes(), ON)
    assert old._state()[1].rounds == [0] * 5
    assert all(st.rounds == [0] * 5 for _, st in old._state()[0].items())
    old.process(stream(600)[450:])  # the rest of the stream the fixture was written from
    assert old._state()[1].rounds[0] > 100
