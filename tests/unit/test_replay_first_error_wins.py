"""A streamed `replay` whose rejects report cannot be written after the send failed says
the send's failure first, with its exit code, and the report's failure on a second line.

Before (hostile probe, 2026-12-07, session 21): the report was written in a `finally`, so
on a full disk its `OutputError` replaced whatever the send had raised: no broker (exit 4),
a handshake or a right refused (exit 2), every row rejected (exit 2) all read
`cannot write in.rejects.csv: the disk is full ...`, exit 5, the real cause never shown;
a send that ended with messages undelivered (exit 3) or interrupted (130) lost its summary
the same way. A report that fails after a send that went well is still exit 5, alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest

from auditstream.cli import main
from producer.app import PublishReport
from shared.errors import KafkaUnreachableError, KafkaWiringError

HEADER = ("transaction_id,customer_id,timestamp,amount,country,channel,device,"
          "merchant_category,ip,is_anomaly,anomaly_type\n")
FULL = ("also: cannot write {report}: the disk is full; {after}; free space on it or choose "
        "another folder, then run again")
AGAIN = "a re-run sends them again: the detector drops each as a duplicate transaction_id"
NO_BROKER = "no Kafka broker answered at 127.0.0.1:1 within 1 s; start one"


def _input(tmp_path: Path, good: int = 4, bad: int = 2) -> Path:
    """`good` rows in time order (streamed), then `bad` with an amount that is no number."""
    rows = [f"t{i},c{i % 2},2025-01-01 10:{i:02d}:00,{10 + i},CH,app,pc,food,,False,normal\n"
            for i in range(good)]
    rows += [f"b{i},c1,2025-01-01 11:{i:02d}:00,xx,CH,app,pc,food,,False,normal\n"
             for i in range(bad)]
    f = tmp_path / "in.csv"
    f.write_text(HEADER + "".join(rows), encoding="utf-8")
    return f


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every rejects report meets a full disk (ENOSPC), as the other full-disk tests do."""
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("shared.rejects.atomic_text_writer", full)


def _publishing(monkeypatch: pytest.MonkeyPatch, outcome: Any) -> list[str]:
    """`publish` reads every row, then raises `outcome` (an exception) or returns the report
    it makes of the count (a callable)."""
    sent: list[str] = []

    def publish(records: Iterable[tuple[object, bytes, bytes]], settings: object, total: int,
                *_a: object, **_k: object) -> PublishReport:
        sent.extend(orjson.loads(value)["transaction_id"] for _, _, value in records)
        if isinstance(outcome, BaseException):
            raise outcome
        report: PublishReport = outcome(total, len(sent))
        return report

    monkeypatch.setattr("producer.replay.publish", publish)
    return sent


def _lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("auditstream replay: ")]


@pytest.mark.parametrize(("raised", "code"), [
    (KafkaUnreachableError(NO_BROKER), 4),
    (KafkaWiringError("the broker refused the client's SASL handshake; check KAFKA_"), 2),
], ids=["no broker", "handshake refused"])
def test_a_send_error_wins_over_the_report_that_cannot_be_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        full_disk: None, raised: Exception, code: int) -> None:
    f = _input(tmp_path)
    _publishing(monkeypatch, raised)
    assert main(["replay", str(f)]) == code
    assert _lines(capsys.readouterr().err) == [
        f"auditstream replay: error: {raised}",
        "auditstream replay: " + FULL.format(
            report=tmp_path / "in.rejects.csv",
            after=f"some good rows may have been sent ({AGAIN})"),
    ]
    assert not (tmp_path / "in.rejects.csv").exists()


def test_no_row_to_send_wins_over_the_report_that_cannot_be_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        full_disk: None) -> None:
    f = _input(tmp_path, good=0, bad=2)
    sent = _publishing(monkeypatch, lambda total, n: PublishReport(total, n, n))
    assert main(["replay", str(f)]) == 2
    assert _lines(capsys.readouterr().err) == [
        f"auditstream replay: error: no row to send in {f} (header only, or every row "
        "rejected: 2); nothing sent",
        "auditstream replay: " + FULL.format(report=tmp_path / "in.rejects.csv",
                                             after="nothing sent"),
    ]
    assert sent == []


