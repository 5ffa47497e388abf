"""PartitionEngine contracts: batching, snapshots, no leakage, no look-ahead, bounds."""

from __future__ import annotations

import pickle
import random
from datetime import datetime, timedelta

import pytest

from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from detector.core.reasons import top_reasons
from detector.core.surprise import TERMS
from detector.core.table import CLOCK_QUORUM
from shared import fastcodec
from shared.columns import RULE_NAMES
from shared.schemas import ScoredTransaction, Transaction

#: Small model knobs so that a stream of ~1,500 rows sees two fits and stays fast; each
#: model takes over at its fit point (synchronous fit; delayed ones: test_core_refit.py).
FAST = CoreConfig(first_fit_after=300, refit_every=500, sample_size=256, n_trees=10,
                  max_samples=64, refit_delay=0)
COUNTRIES = ("CH", "FR", "DE", "IT", "US")
CATEGORIES = ("grocery", "restaurant", "fuel", "fashion", "electronics")


def stream(n: int = 1500, customers: int = 40, seed: int = 1) -> list[Transaction]:
    """Customers with habits (home country, hours, amount scale) and a few anomalies."""
    rng = random.Random(seed)
    start = datetime(2025, 1, 1)
    profiles = [(rng.choice(COUNTRIES), rng.uniform(20, 200), rng.randint(7, 11))
                for _ in range(customers)]
    rows = []
    for i in range(n):
        c = rng.randrange(customers)
        home, scale, wake = profiles[c]
        at = start + timedelta(days=i * 90 / n, hours=wake + rng.uniform(0, 10) - (i * 90 / n
                                                                                   % 1) * 24)
        amount = round(scale * rng.lognormvariate(0, 0.3), 2)
        country, label = home, "normal"
        roll = rng.random()
        if roll < 0.01:
            amount, label = round(amount * 20, 2), "HIGH_AMOUNT"
        elif roll < 0.02:
            country, label = "CN", "IMPOSSIBLE_TRAVEL"
        rows.append(Transaction(
            transaction_id=str(i), customer_id=f"c{c}", timestamp=at, amount=amount,
            country=country, channel=rng.choice(("app", "web")), device="mobile",
            merchant_category=rng.choice(CATEGORIES), is_anomaly=label != "normal",
            anomaly_type=label,
        ))
    rows.sort(key=lambda r: r.timestamp)
    return rows


def run(rows: list[Transaction], config: CoreConfig = FAST, batch: int = 1000
        ) -> list[ScoredTransaction]:
    engine = PartitionEngine(config)
    out: list[ScoredTransaction] = []
    for lo in range(0, len(rows), batch):
        out.extend(engine.process(rows[lo : lo + batch]))
    return out


def verdicts(rows: list[ScoredTransaction]) -> list[tuple[object, ...]]:
    """Everything the detector decides about each row (labels excluded)."""
    return [(r.transaction_id, r.score, r.model_score, r.is_ml_flag, tuple(r.rule_flags.items()),
             r.is_rule_flag, r.is_flag, tuple(r.reasons_top3), tuple(r.triggered_rules),
             r.model_version) for r in rows]


@pytest.fixture(scope="module")
def rows() -> list[Transaction]:
    return stream()


@pytest.fixture(scope="module")
def baseline(rows: list[Transaction]) -> list[ScoredTransaction]:
    return run(rows)


def test_one_output_per_input_in_order_with_the_contracted_fields(
    rows: list[Transaction], baseline: list[ScoredTransaction]
) -> None:
    assert [r.transaction_id for r in baseline] == [r.transaction_id for r in rows]
    for r in baseline:
        assert r.score is not None and 0.0 <= r.score <= 1.0
        assert tuple(r.rule_flags) == RULE_NAMES
        assert r.is_rule_flag == any(r.rule_flags.values()) == bool(r.triggered_rules)
        # The model's own flag is its own score over its threshold, nothing else.
        assert (r.model_score is None) == (r.model_version == "rules-only")
        assert r.model_score is None or 0.0 <= r.model_score <= 1.0
        assert r.is_ml_flag == (r.model_score is not None and r.model_score >= FAST.ml_threshold)
        assert r.is_flag == (r.is_ml_flag or r.is_rule_flag or r.score >= FAST.score_threshold)
        assert len(r.reasons_top3) <= 3
    assert {r.model_version for r in baseline} == {"rules-only", "if-v1", "if-v2", "if-v3"}
    assert sum(r.is_flag for r in baseline) < 0.1 * len(baseline)


@pytest.mark.parametrize("batch", [1, 7])
def test_outputs_do_not_depend_on_batch_size(
    rows: list[Transaction], baseline: list[ScoredTransaction], batch: int
) -> None:
    assert verdicts(run(rows, batch=batch)) == verdicts(baseline)


@pytest.mark.parametrize("cut", [1, 299, 300, 301, 777])
def test_restore_from_snapshot_continues_exactly(
    rows: list[Transaction], baseline: list[ScoredTransaction], cut: int
) -> None:
    first = PartitionEngine(FAST)
    head = first.process(rows[:cut])
    again = PartitionEngine.restore(first.snapshot(), FAST)
    assert again.processed == cut
    assert verdicts(head + again.process(rows[cut:])) == verdicts(baseline)


