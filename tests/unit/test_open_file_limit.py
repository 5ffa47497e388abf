"""An open-file limit too low for the command (`ulimit -n`, a container's or a service's
`LimitNOFILE`; hostile probe, 2026-12-06, fourteenth): `score` keeps its input, a few day
files and, sorting, up to 64 runs open (`auditstream.sorted_input.FAN_IN`). Under 10 it was
a traceback and exit 70, "a bug"; under 12 to 20 exit 5 advising to "choose a folder you can
write to", which no folder mends. Now one line naming the limit to raise, exit 5."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from shared.csv_io import write_transactions_csv
from shared.errors import ExitCode
from tests.unit.test_core_engine import stream


def _limited(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


@pytest.mark.parametrize("limit", [9, 10, 12])
def test_an_open_file_limit_too_low_is_one_line_naming_it(tmp_path: Path, limit: int) -> None:
    source = tmp_path / "in.csv"
    write_transactions_csv(stream(n=400, customers=5, seed=2), source)
    done = subprocess.run(
        [sys.executable, "-m", "auditstream", "score", str(source), "--out",
         str(tmp_path / "out")], capture_output=True, text=True, timeout=300, check=False,
        preexec_fn=lambda: _limited(limit))
    lines = [x for x in done.stderr.splitlines() if "WARNING" not in x]
    assert (done.returncode, len(lines)) == (ExitCode.OUTPUT_UNWRITABLE, 1), done.stderr[-2000:]
    assert "too many open files" in lines[0] and "ulimit -n" in lines[0], lines[0]
    assert "choose a folder" not in lines[0]
