"""Stand-ins of bench/chaos_soak.py's children for its unit tests: a process and a
`pipeline_harness.Service`, no process started."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class Proc:
    """A child process: running until it exits with `code`."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.code: int | None = None

    def poll(self) -> int | None:
        return self.code

    def send_signal(self, _: Any) -> None:
        pass


class Svc:
    """A stand-in of pipeline_harness.Service: args, a process, start, terminate."""

    pids = 100

    def __init__(self, name: str, args: tuple[str, ...] = (), env: Any = None,
                 log_dir: Path = Path("."), exit_at_start: int | None = None) -> None:
        self.name, self.args, self.env, self.log_dir = name, args, env, log_dir
        self.exit_at_start = exit_at_start
        self.starts = 0
        self.proc: Proc | None = None

    silent = 0.0  # seconds since its log last grew

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}-{self.starts}.log"

    def silent_for(self) -> float:
        return self.silent

    def start(self) -> Svc:
        Svc.pids += 1
        self.starts += 1
        self.proc = Proc(Svc.pids)
        self.proc.code = self.exit_at_start
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.code is None

    def terminate(self, timeout: float = 60) -> int:
        assert self.proc is not None
        self.proc.code = 0
        return 0

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.code = -9

    @classmethod
    def running(cls, log: str) -> Svc:
        """A service whose current process runs and logs to `log` (`detector-d1-3.log`: the
        third start of `detector-d1`)."""
        name, _, start = log.removesuffix(".log").rpartition("-")
        svc = cls(name)
        svc.starts = int(start) - 1
        return svc.start()
