"""A topic name Kafka refuses, set by an `AUDITSTREAM_*_TOPIC` variable (hostile probe of the
environment, 2026-12-06, eleventh): a space, a `/`, `..`, 250 characters. Before, the broker
was asked first (after the whole wait for it when none answered) and refused it in Kafka's
words, not tied to the variable; now the settings refuse it at once, exit 2, naming it."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from auditstream.broker.process import free_port
from auditstream.cli import main
from detector.settings import DetectorSettings
from shared.errors import ExitCode
from shared.settings import TopicSettings

VARIABLES = ["AUDITSTREAM_TRANSACTIONS_TOPIC", "AUDITSTREAM_SCORED_TOPIC",
             "AUDITSTREAM_DLQ_TOPIC", "AUDITSTREAM_REVIEWS_TOPIC"]
FIELDS = [v.removeprefix("AUDITSTREAM_").lower() for v in VARIABLES]
HEADER = ("transaction_id,customer_id,timestamp,amount,country,channel,device,"
          "merchant_category,ip\n")
ROW = "1,c1,2025-01-01 00:00:00,1.0,CH,app,pc,fuel,10.0.0.1\n"


def kafka_takes(name: str) -> bool:
    """Kafka's rule (`org.apache.kafka.common.internals.Topic.validate`), as it states it."""
    return (re.fullmatch(r"[a-zA-Z0-9._-]+", name) is not None and len(name) <= 249
            and name not in (".", ".."))


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("length", [1, 248, 249])
def test_a_name_of_up_to_249_characters_is_taken(field: str, length: int) -> None:
    name = ("t.x_-9" * 50)[:length]
    assert getattr(TopicSettings.model_validate({field: name}), field) == name


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize(("name", "says"), [
    ("x" * 250, "250 characters, over Kafka's 249"),
    ("x" * 10_000, "10000 characters, over Kafka's 249"),
    ("", "empty"),
    (".", "'.' is not a name Kafka allows"),
    ("..", "'..' is not a name Kafka allows"),
    ("my topic", "'my topic' holds ' '"),
    ("a/b", "'a/b' holds '/'"),
    ("../etc", "'../etc' holds '/'"),
    ("t\u00e9 x", "'t\u00e9 x' holds ' ', '\u00e9'"),
    ("a\nb", "'a\\nb' holds '\\n'"),
])
def test_a_name_kafka_refuses_is_refused_saying_why(field: str, name: str, says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TopicSettings.model_validate({field: name})
    text = str(caught.value)
    assert f"{field}\n" in text and says in text, text
    assert "a topic name is 1 to 249 of a-z, A-Z, 0-9, '.', '_' and '-', not '.' or '..'" in text


@given(st.text(alphabet="ab.-_Z9 /\u00e9:", max_size=12) | st.text(alphabet="a.", min_size=247,
                                                                  max_size=251))
def test_a_name_is_taken_exactly_when_kafka_takes_it(name: str) -> None:
    try:
        TopicSettings(reviews_topic=name)
    except ValidationError:
        assert not kafka_takes(name)
    else:
        assert kafka_takes(name)


def test_the_detectors_snapshot_topic_follows_the_same_rule() -> None:
    with pytest.raises(ValidationError, match="snapshot_topic"):
        DetectorSettings(snapshot_topic="snap shots")
    assert DetectorSettings(snapshot_topic="snap.shots").snapshot_topic == "snap.shots"


@pytest.mark.parametrize("variable", VARIABLES)
@pytest.mark.parametrize("name", ["my topic", "a/b", "..", "x" * 250])
def test_a_command_given_such_a_name_is_exit_2_at_once_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    variable: str, name: str,
) -> None:
    # before: exit 4 after the wait for a broker (none answers here), the name unmentioned
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("KAFKA_STARTUP_WAIT_S", "5")
    monkeypatch.setenv(variable, name)
    (tmp_path / "in.csv").write_text(HEADER + ROW)
    started = time.monotonic()
    assert main(["replay", "in.csv"]) == ExitCode.USAGE
    assert time.monotonic() - started < 5  # no broker was waited for
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1 and f"error: invalid setting {variable}: " in lines[0], err
