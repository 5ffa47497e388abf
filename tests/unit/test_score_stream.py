"""`auditstream score` streams its input: the same files, byte for byte, as scoring the whole
input in memory, whether the input is in event-time order (streamed as read) or not (sorted
through runs on disk, the temporary folder removed on error too)."""

from __future__ import annotations

import csv
import json
import random
import tempfile
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditstream import sorted_input
from auditstream.cli import main
from auditstream.report import write_report_from_rollup
from auditstream.sorted_input import OutOfOrder, direct, merged
from detector import offline
from detector.core.config import CoreConfig
from detector.core.engine import PartitionEngine
from shared.csv_io import RowError, load_sorted, write_transactions_csv
from shared.folderlock import LOCK_FILE
from shared.partitioning import partition_for
from shared.rejects import write_rejects
from shared.schemas import ScoredTransaction, Transaction
from sink import offline as offline_exports
from sink.days import STAGING, DayWriter
from sink.offline import ExportWriter, write_exports
from sink.settings import ExportSettings
from tests.unit.test_core_engine import FAST, stream

BAD_ROWS = ("bad1,c1,not-a-date,1.0,CH,app,mobile,grocery,,False,normal\n"
            "x,y\n")


def _reference(txs: list[Transaction], partitions: int, config: CoreConfig,
               ) -> list[ScoredTransaction]:
    """Not through `detector.offline`: each partition's rows (stable time order) in one engine
    call, joined back in time order."""
    ordered = sorted(txs, key=lambda t: t.timestamp)
    routes: dict[int, list[int]] = {}
    for i, tx in enumerate(ordered):
        routes.setdefault(partition_for(tx.customer_id, partitions), []).append(i)
    out: dict[int, ScoredTransaction] = {}
    for p, indices in routes.items():
        scored = PartitionEngine(config, partition=p).process([ordered[i] for i in indices])
        out.update(zip(indices, scored, strict=True))
    return [out[i] for i in range(len(ordered))]


def _files(folder: Path) -> dict[str, bytes]:
    """Every file of an exports folder; the time each run was written (and its status.csv's
    heartbeat, which report.html shows: `shared.freshness`) taken out."""
    written_at = json.loads((folder / "run.json").read_text())["written_at"]
    beat = datetime.fromisoformat(_status_beat(folder))
    times = {written_at: b"WRITTEN_AT", beat.isoformat(): b"HEARTBEAT",
             beat.strftime("%Y-%m-%d %H:%M"): b"HEARTBEAT_MINUTE"}
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name not in {"status.csv", LOCK_FILE}:
            data = path.read_bytes()
            for text, mark in times.items():
                data = data.replace(text.encode(), mark)
            files[path.relative_to(folder).as_posix()] = data
    return files


def _status_beat(folder: Path) -> str:
    with (folder / "status.csv").open(newline="", encoding="utf-8") as fh:
        (row,) = csv.DictReader(fh)
    return row["heartbeat_at"]


def _unsorted(rows: list[Transaction], seed: int) -> list[Transaction]:
    """Shuffled, every 5th row given its neighbour's timestamp (ties)."""
    rows = list(rows)
    for i in range(1, len(rows), 5):
        rows[i] = rows[i].model_copy(update={"timestamp": rows[i - 1].timestamp})
    random.Random(seed).shuffle(rows)
    return rows


@pytest.fixture(scope="module")
def rows() -> list[Transaction]:
    return stream(n=1_500, customers=30, seed=21)


