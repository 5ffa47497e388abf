"""Where `score_segment`'s cycles go, section by section (measurement only).

    .venv/bin/python bench/kernel_cycles.py [--tree <checkout>] [--cache <rows.pkl>] [--rounds 3]

The tree's `detector` (and the packages it imports) is copied into a temporary folder and
its kernel there instrumented: a mark (`llvm.readcyclecounter`, the time-stamp counter)
between the sections of `segment.score_segment`, `terms.terms`, `novelty.novelty` (each
attribute) and `learning.learn_row`/`learn`, each adding the ticks since the previous mark
to its section's cell of two extra rows of `terms.scratch` (`work[6]`: the row loop and
the terms; `work[7]`: the learning). Nothing of the tree itself changes, and no mark is in
the code the engine runs: the copy compiles into its own cache (`AUDITSTREAM_KERNEL_CACHE`,
a temporary folder kept between rounds). Then `core_bench`'s rows (or `--cache`'s) go
through the copy's engine as `engine_profile` runs it (batches of 500, the collector off),
each round in a fresh process, and each section's ticks a row are printed (the first
`score_segment` call, which loads the kernel, left out), with the counter's rate measured
against `perf_counter` to give microseconds. A section's ticks beyond `PREEMPTED` (the
process descheduled while the counter ran on) are left out. A mark costs ~20-40 ticks
(`mark overhead`: two marks in a row, measured the same way); the sum of the sections is
the whole loop's. Ticks are wall time: on a loaded machine a section also holds what
another process took from its core between two marks.
"""

from __future__ import annotations

import argparse
import ast
import gc
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

#: The sections, (row, cell, label), in the order printed.
SECTIONS: list[tuple[int, int, str]] = []


def _section(row: int, label: str) -> int:
    cell = sum(1 for r, _, _ in SECTIONS if r == row)
    SECTIONS.append((row, cell, label))
    return cell


_TICK = "from detector.kernel.cycles import tick\n"


#: A section's ticks beyond this (~0.1 ms) are the process put aside by the scheduler (a
#: loaded machine's time slices are milliseconds), not the section's: left out.
PREEMPTED = 200_000


def _mark(var: str, acc: str, cell: int | str, indent: str) -> str:
    return (f"{indent}_c_ = tick()\n"
            f"{indent}if _c_ - {var} < {PREEMPTED}:\n"
            f"{indent}    {acc}[{cell}] += _c_ - {var}\n"
            f"{indent}{var} = _c_\n")


