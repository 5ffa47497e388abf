"""The CSV reader's encodings: UTF-8, Windows-1252 and neither, said in one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.csv_io import CsvFormatError, iter_csv, iter_records
from shared.schemas import CSV_FIELDS

HEADER = ",".join(CSV_FIELDS)


def _row(tid: int, category: str = "grocery") -> str:
    time = f"2025-01-01 10:{tid // 60 % 60:02d}:{tid % 60:02d}"
    return f"{tid},c{tid % 7},{time},10.5,CH,web,pc,{category},1.2.3.4"


@pytest.mark.parametrize("rows", [1, 200])  # the bad byte in the first 8 KB, and past it
def test_a_file_neither_utf8_nor_windows_1252_is_named_with_its_first_odd_byte(
    tmp_path: Path, rows: int
) -> None:
    # Shift-JIS from a Japanese Excel: "スーパー" is 83 58 81 5B 83 70 81 5B; 0x83 is a
    # Windows-1252 letter, 0x81 is nothing in Windows-1252.
    path = tmp_path / "sjis.csv"
    lines = [HEADER, *(_row(i) for i in range(1, rows)), _row(rows, "スーパー")]
    path.write_bytes(("\n".join(lines) + "\n").encode("shift_jis"))
    for read in (iter_csv, iter_records):
        with pytest.raises(CsvFormatError) as caught:
            read(path)
        assert str(caught.value) == (
            f"{path}: line {rows + 1}: byte 0x81 is neither UTF-8 nor Windows-1252: the file "
            "is in another encoding; save it again as CSV UTF-8")


def test_the_odd_byte_s_line_counts_line_breaks_inside_quoted_cells(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_bytes(f'{HEADER}\r\n1,c1,"a\r\nb\rc",\xe9,\n2,\x9d\n'.encode("latin-1"))
    with pytest.raises(CsvFormatError, match=r"line 5: byte 0x9D is neither"):
        iter_csv(path)