@pytest.mark.parametrize(("report", "code", "said"), [
    (lambda total, n: PublishReport(total, n, n - 1, failed=1, errors=["Broker: timed out"]),
     3, "UNDELIVERED 1 message(s): Broker: timed out"),
    (lambda total, n: PublishReport(total, n - 1, n - 1, interrupted=True),
     130, "interrupted: 3 handed to Kafka, 1 not sent"),
], ids=["undelivered", "interrupted"])
def test_a_send_that_fell_short_keeps_its_summary_and_exit_code(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        full_disk: None, report: Any, code: int, said: str) -> None:
    f = _input(tmp_path)
    _publishing(monkeypatch, report)
    assert main(["replay", str(f)]) == code
    err = capsys.readouterr().err.splitlines()
    assert said in err, err
    assert err[-1] == FULL.format(report=tmp_path / "in.rejects.csv",
                                  after=f"3 of 4 good rows sent ({AGAIN})"), err


def test_a_send_that_went_well_is_exit_5_for_the_report_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        full_disk: None) -> None:
    f = _input(tmp_path)
    _publishing(monkeypatch, lambda total, n: PublishReport(total, n, n))
    assert main(["replay", str(f)]) == 5
    assert _lines(capsys.readouterr().err) == [
        f"auditstream replay: error: cannot write {tmp_path / 'in.rejects.csv'}: the disk is "
        f"full; 4 of 4 good rows sent ({AGAIN}); free space on it or choose another folder, "
        "then run again"]


def test_a_report_written_after_a_send_error_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    """The control: with room on the disk the report is written and the send's error alone
    is said."""
    f = _input(tmp_path)
    _publishing(monkeypatch, KafkaUnreachableError(NO_BROKER))
    assert main(["replay", str(f)]) == 4
    assert _lines(capsys.readouterr().err) == [f"auditstream replay: error: {NO_BROKER}"]
    assert (tmp_path / "in.rejects.csv").read_text(encoding="utf-8").count("\n") == 3


def test_a_real_replay_without_broker_under_ulimit_says_both(tmp_path: Path) -> None:
    """A real process: no broker at 127.0.0.1:1 (1 s wait) and a file size limit the
    report does not fit in (`test_rejects_report_unwritable`'s set-up), its bad rows before
    the first good one (read before Kafka is asked)."""
    from tests.unit.test_rejects_report_unwritable import BAD, BIG, EFBIG, TODO, _run

    bad = "".join(f"b{i},c1,2025-01-01 09:00:00,{BIG},CH,app,pc,food,,False,normal\n"
                  for i in range(BAD))
    good = "".join(f"t{i},c1,2025-01-01 10:{i:02d}:00,1,CH,app,pc,food,,False,normal\n"
                   for i in range(5))
    (tmp_path / "in.csv").write_text(HEADER + bad + good, encoding="utf-8")
    done = _run(tmp_path, "replay", "in.csv")
    assert done.returncode == 4, done.stderr[-800:]
    lines = done.stderr.strip().splitlines()
    assert lines[-2].startswith("auditstream replay: error: no Kafka broker answered at "
                                "127.0.0.1:1"), lines[-2]
    assert lines[-1] == (f"auditstream replay: also: cannot write in.rejects.csv: {EFBIG}; "
                         f"some good rows may have been sent ({AGAIN}); {TODO}")


def test_a_write_refused_while_sent_keeps_its_line_then_the_reports(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        full_disk: None) -> None:
    """A Write taken back while the rows went out (exit 2, its line after the summary)."""
    f = _input(tmp_path)
    refused = "the cluster refused WRITE on topic transactions to User:ann"
    _publishing(monkeypatch, lambda total, n: PublishReport(total, 2, 2, refused=refused))
    assert main(["replay", str(f)]) == 2
    lines = _lines(capsys.readouterr().err)
    assert lines[0].startswith(f"auditstream replay: error: {refused}; 2 of 4 row(s) were "
                               "delivered before it"), lines
    assert lines[1:] == ["auditstream replay: " + FULL.format(
        report=tmp_path / "in.rejects.csv", after=f"2 of 4 good rows sent ({AGAIN})")]
