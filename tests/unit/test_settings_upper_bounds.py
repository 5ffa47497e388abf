"""Every numeric setting of every service has an upper bound, declared once where its field
is (helper session 18, bounds18: a walk of each numeric field with 0, -1, its largest value,
one past it, 1e308, nan and inf). Before, the waits, intervals and counts without one took
1e308 or 10**30: `DETECTOR_STARTUP_WAIT_S=1e308` waited for ever ("still trying for" a
number of 309 digits), `BROKER_START_TIMEOUT=1e308` waited for ever on a broker that never
answered, `PRODUCER_FLUSH_TIMEOUT_S=1e308` flushed for ever instead of exit 3,
`SINK_IDLE_PARTITION_S=1e308` held the days open for ever, `DETECTOR_COMMIT_INTERVAL_MS` past
`DETECTOR_TRANSACTION_TIMEOUT_MS` kept a busy stream's transaction open until the broker
aborted it. Each is now one line naming the variable, exit 2, before any client or folder is
made."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from auditstream.broker.settings import BrokerSettings
from auditstream.cli import main
from detector.settings import DetectorSettings
from producer.__main__ import main as producer_main
from producer.settings import ProducerSettings
from shared.entry import settings_error
from shared.errors import ExitCode
from shared.schemas import MAX_TIMESTAMP, MIN_TIMESTAMP
from shared.settings import KafkaSettings, TopicSettings
from sink.settings import ExportSettings, SinkSettings

CLASSES: list[type[BaseSettings]] = [KafkaSettings, TopicSettings, DetectorSettings,
                                     ExportSettings, SinkSettings, ProducerSettings,
                                     BrokerSettings]
#: Bounded where they are used, by a rule of several settings that names them
#: (`producer.limits`: too many customers or rows, an end past 2100;
#: tests/unit/test_producer_container_errors.py), so no field bound preempts its words.
BOUNDED_ELSEWHERE = {"PRODUCER_CUSTOMERS", "PRODUCER_DAYS"}
#: The event-time range of the schema (1970-2100), in seconds.
EVENT_SPAN_S = (MAX_TIMESTAMP - MIN_TIMESTAMP).total_seconds()


def _numeric_fields() -> list[tuple[type[BaseSettings], str, str]]:
    found = []
    for cls in CLASSES:
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name, field in cls.model_fields.items():
            if any(kind in str(field.annotation) for kind in ("int", "float")) \
                    and "Settings" not in str(field.annotation) and name != "core":
                found.append((cls, name, f"{prefix}{name}".upper()))
    return found


@pytest.mark.parametrize(("cls", "name", "variable"), _numeric_fields(),
                         ids=[v for _c, _n, v in _numeric_fields()])
def test_every_numeric_setting_declares_an_upper_bound(
        cls: type[BaseSettings], name: str, variable: str) -> None:
    if variable in BOUNDED_ELSEWHERE:
        return
    metadata = cls.model_fields[name].metadata
    assert any(isinstance(m, annotated_types.Le | annotated_types.Lt) for m in metadata), (
        f"{variable} has no upper bound: {metadata}")


#: Each setting bounded in this session, its largest value, and a value past it.
LARGEST = [
    (KafkaSettings, "KAFKA_STARTUP_WAIT_S", "86400", "86401"),
    (KafkaSettings, "KAFKA_LOG_INTERVAL_S", "86400", "86401"),
    (DetectorSettings, "DETECTOR_STARTUP_WAIT_S", "86400", "86401"),
    (DetectorSettings, "DETECTOR_LOG_INTERVAL_S", "86400", "86401"),
    (DetectorSettings, "DETECTOR_SNAPSHOT_EVERY", "10000000", "10000001"),
    (DetectorSettings, "DETECTOR_POISON_PILL_FAILURES", "1000", "1001"),
    (DetectorSettings, "DETECTOR_DEDUPE_HORIZON_S", f"{EVENT_SPAN_S:.0f}",
     f"{EVENT_SPAN_S + 1:.0f}"),
    # below the transaction timeout (60 s by default), which the broker aborts it at
    (DetectorSettings, "DETECTOR_COMMIT_INTERVAL_MS", "59999", "60000"),
    (SinkSettings, "SINK_STARTUP_WAIT_S", "86400", "86401"),
    (SinkSettings, "SINK_CHECKPOINT_INTERVAL_S", "86400", "86401"),
    (SinkSettings, "SINK_ROLLUP_INTERVAL_S", "86400", "86401"),
    (SinkSettings, "SINK_IDLE_PARTITION_S", "86400", "86401"),
    (SinkSettings, "SINK_REPORT_INTERVAL_S", "86400", "86401"),
    (SinkSettings, "SINK_CHECKPOINT_ROWS", "10000000", "10000001"),
    (ExportSettings, "EXPORTS_DAILY_CAPACITY", "1000000000", "1000000001"),
    (ProducerSettings, "PRODUCER_FLUSH_TIMEOUT_S", "86400", "86401"),
    (ProducerSettings, "PRODUCER_RATE", "1000000000", "1000000001"),
    (ProducerSettings, "PRODUCER_SPEED", "1000000000", "1000000001"),
    (BrokerSettings, "BROKER_START_TIMEOUT", "86400", "86401"),
]


@pytest.mark.parametrize(("cls", "variable", "largest", "past"), LARGEST,
                         ids=[row[1] for row in LARGEST])
def test_a_setting_is_taken_up_to_its_bound_and_refused_past_it_naming_it(
        monkeypatch: pytest.MonkeyPatch, cls: type[BaseSettings], variable: str,
        largest: str, past: str) -> None:
    kwargs: dict[str, Any] = {"instance_id": "t"} if cls is DetectorSettings else {}
    name = variable.removeprefix(str(cls.model_config["env_prefix"])).lower()
    monkeypatch.setenv(variable, largest)
    assert getattr(cls(**kwargs), name) == float(largest)
    for value in (past, "1e308", str(10**30)):
        monkeypatch.setenv(variable, value)
        with pytest.raises(ValidationError) as refused:
            cls(**kwargs)
        text = settings_error(refused.value)
        assert text is not None and text.startswith(f"invalid setting {variable}: "), text


def _one_line(capsys: pytest.CaptureFixture[str], prog: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{prog}: error: "), err
    return err[0]


@pytest.mark.parametrize(("command", "variable", "value"), [
    ("detect", "DETECTOR_STARTUP_WAIT_S", "1e308"), ("detect", "DETECTOR_LOG_INTERVAL_S", "inf"),
    ("detect", "DETECTOR_COMMIT_INTERVAL_MS", str(10**30)),
    ("detect", "DETECTOR_SNAPSHOT_EVERY", str(10**30)),
    ("sink", "SINK_IDLE_PARTITION_S", "1e308"), ("sink", "SINK_STARTUP_WAIT_S", "1e308"),
    ("sink", "KAFKA_LOG_INTERVAL_S", "1e308"), ("sink", "SINK_CHECKPOINT_ROWS", str(10**30)),
    ("replay", "KAFKA_STARTUP_WAIT_S", "1e308"),
    ("broker start", "BROKER_START_TIMEOUT", "1e308"),
    ("producer", "PRODUCER_FLUSH_TIMEOUT_S", "1e308"),
])
def test_a_value_past_a_bound_ends_in_one_line_and_exit_2_before_anything_is_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        command: str, variable: str, value: str) -> None:
    data = tmp_path / "in.csv"
    data.write_text("transaction_id,customer_id,timestamp,amount,country,channel,device,"
                    "merchant_category,ip\n1,c1,2025-01-01 00:00:00,1.0,CH,app,pc,fuel,\n")
    made = tmp_path / "made"  # the folders' parent: each would be made in it
    made.mkdir()
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # never asked: refused first
    monkeypatch.setenv("DETECTOR_STATE_DIR", str(made / "state"))
    monkeypatch.setenv("BROKER_HOME", str(made / "broker"))
    monkeypatch.setenv("BROKER_CACHE_DIR", str(made / "cache"))
    monkeypatch.setenv("PRODUCER_MODE", "replay")
    monkeypatch.setenv("PRODUCER_FILES", f'["{data}"]')
    monkeypatch.setenv(variable, value)
    started = time.monotonic()
    if command == "producer":
        assert producer_main([]) == ExitCode.USAGE
        line = _one_line(capsys, "python -m producer")
    else:
        argv = {"detect": ["detect"], "sink": ["sink", "--exports", str(made / "exports")],
                "replay": ["replay", str(data)], "broker start": ["broker", "start"]}[command]
        assert main(argv) == ExitCode.USAGE
        line = _one_line(capsys, f"auditstream {command.split()[0]}")
    assert f"invalid setting {variable}: " in line, line
    assert time.monotonic() - started < 30
    assert list(made.iterdir()) == []


@pytest.mark.parametrize(("command", "option"), [("sink", "--until-idle"),
                                                 ("demo", "--timeout")])
def test_a_wait_given_as_an_option_is_bounded_as_the_settings_waits(
        capsys: pytest.CaptureFixture[str], command: str, option: str) -> None:
    """`sink --until-idle` and `demo --timeout`, waits as the settings' are, took 1e309 (inf)
    or 1e308: a sink that never stopped once idle, a demo that never gave up on a stuck sink
    (helper session 19's probe). Now at most a day, as every wait setting."""
    from auditstream.cli import build_parser

    parser = build_parser(command)
    largest = parser.parse_args([command, option, "86400"])
    assert vars(largest)[option.lstrip("-").replace("-", "_")] == 86400.0
    for value in ("86401", "1e308", "1e309", "inf"):
        with pytest.raises(SystemExit) as stop:
            parser.parse_args([command, option, value])
        assert stop.value.code == ExitCode.USAGE
        err = capsys.readouterr().err
        assert f"{option}: must be at most 86400" in err and value in err, err


#: The bounds declared before this session's (librdkafka's, Kafka's, the exports' own), each
#: one unit under it, at it, one unit past it (mutation round 21: a bound moved a unit
#: either way, or made strict, passed every test of the settings), with the other settings a
#: value near the bound needs.
EACH_BOUND = [
    (TopicSettings, "AUDITSTREAM_PARTITIONS", "2147483646", "2147483647", "2147483648", {}),
    (TopicSettings, "AUDITSTREAM_REPLICATION_FACTOR", "32766", "32767", "32768", {}),
    (DetectorSettings, "DETECTOR_SNAPSHOT_CHUNK_BYTES", "921599", "921600", "921601", {}),
    (DetectorSettings, "DETECTOR_BATCH_SIZE", "999999", "1000000", "1000001", {}),
    (DetectorSettings, "DETECTOR_POLL_TIMEOUT_S", "4.99", "5", "5.01", {}),
    (DetectorSettings, "DETECTOR_TRANSACTION_TIMEOUT_MS", "2147483646", "2147483647",
     "2147483648", {}),
    (DetectorSettings, "DETECTOR_SESSION_TIMEOUT_MS", "3599999", "3600000", "3600001",
     {"DETECTOR_MAX_POLL_INTERVAL_MS": "86400000"}),
    (DetectorSettings, "DETECTOR_MAX_POLL_INTERVAL_MS", "86399999", "86400000", "86400001", {}),
    (DetectorSettings, "DETECTOR_MAX_OUTPUT_BYTES", "999999", "1000000", "1000001", {}),
    (DetectorSettings, "DETECTOR_METRICS_PORT", "65534", "65535", "65536", {}),
    (ExportSettings, "EXPORTS_COST_FP", "999999999999", "1e12", "1000000000001", {}),
    (ExportSettings, "EXPORTS_COST_FN", "999999999999", "1e12", "1000000000001", {}),
    (ExportSettings, "EXPORTS_REVIEW_BUDGET_PCT", "99.99", "100", "100.01", {}),
    (ExportSettings, "EXPORTS_TOP_CASES", "99999", "100000", "100001", {}),
    (ExportSettings, "EXPORTS_CASE_GAP_S", "2591999", "2592000", "2592001", {}),
    (ExportSettings, "EXPORTS_CASE_DAYS", "3659", "3660", "3661", {}),
    (ExportSettings, "EXPORTS_WATERMARK_CUSTOMERS", "99999", "100000", "100001", {}),
    (ExportSettings, "EXPORTS_SAMPLE_PER_BAND", "9999", "10000", "10001", {}),
    (SinkSettings, "SINK_BATCH_SIZE", "999999", "1000000", "1000001", {}),
    (SinkSettings, "SINK_DECODE_WORKERS", "63", "64", "65", {}),
    (ProducerSettings, "PRODUCER_QUEUE_MAX_MESSAGES", "2147483646", "2147483647",
     "2147483648", {}),
    (BrokerSettings, "BROKER_PORT", "65534", "65535", "65536", {}),
    (BrokerSettings, "BROKER_CONTROLLER_PORT", "65534", "65535", "65536", {}),
]


@pytest.mark.parametrize(("cls", "variable", "under", "at", "past", "others"), EACH_BOUND,
                         ids=[row[1] for row in EACH_BOUND])
def test_a_bound_is_taken_a_unit_under_it_and_at_it_and_refused_a_unit_past_it(
        monkeypatch: pytest.MonkeyPatch, cls: type[BaseSettings], variable: str, under: str,
        at: str, past: str, others: dict[str, str]) -> None:
    kwargs: dict[str, Any] = {"instance_id": "t"} if cls is DetectorSettings else {}
    name = variable.removeprefix(str(cls.model_config["env_prefix"])).lower()
    for other, value in others.items():
        monkeypatch.setenv(other, value)
    for value in (under, at):
        monkeypatch.setenv(variable, value)
        assert getattr(cls(**kwargs), name) == float(value)
    monkeypatch.setenv(variable, past)
    with pytest.raises(ValidationError) as refused:
        cls(**kwargs)
    text = settings_error(refused.value)
    assert text is not None and text.startswith(f"invalid setting {variable}: "), text
    assert "less than or equal to" in text, text
