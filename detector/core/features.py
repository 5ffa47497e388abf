"""Per-customer features in event time: each event is measured against earlier events only.

`observe` measures one event against its customer's state and the partition's population
(cold start: a customer's own statistics are shrunk towards the population's, so a new
customer is judged by what is usual for everybody, never flagged for lack of history), then
`habits.learn` folds the event into the state. Late events (earlier than the customer's last one)
are measured with the absolute time gap and never move the customer's clock backwards.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Final, cast

from detector.core.geo import distance_km
from detector.core.hourtail import counted_night_mass
from detector.core.knobs import Knobs, in_night
from detector.core.state import CustomerState, Population, held_hour
from shared.schemas import TransactionView as Transaction

EPOCH: Final = datetime(1970, 1, 1)

class Observation:
    """What one event looks like against its customer's past (inputs of rules and model)."""

    __slots__ = (
        "amount",
        "amount_dev",
        "amount_ratio",
        "amount_scale",
        "amount_z",
        "burst_count",
        "burst_span_s",
        "category",
        "category_rarity",
        "channel",
        "country",
        "country_rarity",
        "country_recent",
        "country_seen",
        "device",
        "dup_age_s",
        "gap_s",
        "history",
        "hop_rate",
        "hour",
        "hour_change",
        "hour_counts",
        "ipnet",
        "log_amount",
        "night_count",
        "night_share",
        "night_total",
        "novel_rate",
        "over_max",
        "prev_country",
        "round_extra",
        "travel_dt_s",
        "travel_km",
    )

    amount: float
    amount_dev: float
    amount_ratio: float
    amount_scale: float
    amount_z: float
    over_max: float
    log_amount: float
    #: the round-amount surprise's excess over the floor (`surprise.terms`, with
    #: `round_amounts`), added to amount_high after the recalibration (`rowloop`)
    round_extra: float
    history: int
    gap_s: float
    burst_count: int
    burst_span_s: float
    dup_age_s: float | None
    hour: int
    #: the customer's hour counts as `observe` found them (a copy of `CustomerState.hours`:
    #: the hour term's profile starts from it, `hourtail.counted_hour_tail`)
    hour_counts: bytes
    #: the change weight of the customer's hours `night_mass` found (`hourtail.
    #: change_weight`; -1.0 where it was not computed): the hour term takes it as is
    hour_change: float
    night_share: float
    night_count: int
    night_total: int
    country: str
    prev_country: str
    country_seen: int
    country_recent: float
    country_rarity: float
    hop_rate: float
    novel_rate: float
    travel_km: float
    travel_dt_s: float
    category: str
    category_rarity: float
    # the transaction's other values the terms and learning read, read once here (each
    # read of a transaction's attribute is a generic look-up when compiled)
    channel: str
    device: str
    ipnet: str


def ipnet(ip: str) -> str:
    """The network of an address: IPv4 /24 (`a.b.c`), IPv6 /48; empty stays empty."""
    if ":" in ip:
        return ":".join(ip.split(":")[:3])
    return ip.rsplit(".", 1)[0] if ip.count(".") == 3 else ip


def _held(st: CustomerState) -> list[tuple[Any, ...]]:
    """The customer's events on hold (habits.Held tuples and their weight), not learnt
    yet."""
    return [cast("tuple[Any, ...]", e) for _, e in st.pending]


#: Microseconds below which an int converts to a float exactly (2^53: 285 years).
_EXACT_US: Final = 1 << 53


def event_seconds(tx: Transaction) -> float:
    """Event time as seconds since 1970 (naive, so independent of the machine's zone)."""
    delta = tx.timestamp - EPOCH
    # `delta.total_seconds()` is the microseconds (an int) / 10**6, correctly rounded; so
    # is this, without its method call and boxed ints, where both convert to floats exactly
    us = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    if -_EXACT_US < us < _EXACT_US:
        return us / 1_000_000
    return delta.total_seconds()


