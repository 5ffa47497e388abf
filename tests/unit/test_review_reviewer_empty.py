"""An empty reviewer name (hostile probe, 2026-12-06, eleventh session): `--reviewer
"$AUDITOR"` with the variable unset published every outcome without a reviewer, exit 0, and
`review serve` under a user id without a name recorded every decision of its page without
one; the audit trail lost who decided. Refused now in one line, exit 2, before anything is
read or published."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

from auditstream.broker.process import free_port
from auditstream.cli import main
from shared.errors import ExitCode


@pytest.fixture
def reviews(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("KAFKA_STARTUP_WAIT_S", "1")
    path = tmp_path / "reviews.csv"
    path.write_text("transaction_id,outcome\nT1,confirmed\n")
    return path


def _no_user_name(monkeypatch: pytest.MonkeyPatch) -> None:
    def unknown() -> str:  # a container run with `-u 12345`, no USER or LOGNAME
        raise KeyError("getpwuid(): uid not found: 12345")
    monkeypatch.setattr(getpass, "getuser", unknown)


@pytest.mark.parametrize("name", ["", "   "])
def test_review_import_with_an_empty_reviewer_is_refused_before_reading(
    reviews: Path, capsys: pytest.CaptureFixture[str], name: str,
) -> None:
    # "review import: 1 transaction outcome(s) valid, ...", exit 0: each without a reviewer
    code = main(["review", "import", str(reviews), "--no-check", "--dry-run",
                 "--reviewer", name])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE, err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1 and "--reviewer" in lines[0] and "empty" in lines[0], err


def test_review_import_still_takes_a_reviewer_of_one_character(
    reviews: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["review", "import", str(reviews), "--no-check", "--dry-run",
                 "--reviewer", " a "]) == ExitCode.OK
    assert "1 transaction outcome(s) valid" in capsys.readouterr().out


def test_review_import_without_a_user_name_still_reads_the_rows_reviewer_cells(
    reviews: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    # the user name is only the rows' fallback: rows naming their reviewer need none
    _no_user_name(monkeypatch)
    reviews.write_text("transaction_id,outcome,reviewer\nT1,confirmed,ana\n")
    assert main(["review", "import", str(reviews), "--no-check", "--dry-run"]) == ExitCode.OK


def test_review_serve_without_a_reviewer_name_is_refused_before_kafka(
    reviews: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    # every decision of the page would name no reviewer; it waited for Kafka (exit 4 here)
    _no_user_name(monkeypatch)
    code = main(["review", "serve", "--exports", str(reviews.parent), "--port", "0"])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE, err
    assert "your user name (the default --reviewer) '': empty" in err, err
