"""A rolling upgrade in either order between the detector and the sink loses nothing.

A newer detector's scored message holds fields this sink does not know: the row is
exported with the columns it knows, the fields named in one warning per name and counted
in run.json (`unknown_scored_fields`, `rows_with_unknown_fields`), bounded whatever the
message holds. An older detector's message lacks a field: its cell is empty (unknown),
never a made-up value. Everything else malformed is rejected with its reason, as before.
"""

from __future__ import annotations

import json
import logging
import tracemalloc
from collections.abc import Collection
from pathlib import Path

import pytest

from shared import fastcodec
from shared.codec import encode
from shared.columns import SCORED_INDEX, SCORED_ROW
from shared.fastcodec import MAX_UNKNOWN_FIELDS, decode_scored, unknown_scored_fields
from shared.message_size import MAX_SCORED_MESSAGE_BYTES
from shared.schemas import ScoredTransaction
from sink import days as dy
from sink.batch import format_batch
from sink.csvfmt import SCORED_HEADER, encode_rows, scored_cells
from sink.rollup import RollupParams
from sink.settings import ExportSettings
from sink.writer import REJECTED_FILE, Record, SinkWriter
from tests.unit.test_rollup_pandas import random_scored
from tests.unit.test_sink_writer import _files

TOPIC = "transactions.scored"
NEWER = b',"verdict_confidence":0.875,"verdict_notes":{"a":[1,2,{"b":null}]}}'
#: The verdict and provenance fields of the first release's `ScoredTransaction` (commit
#: 0ce44b3, 2026-11-24): every detector since wrote them.
FIRST_RELEASE_VERDICT = {"score", "is_ml_flag", "rule_flags", "is_rule_flag", "is_flag",
                         "reasons_top3", "triggered_rules", "model_version",
                         "source_partition", "source_offset"}


def _with(value: bytes, tail: bytes = NEWER) -> bytes:
    """`value` (a JSON object) with `tail`'s fields added at its end."""
    assert value.endswith(b"}")
    return value[:-1] + tail


def _rows(n: int) -> list[ScoredTransaction]:
    return random_scored(n, seed=7)


def _records(rows: list[ScoredTransaction], newer: Collection[int] = ()) -> list[Record]:
    return [(i % 2, i // 2, _with(encode(tx)) if i in newer else encode(tx))
            for i, tx in enumerate(rows)]


def _expected_days(rows: list[ScoredTransaction]) -> dict[str, bytes]:
    """The day files as the schema's model formats the rows (the reference, independent of
    the decoders), in stream order within each day."""
    by_day: dict[str, list[list[str]]] = {}
    for tx in rows:
        by_day.setdefault(tx.timestamp.date().isoformat(), []).append(scored_cells(tx))
    return {dy.day_file(day): SCORED_HEADER + encode_rows(cells)
            for day, cells in by_day.items()}


def _run(folder: Path, records: list[Record]) -> dict[str, object]:
    w = SinkWriter(folder, TOPIC, ExportSettings())
    half = len(records) // 2
    w.add(records[:half])
    w.add(records[half:])
    w.checkpoint()
    run = w.write_rollups(report=False)
    w.close()
    return run


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
            and "does not know" in r.getMessage()]


def test_a_newer_detectors_row_is_exported_with_the_columns_it_knows() -> None:
    tx = _rows(1)[0]
    result = format_batch([(0, 0, encode(tx)), (0, 1, _with(encode(tx)))], RollupParams())
    assert result.rejected == []
    assert result.rows == 2
    assert result.unknown == {"verdict_confidence": 1, "verdict_notes": 1}
    assert result.unknown_rows == 1
    day = next(iter(result.days.values()))
    assert day.csv == encode_rows([scored_cells(tx)] * 2)


