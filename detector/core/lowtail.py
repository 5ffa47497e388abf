"""The low side of the amount term (split from `detector.core.surprise`).

Amounts are bounded below by zero, so in log terms their low tail can be much heavier than
the logistic the amount term assumes (amounts spread additively around a level: 1/10 of
the usual is about 1 in 300, which the logistic calls e^-12), while the high side is not
(tested in tests/unit/test_core_lowtail.py). So the low side's probability is at least the
rate of amounts that far below the customer's level that the data show: the population's
(a conformal p-value among amounts counted in robust z from their customer's level,
`Population.low_share`), or the customer's own if their kept amounts show more.
"""

from __future__ import annotations

import math

from detector.core.features import Observation
from detector.core.knobs import Knobs
from detector.core.state import CustomerState, Population


def amount_z(st: CustomerState, o: Observation, cfg: Knobs) -> tuple[float, float]:
    """The amount's robust z against the customer's level, and the scale behind it (widened
    for the uncertainty of a level estimated from few amounts)."""
    k = len(st.amounts)
    scale = o.amount_scale * math.sqrt(1.0 + 1.0 / (k + cfg.prior_weight + 1.0))
    return o.amount_z * o.amount_scale / scale, scale


def low_rate(st: CustomerState, pop: Population, o: Observation, z: float,
             cfg: Knobs) -> float:
    """The rate of amounts at least this far below the customer's level (robust z): the
    population's, or the customer's own if their kept amounts (at or below this one) show
    more, shrunk to the population's (worth `new_value_prior` events). Not having made
    such a purchase in 32 says little about a 1-in-300 event, so the population's rate is
    not shrunk down for it."""
    share = pop.low_share(z)
    amounts = st.amounts
    la = o.log_amount
    own = len([a for a in amounts if a <= la])
    if not own:
        return share
    weight = cfg.new_value_prior
    mine = (own + weight * share) / (len(amounts) + weight)
    return mine if mine > share else share
