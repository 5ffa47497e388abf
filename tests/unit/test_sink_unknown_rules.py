"""A newer detector's new rule is a key of `rule_flags` this sink has no column for.

The row is exported with the columns the sink knows and the detector's own verdict
(`is_rule_flag`, `triggered_rules`, which names the rule where it fired); the rule's name is
said once in a WARNING, counted in run.json (`unknown_rules`: rows holding it,
`unknown_rules_fired`: rows it fired in, `rows_with_unknown_rules`), and said by
`python -m sink.health` and report.html, so an auditor never meets a row flagged by rules
with no rule named and no word why. The counts are bounded whatever the messages hold (the
least 16 names, cut as a reason shows them) and exact whatever the batch cuts. A flag's
value is true or false, never text (`"yes"` was read as true).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditstream.report import write_report_from_rollup
from shared.codec import encode, field_name
from shared.columns import RULE_COLUMNS, RULE_NAMES, SCORED_INDEX
from shared.fastcodec import decode_scored
from shared.schemas import ScoredTransaction
from shared.skew import MAX_NAME_CHARS, unknown_rules_note
from sink.batch import format_batch
from sink.csvfmt import scored_cells
from sink.rollup import RollupParams, RollupState, facts_of
from sink.settings import ExportSettings
from sink.writer import Record, SinkWriter
from tests.unit.test_health_unknown_fields import HEALTHY, _health
from tests.unit.test_report_headlines import _cards
from tests.unit.test_rollup_pandas import random_scored

TOPIC = "transactions.scored"
#: the bound of names kept (as `shared.fastcodec.MAX_UNKNOWN_FIELDS` for fields)
BOUND = 16


def _newer(tx: ScoredTransaction, fired: bool, name: str = "velocity") -> ScoredTransaction:
    """`tx` as a newer detector with the rule `name` writes it: every rule's flag, the new
    rule's too, and `triggered_rules`/`is_rule_flag` from them."""
    flags = {**{n: tx.rule_flags.get(n, False) for n in RULE_NAMES}, name: fired}
    triggered = [n for n, hit in flags.items() if hit]
    return tx.model_copy(update={"rule_flags": flags, "triggered_rules": triggered,
                                 "is_rule_flag": bool(triggered),
                                 "is_flag": tx.is_flag or bool(triggered)})


def _sink(folder: Path, records: list[Record]) -> dict[str, Any]:
    w = SinkWriter(folder, TOPIC, ExportSettings(), on_rollup=write_report_from_rollup)
    half = len(records) // 2
    w.add(records[:half])
    w.add(records[half:])
    w.checkpoint()
    run = w.write_rollups()
    w.heartbeat({"lag_messages": 0})
    w.close()
    return run


def _day_rows(folder: Path) -> list[list[str]]:
    rows: list[list[str]] = []
    for path in sorted((folder / "scored").glob("*.csv")):
        rows += list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))[1:]
    return rows


def _rule_rows(folder: Path) -> dict[str, str]:
    """metrics_by_type.csv's rule section: name -> flags."""
    with open(folder / "metrics_by_type.csv", encoding="utf-8", newline="") as fh:
        return {r["name"]: r["flags"] for r in csv.DictReader(fh) if r["section"] == "rule"}


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
            and "rule(s) this sink does not know" in r.getMessage()]


