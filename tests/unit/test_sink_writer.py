"""The sink's file side without a broker: checkpoints, torn tails, redeliveries, bad records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditstream.report import count_scored_csv
from shared.codec import encode
from sink.offline import write_exports
from sink.settings import ExportSettings
from sink.state import STATE_FILE, SinkStateError
from sink.writer import REJECTED_FILE, Record, SinkWriter
from tests.unit.test_rollup_pandas import assert_rollups_match_pandas, random_scored

TOPIC = "transactions.scored"


def _records(n: int, seed: int = 1) -> list[Record]:
    rows = random_scored(n, seed=seed)
    return [(i % 2, i // 2, encode(tx)) for i, tx in enumerate(rows)]


def _files(folder: Path) -> dict[str, bytes]:
    names = ("transactions_scored.csv", "thresholds.csv", "metrics_by_type.csv",
             "confusion_matrix.csv", "cases.csv")
    return {n: (folder / n).read_bytes() for n in names}


def test_a_crash_after_a_checkpoint_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    records = _records(1_200)
    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    w = SinkWriter(clean, TOPIC, ExportSettings())
    w.add(records)
    w.checkpoint()
    w.write_rollups(report=False)
    w.close()

    w = SinkWriter(crashed, TOPIC, ExportSettings())
    w.add(records[:500])
    w.checkpoint()
    w.add(records[500:800])  # appended but never checkpointed...
    w._scored.write(b"9999,torn half ro")  # ...and a torn write, then kill -9
    w._scored.flush()
    del w
    w = SinkWriter(crashed, TOPIC, ExportSettings())
    assert w.rows == 500
    resume = w.offsets
    w.add([r for r in records if r[1] >= resume.get(r[0], 0)])
    w.checkpoint()
    w.write_rollups(report=False)
    w.close()
    assert _files(crashed) == _files(clean)
    assert_rollups_match_pandas(crashed, ExportSettings())


def test_redelivered_offsets_are_not_appended_twice(tmp_path: Path) -> None:
    records = _records(300)
    w = SinkWriter(tmp_path, TOPIC, ExportSettings())
    assert w.add(records[:200]) == 200
    assert w.add(records[100:]) == 100
    w.checkpoint()
    w.close()
    lines = (tmp_path / "transactions_scored.csv").read_text().splitlines()
    assert len(lines) == 301


def test_sink_and_offline_exports_are_identical(tmp_path: Path) -> None:
    rows = random_scored(700, seed=5)
    write_exports(rows, tmp_path / "offline")
    w = SinkWriter(tmp_path / "sink", TOPIC, ExportSettings())
    w.add([(0, i, encode(tx)) for i, tx in enumerate(rows)])
    w.checkpoint()
    w.write_rollups(report=False)
    w.close()
    assert _files(tmp_path / "sink") == _files(tmp_path / "offline")


def test_invalid_messages_are_kept_with_their_reason_and_the_stream_goes_on(
    tmp_path: Path,
) -> None:
    good = _records(3)
    bad: list[Record] = [(0, 10, b"{not json"), (0, 11, None), (1, 12, b"\xff\xfe"),
                         (1, 13, b'{"transaction_id": "x"}')]
    w = SinkWriter(tmp_path, TOPIC, ExportSettings())
    assert w.add([*good, *bad]) == 3
    w.checkpoint()
    w.close()
    kept = [json.loads(line) for line in (tmp_path / REJECTED_FILE).read_text().splitlines()]
    assert [(k["partition"], k["offset"]) for k in kept] == [(0, 10), (0, 11), (1, 12), (1, 13)]
    assert kept[0]["value"] == "{not json" and "value_base64" in kept[2]
    assert "customer_id" in kept[3]["error"]
    state = json.loads((tmp_path / STATE_FILE).read_text())
    assert state["rejected"] == 4 and state["offsets"] == {"0": 12, "1": 14}


def test_a_folder_with_foreign_rows_and_no_checkpoint_is_refused(tmp_path: Path) -> None:
    write_exports(random_scored(5, seed=2), tmp_path)
    with pytest.raises(SinkStateError, match="no sink checkpoint"):
        SinkWriter(tmp_path, TOPIC, ExportSettings())
    w = SinkWriter(tmp_path, TOPIC, ExportSettings(), reset=True)
    assert w.rows == 0
    w.close()


def test_a_file_shorter_than_its_checkpoint_is_an_error_not_a_silent_gap(tmp_path: Path) -> None:
    w = SinkWriter(tmp_path, TOPIC, ExportSettings())
    w.add(_records(50))
    w.checkpoint()
    w.close()
    path = tmp_path / "transactions_scored.csv"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(SinkStateError, match="changed outside the sink"):
        SinkWriter(tmp_path, TOPIC, ExportSettings())


def test_another_topic_in_the_same_folder_is_refused(tmp_path: Path) -> None:
    SinkWriter(tmp_path, TOPIC, ExportSettings()).close()
    with pytest.raises(SinkStateError, match="not 'other'"):
        SinkWriter(tmp_path, "other", ExportSettings())


def test_a_folder_written_with_other_columns_is_refused(tmp_path: Path) -> None:
    SinkWriter(tmp_path, TOPIC, ExportSettings()).close()
    state = json.loads((tmp_path / STATE_FILE).read_text())
    state["extra"]["columns"] = ["transaction_id", "score"]
    (tmp_path / STATE_FILE).write_text(json.dumps(state))
    with pytest.raises(SinkStateError, match="other columns"):
        SinkWriter(tmp_path, TOPIC, ExportSettings())


def test_worker_processes_write_exactly_what_the_sink_writes_alone(tmp_path: Path) -> None:
    records = [*_records(4_000), (0, 2_000, b"{broken"), (1, 2_000, None)]
    for name, workers in (("alone", 0), ("workers", 2)):
        w = SinkWriter(tmp_path / name, TOPIC, ExportSettings(top_cases=20), workers=workers)
        try:
            assert w.add(records[:2_500]) + w.add(records[2_500:]) == 4_000
            w.checkpoint()
            w.write_rollups(report=False)
        finally:
            w.close()
    assert _files(tmp_path / "workers") == _files(tmp_path / "alone")
    rejected = [(tmp_path / d / REJECTED_FILE).read_bytes() for d in ("alone", "workers")]
    assert rejected[0] == rejected[1] and rejected[0].count(b"\n") == 2
    state = [json.loads((tmp_path / d / STATE_FILE).read_text()) for d in ("alone", "workers")]
    assert state[0]["rollup"] == state[1]["rollup"] and state[0]["offsets"] == state[1]["offsets"]


def _cubes_after_restart(folder: Path, records: list[Record], drop_volume: bool) -> object:
    w = SinkWriter(folder, TOPIC, ExportSettings())
    w.add(records[:700])
    w.checkpoint()
    w.close()
    if drop_volume:  # a checkpoint written before the sink kept the report's counts
        state = json.loads((folder / STATE_FILE).read_text())
        del state["rollup"]["volume"]
        (folder / STATE_FILE).write_text(json.dumps(state))
    w = SinkWriter(folder, TOPIC, ExportSettings())
    w.add(records[700:])
    w.checkpoint()
    fed: list[object] = []
    w.on_rollup = lambda rollups, _folder: fed.append(rollups.state.volume.cubes())
    w.write_rollups()
    w.close()
    assert len(fed) == 1
    return fed[0]


@pytest.mark.parametrize("drop_volume", [False, True])
def test_report_counts_survive_a_restart_and_equal_the_files_rows(
    tmp_path: Path, drop_volume: bool
) -> None:
    folder = tmp_path / "exports"
    cubes = _cubes_after_restart(folder, _records(1_200), drop_volume)
    counts = count_scored_csv(folder / "transactions_scored.csv")
    assert counts is not None and counts.rows == 1_200
    assert cubes == counts.cubes()


def test_the_listener_gets_the_counts_and_a_failing_one_does_not_stop_the_sink(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(state: object, folder: Path) -> None:
        raise RuntimeError("report renderer bug")

    w = SinkWriter(tmp_path, TOPIC, ExportSettings(), on_rollup=broken)
    w.add(_records(100))
    w.checkpoint()
    run = w.write_rollups()
    w.close()
    assert run["rows"] == 100 and (tmp_path / "thresholds.csv").exists()
    assert "the rollup listener failed" in caplog.text
