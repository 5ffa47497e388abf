"""detector/kernel/jit.py: the kernel's numba cache follows every module of the package.
numba keys a cached function on its own file only, so a cached caller kept running a
changed callee's old code; the cache directory is named by the package's digest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from detector.kernel import jit
from tests.ci import IN_CI

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")

CALLEE = "from kpkg.jit import jit\n\n\n@jit\ndef f(x):\n    return x + {}\n"
CALLER = ("from kpkg.a import f\nfrom kpkg.jit import jit\n\n\n@jit\ndef g(x):\n"
          "    return f(x) * 10\n")


def _g(root: Path, cache: Path) -> int:
    env = {**os.environ, "PYTHONPATH": str(root), "AUDITSTREAM_KERNEL_CACHE": str(cache)}
    out = subprocess.run([sys.executable, "-c", "import kpkg.b as b; print(b.g(1))"],
                         env=env, capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_a_changed_callee_in_another_module_is_recompiled(tmp_path: Path) -> None:
    pkg = tmp_path / "src" / "kpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    shutil.copy(jit.__file__, pkg / "jit.py")
    (pkg / "b.py").write_text(CALLER)
    cache = tmp_path / "cache"
    (pkg / "a.py").write_text(CALLEE.format(1))
    assert _g(tmp_path / "src", cache) == 20
    assert _g(tmp_path / "src", cache) == 20  # from the cache
    (pkg / "a.py").write_text(CALLEE.format(2))  # only the callee's file changes
    assert _g(tmp_path / "src", cache) == 30
    assert len(list(cache.iterdir())) == 2  # one cache per state of the package


def test_a_changed_constant_of_the_core_is_recompiled(tmp_path: Path) -> None:
    """A compiled function reading a constant of the core (frozen into its code) sees a
    new value after only the core's module changed."""
    root = tmp_path / "src" / "kpkg"
    (root / "kernel").mkdir(parents=True)
    (root / "core").mkdir()
    for folder in (root, root / "kernel", root / "core"):
        (folder / "__init__.py").write_text("")
    shutil.copy(jit.__file__, root / "kernel" / "jit.py")
    (root / "kernel" / "uses.py").write_text(
        "from kpkg.core.consts import LIMIT\nfrom kpkg.kernel.jit import jit\n\n\n@jit\n"
        "def h(x):\n    return x + LIMIT\n")
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src"),
           "AUDITSTREAM_KERNEL_CACHE": str(cache)}
    code = ["-c", "import kpkg.kernel.uses as u; print(u.h(1))"]
    for limit in (5, 5, 7):
        (root / "core" / "consts.py").write_text(f"LIMIT = {limit}\n")
        out = subprocess.run([sys.executable, *code], env=env, capture_output=True,
                             text=True, check=True)
        assert int(out.stdout) == 1 + limit


def test_the_same_sources_at_another_path_load_from_the_cache(tmp_path: Path) -> None:
    """A copy of the package elsewhere (the integration tests' frozen sources, another
    checkout) loads the compiled functions instead of compiling them again (~45 s a
    process for the kernel): numba filed them under a digest of the folder's path."""
    cache = tmp_path / "cache"
    hits = []
    for copy in ("one", "two"):
        pkg = tmp_path / copy / "kpkg"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        shutil.copy(jit.__file__, pkg / "jit.py")
        (pkg / "b.py").write_text(CALLER)
        (pkg / "a.py").write_text(CALLEE.format(1))
        env = {**os.environ, "PYTHONPATH": str(tmp_path / copy),
               "AUDITSTREAM_KERNEL_CACHE": str(cache)}
        out = subprocess.run(
            [sys.executable, "-c", "import kpkg.b as b; print(b.g(1), "
             "sum(b.g.stats.cache_hits.values()), b.g.stats.cache_path)"],
            env=env, capture_output=True, text=True, check=True)
        value, hit, path = out.stdout.split()
        assert int(value) == 20
        hits.append(int(hit))
        assert Path(path).parent.parent == cache and Path(path).name == "kpkg"
    assert hits == [0, 1]
    # a changed copy is compiled anew (its own digest), never taken for the cached one
    (tmp_path / "two" / "kpkg" / "a.py").write_text(CALLEE.format(2))
    (tmp_path / "two" / "kpkg" / "b.py").write_text(CALLER.replace("* 10", "* 100"))
    assert _g(tmp_path / "two", cache) == 300


