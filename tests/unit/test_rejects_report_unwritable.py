"""A rejects report the disk refuses is named, with what the run did, in the error line.

Before (hostile probe, 2026-12-07, session 20), on a full disk holding only the input (its
report written beside it): `score` said `cannot write OUT: the disk is full` about an
exports folder on another disk that had room (a failed write names no file, so the error
took `--out`'s name), and `replay` and `review import` said `cannot write the output` with
no path at all, `replay` after it had sent every good row (its summary never printed) and
`review import` after it had published the reviews.

The processes here run with a file size limit (`ulimit -f`, EFBIG: the same path through
the code as ENOSPC, a write that names no file) that the exports and day files fit in and
the report, holding twelve rejected rows of a 100,000-character cell each, does not.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import orjson
import pytest

from auditstream.score import AFTER_OUTPUT_ERROR
from producer import replay
from producer.app import PublishReport
from producer.settings import ProducerSettings
from shared.errors import OutputError
from shared.folderlock import LOCK_FILE

ROOT = Path(__file__).resolve().parents[2]
HEADER = ("transaction_id,customer_id,timestamp,amount,country,channel,device,"
          "merchant_category,ip,is_anomaly,anomaly_type\n")
LIMIT = 1_000_000  # bytes a file may take in the child
EFBIG = "the file is larger than the file system or a limit (ulimit -f) allows"
TODO = "raise the limit or choose another folder, then run again"
KEPT = AFTER_OUTPUT_ERROR
BAD = 12  # rejected rows: a report of 1.2 MB
BIG = "9" * 50_000 + "x" * 50_000  # an amount cell that is no number, 100,000 characters


def _rows(n: int, ordered: bool = True) -> str:
    times = [f"2025-01-01 {h:02d}:{m:02d}:00" for h in range(10, 20) for m in range(0, 60, 5)]
    if not ordered:
        times.reverse()
    lines = [f"t{i},c{i % 4},{t},{10 + i},CH,app,pc,food,,False,normal\n"
             for i, t in enumerate(times[:n])]
    bad = "".join(f"b{i},c1,{times[2]},{BIG},CH,app,pc,food,,False,normal\n"
                  for i in range(BAD))
    return HEADER + "".join(lines[:3]) + bad + "".join(lines[3:])


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUDITSTREAM_CORE": "python",
           "EXPORTS_SAMPLE_KEY": "k" * 16, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
           "KAFKA_STARTUP_WAIT_S": "1"}
    return subprocess.run([sys.executable, "-m", "auditstream", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=180, check=False,
                          preexec_fn=_limited)


def _files(folder: Path) -> dict[Path, bytes]:
    """Every file of an exports folder with its bytes (the lock file holds a PID)."""
    return {p: p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != LOCK_FILE}


def _error(done: subprocess.CompletedProcess[str]) -> str:
    return done.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("ordered", [True, False], ids=["streamed", "sorted"])
def test_score_names_the_report_not_the_exports_folder(tmp_path: Path, ordered: bool) -> None:
    (tmp_path / "in.csv").write_text(_rows(40, ordered), encoding="utf-8")
    done = _run(tmp_path, "score", "in.csv", "--out", "out")
    assert done.returncode == 5, done.stderr[-800:]
    assert _error(done) == (
        f"auditstream score: error: cannot write in.rejects.csv: {EFBIG}; {KEPT}; {TODO}")
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_score_with_rejects_dir_keeps_an_earlier_run(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text(_rows(40), encoding="utf-8")
    (tmp_path / "ok.csv").write_text(_rows(40).replace(BIG, "1"), encoding="utf-8")
    assert _run(tmp_path, "score", "ok.csv", "--out", "out").returncode == 0
    before = _files(tmp_path / "out")
    (tmp_path / "rj").mkdir()
    done = _run(tmp_path, "score", "in.csv", "--out", "out", "--rejects-dir", "rj")
    assert done.returncode == 5, done.stderr[-800:]
    assert _error(done) == (
        f"auditstream score: error: cannot write rj/in.rejects.csv: {EFBIG}; {KEPT}; {TODO}")
    assert _files(tmp_path / "out") == before
    assert list((tmp_path / "rj").iterdir()) == []


def test_replay_sorted_names_the_report_before_anything_is_sent(tmp_path: Path) -> None:
    """Rows not in time order are sorted and the report written before Kafka is asked."""
    (tmp_path / "in.csv").write_text(_rows(40, ordered=False), encoding="utf-8")
    done = _run(tmp_path, "replay", "in.csv")
    assert done.returncode == 5, done.stderr[-800:]
    assert _error(done) == (
        f"auditstream replay: error: cannot write in.rejects.csv: {EFBIG}; nothing sent; {TODO}")


def test_replay_streamed_says_the_rows_were_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows in time order are sent as they are read, the report written after: the line
    says they were sent (a re-run sends them again; the detector drops each duplicate)."""
    (tmp_path / "in.csv").write_text(_rows(40), encoding="utf-8")
    sent: list[str] = []

    def publish(records: Iterable[tuple[object, bytes, bytes]], settings: object, total: int,
                pacer: object, progress: object) -> PublishReport:
        sent.extend(orjson.loads(value)["transaction_id"] for _, _, value in records)
        return PublishReport(total=total, sent=len(sent), delivered=len(sent))

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(replay, "publish", publish)
    monkeypatch.setattr("shared.rejects.atomic_text_writer", full)
    with pytest.raises(OutputError) as caught:
        replay.run_replay([tmp_path / "in.csv"], ProducerSettings())
    assert sent == [f"t{i}" for i in range(40)]
    assert str(caught.value) == (
        f"cannot write {tmp_path / 'in.rejects.csv'}: the disk is full; 40 of 40 good rows "
        "sent (a re-run sends them again: the detector drops each as a duplicate "
        "transaction_id); free space on it or choose another folder, then run again")


def test_review_import_dry_run_names_the_report(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text(
        "case_id,outcome,note\nc1,confirmed,ok\n" + f"c2,{BIG},\n" * BAD, encoding="utf-8")
    done = _run(tmp_path, "review", "import", "r.csv", "--no-check", "--dry-run")
    assert done.returncode == 5, done.stderr[-800:]
    assert _error(done) == (
        f"auditstream review: error: cannot write r.rejects.csv: {EFBIG}; nothing published "
        f"(--dry-run); {TODO}")
