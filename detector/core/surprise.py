"""Calibrated surprise per habit: -log P(a value at least this unusual | the customer's past).

Each term is a tail probability under a simple model of the customer's own habit, shrunk
to the population's for short histories, so that on a customer's ordinary behaviour the
share of events with surprise above s is about e^-s (tested). A term is capped at
`surprise_cap`. A recent habit counts too: for the categorical terms, hours and amounts the
probability used is the larger of the long habit's and `context_weight` x the share among
the last `context_size` learnt events, so a consistent new habit stops surprising quickly.

The combined surprise is the sum of every term's excess over `surprise_floor` (an event
always sits a little in some tail; only the excess is evidence), and
`score = S / (S + score_half)`. docs/detection.md explains each term with an example.
"""

from __future__ import annotations

import math

from detector.core.config import CoreConfig
from detector.core.features import Observation
from detector.core.habits import ipnet
from detector.core.rules import duration, needed_seconds, quoted
from detector.core.state import NOVELTY, CustomerState, Population
from shared.schemas import TransactionView as Transaction

TERMS: tuple[str, ...] = (
    "amount_high", "amount_low", "country", "device", "ip_network", "channel", "category",
    "hour", "rate", "repeat", "dormancy", "travel",
)
#: The rule each term grades (its reason gives way to the rule's when the rule fires).
GRADES: dict[str, str] = {
    "amount_high": "high_amount", "hour": "odd_hour", "country": "new_country",
    "travel": "impossible_travel", "rate": "burst", "repeat": "duplicate",
}
#: The k-th earlier purchase tested by the activity and repetition terms (a geometric
#: set: each test costs ln(number tested) of surprise, Bonferroni).
SPANS: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
#: Rate of new values assumed for a customer with no novelty record, and its weight.
_TINY = 1e-300


#: Logistic scale with the same quartiles as a unit normal (robust z = IQR / 1.349).
LOGISTIC_S = 0.6745 / math.log(3.0)


def tail_sf(z: float) -> float:
    """P(Z >= z) for a logistic with the quartiles of a unit normal: exponential tails,
    heavier than a normal's, so one odd amount in a long history is not a miracle."""
    v = z / LOGISTIC_S
    return math.exp(-v) / (1.0 + math.exp(-v)) if v > 0 else 1.0 / (1.0 + math.exp(v))


def tail_pdf(z: float) -> float:
    v = -abs(z) / LOGISTIC_S
    e = math.exp(v)
    return e / (LOGISTIC_S * (1.0 + e) ** 2)


def poisson_tail(k: int, mu: float) -> float:
    """P(N >= k) for N ~ Poisson(mu)."""
    if k <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    term = math.exp(-mu)
    below = 0.0
    for i in range(k):
        below += term
        term *= mu / (i + 1)
    tail = 1.0 - below
    if tail < 1e-9:  # cancellation: sum the tail directly
        tail, term = 0.0, math.exp(-mu + k * math.log(mu) - math.lgamma(k + 1))
        for i in range(k, k + 60):
            tail += term
            term *= mu / (i + 1)
    return max(tail, _TINY)


def _bits(p: float, cap: float) -> float:
    return min(cap, -math.log(max(p, _TINY)))


