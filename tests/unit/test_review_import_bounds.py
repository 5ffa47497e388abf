"""`review import` bounds what a file may make it hold before it reads it (hostile probe of
2026-12-06): a CSV's size (it was read whole into memory, 5 GB and more), its rows (each
one with an outcome keeps about 2 KB until the import ends: Excel's 1,048,576 rows, as the
.xlsx path), and an .xlsx's central directory (10^6 empty entries, 47 MB, took zipfile 23 s
and 515 MB to list before the 128 MiB check of the parts' sizes, and openpyxl as long
again). Each is one line, exit 2, nothing published."""

from __future__ import annotations

import os
import resource
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from auditstream.cli import main
from auditstream.review import files
from shared.errors import ExitCode
from tests.unit.test_review_import_hostile import ROWS, _no_publish, _refused, _xlsx

ROOT = Path(__file__).resolve().parents[2]
__all__ = ["_no_publish"]  # the fixture, used by name


def _import(f: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["review", "import", str(f), "--no-check", "--reviewer", "ana"])
    out, err = capsys.readouterr()
    return code, out, err


def _csv(path: Path, rows: int, line: bytes = b"c%d,confirmed\n") -> Path:
    path.write_bytes(b"case_id,outcome\n" + b"".join(line % i if b"%d" in line else line
                                                     for i in range(rows)))
    return path


# --- a CSV's size --------------------------------------------------------------------------

@pytest.mark.parametrize("over", [-1, 0, 1])
def test_a_csv_past_its_size_bound_is_refused_before_it_is_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
        monkeypatch: pytest.MonkeyPatch, over: int) -> None:
    f = _csv(tmp_path / "r.csv", 3)
    size = f.stat().st_size
    monkeypatch.setattr(files, "MAX_CSV_BYTES", size - over, raising=False)
    code, out, err = _import(f, capsys)
    if over <= 0:
        assert code == 0, err
        assert [r.id for r in _no_publish] == ["c0", "c1", "c2"]
    else:
        _refused(code, out, err, _no_publish,
                 f"{f}: {size:,} bytes, over the {size - 1:,} a review file may hold")


def test_a_csv_that_grows_while_it_is_read_is_read_no_further_than_the_bound(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Within the bound when its size is checked, past it once read (a log still written,
    a file on a share): refused, and never read past the bound. (It grows between its size
    and its one read: the encoding is judged on the bytes read, test_review_import_unstable.)"""
    f = _csv(tmp_path / "r.csv", 3)
    size = f.stat().st_size
    monkeypatch.setattr(files, "MAX_CSV_BYTES", size, raising=False)
    from shared.inputs import InputFile
    real = InputFile.stamp

    def grows(self: InputFile) -> tuple[int, int, int, int]:
        stamp = real(self)
        with self.path.open("ab") as out:
            out.write(b"c9,dismissed\n")
        return stamp

    monkeypatch.setattr(InputFile, "stamp", grows)
    code, out, err = _import(f, capsys)
    _refused(code, out, err, _no_publish,
             f"{f}: over {size:,} bytes, the most a review file may hold")


def test_a_csv_growing_past_the_bound_is_read_only_to_the_bound_plus_one_byte(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Grown by 4 MiB between its size and its read (a log still written): the one read
    asks for the bound and a byte, not the whole file (`read()` took all of it, and a
    file growing without end, all memory)."""
    f = _csv(tmp_path / "r.csv", 3)
    size = f.stat().st_size
    monkeypatch.setattr(files, "MAX_CSV_BYTES", size, raising=False)
    from shared.inputs import InputFile
    real_stamp, real_reader = InputFile.stamp, InputFile.reader
    asked: list[int | None] = []

    def grows(self: InputFile) -> tuple[int, int, int, int]:
        stamp = real_stamp(self)
        with self.path.open("ab") as out:
            out.write(b"#" * (4 << 20) + b"\n")
        return stamp

    class Asked:
        def __init__(self, reader: Any) -> None:
            self.reader = reader

        def read(self, n: int | None = -1) -> bytes:
            asked.append(n)
            data: bytes = self.reader.read(n)
            return data

        def __enter__(self) -> Asked:
            return self

        def __exit__(self, *exc: object) -> None:
            self.reader.close()

    monkeypatch.setattr(InputFile, "stamp", grows)
    monkeypatch.setattr(InputFile, "reader",
                        lambda self, **kw: Asked(real_reader(self, **kw)))
    code, out, err = _import(f, capsys)
    _refused(code, out, err, _no_publish,
             f"{f}: over {size:,} bytes, the most a review file may hold")
    assert asked == [size + 1]


_SPARSE = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))
from auditstream.cli import main
sys.exit(main(["review", "import", sys.argv[1], "--no-check", "--dry-run", "--reviewer", "a"]))
"""


def test_a_5_gb_csv_is_refused_at_once_in_bounded_memory(tmp_path: Path) -> None:
    """A sparse 5 GB file (no disk used): read whole it was a MemoryError under a 1.5 GB
    address-space limit (exit 70, a traceback) after reading 5 GB to guess its encoding."""
    f = tmp_path / "huge.csv"
    with f.open("wb") as fh:
        fh.write(b"case_id,outcome\n")
        fh.truncate(5 << 30)
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _SPARSE, str(f)], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=300, check=False)
    took = time.monotonic() - start
    assert done.returncode == ExitCode.USAGE, done.stderr[-800:]
    assert done.stderr.count("\n") == 1, done.stderr[-800:]
    assert f"{f}: {5 << 30:,} bytes, over the " in done.stderr, done.stderr
    assert took < 30, took


# --- a CSV's rows --------------------------------------------------------------------------

@pytest.mark.parametrize("over", [-1, 0, 1])
def test_a_csv_past_excels_last_row_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
        monkeypatch: pytest.MonkeyPatch, over: int) -> None:
    """Rows counted as a sheet's (the header is row 1; a blank line is a row)."""
    f = _csv(tmp_path / "r.csv", 4)
    monkeypatch.setattr(files, "EXCEL_MAX_ROW", 5 - over)
    code, out, err = _import(f, capsys)
    if over <= 0:
        assert code == 0, err
        assert [r.id for r in _no_publish] == ["c0", "c1", "c2", "c3"]
    else:
        _refused(code, out, err, _no_publish,
                 f"{f}: row 5: past Excel's last row (4); not a file of reviews: import it in "
                 "parts\n")


