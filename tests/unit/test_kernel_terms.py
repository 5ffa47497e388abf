"""detector/kernel/terms.py: `surprise.terms` whole, row by row on realistic rows against
the core's row loop (tests/unit/kernel_rows.py). Before each row's terms the core's whole
customer state and population are stored into the kernel's arrays (`slots.store`,
`population.to_arrays`), the kernel observes the row (`observe.observe`) and scores it;
every raw term, the wake and `round_extra` must be the core's to the bit, and the reasons
dict the core's (same keys, order and words), row by row (`terms_reasons`) and for
batches of rows at once (`rows_reasons`, as the engine words them). Each term is counted
above the floor on some rows, so its reason is compared too."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from detector.core.calibration import TERMS
from detector.core.config import CoreConfig
from detector.core.features import event_seconds, ipnet
from detector.core.knobs import Knobs
from detector.core.state import CustomerState, Population
from detector.kernel import amounts, geo, variety
from detector.kernel import observe as ko
from detector.kernel import population as kp
from detector.kernel import slots as sl
from detector.kernel import terms as kt
from detector.kernel.codes import Codes
from detector.kernel.knobs import kernel_knobs
from detector.kernel.tails import LGAMMA
from producer.generator import generate, mix_config
from tests.ci import IN_CI
from tests.unit.kernel_rows import core_rows, generated

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")


def _run(txs: list[Any], config: CoreConfig) -> dict[str, int]:
    """Every row's kernel terms against the core's; how often each term was above the
    floor (and rows, late rows, round amounts)."""
    knobs = Knobs(config)
    k = kernel_knobs(knobs)
    codes = Codes()
    dims = sl.Dims.of(config)
    s = sl.allocate(dims, 1)
    centroids = geo.centroid_table(codes.values)
    obs = ko.empty()
    raw = np.zeros(len(TERMS))
    why = np.zeros(kt.WHY)
    got: dict[str, Any] = {}
    seen = {"rows": 0, "late": 0, "round": 0, "joined": 0, **dict.fromkeys(TERMS, 0)}

    def bridge(tx: Any, st: CustomerState, pop: Population) -> None:
        nonlocal s, dims, centroids
        want = dims.fitting([st])
        if want != dims:
            dims = want
            s = sl.allocate(dims, 1)
        sl.store(st, s, 0, codes)  # encodes the state's strings
        country, category, channel, device, net = (codes.code(x) for x in (
            tx.country, tx.merchant_category, tx.channel, tx.device, ipnet(tx.ip)))
        p = kp.to_arrays(pop, codes, config.max_population_keys)  # encodes, then grows
        centroids = geo.centroid_table(codes.values, centroids)
        ranks = variety.category_ranks(codes.values)
        work = kt.scratch(s)
        t = event_seconds(tx)
        ko.observe(s, 0, p, t, tx.timestamp.hour, tx.amount, country, category, channel,
                   centroids, k, amounts.EXPONENTS, work[0], obs)
        raw[:] = math.nan
        wake = kt.terms(s, 0, p, obs, t, device, net, ranks, k, amounts.EXPONENTS,
                        amounts.COMB, LGAMMA, variety.SPANS, work, kt.int_scratch(s), raw,
                        why)
        got["wake"] = wake
        got["reasons"] = kt.terms_reasons(raw, why, obs, codes.values, knobs)

    last: dict[str, float] = {}
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    wanted: list[list[tuple[str, str]]] = []
    for row in core_rows(txs, config, None, bridge):
        i = seen["rows"]
        assert [x.hex() for x in raw] == [x.hex() for x in row.raw], i
        assert got["wake"].hex() == row.wake.hex(), i
        assert float(obs[ko.ROUND_EXTRA]).hex() == row.obs.round_extra.hex(), i
        assert list(got["reasons"].items()) == list(row.reasons.items()), i
        rows.append((raw.copy(), why.copy(), obs.copy()))
        wanted.append(list(row.reasons.items()))
        for j, name in enumerate(TERMS):
            seen[name] += row.raw[j] > knobs.surprise_floor
        seen["round"] += row.obs.round_extra > 0.0
        seen["joined"] += row.obs.round_extra > 0.0 and row.raw[0] > knobs.surprise_floor
        cid = row.tx.customer_id
        seen["late"] += row.t < last.get(cid, -math.inf)
        last[cid] = max(row.t, last.get(cid, -math.inf))
        seen["rows"] += 1
    # the same reasons worded for many rows at once, as the engine words them
    for lo in range(0, len(rows), 500):
        batch = rows[lo:lo + 500]
        raws, whys, observed = (np.array([r[x] for r in batch]) for x in range(3))
        by_row = kt.rows_reasons(raws, whys, observed, codes.values, knobs)
        assert [list(by_row.get(i, {}).items()) for i in range(len(batch))] \
            == wanted[lo:lo + 500]
        assert all(by_row.values())  # only the rows with reasons
    return seen


def _every_term(seen: dict[str, int], but: tuple[str, ...] = ()) -> None:
    for name in TERMS:
        if name not in but:
            assert seen[name] > 0, (name, seen)


def test_default_knobs() -> None:
    config = CoreConfig(first_fit_after=10**9)
    seen = _run(generated(seed=3, customers=100, days=12), config)
    assert seen["rows"] > 2000
    _every_term(seen, but=("ip_network",))


def test_round_amounts_off() -> None:
    config = CoreConfig(first_fit_after=10**9, round_amounts=False)
    seen = _run(generated(seed=5, customers=60, days=10), config)
    assert seen["rows"] > 1000 and seen["round"] == 0
    _every_term(seen, but=("ip_network",))


def test_repetition_over_days_off() -> None:
    config = CoreConfig(first_fit_after=10**9, similar_window_s=0.0)
    seen = _run(generated(seed=7, customers=60, days=10), config)
    assert seen["rows"] > 1000
    _every_term(seen, but=("ip_network",))


def test_a_wide_variety_window_at_a_low_floor() -> None:
    config = CoreConfig(first_fit_after=10**9, variety_window_s=86400.0, prior_weight=0.5,
                        surprise_floor=0.5)
    seen = _run(generated(seed=6, customers=60, days=10), config)
    assert seen["rows"] > 1000
    _every_term(seen, but=("ip_network",))


def test_late_rows_and_small_windows() -> None:
    config = CoreConfig(first_fit_after=10**9, variety_window_s=0.0, burst_min_count=2,
                        burst_window_s=7200.0, prior_bands=(2, 5, 40))
    seen = _run(generated(seed=4, customers=60, days=12, late_every=9), config)
    assert seen["rows"] > 1000 and seen["late"] > 0
    _every_term(seen, but=("ip_network",))


def test_the_extended_mix() -> None:
    """bench/quality.py's `--mix extended`: four more fraud kinds and habit changes."""
    txs = sorted(generate(mix_config("extended", seed=11, customers=80, days=12)),
                 key=lambda t: t.timestamp)
    seen = _run(txs, CoreConfig(first_fit_after=10**9))
    assert seen["rows"] > 2000
    _every_term(seen, but=("ip_network",))


def test_runs_of_round_amounts_and_zero_amounts() -> None:
    """Generated rows, then for some customers a run of round amounts within a day (the
    round term, its reason joined to amount_high's or alone) and a purchase of 0 (no
    repetition terms)."""
    txs = generated(seed=8, customers=40, days=8)
    end = txs[-1].timestamp
    ids = sorted({tx.customer_id for tx in txs})[:12]
    extra = []
    for i, cid in enumerate(ids):
        last = next(tx for tx in reversed(txs) if tx.customer_id == cid)
        for j, amount in enumerate((100.0, 250.0, 1000.0, 300.0, 20000.0, 0.0, 40.0)):
            extra.append(last.model_copy(update={
                "transaction_id": f"r{i}-{j}", "amount": amount, "ip": f"203.0.{i}.{j + 1}",
                "timestamp": end + timedelta(minutes=37 * j + 5 * i)}))
    txs = sorted([*txs, *extra], key=lambda t: t.timestamp)
    seen = _run(txs, CoreConfig(first_fit_after=10**9))
    assert seen["round"] > 10 and 0 < seen["joined"] < seen["round"]
    _every_term(seen)
