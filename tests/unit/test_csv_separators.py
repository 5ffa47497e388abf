"""A "CSV" separated by semicolons (Excel's, where the decimal mark is a comma: most of
Europe), tabs or vertical bars (hostile probe, 2026-12-06, eleventh session): refused, as
before, but the one line said the header was "missing required column(s)" every one of which
it showed; it now says what the separator is and what to do."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import pytest

from auditstream.broker.process import free_port
from auditstream.cli import main
from shared.csv_encoding import unmatched_header
from shared.errors import AuditstreamError, ExitCode
from shared.schemas import REQUIRED_CSV_FIELDS

ROW = ["1", "c1", "2025-01-01 00:00:00", "1,5", "CH", "app", "pc", "fuel", "10.0.0.1"]


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("KAFKA_STARTUP_WAIT_S", "1")


@pytest.mark.parametrize(("separator", "name"), [
    (";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars"),
])
@pytest.mark.parametrize("command", [["score", "{f}", "--out", "{out}"], ["replay", "{f}"]])
def test_a_transactions_file_of_another_separator_is_refused_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], separator: str, name: str,
    command: list[str],
) -> None:
    path = tmp_path / "export.csv"
    bom = "\ufeff" if separator == ";" else ""  # Excel's "CSV UTF-8" writes one
    path.write_text(bom + separator.join(REQUIRED_CSV_FIELDS) + "\r\n"
                    + separator.join(ROW) + "\r\n", encoding="utf-8")
    argv = [a.format(f=path, out=tmp_path / "out") for a in command]
    assert main(argv) == ExitCode.USAGE
    line = _error(capsys)
    assert f"separated by {name}, not commas" in line, line
    assert not (tmp_path / "out").exists()


def test_a_header_missing_a_column_under_another_separator_gets_no_such_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "export.csv"
    path.write_text(";".join(REQUIRED_CSV_FIELDS[:-1]) + "\n" + ";".join(ROW[:-1]) + "\n")
    assert main(["score", str(path), "--out", str(tmp_path / "out")]) == ExitCode.USAGE
    line = _error(capsys)
    assert "missing required column(s)" in line and "separated by" not in line, line


def test_a_comma_file_missing_a_column_is_said_as_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "export.csv"
    path.write_text(",".join(REQUIRED_CSV_FIELDS[1:]) + "\n")
    assert main(["score", str(path), "--out", str(tmp_path / "out")]) == ExitCode.USAGE
    line = _error(capsys)
    assert "missing required column(s) transaction_id" in line and "separated" not in line


@pytest.mark.parametrize(("separator", "name"), [(";", "semicolons"), ("\t", "tabs")])
def test_a_reviews_file_of_another_separator_is_refused_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], separator: str, name: str,
) -> None:
    # an auditor's cases.csv opened in Excel, outcomes filled in, saved as CSV in a French
    # or German locale: "no `outcome` column", beside the column they had just filled in
    path = tmp_path / "cases.csv"
    path.write_text(separator.join(["case_id", "outcome", "note"]) + "\n"
                    + separator.join(["C-1", "confirmed", "ok"]) + "\n")
    assert main(["review", "import", str(path), "--no-check", "--dry-run"]) == ExitCode.USAGE
    line = _error(capsys)
    assert "no `outcome` column" in line and f"separated by {name}" in line, line


HINT = ("; its columns are separated by semicolons, not commas: save it comma-separated, with "
        "'.' as the decimal mark (Excel writes the list separator and decimal mark of the "
        "system's region settings)")


def _health(f: Path) -> str:
    from sink import health

    return health.check(f.parent, datetime(2026, 12, 6, 17, 0)).reason


def _cases(f: Path) -> str:
    from auditstream.review.page import read_cases

    with pytest.raises(ValueError) as refused:
        read_cases(f)
    return str(refused.value)


def _table(f: Path) -> str:
    from dashboard.report import read_csv

    with pytest.raises(AuditstreamError) as refused:
        read_csv(f, ("data_as_of", "rows", "heartbeat_at", "lag_messages"), "status")
    return str(refused.value)


_READERS = {
    "health": (_health, "status.csv", ("rows", "lag_messages"),  # any status column hints
               "{f} does not read as the sink writes it: its header has no heartbeat_at "
               "column{hint}"),
    "cases": (_cases, "cases.csv", ("rank", "case_id"),
              "cannot read {f}: its header names no case_id or transaction_id column (not "
              "the exports' cases.csv){hint}"),
    "table": (_table, "status.csv", ("rows", "heartbeat_at"),
              "cannot read {f}: none of the columns of table status (data_as_of, rows, "
              "heartbeat_at, ...) in its header{hint} (a damaged or hand-edited file); make "
              "the exports again (`auditstream score` or the sink) or restore it"),
}


@pytest.mark.parametrize(("header", "hint"), [
    (";".join, HINT),  # Excel's `;` save: the header one cell
    (lambda _: "a;b,c", ""),  # another separator, none of the columns
    (lambda _: "a,b", ""),  # comma-separated, none of the columns
])
@pytest.mark.parametrize("reader", sorted(_READERS))
def test_an_exports_table_whose_header_names_none_of_its_columns_is_said_so(
        tmp_path: Path, reader: str, header: Callable[[Sequence[str]], str], hint: str
) -> None:
    """The health check, the review page and `dashboard report`: one line naming what the
    header lacks, and the separator when it was split on another (any one of the table's
    columns then found: for the health check, any status column, not only heartbeat_at)."""
    read, name, names, message = _READERS[reader]
    f = tmp_path / name
    f.write_text(header(names) + "\n1;2\n", encoding="utf-8-sig")
    assert read(f) == message.format(f=f, hint=hint)


_SEMICOLONS = ("; its columns are separated by semicolons, not commas: save it comma-separated, "
               "with '.' as the decimal mark (Excel writes the list separator and decimal mark "
               "of the system's region settings)")


@pytest.mark.parametrize(("header", "hinted", "expected"), [
    (["x", "id"], None, None),  # one of the columns named: any will do
    (["id", "score"], None, None),
    (["x"], None, ""),  # none, and no other separator
    (["x;y"], None, ""),  # another separator, none of the columns under it
    (["id;score"], None, _SEMICOLONS),
    (["x;id"], None, _SEMICOLONS),  # one column under it is enough
    (["x;status"], ["status"], _SEMICOLONS),  # `hinted`: its names are the ones looked for
    (["x;id"], ["status"], ""),
    (["status", "x"], ["status"], ""),  # ... and only under another separator
])
def test_a_header_naming_none_of_the_columns_is_unmatched_with_the_separators_hint(
    header: list[str], hinted: list[str] | None, expected: str | None,
) -> None:
    # the columns as a one-pass iterator: read both to match and for the hint
    assert unmatched_header(header, iter(["id", "score"]), hinted=hinted) == expected
