"""The kernel's whole learning path (detector/kernel/learning.py) against the core's, per
row: `score_rows`' learning after the terms (recalibration, low tail) and `habits.learn`
whole, over the same rows and the same inputs (each row's observation, terms, surprise and
wake as the core scored them). The kernel takes its state as structrefs (refs.py), or
with `--tuples` as the tuples of arrays themselves (each call then increfs every array).

    PYTHONHASHSEED=0 nice .venv/bin/python bench/kernel_learning_bench.py [--rows N]

The core's side is timed call by call around its learning calls inside its own row loop
(the compiled core when built); the kernel's is one jitted loop over every row (one call
per batch of 500 rows, as the engine would make it), from fresh state each round. Both
give the same state after every row (tests/unit/test_kernel_learning.py); this script
checks the final customer states again before timing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.kernel import learning
from detector.kernel.jit import jit


@jit
def _learn_batch(s: Any, p: Any, cal: Any, slot: Any, t: Any, amount: Any, held: Any,
                 hour: Any, la: Any, dev: Any, scale: Any, z: Any, km: Any, dt: Any,
                 raw: Any, values: Any, total: Any, wake: Any, k: Any, due: Any, keys: Any,
                 empty: int, none: Any, lo: int, hi: int) -> None:  # pragma: no cover
    for i in range(lo, hi):
        c = slot[i]
        learning.release(s, c, p, t[i], due, k, keys)
        learning.learn_row(s, c, p, cal, t[i], amount[i], held[i], hour[i], la[i], dev[i],
                           scale[i], z[i], km[i], dt[i], raw[i], values[i], total[i],
                           wake[i], k, due, keys, empty, none)


def columns(inputs: list[tuple[Any, ...]], codes: Any, ids: dict[str, int]
            ) -> dict[str, Any]:
    """The rows' learning inputs as columns (customers as slots by first arrival)."""
    cols = {name: np.array([x[i] for x in inputs], np.float64) for i, name in (
        (1, "t"), (2, "amount"), (5, "la"), (6, "dev"), (7, "scale"), (8, "z"), (9, "km"),
        (10, "dt"), (13, "total"), (14, "wake"))}
    cols["slot"] = np.array([ids.setdefault(x[0], len(ids)) for x in inputs], np.int64)
    cols["held"] = np.array([[codes.code(v) for v in x[3]] for x in inputs], np.int32)
    cols["hour"] = np.array([x[4] for x in inputs], np.int64)
    cols["raw"] = np.array([x[11] for x in inputs], np.float64)
    cols["values"] = np.array([x[12] for x in inputs], np.float64)
    return cols


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dump", help="also pickle the rows' learning inputs here")
    parser.add_argument("--tuples", action="store_true",
                        help="pass the state as tuples of arrays, not structrefs (refs.py)")
    args = parser.parse_args()

    from detector.core import KIND
    from detector.core.calibration import Recalibration
    from detector.core.config import CoreConfig
    from detector.core.features import event_seconds, observe
    from detector.core.habits import learn, release
    from detector.core.knobs import Knobs
    from detector.core.lowtail import amount_z
    from detector.core.state import Population
    from detector.core.surprise import combine, fold_round, terms
    from detector.core.table import CustomerTable
    from detector.kernel import calibration as kc
    from detector.kernel import population as kp
    from detector.kernel import slots as sl
    from detector.kernel.codes import Codes
    from detector.kernel.hold import due_buffer
    from detector.kernel.knobs import kernel_knobs
    from detector.kernel.refs import as_ref

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from core_bench import _rows

    txs = _rows("/tmp/auditstream_core_bench_rows.pkl")[:args.rows]
    config = CoreConfig(first_fit_after=10**9)
    cfg = Knobs(config)
    clock = time.perf_counter_ns
    # --- the core: its row loop, the learning calls timed ----------------------------------
    best_core = float("inf")
    inputs: list[tuple[Any, ...]] = []
    final: dict[str, Any] = {}
    for r in range(args.rounds):
        table, pop = CustomerTable(config), Population()
        cal = Recalibration(cfg.surprise_cap)
        spent = 0
        for tx in txs:
            t = event_seconds(tx)
            st = table.get(tx.customer_id, t)
            a = clock()
            release(st, pop, cfg, t)
            spent += clock() - a
            o = observe(tx, t, st, pop, cfg)
            raw, _, wake = terms(t, st, pop, o, cfg)
            values = cal.apply(raw)
            fold_round(values, o.round_extra, cfg)
            total = combine(values, cfg)
            if r == 0:
                inputs.append((tx.customer_id, t, o.amount, (o.country, o.device, o.ipnet,
                               o.channel, o.category), o.hour, o.log_amount, o.amount_dev,
                               o.amount_scale, o.amount_z, o.travel_km, o.travel_dt_s,
                               list(raw), list(values), float(total), wake))
            a = clock()
            if st.learnt >= cfg.min_history:
                cal.learn(raw)
            if st.n and total - combine(values[:2], cfg) < cfg.quarantine_above:
                pop.learn_low(amount_z(st, o, cfg)[0])
            learn(t, st, pop, cfg, o, total, wake, values)
            spent += clock() - a
        best_core = min(best_core, spent / len(txs))
        final = dict(table.items())
    if args.dump:
        import pickle

        Path(args.dump).write_bytes(pickle.dumps(inputs))
    codes = Codes()
    empty = codes.code("")
    ids: dict[str, int] = {}
    cols = columns(inputs, codes, ids)
    n = len(inputs)
    k = kernel_knobs(cfg)
    ref: Any = (lambda x: x) if args.tuples else as_ref
    keys, none = learning.scratch()
    best_kernel = float("inf")
    s: Any = None
    for _ in range(args.rounds + 1):  # the first round compiles (or loads) the kernel
        s = sl.allocate(sl.Dims.of(config), len(ids))
        for c in range(len(ids)):
            sl.reset(s, c, codes)
        p = kp.grow_codes(kp.to_arrays(Population(), codes, cfg.max_population_keys),
                          len(codes.values))
        kcal = kc.to_arrays(Recalibration(cfg.surprise_cap))
        due = due_buffer(s.pend_r.shape[1])
        kr, sr, pr, cr, dr = ref(k), ref(s), ref(p), ref(kcal), ref(due)
        a = clock()
        for lo in range(0, n, 500):
            _learn_batch(sr, pr, cr, cols["slot"], cols["t"], cols["amount"], cols["held"],
                         cols["hour"], cols["la"], cols["dev"], cols["scale"], cols["z"],
                         cols["km"], cols["dt"], cols["raw"], cols["values"], cols["total"],
                         cols["wake"], kr, dr, keys, empty, none, lo, min(lo + 500, n))
        best_kernel = min(best_kernel, (clock() - a) / n)
    differ = sum(sl.load(s, ids[cid], codes).__getstate__() != st.__getstate__()
                 for cid, st in final.items())
    print(f"rows {n}, customers {len(ids)}, core {KIND}; customers whose final state "
          f"differs: {differ}")
    print(f"core learning (release, recalibration, low tail, learn): {best_core:.0f} ns/row")
    form = "tuples of arrays" if args.tuples else "structrefs"
    print(f"kernel learning (one call per 500 rows, {form}): {best_kernel:.0f} ns/row")
    print(f"ratio core / kernel: {best_core / best_kernel:.1f}x")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
