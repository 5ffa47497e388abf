"""Start, stop and inspect a local single-node KRaft broker by its PID file."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import BinaryIO

from auditstream.broker.libs import (
    JAVA_HINT,
    ensure_libs,
    exclusive,
    make_folder,
    require_tool,
)
from auditstream.broker.listeners import Listener, extra_properties, listener_fields
from auditstream.broker.settings import BrokerSettings
from shared.atomic import atomic_write_text
from shared.errors import BrokerError, KafkaWiringError, UsageError
from shared.names import shown
from shared.outputs import kind_of, open_append, open_text, output_errors
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

#: What a write BROKER_HOME refused leaves (`broker start`'s exit 5 line).
NOT_STARTED = "BROKER_HOME: the broker not started"

#: This broker's listeners (`listeners.listener_fields`: PLAINTEXT and CONTROLLER, and any
#: extra `Listener`); the settings all local brokers share follow from
#: `single-node.properties` (the compose image's run.sh adds the same file).
_SERVER_PROPERTIES = """\
# Written by auditstream for a single-node local broker; loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers={host}:{cport}
listeners={listeners}
advertised.listeners={advertised}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT{protocols}
inter.broker.listener.name=PLAINTEXT
log.dirs={data}
"""


@dataclass(frozen=True)
class BrokerStatus:
    """What `status` reports: the truth about the PID file, the process and the port."""

    running: bool
    pid: int | None
    bootstrap: str
    home: Path
    kafka_version: str
    detail: str
    answering: bool = False


#: Every SASL and TLS setting of `KafkaSettings` unset (a field added later included).
_NO_SECURITY: dict[str, None] = dict.fromkeys(
    name for name in KafkaSettings.model_fields if name.startswith(("sasl_", "ssl_")))


def local_client(bootstrap: str) -> KafkaSettings:
    """How to reach the local broker: PLAINTEXT (it listens so, on loopback only), whatever
    the `KAFKA_` security settings, meant for a real cluster, say."""
    return KafkaSettings(bootstrap_servers=bootstrap, security_protocol="PLAINTEXT",
                         **_NO_SECURITY)



def exposure_warning(host: str) -> str | None:
    """What to warn of when the broker would listen beyond this machine (else None): it has
    no authentication, so whoever reaches it may read and write every topic."""
    try:
        if host == "localhost" or ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a host name or an address of this machine's network
    return (f"BROKER_HOST={host}: the local broker listens beyond this machine without "
            "authentication or TLS (PLAINTEXT); anyone who reaches it can read and write "
            "every topic, transactions included. Keep 127.0.0.1 unless that is intended; a "
            "shared cluster with SASL/TLS is set with KAFKA_* instead")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_taken(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


#: The PIDs a PID file may name: not 0, -1, -N (process groups, every process) nor init.
_FIRST_PID, _LAST_PID = 2, 2**31 - 1


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:  # a real-time signal
        return f"signal {number}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


class LocalBroker:
    """One broker+controller JVM whose files live under `settings.home`.

    `listeners` and `properties` (none for `auditstream broker`) open more listeners beside
    the PLAINTEXT one, e.g. SASL or TLS for tests (`auditstream.broker.listeners`)."""

    @classmethod
    def on_free_ports(cls, home: Path) -> LocalBroker:
        """A broker of its own under `home`, on two distinct free ports (tests, benches)."""
        port = free_port()
        controller = free_port()
        while controller == port:  # the system may hand out a just-closed port again
            controller = free_port()
        return cls(BrokerSettings(home=home, port=port, controller_port=controller))

    def __init__(self, settings: BrokerSettings | None = None,
                 listeners: Sequence[Listener] = (),
                 properties: Mapping[str, str] | None = None) -> None:
        self.settings = settings or BrokerSettings()
        self.listeners = tuple(listeners)
        self._fields = listener_fields(self.settings.host, self.settings.port,
                                       self.settings.controller_port, self.listeners)
        self._extra = extra_properties(properties or {})
        home = self.settings.home
        self.config_file = home / "server.properties"
        self.log4j_file = home / "log4j2.properties"
        self.data_dir = home / "data"
        self.pid_file = home / "broker.pid"
        self.log_file = home / "broker.log"
        self.ports_file = home / "ports"
        self.lock_file = home / "broker.lock"
        self._proc: subprocess.Popen[bytes] | None = None
        #: Whether `start` launched the JVM (False: it found the broker running).
        self.launched = False

    @property
    def bootstrap(self) -> str:
        return self.settings.bootstrap

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self._read(self.log_file, errors="replace")
        except (FileNotFoundError, NotADirectoryError):
            return "(no broker log yet)"
        except BrokerError as exc:  # shown inside another error: said, not raised
            return f"(no log to show: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def _read(self, path: Path, errors: str = "strict") -> str:
        """A file of BROKER_HOME as text, only as a regular file at its name (`open_text`):
        a FIFO there waited for a writer for ever (`broker status` and `stop` hung), a
        folder was a traceback, a link was read through; `FileNotFoundError` or
        `NotADirectoryError` when there is none."""
        with self._own_file(path), open_text(path, "utf-8", errors=errors) as fh:
            return fh.read()

    def _write(self, path: Path, text: str) -> None:
        """Replace a file of BROKER_HOME atomically: a link at the name is replaced, never
        written through (over a user's file), a FIFO or folder there is `_own_file`'s
        refusal (`write_text` waited on a FIFO for ever)."""
        with self._own_file(path):
            atomic_write_text(path, text, durable=False)

    def _open_log(self) -> BinaryIO:
        """`broker.log` opened to append, only as a regular file at its name (`open_append`)."""
        with self._own_file(self.log_file):
            return open_append(self.log_file)

    @contextlib.contextmanager
    def _own_file(self, path: Path) -> Iterator[None]:
        """A name of BROKER_HOME found to be no regular file is one line (exit 2) naming it."""
        try:
            yield
        except UsageError:
            with contextlib.suppress(OSError):
                what = kind_of(os.lstat(path).st_mode)
                raise BrokerError(
                    f"{shown(path)} is {what}, not a regular file: the broker's own files in "
                    f"{shown(self.settings.home)} are regular files it writes; move it away and "
                    "run again") from None
            raise

    def _pid(self) -> int | None:
        """The PID file's number if it can name one process (2 to pid_t's top), else None:
        `kill` reads 0 as the caller's process group, -1 as every process it may signal,
        -N as group N; 1 is init."""
        try:
            text = self._read(self.pid_file).strip()
        except (FileNotFoundError, NotADirectoryError, ValueError):  # no file, no home
            return None
        if not re.fullmatch(r"[0-9]{1,10}", text) or not _FIRST_PID <= int(text) <= _LAST_PID:
            return None
        return int(text)

    def _owned(self, pid: int) -> bool:
        """Whether `pid` is this broker's JVM (never signal a recycled PID): its command line
        runs `kafka.Kafka` on our `server.properties`. A command line that cannot be read
        (no /proc, hidepid) is not ours: what cannot be identified is never signalled."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return b"kafka.Kafka" in cmdline and str(self.config_file).encode() in cmdline

    def _answers(self, timeout: float) -> bool:
        from shared.kafka import wait_for_broker

        try:
            # quiet: "connection refused" is the expected answer while the JVM starts.
            wait_for_broker(local_client(self.bootstrap), timeout=timeout,
                            quiet=True)
        except KafkaWiringError:
            return False
        return True

    def status(self, probe_timeout: float = 3.0) -> BrokerStatus:
        pid = self._pid()
        version = self.settings.kafka_version
        if pid is None or not _alive(pid) or not self._owned(pid):
            if pid is None:
                detail = "not running"
            elif _alive(pid):
                detail = f"stale PID file (process {pid} is not this broker)"
            else:
                detail = f"stale PID file (process {pid} is gone)"
            return BrokerStatus(False, None, self.bootstrap, self.settings.home, version, detail)
        if other := self._other_ports():
            return BrokerStatus(True, pid, self.bootstrap, self.settings.home, version, other)
        answering = self._answers(probe_timeout)
        if answering:
            detail = f"answering at {self.bootstrap}"
        else:
            detail = f"process {pid} is up but does not answer at {self.bootstrap} yet"
        return BrokerStatus(True, pid, self.bootstrap, self.settings.home, version, detail,
                            answering)

    def start(self) -> BrokerStatus:
        """Start the broker unless it already runs; block until an AdminClient answers.

        One start at a time per home (`broker.lock`, waited for): a second start at once
        then finds the first's broker instead of launching a JVM of its own, which failed
        to bind the port and, exiting, deleted the PID file of the broker that ran on."""
        self._make_home()
        with exclusive(self.lock_file, f"a start of the broker in {self.settings.home}"):
            return self._start()

    def _make_home(self) -> None:
        """Create BROKER_HOME: a file in its way is a `BrokerError` (exit 2), a place that
        takes no folder (`/proc`) an `OutputError` (exit 5), in one line naming it."""
        make_folder(self.settings.home, "BROKER_HOME", self.settings.home)

    def _start(self) -> BrokerStatus:
        current = self.status()
        if current.running and (other := self._other_ports()):
            raise BrokerError(other)  # it will never answer at our port: said at once
        if current.running:
            return current if current.answering else self._await_running(current)
        if warning := exposure_warning(self.settings.host):
            log.warning("%s", warning)
        java = require_tool("java", JAVA_HINT)
        libs = ensure_libs(self.settings.libs_dir, self.settings.kafka_version,
                           self.settings.cache_dir)
        self._check_ports()
        # a failed write names no file: BROKER_HOME is named (BROKER_CACHE_DIR, above, may
        # be on another disk)
        with output_errors(self.settings.home, NOT_STARTED):
            self._write_config()
            self._format_once(java, libs)
        cmd = [
            java, f"-Xms{self.settings.heap}", f"-Xmx{self.settings.heap}",
            f"-Dlog4j2.configurationFile={self.log4j_file}",
            f"-Dkafka.logs.dir={self.settings.home}",
            "-cp", f"{libs}/*", "kafka.Kafka", str(self.config_file),
        ]
        with output_errors(self.settings.home, NOT_STARTED):
            proc = self._launch(cmd)
        self._wait_ready(proc)
        return self.status()

    def _launch(self, cmd: list[str]) -> subprocess.Popen[bytes]:
        """Run `cmd` with its output appended to `broker.log` and record its PID. A PID file
        that cannot be written stops the process again: never a broker left running that
        `broker stop` cannot find."""
        with self._open_log() as out:
            proc = self._proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            self._write(self.pid_file, f"{proc.pid}\n")
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        self.launched = True
        return proc

    def _await_running(self, current: BrokerStatus) -> BrokerStatus:
        """Our broker runs but did not answer (still starting after a start interrupted while
        it waited, or hung): wait for it as for a broker just launched."""
        timeout = self.settings.start_timeout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._answers(timeout=min(2.0, max(0.1, deadline - time.monotonic()))):
                return self.status()
        raise BrokerError(
            f"the broker (pid {current.pid}) runs but did not answer at {self.bootstrap} "
            f"within {timeout:g} s (BROKER_START_TIMEOUT); stop it with `auditstream broker "
            f"stop` and start it again. Log {shown(self.log_file)}:\n{self.log_tail()}")

    def _check_ports(self) -> None:
        s = self.settings
        for port in (s.port, s.controller_port, *(x.port for x in self.listeners)):
            if _port_taken(s.host, port):
                raise BrokerError(
                    f"port {s.host}:{port} is already in use by another process. Stop it, or "
                    "choose other ports with BROKER_PORT / BROKER_CONTROLLER_PORT."
                )
        found = self._formatted_ports()
        if found is not None and found != self._ports():
            raise BrokerError(
                f"the broker data in {shown(self.data_dir)} was formatted for ports "
                f"{found}, not {self._ports()}. Use those ports "
                f"or remove {shown(s.home)} to start afresh."
            )

    def _ports(self) -> str:
        return f"{self.settings.port},{self.settings.controller_port}"

    def _formatted_ports(self) -> str | None:
        """The ports BROKER_HOME's storage was formatted for (its broker's), if it has any."""
        try:
            return self._read(self.ports_file).strip()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _other_ports(self) -> str | None:
        """Why the home's broker is not at our ports, when its ports are others: it never
        answers there (waiting for it took BROKER_START_TIMEOUT, then "stop it and start it
        again"), so this says which ports it runs on instead."""
        found = self._formatted_ports()
        if found is None or found == self._ports():
            return None
        port, _, controller = found.partition(",")
        return (f"the broker in {shown(self.settings.home)} runs on ports {found}, not "
                f"{self._ports()}: set BROKER_PORT={port} BROKER_CONTROLLER_PORT={controller} "
                "to use it, or give another BROKER_HOME for a broker of its own")

    def _write_config(self) -> None:
        s = self.settings
        s.home.mkdir(parents=True, exist_ok=True)
        self._write(
            self.config_file,
            _SERVER_PROPERTIES.format(host=s.host, cport=s.controller_port,
                                      data=self.data_dir, **self._fields)
            + resources.files("auditstream.broker").joinpath("single-node.properties")
            .read_text(encoding="utf-8")
            + self._extra
        )
        self._write(
            self.log4j_file,
            resources.files("auditstream.broker").joinpath("log4j2.properties")
            .read_text(encoding="utf-8"),
        )

    def _format_once(self, java: str, libs: Path) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        cp = ["-cp", f"{libs}/*"]
        run = subprocess.run(
            [java, *cp, "kafka.tools.StorageTool", "random-uuid"],
            capture_output=True, text=True, check=False,
        )
        cluster_id = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
        fmt = subprocess.run(
            [java, *cp, "kafka.tools.StorageTool", "format", "--standalone",
             "-t", cluster_id, "-c", str(self.config_file)],
            capture_output=True, text=True, check=False,
        )
        if run.returncode != 0 or fmt.returncode != 0:
            detail = f"{run.stderr}{fmt.stdout}{fmt.stderr}"
            raise BrokerError(f"formatting broker storage failed:\n{detail}")
        s = self.settings
        self._write(self.ports_file, f"{s.port},{s.controller_port}\n")

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.settings.start_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                if proc.returncode < 0:  # a signal: `broker stop` while this start waited
                    how = (f"was stopped by {_signal_name(-proc.returncode)} during its start "
                           "(`auditstream broker stop`, or another process)")
                else:
                    how = f"exited during start (code {proc.returncode})"
                raise BrokerError(
                    f"the broker {how}. Log {shown(self.log_file)}:\n{self.log_tail()}")
            if self._answers(timeout=2.0):
                log.info("Apache Kafka %s broker ready at %s (pid %d)",
                         self.settings.kafka_version, self.bootstrap, proc.pid)
                return
        self.stop()
        raise BrokerError(
            f"the broker did not answer at {self.bootstrap} within "
            f"{self.settings.start_timeout:.0f}s. Log {shown(self.log_file)}:\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 60.0) -> bool:
        """SIGTERM the broker and wait for it to exit (SIGKILL after `timeout`); True if it ran."""
        pid = self._pid()
        if pid is None or not _alive(pid) or not self._owned(pid):
            self._forget_pid()
            return False
        os.kill(pid, signal.SIGTERM)
        if not self._wait_exit(pid, timeout) and self._owned(pid):  # its PID not reused since
            log.warning("broker %d ignored SIGTERM for %.0fs; killing it", pid, timeout)
            os.kill(pid, signal.SIGKILL)
            self._wait_exit(pid, 10.0)
        self.pid_file.unlink(missing_ok=True)
        return True

    def _forget_pid(self) -> None:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            self.pid_file.unlink()

    def kill(self) -> None:
        """SIGKILL the broker, as a crash would (for fault-injection tests)."""
        pid = self._pid()
        if pid is not None and _alive(pid) and self._owned(pid):
            os.kill(pid, signal.SIGKILL)
            self._wait_exit(pid, 10.0)
        self.pid_file.unlink(missing_ok=True)

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.pid == pid:
                if self._proc.poll() is not None:
                    return True
            elif not _alive(pid) or not self._owned(pid):  # gone, or its PID already reused
                return True
            time.sleep(0.1)
        return False

    def reported_version(self) -> str | None:
        """The version the running broker logged at start (`Kafka version: X`)."""
        try:
            text = self._read(self.log_file, errors="replace")
        except (FileNotFoundError, NotADirectoryError, BrokerError):  # the settings' then
            return None
        found = re.findall(r"Kafka version: (\S+)", text)
        return found[-1] if found else None
