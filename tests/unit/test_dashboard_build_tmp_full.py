"""`dashboard build` whose temporary folder refuses a write: exit 5 in one line naming it.

pbix-mcp builds the .pbix in TMPDIR and answers a failed step with its message and the
Python traceback it caught. Before (hostile probe, 2026-12-07, session 20): with TMPDIR on
a full disk, or past `ulimit -f`, the command printed `error: open: database or disk is
full`, the library's traceback under it, and exited 2 ("bad usage") for a full disk.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from dashboard import pbix
from shared.errors import OutputError

ROOT = Path(__file__).resolve().parents[2]
TRACE = ("\nTraceback (most recent call last):\n  File \"server.py\", line 1, in open\n"
         "sqlite3.OperationalError: {}\n")


@pytest.mark.parametrize("words", ["database or disk is full", "disk I/O error",
                                   "[Errno 28] No space left on device",
                                   "[Errno 27] File too large"])
def test_a_step_the_disk_refused_is_an_output_error_naming_tmpdir(words: str) -> None:
    reply = json.dumps({"success": False, "message": words + TRACE.format(words)})
    with pytest.raises(OutputError) as caught:
        pbix._check(reply, "open")
    assert str(caught.value) == (
        f"cannot write {tempfile.gettempdir()} (TMPDIR, where the .pbix is built): "
        f"open: {words}; free space on it or set TMPDIR to another folder, then run again")


def test_another_refused_step_is_one_line_without_the_traceback() -> None:
    reply = json.dumps({"success": False, "message": "no table 'x'" + TRACE.format("x")})
    with pytest.raises(pbix.DashboardBuildError) as caught:
        pbix._check(reply, "load x")
    assert str(caught.value) == "load x: no table 'x'"


def test_dashboard_build_past_a_file_size_limit_exits_5_in_one_line(tmp_path: Path) -> None:
    def limited() -> None:
        # past every PBIP file (the largest ~30 KB), under the .pbix built in TMPDIR
        resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))

    (tmp_path / "bp").mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "auditstream", "dashboard", "build", "--out", "bp"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
        preexec_fn=limited)
    assert done.returncode == 5, done.stderr[-800:]
    assert done.stderr.strip().splitlines() == [
        f"auditstream dashboard: error: cannot write {tmp_path} (TMPDIR, where the .pbix is "
        "built): open: disk I/O error; free space on it or set TMPDIR to another folder, "
        "then run again"]
    assert not (tmp_path / "bp" / "dashboard_anomalies.pbix").exists()
