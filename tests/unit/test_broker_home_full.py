"""`broker start` whose BROKER_HOME refuses a write: exit 5 in one line naming BROKER_HOME.

Before (hostile probe, 2026-12-07, session 20): with BROKER_HOME on a full disk the line
was `cannot write the output: the disk is full`, no path (the README promises it), while
the other folder the command writes, BROKER_CACHE_DIR, may be on another disk. A real
process under a file size limit (EFBIG: the same path through the code as ENOSPC).
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from auditstream.broker.settings import BrokerSettings

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_broker_start_names_broker_home_it_cannot_write(tmp_path: Path) -> None:
    if not (BrokerSettings().libs_dir / ".complete").exists():
        pytest.skip("the Kafka jars are not in the cache (make test fetches them)")

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))

    home = tmp_path / "bk"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BROKER_HOME": str(home),
           "BROKER_PORT": str(_free_port()), "BROKER_CONTROLLER_PORT": str(_free_port())}
    done = subprocess.run([sys.executable, "-m", "auditstream", "broker", "start"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                          check=False, preexec_fn=limited)
    assert done.returncode == 5, done.stderr[-800:]
    assert done.stderr.strip().splitlines()[-1] == (
        f"auditstream broker: error: cannot write {home}: the file is larger than the file "
        "system or a limit (ulimit -f) allows; BROKER_HOME: the broker not started; raise the "
        "limit or choose another folder, then run again")
    assert not (home / "broker.pid").exists()
