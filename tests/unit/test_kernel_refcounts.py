"""detector/kernel/jit.py's plain reference counts: numba's counting functions without the
atomic add, as long as no kernel function releases the GIL, and every array still freed.

numba's own switch for non-atomic counts (`nrtdynmod._disable_atomicity`) returns the count
before the decrement, so nothing is ever freed: the free-count check below fails on it
(asserted), which shows the check has teeth."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.ci import IN_CI

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")

ROOT = Path(__file__).resolve().parents[2]

#: In a fresh interpreter: a jitted loop that allocates an array a step and passes it to
#: another jitted function (a count up and down each), then the runtime's counts and
#: whether its counting functions use an atomic instruction.
PROBE = textwrap.dedent("""
    import sys
    import numpy as np
    mode = sys.argv[1]
    if mode == "numba-flag":
        from numba.core.runtime import nrtdynmod
        nrtdynmod._disable_atomicity = 1
    if mode == "numba-first":  # numba's runtime set up before the kernel's module loads
        from numba import njit
        njit(lambda: np.empty(1))()
    if mode != "numba-flag":
        from detector.kernel import jit
        print("plain", jit.PLAIN_REFCOUNTS)
    from numba import njit
    from numba.core.runtime import _nrt_python, rtsys

    @njit(cache=False)
    def first(a):
        return a[0]

    @njit(cache=False)
    def loop(n):
        t = 0.0
        for i in range(n):
            a = np.empty(8)
            a[0] = i
            t += first(a)
        return t

    loop(1)
    _nrt_python.memsys_enable_stats()
    before = rtsys.get_allocation_stats()
    assert loop(1000) == sum(range(1000))
    after = rtsys.get_allocation_stats()
    print("alloc", after.alloc - before.alloc, "free", after.free - before.free)
    asm = rtsys.library.get_asm_str()
    print("atomic", "xadd" in asm)
""")


def _probe(mode: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AUDITSTREAM_KERNEL_ATOMIC"}
    env.update(PYTHONPATH=str(ROOT), AUDITSTREAM_KERNEL_CACHE=str(tmp_path / "cache"), **extra)
    out = subprocess.run([sys.executable, "-c", PROBE, mode], env=env, capture_output=True,
                         text=True, check=True, cwd=tmp_path)
    words = out.stdout.split()
    return dict(zip(words[::2], words[1::2], strict=True))


def test_the_counts_are_plain_adds_and_every_array_is_freed(tmp_path: Path) -> None:
    got = _probe("kernel", tmp_path)
    assert got == {"plain": "True", "alloc": "1000", "free": "1000", "atomic": "False"}


def test_numba_set_up_first_keeps_its_atomic_counts(tmp_path: Path) -> None:
    """The kernel's module loaded after numba compiled something: numba's counts stay."""
    got = _probe("numba-first", tmp_path)
    assert got == {"plain": "False", "alloc": "1000", "free": "1000", "atomic": "True"}


@pytest.mark.parametrize(("value", "plain"), [("1", False), ("yes", False), ("0", True),
                                             (" ", True)])
def test_the_atomic_counts_kept_on_request(tmp_path: Path, value: str, plain: bool) -> None:
    """`AUDITSTREAM_KERNEL_ATOMIC` set (not "0"): a program running numba code of its own
    in threads without the GIL keeps numba's counts."""
    got = _probe("kernel", tmp_path, AUDITSTREAM_KERNEL_ATOMIC=value)
    assert got == {"plain": str(plain), "alloc": "1000", "free": "1000",
                   "atomic": str(not plain)}


def test_numba_own_switch_frees_nothing(tmp_path: Path) -> None:
    """Why `plain_refcounts` defines its own functions: numba's switch leaks every array."""
    got = _probe("numba-flag", tmp_path)
    assert got == {"alloc": "1000", "free": "0", "atomic": "False"}


def test_no_kernel_function_releases_the_gil() -> None:
    """Plain counts are safe only while one thread at a time runs compiled code."""
    from numba.core.registry import CPUDispatcher

    import detector.kernel

    found = 0
    for info in pkgutil.iter_modules(detector.kernel.__path__):
        module = importlib.import_module(f"detector.kernel.{info.name}")
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher):
                found += 1
                options = value.targetoptions
                assert not options.get("nogil") and not options.get("parallel"), value
    assert found > 100  # every module's functions were seen


def test_the_engine_frees_every_array_it_allocates() -> None:
    """On the real kernel, through fits, parking and checkpoints: after each batch numba
    has freed as many arrays as it allocated (~2.5 a row; ~8 before the hour term took
    scratch arrays), so no count is lost or doubled."""
    from numba.core.runtime import _nrt_python  # type: ignore[attr-defined]
    from numba.core.runtime.nrt import rtsys

    from detector.core.config import CoreConfig
    from detector.core.engine import PartitionEngine
    from tests.unit.kernel_rows import generated

    txs = generated(seed=5, customers=60, days=10)
    engine = PartitionEngine(CoreConfig(first_fit_after=300, refit_delay=0,
                                        hot_customers=20), 0)
    engine.verdicts(txs[:50])  # compiled or loaded before counting
    _nrt_python.memsys_enable_stats()
    stats: Any = rtsys.get_allocation_stats  # untyped
    start = stats()
    for i in range(50, len(txs), 97):
        engine.verdicts(txs[i:i + 97])
        engine.checkpoint()
        now = stats()
        assert now.alloc - start.alloc == now.free - start.free, i
    assert now.alloc - start.alloc > len(txs)  # the kernel did allocate
