"""The `KAFKA_` security settings against a real SASL/TLS broker, through the real commands.

One broker for the module (`secure_broker`: SASL_PLAINTEXT and SASL_SSL listeners, PLAIN and
SCRAM-SHA-256, a mutual-TLS listener (SSL, client certificates required), a CA made at test
time). Only the environment differs from a PLAINTEXT run,
as a user would set it: a generated CSV replayed, scored by `python -m detector` and
exported by `python -m sink` lands exactly as `auditstream score` writes it offline (which
`test_end_to_end` holds equal to the PLAINTEXT pipeline). Settings the broker refuses end
each command at once with one line and exit 2, no traceback, the password nowhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.errors import ExitCode
from shared.kafka import topic_partitions
from tests.integration.detector_harness import Topics, read_all
from tests.integration.pipeline_harness import (
    ROLLUP_FILES,
    base_env,
    detector,
    diff_rows,
    freeze_sources,
    generate_csv,
    read_scored_csv,
    replay,
    rollups_equal,
    run_cli,
    sink,
    wait_until,
)
from tests.integration.secure_broker import (
    KEY_PASSWORD,
    PLAIN_PASSWORD,
    SCRAM_PASSWORD,
    SecureBroker,
)

pytestmark = pytest.mark.integration

PARTITIONS = 2
#: Small model knobs so the short stream already fits and refits its Isolation Forest.
CORE_ENV = {
    "DETECTOR_CORE__FIRST_FIT_AFTER": "200",
    "DETECTOR_CORE__REFIT_EVERY": "200",
    "DETECTOR_CORE__REFIT_DELAY": "50",
    "DETECTOR_CORE__N_TREES": "20",
}
PASSWORDS = (PLAIN_PASSWORD, SCRAM_PASSWORD, KEY_PASSWORD)
WRONG_PASSWORD = "wrong-Pw-0c4b1e-never-printed"


@dataclass(frozen=True)
class Stream:
    """The module's input and what `auditstream score` makes of it offline."""

    src: Path
    csv: Path
    rows: int
    offline: Path


