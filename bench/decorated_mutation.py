"""mutmut's mutants of functions mutmut itself skips: decorated ones (`@contextmanager`,
`Watchdog.guard`), and the small functions they call (docs/mutation.md, "The kernel
table's shell and the watchdog's guard").

    .venv/bin/python bench/decorated_mutation.py \\
        --in detector/metrics.py:Watchdog.guard,_Open.__init__               # the mutants
    nice -n 10 .venv/bin/python bench/decorated_mutation.py --run \\
        --in detector/metrics.py:Watchdog.guard,_Open.__init__ \\
        --tests tests/unit/test_detector_watchdog_pause.py,tests/unit/test_detector_metrics.py \\
        -k watchdog --report /tmp/guard.json
    nice -n 10 .venv/bin/python bench/decorated_mutation.py --run --env NUMBA_DISABLE_JIT=1 \\
        --in detector/kernel/lru.py:Slots.clone,Slots.settle,Slots.order,Slots.__len__ \\
        --tests tests/unit/test_kernel_lru.py --report /tmp/slots.json   # undecorated too

`--only` takes indices or mutmut's names of the same mutants (`x_draw__mutmut_4`: the 4th
mutmut makes of `draw`), so a committed sample of `mutmut run`'s names
(`bench/mutation_sample_sampling.txt`) runs here, without mutmut's stats and clean passes.

Without `--run` nothing is run (`make bench` runs every bench script without arguments).

mutmut 3 leaves decorated functions out (its trampolines would copy the decorator). Here
the named functions' decorators are hidden (the line commented out: every other line and
column stays), mutmut's own operators (`create_mutations`, the same mutants `mutmut run`
would make of the function undecorated) make the mutants, and each (the file rendered with
the one node replaced, the decorators shown again) is written into a scratch copy of the
tree (`--tree`, restored after each). The tests run there with `-x` under `timeout` (3 x
the clean run), with `PYTHONPATH` the copy, so a child interpreter a test starts runs the mutant too
(mutmut's trampolines never reach one). **killed**: a test fails or the run times out;
else **survived**.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Mutant:
    index: int
    function: str
    line: int  # 1-based, where the changed node starts
    old: str
    new: str
    source: str = field(repr=False)  # the whole file with this mutant
    nth: int = 0  # mutmut's number of it in its function (`x_f__mutmut_<nth>`)


def _functions(module: Any) -> list[tuple[str, Any]]:
    """Each top-level function and method of `module` (a libcst Module): `f` or `Class.f`."""
    import libcst as cst

    out: list[tuple[str, Any]] = []
    for node in module.body:
        if isinstance(node, cst.FunctionDef):
            out.append((node.name.value, node))
        elif isinstance(node, cst.ClassDef) and isinstance(node.body, cst.IndentedBlock):
            out += [(f"{node.name.value}.{f.name.value}", f) for f in node.body.body
                    if isinstance(f, cst.FunctionDef)]
    return out


def mutants(spec: str, root: Path = ROOT) -> list[Mutant]:
    """mutmut's mutants of the functions of `spec` (`path:F,Class.g`), in source order:
    each its line and columns in the original file, the old text and the new."""
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider
    from mutmut.mutation.file_mutation import create_mutations

    path, _, names = spec.partition(":")
    wanted = set(names.split(","))
    source = (root / path).read_text()
    hidden = source.splitlines(keepends=True)
    tree = cst.parse_module(source)
    missing = wanted - {q for q, _ in _functions(tree)}
    if missing:
        sys.exit(f"no function {sorted(missing)} in {path}")
    where = MetadataWrapper(tree, unsafe_skip_copy=True).resolve(PositionProvider)
    shown: dict[str, str] = {}  # each hidden decorator line: the original
    for q, f in _functions(tree):  # the named functions' decorators hidden
        for d in f.decorators if q in wanted else ():
            i = where[d].start.line - 1
            line, hidden[i] = hidden[i], hidden[i].replace("@", "# mutation hid @", 1)
            shown[hidden[i]] = line
    module, found, _, _ = create_mutations(path, "".join(hidden))
    names_of = {id(f): q for q, f in _functions(module)}
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    out: list[Mutant] = []
    nth: dict[str, int] = {}  # mutmut numbers a function's mutants in this order, from 1
    for one in found:
        f = one.contained_by_top_level_function
        if f is None or names_of.get(id(f)) not in wanted:
            continue
        nth[names_of[id(f)]] = nth.get(names_of[id(f)], 0) + 1
        changed = cast("cst.Module", module.deep_replace(one.original_node, one.mutated_node))
        lines = changed.code.splitlines(keepends=True)
        text = "".join(shown.get(ln, ln) for ln in lines)
        was, now = (module.code_for_node(n) for n in (one.original_node, one.mutated_node))
        out.append(Mutant(0, names_of[id(f)], positions[one.original_node].start.line,
                          was.strip(), now.strip(), text, nth[names_of[id(f)]]))
    out.sort(key=lambda m: m.line)  # stable: mutmut's order within a line
    for i, m in enumerate(out, 1):
        m.index = i
    return out


def _chosen(found: list[Mutant], only: str) -> list[Mutant]:
    """The mutants `only` names, comma-separated: indices, or mutmut's names
    (`sink.sampling.xǁAuditSampleǁmerge__mutmut_7`, `sink.sampling.x_draw__mutmut_4`: a
    committed sample list of `mutmut run`'s, run here without its stats and clean passes),
    in the order named (a sample's prefix stays one when a run is cut short)."""
    by = {m.index: m for m in found} | {(m.function, m.nth): m for m in found}
    out: list[Mutant] = []
    for item in only.split(","):
        item = item.strip()
        key: int | tuple[str, int]
        if item.isdigit():
            key = int(item)
        else:
            head, sep, n = item.rpartition("__mutmut_")
            name = head.rpartition(".")[2]
            if not (sep and n.isdigit() and name.startswith("x")):
                sys.exit(f"not an index or a mutmut name: {item!r}")
            key = (name[1:].strip("ǁ").replace("ǁ", ".").removeprefix("_"), int(n))
        if key not in by:
            sys.exit(f"no mutant {item!r} in the functions named")
        out.append(by[key])
    return out


def _pytest(tree: Path, tests: list[str], k: str | None, timeout: float | None,
            extra: dict[str, str]) -> tuple[str, float, str]:
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1", **extra)
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
           "-p", "no:randomly", "--tb=short", *tests, *(["-k", k] if k else [])]
    start = time.monotonic()
    try:
        done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True,
                              timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - start, ""
    out = done.stdout + done.stderr
    status = "survived" if done.returncode == 0 else "killed"
    return status, time.monotonic() - start, out


def run(spec: str, chosen: list[Mutant], tests: list[str], k: str | None,
        tree: Path, report: Path, factor: float, extra: dict[str, str]) -> None:
    if tree.exists():
        shutil.rmtree(tree)
    ignore = shutil.ignore_patterns(".git", ".venv", "mutants", "__pycache__", ".mypy_cache",
                                    ".ruff_cache", ".pytest_cache", "node_modules")
    shutil.copytree(ROOT, tree, ignore=ignore, symlinks=True)
    print("clean run ...", flush=True)
    status, clean_s, out = _pytest(tree, tests, k, None, extra)
    if status != "survived":
        sys.exit(f"the clean tree fails its tests:\n{out[-3000:]}")
    print(f"clean run: {clean_s:.0f} s", flush=True)
    path = tree / spec.partition(":")[0]
    source = path.read_text()
    results: list[dict[str, Any]] = []
    for m in chosen:
        path.write_text(m.source)
        try:
            status, took, out = _pytest(tree, tests, k, factor * clean_s, extra)
        finally:
            path.write_text(source)
        failed = [ln for ln in out.splitlines() if ln.startswith(("FAILED", "ERROR"))][:3]
        results.append({**{key: v for key, v in asdict(m).items() if key != "source"},
                        "status": status, "seconds": round(took, 1),
                        "failed": failed})
        print(f"[{m.index}] {m.function} {m.old!r} -> {m.new!r}: {status} "
              f"({took:.0f} s) {failed[:1]}", flush=True)
        report.write_text(json.dumps({"clean_s": clean_s, "tests": tests, "k": k,
                                      "mutants": results}, indent=1))
    killed = sum(r["status"] != "survived" for r in results)
    print(f"{killed} of {len(results)} killed", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in", dest="spec", help="path:F,Class.g (the functions to mutate)")
    parser.add_argument("--run", action="store_true")
    parser.add_argument("--only", help="indices or mutmut names to run, comma-separated")
    parser.add_argument("--tests", help="the judging test files, comma-separated")
    parser.add_argument("-k", help="pytest's -k for the judges")
    parser.add_argument("--tree", type=Path, default=Path("/tmp/decorated-mut-tree"))
    parser.add_argument("--report", type=Path, default=Path("/tmp/decorated_mutation.json"))
    parser.add_argument("--timeout-factor", type=float, default=3.0)
    parser.add_argument("--env", action="append", default=[],
                        help="NAME=VALUE for the tests (NUMBA_DISABLE_JIT=1: the kernel as "
                             "Python, docs/mutation.md)")
    args = parser.parse_args()
    if not args.spec:
        return  # `make bench`: nothing to do
    found = mutants(args.spec)
    if args.only:
        found = _chosen(found, args.only)
    if not args.run:
        for m in found:
            print(f"[{m.index}] {m.function} line {m.line} (mutmut {m.nth}): {m.old!r} -> "
                  f"{m.new!r}")
        return
    if not args.tests:
        sys.exit("--run needs --tests")
    extra = dict(e.split("=", 1) for e in args.env)
    run(args.spec, found, args.tests.split(","), args.k, args.tree, args.report,
        args.timeout_factor, extra)


if __name__ == "__main__":
    main()
