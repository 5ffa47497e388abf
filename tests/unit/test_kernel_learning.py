"""detector/kernel/learning.py: a scored row folded into the state as the core folds it.
Row by row on realistic rows, the kernel learns everything itself from each row's inputs
(its observation, raw and recalibrated terms, combined surprise and wake, as the core
scored them): after every row the customer's whole `CustomerState` equals the core's,
and the whole `Population` and `Recalibration` too (compared every few rows: they are
large). Holds, releases and overflows, first purchases, round amounts, full tables, small
contexts, late rows and the customer table's expiry are all on the way."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from detector.core.calibration import Recalibration
from detector.core.config import CoreConfig
from detector.core.knobs import Knobs
from detector.core.state import CustomerState, Population
from detector.kernel import calibration as kc
from detector.kernel import learning
from detector.kernel import population as kp
from detector.kernel import slots as sl
from detector.kernel.codes import Codes
from detector.kernel.hold import due_buffer
from detector.kernel.knobs import kernel_knobs
from detector.kernel.refs import as_ref
from tests.ci import IN_CI
from tests.unit.kernel_rows import core_rows, exact, generated

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")


def _same(a: object, b: object, fields: tuple[str, ...], what: str) -> None:
    for name in fields:
        assert exact(getattr(a, name)) == exact(getattr(b, name)), f"{what}.{name}"


def _run(config: CoreConfig, txs: list[Any], every: int = 50, refs: bool = False
         ) -> dict[str, int]:
    knobs = Knobs(config)
    k = kernel_knobs(knobs)
    codes = Codes()
    empty = codes.code("")
    slots: dict[str, int] = {}
    objects: dict[str, CustomerState] = {}
    s = sl.allocate(sl.Dims.of(config), 64)
    p = kp.to_arrays(Population(), codes, config.max_population_keys)
    cal = kc.to_arrays(Recalibration(knobs.surprise_cap))
    due = due_buffer(s.pend_r.shape[1])
    keys, none = learning.scratch()
    seen = {"rows": 0, "held": 0, "fresh": 0}
    for row in core_rows(txs, config):
        o = row.obs
        cid = row.tx.customer_id
        if objects.get(cid) is not row.state:  # new to the table, or expired and back
            if cid not in slots:
                if len(slots) == len(s.n):
                    s = sl.grow(s, 2 * len(s.n))
                slots[cid] = len(slots)
            sl.reset(s, slots[cid], codes)
            objects[cid] = row.state
            seen["fresh"] += 1
        c = slots[cid]
        held = np.array([codes.code(x) for x in (o.country, o.device, o.ipnet, o.channel,
                                                 o.category)], np.int32)
        p = kp.grow_codes(p, len(codes.values))
        if refs:  # the structrefs the kernel takes, sharing the tuples' arrays
            sk, pk, ck, dk, kk = as_ref(s), as_ref(p), as_ref(cal), as_ref(due), as_ref(k)
        else:
            sk, pk, ck, dk, kk = s, p, cal, due, k
        learning.release(sk, c, pk, row.t, dk, kk, keys)  # score_rows: before the terms
        learning.learn_row(sk, c, pk, ck, row.t, o.amount, held, o.hour, o.log_amount,
                           o.amount_dev, o.amount_scale, o.amount_z, o.travel_km,
                           o.travel_dt_s, np.array(row.raw), np.array(row.values),
                           float(row.total), row.wake, kk, dk, keys, empty, none)
        seen["held"] += len(row.state.pending)
        _same(sl.load(s, c, codes), row.state, CustomerState.FIELDS, f"row {seen['rows']}")
        seen["rows"] += 1
        if seen["rows"] % every == 0:
            _same(kp.from_arrays(p, codes), row.pop, Population.FIELDS, "population")
            _same(kc.from_arrays(cal, knobs.surprise_cap), row.calibration,
                  Recalibration.FIELDS, "calibration")
    _same(kp.from_arrays(p, codes), row.pop, Population.FIELDS, "population")
    _same(kc.from_arrays(cal, knobs.surprise_cap), row.calibration, Recalibration.FIELDS,
          "calibration")
    return seen


def test_realistic_rows() -> None:
    seen = _run(CoreConfig(first_fit_after=10**9), generated(seed=3, customers=120, days=12))
    assert seen["rows"] > 3000 and seen["held"] > 100


def test_small_bounds_holds_and_late_rows() -> None:
    """Tables of 3, a context of 2, eight amounts, a long hold (overflows), rows out of
    order, round amounts off, and a short customer lifetime (expiry and fresh states)."""
    config = CoreConfig(first_fit_after=10**9, max_seen=3, context_size=2,
                        amount_history=8, quarantine_s=2 * 86400.0, quarantine_above=4.0,
                        round_amounts=False, customer_ttl_s=2 * 86400.0,
                        max_population_keys=16)
    seen = _run(config, generated(seed=4, customers=60, days=15, late_every=7), every=20)
    assert seen["rows"] > 1500 and seen["fresh"] > 60


def test_structrefs_learn_the_same_state() -> None:
    """The kernel given structrefs of the same arrays (refs.py: how it is called for
    speed) learns the same state row by row."""
    seen = _run(CoreConfig(first_fit_after=10**9), generated(seed=5, customers=50, days=8),
                every=40, refs=True)
    assert seen["rows"] > 700
