"""`review import` whose publishing fails still reports the rows it rejected.

Before (hostile probe, 2026-12-07, session 21): with no broker (exit 4) or reviews Kafka
did not confirm (exit 3), the rejects report was never written and the rejected rows were
not even listed on stderr: the publishing's error was the only line, and the auditor
learnt of the bad rows only once Kafka was back. Now the rows are listed and the report
written first, its own failure (a full disk) on the line after the publishing's error,
which keeps its exit code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from auditstream.cli import main
from auditstream.review.publish import ReviewPublisher, ReviewsUndeliveredError
from shared.errors import KafkaUnreachableError

NO_BROKER = "no Kafka broker answered at 127.0.0.1:1 within 1 s; start one"
NOT_CONFIRMED = "1 of 1 review(s) not confirmed by Kafka on transactions.reviews"
AFTER = ("not every review was confirmed by Kafka (a re-run publishes them again, safely: "
         "the last outcome per id wins)")


def _file(tmp_path: Path) -> Path:
    f = tmp_path / "r.csv"
    f.write_text("case_id,outcome,note\nc1,confirmed,ok\nc2,maybe,\n", encoding="utf-8")
    return f


def _failing(monkeypatch: pytest.MonkeyPatch, error: Exception, where: str) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    if where == "start":
        monkeypatch.setattr(ReviewPublisher, "__init__", fail)
    else:
        monkeypatch.setattr(ReviewPublisher, "__init__", lambda *a, **k: None)
        monkeypatch.setattr(ReviewPublisher, "publish", fail)


@pytest.mark.parametrize(("error", "where", "code"), [
    (KafkaUnreachableError(NO_BROKER), "start", 4),
    (ReviewsUndeliveredError(NOT_CONFIRMED), "publish", 3),
], ids=["no broker", "not confirmed"])
def test_rows_rejected_are_reported_when_publishing_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        error: Exception, where: str, code: int) -> None:
    f = _file(tmp_path)
    _failing(monkeypatch, error, where)
    assert main(["review", "import", str(f), "--no-check"]) == code
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == f"auditstream review: error: {error}", err
    assert any(line.startswith(f"{f}: line 3: ") for line in err), err
    report = (tmp_path / "r.rejects.csv").read_text(encoding="utf-8").splitlines()
    assert [row.split(",")[0] for row in report] == ["line", "3"]


def test_a_report_the_disk_refuses_then_is_said_after_the_publishing_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    f = _file(tmp_path)
    _failing(monkeypatch, KafkaUnreachableError(NO_BROKER), "start")

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("shared.rejects.atomic_text_writer", full)
    assert main(["review", "import", str(f), "--no-check"]) == 4
    err = capsys.readouterr().err.splitlines()
    assert err[-2:] == [
        f"auditstream review: error: {NO_BROKER}",
        f"auditstream review: also: cannot write {tmp_path / 'r.rejects.csv'}: the disk is "
        f"full; {AFTER}; free space on it or choose another folder, then run again"], err
