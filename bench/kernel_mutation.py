"""Mutation testing of the compiled kernel (detector/kernel/), which mutmut cannot do: its
trampolines do not run under numba (docs/mutation.md, "The compiled kernel: a sample").

    nice -n 10 .venv/bin/python bench/kernel_mutation.py --run --sample 80 --seed 2026 \\
        --report bench/kernel_mutation_report.json
    .venv/bin/python bench/kernel_mutation.py --sites          # the sites per module
    .venv/bin/python bench/kernel_mutation.py --sample 80 --seed 2026   # the sample only
    .venv/bin/python bench/kernel_mutation.py --summary bench/kernel_mutation_report.json
    .venv/bin/python bench/kernel_mutation.py --show 17 --sample 80 --seed 2026  # one diff
    .venv/bin/python bench/kernel_mutation.py --run --only 17,23 --sample 80 --seed 2026 \\
        --report /tmp/again.json            # re-run some mutants of the sample (by index)
    nice -n 10 .venv/bin/python bench/kernel_mutation.py --run --no-jit \\
        --sites-in lru:_stray,lru_row,lru_pass --tests tests/unit/test_kernel_lru.py \\
        --report /tmp/lru.json              # every site of some functions, the kernel as Python

Without `--run` nothing is run (`make bench` runs every bench script without arguments).

**Sites.** Python's `ast` over the modules of `MODULES` (the scoring logic; not `jit.py`,
`refs.py`, `knobs.py`, `codes.py`, `warm.py`, `__init__.py`: the compiler's cache, the
structref constructors, the settings tuple, the string codes and the warm-up command, which
carry no arithmetic of a score), outside docstrings, annotations, decorators and `zip`'s
`strict=` (a length assertion). One mutant
a site, the usual bug at it: a comparison's boundary moved (`<`<->`<=`, `>`<->`>=`,
`==`<->`!=`), an arithmetic operator swapped (`+`<->`-`, `*`<->`/`, `//`->`*`), an integer
or float constant moved (0<->1, else +1), `and`<->`or`, a `not` removed, `True`<->`False`,
`break`<->`continue`, `+=`<->`-=`. Each is a replacement of the operator's own token (found
with `tokenize` between its operands), so every other line and column stays where it was.

**Sample.** `--sample N --seed S`: N sites drawn at random (seeded), stratified by module
(each module's share in proportion to its sites, by largest remainder, at least one each),
then shuffled with the seed, so a run cut short has a spread of modules.

**Every site of some functions.** `--sites-in MODULE:F,G` (instead of `--sample`): every
site inside those functions (`Class.method` for a method) of one module, in line order,
numbered from 1 (`--only`, `--show` take those numbers).

**Judges.** `--tests a.py,b.py`: only these test files (default `TESTS`); a mutant of a
module is judged by the tests that reach it, and a few files cost seconds where `TESTS`
cost minutes. `--no-jit` runs them with `NUMBA_DISABLE_JIT=1`: numba's `njit` returns
the plain function, so the kernel runs as Python, with no cache and no compile. Only for
tests that call the mutated functions themselves (the engine's kernel does not run so:
its structrefs' constructors recurse), and only for code whose meaning does not change
as Python (docs/mutation.md, "The kernel's customer table and stray clock", says what
was checked for `lru.py`: Python raises `IndexError` where numba reads past an array).

**Run.** Each mutant is written into a scratch copy of the tree (`--tree`, default
/tmp/mut-tree, made from this checkout at the start; the file is restored, with its
original times, after), and `TESTS` run there with `-x` (the mutated module's own test file
first; the same tests either way), under `timeout`. The kernel's cache is keyed by a
digest of every source (detector/kernel/jit.py), so a mutant would compile the whole kernel
(~45 s of CPU); instead its cache is the clean tree's (built once, first) minus the entries
of the mutated module and of every kernel module importing it, directly or not (numba
checks only a function's own file, and inlines and freezes what it imports: jit.py's
docstring): those are compiled afresh, the rest loaded. A mutant is **killed** when a test
fails, **timeout** (killed) when the run exceeds `--timeout-factor` (3) times the clean
run, **not viable** when numba or Python refuses it (a typing or syntax error: the first
failure's output says so; excluded from the rate), else **survived**.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import tokenize
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNEL = Path("detector/kernel")
MODULES = (
    "amounts", "calibration", "clock", "forest", "geo", "hold", "hours", "learning", "lru",
    "novelty", "observe", "parking", "population", "records", "rows", "segment", "slots",
    "tables", "tails", "terms", "total", "variety",
)
#: The unit tests of the kernel, less those of its plumbing (the cache, the warm-up, the
#: structref constructors, the reference counts, bench's spike), which run child processes
#: compiling elsewhere and judge no score. The parity tests of the engine are among them.
TESTS = tuple(
    f"tests/unit/test_kernel_{m}.py" for m in (
        "amounts", "calibration", "clock", "engine", "forest", "geo", "hold", "hours",
        "learning", "lru", "novelty", "observe", "parking", "partition_state", "population",
        "records", "sequences", "shell", "slots", "tables", "tails", "terms", "total",
        "variety",
    )
)
SWAP_CMP = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
SWAP_BIN = {"+": "-", "-": "+", "*": "/", "/": "*", "//": "*"}
SWAP_AUG = {"+=": "-=", "-=": "+="}
_CMP = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_BIN = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//"}
_AUG = {ast.Add: "+=", ast.Sub: "-="}
_FAIL = re.compile(r"(TypingError|LoweringError|UnsupportedError|NumbaError|SyntaxError"
                   r"|errors\.Typing|numba\.core\.errors)")


@dataclass
class Site:
    module: str
    line: int  # 1-based
    col: int  # character column of the replaced text
    old: str
    new: str
    kind: str

    def label(self) -> str:
        return f"{self.module}.py:{self.line}:{self.col} {self.kind} {self.old!r}->{self.new!r}"


def _tokens(source: str) -> list[tokenize.TokenInfo]:
    return [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type in (tokenize.OP, tokenize.NAME)]


def _char_col(lines: list[str], line: int, byte_col: int) -> int:
    return len(lines[line - 1].encode()[:byte_col].decode())


class _Finder:
    def __init__(self, module: str, source: str) -> None:
        self.module = module
        self.lines = source.splitlines(keepends=True)
        self.toks = _tokens(source)
        self.sites: list[Site] = []
        self.skip: set[int] = set()

    def pos(self, node: ast.AST, end: bool = False) -> tuple[int, int]:
        line: int = getattr(node, "end_lineno" if end else "lineno")
        col: int = getattr(node, "end_col_offset" if end else "col_offset")
        return line, _char_col(self.lines, line, col)

    def token(self, text: str, after: tuple[int, int],
              before: tuple[int, int]) -> tokenize.TokenInfo | None:
        for t in self.toks:
            if after <= t.start and t.end <= before and t.string == text:
                return t
        return None

    def add(self, tok: tokenize.TokenInfo | None, new: str, kind: str) -> None:
        if tok is not None:
            self.sites.append(Site(self.module, tok.start[0], tok.start[1], tok.string, new, kind))

    def span(self, node: ast.AST, new: str, kind: str) -> None:
        (l1, c1), (l2, c2) = self.pos(node), self.pos(node, end=True)
        if l1 == l2:
            self.sites.append(Site(self.module, l1, c1, self.lines[l1 - 1][c1:c2], new, kind))

    def visit(self, tree: ast.Module) -> list[Site]:
        # docstrings, annotations, decorators: never mutated
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body \
                    and isinstance(node.body[0], ast.Expr) \
                    and isinstance(node.body[0].value, ast.Constant):
                self._skip(node.body[0])
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for d in node.decorator_list:
                    self._skip(d)
                if node.returns:
                    self._skip(node.returns)
            if isinstance(node, ast.ClassDef):
                for d in node.decorator_list:
                    self._skip(d)
            if isinstance(node, ast.arg) and node.annotation:
                self._skip(node.annotation)
            if isinstance(node, ast.AnnAssign):
                self._skip(node.annotation)
            if isinstance(node, ast.keyword) and node.arg == "strict":
                self._skip(node.value)  # zip's length check: an assertion, not a score
        for node in ast.walk(tree):
            if id(node) not in self.skip:
                self._node(node)
        return sorted(self.sites, key=lambda s: (s.line, s.col, s.kind))

    def _skip(self, node: ast.AST) -> None:
        for n in ast.walk(node):
            self.skip.add(id(n))

    def _node(self, node: ast.AST) -> None:
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for i, op in enumerate(node.ops):
                text = _CMP.get(type(op))
                if text:
                    tok = self.token(text, self.pos(operands[i], end=True),
                                     self.pos(operands[i + 1]))
                    self.add(tok, SWAP_CMP[text], "compare")
        elif isinstance(node, ast.BinOp) and type(node.op) in _BIN:
            text = _BIN[type(node.op)]
            tok = self.token(text, self.pos(node.left, end=True), self.pos(node.right))
            self.add(tok, SWAP_BIN[text], "arith")
        elif isinstance(node, ast.AugAssign) and type(node.op) in _AUG:
            text = _AUG[type(node.op)]
            tok = self.token(text, self.pos(node.target, end=True), self.pos(node.value))
            self.add(tok, SWAP_AUG[text], "augassign")
        elif isinstance(node, ast.BoolOp):
            text = "and" if isinstance(node.op, ast.And) else "or"
            for a, b in zip(node.values, node.values[1:], strict=False):
                tok = self.token(text, self.pos(a, end=True), self.pos(b))
                self.add(tok, "or" if text == "and" else "and", "boolop")
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            tok = self.token("not", self.pos(node), self.pos(node.operand))
            if tok is not None:
                # "not x" -> "x": the token and the blanks after it
                line = self.lines[tok.start[0] - 1]
                end = tok.end[1]
                while end < len(line) and line[end] == " ":
                    end += 1
                self.sites.append(Site(self.module, tok.start[0], tok.start[1],
                                       line[tok.start[1]:end], "", "not"))
        elif isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool):
                self.span(node, "False" if v else "True", "bool")
            elif isinstance(v, int):
                self.span(node, "1" if v == 0 else "0" if v == 1 else str(v + 1), "int")
            elif isinstance(v, float):
                new = "1.0" if v == 0.0 else "0.0" if v == 1.0 else repr(v + 1.0)
                self.span(node, new, "float")
        elif isinstance(node, ast.Break):
            self.span(node, "continue", "break")
        elif isinstance(node, ast.Continue):
            self.span(node, "break", "continue")


def sites(root: Path = ROOT) -> list[Site]:
    """Every mutation site of `MODULES`, by module, line and column."""
    found: list[Site] = []
    for m in MODULES:
        source = (root / KERNEL / f"{m}.py").read_text()
        found += _Finder(m, source).visit(ast.parse(source))
    return found


def sites_in(spec: str, root: Path = ROOT) -> list[Site]:
    """Every site of the functions of `spec`, `MODULE:F,G` (`Class.method` for a method),
    in line order."""
    module, _, names = spec.partition(":")
    source = (root / KERNEL / f"{module}.py").read_text()
    tree = ast.parse(source)
    spans: dict[str, tuple[int, int]] = {}
    for node in tree.body:
        inner = node.body if isinstance(node, ast.ClassDef) else [node]
        prefix = f"{node.name}." if isinstance(node, ast.ClassDef) else ""
        for f in inner:
            if isinstance(f, ast.FunctionDef):
                spans[prefix + f.name] = (f.lineno, f.end_lineno or f.lineno)
    wanted = names.split(",")
    missing = [n for n in wanted if n not in spans]
    if missing:
        sys.exit(f"no function {missing} in {module}.py")
    return [s for s in _Finder(module, source).visit(tree)
            if any(spans[n][0] <= s.line <= spans[n][1] for n in wanted)]


def sample(all_sites: list[Site], n: int, seed: int) -> list[Site]:
    """`n` sites stratified by module (largest remainder, at least one each), shuffled."""
    rng = random.Random(seed)
    by: dict[str, list[Site]] = {}
    for s in all_sites:
        by.setdefault(s.module, []).append(s)
    total = len(all_sites)
    quota = {m: max(1, n * len(v) // total) for m, v in by.items()}
    rest = sorted(by, key=lambda m: -((n * len(by[m])) % total))
    i = 0
    while sum(quota.values()) < n and i < len(rest):
        quota[rest[i]] += 1
        i += 1
    chosen = [s for m in MODULES if m in by for s in rng.sample(by[m], min(quota[m], len(by[m])))]
    rng.shuffle(chosen)
    return chosen


def mutated(source: str, site: Site) -> str:
    lines = source.splitlines(keepends=True)
    line = lines[site.line - 1]
    assert line[site.col:site.col + len(site.old)] == site.old, site.label()
    lines[site.line - 1] = line[:site.col] + site.new + line[site.col + len(site.old):]
    return "".join(lines)


def diff(site: Site, root: Path = ROOT) -> str:
    source = (root / KERNEL / f"{site.module}.py").read_text()
    before = source.splitlines()[site.line - 1]
    after = mutated(source, site).splitlines()[site.line - 1]
    return f"{site.label()}\n-{before}\n+{after}"


def importers() -> dict[str, set[str]]:
    """Each kernel module: itself and every kernel module importing it, directly or not."""
    names = [p.stem for p in (ROOT / KERNEL).glob("*.py")]
    imports: dict[str, set[str]] = {}
    for m in names:
        tree = ast.parse((ROOT / KERNEL / f"{m}.py").read_text())
        got: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "detector.kernel":
                    got |= {a.name for a in node.names}
                elif node.module.startswith("detector.kernel."):
                    got.add(node.module.rsplit(".", 1)[1])
            elif isinstance(node, ast.Import):
                got |= {a.name.rsplit(".", 1)[1] for a in node.names
                        if a.name.startswith("detector.kernel.")}
        imports[m] = got
    out: dict[str, set[str]] = {}
    for m in names:
        seen = {m}
        changed = True
        while changed:
            changed = False
            for other, deps in imports.items():
                if other not in seen and deps & seen:
                    seen.add(other)
                    changed = True
        out[m] = seen
    return out


def digest(tree: Path) -> str:
    """detector/kernel/jit.py's `sources_digest` of `tree` (checked against the clean cache)."""
    h = hashlib.sha256()
    for folder in (tree / KERNEL, tree / "detector" / "core"):
        h.update(folder.name.encode() + b"\0")
        for path in sorted(folder.glob("*.py")):
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _tests(module: str, judges: tuple[str, ...] = TESTS) -> list[str]:
    own = f"tests/unit/test_kernel_{module}.py"
    return ([own] if own in judges else []) + [t for t in judges if t != own]