@pytest.mark.parametrize("partitions", [1, 4])
@pytest.mark.parametrize("order", ["sorted", "unsorted", "late"])
def test_score_writes_what_scoring_in_memory_writes(
    rows: list[Transaction], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], partitions: int, order: str,
) -> None:
    """sorted: streamed; unsorted (ties, shuffled): runs on disk, merged in several levels;
    late: in order but one row near the end, found after batches were already exported.
    run.json's rows per model (in order of first use) and the flagged rows said are the
    scored rows'."""
    monkeypatch.setattr(offline, "BATCH", 100)
    monkeypatch.setattr(sorted_input, "RUN_ROWS", 90)  # 17 runs ...
    monkeypatch.setattr(sorted_input, "FAN_IN", 4)  # ... merged in groups first
    if order == "unsorted":
        data = _unsorted(rows, seed=partitions)
    elif order == "late":
        data = [*rows[:-10], rows[-10].model_copy(update={"timestamp": rows[0].timestamp}),
                *rows[-9:]]
    else:
        data = rows
    source = tmp_path / "in.csv"
    write_transactions_csv(data, source)
    with source.open("a", encoding="utf-8") as fh:
        fh.write(BAD_ROWS)
        fh.write(source.read_text().splitlines(keepends=True)[3])  # a repeated id
    monkeypatch.setenv("EXPORTS_SINGLE_FILE", "true")
    monkeypatch.setenv("DETECTOR_CORE__FIRST_FIT_AFTER", str(FAST.first_fit_after))
    monkeypatch.setenv("DETECTOR_CORE__REFIT_EVERY", str(FAST.refit_every))
    monkeypatch.setenv("DETECTOR_CORE__N_TREES", str(FAST.n_trees))
    monkeypatch.setenv("DETECTOR_CORE__SAMPLE_SIZE", str(FAST.sample_size))
    out = tmp_path / "score"
    assert main(["score", str(source), "--out", str(out), "--partitions", str(partitions),
                 "--rejects-dir", str(tmp_path / "rejects")]) == 1

    from detector.settings import DetectorSettings
    from sink.settings import ExportSettings

    config = DetectorSettings().core
    txs, errors = load_sorted([source])
    assert [e.line for e in errors] == [len(data) + 2, len(data) + 3, len(data) + 4]
    scored = _reference(txs, partitions, config)
    run = json.loads((out / "run.json").read_text())
    assert run["rows"] == len(data) and run["rejected_rows"] == 3
    versions = Counter(r.model_version for r in scored)
    assert list(run["model_versions"].items()) == list(versions.items())
    assert len(versions) >= 2  # rules-only, then a fitted model: the order is checked
    flagged = sum(r.is_flag for r in scored)
    assert f"{len(data)} rows scored ({flagged} flagged), 3 rejected" in capsys.readouterr().out
    expected = tmp_path / "memory"
    write_exports(scored, expected, ExportSettings(), on_rollup=write_report_from_rollup,
                  run_info={k: run[k] for k in (
                      "source", "inputs", "input_sha256", "rows", "rejected_rows",
                      "partitions", "core_config", "model_versions")})
    got, want = _files(out), _files(expected)
    assert "transactions_scored.csv" in got and any(k.startswith("scored/") for k in got)
    assert got.keys() == want.keys()
    for name in want:
        assert got[name] == want[name], name
    write_rejects(errors, tmp_path / "want.rejects.csv")
    assert ((tmp_path / "rejects" / "in.rejects.csv").read_bytes()
            == (tmp_path / "want.rejects.csv").read_bytes())


def _csv(path: Path, stamps: list[int], prefix: str = "t") -> Path:
    base = datetime(2025, 1, 1)
    rows = [Transaction(transaction_id=f"{prefix}{i}", customer_id=f"c{i % 3}",
                        timestamp=base + timedelta(seconds=s), amount=1.0, country="CH",
                        channel="app", device="mobile", merchant_category="grocery")
            for i, s in enumerate(stamps)]
    write_transactions_csv(rows, path)
    return path


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stamps=st.lists(st.integers(0, 6), max_size=60), run_rows=st.integers(1, 9),
       fan_in=st.integers(2, 4))