def categorical(table: dict[str, int], key: str, learnt: int, explore: float,
                pop: Population, attribute: str, recent: int, cfg: CoreConfig) -> float:
    """Surprise of `key` among the customer's values. A customer takes a value new to them
    by exploring what others use: at a rate per unit of the population's mass they have
    not used yet (`explore`: that mass summed over their events), estimated Good-Turing
    style (values seen once) and shrunk to the population's rate. So a customer who
    already uses every common value is not expected to take a new one, and one who keeps
    trying new merchants is not surprised by one more. A new value is judged by the
    chance of a new value at most as common across customers as this one."""
    if learnt == 0:
        return 0.0
    count = table.get(key, 0)
    once = total = below = 0
    for v in table.values():  # one pass: singletons, total, mass at most as common
        total += v
        if v == 1:
            once += 1
        if v <= count:
            below += v
    k = cfg.new_value_prior
    rate = (once + k * pop.new_rate(attribute)) / (explore + k)
    full = len(pop.tables[attribute]) >= cfg.max_population_keys
    if count == 0:
        mass = 1.0 if full else (pop.unused_mass(attribute, table) if attribute == "ipnet"
                                 else pop.rarer_mass(attribute, table, key))
        tail = min(1.0, rate * mass)
    else:
        p_new = min(1.0, rate * (1.0 if full else pop.unused_mass(attribute, table)))
        tail = p_new + (1.0 - p_new) * below / total
    tail = max(tail, cfg.context_weight * recent / cfg.context_size)
    return _bits(tail, cfg.surprise_cap)


#: A recent event whose hour had at most this tail under the long habit broke it.
BROKE = math.exp(-3.0)
#: Weights of a recent purchase's hour spread over its neighbours (-2 h .. +2 h).
KERNEL = (1 / 9, 2 / 9, 3 / 9, 2 / 9, 1 / 9)


def _tails(q: list[float]) -> list[float]:
    """For every hour: the mass of the hours at most as common as it (+-1 h)."""
    near = [a + b + c for a, b, c in zip([q[-1], *q[:-1]], q, [*q[1:], q[0]], strict=True)]
    order = sorted(range(24), key=near.__getitem__)
    tails = [0.0] * 24
    acc, i = 0.0, 0
    while i < 24:
        j, edge = i, near[order[i]] + 1e-12
        while j < 24 and near[order[j]] <= edge:
            acc += q[order[j]]
            j += 1
        for m in range(i, j):
            tails[order[m]] = acc
        i = j
    return tails


def _tail(q: list[float], hour: int) -> float:
    near = [a + b + c for a, b, c in zip([q[-1], *q[:-1]], q, [*q[1:], q[0]], strict=True)]
    mine = near[hour] + 1e-12
    return sum([x for x, y in zip(q, near, strict=True) if y <= mine])


def hour_tail(st: CustomerState, pop: Population, hour: int, cfg: CoreConfig) -> float:
    """Share of the customer's (smoothed) hours at most as common as this one (+-1 h).

    A change under way counts: when at least two of the last learnt events broke the long
    habit (each had a tail below e^-3 there: two of eight happen by chance to about one
    customer in twenty), the hours are a mixture of the long habit and the recent events'
    hours, weighted by the share of recent events that broke it. The recent hours are few,
    so their profile spreads each over +-2 h and keeps one pseudo-event spread over the
    whole day (a new regime's shape is unknown): a new night shift is learnt after a few
    nights."""
    hours = st.hours
    hn = sum(hours)
    if hn == 0:
        return 1.0
    w = cfg.prior_weight
    k = w / (pop.total + 24.0)
    d = hn + w
    q = [(c + k * (p + 1.0)) / d for c, p in zip(hours, pop.hours, strict=True)]
    ctx = st.context
    if len(ctx) >= 2:
        tails = _tails(q)
        broke = [c[5] for c in ctx if tails[c[5]] <= BROKE]
        if len(broke) >= 2:
            share = len(broke) / len(ctx)
            spread = share / (len(broke) + 1.0)
            mix = [(1.0 - share) * x + spread / 24.0 for x in q]
            for h in broke:
                for step, weight in enumerate(KERNEL):
                    mix[(h + step - 2) % 24] += spread * weight
            return _tail(mix, hour)
        return tails[hour]
    return _tail(q, hour)


