"""A file the disk refuses is named in `generate`'s and `dashboard build|report|sample`'s line.

Before (hostile probe, 2026-12-07, session 20): on a full disk (or past `ulimit -f`) each
said `cannot write the output: the disk is full`, no path, where the README promises the
path on the line: a failed write names no file, and no caller named it. Real processes
under a file size limit (EFBIG: the same path through the code as ENOSPC).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EFBIG = "the file is larger than the file system or a limit (ulimit -f) allows"
TODO = "raise the limit or choose another folder, then run again"
GENERATE = ["generate", "--customers", "50", "--days", "30"]


def _run(cwd: Path, limit: int, *args: str) -> subprocess.CompletedProcess[str]:
    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUDITSTREAM_CORE": "python",
           "EXPORTS_SAMPLE_KEY": "k" * 16}
    return subprocess.run([sys.executable, "-m", "auditstream", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False,
                          preexec_fn=limited)


@pytest.mark.parametrize(("args", "named"), [
    ([*GENERATE, "--out", "g.csv"], "g.csv"),
    ([*GENERATE, "--mix", "extended", "--changes-out", "ch.csv", "--out", "g.csv"], "ch.csv"),
])
def test_generate_names_the_file_it_cannot_write(
    tmp_path: Path, args: list[str], named: str
) -> None:
    done = _run(tmp_path, 100 if named == "ch.csv" else 100_000, *args)
    assert done.returncode == 5, done.stderr[-800:]
    assert done.stderr.strip().splitlines()[-1] == (
        f"auditstream generate: error: cannot write {named}: {EFBIG}; nothing written; {TODO}")
    assert list(tmp_path.iterdir()) == []


def test_dashboard_report_names_the_report(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text(
        "transaction_id,customer_id,timestamp,amount,country,channel,device,"
        "merchant_category,ip,is_anomaly,anomaly_type\n"
        + "".join(f"t{i},c{i % 3},2025-01-01 10:{i:02d}:00,{10 + i},CH,app,pc,food,,False,"
                  "normal\n" for i in range(30)), encoding="utf-8")
    assert _run(tmp_path, 10**8, "score", "in.csv", "--out", "e").returncode == 0
    before = (tmp_path / "e" / "report.html").read_bytes()
    done = _run(tmp_path, 50_000, "dashboard", "report", "e")
    assert done.returncode == 5, done.stderr[-800:]
    assert done.stderr.strip().splitlines()[-1] == (
        f"auditstream dashboard: error: cannot write e/report.html: {EFBIG}; the report as it "
        f"was; {TODO}")
    assert (tmp_path / "e" / "report.html").read_bytes() == before


def test_dashboard_sample_names_its_folder(tmp_path: Path) -> None:
    done = _run(tmp_path, 20_000, "dashboard", "sample", "s", "--synthetic", "--rows", "3000")
    assert done.returncode == 5, done.stderr[-800:]
    assert done.stderr.strip().splitlines()[-1].startswith(
        f"auditstream dashboard: error: cannot write s: {EFBIG}; ")


def test_dashboard_build_names_its_folder(tmp_path: Path) -> None:
    (tmp_path / "bp").mkdir()
    done = _run(tmp_path, 2_000, "dashboard", "build", "--out", "bp", "--no-pbix")
    assert done.returncode == 5, done.stderr[-800:]
    assert done.stderr.strip().splitlines()[-1] == (
        f"auditstream dashboard: error: cannot write bp: {EFBIG}; {TODO}")
