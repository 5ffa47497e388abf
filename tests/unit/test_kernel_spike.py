"""bench/kernel_spike.py (issue 14 item 2's first slice, docs/kernel.md): the numba kernel
of the clock's rate term over struct-of-arrays state gives, row by row, the very floats the
engine scores (`engine.tap`, the variety fold off so the raw term is `_rate`'s), the same
reasons once formatted, and the same state at the end; its Poisson tail equals the core's
to the bit, the lgamma branch included."""

from __future__ import annotations

import itertools
import random
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.ci import IN_CI

if not IN_CI:  # in CI a missing numba fails the run (the import below), never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import kernel_spike

from producer.generator import GeneratorConfig, generate
from shared.schemas import Transaction

#: the engines these tests compare the kernel with run the core's own loop
pytestmark = pytest.mark.usefixtures("cores_own_loop")


def _generated(seed: int, customers: int, days: int) -> list[Any]:
    return sorted(generate(GeneratorConfig(seed=seed, customers=customers, days=days)),
                  key=lambda t: t.timestamp)


def _assert_equal(result: dict[str, Any]) -> None:
    assert result["unequal"] == 0, result
    assert result["reason_diff"] == 0, result
    assert result["state_diff"] == 0, result


def test_the_kernel_scores_generated_rows_as_the_engine_does() -> None:
    """Realistic rows (the generator's default mix): every row's term to the bit, the
    reasons formatted from the kernel's numbers, every customer's window and gaps and the
    population's after the last row. Enough rows that the term is computed on most rows
    and above the floor on some (the reasons are compared, not only absent ones)."""
    txs = _generated(seed=3, customers=150, days=12)
    result = kernel_spike.compare(txs)
    _assert_equal(result)
    assert result["rows"] == len(txs) > 3000
    assert result["rate_rows"] > 500  # a term computed (above 0) on many rows
    assert result["max_term"] > 2.0  # and above the floor (2) on some: reasons compared


def test_late_rows_keep_the_window_in_arrival_order() -> None:
    """Rows out of time order (one in twenty swapped with the next): the window is
    filtered on |t - rt|, so an entry newer than a late row stays or goes as in Python,
    and the order kept is the arrival order, not time order; `last_t` never goes back."""
    txs = _generated(seed=5, customers=60, days=10)
    rng = random.Random(1)
    for i in range(len(txs) - 1):
        if rng.random() < 0.05:
            txs[i], txs[i + 1] = txs[i + 1], txs[i]
    assert any(b.timestamp < a.timestamp for a, b in itertools.pairwise(txs))
    _assert_equal(kernel_spike.compare(txs))


def _tx(i: int, at: datetime, amount: float, customer: str) -> Transaction:
    return Transaction(
        transaction_id=f"{customer}-{i}", customer_id=customer, timestamp=at, amount=amount,
        country="CH", channel="app", device="mobile", merchant_category="grocery",
        ip="192.168.1.7")


@pytest.mark.parametrize("offset_s", [-1.0, 0.0, 1.0])
def test_the_day_window_at_its_edge(offset_s: float) -> None:
    """A purchase exactly one day (`WINDOW_S`, also the rate horizon) after one of the
    window's is kept with it (<=), one second later it is dropped, one second earlier
    kept: the terms and the state as the engine's, at the edge and either side. Warm-up
    customers first, so the population has counted the 100 gaps the term needs."""
    start = datetime(2026, 1, 1)
    rows = [_tx(i, start + timedelta(seconds=600 * i), 20.0 + i % 7, f"w{i % 5}")
            for i in range(150)]
    t0 = start + timedelta(seconds=600 * 150)
    for i, at in enumerate([t0, t0 + timedelta(seconds=60), t0 + timedelta(seconds=120)]):
        rows.append(_tx(1000 + i, at, 42.0, "edge"))
    rows.append(_tx(2000, t0 + timedelta(seconds=86400 + offset_s), 42.0, "edge"))
    rows.append(_tx(2001, t0 + timedelta(seconds=86400 + 60 + offset_s), 42.0, "edge"))
    result = kernel_spike.compare(rows)
    _assert_equal(result)


def test_the_copied_constants_are_the_cores() -> None:
    kernel_spike.check_constants()
