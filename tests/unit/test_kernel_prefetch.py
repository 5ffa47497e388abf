"""The next row's slot prefetched (detector/kernel/prefetch.py): every per-slot array's
row asked for, and asking changes nothing a kernel function computes."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

from detector.kernel import prefetch
from detector.kernel import slots as sl
from tests.ci import IN_CI

if not IN_CI:  # in CI a missing numba fails the run, never skips
    pytest.importorskip("numba", reason="numba is a dev dependency (pip install -e '.[dev]')")


def test_every_per_slot_array_is_prefetched_once() -> None:
    """A field added to the slots is prefetched too (or this names it)."""
    asked = re.findall(r"prefetch_row\(s\.(\w+), c\)", inspect.getsource(prefetch.slot))
    assert sorted(asked) == sorted(set(asked))
    assert set(asked) == set(sl.PER_SLOT)


@pytest.mark.parametrize("c", [0, 1, 6])
def test_prefetching_a_slot_leaves_every_array_as_it_was(c: int) -> None:
    s = sl.allocate(sl.Dims(a=32, k=12, x=8, r=16), 7)
    for a in s:
        a[...] = np.arange(a.size, dtype=np.int64).reshape(a.shape) % 97
    before = [a.copy() for a in s]
    prefetch.slot(s, c)
    for name, a, b in zip(sl.CustomerSlots._fields, before, s, strict=True):
        assert np.array_equal(a, b), name
