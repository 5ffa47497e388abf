"""numba's reference-count calls a row in the kernel, by the function making them.

    .venv/bin/python bench/kernel_refcounts.py [--rows 500]

Runs the engine on the kernel (`AUDITSTREAM_CORE=kernel`) under gdb over core_bench's rows
(made by `python bench/core_bench.py` if missing): after a warm-up it lists the address of
every function the kernel's compiled libraries define (a fresh compile in a temporary
cache: a library loaded from a cache keeps no function list), sets a breakpoint on each
copy of `NRT_incref`, `NRT_decref` and numba's allocation, then scores `--rows` more rows
and counts each call by the function its return address falls in. Needs gdb (Debian's
package) and about two minutes (the compile, then ~10 us a breakpoint hit). Figures:
docs/benchmarks.md, "Issue 14: the kernel's reference counts, a checkpoint by columns".
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WARM = 20_000  # rows scored before counting (the kernel compiled, the forest fitted)
BATCH = 500


def child(rows: int, map_path: str) -> None:
    """In the process gdb runs: warm up, write the function map, stop, then count."""
    import gc

    os.environ["AUDITSTREAM_CORE"] = "kernel"
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    from core_bench import _rows
    from numba.core.registry import CPUDispatcher

    from detector.core.config import CoreConfig
    from detector.core.engine import PartitionEngine

    txs = _rows("/tmp/auditstream_core_bench_rows.pkl")
    engine = PartitionEngine(CoreConfig(), 0)
    for i in range(0, WARM, BATCH):
        engine.verdicts(txs[i:i + BATCH])
    names: dict[int, str] = {}
    for obj in gc.get_objects():
        if isinstance(obj, CPUDispatcher):
            overloads: Any = obj.overloads  # numba's CompileResult, untyped here
            for cres in overloads.values():
                lib = cres.library
                for f in lib._final_module.functions:
                    if f.is_declaration:
                        continue
                    own = f.name == cres.fndesc.llvm_func_name
                    names[lib.get_pointer_to_function(f.name)] = (
                        f"{obj.py_func.__module__}.{obj.py_func.__name__}" if own else f.name)
    with open(map_path, "w") as out:
        out.writelines(f"{a} {names[a]}\n" for a in sorted(names) if a)
    os.kill(os.getpid(), signal.SIGTRAP)  # gdb sets its breakpoints here
    for i in range(WARM, WARM + rows, BATCH):
        engine.verdicts(txs[i:i + min(BATCH, WARM + rows - i)])


def readable(name: str) -> str:
    """A kernel function's dotted name from numba's mangled one (`_ZN8detector6kernel...`)."""
    if not name.startswith("_ZN"):
        return name
    parts, i = [], 3
    while i < len(name) and name[i].isdigit():
        j = i
        while name[j].isdigit():
            j += 1
        parts.append(name[j:j + int(name[i:j])])
        i = j + int(name[i:j])
    return ".".join(parts) or name


def in_gdb(map_path: str, rows: int) -> None:
    """Sourced by gdb: count the calls by caller and print them when the child exits."""
    import bisect
    import collections

    import gdb  # type: ignore[import-untyped]

    addrs, names = [], []
    with open(map_path) as f:
        for line in f:
            at, name = line.rstrip("\n").split(" ", 1)
            addrs.append(int(at))
            names.append(readable(name))
    counts: dict[str, collections.Counter[str]] = {"refcount": collections.Counter(),
                                                  "allocation": collections.Counter()}

    def caller() -> str:
        ret = int(gdb.parse_and_eval("*(unsigned long*)$rsp"))  # at entry: the return address
        i = bisect.bisect_right(addrs, ret) - 1
        return names[i] if i >= 0 else "?"

    class Count(gdb.Breakpoint):  # type: ignore[misc]
        def __init__(self, where: str, kind: str) -> None:
            super().__init__(where, internal=True)
            self.kind = kind

        def stop(self) -> bool:
            counts[self.kind][caller()] += 1
            return False

    for a, name in zip(addrs, names, strict=True):
        if name in ("NRT_incref", "NRT_decref"):
            Count(f"*{a}", "refcount")
    for symbol in ("NRT_MemInfo_alloc_aligned", "NRT_MemInfo_alloc_safe_aligned"):
        Count(symbol, "allocation")

    def report(_: object) -> None:
        for kind, counter in counts.items():
            print(f"{kind} calls a row: {sum(counter.values()) / rows:,.1f}")
            for name, n in counter.most_common(15):
                print(f"  {n / rows:8.1f}  {name[:110]}")

    gdb.events.exited.connect(report)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--child", metavar="MAP", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.rows, args.child)
        return 0
    with tempfile.TemporaryDirectory(prefix="kernel-refcounts-") as tmp:
        map_path = os.path.join(tmp, "functions.txt")
        setup = os.path.join(tmp, "count.py")
        with open(setup, "w") as f:
            f.write(f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r})\n"
                    f"import kernel_refcounts\n"
                    f"kernel_refcounts.in_gdb({map_path!r}, {args.rows})\n")
        env = {**os.environ, "AUDITSTREAM_KERNEL_CACHE": os.path.join(tmp, "cache")}
        cmd = ["gdb", "-q", "-batch", "-ex", "handle SIGTRAP stop", "-ex", "run",
               "-ex", f"source {setup}", "-ex", "continue",
               "--args", sys.executable, __file__, "--rows", str(args.rows), "--child", map_path]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith(("refcount", "alloc", "  "))]
        print("\n".join(lines) if lines else out.stdout[-2000:] + out.stderr[-2000:])
        return 0 if lines else 1


if __name__ == "__main__":
    raise SystemExit(main())
