"""The CSV reader's encodings: UTF-8, Windows-1252 and neither, said in one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from producer.sources import ordered_row_count, streamable_rows
from shared.csv_io import CsvFormatError, RowError, iter_csv, iter_records
from shared.rejects import write_rejects
from shared.schemas import REQUIRED_CSV_FIELDS

HEADER = ",".join(REQUIRED_CSV_FIELDS)


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


# --- a UTF-8 file holding a few bytes of another encoding ---------------------------------

def _mixed(tmp_path: Path) -> Path:
    """1,000 rows of UTF-8 "Zürich Café", then one row pasted from a Latin-1 source."""
    path = tmp_path / "mixed.csv"
    rows = [_row(i, "Zürich Café").encode() for i in range(1, 1001)]
    rows.append(_row(1001, "caf\xe9").encode("latin-1"))
    path.write_bytes(b"\n".join([HEADER.encode(), *rows]) + b"\n")
    return path


def test_a_stray_byte_in_a_utf8_file_rejects_its_row_only(tmp_path: Path) -> None:
    path = _mixed(tmp_path)
    for read in (iter_csv, iter_records):
        items = list(read(path))
        good = [i[1] for i in items if not isinstance(i, RowError)]
        assert len(good) == 1000
        assert {g["merchant_category"] if isinstance(g, dict) else g.merchant_category
                for g in good} == {"Zürich Café"}
        [err] = [i for i in items if isinstance(i, RowError)]
        assert (err.line, err.reason) == (
            1002, "merchant_category: byte 0xE9 is not UTF-8 (the rest of the file is): "
                  "retype the text, it was written in another encoding")
        assert err.raw["merchant_category"] == "caf\\xe9"  # shown, and writable as UTF-8


def test_the_row_with_a_stray_byte_is_written_to_the_rejects_report(tmp_path: Path) -> None:
    path = _mixed(tmp_path)
    errors = [i for i in iter_records(path) if isinstance(i, RowError)]
    report = write_rejects(errors, tmp_path / "rejects.csv")
    assert "caf\\xe9" in report.read_text(encoding="utf-8")


def test_a_stray_byte_in_a_row_of_the_wrong_width_is_shown_too(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_bytes(f"{HEADER}\n{_row(1, 'Zürich')}\n".encode() + b"2,\xe9\n")
    [err] = [i for i in iter_records(path) if isinstance(i, RowError)]
    assert (err.line, err.raw) == (3, {"transaction_id": "2", "customer_id": "\\xe9"})


def test_a_stray_byte_in_the_header_of_a_utf8_file_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "head.csv"
    path.write_bytes(b"\xef\xbb\xbf" + HEADER.encode() + b",Not\xe9\n" + _row(1).encode()
                     + b",x\n")
    with pytest.raises(CsvFormatError) as caught:
        iter_csv(path)
    assert str(caught.value) == (
        f"{path}: byte 0xE9 in the header is not UTF-8 (the rest of the file is); "
        "save it again as CSV UTF-8")


def test_replay_s_order_check_counts_the_rows_the_reader_gives(tmp_path: Path) -> None:
    path = _mixed(tmp_path)
    assert ordered_row_count(path) == len(list(iter_records(path))) == 1001


def test_replay_s_order_check_compares_ids_as_the_reader_decodes_them(tmp_path: Path) -> None:
    # The same id "café", in a Windows-1252 file and in a UTF-8 one: one id to the reader,
    # so the files are sorted (the first copy in file order kept), not streamed.
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    row = _row(1).replace("1,", "café,", 1)
    a.write_bytes(f"{HEADER}\n{row}\n".encode("cp1252"))
    b.write_bytes(f"{HEADER}\n{row}\n".encode())
    assert streamable_rows([a, b]) is None
    assert streamable_rows([a]) == streamable_rows([b]) == 1


def test_a_utf16_file_cut_short_names_the_file_offset_of_its_odd_byte(tmp_path: Path) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes(b"\xff\xfe" + f"{HEADER}\n{_row(1)}\n".encode("utf-16-le") + b"x")
    with pytest.raises(CsvFormatError) as caught:
        iter_csv(path)
    size = path.stat().st_size
    assert f"(truncated data at byte {size - 1})" in str(caught.value)
