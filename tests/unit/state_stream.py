"""A small deterministic stream for the state-format tests (and the fixtures made from it)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from hypothesis import strategies as st

from detector.core.config import CoreConfig
from shared.schemas import Transaction

#: Small knobs: a few hundred rows fit two models, each in effect from its fit point (as
#: when the fixtures were written, before background refits).
CONFIG = CoreConfig(first_fit_after=128, refit_every=192, n_trees=10, sample_size=256,
                    refit_delay=0)
#: Any JSON a hand-edited or damaged snapshot's field could hold (integers past int64 too).
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 63), 2 ** 64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12)


def stream(n: int, seed: int = 5) -> list[Transaction]:
    """`n` transactions of 30 customers over a few days, with some travel, nights and bursts."""
    rng = random.Random(seed)
    t = datetime(2025, 3, 1)
    out = []
    for i in range(n):
        t += timedelta(seconds=rng.choice((5, 60, 900, 3600, 7200)))
        c = rng.randrange(30)
        out.append(Transaction(
            transaction_id=f"t{i}", customer_id=f"c{c}", timestamp=t,
            amount=round(rng.lognormvariate(3.5 + c % 4, 0.6), 2),
            country=rng.choice(("CH", "CH", "CH", "FR", "US")),
            channel=rng.choice(("web", "app", "atm")), device=f"d{c % 5}{rng.randrange(2)}",
            merchant_category=rng.choice(("food", "travel", "tech")),
            ip=f"10.{c}.{rng.randrange(3)}.{rng.randrange(250)}"))
    return out
