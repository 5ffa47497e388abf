"""`review import --sheet NAME` with a file read as CSV (hostile probe, 2026-12-06, eleventh):
--sheet was ignored without a word, the CSV's rows published as if they were the sheet the
auditor named. It is now refused, exit 2 in one line, before anything is read or published;
an .xlsx with --sheet reads that sheet as before."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from auditstream.broker.process import free_port
from auditstream.cli import main
from shared.errors import ExitCode

ROWS = [["transaction_id", "outcome"], ["t1", "confirmed"]]


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("KAFKA_STARTUP_WAIT_S", "1")


@pytest.mark.parametrize("name", ["cases.csv", "cases.CSV", "cases.txt", "cases"])
@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_sheet_with_a_csv_is_exit_2_in_one_line(
    capsys: pytest.CaptureFixture[str], name: str, dry_run: list[str],
) -> None:
    Path(name).write_text("".join(",".join(row) + "\n" for row in ROWS))
    assert main(["review", "import", name, "--sheet", "cases", "--no-check",
                 *dry_run]) == ExitCode.USAGE
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if ": error: " in line]
    assert lines == [f"auditstream review: error: --sheet cases: {name} is read as CSV, which "
                     "has no sheets; leave --sheet out, or give the .xlsx file"], captured.err
    assert captured.out == ""  # no summary: nothing read, nothing published
    assert not Path(f"{Path(name).stem}.rejects.csv").exists()


def test_sheet_with_an_xlsx_still_reads_that_sheet(capsys: pytest.CaptureFixture[str]) -> None:
    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    first.title = "other"
    first.append(["transaction_id", "outcome"])
    first.append(["t9", "dismissed"])
    cases = book.create_sheet("cases")
    for row in [*ROWS, ["t2", "unclear"]]:
        cases.append(row)
    book.save("cases.xlsx")
    assert main(["review", "import", "cases.xlsx", "--sheet", "cases", "--no-check",
                 "--dry-run"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "2 transaction outcome(s) valid" in out and "1 confirmed" in out, out