def test_shuffling_labels_changes_no_score_or_flag(
    rows: list[Transaction], baseline: list[ScoredTransaction]
) -> None:
    labels = [(r.is_anomaly, r.anomaly_type) for r in rows]
    random.Random(7).shuffle(labels)
    shuffled = [r.model_copy(update={"is_anomaly": a, "anomaly_type": t})
                for r, (a, t) in zip(rows, labels, strict=True)]
    unknown = [r.model_copy(update={"is_anomaly": None, "anomaly_type": None}) for r in rows]
    assert verdicts(run(shuffled)) == verdicts(baseline)
    assert verdicts(run(unknown)) == verdicts(baseline)


def test_appending_later_rows_never_changes_earlier_outputs(
    rows: list[Transaction], baseline: list[ScoredTransaction]
) -> None:
    assert verdicts(run(rows[:900])) == verdicts(baseline[:900])


def test_same_input_and_seed_give_identical_output_and_the_seed_matters(
    rows: list[Transaction], baseline: list[ScoredTransaction]
) -> None:
    assert verdicts(run(rows)) == verdicts(baseline)
    reseeded = run(rows, FAST.model_copy(update={"seed": 43}))
    assert [r.model_score for r in reseeded[300:]] != [r.model_score for r in baseline[300:]]
    assert [r.model_score for r in reseeded[:300]] == [r.model_score for r in baseline[:300]]
    # The combined score is the sum of surprises: the forest's seed does not move it.
    assert [r.score for r in reseeded] == [r.score for r in baseline]


def test_a_refit_does_not_change_rows_scored_before_its_activation(
    rows: list[Transaction], baseline: list[ScoredTransaction]
) -> None:
    never_refit = run(rows, FAST.model_copy(update={"refit_every": 10**9}))
    assert verdicts(never_refit[:800]) == verdicts(baseline[:800])
    assert baseline[799].model_version == "if-v1"
    assert baseline[800].model_version == "if-v2"
    assert never_refit[800].model_version == "if-v1"


def test_customer_count_stays_within_its_bound_on_a_long_stream() -> None:
    config = FAST.model_copy(update={"max_customers": 25})
    engine = PartitionEngine(config)
    engine.process(stream(n=3000, customers=200, seed=3))
    assert engine.customers == 25


def test_idle_customers_expire_after_the_ttl_in_event_time() -> None:
    config = FAST.model_copy(update={"customer_ttl_s": 86400.0})
    engine = PartitionEngine(config)
    rows = stream(n=400, customers=30)
    engine.process(rows)
    held = engine.customers
    late = rows[-1].model_copy(update={"customer_id": "late", "transaction_id": "x",
                                       "timestamp": rows[-1].timestamp + timedelta(days=3)})
    engine.process([late])  # stray: 3 days past every customer, it drops no one
    assert engine.customers == held + 1 > 2
    # so are the rows of the next customers at that time, up to CLOCK_QUORUM in all
    # (detector.core.table): then that time is the partition's, and the next row drops
    # every customer idle past the ttl from it, all but those
    later = [late.model_copy(update={"customer_id": f"later{k}", "transaction_id": f"y{k}",
                                     "timestamp": late.timestamp + timedelta(seconds=k + 1)})
             for k in range(CLOCK_QUORUM)]
    engine.process(later[:-1])
    assert engine.customers == held + CLOCK_QUORUM
    engine.process(later[-1:])
    assert engine.customers == CLOCK_QUORUM + 1


def test_state_per_customer_is_bounded_whatever_the_history() -> None:
    one = [r.model_copy(update={"customer_id": "solo"}) for r in stream(n=3000, customers=1)]
    short, long = PartitionEngine(FAST), PartitionEngine(FAST)
    short.process(one[:200])
    long.process(one)
    size = len(pickle.dumps(short._state()[0].items()))
    assert len(pickle.dumps(long._state()[0].items())) <= size * 1.2
    assert len(long.snapshot()) < 200_000


def test_restore_rejects_a_foreign_snapshot() -> None:
    import zlib

    with pytest.raises(ValueError, match="snapshot format"):
        PartitionEngine.restore(zlib.compress(pickle.dumps({"format": 99})), FAST)


def test_with_model_weight_0_a_fitted_model_changes_no_score() -> None:
    """The default weight keeps `score` the habit terms' and rules': fitting the forest
    (64 rows in) must leave every row's score as an engine that never fits gives it."""
    rows = stream(240, customers=12, seed=5)
    fits = CoreConfig(first_fit_after=64, refit_every=10_000, sample_size=128, n_trees=8,
                      max_samples=32, refit_delay=0)
    never = fits.model_copy(update={"first_fit_after": 10**9})
    with_model = PartitionEngine(fits).process(rows)
    without = PartitionEngine(never).process(rows)
    assert with_model[-1].model_version == "if-v1" and without[-1].model_version == "rules-only"
    assert [r.score for r in with_model] == [r.score for r in without]
    assert sum((r.score or 0.0) > 0 for r in with_model[64:]) > 10