def _pytest(tree: Path, cache: Path, tests: list[str], timeout: float | None,
            no_jit: bool = False) -> tuple[str, float, str]:
    env = dict(os.environ, AUDITSTREAM_KERNEL_CACHE=str(cache), PYTHONPATH=str(tree),
               PYTHONDONTWRITEBYTECODE="1")
    if no_jit:
        env["NUMBA_DISABLE_JIT"] = "1"
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
           "-p", "no:randomly", "--tb=short", *tests]
    start = time.monotonic()
    try:
        done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True,
                              timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return "timeout", time.monotonic() - start, out[-3000:]
    took = time.monotonic() - start
    out = done.stdout + done.stderr
    if done.returncode == 0:
        return "survived", took, out[-1500:]
    if done.returncode in (2, 3, 4) or _FAIL.search(out):
        viable = not _FAIL.search(out) and "SyntaxError" not in out
        return "error" if viable else "not viable", took, out[-3000:]
    return "killed", took, out[-3000:]


def _fresh_tree(tree: Path) -> None:
    if tree.exists():
        shutil.rmtree(tree)
    ignore = shutil.ignore_patterns(".git", ".venv", "mutants", "__pycache__", ".mypy_cache",
                                    ".ruff_cache", ".pytest_cache", "node_modules", "*.pbix")
    shutil.copytree(ROOT, tree, ignore=ignore, symlinks=True)  # copy2: times kept


