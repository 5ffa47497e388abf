"""Two `broker start`s at once on one BROKER_HOME start one broker, and both report it.

Driven by a stand-in `java` (Kafka's storage tool, and a `kafka.Kafka` that only listens on
its port), never a real broker. Before: both found no broker, both launched a JVM, the
second overwrote the PID file, its JVM failed to bind the port and its start deleted the PID
file: the first broker ran on with no PID file (`broker stop`: "was not running"; `broker
start`: "port in use by another process", though it was our own).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditstream.broker import BrokerSettings, BrokerStatus, LocalBroker
from auditstream.broker.process import free_port

FAKE_JAVA = """#!{python}
import os, re, socket, sys, time, uuid
from pathlib import Path
args = sys.argv[1:]
if "random-uuid" in args:
    print(uuid.uuid4().hex[:22]); sys.exit(0)
conf = Path(args[args.index("-c") + 1] if "-c" in args else args[-1]).read_text()
if "format" in args:
    data = Path(re.search(r"^log\\.dirs=(.*)$", conf, re.M).group(1))
    data.mkdir(parents=True, exist_ok=True)
    (data / "meta.properties").write_text("ok\\n"); sys.exit(0)
with open(os.environ["FAKE_JAVA_LOG"], "a") as log:
    log.write(f"{{os.getpid()}}\\n")
host, port = re.search(r"^listeners=PLAINTEXT://([^:]+):(\\d+)", conf, re.M).groups()
time.sleep(0.5)  # a JVM takes a while before it binds
s = socket.socket()
try:
    s.bind((host, int(port)))
except OSError as exc:
    print(f"bind failed: {{exc}}", flush=True); sys.exit(1)
s.listen()
print("Kafka version: 9.9.9", flush=True)
while True:
    time.sleep(1)
"""


def _connects(self: LocalBroker, timeout: float) -> bool:
    """The readiness probe, for a stand-in that only listens: a TCP connect."""
    try:
        with socket.create_connection((self.settings.host, self.settings.port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def fake_java(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """`java` on PATH is the stand-in; yields the log of the `kafka.Kafka` PIDs it ran
    (each killed at the end: only those this test started)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    java = bin_dir / "java"
    java.write_text(FAKE_JAVA.format(python=sys.executable))
    java.chmod(0o755)
    log = tmp_path / "java.log"
    log.touch()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_JAVA_LOG", str(log))
    monkeypatch.setattr(LocalBroker, "_answers", _connects)
    try:
        yield log
    finally:
        for pid in map(int, log.read_text().split()):
            with contextlib.suppress(OSError):  # gone; only our stand-in is killed
                if str(java).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)


def _settings(tmp_path: Path) -> BrokerSettings:
    cache = tmp_path / "cache"
    settings = BrokerSettings(home=tmp_path / "home", cache_dir=cache, kafka_version="9.9.9",
                              port=free_port(), controller_port=free_port(), start_timeout=20)
    settings.libs_dir.mkdir(parents=True)
    (settings.libs_dir / ".complete").write_text("9.9.9\n")  # a fetched jar cache
    return settings


def _settings_again(tmp_path: Path) -> BrokerSettings:
    """The same broker's settings with a start timeout of 0.5 s."""
    first = LocalBroker(BrokerSettings(home=tmp_path / "home")).ports_file.read_text()
    port, controller = map(int, first.split(","))
    return BrokerSettings(home=tmp_path / "home", cache_dir=tmp_path / "cache",
                          kafka_version="9.9.9", port=port, controller_port=controller,
                          start_timeout=0.5)


def test_two_starts_at_once_start_one_broker_and_both_report_it(
    tmp_path: Path, fake_java: Path
) -> None:
    settings = _settings(tmp_path)
    results: list[BrokerStatus | BaseException] = []
    brokers = [LocalBroker(settings), LocalBroker(settings)]

    def start(broker: LocalBroker) -> None:
        try:
            results.append(broker.start())
        except BaseException as exc:  # reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=start, args=(b,)) for b in brokers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    launched = [int(p) for p in fake_java.read_text().split()]
    assert len(launched) == 1, launched  # one JVM, not one per start
    assert all(isinstance(r, BrokerStatus) and r.running and r.pid == launched[0]
               for r in results), results
    assert len(results) == 2
    assert sorted(b.launched for b in brokers) == [False, True]  # "started", "already running"
    assert brokers[0].pid_file.read_text().strip() == str(launched[0])
    assert LocalBroker(settings).stop(timeout=5) is True


def test_a_start_after_a_start_finds_the_running_broker(tmp_path: Path,
                                                        fake_java: Path) -> None:
    settings = _settings(tmp_path)
    first = LocalBroker(settings).start()
    again = LocalBroker(settings)
    assert again.start().pid == first.pid
    assert again.launched is False
    assert len(fake_java.read_text().split()) == 1
    assert again.stop(timeout=5) is True
    assert not again.status(probe_timeout=0.1).running


def test_a_start_that_finds_the_broker_not_answering_waits_for_it_then_fails(
    tmp_path: Path, fake_java: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broker of ours that runs but does not answer (a start interrupted while it waited,
    a JVM hung): `start` used to say "already running" and exit 0 at once, so what ran
    next met no broker. It now waits `start_timeout` for an answer, then fails naming it."""
    from shared.errors import BrokerError

    first = LocalBroker(_settings(tmp_path)).start()
    settings = LocalBroker(_settings_again(tmp_path)).settings
    monkeypatch.setattr(LocalBroker, "_answers", lambda self, timeout: False)
    with pytest.raises(BrokerError, match=rf"^the broker \(pid {first.pid}\) runs but did not "
                                          r"answer at 127\.0\.0\.1:\d+ within 0\.5 s"):
        LocalBroker(settings).start()
    answers = iter([False, True])
    monkeypatch.setattr(LocalBroker, "_answers", lambda self, timeout: next(answers, True))
    again = LocalBroker(settings)
    assert again.start().pid == first.pid and not again.launched


def test_a_stop_while_start_waits_stops_the_broker_and_start_says_so(
    tmp_path: Path, fake_java: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`broker stop` while `start` waits for the first answer: the stop wins, and the start
    fails saying the broker was stopped by SIGTERM (it said "exited during start (code -15)")."""
    from shared.errors import BrokerError

    monkeypatch.setattr(LocalBroker, "_answers", lambda self, timeout: False)
    settings = _settings(tmp_path)
    starting = LocalBroker(settings)
    failed: list[BaseException] = []

    def start() -> None:
        try:
            starting.start()
        except BaseException as exc:  # reported by the assertions below
            failed.append(exc)

    thread = threading.Thread(target=start)
    thread.start()
    stopper = LocalBroker(settings)
    while not fake_java.read_text().strip() and thread.is_alive():
        threading.Event().wait(0.05)
    while not stopper.status(probe_timeout=0).running and thread.is_alive():
        threading.Event().wait(0.05)
    assert stopper.stop(timeout=5) is True
    thread.join(timeout=30)
    assert len(failed) == 1 and isinstance(failed[0], BrokerError)
    assert str(failed[0]).startswith("the broker was stopped by SIGTERM during its start "
                                     "(`auditstream broker stop`, or another process)")
    assert not stopper.pid_file.exists()
