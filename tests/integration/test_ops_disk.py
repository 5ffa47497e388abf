"""A full or read-only disk under the sink and `score`: exit 5, one line, nothing half-written,
and once the disk is writable again the sink continues exactly once.

Real file systems, not mocks: a tmpfs of a few hundred KiB fills up for ENOSPC, and the same
tmpfs remounted read-only gives EROFS (root ignores mode bits, so chmod would prove
nothing). Mounting needs root; without it the tests skip, except under CI where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditstream.cli import main
from shared.csv_io import write_transactions_csv
from shared.kafka import TopicSpec, ensure_topics
from shared.settings import KafkaSettings
from sink import days as dy
from sink.state import STATE_FILE
from tests.ci import unavailable
from tests.integration.test_sink_kafka import _produce
from tests.scored_days import scored_lines
from tests.unit.test_core_engine import stream
from tests.unit.test_rollup_pandas import random_scored

ROOT = Path(__file__).resolve().parents[2]
ROWS = 3_000  # about 500 KB of day files


class TinyDisk:
    """A tmpfs mounted at `path`; `resize` and `read_only` remount it in place."""

    def __init__(self, path: Path, size: str) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                        str(path)], check=True, capture_output=True)

    def remount(self, options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(self.path)], check=True,
                       capture_output=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[TinyDisk]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        unavailable("the disk-failure tests need root to mount a tmpfs")
    disk = TinyDisk(tmp_path / "disk", "384k")
    try:
        yield disk
    finally:
        disk.unmount()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".*.tmp"))


def _one_error_line(done: subprocess.CompletedProcess[str], prog: str, words: str) -> str:
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [ln for ln in done.stderr.splitlines() if ": error: " in ln]
    assert len(errors) == 1, done.stderr[-3000:]
    # the sink names the variable that gave the folder (shared/entry.py's paths_named)
    assert errors[0].startswith(f"{prog}: error: SINK_EXPORTS_DIR: cannot write "), errors[0]
    assert words in errors[0], errors[0]
    return errors[0]


def _sink(kafka: KafkaSettings, topic: str, folder: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
           "AUDITSTREAM_SCORED_TOPIC": topic, "AUDITSTREAM_PARTITIONS": "3",
           "SINK_EXPORTS_DIR": str(folder), "SINK_GROUP_ID": f"{topic}-{folder.name}",
           "SINK_BATCH_SIZE": "300", "SINK_CHECKPOINT_ROWS": "500"}
    return subprocess.run([sys.executable, "-m", "sink", "--once"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180, check=False)


def _rows(folder: Path) -> list[str]:
    return scored_lines(folder)


@pytest.mark.integration
def test_sink_on_a_full_then_read_only_disk_exits_5_and_resumes_exactly_once(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path, tiny_disk: TinyDisk
) -> None:
    ensure_topics(kafka, [TopicSpec(topic_name, partitions=3)])
    _produce(kafka, topic_name, random_scored(ROWS, seed=71), per_txn=1_000)
    reference = tmp_path / "reference"
    assert _sink(kafka, topic_name, reference).returncode == 0
    folder = tiny_disk.path

    full = _sink(kafka, topic_name, folder)
    assert full.returncode == 5, full.stderr[-3000:]  # ExitCode.OUTPUT_UNWRITABLE
    line = _one_error_line(full, "python -m sink", "the disk is full")
    assert "restart continues" in line
    assert _leftovers(folder) == []
    state = json.loads((folder / STATE_FILE).read_text())  # whole, and behind the files
    kept = {n: v for n, v in state["lengths"].items() if dy.day_of(n)}
    assert kept and all(0 < v <= (folder / n).stat().st_size for n, v in kept.items())
    assert 0 < sum(state["offsets"].values()) < ROWS  # it failed mid-stream

    tiny_disk.remount("ro")
    read_only = _sink(kafka, topic_name, folder)
    assert read_only.returncode == 5
    _one_error_line(read_only, "python -m sink", "read-only")

    tiny_disk.remount("rw,size=16m")  # the disk frees again: continue where it stopped
    again = _sink(kafka, topic_name, folder)
    assert again.returncode == 0, again.stderr[-3000:]
    rows, expected = _rows(folder), _rows(reference)
    assert len(rows) == ROWS
    assert sorted(rows) == sorted(expected)  # each row once, content equal
    for name in ("thresholds.csv", "metrics_by_type.csv", "confusion_matrix.csv"):
        assert (folder / name).read_bytes() == (reference / name).read_bytes(), name
    assert json.loads((folder / "run.json").read_text())["rows"] == ROWS
    assert _leftovers(folder) == []


def test_score_on_a_read_only_or_full_disk_exits_5_and_leaves_whole_files(
    tmp_path: Path, tiny_disk: TinyDisk, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.csv"
    write_transactions_csv(stream(n=200, customers=10, seed=9), source)
    out = tiny_disk.path / "ex"
    tiny_disk.remount("rw,size=1m")  # report.html, the rows and their 90 day files fit once
    assert main(["score", str(source), "--out", str(out)]) == 0
    before = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
              if p.is_file()}
    assert any(name.startswith("scored/") for name in before)

    tiny_disk.remount("ro")
    assert main(["score", str(source), "--out", str(out)]) == 5
    err = capsys.readouterr().err
    assert err.startswith("auditstream score: error: cannot write ") and "read-only" in err
    assert err.count("\n") == 1

    tiny_disk.remount("rw")
    big = tmp_path / "big.csv"
    write_transactions_csv(stream(n=4_000, customers=50, seed=10), big)  # ~700 KB of output
    assert main(["score", str(big), "--out", str(out)]) == 5
    err = capsys.readouterr().err
    assert "the disk is full" in err and err.count("\n") == 1 and "Traceback" not in err
    assert _leftovers(out) == [] and _leftovers(out / "scored") == []
    after = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
             if p.is_file()}
    assert after.keys() == before.keys()
    assert main(["score", str(big), "--out", str(tmp_path / "ref")]) == 0  # a roomy disk
    days = [k for k in after if k.startswith("scored/")]
    assert days
    for day in days:  # each day file whole: the earlier run's, or this run's complete day
        assert after[day] in (before[day], (tmp_path / "ref" / day).read_bytes()), day
