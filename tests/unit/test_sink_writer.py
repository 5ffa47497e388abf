"""The sink's file side without a broker: checkpoints, torn tails, redeliveries, bad records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditstream.report import count_scored_csv
from shared.codec import encode
from sink import days as dy
from sink.exports import SCORED_FILE
from sink.offline import write_exports
from sink.settings import ExportSettings
from sink.state import STATE_FILE, SinkStateError
from sink.writer import REJECTED_FILE, Record, SinkWriter
from tests.scored_days import scored_lines
from tests.unit.test_rollup_pandas import assert_rollups_match_pandas, random_scored

TOPIC = "transactions.scored"


def _records(n: int, seed: int = 1) -> list[Record]:
    rows = random_scored(n, seed=seed)
    return [(i % 2, i // 2, encode(tx)) for i, tx in enumerate(rows)]


def _files(folder: Path) -> dict[str, bytes]:
    """The day files, the rollup tables and transactions_scored.csv if written."""
    names = ("thresholds.csv", "metrics_by_type.csv", "confusion_matrix.csv", "cases.csv")
    files = {n: (folder / n).read_bytes() for n in names}
    files.update({f"scored/{p.name}": p.read_bytes() for p in dy.day_files(folder)})
    if (folder / SCORED_FILE).exists():
        files[SCORED_FILE] = (folder / SCORED_FILE).read_bytes()
    return files


@pytest.mark.parametrize("single_file", [False, True])
def test_a_crash_after_a_checkpoint_loses_and_duplicates_nothing(
    tmp_path: Path, single_file: bool
) -> None:
    records = _records(1_200)
    settings = ExportSettings(single_file=single_file)
    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    w = SinkWriter(clean, TOPIC, settings)
    w.add(records)
    w.checkpoint()
    w.write_rollups(report=False)
    w.close()
    assert (SCORED_FILE in _files(clean)) == single_file

    w = SinkWriter(crashed, TOPIC, settings)
    w.add(records[:500])
    w.checkpoint()
    w.add(records[500:800])  # appended but never checkpointed...
    w._days.sync()
    if w._scored is not None:
        w._scored.flush()
    for path in [dy.day_files(crashed)[-1], *([crashed / SCORED_FILE] * single_file)]:
        with open(path, "ab") as fh:
            fh.write(b"9999,torn half ro")  # ...and a torn write, then kill -9
    del w
    w = SinkWriter(crashed, TOPIC, settings)
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
    assert len(scored_lines(tmp_path)) == 300


@pytest.mark.parametrize("single_file", [False, True])
def test_sink_and_offline_exports_are_identical(tmp_path: Path, single_file: bool) -> None:
    rows = random_scored(700, seed=5)
    settings = ExportSettings(single_file=single_file)
    write_exports(rows, tmp_path / "offline", settings)
    w = SinkWriter(tmp_path / "sink", TOPIC, settings)
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
    path = dy.day_files(tmp_path)[-1]
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(SinkStateError, match="changed outside the sink"):
        SinkWriter(tmp_path, TOPIC, ExportSettings())


def test_a_day_file_deleted_while_the_sink_was_stopped_is_refused_then_reset(
        tmp_path: Path) -> None:
    # A user tidying scored/ (randomized soak, `damage_day_file`): named, never a silent gap.
    w = SinkWriter(tmp_path, TOPIC, ExportSettings())
    w.add(_records(50))
    w.checkpoint()
    w.close()
    path = dy.day_files(tmp_path)[0]
    path.unlink()
    with pytest.raises(SinkStateError, match=f"{path.name} has 0 bytes but the checkpoint "
                                             "recorded [0-9]+: .* start again with --reset"):
        SinkWriter(tmp_path, TOPIC, ExportSettings())
    w = SinkWriter(tmp_path, TOPIC, ExportSettings(), reset=True)
    assert w.rows == 0 and dy.day_files(tmp_path) == []
    w.close()


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
    counts = count_scored_csv(*dy.day_files(folder))
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


def test_the_single_file_is_off_by_default_and_a_copy_when_on(tmp_path: Path) -> None:
    assert ExportSettings().single_file is False
    records = _records(400)
    w = SinkWriter(tmp_path / "off", TOPIC, ExportSettings())
    w.add(records)
    w.checkpoint()
    w.close()
    assert not (tmp_path / "off" / SCORED_FILE).exists()
    state = json.loads((tmp_path / "off" / STATE_FILE).read_text())
    assert SCORED_FILE not in state["lengths"] and state["extra"]["single_file"] is False
    w = SinkWriter(tmp_path / "on", TOPIC, ExportSettings(single_file=True))
    w.add(records)
    w.checkpoint()
    w.close()
    single = (tmp_path / "on" / SCORED_FILE).read_text().splitlines()
    assert sorted(single[1:]) == sorted(scored_lines(tmp_path / "on"))  # the same rows
    assert scored_lines(tmp_path / "on") == scored_lines(tmp_path / "off")


def test_turning_the_single_file_off_removes_it_and_on_again_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    records = _records(600)
    w = SinkWriter(tmp_path, TOPIC, ExportSettings(single_file=True))
    w.add(records[:300])
    w.checkpoint()
    w.close()
    assert (tmp_path / SCORED_FILE).exists()
    w = SinkWriter(tmp_path, TOPIC, ExportSettings())  # the new default
    assert not (tmp_path / SCORED_FILE).exists()  # a stale copy would mislead its readers
    assert "EXPORTS_SINGLE_FILE is off" in caplog.text
    w.add(records)
    w.checkpoint()
    w.close()
    assert len(scored_lines(tmp_path)) == 600
    with pytest.raises(SinkStateError, match="would miss its earlier rows"):
        SinkWriter(tmp_path, TOPIC, ExportSettings(single_file=True))
    w = SinkWriter(tmp_path, TOPIC, ExportSettings(single_file=True), reset=True)
    w.close()
    assert (tmp_path / SCORED_FILE).read_text().count("\n") == 1  # the header, rows to come


def test_score_without_the_single_file_removes_an_earlier_runs_copy(tmp_path: Path) -> None:
    rows = random_scored(50, seed=3)
    write_exports(rows, tmp_path, ExportSettings(single_file=True))
    assert (tmp_path / SCORED_FILE).exists()
    write_exports(rows, tmp_path)
    assert not (tmp_path / SCORED_FILE).exists()
    assert len(scored_lines(tmp_path)) == 50
