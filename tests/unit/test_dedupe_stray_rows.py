"""Rows dated far from the stream (a mistyped year, a device clock off by decades: the
schema takes 1970-2100) and checkpoints holding such times must not make the duplicate
check forget the ids a normal stream would remember (hostile probe, 2026-12-06)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

import detector.dedupe as dedupe
from detector.dedupe import DedupeIndex, event_minute
from detector.loop import BatchProcessor
from detector.partition import PartitionState
from shared.schemas import Transaction
from tests.unit.detector_fakes import CountingEngine, RecordingOutput, messages, tx

DAY = 86400.0
H = 1440  # the horizon in minutes
YEARS_40 = 40 * 365 * 1440  # 2025 + 40 years: 2065


def at(t: Transaction, minutes: int) -> Transaction:
    return t.model_copy(update={"timestamp": datetime(2025, 1, 1) + timedelta(minutes=minutes)})


@pytest.mark.parametrize("ahead", [H + 1, 365 * 1440, YEARS_40])
def test_stray_rows_scattered_over_a_normal_stream_do_not_add_up(ahead: int) -> None:
    """Each stray row alone was held, but the rows noted ahead were never forgotten: the
    `CONFIRM`-th of them, however far apart among normal rows, moved the watermark past
    every id (a typo of the year in a few rows per million of a long file). A run of
    `CONFIRM` rows ahead is needed now; a row within the horizon ends it."""
    index = DedupeIndex(DAY)
    normal = [at(tx(i), i) for i in range(2 * dedupe.CONFIRM)]
    for i, row in enumerate(normal):  # a stray after every other normal row
        index.check([row], [2 * i])
        if i % 2:
            index.check([at(tx(10_000 + i), i + ahead)], [2 * i + 1])
    again = [at(tx(i), len(normal) + i) for i in range(len(normal))]  # repeats, a bit later
    assert index.check(again, list(range(1000, 1000 + len(again)))) == \
        [2 * i for i in range(len(normal))]


def test_a_file_with_a_few_mistyped_years_replayed_is_dead_lettered_whole() -> None:
    """Through the shell's batch: a file of 200 rows, one in three a year ahead (2026 typed
    for 2025, each among normal rows), then the same file again. Before, the `CONFIRM`-th
    stray moved the watermark a year on, and the replay was scored a second time."""
    rows = []
    for i in range(3 * dedupe.CONFIRM):
        rows.append(at(tx(i), 5 * i))  # all within the horizon (a day)
        if i % 3 == 2:  # a year ahead
            rows.append(at(tx(5000 + i), 5 * i + 365 * 1440))
    out = RecordingOutput()
    proc = BatchProcessor(out, 10)
    proc.parts[0] = PartitionState(CountingEngine(), 0, dedupe=DedupeIndex(DAY))
    for lo in range(0, len(rows), 16):
        proc.process(messages(0, lo, rows[lo:lo + 16]))
    n = len(rows)
    for lo in range(0, n, 16):
        proc.process(messages(0, n + lo, rows[lo:lo + 16]))
    assert len(out.scored_rows) == n
    assert [int(dict(h)["duplicate.first_offset"]) for _, h in out.dead_letters] == list(
        range(n))


@pytest.mark.parametrize(("behind", "moved"), [(H + 1, True), (H, False), (H - 1, False)])
def test_only_a_row_within_the_horizon_ends_the_run_ahead(behind: int, moved: bool) -> None:
    """The lower edge: a row dated the horizon behind the watermark is within it and ends the
    run; one minute more is a stray itself (1970) and does not."""
    index = DedupeIndex(DAY)
    w = 2 * H  # the watermark
    index.check([at(tx(1), w - 10), at(tx(2), w)], [0, 1])
    run = [at(tx(100 + k), w + YEARS_40 + k) for k in range(dedupe.CONFIRM)]
    index.check(run[:-1], list(range(2, dedupe.CONFIRM + 1)))
    index.check([at(tx(3), w - behind)], [dedupe.CONFIRM + 1])
    index.check(run[-1:], [dedupe.CONFIRM + 2])  # the CONFIRM-th row ahead
    assert index.check([at(tx(1), w - 10)], [99]) == [None if moved else 0]


@pytest.mark.parametrize("year", [1970, 2100])
def test_a_run_of_a_few_stray_rows_from_one_customer_keeps_every_id(year: int) -> None:
    """`CONFIRM` - 1 rows of one customer dated 1970 or 2100, in a row: every id is still a
    duplicate (the watermark never goes back; CONFIRM rows in a row are a stream moved on)."""
    index = DedupeIndex(DAY)
    normal = [at(tx(i), i) for i in range(50)]
    index.check(normal, list(range(50)))
    start = datetime(year, 6, 1)
    stray = [tx(500 + k, customer="c").model_copy(update={
        "timestamp": start + timedelta(minutes=k)}) for k in range(dedupe.CONFIRM - 1)]
    assert index.check(stray, list(range(50, 50 + len(stray)))) == [None] * len(stray)
    assert index.check(normal, list(range(200, 250))) == list(range(50))


def _head(index: DedupeIndex, **change: object) -> dict[str, bytes]:
    parts = {k: v for k, v in index.checkpoint_parts(full=True).items() if v is not None}
    body = json.loads(parts[dedupe.HEAD][4:])
    body.update(change)
    parts[dedupe.HEAD] = parts[dedupe.HEAD][:4] + json.dumps(body).encode()
    return parts


LAST = event_minute(tx(0).model_copy(update={"timestamp": datetime(2100, 12, 31, 23, 59)}))


@pytest.mark.parametrize(("watermark", "ok"), [(LAST, True), (LAST + 1, False),
                                               (LAST + 10**6, False), (0, True), (-1, False)])
def test_a_checkpoint_head_with_a_watermark_no_row_can_have_is_rejected(
        watermark: int, ok: bool) -> None:
    """A head (or a dump) whose watermark is past 2100 (or before 1970) came from no row the
    schema takes: restored, it put every id behind the horizon and switched the check off;
    it is a `ValueError` now (the partition is rebuilt from its input history)."""
    index = DedupeIndex(DAY)
    index.check([at(tx(i), i) for i in range(80)], list(range(80)))
    parts = _head(index, watermark=watermark)
    dump = bytearray(index.dump())
    dump[12:20] = watermark.to_bytes(8, "little", signed=True)
    if ok:
        assert DedupeIndex.from_parts(parts, DAY)._watermark == watermark
        assert DedupeIndex.load(bytes(dump), DAY)._watermark == watermark
    else:
        with pytest.raises(ValueError, match="watermark"):
            DedupeIndex.from_parts(parts, DAY)
        with pytest.raises(ValueError, match="watermark"):
            DedupeIndex.load(bytes(dump), DAY)


@pytest.mark.parametrize(("field", "n", "ok"), [
    ("ahead", dedupe.CONFIRM - 1, True), ("ahead", dedupe.CONFIRM, False),
    ("first", dedupe.CONFIRM - 1, True), ("first", dedupe.CONFIRM, False)])
def test_a_checkpoint_head_noting_too_many_rows_is_rejected(field: str, n: int, ok: bool
                                                            ) -> None:
    """A head listing `CONFIRM` rows ahead (never written: that many move the watermark) had
    the next row ahead jump the watermark to 2100 at once."""
    index = DedupeIndex(DAY)
    index.check([at(tx(i), i) for i in range(80)], list(range(80)))
    parts = _head(index, **{field: [LAST] * n})
    if ok:
        assert getattr(DedupeIndex.from_parts(parts, DAY), f"_{field}") == [LAST] * n
    else:
        with pytest.raises(ValueError, match="rows"):
            DedupeIndex.from_parts(parts, DAY)