def test_the_external_merge_is_a_stable_sort(stamps: list[int], run_rows: int,
                                             fan_in: int) -> None:
    """Few distinct timestamps (many ties), any run length and fan-in: the rows come out as
    `sorted` (stable) puts them, every field kept."""
    with tempfile.TemporaryDirectory() as tmp:
        a = _csv(Path(tmp) / "a.csv", stamps)
        b = _csv(Path(tmp) / "b.csv", stamps[::-1], prefix="u")
        c = _csv(Path(tmp) / "c.csv", stamps[: len(stamps) // 2])  # a's ids again: rejected
        want, _ = load_sorted([a, b, c])
        errors: list[RowError] = []
        with merged([a, b, c], errors, run_rows=run_rows, fan_in=fan_in) as rows:
            got = list(rows)
        assert [t.__dict__ for t in got] == [t.__dict__ for t in want]
        assert len(got) == 2 * len(stamps)
        assert [(e.source, e.line) for e in errors] == [(str(c), i + 2)
                                                        for i in range(len(stamps) // 2)]


def test_direct_streams_ordered_input_and_stops_at_the_first_earlier_row(
    tmp_path: Path,
) -> None:
    errors: list[RowError] = []
    ok = _csv(tmp_path / "ok.csv", [0, 1, 1, 2])
    assert [t.transaction_id for t in direct([ok], errors)] == ["t0", "t1", "t2", "t3"]
    late = _csv(tmp_path / "late.csv", [0, 2, 1])
    rows = direct([late], errors)
    assert next(rows).transaction_id == "t0" and next(rows).transaction_id == "t1"
    with pytest.raises(OutOfOrder):
        next(rows)
    # Across files too: the second file starts before the first one ends.
    with pytest.raises(OutOfOrder):
        list(direct([ok, _csv(tmp_path / "next.csv", [1], prefix="n")], errors))
    assert errors == []


def test_direct_counts_good_rows_only_and_keeps_bad_ones_in_file_order(tmp_path: Path) -> None:
    """`OutOfOrder.row` is the index among the good rows (a bad row is not one); each bad
    row goes to `errors` with its line, in file order, as it is passed."""
    path = _csv(tmp_path / "in.csv", [0, 5, 6, 3])
    lines = path.read_text().splitlines()
    lines.insert(2, "bad,c1,not a time,1.0,CH,app,mobile,grocery,,,")  # line 3
    lines.insert(4, lines[1])  # line 5: t0 again
    path.write_text("\n".join(lines) + "\n")
    errors: list[RowError] = []
    rows = direct([path], errors)
    assert [next(rows).transaction_id for _ in range(3)] == ["t0", "t1", "t2"]
    assert [e.line for e in errors] == [3, 5]
    with pytest.raises(OutOfOrder) as raised:
        next(rows)
    assert raised.value.row == 3


def test_the_runs_folder_is_removed_on_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    source = _csv(tmp_path / "in.csv", [5, 4, 3, 2, 1, 0] * 5)
    with pytest.raises(RuntimeError, match="boom"), merged([source], [], run_rows=4) as rows:
        next(rows)
        assert len(list((tmp_path / "tmp").glob("auditstream-score-*/run-*"))) == 7
        raise RuntimeError("boom")
    assert list((tmp_path / "tmp").iterdir()) == []
    with merged([source], [], run_rows=4) as rows:
        assert len(list(rows)) == 30
    assert list((tmp_path / "tmp").iterdir()) == []


def test_score_leaves_the_out_folder_as_it_was_when_scoring_fails(
    rows: list[Transaction], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "in.csv"
    write_transactions_csv(rows[:300], source)
    out = tmp_path / "out"
    assert main(["score", str(source), "--out", str(out)]) == 0
    before = _files(out)

    def fail(*_: object, **__: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(PartitionEngine, "verdicts", fail)  # under `process` too
    assert main(["score", str(source), "--out", str(out)]) == 5
    assert _files(out) == before
    assert not [p for p in out.rglob("*") if p.name.startswith(".") and p.name != LOCK_FILE]


@pytest.mark.parametrize("single", [False, True])
def test_exports_left_without_finish_leave_the_folder_as_it_was(
    tmp_path: Path, single: bool
) -> None:
    """Day files closed on the way (32 later days started) stay aside until the run is
    whole: an interrupted or failed run leaves every file of the folder the earlier run's
    (it left the days closed by then new beside the others old: a hostile probe found a
    folder of 150 days 43 new and 107 old, run.json the old run's). With the single file
    too: it is moved in with the day files."""
    settings = ExportSettings(single_file=single)
    rows = _reference(stream(n=400, customers=5, seed=3), 1, FAST)
    assert len({r.timestamp.date() for r in rows}) > DayWriter.MAX_OPEN + 5
    write_exports(rows[:50], tmp_path, settings)
    before = _files(tmp_path)
    assert ("transactions_scored.csv" in before) == single
    with ExportWriter(tmp_path, settings) as exports:
        exports.write(rows)
        assert (tmp_path / STAGING).is_dir()
    assert _files(tmp_path) == before
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]
    write_exports(rows, tmp_path, settings)  # and a whole run replaces it
    assert len([p for p in (tmp_path / "scored").iterdir()]) > len(
        [k for k in before if k.startswith("scored/")])
    if single:
        assert (tmp_path / "transactions_scored.csv").read_bytes().count(b"\n") == len(rows) + 1


@pytest.mark.parametrize("single", [False, True])
def test_a_failure_writing_the_rollups_leaves_the_earlier_scored_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, single: bool
) -> None:
    settings = ExportSettings(single_file=single)
    rows = _reference(stream(n=400, customers=5, seed=3), 1, FAST)
    write_exports(rows[:50], tmp_path, settings)
    single_before = (tmp_path / "transactions_scored.csv").read_bytes() if single else None
    days_before = {k: v for k, v in _files(tmp_path).items() if k.startswith("scored/")}

    def full(*_: object, **__: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(offline_exports, "write_rollups", full)
    with pytest.raises(OSError), ExportWriter(tmp_path, settings) as exports:
        exports.write(rows)
        exports.finish()
    days = {p.relative_to(tmp_path).as_posix(): p.read_bytes()
            for p in (tmp_path / "scored").iterdir()}
    assert days == days_before
    if single:
        assert (tmp_path / "transactions_scored.csv").read_bytes() == single_before
    assert not (tmp_path / STAGING).exists()


def test_a_run_killed_before_its_end_leaves_nothing_the_next_run_keeps(tmp_path: Path) -> None:
    """kill -9 leaves the staging folder (never read: it is not under scored/); the next
    run clears it before writing its own."""
    rows = _reference(stream(n=400, customers=5, seed=3), 1, FAST)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    stale = killed / STAGING / "transactions_scored_1999-01-01.csv"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left by a killed run\n")
    write_exports(rows, clean)
    write_exports(rows, killed)
    assert _files(killed) == _files(clean)
    assert not (killed / STAGING).exists()


def test_a_full_temporary_folder_is_named_not_the_exports_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unsorted input is sorted in runs under TMPDIR: a full TMPDIR was reported as
    "cannot write <--out>: the disk is full", which had room (found by a hostile probe)."""
    import errno
    import pickle

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    source = _csv(tmp_path / "in.csv", [5, 4, 3, 2, 1, 0] * 5)

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pickle, "dump", full)
    monkeypatch.setattr(sorted_input, "RUN_ROWS", 4)
    assert main(["score", str(source), "--out", str(tmp_path / "out")]) == 5
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"auditstream score: error: cannot write {tmp_path / 'tmp'}")
    assert "the disk is full; the input is sorted on disk in the temporary folder (TMPDIR)" in err
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_failure_closing_the_staged_files_leaves_no_staging_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last day files are closed (fsynced) in `finish`: a full disk there stops the run
    with the earlier run's files in place and nothing staged left."""
    rows = _reference(stream(n=400, customers=5, seed=3), 1, FAST)
    write_exports(rows[:50], tmp_path)
    before = _files(tmp_path)

    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError), ExportWriter(tmp_path) as exports:
        exports.write(rows)
        monkeypatch.setattr(DayWriter, "_finish", full)
        exports.finish()
    assert _files(tmp_path) == before
    assert not (tmp_path / STAGING).exists()
