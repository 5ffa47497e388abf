"""Issue 14 item 2's first measured slice: the clock's rate term as a numba kernel over
struct-of-arrays state, against the compiled (mypyc) core's `surprise._rate`.

    PYTHONHASHSEED=0 nice .venv/bin/python bench/kernel_spike.py            # parity + timings
    PYTHONHASHSEED=0 valgrind --tool=callgrind --instr-atstart=no \
        --toggle-collect="*Dispatcher_call*" .venv/bin/python bench/kernel_spike.py \
        --rows 4000 --callgrind score                                       # or learn
    .venv/bin/python bench/kernel_spike.py --startup                         # JIT cold / cached

The slice (docs/kernel.md, "the spike"): each row's activity term (`surprise._rate`: the
ages of the customer's purchases of the last `rate_horizon_s` sorted, a Poisson tail per
tested span, the strongest less ln(tests)) and the state it reads, learnt in arrival order
as `habits._learn_clock` learns it: the window of the last day (at most `MAX_WINDOW`
purchases: time, amount, category code, channel code), the customer's gap count and mean
log gap, the purchases repeating an amount of the window (`exact`), the event count and
last time, and the population's gap count and mean log gap. The clock learns every row at
once whatever the row scored (habits.py), so this slice's state is a function of the rows
alone: no other term's value reaches it, which makes it a self-contained port.

One `clock_kernel` call takes a whole batch as columns (customer slot, event time, amount,
category and channel codes: the Python shell's dictionary encoder makes them) and fills
per-row arrays (the term, the span it found, its k); the reason text is formatted in
Python only for rows above the floor (`rate_reason`), as `_rate` words it.

Parity: with `variety_window_s=0` the raw `rate` term the engine records (`engine.tap`)
is `_rate`'s value itself, so every row's term is compared with the engine's to the bit
(tests/unit/test_kernel_spike.py does the same on a smaller stream).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.kernel.codes import Codes
from detector.kernel.jit import NUMBA, jit
from detector.kernel.tails import LGAMMA, bits, poisson_tail

#: As `habits.MAX_WINDOW`, `habits.WINDOW_S`, `variety.SPANS` (the spike checks them against
#: the core's at start, `check_constants`).
MAX_WINDOW = 32
WINDOW_S = 86400.0
SPANS = (1, 2, 4, 8, 16, 32)


@jit
def clock_kernel(slot: Any, t: Any, amount: Any, cat: Any, chan: Any,
                 win_t: Any, win_amount: Any, win_cat: Any, win_chan: Any, win_len: Any,
                 n: Any, last_t: Any, gaps: Any, gap_log: Any, exact: Any,
                 pop_gaps: Any, pop_gap_log: Any,
                 prior_weight: float, horizon: float, cap: float, lgamma: Any, score: bool,
                 out_rate: Any, out_k: Any, out_span: Any, out_pace: Any
                 ) -> None:  # pragma: no cover - compiled
    """Rows 0..len(slot) in arrival order: each one's rate term (if `score`), then its
    clock learnt. Per customer slot c: the window `win_*[c, :win_len[c]]` oldest first,
    `n`, `last_t`, `gaps`, `gap_log`, `exact`; the population's `pop_gaps[0]`,
    `pop_gap_log[0]`. Out per row: the term, the k and span behind it (0 and 0.0 when
    none), and the customer's expected events per second `out_pace` (the reason's)."""
    ages = np.empty(MAX_WINDOW, np.float64)
    for i in range(slot.shape[0]):
        c = slot[i]
        ti = t[i]
        m = win_len[c]
        # --- the term (surprise._rate), read before the row is learnt ------------------
        rate_v = 0.0
        best_k = 0
        best_span = 0.0
        pace = 0.0
        if score and n[c] > 0 and pop_gaps[0] >= 100:
            g = gaps[c]
            typical = (g * gap_log[c] + prior_weight * pop_gap_log[0]) / (g + prior_weight)
            pace = math.exp(-typical)
            na = 0
            for j in range(m):
                a = abs(ti - win_t[c, j])
                if a <= horizon:
                    # insertion: the same ascending order as `sorted` (no NaN; equal ages
                    # are equal floats, +0.0 alike)
                    p = na
                    while p > 0 and ages[p - 1] > a:
                        ages[p] = ages[p - 1]
                        p -= 1
                    ages[p] = a
                    na += 1
            tested = 0
            for k in SPANS:
                if k <= na:
                    tested += 1
            best = 0.0
            if tested:
                tests = math.log(float(tested))
                for k in SPANS:
                    if k > na:
                        break
                    span = ages[k - 1]
                    span = 1.0 if span < 1.0 else span
                    s = bits(poisson_tail(k, pace * span, lgamma), cap) - tests
                    if s > best:
                        best = s
                        best_k = k
                        best_span = span
            rate_v = best if best > 0.0 else 0.0
        out_rate[i] = rate_v
        out_k[i] = best_k
        out_span[i] = best_span
        out_pace[i] = pace
        # --- the clock learnt (habits._learn_clock's part of it) ------------------------
        if n[c] > 0:
            raw_gap = abs(ti - last_t[c])
            gap = 1.0 if raw_gap < 1.0 else raw_gap
            lg = math.log(gap)
            gaps[c] += 1
            gap_log[c] += (lg - gap_log[c]) / min(gaps[c], 50)
            pop_gaps[0] += 1
            pop_gap_log[0] += (lg - pop_gap_log[0]) / min(pop_gaps[0], 5000)
        kept = 0
        repeated = False
        amt = amount[i]
        for j in range(m):
            if abs(ti - win_t[c, j]) <= WINDOW_S:
                if kept != j:
                    win_t[c, kept] = win_t[c, j]
                    win_amount[c, kept] = win_amount[c, j]
                    win_cat[c, kept] = win_cat[c, j]
                    win_chan[c, kept] = win_chan[c, j]
                repeated = repeated or win_amount[c, j] == amt
                kept += 1
        if repeated:
            exact[c] += 1
        if kept == MAX_WINDOW:  # window[-MAX_WINDOW:] of the kept and this one
            for j in range(1, MAX_WINDOW):
                win_t[c, j - 1] = win_t[c, j]
                win_amount[c, j - 1] = win_amount[c, j]
                win_cat[c, j - 1] = win_cat[c, j]
                win_chan[c, j - 1] = win_chan[c, j]
            kept -= 1
        win_t[c, kept] = ti
        win_amount[c, kept] = amt
        win_cat[c, kept] = cat[i]
        win_chan[c, kept] = chan[i]
        win_len[c] = kept + 1
        if ti >= last_t[c]:
            last_t[c] = ti
        n[c] += 1


class ClockState:
    """The slice's state as arrays: `capacity` customer slots, the population's in
    one-element arrays (numba updates them in place)."""

    def __init__(self, capacity: int) -> None:
        self.win_t = np.zeros((capacity, MAX_WINDOW), np.float64)
        self.win_amount = np.zeros((capacity, MAX_WINDOW), np.float64)
        self.win_cat = np.zeros((capacity, MAX_WINDOW), np.int32)
        self.win_chan = np.zeros((capacity, MAX_WINDOW), np.int32)
        self.win_len = np.zeros(capacity, np.int64)
        self.n = np.zeros(capacity, np.int64)
        self.last_t = np.full(capacity, -np.inf, np.float64)
        self.gaps = np.zeros(capacity, np.int64)
        self.gap_log = np.zeros(capacity, np.float64)
        self.exact = np.zeros(capacity, np.int64)
        self.pop_gaps = np.zeros(1, np.int64)
        self.pop_gap_log = np.zeros(1, np.float64)

    def arrays(self) -> tuple[Any, Any, Any, Any, Any, Any, Any, Any, Any, Any, Any, Any]:
        return (self.win_t, self.win_amount, self.win_cat, self.win_chan, self.win_len,
                self.n, self.last_t, self.gaps, self.gap_log, self.exact,
                self.pop_gaps, self.pop_gap_log)


class Columns:
    """A batch of rows as columns, strings as codes (`Codes`)."""

    def __init__(self, txs: list[Any], customers: Codes, categories: Codes,
                 channels: Codes) -> None:
        from detector.core.features import event_seconds

        k = len(txs)
        self.slot = np.empty(k, np.int64)
        self.t = np.empty(k, np.float64)
        self.amount = np.empty(k, np.float64)
        self.cat = np.empty(k, np.int32)
        self.chan = np.empty(k, np.int32)
        for i, tx in enumerate(txs):
            self.slot[i] = customers.code(tx.customer_id)
            self.t[i] = event_seconds(tx)
            self.amount[i] = tx.amount
            self.cat[i] = categories.code(tx.merchant_category)
            self.chan[i] = channels.code(tx.channel)


class Out:
    def __init__(self, k: int) -> None:
        self.rate = np.zeros(k, np.float64)
        self.k = np.zeros(k, np.int64)
        self.span = np.zeros(k, np.float64)
        self.pace = np.zeros(k, np.float64)


def run_kernel(cols: Columns, state: ClockState, knobs: Any, score: bool = True,
               batch: int = 500) -> Out:
    """The kernel over `cols` in batches of `batch` rows (one call each), as the engine
    would call it between model events."""
    out = Out(len(cols.t))
    for lo in range(0, len(cols.t), batch):
        hi = lo + batch
        clock_kernel(cols.slot[lo:hi], cols.t[lo:hi], cols.amount[lo:hi], cols.cat[lo:hi],
                     cols.chan[lo:hi], *state.arrays(), knobs.prior_weight,
                     knobs.rate_horizon_s, knobs.surprise_cap, LGAMMA, score,
                     out.rate[lo:hi], out.k[lo:hi], out.span[lo:hi], out.pace[lo:hi])
    return out


def rate_reason(best_k: int, span: float, pace: float) -> str:
    """`_rate`'s reason, from the kernel's outputs (only for rows above the floor)."""
    from detector.core.rules import duration

    return (f"{best_k + 1} purchases within {duration(span)} "
            f"(about {1 + pace * span:.1f} at this customer's pace)")


def check_constants() -> None:
    """The constants copied here are the core's."""
    from detector.core import habits, variety

    assert (habits.MAX_WINDOW, habits.WINDOW_S) == (MAX_WINDOW, WINDOW_S)
    assert tuple(variety.SPANS) == SPANS


