"""Drive `docker compose` (v2) or `docker-compose` (1.29) on the project's own compose file."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def compose_command() -> list[str]:
    """`docker compose` when the v2 plugin answers, else Debian's `docker-compose`."""
    given = os.environ.get("AUDITSTREAM_COMPOSE")
    if given:
        return shlex.split(given)
    v2 = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return ["docker", "compose"] if v2.returncode == 0 else ["docker-compose"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """One compose project of ROOT/docker-compose.yml, unmodified; settings only via env."""

    project: str
    env: dict[str, str]
    cmd: list[str] = field(default_factory=compose_command)

    def compose(self, *args: str, check: bool = True, timeout: float = 600,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run a compose command with `self.env` over the environment (or exactly `env`)."""
        argv = [*self.cmd, "-p", self.project, "-f", str(ROOT / "docker-compose.yml"), *args]
        full = env if env is not None else {**os.environ, **self.env}
        proc = subprocess.run(argv, cwd=ROOT, env=full,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{shlex.join(argv)} -> {proc.returncode}\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def containers(self, service: str) -> list[str]:
        """Ids of the service's containers, running or exited."""
        return self.compose("ps", "-q", service).stdout.split()

    def logs(self, service: str) -> str:
        return self.compose("logs", "--no-color", service).stdout


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          check=True)


def inspect(container: str, template: str) -> str:
    return docker("inspect", "--format", template, container).stdout.strip()


def wait_exit(container: str, timeout: float) -> tuple[int | None, float]:
    """(exit code, seconds) once the container stops; (None, timeout) if it did not."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if inspect(container, "{{.State.Running}}") == "false":
            return int(inspect(container, "{{.State.ExitCode}}")), time.monotonic() - start
        time.sleep(0.1)
    return None, timeout
