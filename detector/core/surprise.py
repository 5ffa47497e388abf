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
Hour tails: `hourtail`; the low side of amounts: `lowtail`; recalibration: `calibration`.
A speed-up here must keep every float to the bit (bench/core_parity.py).
"""

from __future__ import annotations

import math
from typing import Final

from detector.core.calibration import TERMS, Recalibration
from detector.core.features import Observation
from detector.core.hourtail import counted_hour_tail, hour_tail
from detector.core.knobs import Knobs
from detector.core.lowtail import amount_z, low_rate
from detector.core.rules import duration, needed_seconds, quoted
from detector.core.state import (
    NOVELTY,
    CustomerState,
    Population,
    held_hour,
    history_band,
    round_level,
)
from detector.core.variety import SPANS, variety

#: The rule each term grades (its reason gives way to the rule's when the rule fires).
GRADES: Final[dict[str, str]] = {
    "amount_high": "high_amount", "hour": "odd_hour", "country": "new_country",
    "travel": "impossible_travel", "rate": "burst", "repeat": "duplicate",
}
#: The smallest probability a term takes (so its -log stays finite before the cap).
_TINY: Final = 1e-300
#: The most any term is, whatever `surprise_cap`: the bits of the smallest probability kept.
MAX_BITS: Final = -math.log(_TINY)


#: Logistic scale with the same quartiles as a unit normal (robust z = IQR / 1.349).
LOGISTIC_S: Final = 0.6745 / math.log(3.0)


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
    return _TINY if tail < _TINY else tail  # max(tail, _TINY), without the call


def binomial_tail(k: int, n: int, q: float) -> float:
    """P(N >= k) for N ~ Binomial(n, q) (n small: a day's window), summed from the top;
    1 where q is 1 (everyone's amounts round: no run is news)."""
    if k <= 0:
        return 1.0
    if k > n or q <= 0.0:
        return 0.0 if k > n else _TINY
    if q >= 1.0:
        return 1.0
    tail = 0.0
    for i in range(k, n + 1):
        tail += math.comb(n, i) * q ** i * (1.0 - q) ** (n - i)
    tail = tail if tail < 1.0 else 1.0
    return _TINY if tail < _TINY else tail


def _bits(p: float, cap: float) -> float:
    # min(cap, -log(max(p, _TINY))) spelt as the builtins decide (same value, no calls)
    bits = -math.log(_TINY if p < _TINY else p)
    return bits if bits < cap else cap


def categorical(table: dict[str, int], key: str, learnt: int, explore: float,
                pop: Population, attribute: str, recent: int, cfg: Knobs) -> float:
    """Surprise of `key` among the customer's values. A customer takes a value new to them
    by exploring what others use: at a rate per unit of the population's mass they have
    not used yet (`explore`: that mass summed over their events), estimated Good-Turing
    style (values seen once) and shrunk to the population's rate. So a customer who
    already uses every common value is not expected to take a new one, and one who keeps
    trying new merchants is not surprised by one more. A new value is judged by the
    chance of a new value at most as common across customers as this one. A customer with
    no learnt event yet takes a new value for sure: their first purchase is judged against
    the population's first purchases (`Population.first_tail`), so a value nobody uses
    surprises where new customers do not bring such values, and not where each brings
    their own device."""
    return banded_categorical(table, key, learnt, history_band(learnt, cfg.prior_bands),
                              explore, pop, attribute, recent, cfg)


def banded_categorical(table: dict[str, int], key: str, learnt: int, band: int,
                       explore: float, pop: Population, attribute: str, recent: int,
                       cfg: Knobs) -> float:
    """`categorical` given the customer's band of history, `history_band(learnt,
    cfg.prior_bands)` (`terms` finds it once a row for the five attributes); the rate of
    new values is computed only where it is used (a first purchase does not use it)."""
    count = table.get(key, 0)
    counts = pop.tables[attribute]
    full = len(counts) >= cfg.max_population_keys
    # one native pass over the customer's counts (integer sums: exact in any order): the
    # values seen once, the events of values at most as common as this one, all events;
    # and the population's counts of these values (`unused_mass`'s walk of this table)
    once = below = events = used = 0
    for value, v in table.items():
        once += v == 1
        events += v
        if v <= count:
            below += v
        used += counts.get(value, 0)
    if not learnt:  # a first purchase: every value is new to the customer
        tail = 1.0 if full else pop.first_tail(attribute, key)
        share = cfg.context_weight * recent / cfg.context_size
        return _bits(share if share > tail else tail, cfg.surprise_cap)
    k = cfg.new_value_prior
    rate = (once + k * pop.new_rate(attribute, band)) / (explore + k)
    if count == 0:
        mass = 1.0 if full else pop.first_base(attribute, table, key)
        tail = rate * mass
        tail = tail if tail < 1.0 else 1.0
    else:
        p_new = rate * (1.0 if full else pop.unused_share(attribute, used))
        p_new = p_new if p_new < 1.0 else 1.0
        tail = p_new + (1.0 - p_new) * below / events
    share = cfg.context_weight * recent / cfg.context_size
    return _bits(share if share > tail else tail, cfg.surprise_cap)


#: Each novelty term, in `Context`'s order: (its attribute in the population, the index of
#: its attribute in `NOVELTY`).
_NOVEL: Final[list[tuple[str, int]]] = [
    (a, NOVELTY.index(a)) for a in ("country", "device", "ipnet", "channel", "category")]


def terms(t: float, st: CustomerState, pop: Population, o: Observation, cfg: Knobs
          ) -> tuple[list[float], dict[str, str], float]:
    """Every term (in `TERMS` order), the reasons of those above the floor, and the
    surprise of the gap before this event (remembered as a return from silence), of the
    transaction at event time `t` that `observe` measured as `o` (its values are read
    there: native fields, where each of a transaction's is a generic look-up compiled)."""
    cap, w_ctx, size = cfg.surprise_cap, cfg.context_weight, cfg.context_size
    ctx = st.context
    n = st.n
    amount, category, channel = o.amount, o.category, o.channel
    # --- amount: logistic tails on the robust z, against the long and the recent level ----
    z, scale = amount_z(st, o, cfg)
    up, down = tail_sf(z), tail_sf(-z)
    if z < 0.0 and n:
        down = max(down, low_rate(st, pop, o, z, cfg))
    zr, w_recent = z, 0.0  # the recent level's z and weight (none before 3 learnt events)
    if len(ctx) >= 3:
        levels = sorted([c[6] for c in ctx])
        zr = (o.log_amount - levels[len(levels) // 2]) / scale
        w_recent = w_ctx
        up, down = max(up, w_ctx * tail_sf(zr)), max(down, w_ctx * tail_sf(-zr))
    amount_high = amount_low = 0.0
    if n:
        amount_high, amount_low = _bits(up, cap), _bits(down, cap)
    # --- novelty of each attribute (a first purchase against everybody's), and the hour --
    learnt = st.learnt
    novel = [0.0] * 5  # country, device, ip_network, channel, category
    hour = o.hour
    country, device, net = o.country, o.device, o.ipnet
    keys = [country, device, net, channel, category]
    # how many of the context share each key (Context's order), and hours within 1 h
    # (native int counters: a list's items would be added as boxed objects)
    s0 = s1 = s2 = s3 = s4 = near_hour = 0  # ints: exact in any order
    recent: list[int] = []  # `hourtail.recent_hours`, for the hour term, in this walk
    for c in ctx:
        s0 += c[0] == country
        s1 += c[1] == device
        s2 += c[2] == net
        s3 += c[3] == channel
        s4 += c[4] == category
        h = c[5]
        recent.append(h)
        near_hour += (h - hour) % 24 in (0, 1, 23)
    # the hour of a purchase on hold counts (`hourtail.recent_hours`), its values do not
    # (a takeover's second purchase must not find its device known)
    for _, e in st.pending:
        h = held_hour(e)
        recent.append(h)
        near_hour += (h - hour) % 24 in (0, 1, 23)
    seen = [s0, s1, s2, s3, s4]
    tables = [st.countries, st.devices, st.ipnets, st.channels, st.categories]
    explore = st.explore
    band = history_band(learnt, cfg.prior_bands)  # once a row, not once an attribute
    for i in range(5):
        attribute, j = _NOVEL[i]
        novel[i] = banded_categorical(tables[i], keys[i], learnt, band, explore[j], pop,
                                      attribute, seen[i], cfg)
    # A new country comes with a new network: only the network's surprise beyond the
    # country's is news.
    novel[2] = max(0.0, novel[2] - novel[0])
    tail = counted_hour_tail(st, pop, hour, cfg, o.hour_counts, o.night_total,
                             o.hour_change, recent)
    hour_v = _bits(max(tail, w_ctx * near_hour / size), cap)
    reasons: dict[str, str] = {}
    rate_v = _rate(t, st, pop, cfg, reasons) if n and pop.gaps >= 100 else 0.0
    if cfg.variety_window_s > 0.0 and n:
        rate_v = _fold(rate_v, variety(t, category, st, pop, cfg, reasons), reasons, cfg)
    repeat_v = (_repeat(amount, category, channel, t, st, pop, z, scale, cfg, reasons)
                if n and amount > 0 else 0.0)
    if cfg.days_s > 0.0 and n and amount > 0 and z > 0.0:
        repeat_v = _over_days(repeat_v, amount, category, channel, t, st, pop, z, zr,
                              w_recent, scale, cfg, reasons)
    # --- a long silence, and the activity right after it --------------------------------
    wake = dormancy = 0.0
    if st.gaps and t >= st.last_t:
        w = cfg.prior_weight
        prior = pop.gap_prior(history_band(st.gaps, cfg.prior_bands))
        mean = (st.gaps * st.gap_mean + w * prior) / (st.gaps + w)
        alpha = cfg.dormancy_alpha
        gap = t - st.last_t
        wake = _bits((1.0 + gap / (alpha * max(mean, 60.0))) ** -alpha, cap)
        since, before = st.wake
        if 0 <= t - since <= cfg.wake_s and before * 0.5 > wake:
            dormancy = before * 0.5
            if dormancy > cfg.surprise_floor:  # a reason only where it is reported
                reasons["dormancy"] = f"{duration(t - since)} after a return from silence"
        else:
            dormancy = wake
            if dormancy > cfg.surprise_floor:
                reasons["dormancy"] = f"first purchase after {duration(gap)} of silence"
    # --- travel faster than a flight ------------------------------------------------------
    travel = 0.0
    if o.travel_km > 0 and n:
        need = needed_seconds(o, cfg)
        ratio = need / max(o.travel_dt_s, 60.0)
        if ratio > 1.0:
            # The short gap is the activity term's evidence (`rate`); given it, the hop is
            # too fast because the country changed: as improbable as a change of country is
            # for this customer (their hop rate, as the rule reads it), never more than a
            # fast hop is (their rate of such hops, shrunk to the population's, worth
            # `new_value_prior` events)
            weight = cfg.new_value_prior
            p_fast = (st.fast + weight * pop.fast_rate()) / (st.n + weight)
            p_hop = o.hop_rate
            travel = _bits(p_hop if p_hop > p_fast else p_fast, cap) * min(
                1.0, math.log(ratio) / math.log(2.0))
    floor = cfg.surprise_floor
    if cfg.round_amounts:  # its excess joins amount_high after the recalibration (`fold`)
        level = round_level(amount)
        bits, k, m = round_surprise(level, t, st, pop, cfg)
        if bits > floor:
            o.round_extra = bits - floor
            said = round_reason(amount, level, k, m, st, pop, ROUND_WINDOW_S)
            reasons["amount_high"] = (_reason("amount_high", o, st) + "; " + said
                                      if amount_high > floor else said)
    values = [amount_high, amount_low, *novel, hour_v, rate_v, repeat_v, dormancy, travel]
    kept: dict[str, str] = {}
    for i in range(len(values)):
        if values[i] > floor or (i == 0 and o.round_extra > 0.0):
            name = TERMS[i]
            kept[name] = reasons.get(name) or _reason(name, o, st)
    return values, kept, wake


#: The run of round amounts is counted over the purchases of the last day the customer's
#: window keeps (`habits.WINDOW_S`, which imports this module).
ROUND_WINDOW_S: Final = 86400.0
#: How an auditor names the amounts at least each roundness level round (`round_level`).
ROUND_NAMES: Final[tuple[str, ...]] = (
    "", "whole amounts", "whole tens", "whole hundreds", "whole thousands")


def round_tail(level: int, st: CustomerState, pop: Population, cfg: Knobs) -> float:
    """P(an amount at least `level` round | this customer): their own share of amounts
    that round, shrunk to the population's (`Population.round_share`, worth
    `prior_weight` amounts), so a short history is judged by everybody's habit and a
    long one by its own. Levels nest (a whole hundred is a whole ten), so this is the
    tail probability of the amount's roundness: calibrated."""
    rounds, w = st.rounds, cfg.prior_weight
    return (rounds[level] + w * pop.round_share(level)) / (rounds[0] + w)


def round_surprise(level: int, t: float, st: CustomerState, pop: Population, cfg: Knobs
                   ) -> tuple[float, int, int]:
    """The round-amount surprise of a purchase at event time `t` of roundness `level`
    (`round_level`; 0: not whole, no surprise), and the (round, all) purchases it counted:
    of the purchases within `ROUND_WINDOW_S` (this one included), k at least this round
    out of m. Given this one is round, the chance that k - 1 of the m - 1 others are at
    least as round by coincidence, P(Binomial(m - 1, `round_tail`) >= k - 1), capped. A
    single round amount is no evidence (with cents spread evenly one amount in a hundred
    is whole by chance: scored, it took as much of the review budget as any 1% tail,
    docs/benchmarks.md); a run of them (a mule's equal payouts, a cash-out in round sums)
    is. Near 0 wherever round amounts are common: for a customer who pays them, and for
    everybody in a population of whole amounts."""
    if level <= 0:
        return 0.0, 0, 0
    window_s = ROUND_WINDOW_S
    k = m = 1
    for rt, other, _, _ in st.window:
        if abs(t - rt) <= window_s:
            m += 1
            k += round_level(other) >= level
    if k < 2:  # a single round amount: no run
        return 0.0, k, m
    tail = binomial_tail(k - 1, m - 1, round_tail(level, st, pop, cfg))
    return _bits(tail, cfg.surprise_cap), k, m


def round_reason(amount: float, level: int, k: int, m: int, st: CustomerState,
                 pop: Population, window_s: float) -> str:
    """The round amount's reason in an auditor's words: the amount, how many of the
    window's purchases were as round, how many of the customer's amounts (and what share
    of everybody's) were."""
    name = ROUND_NAMES[level if level < len(ROUND_NAMES) else -1]
    seen, counted = st.rounds[level], st.rounds[0]
    share = 100.0 * pop.rounds[level] / pop.rounds[0] if pop.rounds[0] else 0.0
    mine = (f"{seen} of this customer's {counted} earlier purchases were as round"
            if counted else "none of this customer's purchases counted yet")
    return (f"an amount of exactly {amount:.2f} ({k} of {m} purchases within "
            f"{duration(window_s)} were {name}; {mine}; {share:.1f}% of all purchases)")


def _rate(t: float, st: CustomerState, pop: Population, cfg: Knobs,
          reasons: dict[str, str]) -> float:
    """Activity: the time back to the k-th earlier purchase, against the customer's pace."""
    w = cfg.prior_weight
    typical = (st.gaps * st.gap_log + w * pop.gap_log) / (st.gaps + w)
    rate = math.exp(-typical)
    horizon = cfg.rate_horizon_s
    ages = sorted([a for a in [abs(t - r[0]) for r in st.window] if a <= horizon])
    best, best_k, best_span = 0.0, 0, 0.0
    tested = [k for k in SPANS if k <= len(ages)]
    if tested:
        cap, tests = cfg.surprise_cap, math.log(float(len(tested)))  # as in _repeat
        for k in tested:
            # P(k earlier purchases within this span) = P(Poisson(rate * span) >= k)
            span = ages[k - 1]
            span = 1.0 if span < 1.0 else span
            s = _bits(poisson_tail(k, rate * span), cap) - tests
            if s > best:
                best, best_k, best_span = s, k, span
    if best_k and best > cfg.surprise_floor:  # a reason only where it is reported
        reasons["rate"] = (f"{best_k + 1} purchases within {duration(best_span)} "
                           f"(about {1 + rate * best_span:.1f} at this customer's pace)")
    return max(best, 0.0)


def _fold(rate: float, varied: float, reasons: dict[str, str], cfg: Knobs) -> float:
    """The activity term with variety folded in: unchanged unless variety is above the
    floor; then the larger of the two plus the other's excess over the floor, so that the
    combined surprise gains what two terms would add (each one's excess), and the reasons
    of both (variety's moved to `rate`)."""
    floor = cfg.surprise_floor
    if varied <= floor:  # no evidence (and the term as it was, for the model too)
        return rate
    high, low = (rate, varied) if rate >= varied else (varied, rate)
    folded = high + (low - floor if low > floor else 0.0)
    why = reasons.pop("variety", "")
    if why:
        have = reasons.get("rate")
        reasons["rate"] = f"{have}; {why}" if have else why
    cap = cfg.surprise_cap
    return folded if folded < cap else cap


def match_weights(category: str, channel: str, st: CustomerState, pop: Population,
                  cfg: Knobs) -> tuple[float, float]:
    """How a neighbour's amount gap is weighed in `_repeat`: (same category and channel as
    this purchase of `category` through `channel`, not both). A neighbour is similar by
    amount *and* by what was bought: the chance that another purchase falls within d of
    this amount is split into two cells, one that matches (chance pi, the customer's
    category share times their channel share, each shrunk to the population's,
    `prior_weight` events) and one that does not (1 - pi), each given half of the test (a
    union bound over the two cells): a match counts as a gap x 2 pi, another as
    x 2 (1 - pi), so the test stays a valid p-value whatever pi is. Only when a match is
    less likely than not (pi < 1/2) is it evidence; otherwise both weights are 1 (a
    customer who always buys the same way is judged by amounts alone)."""
    w = cfg.prior_weight
    cats, chans = st.categories, st.channels
    p_cat = (cats.get(category, 0) + w * pop.share("category", category)) / (
        sum(cats.values()) + w)
    p_chan = (chans.get(channel, 0) + w * pop.share("channel", channel)) / (
        sum(chans.values()) + w)
    pi = p_cat * p_chan
    if pi >= 0.5:
        return 1.0, 1.0
    return 2.0 * pi, 2.0 * (1.0 - pi)


def _neighbours(amount: float, category: str, channel: str, t: float,
                st: CustomerState, pop: Population, cfg: Knobs, window_s: float
                ) -> tuple[list[tuple[float, float]], int]:
    """(weighed gap, amount) of every purchase of the window, nearest first: the log gap
    to this amount (at least half a cent: closer amounts are equal), x `match_weights`
    (weighed only when the window holds a purchase); and how many of them have this
    amount, category and channel exactly (the purchase's). One pass over the window."""
    la = math.log(amount)
    grain = 0.005 / amount
    found: list[tuple[float, float, bool]] = []
    exact = 0
    for rt, other, r_category, r_channel in st.window:
        if abs(t - rt) <= window_s and other > 0:
            gap = abs(math.log(other) - la)
            match = r_category == category and r_channel == channel
            found.append((grain if grain > gap else gap, other, match))
            exact += other == amount and match
    if not found:
        return [], 0
    same, other_w = match_weights(category, channel, st, pop, cfg)
    near = [(gap * (same if match else other_w), other) for gap, other, match in found]
    near.sort()
    return near, exact


def _repeat(amount: float, category: str, channel: str, t: float, st: CustomerState,
            pop: Population, z: float, scale: float, cfg: Knobs, reasons: dict[str, str]
            ) -> float:
    """Repetition of similar purchases in a short window: the k nearest among the
    purchases of the window (amounts, weighed by whether category and channel match:
    `match_weights`), against the chance that k of them fall that close by coincidence
    given the customer's amounts and habits (no fixed tolerance): a purchase of `amount`
    in `category` through `channel`."""
    window_s = cfg.repeat_window_s
    pairs, exact = _neighbours(amount, category, channel, t, st, pop, cfg, window_s)
    if not pairs:
        return 0.0
    grain = 0.005 / amount
    cap = cfg.surprise_cap
    density = tail_pdf(z) / scale
    best, closest = _nearest_k([gap for gap, _ in pairs], 2 * density, cap, 0.0)
    if exact:
        n_ex = (st.exact + cfg.prior_weight * 0.01) / (st.n + cfg.prior_weight)
        p_ex = max(min(1.0, 2 * grain * density) * 0.25, n_ex)
        best = max(best, _bits(poisson_tail(exact, len(pairs) * p_ex), cap))
    if best > cfg.surprise_floor:  # only a term above the floor is given its reason
        reasons["repeat"] = (
            f"repeats an amount of {amount:g} within {duration(window_s)}" if exact
            else _similar_amounts(amount, pairs, closest, window_s))
    return best


def _nearest_k(near: list[float], factor: float, cap: float, extra: float
               ) -> tuple[float, int]:
    """The repetition test of both windows over the window's other purchases, nearest
    first: for each k in `SPANS` (at most their number), the chance that k of them fall
    as close as the k-th by coincidence, P(Poisson(others x min(1, `factor` x near[k-1]))
    >= k) (`_repeat`: weighed gaps x 2 x density; `_over_days`: the chances themselves,
    `factor` 1), as surprise less ln(number of k tested) and `extra`; the strongest, and
    its k (0: none above 0)."""
    others = len(near)
    tested = [k for k in SPANS if k <= others]
    tests = math.log(float(len(tested))) + extra  # the int's log, native (an int's is a call)
    best, closest = 0.0, 0
    for k in tested:
        p_sim = min(1.0, factor * near[k - 1])
        s = _bits(poisson_tail(k, others * p_sim), cap) - tests
        if s > best or (s == best and s > 0.0):  # on a tie (at the cap) the larger count
            best, closest = s, k
    return best, closest


def _exp_or_inf(x: float) -> float:
    """e^x, infinite beyond 700 (where `math.exp` raises past about 709)."""
    return math.exp(x) if x < 700.0 else math.inf


#: What the second window of the repetition test costs (Bonferroni over the two windows).
LN2: Final = math.log(2.0)


def _over_days(short: float, amount: float, category: str, channel: str, t: float,
               st: CustomerState, pop: Population, z: float, zr: float, w_recent: float,
               scale: float, cfg: Knobs, reasons: dict[str, str]) -> float:
    """The repetition term with its second window: similar amounts over days
    (`similar_window_s`), for an amount above the customer's level (z > 0; at or below it
    everyday purchases repeat, and the hour's window judges them). Each purchase of the
    window (but those of this very amount, to the cent: exact repeats are the hour's
    exact test's business, weighed by the customer's habit of them, `CustomerState.exact`;
    a customer who pays a few fixed prices in turn repeats them by habit) falls this close
    to this amount (within its log gap either side) with the
    logistic's probability of that interval around z, or `w_recent` (`context_weight`
    once 3 events are learnt) x its probability around `zr`, the z against the recent
    level, if larger (as the amount term reads the recent level: after a raise the new,
    higher amounts are the habit and resemble each other by habit), times its
    `match_weights` (what was bought); the nearest k (k in `SPANS`) are judged
    as in `_repeat`: P(Poisson(others x p_k) >= k), less ln(number of k tested), and less
    ln 2 for this second window. The exact interval, not 2 x gap x the density at z: above
    the level the density falls, so over a week's neighbours (most of them below) the
    density at z would understate the chance. The larger of the two windows' surprise,
    with its reason."""
    window_s = cfg.similar_window_s
    la = math.log(amount)
    grain = 0.005 / amount
    # The logistic's mass within g either side of z, tail_sf(z - g) - tail_sf(z + g),
    # from one exponential per neighbour: with a = e^(z/s) and b = e^(g/s) (s =
    # LOGISTIC_S), tail_sf(z -+ g) = 1 / (1 + a / b) and 1 / (1 + a b) (an exponent
    # beyond 700, of absurd amounts, is infinite: the masses are then 0 or 1, no error).
    unit = 1.0 / (scale * LOGISTIC_S)
    a = _exp_or_inf(z / LOGISTIC_S)
    a_recent = _exp_or_inf(zr / LOGISTIC_S) if w_recent > 0.0 else 0.0
    same = other_w = 0.0
    ps: list[float] = []
    amounts: list[float] = []
    for rt, other, r_category, r_channel in st.days:
        if abs(t - rt) <= window_s and other > 0:
            gap = abs(math.log(other) - la)
            if gap < grain:  # an equal amount (to the cent) is the exact test's business
                continue
            if not ps:
                same, other_w = match_weights(category, channel, st, pop, cfg)
            b = _exp_or_inf(gap * unit)
            p = 1.0 / (1.0 + a / b) - 1.0 / (1.0 + a * b)
            if w_recent > 0.0:
                p_recent = w_recent * (1.0 / (1.0 + a_recent / b)
                                       - 1.0 / (1.0 + a_recent * b))
                p = p if p > p_recent else p_recent
            p *= same if r_category == category and r_channel == channel else other_w
            ps.append(p if p < 1.0 else 1.0)
            amounts.append(other)
    if not ps:
        return short
    # floats only; the amounts are paired for a reason only (each chance is at most 1)
    best, closest = _nearest_k(sorted(ps), 1.0, cfg.surprise_cap, LN2)
    if best <= short:
        return short
    if best > cfg.surprise_floor:
        pairs = sorted(zip(ps, amounts, strict=True))
        reasons["repeat"] = _similar_amounts(amount, pairs, closest, window_s)
    return best


def _similar_amounts(amount: float, pairs: list[tuple[float, float]], count: int,
                     window_s: float) -> str:
    """The repeat's reason: this purchase and the `count` nearest amounts `_repeat`
    compared it with (`_neighbours`), as the range an auditor can look up."""
    compared = [amount] + [other for _, other in pairs[:count]]
    low, high = f"{min(compared):.2f}", f"{max(compared):.2f}"
    if low == high:
        return f"{count + 1} purchases of {low} each within {duration(window_s)}"
    return (f"{count + 1} similar amounts within {duration(window_s)}: {low} to {high}, "
            f"this one {amount:.2f}")


def _reason(name: str, o: Observation, st: CustomerState) -> str:
    if name == "amount_high":
        return f"amount {o.amount_ratio:.1f}x this customer's usual for {quoted(o.category)}"
    if name == "amount_low":
        return f"amount 1/{1 / max(o.amount_ratio, 1e-9):.0f} of this customer's usual"
    if name == "hour":
        return f"{o.hour:02d} h is unusual for this customer"
    if name == "travel":
        return (f"{quoted(o.country)} {duration(o.travel_dt_s)} after a purchase in "
                f"{quoted(o.prev_country)}")
    # the value and the customer's table of this name (`o` holds `tx`'s values): a chain
    # of tests instead of two dictionaries built, five generic reads and an ipnet a call
    if name == "country":
        value, table = o.country, st.countries
    elif name == "device":
        value, table = o.device, st.devices
    elif name == "ip_network":
        value, table = o.ipnet, st.ipnets
    elif name == "channel":
        value, table = o.channel, st.channels
    elif name == "category":
        value, table = o.category, st.categories
    else:
        raise KeyError(name)
    label = name.replace("_", " ")
    seen = table.get(value, 0)
    value = quoted(value)
    if seen == 0:
        return f"{label} {value} never seen for this customer"
    return f"{label} {value} seen only {seen}x in {st.learnt} purchases"


def fold_round(values: list[float], extra: float, cfg: Knobs) -> None:
    """Add a round amount's excess surprise (`Observation.round_extra`) to amount_high
    (recalibrated), as a term of its own would add to the sum: amount_high counts from
    the floor up, capped. After the recalibration: amount_high's map is learnt on the
    amounts' surprise alone (a round amount is not a far amount)."""
    if extra > 0.0:
        floor = cfg.surprise_floor
        high = values[0]
        high = (high if high > floor else floor) + extra
        values[0] = high if high < cfg.surprise_cap else cfg.surprise_cap


def combine(values: list[float], cfg: Knobs) -> float:
    """The combined surprise: every term's excess over the floor, summed."""
    floor = cfg.surprise_floor
    return sum(v - floor for v in values if v > floor)


def to_score(total: float, cfg: Knobs) -> float:
    """The fixed map of the combined surprise to 0..1: S / (S + score_half)."""
    return total / (total + cfg.score_half) if total > 0 else 0.0


__all__ = [
    "GRADES", "LOGISTIC_S", "SPANS", "TERMS", "Recalibration", "banded_categorical",
    "categorical", "combine",
    "fold_round", "hour_tail", "match_weights", "poisson_tail", "round_reason", "round_surprise",
    "round_tail", "tail_pdf", "tail_sf", "terms", "to_score",
]