def test_blank_lines_count_as_rows(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Blank lines publish nothing but are read (128 MiB of them took as long as rows)."""
    f = _csv(tmp_path / "r.csv", 5, b"\n")
    monkeypatch.setattr(files, "EXCEL_MAX_ROW", 5)
    code, out, err = _import(f, capsys)
    _refused(code, out, err, _no_publish, f"{f}: row 6: past Excel's last row (5)")


# --- an .xlsx's central directory ----------------------------------------------------------

def _directory_size(f: Path) -> int:
    data = f.read_bytes()
    at = data.rfind(b"PK\x05\x06")
    return int(struct.unpack("<L", data[at + 12:at + 16])[0])


@pytest.mark.parametrize("over", [-1, 0, 1])
def test_an_xlsx_whose_directory_is_past_its_bound_is_refused_before_it_is_listed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any],
        monkeypatch: pytest.MonkeyPatch, over: int) -> None:
    f = _xlsx(tmp_path / "r.xlsx", ROWS)
    size = _directory_size(f)
    monkeypatch.setattr(files, "MAX_XLSX_DIRECTORY", size - over, raising=False)
    code, out, err = _import(f, capsys)
    if over <= 0:
        assert code == 0, err
        assert [r.id for r in _no_publish] == ["c1", "c2"]
    else:
        _refused(code, out, err, _no_publish,
                 f"{f}: its central directory takes {size:,} bytes, over the {size - 1:,} "
                 "a workbook's needs (its list of parts; not a workbook Excel saved): save "
                 "the reviewed rows as CSV\n")


def _many_entries(path: Path, n: int) -> Path:
    """A zip whose central directory lists `n` empty stored parts (zip64 records, as
    more than 65,535 entries need), no local headers: the listing alone is the cost."""
    name = b"p"
    entry = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0,
                        len(name), 0, 0, 0, 0, 0, 0) + name
    directory = entry * n
    with path.open("wb") as fh:
        fh.write(directory)
        fh.write(struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, n, n,
                             len(directory), 0))
        fh.write(struct.pack("<4sLQL", b"PK\x06\x07", 0, len(directory), 1))
        fh.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                             0xFFFFFFFF, 0))
    return path


def test_an_xlsx_of_a_million_entries_is_refused_at_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_publish: list[Any]) -> None:
    f = _many_entries(tmp_path / "many.xlsx", 10**6)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    code, out, err = _import(f, capsys)
    took = time.monotonic() - start
    grew_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    _refused(code, out, err, _no_publish,
             f"{f}: its central directory takes 47,000,000 bytes, over the ")
    assert took < 2 and grew_mb < 100, (took, grew_mb)
