"""Replay's pure parts: pacing, Excel-safe rejects, fast encoding, ordering, exit codes."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from producer.app import PublishReport
from producer.pacing import Pacer, Progress
from producer.replay import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REJECTS,
    EXIT_UNDELIVERED,
    ReplaySummary,
    load,
    neutralise,
    rejects_path,
    write_rejects,
)
from producer.sources import ordered_row_count, stream
from shared.codec import decode, encode, encode_fast
from shared.csv_io import RowError
from shared.schemas import CSV_FIELDS, Transaction

T0 = datetime(2025, 1, 1)


@pytest.mark.parametrize("cell", ["=1+2", "+41 79", "-5", "@SUM(A1)", "\tx", "\rx"])
def test_formula_like_cells_are_neutralised(cell: str) -> None:
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize(("cell", "shown"), [
    ("a\x00b", "a\\x00b"), ("\x00", "\\x00"), ("\x1b[31m", "\\x1b[31m"), ("x\x7f", "x\\x7f"),
    ("\x0b=1", "\\x0b=1"), ("a\tb\r\nc", "a\tb\r\nc"), ("\x80\x85\x9f", "\\x80\\x85\\x9f"),
    ("a\u2028b\u2029", "a\\u2028b\\u2029"), ("\u202eT1", "\\u202eT1"),
    ("\u2066x\u2069", "\\u2066x\\u2069"),
    ("\u202a\u202b\u202c\u202d", "\\u202a\\u202b\\u202c\\u202d"),
    ("\x7e\xa0\u2027\u202f\u2065\u206a\u200f", "\x7e\xa0\u2027\u202f\u2065\u206a\u200f")])
def test_control_characters_but_tab_and_line_ends_are_shown_escaped(
        cell: str, shown: str) -> None:
    assert neutralise(cell) == shown


def test_ordinary_cells_are_left_alone() -> None:
    assert [neutralise(c) for c in ["12.5", "CH", "", "a=b"]] == ["12.5", "CH", "", "a=b"]


def test_rejects_file_has_line_reason_and_raw_cells_all_excel_safe(tmp_path: Path) -> None:
    errors = [
        RowError(3, "amount: '=HYPERLINK()' is not a number",
                 {"transaction_id": "1", "amount": "=HYPERLINK()"}),
        RowError(9, "expected 11 columns, found 12",
                 {"transaction_id": "-2", "amount": "5", "column_12": "@x"}),
    ]
    path = write_rejects(errors, rejects_path(tmp_path / "in.csv"))
    assert path == tmp_path / "in.rejects.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["line", "reason", "transaction_id", "amount", "column_12"]
    assert rows[1] == ["3", "amount: '=HYPERLINK()' is not a number", "1", "'=HYPERLINK()", ""]
    assert rows[2] == ["9", "expected 11 columns, found 12", "'-2", "5", "'@x"]


def test_rejects_can_go_to_another_directory(tmp_path: Path) -> None:
    assert rejects_path(Path("/data/h.csv"), tmp_path) == tmp_path / "h.rejects.csv"


def test_fast_encoding_is_byte_identical_to_the_codec() -> None:
    tx = Transaction(transaction_id="1", customer_id="c", timestamp=T0 + timedelta(microseconds=5),
                     amount=0.1 + 0.2, country="CH", channel="app", device="pc",
                     merchant_category="food", attributes={"x": "é"})
    assert encode_fast(tx) == encode(tx)
    assert decode(encode_fast(tx), Transaction) == tx


def test_unpaced_sends_everything_at_once() -> None:
    pacer = Pacer()
    assert pacer.unpaced and pacer.delay(10_000, T0, now=5.0) == 0.0


def test_rate_pacing_makes_message_n_due_n_over_rate_seconds_after_the_first() -> None:
    pacer = Pacer(rate=100)
    assert pacer.delay(0, T0, now=10.0) == 0.0
    assert pacer.delay(50, T0, now=10.0) == pytest.approx(0.5)
    assert pacer.delay(50, T0, now=10.6) < 0


def test_speed_pacing_follows_event_time() -> None:
    pacer = Pacer(speed=60)  # one hour of data per minute
    assert pacer.delay(0, T0, now=0.0) == 0.0
    assert pacer.delay(1, T0 + timedelta(hours=1), now=0.0) == pytest.approx(60.0)
    assert pacer.delay(2, T0 + timedelta(hours=2), now=30.0) == pytest.approx(90.0)


@pytest.mark.parametrize("kwargs", [{"rate": 1, "speed": 1}, {"rate": 0}, {"speed": -1}])
def test_bad_pacing_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Pacer(**kwargs)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_shows_rate_and_eta_on_a_terminal() -> None:
    out = _Terminal()
    bar = Progress(total=200, stream=out)
    bar.update(100, force=True)
    bar.close(200)
    text = out.getvalue()
    assert "50%" in text and "100/200" in text and "rows/s" in text and "<" in text  # ETA
    assert "200/200" in text and text.endswith("\n")


def test_progress_bar_writes_nothing_to_a_log_file_or_pipe() -> None:
    out = io.StringIO()  # not a terminal: no carriage-return redraws in a log
    bar = Progress(total=200, stream=out)
    bar.update(100, force=True)
    bar.close(200)
    assert out.getvalue() == ""


def test_load_orders_rows_of_several_files_by_time_stably(tmp_path: Path) -> None:
    header = ",".join(CSV_FIELDS)
    (tmp_path / "a.csv").write_text(
        f"{header}\na1,1,2025-01-01 10:00:00,1,CH,app,pc,f,,,\n"
        "a2,2,2025-01-01 09:00:00,1,CH,app,pc,f,,,\nbad,2,x,1,CH,app,pc,f,,,\n",
        encoding="utf-8")
    (tmp_path / "b.csv").write_text(
        f"{header}\nb1,3,2025-01-01 10:00:00,1,CH,app,pc,f,,,\n", encoding="utf-8")
    loaded = load([tmp_path / "a.csv", tmp_path / "b.csv"])
    ids = [decode(value, Transaction).transaction_id for _, _, value in loaded.records]
    assert ids == ["a2", "a1", "b1"]
    assert [key for _, key, _ in loaded.records] == [b"2", b"1", b"3"]
    assert loaded.rejected == 1 and [e.line for e in loaded.rejects[tmp_path / "a.csv"]] == [4]


def _summary(rejected: int = 0, **report: object) -> ReplaySummary:
    r = PublishReport(total=10, sent=10, delivered=10)
    for k, v in report.items():
        setattr(r, k, v)
    return ReplaySummary(rows=10, rejected=rejected, report=r, rejects_files=[])


def test_exit_code_says_what_happened() -> None:
    assert _summary().exit_code == EXIT_OK
    assert _summary(rejected=3).exit_code == EXIT_REJECTS
    assert _summary(rejected=3, delivered=8).exit_code == EXIT_UNDELIVERED
    assert _summary(interrupted=True, sent=4, delivered=4).exit_code == EXIT_INTERRUPTED
    assert "UNDELIVERED 2" in " ".join(_summary(delivered=8).lines())


def _file(tmp_path: Path, name: str, times: list[str]) -> Path:
    body = "".join(f"{name}{i},c{i % 3},{t},1,CH,app,pc,f,,,\n" for i, t in enumerate(times))
    path = tmp_path / f"{name}.csv"
    path.write_text(",".join(CSV_FIELDS) + "\n" + body, encoding="utf-8")
    return path


def test_order_check_counts_rows_of_a_time_ordered_file(tmp_path: Path) -> None:
    path = _file(tmp_path, "a", ["2025-01-01 00:00:00", "2025-01-01T00:00:00", "garbage",
                                 "2025-01-01 00:00:01.5", "2025-01-01 02:00:00+01:00"])
    assert ordered_row_count(path) == 5  # the garbage row is rejected later, not unordered


def test_order_check_refuses_a_file_that_goes_back_in_time(tmp_path: Path) -> None:
    path = _file(tmp_path, "a", ["2025-01-02 00:00:00", "2025-01-01 23:59:59"])
    assert ordered_row_count(path) is None
    assert ordered_row_count(tmp_path / "missing.csv") is None


def test_stream_merges_ordered_files_stably_and_collects_rejects(tmp_path: Path) -> None:
    a = _file(tmp_path, "a", ["2025-01-01 00:00:01", "2025-01-01 00:00:05", "bad"])
    b = _file(tmp_path, "b", ["2025-01-01 00:00:01", "2025-01-01 00:00:02"])
    rejects: dict[Path, list[RowError]] = {}
    ids = [decode(v, Transaction).transaction_id for _, _, v in stream([a, b], rejects)]
    assert ids == ["a0", "b0", "b1", "a1"]
    assert [e.line for e in rejects[a]] == [4] and b not in rejects


def test_the_rejects_report_keeps_a_cell_with_a_lone_carriage_return_whole(
    tmp_path: Path,
) -> None:

    from shared.csv_io import RowError
    from shared.rejects import write_rejects

    errors = [RowError(2, "amount: not a number", {"amount": "1\r2", "ip": "=cmd"}),
              RowError(3, "country: empty", {"amount": "5", "ip": ""})]
    text = write_rejects(errors, tmp_path / "x.rejects.csv").read_bytes().decode()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [["line", "reason", "amount", "ip"],
                    ["2", "amount: not a number", "1\r2", "'=cmd"],
                    ["3", "country: empty", "5", ""]]
    assert "\r\n" not in text.replace('"1\r2"', "")