def _plan() -> dict[str, list[tuple[str, str, str]]]:
    """Per module, in the order applied: (anchor, "before"/"after"/"after-call", the text
    inserted), or (the text, "replace", its replacement): one table of every edit. Each
    anchor or text must be found once where it is applied."""
    plan: dict[str, list[tuple[str, str, str]]] = {}

    def start(module: str, anchor: str, var: str, indent: str) -> None:
        plan.setdefault(module, []).append((anchor, "before", f"{indent}{var} = tick()\n"))

    def mark(module: str, anchor: str, where: str, var: str, acc: str, row: int, label: str,
             indent: str) -> None:
        cell = _section(row, label)
        plan.setdefault(module, []).append((anchor, where, _mark(var, acc, cell, indent)))

    def edit(module: str, old: str, new: str) -> None:
        plan.setdefault(module, []).append((old, "replace", new))

    seg, ind = "segment.py", " " * 8
    # observe's call ends `ex, work[0], o)` before the amounts' sorted companion (`ex, o)`
    # since): either tree instrumented; before the mark that takes the next line's place
    edit(seg, "o)\n        wake = kterms.terms(", "o, work[7])\n        wake = kterms.terms(")
    start(seg, "    for i in range(rows):\n", "_t_", "    ")
    mark(seg, "        if fresh[i]:\n", "before", "_t_", "work[6]", 6,
         "slot: loop, next slot prefetched", ind)
    mark(seg, "        now = t[i]\n", "before", "_t_", "work[6]", 6, "slot: fresh slot reset", ind)
    mark(seg, "        o = obs[i]\n", "before", "_t_", "work[6]", 6,
         "slot: held events released and learnt", ind)
    mark(seg, "        wake = kterms.terms(", "before", "_t_", "work[6]", 6,
         "observe (features, rules' inputs)", ind)
    mark(seg, "        v = values[i]\n", "before", "_t_", "work[6]", 6, "terms (all)", ind)
    # two marks in a row: what a mark costs
    mark(seg, "        v = values[i]\n", "before", "_t_", "work[6]", 6, "mark overhead", ind)
    mark(seg, "        ktotal.fold_round(", "before", "_t_", "work[6]", 6,
         "recalibration: apply", ind)
    mark(seg, "        learnt[i] = s.learnt[c]\n", "before", "_t_", "work[6]", 6,
         "fold_round, combine", ind)
    mark(seg, "        for j in range(5):\n            held[j]", "before", "_t_", "work[6]", 6,
         "rules, vector", ind)
    mark(seg, "                           k, due, keys, empty, none)\n", "after", "_t_",
         "work[6]", 6, "learning (learn_row, all)", ind)
    trm, ind = "terms.py", "    "
    start(trm, "    cap = k.surprise_cap\n    w_ctx", "_u_", ind)
    mark(trm, "    # --- novelty of each attribute", "before", "_u_", "work[6]", 6,
         "  term: amount (high, low)", ind)
    mark(trm, "    novelty(s, c, p, keys, k, novel, seen)\n", "before", "_u_", "work[6]", 6,
         "  term: novelty, keys", ind)
    mark(trm, "    hour = int(obs[HOUR])\n", "before", "_u_", "work[6]", 6,
         "  term: novelty (5 attributes)", ind)
    mark(trm, "    # --- activity", "before", "_u_", "work[6]", 6, "  term: hour", ind)
    mark(trm, "    if k.variety_window_s > 0.0 and n:\n", "before", "_u_", "work[6]", 6,
         "  term: rate", ind)
    mark(trm, "    raw[8] = rate_v\n", "before", "_u_", "work[6]", 6, "  term: variety", ind)
    mark(trm, "        repeat_v, exact, closest, lo, hi = repeat(", "before", "_u_", "work[6]",
         6, "  term: repeat, match_weights", " " * 8)
    mark(trm, "        why[REP_EXACT] = exact\n", "before", "_u_", "work[6]", 6,
         "  term: repeat (short window)", " " * 8)
    mark(trm, "    raw[9] = repeat_v\n", "before", "_u_", "work[6]", 6,
         "  term: repeat over_days", ind)
    mark(trm, "    raw[11] = travel(", "before", "_u_", "work[6]", 6, "  term: dormancy", ind)
    mark(trm, "    # --- round amounts", "before", "_u_", "work[6]", 6, "  term: travel", ind)
    mark(trm, "    return wake\n", "before", "_u_", "work[6]", 6, "  term: round amounts", ind)
    nov, ind = "novelty.py", " " * 8
    start(nov, "    size = s.ctx_la.shape[1]\n    head = s.ctx_head[c]\n", "_n_", "    ")
    mark(nov, "    learnt = s.learnt[c]\n    band = history_band", "before", "_n_", "acc", 6,
         "    novelty: context counted", "    ")
    mark(nov, "        a = NOVEL[i]\n", "before", "_n_", "acc", 6,
         "    novelty: loop, band", ind)
    base = -1
    for name in ("country", "device", "ip_network", "channel", "category"):
        cell = _section(6, f"    novelty: {name}")
        base = cell if base < 0 else base
    plan.setdefault(nov, []).append((
        "            k.context_weight, k.context_size, k.surprise_cap, k.new_value_prior)\n"
        "    x = out[2]", "after-call", _mark("_n_", "acc", f"{base} + i", ind)))
    lrn, ind = "learning.py", "    "
    start(lrn, "    if s.learnt[c] >= k.min_history:\n        calibration.learn(", "_l_", ind)
    mark(lrn, "    if s.n[c] and surprise - kt_total", "before", "_l_", "acc", 7,
         "  learn: recalibration learns", ind)
    mark(lrn, "    learn(s, c, p, t, amount, held, hour, la, amount_dev, travel_km,",
         "before", "_l_", "acc", 7, "  learn: low tail", ind)
    start(lrn, "    release(s, c, p, t, due, k, work)\n    suspicious", "_m_", ind)
    mark(lrn, "    suspicious = surprise >= k.quarantine_above", "before", "_m_", "acc", 7,
         "  learn: release (again)", ind)
    mark(lrn, "    if first:  # `_learn_clock`", "before", "_m_", "acc", 7,
         "  learn: clock (learn_clock)", ind)
    mark(lrn, "    population.observe(p, held[0]", "before", "_m_", "acc", 7,
         "  learn: first purchase", ind)
    mark(lrn, "    clock.learn_clock_population(", "before", "_m_", "acc", 7,
         "  learn: population.observe", ind)
    mark(lrn, "    if k.round_amounts:\n        w_round", "before", "_m_", "acc", 7,
         "  learn: clock's population", ind)
    mark(lrn, "    if suspicious:\n        news", "before", "_m_", "acc", 7,
         "  learn: round amounts", ind)
    mark(lrn, "        learn_habits(s, c, p, held, hour, la, 1.0, 1.0, k, work)\n", "after",
         "_m_", "acc", 7, "  learn: habits, or the hold", ind)
    obs, ind = "observe.py", "    "
    start(obs, "    w = k.prior_weight\n    n = s.n[c]\n    obs[HISTORY]", "_o_", ind)
    mark(obs, "    la, scale, z, ratio, dev, over = observe_amount(", "before", "_o_", "acc", 7,
         "  observe: recent events (burst, duplicate)", ind)
    mark(obs, "    obs[LOG_AMOUNT] = la\n", "before", "_o_", "acc", 7,
         "  observe: amount (median, quartiles, max)", ind)
    mark(obs, "    obs[NIGHT_SHARE] = share\n", "before", "_o_", "acc", 7,
         "  observe: hours, night share", ind)
    mark(obs, "    obs[CATEGORY_RARITY] = -math.log((p.tab_count[1, category] + 0.5) / total)\n",
         "after", "_o_", "acc", 7, "  observe: country, travel, rarities", ind)
    hrs, ind = "hours.py", "    "
    start(hrs, "    k, d = weights(hn, total, w)\n    nr = work[0, :24]\n", "_h_", ind)
    mark(hrs, "    if len(recent) < 2:\n        return tail_of(nr, hour)\n    if prior > 0.0:\n"
         "        lam = weight", "before", "_h_", "acc", 7, "  hour: spread", ind)
    mark(hrs, "        if lam <= prior:  # `weighed`'s None", "before", "_h_", "acc", 7,
         "  hour: change_weight", " " * 8)
    mark(hrs, "        near_into(r, q)  # `tail(mixed, hour)`", "before", "_h_", "acc", 7,
         "  hour: habit, recent profile, mixture", " " * 8)
    # the sections' accumulators passed down (after the marks: their anchors read the
    # untouched text)
    edit(trm, "    return np.empty((6, width), np.float64)",
         "    return np.zeros((8, max(width, 40)), np.float64)")
    edit(trm, "obs[HOUR_CHANGE], work[1:4])", "obs[HOUR_CHANGE], work[1:4], work[7])")
    edit(trm, "    novelty(s, c, p, keys, k, novel, seen)\n",
         "    novelty(s, c, p, keys, k, novel, seen, work[6])\n")
    edit(nov, "def novelty(s: Any, c: int, p: Any, keys: Any, k: Any, out: Any,\n"
         "            seen: Any)", "def novelty(s: Any, c: int, p: Any, keys: Any, k: Any, "
         "out: Any,\n            seen: Any, acc: Any)")
    edit(obs, "obs: Any) -> None:  # pragma: no cover - compiled\n    \"\"\"`features.observe`",
         "obs: Any, acc: Any) -> None:  # pragma: no cover - compiled\n"
         "    \"\"\"`features.observe`")
    edit(hrs, "work: Any) -> float:  # pragma: no cover - compiled\n"
         "    \"\"\"`counted_hour_tail` with",
         "work: Any, acc: Any) -> float:  # pragma: no cover - compiled\n"
         "    \"\"\"`counted_hour_tail` with")
    edit(hrs, "np.empty((3, 24), np.float64))", "np.empty((3, 24), np.float64), np.zeros(40))")
    edit(lrn, "def learn(s: Any,", "def learn(acc: Any, s: Any,")
    edit(lrn, "def learn_row(s: Any,", "def learn_row(acc: Any, s: Any,")
    edit(lrn, "    learn(s, c, p, t, amount, held, hour, la, amount_dev, travel_km,",
         "    learn(acc, s, c, p, t, amount, held, hour, la, amount_dev, travel_km,")
    edit(seg, "        learning.learn_row(s, c,", "        learning.learn_row(work[7], s, c,")
    return plan