def test_a_newer_detectors_stream_exports_what_the_same_stream_without_them_does(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = _rows(600)
    newer = set(range(100, 600, 3))
    caplog.set_level(logging.WARNING)
    plain = _run(tmp_path / "plain", _records(rows))
    assert _warnings(caplog) == []
    mixed = _run(tmp_path / "mixed", _records(rows, newer))
    assert not (tmp_path / "mixed" / REJECTED_FILE).exists()
    assert _files(tmp_path / "mixed") == _files(tmp_path / "plain")
    days = {p.name: p.read_bytes() for p in dy.day_files(tmp_path / "mixed")}
    assert days == {Path(k).name: v for k, v in _expected_days(rows).items()}
    assert plain["unknown_scored_fields"] == {} and plain["rows_with_unknown_fields"] == 0
    assert mixed["unknown_scored_fields"] == {"verdict_confidence": len(newer),
                                              "verdict_notes": len(newer)}
    assert mixed["rows_with_unknown_fields"] == len(newer)
    saved = json.loads((tmp_path / "mixed" / "run.json").read_text())
    assert saved["unknown_scored_fields"] == mixed["unknown_scored_fields"]
    # one line for both names, though they came in both batches
    [line] = _warnings(caplog)
    assert "'verdict_confidence', 'verdict_notes'" in line
    assert "written by a newer detector? upgrade the sink to export them" in line


def test_the_count_survives_a_restart_and_a_new_name_gets_its_own_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = _rows(40)
    caplog.set_level(logging.WARNING)
    _run(tmp_path, _records(rows[:20], set(range(0, 20, 2))))
    w = SinkWriter(tmp_path, TOPIC, ExportSettings())
    third: list[Record] = [(i % 2, i // 2 + 10, _with(encode(tx), b',"verdict_confidence":1,'
                                                    b'"later":true}'))
                           for i, tx in enumerate(rows[20:])]
    w.add(third)
    w.checkpoint()
    run = w.write_rollups(report=False)
    w.close()
    assert run["unknown_scored_fields"] == {"later": 20, "verdict_confidence": 30,
                                            "verdict_notes": 10}
    assert run["rows_with_unknown_fields"] == 30
    lines = _warnings(caplog)
    assert len(lines) == 2  # one per sink process, each naming what it had not named
    assert "'verdict_confidence', 'verdict_notes'" in lines[0]
    assert "'later', 'verdict_confidence'" in lines[1]  # a message's names in order


@pytest.mark.parametrize("n", [MAX_UNKNOWN_FIELDS - 1, MAX_UNKNOWN_FIELDS,
                               MAX_UNKNOWN_FIELDS + 1, 10_000])
def test_unknown_names_are_bounded_per_message_and_per_folder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, n: int
) -> None:
    tx = _rows(1)[0]
    tail = "".join(f',"f{i:05d}":{i}' for i in range(n)) + "}"
    value = _with(encode(tx), tail.encode())
    names = unknown_scored_fields(value)
    assert names == tuple(f"f{i:05d}" for i in range(min(n, MAX_UNKNOWN_FIELDS)))
    caplog.set_level(logging.WARNING)
    # another message with other names: the folder keeps no more than the bound either
    other = _with(encode(tx), "".join(f',"g{i:05d}":{i}' for i in range(n)).encode() + b"}")
    run = _run(tmp_path, [(0, 0, value), (0, 1, other)])
    kept = min(n, MAX_UNKNOWN_FIELDS)
    first = [f"f{i:05d}" for i in range(kept)]
    second = [f"g{i:05d}" for i in range(min(n, MAX_UNKNOWN_FIELDS - kept))]
    assert run["unknown_scored_fields"] == dict.fromkeys(sorted(first + second), 1)
    assert run["rows_with_unknown_fields"] == 2
    assert dy.day_files(tmp_path)[0].read_bytes() == SCORED_HEADER + encode_rows(
        [scored_cells(tx)] * 2)
    assert sum(len(line) for line in _warnings(caplog)) < 2_000


def test_an_unknown_name_is_cut_and_escaped_as_a_reason_shows_it() -> None:
    tx = encode(_rows(1)[0])
    for name, shown in [("x" * 40, "x" * 40), ("x" * 41, "x" * 40 + "…"),
                        ("a\u202eb\u0000", "a\\u202eb\\x00"), ("Score", "Score"),
                        ("score ", "score ")]:
        value = _with(tx, b"," + json.dumps(name).encode() + b":1}")
        assert unknown_scored_fields(value) == (shown,)
        assert type(decode_scored(value)) is fastcodec.LenientScoredRecord
    # two names cut to the same text are one
    value = _with(tx, ("," + json.dumps("y" * 50) + ":1," + json.dumps("y" * 60) + ":2}")
                  .encode())
    assert unknown_scored_fields(value) == ("y" * 40 + "…",)


