"""The compiled core (detector.core.compiled): used only when built from the sources on
disk, and giving the Python core's outputs to the bit."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import cast

import pytest

import detector.core
from detector.core import compile as compile_core
from detector.core import compiled
from tests.ci import IN_CI, unavailable

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
def test_enabling_again_adds_the_shared_runtime_to_the_path_once(
        sources: Path, tmp_path: Path) -> None:
    target = _build(tmp_path / "built", compiled.expected(sources))
    before = list(sys.path)
    for _ in range(2):
        assert compiled.enable([], sources, target) == "compiled (mypyc)"
    assert sys.path == [*before, str(target / "lib")]


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
    for value in ("Python", " python\n"):  # read as a word: any case, spaces around
        monkeypatch.setenv(compiled.SWITCH, value)
        assert compiled.enable(path, sources, good) == f"python ({compiled.SWITCH}=python)"
    monkeypatch.setenv(compiled.SWITCH, "compiled")  # any other value: the build if it fits
    assert compiled.enable(path, sources, good) == "compiled (mypyc)"
    path.clear()
    assert path == []


def _failing_build(error: BaseException) -> object:
    def build(folder: Path, target: Path) -> None:
        raise error
    return build


@pytest.mark.usefixtures("clean_sys_path")
@pytest.mark.parametrize(("ci", "code"), [
    ("", 0), ("0", 0), ("no", 0), ("1", 1), ("true", 1), ("YES", 1)])
def test_a_failed_build_replaces_the_old_one_says_why_and_fails_only_in_ci(
        ci: str, code: int, sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    target = _build(tmp_path / "built", compiled.expected(sources))
    (target / "core" / "rules.so").write_bytes(b"old")
    why = "x" * 400 + "\nsecond line"
    monkeypatch.setattr(compile_core, "build", _failing_build(RuntimeError(why)))
    monkeypatch.setenv("CI", ci)
    assert compile_core.main(target) == code
    reason = "RuntimeError: " + "x" * 286  # the first line, 300 characters
    assert sorted(p.name for p in target.iterdir()) == ["stamp.json"]  # the old build gone
    assert json.loads((target / "stamp.json").read_text()) == {"failed": reason}
    then = ("an error with CI set (without it the core would run as Python)" if code
            else "it runs as Python, with the same outputs, slower")
    assert capsys.readouterr().err == (
        f"auditstream: could not compile the detection core ({reason}); {then}\n")
    path: list[str] = []
    assert compiled.enable(path, sources, target) == f"python (compiling failed: {reason})"
    assert path == []


def test_a_compiler_error_reported_by_exiting_is_a_failed_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """setuptools reports a compiler error by `SystemExit`; with no old build either."""
    target = tmp_path / "never-built"
    monkeypatch.setattr(compile_core, "build",
                        _failing_build(SystemExit("error: command 'gcc' failed")))
    monkeypatch.delenv("CI", raising=False)
    assert compile_core.main(target) == 0
    assert json.loads((target / "stamp.json").read_text()) == {
        "failed": "SystemExit: error: command 'gcc' failed"}


def test_a_build_that_succeeds_says_where_it_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    built: list[tuple[Path, Path]] = []
    monkeypatch.setattr(compile_core, "build", lambda folder, target: built.append(
        (folder, target)))
    monkeypatch.setenv("CI", "true")
    assert compile_core.main(tmp_path / "t") == 0
    assert built == [(compiled.HERE, tmp_path / "t")]
    assert capsys.readouterr().err == (
        f"auditstream: detection core compiled into {tmp_path / 't'}\n")


@pytest.mark.parametrize("old", [True, False])
def test_a_new_build_replaces_the_target_whole(old: bool, tmp_path: Path) -> None:
    target, new, trash = tmp_path / "target", tmp_path / "new", tmp_path / "trash"
    if old:
        (target / "core").mkdir(parents=True)
        (target / "core" / "gone.so").write_bytes(b"old")
    (new / "lib").mkdir(parents=True)
    (new / "stamp.json").write_text("{}")
    compile_core._replace(target, new, trash)
    assert not new.exists()
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == [
        "lib", "stamp.json"]
    assert (trash / "core" / "gone.so").exists() == old


@pytest.mark.usefixtures("clean_sys_path")
def test_a_build_compiles_the_modules_into_a_stamped_folder_that_enable_loads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`build` for real, on a two-module package (about 20 s, not the core's 30-60 s): the
    modules' extensions in `core/`, mypyc's shared runtime in `lib/`, the stamp of exactly
    those sources, an older build replaced whole, and `enable` then imports the C code."""
    if importlib.util.find_spec("mypyc") is None or shutil.which(
            os.environ.get("CC", "cc")) is None:
        unavailable("no mypyc or no C compiler to build with")
    project = tmp_path / "project"
    folder = project / "tinycore" / "core"
    folder.mkdir(parents=True)
    (project / "pyproject.toml").write_text("[tool.mypy]\nstrict = true\n")
    (project / "tinycore" / "__init__.py").write_text("")
    (folder / "__init__.py").write_text("")
    (folder / "one.py").write_text("def double(x: int) -> int:\n    return 2 * x\n")
    (folder / "two.py").write_text(
        "from tinycore.core.one import double\n\n\n"
        "def quad(x: int) -> int:\n    return double(double(x))\n")
    monkeypatch.setattr(compiled, "MODULES", ("one", "two"))
    monkeypatch.setattr(compile_core, "MODULES", ("one", "two"))
    target = _build(tmp_path / "built", {"sources": "older"})
    (target / "core" / "stale.so").write_bytes(b"old")
    cwd = os.getcwd()
    compile_core.build(folder, target)
    assert os.getcwd() == cwd
    assert sorted(p.name for p in tmp_path.iterdir()) == ["built", "project"]  # no leftovers
    assert sorted(p.name.split(".")[0] for p in (target / "core").iterdir()) == ["one", "two"]
    [runtime] = (target / "lib").iterdir()  # mypyc's runtime of the group, one library
    assert "__mypyc." in runtime.name and runtime.suffix == ".so"
    assert json.loads((target / "stamp.json").read_text()) == compiled.expected(folder)
    monkeypatch.syspath_prepend(str(project))
    try:
        package = importlib.import_module("tinycore.core")
        path = cast("list[str]", package.__path__)  # a regular package's: a list
        assert compiled.enable(path, folder, target) == "compiled (mypyc)"
        two = importlib.import_module("tinycore.core.two")
        assert two.__file__ is not None and two.__file__.endswith(".so")
        assert two.quad(3) == 12
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] == "tinycore"]:
            del sys.modules[name]


def test_ci_tests_the_compiled_core() -> None:
    """`make test` builds the core before pytest: with CI set, the suite must be judging
    the compiled core around the kernel (the default), never a Python fallback by
    accident."""
    if not IN_CI:
        pytest.skip("outside CI the core may run as Python (KIND says why)")
    assert detector.core.KIND == "kernel (numba), the rest compiled (mypyc)"


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
    on the extended mix and with every bound reached, three ways: the core as Python, its
    mypyc build, and the kernel (the default) around that build."""
    if not detector.core.KIND.endswith("compiled (mypyc)"):
        pytest.skip(f"the core is not compiled here: {detector.core.KIND}")
    python_kind, python = _parity({compiled.SWITCH: "python"})
    compiled_kind, built = _parity({compiled.SWITCH: "compiled"})
    kernel_kind, kernel = _parity({})
    assert python_kind == f"core: python ({compiled.SWITCH}=python)"
    assert compiled_kind == "core: compiled (mypyc)"
    assert kernel_kind == "core: kernel (numba), the rest compiled (mypyc)"
    assert len(python) == 2
    assert built == python
    assert kernel == python
    assert all('"restored": true' in d and '"resumed": true' in d for d in python)