PLAN = _plan()

TICK_MODULE = '''"""`tick()`: the time-stamp counter (`llvm.readcyclecounter`), compiled only."""
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from detector.kernel.jit import jit


@intrinsic
def tick(typingctx):
    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.IntType(64), []), "llvm.readcyclecounter")
        return builder.call(fn, [])
    return types.int64(), codegen


@jit
def now():
    return tick()
'''


def instrument(tree: Path, into: Path) -> None:
    """`tree`'s packages copied into `into`, the kernel's sections marked (`_plan`)."""
    for name in ("detector", "shared", "producer", "sink"):
        if (tree / name).is_dir():
            shutil.copytree(tree / name, into / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    kernel = into / "detector" / "kernel"
    (kernel / "cycles.py").write_text(TICK_MODULE)
    for module, plan in PLAN.items():
        path = kernel / module
        text = path.read_text()
        for anchor, where, insert in plan:
            if text.count(anchor) != 1:
                raise SystemExit(f"{module}: anchor {anchor!r} found {text.count(anchor)} times")
            at = text.index(anchor)
            if where == "replace":
                text = text.replace(anchor, insert)
            elif where == "before":
                text = text[:at] + insert + text[at:]
            elif where == "after":
                end = at + len(anchor)
                text = text[:end] + insert + text[end:]
            else:  # after the `_banded` call, in the loop: the line that ends the call
                end = at + anchor.index("\n") + 1
                text = text[:end] + insert + text[end:]
        text = re.sub(r"^(from __future__ import annotations\n)", r"\1" + _TICK, text, count=1,
                      flags=re.M)
        path.write_text(text)


def one(cache: str) -> tuple[Any, ...]:
    """One pass in this process (the copy first on sys.path): ticks a row per cell, rows,
    ticks a second, the whole loop's ticks a row."""
    import importlib

    import numpy as np
    from core_bench import BATCH, _rows

    from detector.core.config import CoreConfig
    from detector.core.engine import PartitionEngine

    krows: Any = importlib.import_module("detector.kernel.rows")
    now = importlib.import_module("detector.kernel.cycles").now  # the copy's only
    acc = np.zeros((2, 40))
    seen = {"calls": 0, "rows": 0}
    inner = krows.score_segment

    def timed(*args: Any) -> Any:
        work = args[18]
        work[6:8] = 0.0
        out = inner(*args)
        if seen["calls"]:
            acc[:] += work[6:8, :40]
            seen["rows"] += len(args[5])
        seen["calls"] += 1
        return out

    krows.score_segment = timed
    txs = _rows(cache)
    engine = PartitionEngine(CoreConfig(), 0)
    gc.disable()
    now()
    t0, c0 = time.perf_counter(), now()
    for i in range(0, len(txs), BATCH):
        engine.verdicts(txs[i:i + BATCH])
    t1, c1 = time.perf_counter(), now()
    engine.close()
    gc.enable()
    rows = seen["rows"]
    return ((acc / rows).tolist(), rows, (c1 - c0) / (t1 - t0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="/tmp/auditstream_core_bench_rows.pkl")
    parser.add_argument("--tree", default=str(HERE.parent))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kernel-cache", default=os.path.join(tempfile.gettempdir(),
                                                               "auditstream-kernel-cycles"))
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(repr(one(args.cache)))
        return 0
    with tempfile.TemporaryDirectory(prefix="kernel-cycles-") as tmp:
        instrument(Path(args.tree), Path(tmp))
        env = {**os.environ, "PYTHONPATH": tmp, "AUDITSTREAM_KERNEL_CACHE": args.kernel_cache}
        runs = []
        for _ in range(args.rounds):
            out = subprocess.run([sys.executable, __file__, "--one", "--cache", args.cache],
                                 env=env, capture_output=True, text=True, check=True).stdout
            runs.append(ast.literal_eval(out.strip().splitlines()[-1]))
    hz = statistics.median(r[2] for r in runs)
    print(f"rows {runs[0][1]} a pass, counter {hz / 1e9:.3f} GHz; ticks a row, median of "
          f"{len(runs)} passes (us at that rate)")
    loop = sum(statistics.median(r[0][0][cell] for r in runs)
               for row, cell, label in SECTIONS if row == 6 and not label.startswith(" "))
    for row, cell, label in SECTIONS:
        ticks = statistics.median(r[0][row - 6][cell] for r in runs)
        share = f"{100 * ticks / loop:5.1f} %" if loop else ""
        print(f"  {label:42s} {ticks:8.0f}  {ticks / hz * 1e6:6.3f} us  {share}")
    print(f"  {'whole loop (sum of the top-level sections)':42s} {loop:8.0f}  "
          f"{loop / hz * 1e6:6.3f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
