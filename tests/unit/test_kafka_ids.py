"""A consumer group, client or instance id that is empty, only blank space, has blank space
at its start or end, or holds a control character (a line break makes one log line two) is
refused by the settings that declare it: exit 2 at once, one line naming the option or
variable. Before, `detect --group ' '` was taken (a group no one meant, its checkpoints
under a name that looks like the default's), as was `SINK_GROUP_ID=' sink'` or
`KAFKA_CLIENT_ID=$'a\\nb'`; only an empty group was refused. Topic names follow Kafka's
own rule (`tests/unit/test_topic_names.py`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from auditstream.broker.process import free_port
from auditstream.cli import main
from detector.settings import DetectorSettings
from shared.errors import ExitCode
from shared.schemas import CONTROL_CHARACTERS
from shared.settings import KafkaSettings, kafka_id
from sink.settings import SinkSettings

#: Each id setting: its class, field and variable.
IDS = [(DetectorSettings, "group_id", "DETECTOR_GROUP_ID"),
       (DetectorSettings, "instance_id", "DETECTOR_INSTANCE_ID"),
       (SinkSettings, "group_id", "SINK_GROUP_ID"),
       (KafkaSettings, "client_id", "KAFKA_CLIENT_ID")]
BAD = ["", " ", "\t", "   ", " g", "g ", "\u00a0g", "g\n", "a\nb", "a\u202eb"]
GOOD = ["g", "a b", "g.x-1_2", "d\u00e9tecteur", "x" * 200]


def takes(value: str, names_a_file: bool) -> bool:
    """The rule, as the docs state it; '/' refused too where the id names a file (the
    detector's failure count: `detector.settings`)."""
    return (bool(value) and value == value.strip() and CONTROL_CHARACTERS.search(value) is None
            and not (names_a_file and "/" in value))


@pytest.mark.parametrize(("cls", "field", "variable"), IDS)
@pytest.mark.parametrize("value", BAD)
def test_a_bad_id_is_refused_naming_its_variable(
        monkeypatch: pytest.MonkeyPatch, cls: Any, field: str, variable: str,
        value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        cls()
    assert field in str(caught.value)


@pytest.mark.parametrize(("cls", "field", "variable"), IDS)
@pytest.mark.parametrize("value", GOOD)
def test_a_good_id_is_taken_as_written(
        monkeypatch: pytest.MonkeyPatch, cls: Any, field: str, variable: str,
        value: str) -> None:
    monkeypatch.setenv(variable, value)
    assert getattr(cls(), field) == value


@given(st.text(alphabet="ab \t\n\x00\u00a0\u2028\u202e/.", max_size=6))
def test_an_id_is_taken_exactly_when_the_rule_takes_it(value: str) -> None:
    for cls, field, names_a_file in [(DetectorSettings, "group_id", True),
                                     (DetectorSettings, "instance_id", True),
                                     (SinkSettings, "group_id", False),
                                     (KafkaSettings, "client_id", False)]:
        try:
            cls(**{field: value})
        except ValidationError as exc:
            assert not takes(value, names_a_file), (field, exc)
        else:
            assert takes(value, names_a_file), field


@pytest.mark.parametrize(("option", "value"), [("--group", " "), ("--group", ""),
                                               ("--group", " g"), ("--group", "g\n"),
                                               ("--instance-id", "i "),
                                               ("--instance-id", "a\u202eb")])
def test_detect_given_such_an_id_is_exit_2_at_once_naming_the_option(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        option: str, value: str) -> None:
    # before: `--group ' '` waited for the broker (none answers here), then exit 4
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("DETECTOR_STARTUP_WAIT_S", "20")
    started = time.monotonic()
    assert main(["detect", option, value]) == ExitCode.USAGE
    assert time.monotonic() - started < 20  # no broker was waited for
    errors = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert len(errors) == 1 and errors[0].startswith(
        f"auditstream detect: error: invalid option {option}: "), errors


@pytest.mark.parametrize(("argv", "variable"), [
    (["sink", "--exports", "e"], "SINK_GROUP_ID"),
    (["detect"], "DETECTOR_GROUP_ID"),
    (["detect"], "KAFKA_CLIENT_ID"),
    (["replay", "in.csv"], "KAFKA_CLIENT_ID"),
    (["review", "import", "r.csv", "--no-check"], "KAFKA_CLIENT_ID"),
])
def test_a_command_given_such_an_id_is_exit_2_at_once_naming_the_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        argv: list[str], variable: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.csv").write_text(
        "transaction_id,customer_id,timestamp,amount,country,channel,device,"
        "merchant_category,ip\n1,c1,2025-01-01 00:00:00,1.0,CH,app,pc,fuel,10.0.0.1\n")
    (tmp_path / "r.csv").write_text("case_id,outcome\nc1,confirmed\n")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    for wait in ("KAFKA_STARTUP_WAIT_S", "DETECTOR_STARTUP_WAIT_S", "SINK_STARTUP_WAIT_S"):
        monkeypatch.setenv(wait, "20")
    monkeypatch.setenv(variable, " padded ")
    started = time.monotonic()
    assert main(argv) == ExitCode.USAGE
    assert time.monotonic() - started < 20  # no broker was waited for
    errors = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert len(errors) == 1 and f"error: invalid setting {variable}: " in errors[0], errors


@pytest.mark.parametrize(("value", "why"), [
    ("", "empty"),
    (" ", "' ' is only blank space"),
    ("\t\t", "'\\t\\t' is only blank space"),
    (" g", "' g' has blank space at its start or end"),
    ("g\u00a0", "'g\\xa0' has blank space at its start or end"),
    ("a\nb", "'a\\nb' holds the control character '\\n'"),
    ("a\u202eb", "'a\\u202eb' holds the control character '\\u202e'"),
])
def test_a_refusal_says_which_rule_the_id_breaks(value: str, why: str) -> None:
    with pytest.raises(ValueError) as refused:
        kafka_id(value)
    assert str(refused.value) == (
        f"{why}; give a name of visible characters, without blank space around it")