def reference(txs: list[Any], batch: int = 500) -> tuple[list[float], list[str | None], Any]:
    """Each row's rate term and reason as the engine scores it (variety off, so the raw
    term is `_rate`'s value), and the engine (its final state)."""
    from detector.core.config import CoreConfig
    from detector.core.engine import PartitionEngine

    engine = PartitionEngine(CoreConfig(first_fit_after=10**9, variety_window_s=0.0), 0)
    engine.tap = []
    for i in range(0, len(txs), batch):
        engine.verdicts(txs[i:i + batch])
    rate = [raw[8] for raw, _, _, _ in engine.tap]
    reasons = [reasons.get("rate") for _, _, reasons, _ in engine.tap]
    return rate, reasons, engine


def compare(txs: list[Any]) -> dict[str, Any]:
    """The kernel against the engine on `txs`, row by row and in the final state."""
    from detector.core.config import CoreConfig
    from detector.core.knobs import Knobs

    check_constants()
    knobs = Knobs(CoreConfig())
    ref_rate, ref_reasons, engine = reference(txs)
    customers, categories, channels = Codes(), Codes(), Codes()
    cols = Columns(txs, customers, categories, channels)
    state = ClockState(len(customers.values))
    out = run_kernel(cols, state, knobs)
    floor = knobs.surprise_floor
    rate_rows = unequal = reason_diff = 0
    deepest = 0.0
    for i, r in enumerate(ref_rate):
        got = float(out.rate[i])
        if got.hex() != r.hex():
            unequal += 1
        if r > 0.0:
            rate_rows += 1
            deepest = max(deepest, r)
        said = rate_reason(int(out.k[i]), float(out.span[i]), float(out.pace[i])) \
            if got > floor and out.k[i] else None
        if said != ref_reasons[i]:
            reason_diff += 1
    state_diff = _state_diff(engine, state, customers, categories, channels)
    return {"rows": len(txs), "unequal": unequal, "reason_diff": reason_diff,
            "rate_rows": rate_rows, "max_term": deepest, "state_diff": state_diff,
            "pop": (int(state.pop_gaps[0]), float(state.pop_gap_log[0]).hex())}