def _clean_environ() -> dict[str, str]:
    """This process's environment without any `KAFKA_` setting (the session's broker)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Stream:
    folder = tmp_path_factory.mktemp("secure-stream")
    src = freeze_sources(folder / "src")
    env = {**_clean_environ(), "PYTHONPATH": str(src), **CORE_ENV}
    csv = folder / "payments.csv"
    rows = generate_csv(csv, env, seed=2027, customers=40, days=12)
    offline = folder / "offline"
    run_cli(["score", str(csv), "--partitions", str(PARTITIONS), "--out", str(offline)], env)
    return Stream(src, csv, rows, offline)


def _leaks(folder: Path, *texts: str) -> Iterator[str]:
    """The files under `folder` that hold any of `texts`."""
    for path in folder.rglob("*"):
        if path.is_file() and any(t.encode() in path.read_bytes() for t in texts):
            yield str(path)


@pytest.mark.parametrize(("protocol", "mechanism"), [("SASL_PLAINTEXT", "PLAIN"),
                                                     ("SASL_SSL", "SCRAM-SHA-256"),
                                                     ("SSL", "client certificate")])
def test_a_replayed_stream_is_scored_and_exported_over_sasl_as_offline(
    protocol: str, mechanism: str, secure_broker: SecureBroker, stream: Stream,
    topic_name: str, tmp_path: Path,
) -> None:
    started = time.monotonic()
    topics = Topics(topic_name, PARTITIONS)  # created by the commands, over SASL
    env = {k: v for k, v in base_env(secure_broker.plaintext, topics, CORE_ENV, stream.src)
           .items() if not k.startswith("KAFKA_")} | secure_broker.env(protocol, mechanism)
    logs = tmp_path / "logs"
    logs.mkdir()
    feed = replay(stream.csv, env, logs).start()
    det = detector("a", {**env, "DETECTOR_STATE_DIR": str(tmp_path / "state")}, logs).start()
    assert feed.wait(90) == 0, feed.logs()[-3000:]
    try:
        # read over the broker's PLAINTEXT listener: the tests' view, not the path under test
        wait_until(lambda: topic_partitions(secure_broker.plaintext, topics.scored) > 0, 60,
                   "the detector's output topic")
        published = read_all(secure_broker.plaintext, topics.scored, PARTITIONS, stream.rows,
                             timeout=90, settle=1.0)
    finally:
        code = det.terminate()
    assert code == 0, det.logs()[-3000:]
    assert len(published) == stream.rows

    exports = tmp_path / "exports"
    exporter = sink(env, exports, logs, "--until-idle", "1").start()
    assert exporter.wait(90) == 0, exporter.logs()[-3000:]
    streamed = read_scored_csv(exports)
    diff = diff_rows(streamed, read_scored_csv(stream.offline))
    print(f"\n{protocol}/{mechanism}: {stream.rows} transactions, {len(streamed)} rows "
          f"exported, {diff}; {time.monotonic() - started:.1f} s")
    assert diff.clean, diff
    assert len(set(streamed["model_version"])) >= 3  # rules only, then a fit and a refit
    assert rollups_equal(exports, stream.offline) == dict.fromkeys(ROLLUP_FILES, True)
    assert list(_leaks(tmp_path, *PASSWORDS)) == []  # logs, exports, run.json, state


#: The commands that talk to Kafka, as a user starts them.
COMMANDS: dict[str, Callable[[Stream], list[str]]] = {
    "replay": lambda s: ["replay", str(s.csv)],
    "detect": lambda s: ["detect"],
    "sink": lambda s: ["sink", "--once", "--exports", "exports"],
}


def _hostile(case: str, broker: SecureBroker) -> tuple[dict[str, str], tuple[str, ...]]:
    """The settings of a hostile case, and the words its error line must hold."""
    plain, ssl, mtls = broker.env("SASL_PLAINTEXT"), broker.env("SASL_SSL"), broker.env("SSL")
    refused = "refused this client's SASL or TLS handshake ("
    no_key = {k: v for k, v in mtls.items() if k not in ("KAFKA_SSL_KEY_LOCATION",
                                                          "KAFKA_SSL_KEY_PASSWORD")}
    if case == "no client certificate":
        return ({k: v for k, v in no_key.items() if k != "KAFKA_SSL_CERTIFICATE_LOCATION"},
                (refused, "client certificate not accepted (none offered: "
                 "KAFKA_SSL_CERTIFICATE_LOCATION is not set)", "alert bad certificate"))
    if case == "client certificate without its key":
        return (no_key, (refused, "client certificate not accepted (KAFKA_SSL_CERTIFICATE_"
                         f"LOCATION={broker.tls.client_cert} without KAFKA_SSL_KEY_LOCATION)"))
    def offering(cert: Path, key: Path, why: str) -> tuple[dict[str, str], tuple[str, ...]]:
        """The mutual-TLS settings with another certificate and key, refused for `why`."""
        return ({**mtls, "KAFKA_SSL_CERTIFICATE_LOCATION": str(cert),
                 "KAFKA_SSL_KEY_LOCATION": str(key)},
                (refused, "client certificate not accepted (KAFKA_SSL_CERTIFICATE_LOCATION="
                 f"{cert}: {why})"))

    if case == "client certificate of another CA":
        return offering(broker.tls.foreign_cert, broker.tls.foreign_key,
                        "not sent, signed by none of the CAs the broker trusts")
    if case == "expired client certificate":
        return offering(broker.tls.expired_cert, broker.tls.expired_key,
                        "one the broker's CAs must have signed, still valid")
    if case == "wrong key password":
        return ({**mtls, "KAFKA_SSL_KEY_PASSWORD": WRONG_PASSWORD},
                ("invalid Kafka client setting (", "ssl.key.location failed",
                 f"KAFKA_SSL_KEY_LOCATION={broker.tls.client_key}: not read: a wrong or "
                 "missing KAFKA_SSL_KEY_PASSWORD"))
    if case == "key of another certificate":
        return ({**mtls, "KAFKA_SSL_KEY_LOCATION": str(broker.tls.foreign_key)},
                ("invalid Kafka client setting (", "key values mismatch",
                 f"KAFKA_SSL_KEY_LOCATION={broker.tls.foreign_key}: not the private key of "
                 "the certificate in KAFKA_SSL_CERTIFICATE_LOCATION"))
    if case == "TLS at the PLAINTEXT port":
        return ({**mtls, "KAFKA_BOOTSTRAP_SERVERS": broker.local.bootstrap},
                (refused, "it hung up on every TLS handshake, as a listener without TLS",
                 "KAFKA_SECURITY_PROTOCOL (now SSL)"))
    if case == "wrong password":
        return {**plain, "KAFKA_SASL_PASSWORD": WRONG_PASSWORD}, (refused, "Authentication "
                                                                  "failed")
    if case == "missing CA file":
        return ({**ssl, "KAFKA_SSL_CA_LOCATION": str(broker.tls.ca.with_name("gone.pem"))},
                ("invalid Kafka client setting (", "ssl.ca.location",
                 f"KAFKA_SSL_CA_LOCATION={broker.tls.ca.with_name('gone.pem')}: no such file"))
    if case == "CA that did not sign the broker":
        return ({**ssl, "KAFKA_SSL_CA_LOCATION": str(broker.tls.foreign_ca)},
                (refused, "certificate verify failed"))
    if case == "PLAINTEXT at the SASL port":
        return ({**plain, "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"},  # the password left set
                (refused, "as a SASL listener does", "KAFKA_SECURITY_PROTOCOL (now PLAINTEXT)"))
    assert case == "SASL_PLAINTEXT at the TLS port"
    return ({**ssl, "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"},
            (refused, "as a TLS listener does", "KAFKA_SECURITY_PROTOCOL (now SASL_PLAINTEXT)"))


@dataclass
class Run:
    """One command of a hostile case, run to its end."""

    command: str
    code: int
    stdout: str
    stderr: str
    took: float

    @property
    def errors(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if ": error: " in line]


def _run_all(env: dict[str, str], stream: Stream, cwd: Path) -> list[Run]:
    """Every command of `COMMANDS` at once (a case costs the slowest, not their sum)."""
    started = time.monotonic()
    procs = {}
    for command, args in sorted(COMMANDS.items()):
        (cwd / command).mkdir()
        procs[command] = subprocess.Popen(
            [sys.executable, "-m", "auditstream", *args(stream)], env=env, cwd=cwd / command,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = []
    try:
        for command, proc in procs.items():  # took: an upper bound for all but the first
            out, err = proc.communicate(timeout=120)
            runs.append(Run(command, proc.returncode, out, err, time.monotonic() - started))
    finally:
        for proc in procs.values():
            proc.kill()
    return runs


@pytest.mark.parametrize("case", ["wrong password", "missing CA file",
                                  "CA that did not sign the broker",
                                  "PLAINTEXT at the SASL port",
                                  "SASL_PLAINTEXT at the TLS port",
                                  "no client certificate",
                                  "client certificate without its key",
                                  "client certificate of another CA",
                                  "expired client certificate",
                                  "wrong key password",
                                  "key of another certificate",
                                  "TLS at the PLAINTEXT port"])
def test_settings_the_broker_refuses_end_each_command_at_once_in_one_line(
    case: str, secure_broker: SecureBroker, stream: Stream, topic_name: str, tmp_path: Path,
) -> None:
    settings, words = _hostile(case, secure_broker)
    env = {**_clean_environ(), "PYTHONPATH": str(stream.src), **settings,
           **Topics(topic_name, PARTITIONS).env(), "DETECTOR_STATE_DIR": str(tmp_path / "st"),
           # long waits: the refusal must end the command, not the wait
           "KAFKA_STARTUP_WAIT_S": "60", "SINK_STARTUP_WAIT_S": "60",
           "DETECTOR_STARTUP_WAIT_S": "60"}
    for run in _run_all(env, stream, tmp_path):
        out = run.stdout + run.stderr
        print(f"\n{case} / {run.command}: exit {run.code} in {run.took:.1f} s: {run.errors}")
        assert run.code == ExitCode.USAGE, (run.command, out)
        assert "Traceback" not in out, (run.command, out)
        assert not [p for p in (*PASSWORDS, WRONG_PASSWORD) if p in out], (run.command, out)
        assert run.took < 30, (run.command, run.took, out)  # not the 60 s wait
        assert len(run.errors) == 1, (run.command, out)
        assert run.errors[0].startswith(f"auditstream {run.command}: error: "), run.errors
        assert all(word in run.errors[0] for word in words), (words, run.errors)
        assert len(run.stderr.splitlines()) <= 5, (run.command, out)
    assert list(_leaks(tmp_path, *PASSWORDS, WRONG_PASSWORD)) == []  # e.g. state, exports