def terms(tx: Transaction, t: float, st: CustomerState, pop: Population, o: Observation,
          cfg: CoreConfig) -> tuple[list[float], dict[str, str], float]:
    """Every term (in `TERMS` order), the reasons of those above the floor, and the
    surprise of the gap before this event (remembered as a return from silence)."""
    cap, w_ctx, size = cfg.surprise_cap, cfg.context_weight, cfg.context_size
    ctx = st.context
    out = dict.fromkeys(TERMS, 0.0)
    # --- amount: logistic tails on the robust z, against the long and the recent level ----
    k = len(st.amounts)
    scale = o.amount_scale * math.sqrt(1.0 + 1.0 / (k + cfg.prior_weight + 1.0))
    z = o.amount_z * o.amount_scale / scale
    up, down = tail_sf(z), tail_sf(-z)
    if len(ctx) >= 3:
        levels = sorted(c[6] for c in ctx)
        zr = (o.log_amount - levels[len(levels) // 2]) / scale
        up, down = max(up, w_ctx * tail_sf(zr)), max(down, w_ctx * tail_sf(-zr))
    if st.n:
        out["amount_high"], out["amount_low"] = _bits(up, cap), _bits(down, cap)
    # --- novelty of each attribute -------------------------------------------------------
    learnt = st.learnt
    net = ipnet(tx.ip)
    for name, table, key, i in (("country", st.countries, tx.country, 0),
                                ("device", st.devices, tx.device, 1),
                                ("ip_network", st.ipnets, net, 2),
                                ("channel", st.channels, tx.channel, 3),
                                ("category", st.categories, tx.merchant_category, 4)):
        recent = [c[i] for c in ctx].count(key) if ctx else 0
        attribute = "ipnet" if name == "ip_network" else name
        out[name] = categorical(table, key, learnt, st.explore[NOVELTY.index(attribute)],
                                pop, attribute, recent, cfg)
    # A new country comes with a new network: only the network's surprise beyond the
    # country's is news.
    out["ip_network"] = max(0.0, out["ip_network"] - out["country"])
    # --- hour of day ----------------------------------------------------------------------
    if learnt:
        recent = len([c for c in ctx if (c[5] - o.hour) % 24 in (0, 1, 23)])
        out["hour"] = _bits(max(hour_tail(st, pop, o.hour, cfg), w_ctx * recent / size), cap)
    reasons: dict[str, str] = {}
    # --- activity: the time back to the k-th earlier purchase, against the customer's pace
    if st.n and pop.gaps >= 100:
        w = cfg.prior_weight
        typical = (st.gaps * st.gap_log + w * pop.gap_log) / (st.gaps + w)
        rate = math.exp(-typical)
        horizon = max(cfg.rate_windows_s)
        ages = sorted(abs(t - r[0]) for r in st.window if abs(t - r[0]) <= horizon)
        best, detail = 0.0, ""
        tested = [k for k in SPANS if k <= len(ages)]
        for k in tested:
            # P(k earlier purchases within this span) = P(Poisson(rate * span) >= k)
            span = max(ages[k - 1], 1.0)
            s = _bits(poisson_tail(k, rate * span), cap) - math.log(len(tested))
            if s > best:
                best, detail = s, (f"{k + 1} purchases within {duration(span)} "
                                   f"(about {1 + rate * span:.1f} at this customer's pace)")
        out["rate"] = max(best, 0.0)
        reasons["rate"] = detail
    # --- repetition of similar amounts in a short window: the k nearest amounts among the
    # purchases of the window, against the chance that k of them fall that close by
    # coincidence given the customer's amounts (no fixed tolerance) ---------------------
    if st.n and tx.amount > 0:
        density = tail_pdf(z) / scale
        la = math.log(tx.amount)
        grain = 0.005 / tx.amount  # half a cent: amounts closer than this are equal
        near: list[float] = []
        exact = 0
        for rt, amount, category, channel in st.window:
            if abs(t - rt) <= cfg.repeat_window_s and amount > 0:
                near.append(max(abs(math.log(amount) - la), grain))
                exact += (amount == tx.amount and category == tx.merchant_category
                          and channel == tx.channel)
        if near:
            near.sort()
            others = len(near)
            tested = [k for k in SPANS if k <= others]
            best, closest = 0.0, 0
            for k in tested:
                p_sim = min(1.0, 2 * near[k - 1] * density)
                s = _bits(poisson_tail(k, others * p_sim), cap) - math.log(len(tested))
                if s > best:
                    best, closest = s, k
            if exact:
                n_ex = (st.exact + cfg.prior_weight * 0.01) / (st.n + cfg.prior_weight)
                p_ex = max(min(1.0, 2 * grain * density) * 0.25, n_ex)
                best = max(best, _bits(poisson_tail(exact, others * p_ex), cap))
            out["repeat"] = best
            within = math.exp(near[closest - 1]) - 1.0 if closest else 0.0
            reasons["repeat"] = (f"repeats an amount of {tx.amount:g} within "
                                 f"{duration(cfg.repeat_window_s)}" if exact else
                                 f"{closest + 1} purchases within {100 * within:.0f}% of "
                                 f"{tx.amount:.0f} in {duration(cfg.repeat_window_s)}")
    # --- a long silence, and the activity right after it --------------------------------
    wake = 0.0
    if st.gaps and t >= st.last_t:
        w = cfg.prior_weight
        mean = (st.gaps * st.gap_mean + w * pop.gap_mean) / (st.gaps + w)
        alpha = cfg.dormancy_alpha
        gap = t - st.last_t
        wake = _bits((1.0 + gap / (alpha * max(mean, 60.0))) ** -alpha, cap)
        reasons["dormancy"] = f"first purchase after {duration(gap)} of silence"
        since, before = st.wake
        if 0 <= t - since <= cfg.wake_s and before * 0.5 > wake:
            out["dormancy"] = before * 0.5
            reasons["dormancy"] = f"{duration(t - since)} after a return from silence"
        else:
            out["dormancy"] = wake
    # --- travel faster than a flight ------------------------------------------------------
    if o.travel_km > 0 and st.n:
        need = needed_seconds(o, cfg)
        ratio = need / max(o.travel_dt_s, 60.0)
        if ratio > 1.0:
            # the customer's rate of such hops, shrunk to the population's (a small rate
            # needs many events to estimate: worth `new_value_prior` events)
            weight = cfg.new_value_prior
            p_fast = (st.fast + weight * pop.fast_rate()) / (st.n + weight)
            out["travel"] = _bits(p_fast, cap) * min(1.0, math.log(ratio) / math.log(2.0))
    values = [out[name] for name in TERMS]
    floor = cfg.surprise_floor
    kept = {name: reasons.get(name) or _reason(name, tx, o, st)
            for name, value in zip(TERMS, values, strict=True) if value > floor}
    return values, kept, wake


def _reason(name: str, tx: Transaction, o: Observation, st: CustomerState) -> str:
    if name == "amount_high":
        return f"amount {o.amount_ratio:.1f}x this customer's usual for {quoted(o.category)}"
    if name == "amount_low":
        return f"amount 1/{1 / max(o.amount_ratio, 1e-9):.0f} of this customer's usual"
    if name == "hour":
        return f"{o.hour:02d} h is unusual for this customer"
    if name == "travel":
        return (f"{quoted(o.country)} {duration(o.travel_dt_s)} after a purchase in "
                f"{quoted(o.prev_country)}")
    value = {"country": tx.country, "device": tx.device, "ip_network": ipnet(tx.ip),
             "channel": tx.channel, "category": tx.merchant_category}[name]
    table = {"country": st.countries, "device": st.devices, "ip_network": st.ipnets,
             "channel": st.channels, "category": st.categories}[name]
    label = name.replace("_", " ")
    seen = table.get(value, 0)
    value = quoted(value)
    if seen == 0:
        return f"{label} {value} never seen for this customer"
    return f"{label} {value} seen only {seen}x in {st.learnt} purchases"


class Recalibration:
    """Keeps each term honest on the data at hand, at several levels of its tail: where a
    term surprises more often than it should on this population (its value exceeds L on
    more than e^-L of established customers' rows, L = 3, 4), it is mapped down so
    that those quantiles are L again (a piecewise-linear map through them), and beyond the
    last it grows with the slope of the last piece (a tail heavier than the term's model,
    e.g. amounts that are normal rather than log-normal, is not extrapolated as a
    miracle). Never up (a cautious term stays cautious), never below a third. Levels stop
    at 4 (e^-4 = 1.8% of rows; at 5, 0.7%, anomalies of a few kinds together taught
    `amount_high` that they are usual).
    Fixed between recomputes (every `EVERY` rows, from `MIN_ROWS` on): deterministic."""

    BINS_PER_UNIT = 10
    LEVELS = (3.0, 4.0)
    MIN_ROWS = 512
    EVERY = 256
    WINDOW = 200_000

    __slots__ = ("hist", "scales", "shapes", "total")

    def __init__(self, cap: float) -> None:
        width = int(cap * self.BINS_PER_UNIT) + 1
        self.hist = [[0] * width for _ in TERMS]
        self.scales = [1.0] * len(TERMS)  # each term's slope beyond its last level
        # per term: the map's points [raw, calibrated] in increasing order; [] = identity
        # (lists, so that the state format's JSON gives them back as they were)
        self.shapes: list[list[list[float]]] = [[] for _ in TERMS]
        self.total = 0

    def apply(self, values: list[float]) -> list[float]:
        out = []
        for v, points, slope in zip(values, self.shapes, self.scales, strict=True):
            if not points or v <= 0:
                out.append(v)
                continue
            x0 = y0 = 0.0
            for x1, y1 in points:
                if v <= x1:
                    mapped = y0 + (v - x0) * (y1 - y0) / (x1 - x0)
                    break
                x0, y0 = x1, y1
            else:
                mapped = y0 + (v - x0) * slope
            out.append(max(v / 3.0, min(v, mapped)))
        return out

    def learn(self, values: list[float]) -> None:
        last = len(self.hist[0]) - 1
        for h, v in zip(self.hist, values, strict=True):
            h[min(last, max(0, int(v * self.BINS_PER_UNIT)))] += 1
        self.total += 1
        if self.total % self.EVERY == 0:
            self._rescale()
        if self.total >= self.WINDOW:  # a moving window: halve the counts
            self.hist = [[n // 2 for n in h] for h in self.hist]
            self.total = sum(self.hist[0])

    def _edge(self, h: list[int], level: float) -> float:
        """The smallest value exceeded by at most e^-level of the rows."""
        target = self.total * math.exp(-level)
        above = 0
        for b in range(len(h) - 1, -1, -1):
            above += h[b]
            if above >= target:
                return b / self.BINS_PER_UNIT
        return 0.0

    def _rescale(self) -> None:
        if self.total < self.MIN_ROWS:
            return
        for i, h in enumerate(self.hist):
            points: list[list[float]] = []
            narrow = False
            for level in self.LEVELS:
                edge = self._edge(h, level)
                if edge <= 0 or (points and edge <= points[-1][0]):
                    continue
                narrow |= edge > level
                points.append([edge, min(edge, level)])
            if not narrow:
                self.shapes[i], self.scales[i] = [], 1.0
                continue
            (xa, ya), (xb, yb) = [[0.0, 0.0], *points][-2:]
            self.shapes[i] = points
            self.scales[i] = min(1.0, max(1.0 / 3.0, (yb - ya) / (xb - xa)))

    def __getstate__(self) -> tuple[object, ...]:
        return (self.hist, self.scales, self.total, self.shapes)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        self.hist, self.scales, self.total, self.shapes = state  # type: ignore[assignment]


def combine(values: list[float], cfg: CoreConfig) -> float:
    """The combined surprise: every term's excess over the floor, summed."""
    floor = cfg.surprise_floor
    return sum(v - floor for v in values if v > floor)


def to_score(total: float, cfg: CoreConfig) -> float:
    """The fixed map of the combined surprise to 0..1: S / (S + score_half)."""
    return total / (total + cfg.score_half) if total > 0 else 0.0
