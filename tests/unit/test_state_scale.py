"""Scale: a partition of 1,000,000 customers (built through the detection core from a
generated stream, tests/state_scale.py; no broker) checkpoints 100,000 records of traffic
in the same bytes (within 20%) as one of 10,000 customers, holds them in at most 1 KB each
in memory, and restores exactly.

Slow (about 15 minutes on a busy 2-core machine). STATE_SCALE_CUSTOMERS sets the large
partition's size (default 1,000,000). The restore time target is measured by
bench/state_bench.py, not here.
"""

from __future__ import annotations

import os

import pytest

from detector.core.engine import PartitionEngine
from tests.state_scale import build, bytes_per_customer, same_customers, traffic, transactions

pytestmark = pytest.mark.slow

HORIZON = 180 * 86400.0  # the default dedupe horizon (core.customer_ttl_s)


def test_checkpoint_bytes_do_not_grow_with_customers_known_and_the_restore_is_exact() -> None:
    n = int(os.environ.get("STATE_SCALE_CUSTOMERS", "1000000"))
    small = build(10_000, HORIZON)
    small_bytes, _ = traffic(small, 100_000, 10_000, 20_000)
    big = build(n, HORIZON)
    big_bytes, _ = traffic(big, 100_000, 10_000, 20_000)
    assert 0.8 <= big_bytes / small_bytes <= 1.2, (big_bytes, small_bytes)
    assert big.state.engine.customers == n  # type: ignore[attr-defined]
    back = big.restore()
    live, again = big.state.engine, back.engine
    assert isinstance(live, PartitionEngine) and isinstance(again, PartitionEngine)
    assert same_customers(live, again, 20_000)  # eviction order too
    # issue 14: <= 1 KB per customer in memory, live and restored: all but the
    # hot_customers most recent are packed (a partition of 10x as many or more)
    hot = live.config.hot_customers
    assert sum(not isinstance(h, bytes) for _, h in live._state()[0].held()) == min(n, hot)
    if n >= 10 * hot:
        assert bytes_per_customer(live) <= 1024 and bytes_per_customer(again) <= 1024
    assert (back.dedupe is not None and big.state.dedupe is not None
            and back.dedupe.dump() == big.state.dedupe.dump())
    rest = transactions(list(range(0, n, max(1, n // 3000))), big.rows, 7)
    assert again.process(rest) == live.process(rest)