def run(chosen: list[tuple[int, Site]], tree: Path, cache_base: Path, report: Path,
        factor: float, clean_s: float | None, judges: tuple[str, ...] = TESTS,
        no_jit: bool = False) -> None:
    results: list[dict[str, object]] = []
    if report.exists():
        results = json.loads(report.read_text()).get("mutants", [])
    done = {r["index"] for r in results}
    if not tree.exists():
        _fresh_tree(tree)
    clean = cache_base / "clean"
    if no_jit and clean_s is None:
        print("clean run (no jit) ...", flush=True)
        status, clean_s, out = _pytest(tree, clean, list(judges), None, no_jit=True)
        if status != "survived":
            sys.exit(f"the clean tree fails its tests:\n{out}")
        print(f"clean run: {clean_s:.0f} s", flush=True)
    elif not no_jit and (not (clean / digest(tree)).exists() or clean_s is None):
        shutil.rmtree(clean, ignore_errors=True)
        print("clean run (cold cache) ...", flush=True)
        status, clean_s, out = _pytest(tree, clean, list(judges), None)
        if status != "survived":
            sys.exit(f"the clean tree fails its tests:\n{out}")
        assert (clean / digest(tree)).exists(), "the digest differs from jit.sources_digest"
        print(f"clean run: {clean_s:.0f} s", flush=True)
    assert clean_s is not None
    deps = importers()
    meta = {"clean_s": clean_s, "timeout_factor": factor, "tests": list(judges),
            "jit": not no_jit}
    for index, site in chosen:
        if index in done:
            continue
        path = tree / KERNEL / f"{site.module}.py"
        source = path.read_text()
        st = path.stat()
        path.write_text(mutated(source, site))
        cache = cache_base / f"m{index}"
        shutil.rmtree(cache, ignore_errors=True)
        keep = set() if no_jit else deps[site.module]
        if not no_jit:
            src = next(p for p in clean.iterdir() if p.is_dir())  # the clean digest's
            dst = cache / digest(tree) / "kernel"
            dst.mkdir(parents=True)
            for f in (src / "kernel").iterdir():
                if f.name.split(".", 1)[0] not in keep:
                    shutil.copy2(f, dst / f.name)
        started = time.strftime("%H:%M:%S", time.gmtime())
        try:
            status, took, out = _pytest(tree, cache, _tests(site.module, judges),
                                        factor * clean_s, no_jit)
        finally:
            path.write_text(source)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
            shutil.rmtree(cache, ignore_errors=True)
        failed = [ln for ln in out.splitlines() if ln.startswith(("FAILED", "ERROR"))][:3]
        if status == "killed" and "IndexError" in out:
            failed.append("IndexError")  # numba would read past the array instead
        results.append({"index": index, **asdict(site), "status": status,
                        "seconds": round(took, 1), "started_utc": started,
                        "recompiled": sorted(keep), "failed": failed,
                        "tail": out[-1200:] if status in ("not viable", "error") else ""})
        print(f"[{index}] {site.label()}: {status} ({took:.0f} s) {failed[:1]}", flush=True)
        report.write_text(json.dumps({**meta, "mutants": results}, indent=1))