def test_each_fired_rule_adds_rule_surprise_to_the_combined_surprise() -> None:
    """`score` = S / (S + score_half) with S the terms' excess plus `rule_surprise` per
    fired rule: against the same rows scored with `rule_surprise=0`, a row's S grows by
    exactly that much per rule, and a row without a rule keeps its score."""
    rows = stream()
    plain = FAST.model_copy(update={"first_fit_after": 10**9})
    weighted = PartitionEngine(plain.model_copy(update={"rule_surprise": 5.0})).process(rows)
    unweighted = PartitionEngine(plain.model_copy(update={"rule_surprise": 0.0})).process(rows)

    def combined(score: float) -> float:
        return plain.score_half * score / (1.0 - score)

    counts = [len(r.triggered_rules) for r in weighted]
    assert counts == [len(r.triggered_rules) for r in unweighted]
    assert sum(c > 0 for c in counts) >= 5 and max(counts) == 2  # one rule and two
    for a, b, c in zip(weighted, unweighted, counts, strict=True):
        assert a.score is not None and b.score is not None
        assert combined(a.score) - combined(b.score) == pytest.approx(5.0 * c, abs=1e-3)


def test_a_term_exactly_at_the_floor_gives_no_reason() -> None:
    values = [0.0] * len(TERMS)
    values[TERMS.index("device")] = 2.0
    values[TERMS.index("channel")] = 2.0001
    reasons = {"device": "device new", "channel": "channel new"}
    assert top_reasons({}, values, reasons, None, 2.0) == ["channel new (surprise 2.0)"]


def _purchase(i: int, at: datetime, amount: float = 42.0, device: str = "mobile"
              ) -> Transaction:
    return Transaction(transaction_id=str(i), customer_id="c1", timestamp=at, amount=amount,
                       country="CH", channel="app", device=device, merchant_category="grocery")


def test_a_row_with_only_a_term_has_its_reason_and_a_fired_rule_flags_whatever_the_score(
        ) -> None:
    engine = PartitionEngine(CoreConfig(score_threshold=1.0))  # no score reaches 1.0
    start = datetime(2025, 3, 3, 12)
    rows = [_purchase(i, start + timedelta(days=i), 40.0 + i % 5) for i in range(12)]
    rows.append(_purchase(12, start + timedelta(days=12), device="tablet"))
    rows += [_purchase(13 + j, start + timedelta(days=13, seconds=30 * j), 30.0 + 9 * j)
             for j in range(4)]
    out = engine.process(rows)
    new_device = out[12]
    assert not new_device.is_rule_flag and not new_device.is_flag
    assert any("device" in reason for reason in new_device.reasons_top3)
    burst = out[-1]
    assert burst.triggered_rules == ["burst"] and burst.is_rule_flag and burst.is_flag
    assert not any(r.is_flag for r in out[:12])


def test_a_new_or_rare_value_says_never_seen_or_how_often_in_how_many_purchases() -> None:
    """A habit term's reason names the attribute (in words: "ip network") and the value,
    and says "never seen" for a new one, else how often among the learnt purchases."""
    start = datetime(2025, 3, 3, 12)
    rows = [_purchase(i, start + timedelta(days=i), 40.0 + i % 5) for i in range(30)]
    rows.append(_purchase(30, start + timedelta(days=30), device="tablet"))
    rows += [_purchase(31 + i, start + timedelta(days=31 + i), 40.0 + i % 5) for i in range(5)]
    rows.append(_purchase(36, start + timedelta(days=36), device="tablet"))
    rows.append(_purchase(37, start + timedelta(days=37)).model_copy(update={"ip": "10.9.8.7"}))
    # without the repetition over days: equal prices are left out over days, but these five
    # are distinct and within 10% of each other, closer than the amount scale's floor (0.15)
    # says this customer's amounts fall: the test over days reads them as similar amounts
    out = PartitionEngine(CoreConfig(similar_window_s=0.0)).process(rows)
    assert [r.reasons_top3 for r in out[31:36]] == [[]] * 5
    new, again, network = (r.reasons_top3 for r in (out[30], out[36], out[37]))
    assert len(new) == len(again) == len(network) == 1
    assert new[0].startswith("device tablet never seen for this customer (surprise ")
    assert again[0].startswith("device tablet seen only 1x in 36 purchases (surprise ")
    assert network[0].startswith("ip network 10.9.8 never seen for this customer (surprise ")


def test_decoded_views_score_into_the_same_rows_as_transactions() -> None:
    """The streaming shell hands the engine `fastcodec` records, not `Transaction`s: the
    scored rows (input fields and verdict) are the same."""
    rows = stream(n=400)
    views = [fastcodec.from_transaction(tx) for tx in rows]
    assert not isinstance(views[0], Transaction)
    assert PartitionEngine(FAST).process(views) == PartitionEngine(FAST).process(rows)
