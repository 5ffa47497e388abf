"""Folding an event into its customer's state: the clock now, the habits now or later.

The *clock* (last event, recent windows, gaps, hops) always learns at once: the next event
must see how soon it follows. The *habits* (amounts, hours, countries, devices, IP
networks, channels, categories) learn at once only from an event that did not look
anomalous; an event whose combined surprise reaches `quarantine_above` is held for
`quarantine_s` of event time and learnt then (or when the hold overflows). So an attack
does not teach the profile (a takeover's second purchase does not find the new device
already known), while a lasting legitimate change is learnt after a short delay, and the
last `context_size` learnt events let a consistent new habit stop surprising quickly.
"""

from __future__ import annotations

import math
from typing import Any, Final, cast

from detector.core.calibration import TERMS
from detector.core.features import Observation
from detector.core.knobs import Knobs
from detector.core.state import (
    NOVELTY,
    CustomerState,
    Population,
    Recent,
    bump,
    count_round,
    history_band,
    round_level,
)
from detector.core.surprise import combine

#: A held event: (country, device, IP network, channel, category, hour, log amount).
Held = tuple[str, str, str, str, str, int, float]
#: On hold, a `Held` and the weights it will teach the long habits with (`held_weight`:
#: its values' novelty, its amount); a checkpoint written before them holds a bare `Held`.
Weighted = tuple[str, str, str, str, str, int, float, float, float]
#: The novelty terms' places in a row's terms (`calibration.TERMS`: country .. category).
_NOVELTY_TERMS: Final = (TERMS.index("country"), TERMS.index("category") + 1)
#: Gaps longer than this count as this long in the running mean (a year away is one event).
GAP_CAP_S: Final = 30 * 86400.0
MAX_PENDING: Final = 16
MAX_WINDOW: Final = 32
WINDOW_S: Final = 86400.0


def learn(t: float, st: CustomerState, pop: Population, cfg: Knobs, o: Observation,
          surprise: float, wake: float, values: list[float] | None = None) -> None:
    """Fold the transaction at event time `t` that `observe` measured as `o` (its values
    are read there: native fields, where each of a transaction's is a generic look-up
    compiled) into the state, after it scored combined surprise `surprise` of terms
    `values` (`TERMS` order; none: no novelty among them), dormancy `wake`."""
    release(st, pop, cfg, t)
    suspicious = surprise >= cfg.quarantine_above and cfg.quarantine_s > 0
    held: Held = (o.country, o.device, o.ipnet, o.channel, o.category, o.hour, o.log_amount)
    _learn_clock(held, o.amount, t, st, pop, cfg, o, wake, not suspicious)
    if cfg.round_amounts:
        _learn_round(st, pop, o.amount, held_weight(surprise, cfg) if suspicious else 1.0)
    if suspicious:
        lo, hi = _NOVELTY_TERMS
        novelty = combine((values or [])[lo:hi], cfg)
        weighted: Weighted = (*held, held_weight(surprise - novelty, cfg),
                              held_weight(surprise, cfg))
        st.pending.append((max(t, st.last_t) + cfg.quarantine_s, weighted))
        if len(st.pending) > MAX_PENDING:
            _, oldest = st.pending.pop(0)
            _learn_held(st, pop, cfg, oldest)
    else:
        learn_habits(st, pop, cfg, held)


def held_weight(surprise: float, cfg: Knobs) -> float:
    """What a suspicious event teaches the long habits, as a share of an ordinary event:
    e^-(`quarantine_discount` x a combined surprise beyond `quarantine_above`; at most 1),
    about the odds that an event this surprising is ordinary, so an attack's own rows do
    not teach "this customer always does this" (ten new networks in a day make no habit
    of new networks). Its values' novelty is weighed by the surprise of the rest of the
    event (a new value is always news: weighed by itself, a traveller would never learn
    that they travel), its amount by the whole. The hold and the recent context are
    unchanged: a lasting change is still familiar after a few events, and learnt in full
    once its events score below `quarantine_above`."""
    excess = surprise - cfg.quarantine_above
    return math.exp(-cfg.quarantine_discount * excess) if excess > 0.0 else 1.0


def _learn_round(st: CustomerState, pop: Population, amount: float, w_amount: float) -> None:
    """Count how round `amount` is (`round_level`) for its customer and the population,
    by the rule a held event's amount follows (`learn_habits`: only at a weight of at
    least one half), but at once: a held event keeps no amount of its own (its log amount
    is net of its category's offset), and a mule's payouts, held, teach nothing."""
    if w_amount >= 0.5:
        level = round_level(amount)
        count_round(st.rounds, level)
        pop.learn_round(level)


def _learn_held(st: CustomerState, pop: Population, cfg: Knobs, e: object) -> None:
    held = cast("tuple[Any, ...]", e)
    if len(held) > 7:
        learn_habits(st, pop, cfg, cast("Held", held[:7]), cast("float", held[7]),
                     cast("float", held[8]))
    else:
        learn_habits(st, pop, cfg, cast("Held", held))


def release(st: CustomerState, pop: Population, cfg: Knobs, now: float) -> None:
    """Learn the held events whose hold has passed by event time `now`."""
    if st.pending and st.pending[0][0] <= now:
        due = [e for r, e in st.pending if r <= now]
        st.pending = [(r, e) for r, e in st.pending if r > now]
        for held in due:
            _learn_held(st, pop, cfg, held)


def _kept(events: list[Recent], t: float, horizon: float, entry: object, keep: int
          ) -> list[Recent]:
    """The `events` within `horizon` of `t` (either side: a late event keeps newer ones),
    then `entry`, the last `keep` of them (`_learn_clock`'s recent events and window over
    days)."""
    kept: list[object] = []
    for r in cast("list[object]", events):
        if abs(t - cast("Recent", r)[0]) <= horizon:
            kept.append(r)
    kept.append(entry)
    return cast("list[Recent]", kept[-keep:])


