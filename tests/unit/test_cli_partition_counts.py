"""A partition count past Kafka's (an int32) is refused where it is given, in one line and
exit 2: `score --partitions`, `demo --partitions` and `AUDITSTREAM_PARTITIONS` (the count
`replay`, `generate --publish` and the detector create topics with). Before, `score` took
3,000,000,000 and exit 0 (a run no topic can reproduce) and `replay` ended in librdkafka's
OverflowError traceback (exit 70) after its wait for the broker."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from auditstream.cli import build_parser, main
from shared.csv_io import write_transactions_csv
from shared.errors import ExitCode
from shared.settings import TopicSettings
from tests.unit.test_core_engine import stream

#: Kafka's bound: the partition count of a topic is an int32.
INT32_MAX = 2**31 - 1


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    write_transactions_csv(stream(n=40, customers=4, seed=3), path)
    return path


@pytest.mark.parametrize("count", [str(INT32_MAX + 1), "3000000000", "0", "-1"])
def test_score_refuses_a_partition_count_kafka_cannot_hold_and_creates_nothing(
        source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], count: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stop:
        main(["score", str(source), "--out", str(out), "--partitions", count])
    assert stop.value.code == ExitCode.USAGE
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("auditstream score: error: argument --partitions: ") and count in err
    assert not out.exists()


@pytest.mark.parametrize("command", ["score", "demo"])
@pytest.mark.parametrize("count", [INT32_MAX - 1, INT32_MAX, 1])
def test_a_partition_count_up_to_kafkas_bound_is_taken(command: str, count: int) -> None:
    argv = ["score", "in.csv", "--out", "out"] if command == "score" else ["demo"]
    args = build_parser().parse_args([*argv, "--partitions", str(count)])
    assert args.partitions == count


@pytest.mark.parametrize("count", [INT32_MAX + 1, 0, -5])
def test_demo_refuses_a_partition_count_kafka_cannot_hold(
        capsys: pytest.CaptureFixture[str], count: int) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["demo", "--partitions", str(count)])
    assert stop.value.code == ExitCode.USAGE
    assert "argument --partitions: must be" in capsys.readouterr().err


@pytest.mark.parametrize(("variable", "bound"), [
    ("AUDITSTREAM_PARTITIONS", INT32_MAX), ("AUDITSTREAM_REPLICATION_FACTOR", 2**15 - 1)])
def test_topic_settings_hold_kafkas_bounds(
        monkeypatch: pytest.MonkeyPatch, variable: str, bound: int) -> None:
    field = variable.removeprefix("AUDITSTREAM_").lower()
    for ok in (1, bound - 1, bound):
        monkeypatch.setenv(variable, str(ok))
        assert getattr(TopicSettings(), field) == ok
    for bad in (bound + 1, 0, -1):
        monkeypatch.setenv(variable, str(bad))
        with pytest.raises(ValidationError, match=field):
            TopicSettings()


def test_replay_with_a_partition_count_past_kafkas_is_one_line_before_any_broker(
        source: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AUDITSTREAM_PARTITIONS", str(INT32_MAX + 1))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # nothing listens there
    monkeypatch.setenv("KAFKA_STARTUP_WAIT_S", "1")
    assert main(["replay", str(source)]) == ExitCode.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "AUDITSTREAM_PARTITIONS" in err[0], err
    assert err[0].startswith("auditstream replay: error: ")