def test_an_unknown_field_up_to_the_size_bound_is_never_copied() -> None:
    """Up to `MAX_SCORED_MESSAGE_BYTES` (2.8 MB); a longer message (a 100 MB field) is
    rejected unread (tests/unit/test_sink_message_size.py)."""
    tx = encode(_rows(1)[0])
    value = _with(tx, b',"blob":"' + b"x" * (MAX_SCORED_MESSAGE_BYTES - len(tx) - 10) + b'"}')
    assert len(value) == MAX_SCORED_MESSAGE_BYTES
    tracemalloc.start()
    try:
        result = format_batch([(0, 0, value)], RollupParams())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.rejected == [] and result.unknown == {"blob": 1}
    assert peak < 2_000_000, peak


def test_what_the_sink_knows_is_still_checked_exactly() -> None:
    """An unknown field does not excuse a bad known one, nor a schema version the sink
    does not know (a breaking change bumps it: docs/sink.md, "Upgrades")."""
    tx = json.loads(encode(_rows(1)[0]))
    changes: list[tuple[dict[str, object], str]] = [
        ({"is_flag": "yes"}, "is_flag"), ({"score": 2.0}, "score"),
        ({"schema_version": 2}, "unsupported schema_version 2"),
        ({"transaction_id": ""}, "transaction_id")]
    for change, says in changes:
        value = json.dumps({**tx, **change, "verdict_confidence": 0.5}).encode()
        result = format_batch([(0, 0, value)], RollupParams())
        assert result.rows == 0 and result.unknown == {}
        [line] = result.rejected
        reason = json.loads(line)["error"]
        assert says in reason and "verdict_confidence" not in reason


def test_an_older_detectors_row_shows_unknown_as_an_empty_cell() -> None:
    """Before 2026-11-30 the detector wrote no `model_score`: its rows are accepted, the
    cell empty (unknown), as a row scored before the model's first fit."""
    tx = _rows(1)[0].model_copy(update={"model_score": 0.5, "is_ml_flag": True})
    old = json.loads(encode(tx))
    del old["model_score"]
    result = format_batch([(0, 0, json.dumps(old).encode())], RollupParams())
    assert result.rejected == []
    [cells] = [line.split(",") for line in
               next(iter(result.days.values())).csv.decode().splitlines()]
    assert cells[SCORED_INDEX["model_score"]] == ""
    assert cells[SCORED_INDEX["is_ml_flag"]] == "True"
    assert cells == scored_cells(tx.model_copy(update={"model_score": None}))


def test_a_verdict_field_added_since_the_first_release_is_unknown_when_missing() -> None:
    """An older detector's row lacks every verdict field added after it: such a field must
    be nullable (an empty cell), never default to a value the older detector did not give
    (a flag as False would claim "not flagged"). The first release's fields, flags
    included, every detector wrote: their defaults are never used for a detector's row."""
    later = {f.name for f in SCORED_ROW if f.role in ("verdict", "provenance")
             } - FIRST_RELEASE_VERDICT
    assert later == {"model_score"}  # update when a field is added: and make it nullable
    assert all(f.nullable for f in SCORED_ROW if f.name in later)


def test_a_rule_the_sink_does_not_know_leaves_the_known_rules_columns() -> None:
    """A newer detector's new rule is a key of `rule_flags`: accepted as before, not a
    column (the sink knows the columns of its rules); a rule it lacks is an empty cell."""
    tx = _rows(1)[0]
    flags = {"velocity": True, "burst": True}
    value = encode(tx.model_copy(update={"rule_flags": flags}))
    result = format_batch([(0, 0, value)], RollupParams())
    [cells] = [line.split(",") for line in
               next(iter(result.days.values())).csv.decode().splitlines()]
    assert cells[SCORED_INDEX["rule_burst"]] == "True"
    assert cells[SCORED_INDEX["rule_odd_hour"]] == ""