def _learn_clock(held: Held, amount: float, t: float, st: CustomerState, pop: Population,
                 cfg: Knobs, o: Observation, wake: float, values: bool) -> None:
    country, device, net, channel, category = held[0], held[1], held[2], held[3], held[4]
    if st.n:
        raw_gap = abs(t - st.last_t)
        gap = 1.0 if raw_gap < 1.0 else raw_gap
        lg = math.log(gap)
        band = history_band(st.gaps, cfg.prior_bands)
        if band >= 0:
            pop.learn_gap(band, min(gap, GAP_CAP_S))
        st.gaps += 1
        st.gap_log += (lg - st.gap_log) / min(st.gaps, 50)
        st.gap_mean += (min(gap, GAP_CAP_S) - st.gap_mean) / min(st.gaps, 50)
        pop.gaps += 1
        pop.gap_log += (lg - pop.gap_log) / min(pop.gaps, 5000)
        pop.gap_mean += (min(gap, GAP_CAP_S) - pop.gap_mean) / min(pop.gaps, 5000)
        st.hops += country != st.last_country
        fast = o.travel_km > 0 and o.travel_dt_s < _needed_s(o, cfg)
        st.fast += fast
        if pop.fast[1] >= 20_000:  # a moving average beyond this
            pop.fast[0] *= 0.5
            pop.fast[1] *= 0.5
        counted = pop.fast  # native float adds (a list item's += is generic compiled)
        counted[0] = counted[0] + (1.0 if fast else 0.0)
        counted[1] = counted[1] + 1.0
    if wake > cfg.surprise_floor and t >= st.last_t:
        st.wake = (t, wake)
    # The windows' events are moved as objects: compiled, a read of a typed tuple unboxes
    # it and a store boxes a new copy (two allocations per kept event); `entry` is boxed
    # once, for both lists.
    entry: object = (t, amount, category, channel)
    if st.recent:
        st.recent = _kept(st.recent, t, max(cfg.burst_window_s, cfg.duplicate_window_s),
                          entry, 2 * cfg.burst_min_count + 8)
    else:
        st.recent = cast("list[Recent]", [entry])
    window: list[object] = []
    repeated = False
    for r in cast("list[object]", st.window):
        if abs(t - cast("Recent", r)[0]) <= WINDOW_S:
            window.append(r)
            repeated = repeated or cast("Recent", r)[1] == amount
    st.exact += repeated
    window.append(entry)
    st.window = cast("list[Recent]", window[-MAX_WINDOW:])
    days_s = cfg.days_s
    if days_s > 0.0:  # the repetition over days keeps its own, longer window
        st.days = _kept(st.days, t, days_s, entry, MAX_WINDOW)
    if t >= st.last_t:
        st.last_t = t
        st.last_country = country
    if not st.n:
        pop.learn_first([country, category, channel, device, net], cfg.max_population_keys)
    st.n += 1
    pop.observe(country, category, channel, device, o.log_amount, cfg.max_population_keys,
                net, values)
    hours = pop.hours
    hours[o.hour] = hours[o.hour] + 1  # an int add, native (a list item's += is generic)
    pop.learn_offset(category, o.amount_dev, cfg.max_population_keys)


def _needed_s(o: Observation, cfg: Knobs) -> float:
    return max(0.0, o.travel_km - cfg.travel_slack_km) / cfg.travel_speed_kmh * 3600.0


def learn_habits(st: CustomerState, pop: Population, cfg: Knobs, held: Held,
                 w: float = 1.0, w_amount: float = 1.0) -> None:
    """Fold one event into the customer's habits (and the population's novelty rates),
    weighed (`held_weight`) as `w` of an event in the customer's rates of taking new
    values: a value new to them from an event of weight below one half is known from now
    on but not counted as seen once (the estimate of how often they try new values); and
    its amount kept only if `w_amount` is at least one half."""
    country, device, net, channel, category, hour, la = held
    if w_amount >= 0.5:
        amounts = st.amounts
        amounts.append(la)
        if len(amounts) > cfg.amount_history:
            del amounts[0]
    hours = st.hours
    if hours[hour] == 255:
        for i in range(24):
            hours[i] >>= 1
    hours[hour] += 1
    learnt = st.learnt
    if learnt:
        st.novel += country not in st.countries
    cap = cfg.max_seen
    # in NOVELTY's order (lists: indexed by a variable, mypyc keeps them native)
    tables = [st.countries, st.categories, st.channels, st.devices, st.ipnets]
    keys = [country, category, channel, device, net]
    established = learnt >= cfg.min_history
    band = history_band(learnt, cfg.prior_bands)
    explore, full, pop_tables = st.explore, cfg.max_population_keys, pop.tables
    # One pass: attribute i's novelty reads only the customer's table i (and the
    # population's, unchanged here), so it is the same before or after tables < i count.
    for i in range(len(NOVELTY)):
        table, key = tables[i], keys[i]
        count = table.get(key)  # one look-up for "is it new" and the count
        if learnt:  # the first event is new whatever the customer's habit
            name = NOVELTY[i]
            unused = 1.0 if len(pop_tables[name]) >= full else pop.unused_mass(name, table)
            explore[i] = explore[i] + w * unused  # native (a list item's += is generic)
            if established or band >= 0:
                pop.learn_novelty(name, count is None, unused, band, established)
        if count is not None:
            table[key] = count + 1
        else:
            bump(table, key, cap)
            if w < 0.5:
                table[key] = 2
    context = st.context
    context.append((country, device, net, channel, category, hour, la))
    if len(context) > cfg.context_size:
        del context[0]
    st.learnt += 1
