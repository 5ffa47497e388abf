"""A service (`python -m detector`, `python -m sink`) run as a process of its own for a
test: its output in a log file, waited on by what it prints, ended as an operator would."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: How long a start-up test keeps the broker down after the service starts (a broker then
#: takes 10-20 s to answer).
DOWN_S = 5.0


@contextmanager
def running(args: list[str], env: dict[str, str], log: Path
            ) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m <args>` with its output in `log`. When the block ends without an error
    the service gets SIGTERM and must exit 0 with no traceback and no error line; it is
    killed if it still runs when the block fails."""
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()[-5000:]
        text = log.read_text(errors="replace")
        assert "Traceback" not in text and ": error: " not in text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for(proc: subprocess.Popen[bytes], log: Path, text: str, timeout: float) -> None:
    """Until `text` is in the log (the service must not exit meanwhile)."""
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        assert proc.poll() is None, f"exited {proc.returncode}:\n{log.read_text()[-5000:]}"
        assert time.monotonic() < deadline, log.read_text()[-5000:]
        time.sleep(0.2)
