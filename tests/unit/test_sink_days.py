"""Scored rows by event day (`scored/transactions_scored_YYYY-MM-DD.csv`), without a broker:
every row once, closed days left alone, late rows recorded, crashes cut back."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from shared.codec import encode
from shared.columns import SCORED_COLUMNS
from shared.schemas import ScoredTransaction
from sink import days as dy
from sink.csvfmt import scored_cells
from sink.exports import SCORED_FILE
from sink.offline import ExportWriter, write_exports
from sink.settings import ExportSettings
from sink.state import STATE_FILE, SinkStateError
from sink.writer import Record, SinkWriter
from tests.unit.test_rollup_pandas import random_scored

TOPIC = "transactions.scored"
ROWS = 8_000  # 37 s apart: about 3.4 days from 2025-01-01


def _records(rows: list[ScoredTransaction], first_offset: int = 0) -> list[Record]:
    return [(i % 2, first_offset + i // 2, encode(tx)) for i, tx in enumerate(rows)]


def _day_frames(folder: Path) -> dict[str, pd.DataFrame]:
    return {dy.day_of(p.name) or "": pd.read_csv(p, dtype=str, keep_default_na=False)
            for p in dy.day_files(folder)}


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in dy.day_files(folder)}


def _sink(folder: Path, batches: list[list[Record]], single_file: bool = False) -> SinkWriter:
    w = SinkWriter(folder, TOPIC, ExportSettings(single_file=single_file))
    for batch in batches:
        w.add(batch)
        w.checkpoint()
    return w


def _expected(rows: list[ScoredTransaction]) -> pd.DataFrame:
    """The rows as the exports hold them (text cells), in stream order."""
    return pd.DataFrame([scored_cells(tx) for tx in rows], columns=list(SCORED_COLUMNS))


def _assert_days_hold_every_row_once(folder: Path, single: pd.DataFrame) -> None:
    """Each day file holds exactly its day's rows of `single` (all rows in stream order),
    in that order."""
    frames = _day_frames(folder)
    assert len(frames) >= 3
    for day, frame in frames.items():
        assert (frame["timestamp"].str[:10] == day).all(), day
        expected = single[single["timestamp"].str[:10] == day].reset_index(drop=True)
        pd.testing.assert_frame_equal(frame, expected)  # content, in stream order
    together = pd.concat(frames.values())
    assert together["transaction_id"].is_unique and len(together) == len(single)


@pytest.mark.parametrize("single_file", [False, True])
def test_day_files_of_a_multi_day_stream_hold_every_row_once(
    tmp_path: Path, single_file: bool
) -> None:
    rows = random_scored(ROWS, seed=3)
    records = _records(rows)
    w = _sink(tmp_path, [records[i:i + 700] for i in range(0, len(records), 700)], single_file)
    w.write_rollups(report=False)
    w.close()
    _assert_days_hold_every_row_once(tmp_path, _expected(rows))
    if single_file:  # the opt-in copy: every row, in stream order
        single = pd.read_csv(tmp_path / SCORED_FILE, dtype=str, keep_default_na=False)
        pd.testing.assert_frame_equal(single, _expected(rows))
    else:
        assert not (tmp_path / SCORED_FILE).exists()
    names = sorted(p.name for p in (tmp_path / "scored").iterdir())
    assert names == [f"transactions_scored_2025-01-0{d}.csv" for d in (1, 2, 3, 4)]
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["late_rows_by_day"] == {}


def test_sink_and_score_write_the_same_day_files(tmp_path: Path) -> None:
    rows = random_scored(ROWS, seed=4)
    (tmp_path / "score" / "scored").mkdir(parents=True)
    stale = tmp_path / "score" / dy.day_file("2024-12-31")  # from an earlier run
    stale.write_text("old\n")
    write_exports(rows, tmp_path / "score")
    with ExportWriter(tmp_path / "score2") as exports:  # in uneven batches, as score streams
        for lo in range(0, len(rows), 113):
            exports.write(rows[lo : lo + 113])
        exports.finish()
    w = _sink(tmp_path / "sink", [_records(rows)])
    w.close()
    assert not stale.exists()
    expected = {p.name: p.read_bytes() for p in dy.day_files(tmp_path / "sink")}
    assert len(expected) == 4
    for other in ("score", "score2"):
        assert {p.name: p.read_bytes() for p in dy.day_files(tmp_path / other)} == expected
    _assert_days_hold_every_row_once(tmp_path / "score", _expected(rows))


def _at(tx: ScoredTransaction, when: datetime, i: int) -> ScoredTransaction:
    return tx.model_copy(update={"timestamp": when, "transaction_id": f"late{i}"})


def test_a_closed_day_never_changes_unless_a_late_row_arrives(tmp_path: Path) -> None:
    rows = random_scored(ROWS, seed=5)
    first, rest = rows[:5_000], rows[5_000:]  # 5,000 rows reach 2025-01-03 03:23
    w = _sink(tmp_path, [_records(first)])
    closed = {n: h for n, h in _hashes(tmp_path).items() if "01-01" in n or "01-02" in n}
    assert len(closed) == 2
    w.add(_records(rest, first_offset=len(first) // 2))
    w.checkpoint()
    w.write_rollups(report=False)
    assert {n: h for n, h in _hashes(tmp_path).items() if n in closed} == closed
    assert json.loads((tmp_path / "run.json").read_text())["late_rows_by_day"] == {}

    late = [_at(rows[0], datetime(2025, 1, 1, 23, 59, 59), 1),
            _at(rows[1], datetime(2025, 1, 1, 12), 2)]
    w.add([(0, 10_000 + i, encode(tx)) for i, tx in enumerate(late)])
    w.checkpoint()
    w.write_rollups(report=False)
    w.close()
    after = _hashes(tmp_path)
    day1 = "transactions_scored_2025-01-01.csv"
    assert after[day1] != closed[day1]
    assert after["transactions_scored_2025-01-02.csv"] == closed[
        "transactions_scored_2025-01-02.csv"]
    tail = _day_frames(tmp_path)["2025-01-01"].tail(2)
    assert tail["transaction_id"].tolist() == ["late1", "late2"]
    assert json.loads((tmp_path / "run.json").read_text())["late_rows_by_day"] == {
        "2025-01-01": 2}


def test_a_day_closes_at_one_hour_past_its_end() -> None:
    assert dy.closes_at("2025-01-31") == "2025-02-01T01:00:00"
    assert not dy.is_closed("2025-01-31", "2025-02-01T00:59:59.999999")
    assert dy.is_closed("2025-01-31", "2025-02-01T01:00:00")
    assert dy.is_closed("2025-01-31", "2025-02-01T01:00:01")
    assert not dy.is_closed("2025-01-31", "")


def test_a_crash_cuts_day_files_back_to_the_checkpoint(tmp_path: Path) -> None:
    records = _records(random_scored(ROWS, seed=6))
    clean = _sink(tmp_path / "clean", [records])
    clean.close()
    w = _sink(tmp_path / "crashed", [records[:2_000]])  # day 1 only
    w.add(records[2_000:6_000])  # days 1-3 appended, never checkpointed, then kill -9
    w._days.sync()
    assert len(dy.day_files(tmp_path / "crashed")) == 3
    del w
    w = SinkWriter(tmp_path / "crashed", TOPIC, ExportSettings())
    assert [p.name for p in dy.day_files(tmp_path / "crashed")] == [
        "transactions_scored_2025-01-01.csv"]
    resume = w.offsets
    w.add([r for r in records if r[1] >= resume.get(r[0], 0)])
    w.checkpoint()
    w.close()
    assert _hashes(tmp_path / "crashed") == _hashes(tmp_path / "clean")
    _assert_days_hold_every_row_once(tmp_path / "crashed", _expected(random_scored(ROWS, seed=6)))


def test_a_day_file_without_a_checkpoint_or_from_an_older_version_is_refused(
    tmp_path: Path,
) -> None:
    (tmp_path / "a" / "scored").mkdir(parents=True)
    (tmp_path / "a" / dy.day_file("2025-01-01")).write_text("x\n")
    with pytest.raises(SinkStateError, match="no sink checkpoint") as refused:
        SinkWriter(tmp_path / "a", TOPIC, ExportSettings())
    # it names what is there (it named transactions_scored.csv, which was not: a probe)
    assert str(refused.value).startswith(f"{tmp_path / 'a' / 'scored'} holds scored rows")
    w = _sink(tmp_path / "b", [_records(random_scored(50, seed=7))])
    w.close()
    state = json.loads((tmp_path / "b" / STATE_FILE).read_text())
    del state["extra"]["day_files"]
    (tmp_path / "b" / STATE_FILE).write_text(json.dumps(state))
    with pytest.raises(SinkStateError, match="without day files"):
        SinkWriter(tmp_path / "b", TOPIC, ExportSettings())
    SinkWriter(tmp_path / "b", TOPIC, ExportSettings(), reset=True).close()
    assert dy.day_files(tmp_path / "b") == []


def test_day_boundaries_follow_the_timestamp_cell() -> None:
    rows = random_scored(3, seed=8)
    rows = [rows[0].model_copy(update={"timestamp": datetime(2025, 3, 1) - timedelta(
        microseconds=1)}), rows[1].model_copy(update={"timestamp": datetime(2025, 3, 1)})]
    chunks = dy.split_by_day([scored_cells(tx) for tx in rows])
    assert list(chunks) == ["2025-02-28", "2025-03-01"]
    assert [c.rows for c in chunks.values()] == [1, 1]


def _damage(victim: Path, how: str) -> None:
    if how == "deleted":
        victim.unlink()
    elif how == "emptied":
        victim.write_bytes(b"")
    elif how == "cut":
        victim.write_bytes(victim.read_bytes()[:-37])
    else:  # replaced by another file of the same bytes
        data = victim.read_bytes()
        victim.unlink()
        victim.write_bytes(data)


@pytest.mark.parametrize("how", ["deleted", "emptied", "cut", "replaced"])
@pytest.mark.parametrize("held", [False, True])
def test_a_day_file_changed_while_the_sink_runs_stops_it_before_the_checkpoint_takes_it(
    tmp_path: Path, how: str, held: bool
) -> None:
    """A day file deleted, emptied or cut while the sink ran was started again with a header
    and the new rows only, or appended to after a torn line, and the next checkpoint
    recorded that (a hostile probe; run.json counted 1,453 rows, the files held 1,132). Now
    the sink stops, its checkpoint as it was, and the next start refuses the folder as for
    a change made while it was stopped. `held`: the day's file still open (the newest day),
    else closed at the checkpoint and opened again for a late row."""
    rows = [r.model_copy(update={"timestamp": datetime(2025, 1, 1) + timedelta(hours=i)})
            for i, r in enumerate(random_scored(72, seed=31))]  # three days
    w = _sink(tmp_path, [_records(rows)])
    before = json.loads((tmp_path / STATE_FILE).read_text())
    days = dy.day_files(tmp_path)
    assert len(days) == 3
    victim = days[-1] if held else days[0]
    _damage(victim, how)
    day = victim.name.removeprefix(dy.PREFIX).removesuffix(".csv")
    more = [r.model_copy(update={"transaction_id": f"more-{i}",
                                 "timestamp": datetime.fromisoformat(day) + timedelta(hours=23)})
            for i, r in enumerate(rows[:3])]
    if how == "replaced" and not held:  # its very bytes again, closed: taken as it is
        w.add(_records(more, first_offset=len(rows)))
        w.checkpoint()
        w.close()
        return
    with pytest.raises(SinkStateError, match="changed while the sink ran"):
        w.add(_records(more, first_offset=len(rows)))
        w.checkpoint()
    w.close()
    assert json.loads((tmp_path / STATE_FILE).read_text()) == before
    if how != "replaced":  # nothing appended after the damage: the start refuses it too
        with pytest.raises(SinkStateError):
            SinkWriter(tmp_path, TOPIC, ExportSettings())


def test_day_files_as_the_sink_left_them_are_appended_to_across_checkpoints(
    tmp_path: Path,
) -> None:
    """The check must not stop a sink whose files nobody touched: a day closed at one
    checkpoint and opened again for a late row, and the newest held open, across three."""
    rows = [r.model_copy(update={"timestamp": datetime(2025, 1, 1) + timedelta(hours=i)})
            for i, r in enumerate(random_scored(72, seed=32))]
    late = [r.model_copy(update={"transaction_id": f"late-{i}",
                                 "timestamp": datetime(2025, 1, 1, 23)})
            for i, r in enumerate(rows[:2])]
    w = _sink(tmp_path, [_records(rows[:40]), _records(rows[40:], 40), _records(late, 72)])
    w.close()
    assert sum(len(p.read_text().splitlines()) - 1 for p in dy.day_files(tmp_path)) == 74