def test_the_cache_is_per_user_and_named_by_the_sources(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    digest = jit.sources_digest()[:16]
    monkeypatch.delenv("AUDITSTREAM_KERNEL_CACHE", raising=False)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert jit.cache_dir() == os.path.join(tmp_path, "auditstream-kernel", digest)
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert jit.cache_dir() == os.path.join(tmp_path, "x", "auditstream", "kernel", digest)
    assert not jit.cache_dir().startswith(str(jit.HERE))


def test_caches_of_other_sources_are_pruned_once_stale(tmp_path: Path) -> None:
    """Each edit or upgrade starts a cache of its own: another digest's is removed once
    untouched for `STALE_S` (at it, not yet: one second more, removed); the current one and
    files are kept whatever their age."""
    current = tmp_path / "current"
    for name in ("current", "at", "over", "fresh"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "f.nbi").write_bytes(b"x")
    (tmp_path / "file").write_bytes(b"x")
    now = 10_000_000.0
    for name, age in (("current", 10 * jit.STALE_S), ("at", jit.STALE_S),
                      ("over", jit.STALE_S + 1), ("fresh", 0), ("file", 10 * jit.STALE_S)):
        os.utime(tmp_path / name, (now - age, now - age))
    assert jit.prune(str(current), now) == [str(tmp_path / "over")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["at", "current", "file", "fresh"]
    assert jit.prune(str(tmp_path / "missing" / "x"), now) == []


#: Run with the cache folder unwritable as numba finds out: its probe file and any save
#: refused (root, who runs CI, may write anywhere, so the refusal is simulated).
READ_ONLY = r"""
import sys, tempfile, warnings
from numba.core import caching
real = tempfile.TemporaryFile
def probe(*a, **k):
    if k.get("dir", "").startswith(sys.argv[1]):
        raise PermissionError(13, "Permission denied")
    return real(*a, **k)
tempfile.TemporaryFile = probe
def refused(self, *a, **k):
    raise PermissionError(13, "Permission denied")
caching.IndexDataCacheFile.save = refused
warnings.simplefilter("always")
import kpkg.a as a
with warnings.catch_warnings(record=True) as seen:
    print(a.f(1), a.f(2.5), a.f(3), a.f(1.5), a.f.stats.cache_hits[(a.f.signatures[0])] > 0)
print(len([w for w in seen if "cannot keep" in str(w.message)]))
"""


def test_a_cache_this_user_cannot_write_is_read_and_a_new_compile_only_warned(
        tmp_path: Path) -> None:
    """An image's cache, built by another user, or a read-only install: numba refused the
    folder, and every function with it, on import. It is read as it is now; what is not in
    it compiles, runs, and is said once not to be kept."""
    pkg = tmp_path / "src" / "kpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    shutil.copy(jit.__file__, pkg / "jit.py")
    (pkg / "a.py").write_text(CALLEE.format(1))
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src"),
           "AUDITSTREAM_KERNEL_CACHE": str(cache)}
    subprocess.run([sys.executable, "-c", "import kpkg.a as a; a.f(1)"], env=env, check=True)
    done = subprocess.run([sys.executable, "-c", READ_ONLY, str(cache)], env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    # int from the cache; a float compiled here, run, not kept: said once for two calls
    assert done.stdout.split() == ["2", "3.5", "4", "2.5", "True", "1"]


def _package(tmp_path: Path) -> dict[str, str]:
    """A package `kpkg` with this jit module and one function, and the env to run it."""
    pkg = tmp_path / "src" / "kpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    shutil.copy(jit.__file__, pkg / "jit.py")
    (pkg / "a.py").write_text(CALLEE.format(1))
    return {**os.environ, "PYTHONPATH": str(tmp_path / "src"),
            "AUDITSTREAM_KERNEL_CACHE": str(tmp_path / "cache")}


#: f(1), whether it came from the cache, and the warnings it raised (one line each).
RUN_F = r"""
import warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as seen:
    import kpkg.a as a
    print(a.f(1), sum(a.f.stats.cache_hits.values()) > 0)
for w in seen:
    print("warning:", str(w.message).split(":")[0])
"""


def _run_f(env: dict[str, str]) -> list[str]:
    done = subprocess.run([sys.executable, "-c", RUN_F], env=env, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()


@pytest.mark.parametrize("kind", ["nbi", "nbc"])
@pytest.mark.parametrize("damage", ["empty", "half", "garbage"])
def test_a_damaged_cache_file_is_compiled_anew_and_replaced(tmp_path: Path, kind: str,
                                                            damage: str) -> None:
    """A file cut short by a full disk or a crash, or overwritten, made numba raise in every
    process after (the documented fix, warm, raised the same). It is a miss now: compiled,
    said once, and replaced, so the next process loads it again."""
    env = _package(tmp_path)
    assert _run_f(env) == ["2 False"]  # compiled and saved
    assert _run_f(env) == ["2 True"]  # loaded
    files = list((tmp_path / "cache").rglob(f"*.{kind}"))
    assert files
    for path in files:
        data = path.read_bytes()
        path.write_bytes({"empty": b"", "half": data[:len(data) // 2],
                          "garbage": os.urandom(len(data))}[damage])
    damaged = _run_f(env)
    assert damaged[0] == "2 False"  # compiled anew, not raised
    assert len(damaged) == 2 and damaged[1].startswith(
        "warning: the detection kernel's cache held a damaged file")  # said once
    assert _run_f(env) == ["2 True"]  # replaced: loaded, nothing said


def test_a_cache_folder_that_cannot_be_made_is_a_temporary_one(tmp_path: Path) -> None:
    """A file where the cache folder should be (or a home folder this user cannot write):
    numba found no locator and every kernel command died on import. The process compiles
    into a temporary folder instead, said once."""
    env = _package(tmp_path)
    (tmp_path / "cache").write_text("not a folder")
    lines = _run_f(env)
    assert lines[0] == "2 False" and len(lines) == 2
    said = f"warning: the detection kernel's cache folder {tmp_path / 'cache'}{os.sep}"
    assert lines[1].startswith(said) and lines[1].endswith("cannot be made (Not a directory)")


def test_warm_fails_when_the_cache_cannot_keep_the_kernel(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A full disk under the cache: warm said it was ready with a third of the kernel
    kept, so an image built that way shipped a cache that compiles at every start."""
    from detector.kernel import warm

    monkeypatch.setattr(jit, "_UNSAVED", [])
    monkeypatch.setattr(warm, "warm", lambda: jit._UNSAVED.append("(int64,)"))
    assert warm.main() == 1
    assert "cannot keep it (1 functions short" in capsys.readouterr().err
    monkeypatch.setattr(jit, "_UNSAVED", [])
    monkeypatch.setattr(warm, "warm", lambda: None)
    assert warm.main() == 0


def test_a_cache_warning_is_one_line_on_stderr(tmp_path: Path) -> None:
    """Python printed each cache warning as two lines: `.../jit.py:233: RuntimeWarning: the
    detection kernel's cache folder ... cannot be made ...`, then the source line of the
    `warnings.warn(...)` call (helper session 18, bounds18). One line now, the message's."""
    env = _package(tmp_path)
    (tmp_path / "cache").write_text("not a folder")
    done = subprocess.run([sys.executable, "-c", "import kpkg.a as a; print(a.f(1))"], env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "the detection kernel's cache folder" in lines[0] and "warnings.warn" not in lines[0]