def test_a_newer_detectors_rule_is_named_counted_and_its_row_keeps_the_reason(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = random_scored(60, seed=5)
    fired = {3, 10, 11, 40}
    held = set(range(0, 60, 2)) | fired
    newer = [_newer(tx, i in fired) if i in held else tx for i, tx in enumerate(rows)]
    caplog.set_level(logging.WARNING)
    run = _sink(tmp_path, [(0, i, encode(tx)) for i, tx in enumerate(newer)])
    assert run["unknown_rules"] == {"velocity": len(held)}
    assert run["unknown_rules_fired"] == {"velocity": len(fired)}
    assert run["rows_with_unknown_rules"] == len(held)
    assert json.loads((tmp_path / "run.json").read_text())["unknown_rules"] == {
        "velocity": len(held)}
    # the rows: the known columns as the detector wrote them, the reason kept
    out = {r[SCORED_INDEX["transaction_id"]]: r for r in _day_rows(tmp_path)}
    for i in fired:
        cells = out[rows[i].transaction_id]
        assert cells[SCORED_INDEX["is_rule_flag"]] == "True"
        assert "velocity" in cells[SCORED_INDEX["triggered_rules"]].split(";")
        assert [cells[SCORED_INDEX[c]] for c in RULE_COLUMNS] == [
            str(rows[i].rule_flags.get(n, False)) for n in RULE_NAMES]
    # metrics_by_type counts the rule beside the known ones
    assert _rule_rows(tmp_path)["velocity"] == str(len(fired))
    [line] = _warnings(caplog)  # one line, though the rule came in both batches
    assert "'velocity'" in line and "triggered_rules" in line


def test_the_health_check_and_report_html_name_the_rule(tmp_path: Path) -> None:
    rows = random_scored(20, seed=9)
    newer = [_newer(tx, i < 3) if i < 7 else tx for i, tx in enumerate(rows)]
    _sink(tmp_path, [(0, i, encode(tx)) for i, tx in enumerate(newer)])
    note = ("scored messages' rule_flags hold rule(s) this sink does not know: 'velocity' "
            "(7 rows, fired in 3); those rows are exported without a column for them, "
            "triggered_rules naming them where they fired (written by a newer detector? "
            "upgrade the sink to give them columns)")
    assert _health(tmp_path) == (0, HEALTHY + "note: " + note + "\n")
    assert _cards(tmp_path).get("_skew") == "Note: " + note
    # and as text in run.json, for the dashboard's model (test_dashboard_upgrade_note.py)
    assert json.loads((tmp_path / "run.json").read_text())["upgrade_note"] == note


def test_a_rule_this_sink_knows_now_is_said_as_missing_before_its_upgrade(
        tmp_path: Path) -> None:
    rows = random_scored(5, seed=2)
    _sink(tmp_path, [(0, i, encode(tx)) for i, tx in enumerate(rows)])
    path = tmp_path / "run.json"
    run = json.loads(path.read_text())
    run.update(unknown_rules={"burst": 4, "velocity": 2}, unknown_rules_fired={"burst": 1},
               rows_with_unknown_rules=5)
    path.write_text(json.dumps(run))
    assert _health(tmp_path) == (0, HEALTHY + "note: " + (
        "scored messages' rule_flags hold rule(s) this sink does not know: 'velocity' "
        "(2 rows, fired in 0); those rows are exported without a column for them, "
        "triggered_rules naming them where they fired (written by a newer detector? upgrade "
        "the sink to give them columns); rows scored before this sink's upgrade lack rule "
        "column(s) 'burst' (4 rows, fired in 1): the sink then did not know them (a folder "
        "rebuilt from the topic has them for the rows it still holds)") + "\n")



@pytest.mark.parametrize("cut", [-1, 0, 1])
@pytest.mark.parametrize("bad", [-1, 0, True, "3", [3], None])
def test_a_fired_count_the_note_cannot_read_is_ignored_not_taken_for_its_name(
        cut: int, bad: object) -> None:
    """A hand-edited run.json whose names a note cuts to one (longer than it shows): a
    fired count that is no count (negative, a bool, text, a list) after a good one under the
    same shown name said "fired in 0", as if the good one were not there; as `unknown_rules`,
    it is ignored wherever it stands."""
    stem = "r" * (MAX_NAME_CHARS + cut - 1)
    run = {"unknown_rules": {stem + "a": 4},
           "unknown_rules_fired": {stem + "a": 3, stem + "b": bad}}
    shown = (stem + "a")[:MAX_NAME_CHARS]
    assert f"'{shown}' (4 rows, fired in 3)" in unknown_rules_note(run)


def _hostile(tx: ScoredTransaction, names: list[str]) -> bytes:
    value = json.loads(encode(tx))
    value["rule_flags"] = {**dict.fromkeys(RULE_NAMES, False), **dict.fromkeys(names, True)}
    value["triggered_rules"] = []
    value["is_rule_flag"] = True
    return json.dumps(value).encode()


@pytest.mark.parametrize("n", [BOUND - 1, BOUND, BOUND + 1, 58 * 200])
def test_unknown_rules_are_bounded_whatever_the_messages_hold(tmp_path: Path, n: int) -> None:
    """58 new 1,000-character names a message (the schema's most: 64 keys) in 200 messages
    kept 11,600 names in the checkpoint and as many rows of metrics_by_type.csv (12 MB)."""
    rows = random_scored(max(1, n // 58), seed=4)
    names = [f"{i:05d}" + "r" * 995 for i in range(n)]
    per = -(-n // len(rows))
    records: list[Record] = [(0, i, _hostile(tx, names[i * per:(i + 1) * per]))
                             for i, tx in enumerate(rows)]
    assert format_batch(records, RollupParams()).rejected == []
    run = _sink(tmp_path, records)
    kept = sorted(field_name(name) for name in names)[:min(n, BOUND)]
    assert run["unknown_rules"] == dict.fromkeys(kept, 1)
    assert run["unknown_rules_fired"] == dict.fromkeys(kept, 1)
    assert run["rows_with_unknown_rules"] == len(records)
    assert set(_rule_rows(tmp_path)) == {*RULE_NAMES, *kept}
    assert (tmp_path / ".sink-state.json").stat().st_size < 400_000
    assert (tmp_path / "metrics_by_type.csv").stat().st_size < 10_000


@pytest.mark.parametrize(("flags", "says"), [
    ({"burst": "yes"}, "rule_flags.burst"), ({"burst": "true"}, "rule_flags.burst"),
    ({"velocity": "false"}, "rule_flags.velocity"), ({"burst": None}, "rule_flags.burst"),
    ({f"r{i}": True for i in range(65)}, "rule_flags: Dictionary should have at most 64"),
    ({f"r{i}": True for i in range(10_000)}, "rule_flags: Dictionary should have at most 64"),
    ({"k" * 100_000: True}, "String should have at most 1000 characters"),
])
def test_a_bad_rule_flag_is_rejected_with_its_reason(flags: dict[str, Any], says: str
                                                     ) -> None:
    """A flag is true or false: `"yes"` was exported as True (`"false"` as False), as
    `is_flag` was before the hostile probe; too many or too long keys were already refused."""
    value = json.loads(encode(random_scored(1, seed=1)[0]))
    value["rule_flags"] = flags
    raw = json.dumps(value).encode()
    result = format_batch([(0, 0, raw)], RollupParams())
    assert result.rows == 0 and decode_scored(raw) is None
    [line] = result.rejected
    assert says in json.loads(line)["error"]


def test_a_flag_true_or_false_is_taken_and_a_missing_known_rule_is_an_empty_cell() -> None:
    tx = random_scored(1, seed=1)[0]
    value = json.loads(encode(tx))
    value["rule_flags"] = {"burst": True, "velocity": False}
    result = format_batch([(0, 0, json.dumps(value).encode())], RollupParams())
    assert result.rejected == []
    [cells] = [line.split(",") for line in
               next(iter(result.days.values())).csv.decode().splitlines()]
    assert [cells[SCORED_INDEX[c]] for c in RULE_COLUMNS] == [
        "True" if n == "burst" else "" for n in RULE_NAMES]


names = st.lists(st.text("abcz", min_size=1, max_size=3), max_size=6)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(names, min_size=1, max_size=40), st.data())
def test_the_counts_are_the_same_whatever_the_batch_cuts(
        rows_names: list[list[str]], data: st.DataObject) -> None:
    """The least 16 names are kept, with every row's count: a batch of its own, worker
    slices merged or one state all give the same counts (the files are identical)."""
    rows = [tx.model_copy(update={"rule_flags": {
        **tx.rule_flags, **{f"x{n}": n.startswith("a") for n in extra}}})
        for tx, extra in zip(random_scored(len(rows_names), seed=6), rows_names, strict=True)]
    facts = [facts_of(tx) for tx in rows]
    cells = [scored_cells(tx) for tx in rows]
    whole = RollupState()
    whole.update(facts, cells)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(facts)), max_size=3)))
    merged = RollupState()
    for a, b in zip([0, *cuts], [*cuts, len(facts)], strict=True):
        part = RollupState()
        part.update(facts[a:b], cells[a:b])
        merged.merge(part)
    assert merged.to_json()["rule_hits"] == whole.to_json()["rule_hits"]
    assert merged.to_json()["unknown_rules"] == whole.to_json()["unknown_rules"]
    every = sorted({f"x{n}" for extra in rows_names for n in extra})
    kept = whole.to_json()["unknown_rules"]["rows"]
    assert kept == {name: sum(name[1:] in extra for extra in rows_names)
                    for name in every[:BOUND]}
    assert whole.to_json()["unknown_rules"]["any"] == sum(map(bool, rows_names))
    fired = {name: sum(name[1:] in extra for extra in rows_names) for name in every[:BOUND]
             if name.startswith("xa")}
    assert {k: sum(v) for k, v in whole.to_json()["rule_hits"].items()
            if k not in RULE_NAMES} == fired
    assert whole.to_json()["unknown_rules"]["fired"] == fired