def _state_diff(engine: Any, state: ClockState, customers: Codes, categories: Codes,
                channels: Codes) -> int:
    """Customers whose window, gaps, log gap, exact count, events or last time differ from
    the engine's final state (and 1 for the population's gaps)."""
    from detector.core.table import as_state

    held = dict(engine._customers.held())
    diff = 0
    for cid, c in customers.codes.items():
        st = as_state(held[cid])
        window = [(rt, ra, categories.values[int(state.win_cat[c, j])],
                   channels.values[int(state.win_chan[c, j])])
                  for j, (rt, ra) in enumerate(zip(state.win_t[c, :state.win_len[c]],
                                                    state.win_amount[c, :state.win_len[c]],
                                                    strict=True))]
        mine = (window, int(state.gaps[c]), float(state.gap_log[c]).hex(),
                int(state.exact[c]), int(state.n[c]), float(state.last_t[c]))
        theirs = ([tuple(w) for w in st.window], st.gaps, st.gap_log.hex(), st.exact, st.n,
                  st.last_t)
        diff += mine != theirs
    pop = engine._population
    diff += (int(state.pop_gaps[0]), float(state.pop_gap_log[0])) != (pop.gaps, pop.gap_log)
    return diff


def time_kernel(cols: Columns, customers: int, knobs: Any, score: bool,
                rounds: int) -> float:
    """Best ns per row of `rounds` passes of the kernel (fresh state each pass)."""
    best = math.inf
    for _ in range(rounds):
        state = ClockState(customers)
        start = time.perf_counter_ns()
        run_kernel(cols, state, knobs, score)
        best = min(best, (time.perf_counter_ns() - start) / len(cols.t))
    return best


