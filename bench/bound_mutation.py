"""Hand mutants of the settings classes' upper bounds, which mutmut never makes (it mutates no
field declaration): each field's `le=X` as `lt=X` (the bound itself refused), as `le=(X) + 1`
(one unit past it taken) and as `le=(X) - 1` (the bound refused): docs/mutation.md, round 21.

    .venv/bin/python bench/bound_mutation.py                       # the mutants
    nice -n 10 .venv/bin/python bench/bound_mutation.py --run --report /tmp/bounds.json

Each mutant is judged as `bench/decorated_mutation.py` judges (a scratch copy of the tree,
`PYTHONPATH` the copy, `-x`, a timeout of 3 x the clean run counted as killed) by
`tests/unit/test_settings_upper_bounds.py` and every unit test module of the settings or
bounds (`settings` or `bound` in its name, not `core_boundaries`) that names the setting's
variable or field. Without `--run` nothing is run (`make bench`).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from decorated_mutation import _pytest  # judged as that script judges

ROOT = Path(__file__).resolve().parents[1]
FILES = ["shared/settings.py", "detector/settings.py", "sink/settings.py",
         "producer/settings.py", "auditstream/broker/settings.py"]
JUDGE = "tests/unit/test_settings_upper_bounds.py"
_FIELD = re.compile(r"^    (\w+): [^=]+= Field\(", re.M)
_PREFIX = re.compile(r'env_prefix="(\w+)"')
#: The judges besides JUDGE: the settings' and bounds' own modules that name the variable.
_FOCUSED = re.compile(r"settings|_bound(?!aries)")
_LE = re.compile(r"\ble=([^,)\n]+)")


@dataclass
class Mutant:
    index: int
    path: str
    variable: str
    field: str
    old: str
    new: str
    source: str


def mutants(root: Path = ROOT) -> list[Mutant]:
    out: list[Mutant] = []
    for path in FILES:
        text = (root / path).read_text()
        for le in _LE.finditer(text):
            field = [f for f in _FIELD.finditer(text) if f.start() < le.start()][-1]
            prefix = [p for p in _PREFIX.finditer(text) if p.start() < le.start()][-1]
            variable = f"{prefix.group(1)}{field.group(1)}".upper()
            bound = le.group(1).strip()
            for new in (f"lt={bound}", f"le=({bound}) + 1", f"le=({bound}) - 1"):
                source = text[:le.start()] + new + text[le.end():]
                out.append(Mutant(len(out) + 1, path, variable, field.group(1), le.group(0),
                                  new, source))
    return out


def _judges(variable: str, field: str, root: Path) -> list[str]:
    found = subprocess.run(["grep", "-l", "-w", "-e", variable, "-e", field, "-r", "tests/unit"],
                           cwd=root, capture_output=True, text=True).stdout.split()
    return [JUDGE, *sorted({f for f in found if _FOCUSED.search(f)} - {JUDGE})]


def run(found: list[Mutant], tree: Path, report: Path) -> None:
    if tree.exists():
        shutil.rmtree(tree)
    shutil.copytree(ROOT, tree, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "mutants", "__pycache__", ".mypy_cache", ".ruff_cache"))
    clean: dict[tuple[str, ...], float] = {}
    results = []
    for m in found:
        tests = _judges(m.variable, m.field, ROOT)
        if tuple(tests) not in clean:
            status, took, out = _pytest(tree, tests, None, None, {})
            if status != "survived":
                sys.exit(f"the clean tree fails {tests}:\n{out[-3000:]}")
            clean[tuple(tests)] = took
        path = tree / m.path
        original = path.read_text()
        path.write_text(m.source)
        try:
            status, took, out = _pytest(tree, tests, None, 3 * clean[tuple(tests)], {})
        finally:
            path.write_text(original)
        failed = [ln for ln in out.splitlines() if ln.startswith(("FAILED", "ERROR"))][:2]
        results.append({"index": m.index, "variable": m.variable, "old": m.old, "new": m.new,
                        "status": status, "seconds": round(took, 1), "judges": tests,
                        "failed": failed})
        print(f"[{m.index}] {m.variable} {m.old} -> {m.new}: {status} ({took:.0f} s)",
              flush=True)
        report.write_text(json.dumps(results, indent=1))
    killed = sum(r["status"] != "survived" for r in results)
    print(f"{killed} of {len(results)} killed", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true")
    parser.add_argument("--only", help="indices to run, comma-separated")
    parser.add_argument("--tree", type=Path, default=Path("/tmp/bound-mut-tree"))
    parser.add_argument("--report", type=Path, default=Path("/tmp/bound_mutation.json"))
    args = parser.parse_args()
    found = mutants()
    if args.only:
        wanted = {int(i) for i in args.only.split(",")}
        found = [m for m in found if m.index in wanted]
    if not args.run:
        for m in found:
            print(f"[{m.index}] {m.path} {m.variable}: {m.old} -> {m.new}")
        return
    run(found, args.tree, args.report)


if __name__ == "__main__":
    main()
