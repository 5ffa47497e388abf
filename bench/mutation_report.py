"""Mutation score per module from the last `mutmut run` (docs/mutation.md).

    make mutation                                  # runs mutmut, then this report
    .venv/bin/python bench/mutation_report.py      # the report of the run in mutants/
    .venv/bin/python bench/mutation_report.py --survivors   # and each survivor's diff
    .venv/bin/mutmut run $(.venv/bin/python bench/mutation_report.py --sample 40)
                                   # a seeded sample of each module's unchecked mutants
    .venv/bin/python bench/mutation_report.py --uniform 400 --seed 2026 > sample.txt
    nice -n 10 .venv/bin/mutmut run --max-children 2 $(head -n 200 sample.txt)
    .venv/bin/python bench/mutation_report.py --only <(head -n 200 sample.txt)
                                   # a uniform seeded sample of all core mutants (random
                                   # order: every prefix is uniform), its table and interval

mutmut's configuration (what is mutated, which unit tests judge it) is `[tool.mutmut]` in
pyproject.toml. A mutant is *killed* when a test fails on it (a timeout counts as killed:
the tests noticed the change); *survived* when every test passes; *no tests* when no
selected test runs its function. The score is killed / all mutants.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_LINE = re.compile(r"^\s+(?P<name>\S+?)\.x[_ǁ]\S*__mutmut_\d+: (?P<status>.+)$")
_KILLED = {"killed", "timeout", "caught by type check"}


def _mutmut() -> str:
    local = Path(sys.executable).with_name("mutmut")
    return str(local) if local.exists() else (shutil.which("mutmut") or "mutmut")


def results() -> list[tuple[str, str, str]]:
    """(module, mutant name, status) of every mutant of the last run."""
    out = subprocess.run([_mutmut(), "results", "--all", "true"], cwd=ROOT,
                         capture_output=True, text=True, check=False).stdout
    rows = []
    for line in out.splitlines():
        match = _LINE.match(line)
        if match:
            rows.append((match["name"], line.strip().split(":")[0], match["status"].strip()))
    return rows


def table(rows: list[tuple[str, str, str]]) -> str:
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for module, _, status in rows:
        by_module[module][status] += 1
    lines = ["| module | killed | survived | no tests | not checked | total | score |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    totals: Counter[str] = Counter()
    for module in sorted(by_module):
        counts = by_module[module]
        totals.update(counts)
        lines.append(_row(module, counts))
    lines.append(_row("**all**", totals))
    return "\n".join(lines)


def _row(name: str, counts: Counter[str]) -> str:
    total = sum(counts.values())
    killed = sum(counts[s] for s in _KILLED)
    score = f"{100 * killed / total:.1f}%" if total else "-"
    return (f"| {name} | {killed} | {counts['survived']} | {counts['no tests']} | "
            f"{counts['not checked']} | {total} | {score} |")


def survivors(rows: list[tuple[str, str, str]]) -> str:
    """Each surviving (or untested) mutant with its changed lines."""
    parts = []
    for _, name, status in rows:
        if status not in ("survived", "no tests"):
            continue
        diff = subprocess.run([_mutmut(), "show", name], cwd=ROOT, capture_output=True,
                              text=True, check=False).stdout
        changed = [ln for ln in diff.splitlines()
                   if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
        parts.append(f"{name} ({status})\n" + "\n".join(f"    {ln}" for ln in changed))
    return "\n".join(parts)


def sample(rows: list[tuple[str, str, str]], per_module: int, seed: int) -> list[str]:
    """A seeded random sample of each module's mutants not yet checked: when a full run does
    not fit, the score of the sample estimates the module's (docs/mutation.md)."""
    pending: dict[str, list[str]] = defaultdict(list)
    for module, name, status in rows:
        if status == "not checked":
            pending[module].append(name)
    rng = random.Random(seed)
    chosen: list[str] = []
    for module in sorted(pending):
        names = sorted(pending[module])
        chosen.extend(rng.sample(names, min(per_module, len(names))))
    return chosen


def uniform(rows: list[tuple[str, str, str]], size: int, seed: int, prefix: str) -> list[str]:
    """A seeded uniform sample of every mutant whose name starts with `prefix`, whatever its
    status (so the sample's kill rate estimates the scope's), in a random order: each
    prefix of the list is a uniform sample too, so a run cut short by time can be run by
    prefixes (`head -n 200`) and still be reported on a finished one."""
    names = sorted(name for _, name, _ in rows if name.startswith(prefix))
    return random.Random(seed).sample(names, min(size, len(names)))


def wilson(killed: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval (95% by default) of a kill rate `killed` / `n`."""
    if n == 0:
        return 0.0, 1.0
    p = killed / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def interval(rows: list[tuple[str, str, str]]) -> str:
    checked = [status for _, _, status in rows if status != "not checked"]
    killed = sum(status in _KILLED for status in checked)
    low, high = wilson(killed, len(checked))
    return (f"{killed} killed of {len(checked)} checked ({len(rows) - len(checked)} not checked):"
            f" {100 * killed / max(len(checked), 1):.1f}%, Wilson 95% interval "
            f"{100 * low:.1f}%-{100 * high:.1f}%")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--survivors", action="store_true", help="list each survivor's diff")
    parser.add_argument("--sample", type=int, metavar="N",
                        help="print the names of N unchecked mutants per module (seeded)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--uniform", type=int, metavar="N",
                        help="print the names of N mutants drawn uniformly from --prefix")
    parser.add_argument("--prefix", default="detector.core.")
    parser.add_argument("--only", type=Path, metavar="FILE",
                        help="report only the mutants named in FILE, with the Wilson interval")
    args = parser.parse_args()
    if not (ROOT / "mutants").is_dir():
        print("no mutmut run here (mutants/ is absent): run `make mutation` first")
        return 0
    rows = results()
    if args.sample:
        print(" ".join(sample(rows, args.sample, args.seed)))
        return 0
    if args.uniform:
        print("\n".join(uniform(rows, args.uniform, args.seed, args.prefix)))
        return 0
    if args.only:
        wanted = set(args.only.read_text("utf-8").split())
        rows = [row for row in rows if row[1] in wanted]
        print(table(rows))
        print()
        print(interval(rows))
    else:
        print(table(rows))
    if args.survivors:
        print()
        print(survivors(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
