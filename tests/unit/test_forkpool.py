"""The one fork helper: workers inherit the job, results equal the in-process run byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.offline import score_transactions
from shared import forkpool
from sink import offline
from sink.offline import ExportPipeline, write_exports
from sink.settings import ExportSettings
from tests.unit.test_core_engine import FAST, stream
from tests.unit.test_rollup_pandas import random_scored

pytestmark = pytest.mark.skipif(not forkpool.can_fork(), reason="needs fork")


def _square_of_job(i: int) -> int:
    job: list[int] = forkpool.current_job()
    return job[i] ** 2


def test_pool_workers_read_the_job_and_it_is_released_after() -> None:
    with forkpool.pool([1, 2, 3], 2) as pool:
        assert pool.map(_square_of_job, [0, 1, 2]) == [1, 4, 9]
    with pytest.raises(RuntimeError, match="outside a forked worker"):
        forkpool.current_job()


def test_one_forked_call_returns_its_value() -> None:
    running = forkpool.start([5, 6], _square_of_job, 1)
    assert running.result() == 36
    with pytest.raises(RuntimeError):
        forkpool.current_job()


def test_usable_cores_is_at_least_one() -> None:
    assert forkpool.usable_cores() >= 1


def test_offline_scoring_in_workers_equals_scoring_in_one_process() -> None:
    rows = stream(n=900, customers=30, seed=5)
    one = score_transactions(rows, FAST, partitions=4, workers=1)
    two = score_transactions(rows, FAST, partitions=4, workers=2)
    assert two == one


def _files(folder: Path) -> dict[str, bytes]:
    skip = {"run.json", "status.csv"}  # hold the time they were written
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in skip}


def test_exports_formatted_by_a_worker_are_byte_identical(tmp_path: Path) -> None:
    rows = random_scored(3_000, seed=7)
    write_exports(rows, tmp_path / "one", workers=1)
    write_exports(rows, tmp_path / "two", workers=2)
    assert _files(tmp_path / "two") == _files(tmp_path / "one")


def test_export_pipeline_formatting_while_scoring_is_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = random_scored(3_000, seed=8)
    write_exports(rows, tmp_path / "one", workers=1)
    monkeypatch.setattr(offline, "CHUNK", 500)
    pipeline = ExportPipeline(tmp_path / "two", ExportSettings())
    pipeline._enabled = True  # also on a one-core machine
    for n in range(500, len(rows) + 1, 700):
        pipeline.ready(rows, n)
    pipeline.finish(rows)
    assert _files(tmp_path / "two") == _files(tmp_path / "one")
