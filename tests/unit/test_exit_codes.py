"""One exit code per kind of failure, one line per expected failure, a traceback only for bugs."""

from __future__ import annotations

import errno
import re
from pathlib import Path

import pytest

from shared.entry import run_guarded
from shared.errors import (
    AuditstreamError,
    ExitCode,
    KafkaUnreachableError,
    KafkaWiringError,
    LockedError,
    OutputError,
    PoisonPillError,
)
from shared.outputs import as_output_error, is_output_error, output_errors

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("error", "code"), [
    (AuditstreamError("bad input"), 2),
    (KafkaUnreachableError("no broker"), 4),
    (OutputError("disk full"), 5),
    (LockedError("held by pid 1"), 6),
    (PoisonPillError("offset 7 failed 3 times"), 7),
])
def test_an_expected_error_is_one_line_and_its_own_code(
    error: AuditstreamError, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail() -> int:
        raise error

    assert run_guarded("auditstream x", fail) == code
    err = capsys.readouterr().err
    assert err == f"auditstream x: error: {error}\n"


@pytest.mark.parametrize(("number", "words"), [
    (errno.ENOSPC, "the disk is full"),
    (errno.EROFS, "read-only"),
    (errno.EACCES, "permission denied"),
])
def test_a_disk_or_permission_oserror_anywhere_is_exit_5_without_traceback(
    number: int, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail() -> int:
        raise OSError(number, "strerror", "/exports/run.json")

    assert run_guarded("auditstream sink", fail) == 5  # ExitCode.OUTPUT_UNWRITABLE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("auditstream sink: error: cannot write /exports/run.json: ")
    assert words in err


def test_any_other_exception_is_a_bug_with_its_traceback_and_exit_70(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # It escaped as Python's exit 1, which the table gives to "some rows rejected, the rest
    # processed": a script could take a crash for a partial success (found probing).
    def fail() -> int:
        raise ValueError("a bug")

    assert run_guarded("auditstream x", fail) == 70 and ExitCode.BUG.value == 70
    err = capsys.readouterr().err
    assert "Traceback" in err and "ValueError: a bug" in err
    assert err.splitlines()[-1].startswith("auditstream x: internal error (a bug")
    # not a disk/permission kind: a bug too
    assert run_guarded("auditstream x", lambda: int(open("/nonexistent/x").read())) == 70  # noqa: SIM115
    assert "FileNotFoundError" in capsys.readouterr().err


def test_interrupt_is_130_and_a_return_value_passes_through(
    capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted() -> int:
        raise KeyboardInterrupt

    assert run_guarded("auditstream x", interrupted) == 130  # ExitCode.INTERRUPTED
    assert run_guarded("auditstream x", lambda: 1) == 1
    assert run_guarded("auditstream x", lambda: None) == 0
    assert "interrupted" in capsys.readouterr().err


def test_output_errors_names_the_place_when_the_oserror_does_not() -> None:
    with pytest.raises(OutputError) as caught, output_errors(Path("/ex"), "rows kept"):
        raise OSError(errno.ENOSPC, "No space left on device")  # a write() has no file name
    text = str(caught.value)
    assert text.startswith("cannot write /ex: the disk is full; rows kept; free space")
    assert caught.value.exit_code == 5
    assert not is_output_error(OSError(errno.ENOENT, "x"))
    with pytest.raises(FileNotFoundError), output_errors(Path("/ex")):
        raise FileNotFoundError(errno.ENOENT, "No such file")
    assert "\n" not in str(as_output_error(OSError(errno.EPERM, "x", "/f")))


def test_readme_exit_code_table_lists_exactly_the_exit_code_table() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `?(\d+)`? \| `(\w+)` \|", section, flags=re.MULTILINE)
    assert rows, "README has no exit-code table"
    assert [(int(n), name) for n, name in rows] == [(int(c), c.name) for c in ExitCode]


def test_a_bad_setting_is_exit_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared.settings import KafkaSettings

    monkeypatch.setenv("KAFKA_STARTUP_WAIT_S", "soon")
    def replay() -> int:
        return len(KafkaSettings().bootstrap_servers)

    assert run_guarded("auditstream replay", replay) == 2  # never 1 (rows rejected)
    err = capsys.readouterr().err
    assert err.startswith("auditstream replay: error: invalid setting KAFKA_STARTUP_WAIT_S: ")
    assert err.count("\n") == 1


@pytest.mark.parametrize(("value", "item"), [("[300, -1]", 2), ("[-300]", 1)])
def test_a_bad_item_of_a_list_setting_is_named_by_its_place_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str, item: int,
) -> None:
    # It named a variable DETECTOR_CORE__RATE_WINDOWS_S__0 that nobody can set, then
    # pydantic's follow-on "Tuple should have at least 1 item after validation, not 0".
    from detector.settings import DetectorSettings

    monkeypatch.setenv("DETECTOR_CORE__RATE_WINDOWS_S", value)
    assert run_guarded("python -m detector", lambda: len(str(DetectorSettings()))) == 2
    line = capsys.readouterr().err.strip()
    assert line == ("python -m detector: error: invalid setting DETECTOR_CORE__RATE_WINDOWS_S "
                    f"(item {item}): Input should be greater than 0; fix the environment variable "
                    "(README, Configuration)")


def test_a_validation_error_of_a_plain_model_is_a_bug(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pydantic import BaseModel

    class Row(BaseModel):
        n: int

    assert run_guarded("auditstream x", lambda: Row.model_validate({"n": "x"}).n) == 70
    err = capsys.readouterr().err
    assert "ValidationError" in err and "invalid setting" not in err


def test_sink_losing_the_broker_between_start_up_steps_is_exit_4_other_kafka_errors_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from confluent_kafka import KafkaError, KafkaException

    import sink.app
    from sink.settings import SinkSettings

    def broker_gone(*args: object) -> object:
        raise KafkaException(KafkaError(KafkaError._TRANSPORT, "Broker transport failure"))

    monkeypatch.setattr(sink.app, "_run", broker_gone)
    with pytest.raises(KafkaUnreachableError, match=r"^the Kafka cluster at .* stopped answering"):
        sink.app.run(SinkSettings(exports_dir=tmp_path))

    def other(*args: object) -> object:
        raise KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "denied"))

    monkeypatch.setattr(sink.app, "_run", other)
    # not a transport failure: exit 2 in one line (it was a raw KafkaException: exit 1)
    with pytest.raises(KafkaWiringError, match=r"^Kafka refused the sink's request \(") as info:
        sink.app.run(SinkSettings(exports_dir=tmp_path))
    assert not isinstance(info.value, KafkaUnreachableError)
    assert info.value.exit_code == ExitCode.USAGE
