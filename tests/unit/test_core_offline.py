"""Offline scoring emulates P keyed partitions exactly; `auditstream score` writes the exports."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from auditstream.cli import main
from detector.core.engine import PartitionEngine
from detector.offline import score_batches, score_transactions
from shared.csv_io import write_transactions_csv
from shared.partitioning import partition_for
from shared.schemas import Transaction
from tests.scored_days import read_scored
from tests.unit.test_core_engine import FAST, stream, verdicts


@pytest.fixture(scope="module")
def rows() -> list[Transaction]:
    return stream(n=900, customers=30, seed=5)


def test_rows_come_back_in_stable_timestamp_order_whatever_the_input_order(
    rows: list[Transaction],
) -> None:
    shuffled = list(reversed(rows))
    tied = sorted(shuffled, key=lambda r: r.timestamp)  # stable: reversed ties stay reversed
    out = score_transactions(shuffled, FAST)
    assert [r.transaction_id for r in out] == [r.transaction_id for r in tied]


@pytest.mark.parametrize("partitions", [1, 3])
def test_each_partition_gets_its_own_engine_fed_as_kafka_would(
    rows: list[Transaction], partitions: int
) -> None:
    out = score_transactions(rows, FAST, partitions=partitions)
    by_partition: dict[int, list[Transaction]] = defaultdict(list)
    for tx in rows:
        by_partition[partition_for(tx.customer_id, partitions)].append(tx)
    for p, txs in by_partition.items():
        mine = [r for r in out if r.source_partition == p]
        assert [r.source_offset for r in mine] == list(range(len(txs)))
        assert verdicts(mine) == verdicts(PartitionEngine(FAST).process(txs))
    assert {r.source_partition for r in out} == set(by_partition)


@pytest.mark.parametrize("delay", [0, 60])
def test_how_the_stream_is_cut_into_batches_changes_no_byte(
    rows: list[Transaction], delay: int,
) -> None:
    """The streaming detector gets whatever batches Kafka gives; `score` cuts its stream
    into `BATCH` rows: every field of every row is the same for any cut (models fitted in
    the background included: `delay`)."""
    cfg = FAST.model_copy(update={"refit_delay": delay})
    ordered = sorted(rows, key=lambda r: r.timestamp)
    whole = [r.model_dump() for r in score_transactions(rows, cfg, partitions=3)]
    for batch in (1, 7, 250):
        cut = [r.model_dump() for b in score_batches(ordered, cfg, partitions=3, batch=batch)
               for r in b]
        assert cut == whole
    assert any(r["model_score"] is not None for r in whole)


def test_score_command_writes_every_row_once_and_keeps_bad_rows(
    rows: list[Transaction], tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    write_transactions_csv(rows, source)
    with source.open("a", encoding="utf-8") as fh:
        fh.write("bad,c1,not-a-date,1.0,CH,app,mobile,grocery,,False,normal\n")
    out = tmp_path / "exports"
    # 1 = ExitCode.ROWS_REJECTED: a row was rejected, the rest scored (as `replay` says it)
    assert main(["score", str(source), "--out", str(out), "--partitions", "2"]) == 1
    scored = read_scored(out).to_dict("records")
    assert sorted(r["transaction_id"] for r in scored) == sorted(r.transaction_id for r in rows)
    assert {r["source_partition"] for r in scored} <= {"0", "1"}
    rejected = (tmp_path / "in.rejects.csv").read_text(encoding="utf-8")  # as replay writes
    assert "not-a-date" in rejected and "timestamp" in rejected


def test_score_command_refuses_a_missing_file(tmp_path: Path) -> None:
    assert main(["score", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")]) == 2


def test_the_core_and_offline_scoring_never_import_a_kafka_client() -> None:
    import subprocess
    import sys

    code = ("import sys, detector.core, detector.offline; "
            "sys.exit('confluent_kafka' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_only_partitions_that_get_rows_get_an_engine(
    rows: list[Transaction], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`score --partitions 1000000` used to build a million engines before the first row
    (3 GB at 20,000: an out-of-memory kill, no message); the rows of 30 customers need at
    most 30, and the outputs are those of the partitions they fall in."""
    import detector.offline as offline
    made: list[int] = []

    class Counting(PartitionEngine):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            made.append(self.partition if self.partition is not None else -1)
            assert len(made) <= 1000, "an engine for every partition, used or not"

    monkeypatch.setattr(offline, "PartitionEngine", Counting)
    partitions = 1_000_000
    out = score_transactions(rows[:300], FAST, partitions=partitions)
    used = {partition_for(tx.customer_id, partitions) for tx in rows[:300]}
    assert sorted(made) == sorted(used) and len(used) <= 30
    assert {r.source_partition for r in out} == used
    by_partition: dict[int, list[Transaction]] = defaultdict(list)
    for tx in sorted(rows[:300], key=lambda r: r.timestamp):
        by_partition[partition_for(tx.customer_id, partitions)].append(tx)
    for p, txs in by_partition.items():
        mine = [r for r in out if r.source_partition == p]
        assert verdicts(mine) == verdicts(PartitionEngine(FAST).process(txs))
