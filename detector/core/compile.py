"""Compile the detection core's per-row modules with mypyc (`detector.core.compiled`).

    python -m detector.core.compile      # make runs it when a core source changes

Exit codes: 0 built (or, outside CI, could not build: the core then runs as Python, with
the same outputs, slower, and says why); 1 could not build with CI set, so CI never
measures or tests a Python core by accident.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from detector.core.compiled import HERE, MODULES, TARGET, expected


def build(folder: Path = HERE, target: Path = TARGET) -> None:
    """Compile `MODULES` of `folder` with mypyc into `target` (replaced whole, so a reader
    never sees half a build). Raises on any failure (no compiler, a type error)."""
    from mypyc.build import mypycify  # a build-time tool (mypy): not needed to run
    from setuptools import setup

    stamp = expected(folder)
    config = folder.parents[1] / "pyproject.toml"  # the project's strict mypy settings
    with tempfile.TemporaryDirectory(prefix="core-build-", dir=target.parent) as tmp:
        work = Path(tmp)
        cwd = os.getcwd()
        os.chdir(work)  # setuptools reads the current folder's configuration: none here
        try:
            modules = mypycify(
                ["--config-file", str(config), *(str(folder / f"{m}.py") for m in MODULES)],
                opt_level="3", target_dir=str(work / "c"))
            setup(name="auditstream-core", ext_modules=modules, script_args=[
                "-q", "build_ext", "--build-lib", str(work / "built"),
                "--build-temp", str(work / "tmp")])
        finally:
            os.chdir(cwd)
        out = work / "out"
        (out / "core").mkdir(parents=True)
        (out / "lib").mkdir()
        for so in (work / "built").rglob("*.so"):
            place = "core" if so.parent.name == "core" else "lib"
            shutil.move(str(so), out / place / so.name)
        (out / "stamp.json").write_text(json.dumps(stamp))
        _replace(target, out, work / "old")


def _replace(target: Path, new: Path, trash: Path) -> None:
    if target.exists():
        target.rename(trash)
    new.rename(target)


def _failed(reason: str, target: Path = TARGET) -> None:
    """Record a failed build, so `enable` says why and make does not retry until a source
    changes."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    (target / "stamp.json").write_text(json.dumps({"failed": reason}))


def main(target: Path = TARGET) -> int:
    """Build into `target` (a test's own folder; the core's `_compiled/` by default)."""
    try:
        build(HERE, target)
    except (Exception, SystemExit) as exc:  # setuptools reports a compiler error by exiting
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        _failed(reason, target)
        strict = os.environ.get("CI", "").lower() in ("1", "true", "yes")
        then = ("an error with CI set (without it the core would run as Python)" if strict
                else "it runs as Python, with the same outputs, slower")
        print(f"auditstream: could not compile the detection core ({reason}); {then}",
              file=sys.stderr)
        return 1 if strict else 0
    print(f"auditstream: detection core compiled into {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
