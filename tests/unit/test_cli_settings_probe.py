"""Settings and command-line values a hostile probe gave (2026-12-05): each was a traceback
(exit 70), a wait for a broker before a refusal that needed none, or a message naming what
the user did not set; each is now refused at once in one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from pydantic import ValidationError

from auditstream.broker.process import free_port
from auditstream.cli import main
from detector.metrics import Metrics
from detector.settings import DetectorSettings
from shared.errors import AuditstreamError, ExitCode
from sink.settings import SinkSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing answers; any wait for it is short (a refusal must not need one)."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    for wait in ("KAFKA_STARTUP_WAIT_S", "DETECTOR_STARTUP_WAIT_S", "SINK_STARTUP_WAIT_S"):
        monkeypatch.setenv(wait, "1")


def _one_error_line(capsys: pytest.CaptureFixture[str], prog: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{prog}: error: "), err
    return err[0]


@pytest.mark.parametrize(("flag", "value"), [
    ("--batch-size", "0"), ("--metrics-port", "70000"), ("--snapshot-every", "0"),
    ("--group", ""),
])
def test_a_bad_detect_option_is_named_as_the_option_not_an_environment_variable(
    no_broker: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    flag: str, value: str,
) -> None:
    # said "invalid setting DETECTOR_BATCH_SIZE: ...; fix the environment variable", a
    # variable nobody had set
    assert main(["detect", f"{flag}={value}"]) == ExitCode.USAGE
    line = _one_error_line(capsys, "auditstream detect")
    assert flag in line and "environment variable" not in line, line


@pytest.mark.parametrize("host", ["", "bogus.invalid", "192.0.2.1"])
def test_a_metrics_host_that_is_not_this_machines_is_a_usage_error(host: str) -> None:
    # socket.gaierror / EADDRNOTAVAIL from the bind: a traceback and exit 70
    with pytest.raises(AuditstreamError) as refused:
        Metrics(free_port(), host)
    assert refused.value.exit_code == ExitCode.USAGE
    assert "DETECTOR_METRICS_HOST" in str(refused.value)


@pytest.mark.parametrize("port", ["-1", "65536", "x"])
def test_review_serve_port_outside_0_to_65535_is_refused_by_the_parser(
    no_broker: None, capsys: pytest.CaptureFixture[str], port: str,
) -> None:
    # accepted: waited for the broker (exit 4), and with one answering the bind's
    # OverflowError was a traceback (exit 70)
    with pytest.raises(SystemExit) as stop:
        main(["review", "serve", "--port", port])
    assert stop.value.code == ExitCode.USAGE
    assert "--port" in capsys.readouterr().err


def test_review_serve_port_bounds_are_accepted_by_the_parser() -> None:
    from auditstream.review.cli import port_number

    assert (port_number("0"), port_number("65535")) == (0, 65535)


@pytest.mark.parametrize("timeout", ["nan", "-1", "0"])
def test_demo_timeout_not_positive_is_refused_before_anything_starts(
    no_broker: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], timeout: str,
) -> None:
    # nan never timed out (a stalled sink waited for ever); -1 gave up at once, "no
    # progress for -1 s"
    with pytest.raises(SystemExit) as stop:
        main(["demo", "--exports", str(tmp_path / "e"), "--timeout", timeout])
    assert stop.value.code == ExitCode.USAGE
    assert "--timeout" in capsys.readouterr().err


def test_librdkafka_takes_at_most_a_million_messages_per_consume() -> None:
    """The limit the batch-size settings are checked against (confluent-kafka's own)."""
    consumer = Consumer({"bootstrap.servers": "127.0.0.1:1", "group.id": "probe"})
    try:
        assert consumer.consume(1_000_000, timeout=0) == []
        with pytest.raises(ValueError, match="num_messages"):
            consumer.consume(1_000_001, timeout=0)
    finally:
        consumer.close()


@pytest.mark.parametrize(("settings", "variable"), [
    (DetectorSettings, "DETECTOR_BATCH_SIZE"), (SinkSettings, "SINK_BATCH_SIZE"),
])
def test_a_batch_size_above_what_a_consume_takes_is_an_invalid_setting(
    monkeypatch: pytest.MonkeyPatch, settings: type[DetectorSettings | SinkSettings],
    variable: str,
) -> None:
    # accepted: the first consume() after connecting raised ValueError, a traceback (70)
    monkeypatch.setenv(variable, "1000001")
    with pytest.raises(ValidationError):
        settings()
    monkeypatch.setenv(variable, "1000000")
    assert settings().batch_size == 1_000_000


def test_an_empty_exports_dir_setting_is_refused_not_the_current_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # SINK_EXPORTS_DIR= (an unset variable in a compose or env file) was Path(""), the
    # folder the sink was started in: it wrote scored/, run.json, the lock there
    monkeypatch.setenv("SINK_EXPORTS_DIR", "")
    with pytest.raises(ValidationError, match="exports_dir"):
        SinkSettings()


def test_producer_replay_without_files_says_so_in_the_readme_error_format() -> None:
    # was a log line, "... ERROR root: PRODUCER_MODE=replay needs ...", not "PROG: error:"
    env = {**os.environ, "PRODUCER_MODE": "replay", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    env.pop("PRODUCER_FILES", None)
    done = subprocess.run([sys.executable, "-m", "producer"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == ExitCode.USAGE
    assert done.stderr.strip().splitlines() == [
        "python -m producer: error: PRODUCER_MODE=replay needs PRODUCER_FILES (a JSON list "
        "of paths, e.g. PRODUCER_FILES='[\"/data/tx.csv\"]')"], done.stderr


@pytest.mark.parametrize("host", ["0", "::0", "0:0:0:0:0:0:0:0", "[::0]", "000.000.000.000",
                                  "0x0"])
def test_the_any_address_in_another_spelling_is_refused_as_broker_host(host: str) -> None:
    # 0.0.0.0 and :: were refused, these passed: each resolves to the any-address, so the
    # unauthenticated broker would listen on every interface (with a warning only)
    from auditstream.broker import BrokerSettings

    with pytest.raises(ValidationError, match="address clients can reach"):
        BrokerSettings(host=host)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "10.0.0.5", "kafka.example",
                                  "0.example"])
def test_other_broker_hosts_are_still_accepted(host: str) -> None:
    from auditstream.broker import BrokerSettings

    assert BrokerSettings(host=host).host == host


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_state_dir_setting_is_refused_not_the_current_folder(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    # DETECTOR_STATE_DIR= was Path(""): the failure count in whatever folder it started in
    monkeypatch.setenv("DETECTOR_STATE_DIR", value)
    with pytest.raises(ValidationError, match="state_dir"):
        DetectorSettings()
    monkeypatch.setenv("DETECTOR_STATE_DIR", "st")
    assert DetectorSettings().state_dir == Path("st")


@pytest.mark.parametrize("module", ["detector", "sink"])
def test_an_empty_bootstrap_servers_setting_is_exit_2_at_once(module: str) -> None:
    # KAFKA_BOOTSTRAP_SERVERS= waited the whole start-up window (180 s), then exit 4 saying
    # "no Kafka broker answered at  within ..."
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": "", "DETECTOR_STARTUP_WAIT_S": "60",
           "SINK_STARTUP_WAIT_S": "60"}
    done = subprocess.run([sys.executable, "-m", module], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=50, check=False)
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(errors) == 1 and "KAFKA_BOOTSTRAP_SERVERS" in errors[0], done.stderr[-2000:]
    assert "Traceback" not in done.stderr
