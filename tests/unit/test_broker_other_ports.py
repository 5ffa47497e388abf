"""A broker already running in BROKER_HOME on other ports than BROKER_PORT /
BROKER_CONTROLLER_PORT is named with its ports at once, in one line.

Before: `broker start` with new ports and the same home (as a user does after "port in use:
choose other ports with BROKER_PORT") found the home's broker running, waited the whole
BROKER_START_TIMEOUT (90 s) for it to answer at a port it never listens on, then said
"runs but did not answer ...; stop it and start it again" followed by 30 lines of its log;
`broker status` said "process N is up but does not answer at ...:PORT yet". Driven by a
stand-in process whose command line is the broker's, never a real broker.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditstream.broker import BrokerSettings, LocalBroker
from auditstream.cli import main
from shared.errors import BrokerError

HOME_PORTS = (39411, 39412)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Path]:
    """A home whose broker (a stand-in: `kafka.Kafka` on its `server.properties`) runs on
    HOME_PORTS; yields the home."""
    home = tmp_path / "home"
    home.mkdir()
    config = home / "server.properties"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                             "kafka.Kafka", str(config)])
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    deadline = time.monotonic() + 10
    while b"kafka.Kafka" not in cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)  # Popen can return before the child's exec shows its arguments
    (home / "broker.pid").write_text(f"{proc.pid}\n")
    (home / "ports").write_text("{},{}\n".format(*HOME_PORTS))
    try:
        yield home
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def _broker(home: Path, port: int, controller_port: int) -> LocalBroker:
    return LocalBroker(BrokerSettings(home=home, cache_dir=home.parent / "cache", port=port,
                                      controller_port=controller_port, start_timeout=4))


@pytest.mark.parametrize("ports", [(39421, 39422), (39411, 39413), (39410, 39412)])
def test_start_names_the_running_brokers_other_ports_at_once(
    running: Path, ports: tuple[int, int]
) -> None:
    broker = _broker(running, *ports)
    assert broker._owned(broker._pid() or 0)  # the stand-in passes for the home's broker
    began = time.monotonic()
    with pytest.raises(BrokerError) as err:
        broker.start()
    assert time.monotonic() - began < 2  # not after BROKER_START_TIMEOUT (4 s here)
    assert str(err.value) == (
        f"the broker in {running} runs on ports 39411,39412, not {ports[0]},{ports[1]}: set "
        "BROKER_PORT=39411 BROKER_CONTROLLER_PORT=39412 to use it, or give another "
        "BROKER_HOME for a broker of its own")


def test_status_names_the_running_brokers_other_ports(running: Path) -> None:
    status = _broker(running, 39421, 39422).status(probe_timeout=3)
    assert status.running and not status.answering
    assert status.detail == (
        f"the broker in {running} runs on ports 39411,39412, not 39421,39422: set "
        "BROKER_PORT=39411 BROKER_CONTROLLER_PORT=39412 to use it, or give another "
        "BROKER_HOME for a broker of its own")


def test_the_home_brokers_own_ports_are_probed_as_before(
    running: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probed: list[str] = []

    def answers(self: LocalBroker, timeout: float) -> bool:
        probed.append(self.bootstrap)
        return True

    monkeypatch.setattr(LocalBroker, "_answers", answers)
    status = _broker(running, *HOME_PORTS).start()
    assert status.running and status.answering
    assert status.detail == "answering at 127.0.0.1:39411"
    assert probed and set(probed) == {"127.0.0.1:39411"}


def test_status_of_the_answering_broker_says_running_once(
    running: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`broker status` printed `running: running, answering at ...`."""
    monkeypatch.setattr(LocalBroker, "_answers", lambda self, timeout: True)
    for name, value in (("BROKER_HOME", running), ("BROKER_CACHE_DIR", running.parent / "c"),
                        ("BROKER_PORT", HOME_PORTS[0]), ("BROKER_CONTROLLER_PORT", HOME_PORTS[1])):
        monkeypatch.setenv(name, str(value))
    assert main(["broker", "status"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "running: answering at 127.0.0.1:39411", f"home: {running}"]
