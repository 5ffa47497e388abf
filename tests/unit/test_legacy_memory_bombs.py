"""A format-2 snapshot whose bytes ask for memory (detector.core.legacy): refused with its
`ValueError`, never allocated. One damaged byte of a memo index made pickle's C reader
write 2 x index x 8 bytes of zeros (a hypothesis draw of test_legacy_restore_checks grew a
test worker to 18 GiB and the kernel killed it, 2026-12-06); `bytearray` from a count, also
through `copyreg._reconstructor`, the same from a crafted record. An array of Python objects
set from a list shorter than its shape made numpy read past the list: a segmentation fault
of the detector at restore; an array numpy's `_reconstruct` made of another shape than
(0,), as numpy never pickles one, held that many unset elements not in the record's bytes:
a customer's `hours` or the population's ring of 2**24 of them a list of 16 million numbers
(+642 MiB), a model's ranking of 16 million zeros restored (memory-bomb hunt, 2026-12-06)."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from tests.unit import legacy_snapshots as old

#: Each bomb asks for 256 MiB written; the reader may grow by far less.
ASKED = 2**28
GROWTH_LIMIT_KIB = 64 * 1024

_COUNT = b"J" + struct.pack("<i", ASKED)
BOMBS = {
    # a memo index of 2**24 (C reader: a memo of 2**25 pointers, zeroed)
    "memo index": b"\x80\x02N" + b"r" + struct.pack("<I", 2**24) + b".",
    "bytearray from a count": b"\x80\x02cbuiltins\nbytearray\n" + _COUNT + b"\x85R.",
    "copyreg._reconstructor with bytearray as base": (
        b"\x80\x02ccopyreg\n_reconstructor\n(cbuiltins\nbytearray\ncbuiltins\nbytearray\n"
        + _COUNT + b"tR."),
    # an object array of shape (2,) set from an empty list (numpy: SIGSEGV)
    "an object array from a shorter list": (
        b"\x80\x02cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b"
        b"\x87R(K\x01K\x02\x85cnumpy\ndtype\nU\x02O8\x89\x88\x87R(K\x03U\x01|NNN"
        b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb\x89]tb."),
}

_PROBE = """
import resource, sys, zlib
from detector.core import legacy
from detector.core.config import CoreConfig
data = sys.stdin.buffer.read()
config = CoreConfig()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    legacy.read(data, config)
    said = "read"
except ValueError as exc:
    said = str(exc)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
print(said)
"""


def _probe(name: str, data: bytes) -> str:
    """What `legacy.read` of `data` said in a child process, its peak memory checked."""
    done = subprocess.run([sys.executable, "-c", _PROBE], input=data,
                          capture_output=True, check=False, timeout=120)
    assert done.returncode == 0, (name, done.returncode, done.stderr[-400:])
    growth, said = done.stdout.decode().splitlines()
    assert int(growth) < GROWTH_LIMIT_KIB, (name, growth, said)
    return said


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_snapshot_asking_for_memory_is_refused_without_it(name: str) -> None:
    said = _probe(name, zlib.compress(BOMBS[name]))
    assert said.startswith(("not a readable engine snapshot", "unsupported snapshot format")), said


class _Unset:
    """Pickled as numpy's `_reconstruct` of an array of `n` elements (numpy writes (0,))."""

    def __init__(self, n: int, code: bytes) -> None:
        self.n, self.code = n, code

    def __reduce__(self) -> tuple[object, ...]:
        return (np.empty(0).__reduce__()[0], (np.ndarray, (self.n,), self.code))


_CID = next(iter(old.customers(old.fixture_doc())))
#: The fixture with 2**24 unset elements where format 2 held an array (its list a number
#: each: 16 million floats, +642 MiB, on the old reader) or a ranking (restored).
UNSET = {"a customer's hours": old.set_customer(_CID, "hours", _Unset(2**24, b"b")),
         "the population's amount ring": old.set_part("population", "amount_ring",
                                                      _Unset(2**24, b"d")),
         "the model's ranking": old.set_part("model", "ranked", _Unset(2**24, b"d"))}


@pytest.mark.parametrize("name", sorted(UNSET))
def test_an_array_of_elements_not_in_the_record_is_refused_without_them(name: str) -> None:
    said = _probe(name, old.edited(UNSET[name]))
    assert said == ("not a readable engine snapshot: a format-2 snapshot reconstructs empty "
                    "arrays only"), said


def test_the_fixture_reconstructs_its_arrays_as_numpy_writes_them() -> None:
    assert _probe("fixture", old.FIXTURE.read_bytes()) == "read"
