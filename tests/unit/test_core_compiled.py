"""The compiled core (detector.core.compiled): used only when built from the sources on
disk, and giving the Python core's outputs to the bit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import detector.core
from detector.core import compiled
from tests.ci import IN_CI

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    folder = tmp_path / "core"
    folder.mkdir()
    for name in compiled.MODULES:
        shutil.copy(compiled.HERE / f"{name}.py", folder / f"{name}.py")
    return folder


def _build(target: Path, stamp: dict[str, str]) -> Path:
    (target / "core").mkdir(parents=True)
    (target / "lib").mkdir()
    (target / "stamp.json").write_text(json.dumps(stamp))
    return target


@pytest.fixture
def clean_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delenv(compiled.SWITCH, raising=False)


@pytest.mark.usefixtures("clean_sys_path")
def test_a_build_of_these_sources_goes_first_on_the_package_path(
        sources: Path, tmp_path: Path) -> None:
    target = _build(tmp_path / "built", compiled.expected(sources))
    path = ["/the/package"]
    assert compiled.enable(path, sources, target) == "compiled (mypyc)"
    assert path == [str(target / "core"), "/the/package"]
    assert sys.path[-1] == str(target / "lib")  # mypyc's shared runtime of the group


@pytest.mark.usefixtures("clean_sys_path")
def test_one_changed_byte_in_any_module_leaves_the_build_unused(
        sources: Path, tmp_path: Path) -> None:
    target = _build(tmp_path / "built", compiled.expected(sources))
    for name in compiled.MODULES:
        module = sources / f"{name}.py"
        text = module.read_bytes()
        module.write_bytes(text + b" ")
        path = ["/the/package"]
        assert compiled.enable(path, sources, target) == (
            "python (the compiled core is older than its sources: run `make core`)"), name
        assert path == ["/the/package"]
        module.write_bytes(text)
    assert compiled.enable([], sources, target) == "compiled (mypyc)"


@pytest.mark.usefixtures("clean_sys_path")
def test_a_build_by_another_interpreter_is_not_used(sources: Path, tmp_path: Path) -> None:
    stamp = {**compiled.expected(sources), "python": "cpython-399"}
    path: list[str] = []
    assert compiled.enable(path, sources, _build(tmp_path / "b", stamp)).startswith("python (")
    assert path == []


@pytest.mark.usefixtures("clean_sys_path")
def test_no_build_a_failed_build_and_the_switch_each_say_why(
        sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path: list[str] = []
    assert compiled.enable(path, sources, tmp_path / "none").startswith(
        "python (not compiled: `make core`")
    failed = _build(tmp_path / "failed", {"failed": "CompileError: no gcc"})
    assert compiled.enable(path, sources, failed) == (
        "python (compiling failed: CompileError: no gcc)")
    good = _build(tmp_path / "good", compiled.expected(sources))
    monkeypatch.setenv(compiled.SWITCH, "Python")
    assert compiled.enable(path, sources, good) == f"python ({compiled.SWITCH}=python)"
    assert path == []


def test_ci_tests_the_compiled_core() -> None:
    """`make test` builds the core before pytest: with CI set, the suite must be judging
    the compiled core, never a Python fallback by accident."""
    if not IN_CI:
        pytest.skip("outside CI the core may run as Python (KIND says why)")
    assert detector.core.KIND == "compiled (mypyc)"


def _parity(env: dict[str, str]) -> tuple[str, list[str]]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "core_parity.py"), "--cases", "bounds",
         "extended"], env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True, text=True, check=True, timeout=600).stdout.splitlines()
    kind = next(line for line in out if line.startswith("core: "))
    digests = [json.dumps({k: v for k, v in json.loads(line.split(" ", 1)[1]).items()
                           if k != "us_per_row"}, sort_keys=True)
               for line in out if line.startswith(("bounds ", "extended "))]
    return kind, digests


def test_compiled_and_python_give_the_same_verdicts_and_state_to_the_bit() -> None:
    """Every verdict and the state after it (snapshot, and a restore and a resume midway),
    on the extended mix and with every bound reached, both ways."""
    if detector.core.KIND != "compiled (mypyc)":
        pytest.skip(f"the core is not compiled here: {detector.core.KIND}")
    python_kind, python = _parity({compiled.SWITCH: "python"})
    compiled_kind, built = _parity({})
    assert python_kind == f"core: python ({compiled.SWITCH}=python)"
    assert compiled_kind == "core: compiled (mypyc)"
    assert len(python) == 2
    assert built == python
    assert all('"restored": true' in d and '"resumed": true' in d for d in python)