def summary(report: Path) -> str:
    data = json.loads(report.read_text())
    rows = data["mutants"]
    count: dict[str, int] = {}
    for r in rows:
        count[r["status"]] = count.get(r["status"], 0) + 1
    viable = sum(v for k, v in count.items() if k in ("killed", "timeout", "survived"))
    killed = count.get("killed", 0) + count.get("timeout", 0)
    lines = [f"{len(rows)} mutants run: {count}",
             f"viable {viable}, killed {killed} ({100 * killed / max(viable, 1):.1f}%)",
             "survivors:"]
    lines += [f"  [{r['index']}] {r['module']}.py:{r['line']}:{r['col']} {r['kind']} "
              f"{r['old']!r}->{r['new']!r}" for r in rows if r["status"] == "survived"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", action="store_true", help="count the sites per module")
    parser.add_argument("--sample", type=int, default=0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--show", type=int, help="the diff of this mutant of the sample")
    parser.add_argument("--only", help="indices of the sample to run, comma-separated")
    parser.add_argument("--run", action="store_true")
    parser.add_argument("--tree", type=Path, default=Path("/tmp/mut-tree"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/mut-cache"))
    parser.add_argument("--report", type=Path,
                        default=ROOT / "bench" / "kernel_mutation_report.json")
    parser.add_argument("--timeout-factor", type=float, default=3.0)
    parser.add_argument("--clean-s", type=float, help="the clean run's seconds, if measured")
    parser.add_argument("--summary", type=Path)
    parser.add_argument("--sites-in", help="every site of MODULE:F,G (instead of --sample)")
    parser.add_argument("--tests", help="the judging test files, comma-separated")
    parser.add_argument("--no-jit", action="store_true",
                        help="run the tests with NUMBA_DISABLE_JIT=1 (the kernel as Python)")
    args = parser.parse_args()
    if args.summary:
        print(summary(args.summary))
        return
    found = sites()
    if args.sites:
        per: dict[str, int] = {}
        for s in found:
            per[s.module] = per.get(s.module, 0) + 1
        print(json.dumps(per, indent=1), len(found))
        return
    if args.sites_in:
        chosen = list(enumerate(sites_in(args.sites_in), 1))
    elif args.sample:
        chosen = list(enumerate(sample(found, args.sample, args.seed), 1))
    else:
        print(__doc__)
        return
    if args.only:
        wanted = {int(x) for x in args.only.split(",")}
        chosen = [(i, s) for i, s in chosen if i in wanted]
    if args.show is not None:
        print(diff(dict(chosen)[args.show]))
        return
    if not args.run:
        for i, s in chosen:
            print(i, s.label())
        return
    judges = tuple(args.tests.split(",")) if args.tests else TESTS
    run(chosen, args.tree, args.cache, args.report, args.timeout_factor, args.clean_s, judges,
        args.no_jit)


if __name__ == "__main__":
    main()