def time_mypyc(txs: list[Any], rounds: int) -> tuple[float, float, int]:
    """Best ns per scored row of the compiled core's `_rate` as the engine calls it: one
    `CustomerState` per customer and one `Population`, their slice's fields learnt in
    place between calls (in Python, outside the timed calls), each call timed alone; the
    same timer around an empty region (its overhead, subtracted by the caller); and the
    rows scored. The states stay warm in the cache as the engine's do (each is reused)."""
    from detector.core import KIND
    from detector.core.config import CoreConfig
    from detector.core.features import event_seconds
    from detector.core.knobs import Knobs
    from detector.core.state import CustomerState, Population
    from detector.core.surprise import _rate

    if "mypyc" not in KIND:
        print(f"note: the core is {KIND}, not compiled", file=sys.stderr)
    knobs = Knobs(CoreConfig())
    rows = [(event_seconds(tx), tx.customer_id, tx.amount, tx.merchant_category, tx.channel)
            for tx in txs]
    clock = time.perf_counter_ns
    best = base = math.inf
    scored = 0
    for _ in range(rounds):
        states: dict[str, Any] = {}
        pop = Population()
        reasons: dict[str, str] = {}
        spent = empty = 0
        scored = 0
        for t, cid, amount, category, channel in rows:
            st = states.get(cid)
            if st is None:
                st = states[cid] = CustomerState()
            if st.n and pop.gaps >= 100:
                a = clock()
                _rate(t, st, pop, knobs, reasons)
                b = clock()
                c = clock()
                spent += b - a
                empty += c - b
                scored += 1
            if st.n:
                raw = abs(t - st.last_t)
                gap = 1.0 if raw < 1.0 else raw
                lg = math.log(gap)
                st.gaps += 1
                st.gap_log += (lg - st.gap_log) / min(st.gaps, 50)
                pop.gaps += 1
                pop.gap_log += (lg - pop.gap_log) / min(pop.gaps, 5000)
            kept = [r for r in st.window if abs(t - r[0]) <= WINDOW_S]
            kept.append((t, amount, category, channel))
            st.window = kept[-MAX_WINDOW:]
            st.n += 1
            if t >= st.last_t:
                st.last_t = t
        best = min(best, spent / scored)
        base = min(base, empty / scored)
    return best, base, scored


