"""review import's CSV read while it changes, or from a file whose size says nothing (probe
of 2026-12-06): the file is read once, to at most `MAX_CSV_BYTES` + 1 bytes, and its
encoding judged on exactly those bytes. Before, the encoding was judged on a first read of
the whole file (unbounded: a file growing while read, or one `/proc` reports as 0 bytes
such as /proc/self/pagemap, was read for ever), and the bytes of a second read decoded with
it: a file rewritten in between (Excel saving over it) was a UnicodeDecodeError traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from auditstream.review import files
from shared.inputs import InputFile

HEADER = b"case_id,outcome\n"


def test_a_file_larger_than_its_size_says_is_read_no_further_than_the_bound(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "reviews.csv"
    path.write_bytes(HEADER + b"case-1,confirmed\n" * 250_000)  # 4.25 MB
    monkeypatch.setattr(files, "MAX_CSV_BYTES", 1000)
    monkeypatch.setattr(InputFile, "stamp", lambda self: (0, 0, 0, 0))  # as /proc says
    read: list[int] = []
    preadv = os.preadv

    def counted(fd: int, buffers: Any, offset: int) -> int:
        n = preadv(fd, buffers, offset)
        read.append(n)
        return n

    monkeypatch.setattr(os, "preadv", counted)
    with pytest.raises(files.ReviewFileError, match=r"reviews\.csv: over 1,000 bytes"):
        files.read_table(path)
    assert sum(read) <= 2 * 65536, sum(read)  # one buffer or two, not the 4.25 MB


def test_a_file_rewritten_between_reads_is_decoded_as_it_was_judged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "reviews.csv"
    path.write_bytes(HEADER + "case-é,confirmed\n".encode())
    from shared.csv_encoding import encoding_of as judge

    def then_rewritten(fh: Any, p: Path) -> tuple[str, str]:
        found = judge(fh, p)
        with open(path, "r+b") as out:  # in place, as an editor saving over it
            out.write(HEADER + "case-é,dismissed\n".encode("cp1252"))
        return found

    monkeypatch.setattr(files, "encoding_of", then_rewritten)
    header, rows = files.read_table(path)
    assert header == ["case_id", "outcome"]
    assert list(rows) == [(2, {"case_id": "case-é", "outcome": "confirmed"})]  # as read


@pytest.mark.skipif(not os.access("/proc/self/pagemap", os.R_OK),
                    reason="no /proc/self/pagemap to read")
def test_a_proc_file_of_no_size_and_no_end_is_refused_at_the_bound() -> None:
    code = ("from auditstream.review import files\n"
            "try:\n files.read_table(__import__('pathlib').Path('/proc/self/pagemap'))\n"
            "except files.ReviewFileError as exc: print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.returncode == 0, out.stderr
    assert "/proc/self/pagemap: over " in out.stdout, out.stdout