def observe(tx: Transaction, t: float, st: CustomerState, pop: Population,
            cfg: Knobs) -> Observation:
    """Measure `tx` (at event time `t`) against the customer's past; changes nothing.
    The transaction's values the terms and learning use are kept on the observation
    (`amount`, `country`, `channel`, `category`, `device`, `ipnet`, `hour`)."""
    o = Observation()
    o.round_extra = 0.0
    w = cfg.prior_weight
    n = st.n
    o.history = n
    amount = tx.amount
    o.amount = amount
    # Amounts are compared after removing what the category adds for customers in general
    # (electronics cost more than groceries), so the customer's spread is their own.
    # the transaction's attributes read once (each read is a generic look-up when compiled)
    category, channel, country = tx.merchant_category, tx.channel, tx.country
    o.channel, o.device, o.ipnet = channel, tx.device, ipnet(tx.ip)
    raw = math.log1p(max(amount, 0.0))
    la = raw - pop.category_offset(category)
    o.log_amount = la
    amounts = st.amounts
    k = len(amounts)
    if k:
        s = sorted(amounts)
        med = s[k // 2] if k % 2 else 0.5 * (s[k // 2 - 1] + s[k // 2])
        spread = (s[(3 * k) // 4] - s[k // 4]) / 1.349 if k >= 4 else pop.amount_scale
        center = (k * med + w * pop.amount_center) / (k + w)
        scale = math.sqrt((k * spread * spread + w * pop.amount_scale**2) / (k + w))
        o.over_max = la - s[-1] if k >= cfg.min_history else 0.0
    else:
        o.over_max = 0.0
        med = center = pop.amount_center
        scale = pop.amount_scale
    scale = max(scale, 0.15)
    o.amount_scale = scale
    o.amount_z = (la - center) / scale
    o.amount_ratio = math.exp(la - med)
    o.amount_dev = raw - center

    gap = abs(t - st.last_t) if n else math.inf
    o.gap_s = gap

    burst, dup_age = 1, None
    span = 0.0
    burst_s, duplicate_s = cfg.burst_window_s, cfg.duplicate_window_s
    for rt, ramount, rcat, rch in st.recent:
        age = abs(t - rt)
        if age <= burst_s:
            burst += 1
            span = max(span, age)
        if age <= duplicate_s and ramount == amount and rcat == category \
                and rch == channel:
            dup_age = age if dup_age is None else min(dup_age, age)
    o.burst_count, o.burst_span_s, o.dup_age_s = burst, span, dup_age

    hour = tx.timestamp.hour
    o.hour = hour
    # a copy as bytes: compiled, its items are native reads (a bytearray's are generic)
    hours = bytes(st.hours)
    hn = night = 0  # ints: exact in any order; loops instead of sum(...) and its objects
    for i in range(24):
        hn += hours[i]
    for h in cfg.night_hours:
        night += hours[h]
    o.night_total = hn
    o.hour_counts = hours
    o.hour_change = -1.0
    o.night_count = night
    # Laplace-smoothed: a short history with no night events is weak evidence of a habit;
    # a night habit among the last learnt (or held) events (a new night shift) counts as one.
    o.night_share = (night + 1) / (hn + 2)
    o.country = country
    # the last learnt and the held events: their night hours, and how many were here
    # (`in_night(h, mask)` is `h in cfg.night_hours`)
    ctx, pending, mask = st.context, st.pending, cfg.night_mask
    recent_nights = ctx_here = held_here = 0  # ints: exact in any order
    for c in ctx:
        recent_nights += in_night(c[5], mask)
        ctx_here += c[0] == country
    if pending:
        for e in _held(st):
            recent_nights += in_night(held_hour(e), mask)
            held_here += cast("str", e[0]) == country
    recent_n = len(ctx) + len(pending)
    if recent_n:
        o.night_share = max(o.night_share, recent_nights / recent_n)
    if in_night(hour, mask) and hn >= cfg.odd_hour_min_history \
            and o.night_share <= cfg.odd_hour_max_share:
        # hours changing (the hour term's mixture): the night share it expects now
        mass, o.hour_change = counted_night_mass(st, pop, cfg.night_hours, cfg, hours, hn)
        o.night_share = max(o.night_share, mass)
    # seen: learnt, or in a purchase on hold (a country used 20 min ago was seen)
    o.country_seen = st.countries.get(country, 0) + held_here
    # its share among the last learnt and the held events: a new home is familiar quickly
    o.country_recent = (ctx_here + held_here) / recent_n if recent_n else 0.0
    tables, total = pop.tables, pop.total + 1.0
    country_share = (tables["country"].get(country, 0) + 0.5) / total
    o.country_rarity = -math.log(country_share)
    # How often this customer changes country, and how often a country is new to them:
    # a new country or a fast hop means little for a customer who does it all the time.
    o.hop_rate = (st.hops + w * 0.1) / (n + w)
    o.novel_rate = (st.novel + w * 0.1) / (n + w)
    o.prev_country = st.last_country
    if n and st.last_country != country:
        km = distance_km(st.last_country, country, cfg.travel_unknown_km)
        o.travel_km, o.travel_dt_s = km, gap
    else:
        o.travel_km, o.travel_dt_s = 0.0, gap

    o.category = category
    category_share = (tables["category"].get(category, 0) + 0.5) / total
    o.category_rarity = -math.log(category_share)
    return o