def callgrind(txs: list[Any], mode: str) -> None:
    """One pass of the kernel over `txs` after a warm-up, for callgrind's
    `--toggle-collect='*Dispatcher_call*'` (numba's compiled code has no symbols that
    callgrind sees; its dispatcher's C entry does, and counts the batch call's own cost
    too): the term and the clock learnt (`score`), the clock learnt only (`learn`), or
    the warm-up alone (`warm`: it loads the kernel from numba's cache inside the first
    call, which the other two count as well and this one lets subtract)."""
    score = mode == "score"
    from detector.core.config import CoreConfig
    from detector.core.knobs import Knobs

    knobs = Knobs(CoreConfig())
    customers, categories, channels = Codes(), Codes(), Codes()
    cols = Columns(txs, customers, categories, channels)
    warm = Columns(txs[:10], Codes(), Codes(), Codes())
    run_kernel(warm, ClockState(10), knobs, score)  # compiled or loaded before counting
    if mode == "warm":
        return
    state = ClockState(len(customers.values))
    # under `valgrind --instr-atstart=no`: counting starts here (callgrind_control)
    subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=False,
                   capture_output=True)
    run_kernel(cols, state, knobs, score)
    subprocess.run(["callgrind_control", "-i", "off", str(os.getpid())], check=False,
                   capture_output=True)


def startup() -> dict[str, float]:
    """Seconds to import numba and compile (or load) the kernel in a fresh process: with an
    empty cache (cold), then with the cache it wrote (warm)."""
    code = ("import time; t0 = time.perf_counter(); import numba; t1 = time.perf_counter(); "
            "import kernel_spike as k, numpy as np; t2 = time.perf_counter(); "
            "s = k.ClockState(1); z = np.zeros(1); zi = np.zeros(1, np.int64); "
            "k.clock_kernel(zi, z, z, zi.astype(np.int32), zi.astype(np.int32), *s.arrays(), "
            "3.0, 86400.0, 12.0, k.LGAMMA, True, z, zi, z, z); t3 = time.perf_counter(); "
            "print(t1 - t0, t3 - t2)")
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache,
               "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent),
                                              os.environ.get("PYTHONPATH", "")])}
        for label in ("cold", "cached"):
            res = subprocess.run([sys.executable, "-c", code], env=env, text=True,
                                 capture_output=True, check=True)
            imp, first = map(float, res.stdout.split())
            out[f"import_numba_{label}_s"] = imp
            out[f"first_call_{label}_s"] = first
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="/tmp/auditstream_core_bench_rows.pkl")
    parser.add_argument("--rows", type=int, default=0, help="first rows only (0: all)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--startup", action="store_true", help="JIT cold and cached only")
    parser.add_argument("--callgrind", choices=("score", "learn", "warm"),
                        help="one pass of the kernel only (run under callgrind)")
    args = parser.parse_args()
    if not NUMBA:
        raise SystemExit("numba is not installed (pip install -e '.[dev]')")
    if args.startup:
        for key, value in startup().items():
            print(f"{key}: {value:.3f}")
        return 0
    from core_bench import _rows

    from detector.core.config import CoreConfig
    from detector.core.knobs import Knobs

    txs = _rows(args.cache)
    if args.rows:
        txs = txs[:args.rows]
    if args.callgrind:
        callgrind(txs, args.callgrind)
        return 0
    result = compare(txs)
    print("parity:", result)
    knobs = Knobs(CoreConfig())
    customers, categories, channels = Codes(), Codes(), Codes()
    start = time.perf_counter_ns()
    cols = Columns(txs, customers, categories, channels)
    encode_ns = (time.perf_counter_ns() - start) / len(txs)
    full = time_kernel(cols, len(customers.values), knobs, True, args.rounds)
    learn_only = time_kernel(cols, len(customers.values), knobs, False, args.rounds)
    mypyc, loop, scored = time_mypyc(txs, args.rounds)
    print(f"rows {len(txs)}, rows with the term computed {scored}")
    print(f"encode (Python dictionary encoder + event_seconds): {encode_ns:.0f} ns/row")
    print(f"numba kernel, term + clock learnt: {full:.1f} ns/row (all rows)")
    print(f"numba kernel, clock learnt only:   {learn_only:.1f} ns/row")
    print(f"numba term alone (difference):      {full - learn_only:.1f} ns/row (all rows), "
          f"{(full - learn_only) * len(txs) / scored:.1f} ns per scored row")
    print(f"mypyc _rate per scored row: {mypyc:.1f} ns (timer overhead {loop:.1f}: "
          f"net {mypyc - loop:.1f})")
    net_numba = (full - learn_only) * len(txs) / scored
    print(f"ratio mypyc net / numba term: {(mypyc - loop) / net_numba:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
