"""Exports folders written by older releases' sinks, continued by this one.

Each fixture under tests/data/sink/<commit>/ is what that commit's `SinkWriter` left after
the first half of one fixed stream (4 event days, 20 customers, flagged rows, rule flags, a
late row in each half, reviews where the release read them), with the whole stream as that
release encoded it (tests/data/sink/make_fixture.py says how to make another). This
release either continues such a folder exactly (every file as a sink of this release that
read the whole stream into an empty folder writes it, but for wall-clock fields and run.json's
count of rules without a column, which those releases did not keep) or refuses
it in one line (`SinkStateError`, exit 2) saying what to do, the folder left as it was;
never continues it with wrong counts, cases, sample, late rows or reviews.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import sink.writer
from shared.errors import ExitCode
from sink import days as dy
from sink.settings import ExportSettings
from sink.state import STATE_FILE, STATE_VERSION, SinkStateError
from sink.writer import REVIEWS_LOG_FILE, Record, SinkWriter
from tests.folder_tree import tree

FIXTURES = Path(__file__).parents[1] / "data" / "sink"
TOPIC = "transactions.scored"
REVIEWS = "transactions.reviews"
BATCH = 20  # rows per `add`, as make_fixture.py gave them
#: Folders of these commits continue exactly: 33dadbd (2026-11-30, the checkpoint's case
#: book, audit sample and reviews as they still are), ec3e9ff (2026-12-04; 6adc90c of
#: 2026-12-02 wrote the same state, so it has no fixture of its own).
CONTINUED = ("33dadbd", "ec3e9ff")
#: Folders of these commits are refused, with what the message must name.
REFUSED = {
    "ba07485": "other columns",  # 2026-11-24: one transactions_scored.csv, no day files
    "3b2e817": "case_book",  # 2026-11-30 03:07: day files, but no case book nor sample
}
#: run.json's fields that say when, not what (docs/sink.md).
RUN_CLOCK = ("written_at", "sink_started_at")
#: run.json's count of rules without a column, which these releases did not keep: from a
#: folder of theirs it counts the rows read since (docs/sink.md, "Upgrades"); the note
#: that says them too.
UNKNOWN_RULE_COUNTS = ("unknown_rules", "unknown_rules_fired", "rows_with_unknown_rules",
                       "upgrade_note")
#: The checkpoint's fields that say when.
STATE_CLOCK = ("created_at",)
STATE_EXTRA_CLOCK = ("last_row_written_at",)
#: Rollup tables compared byte for byte (run.json, status.csv and reviews_log.csv apart).
TABLES = ("thresholds.csv", "metrics_by_type.csv", "confusion_matrix.csv", "cases.csv",
          "case_transactions.csv", "audit_sample.csv", "assurance.csv")


def _stream(commit: str) -> list[dict[str, Any]]:
    with gzip.open(FIXTURES / commit / "stream.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _records(lines: list[dict[str, Any]], topic: str, half: int) -> list[Record]:
    return [(m["partition"], m["offset"], m["value"].encode()) for m in lines
            if m["topic"] == topic and m["half"] == half]


def _settings(commit: str) -> ExportSettings:
    used = json.loads((FIXTURES / commit / "settings.json").read_text(encoding="utf-8"))
    return ExportSettings(**used)


def _feed(w: SinkWriter, lines: list[dict[str, Any]], half: int) -> None:
    rows = _records(lines, "scored", half)
    for start in range(0, len(rows), BATCH):
        w.add(rows[start : start + BATCH])
    w.add_reviews(_records(lines, "reviews", half), REVIEWS)
    w.checkpoint()
    w.write_rollups(report=False)
    w.checkpoint()  # as make_fixture.py: the reviewed cases' facts noted in the checkpoint


def _finish(w: SinkWriter) -> None:
    w.write_rollups(report=False)
    w.close()


def _copy(commit: str, to: Path) -> Path:
    shutil.copytree(FIXTURES / commit / "exports", to)
    return to


def _state(folder: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    for key in STATE_CLOCK:
        state.pop(key)
    for key in STATE_EXTRA_CLOCK:
        state["extra"].pop(key, None)
    return state


def _run(folder: Path) -> dict[str, Any]:
    run: dict[str, Any] = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    return {k: v for k, v in run.items() if k not in RUN_CLOCK}


def _without(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if k not in UNKNOWN_RULE_COUNTS}


def _reviews_log(folder: Path) -> list[list[str]]:
    """reviews_log.csv without `logged_at` (when the sink read each review)."""
    text = (folder / REVIEWS_LOG_FILE).read_text(encoding="utf-8")
    return [row[1:] for row in csv.reader(io.StringIO(text))]


@pytest.fixture(autouse=True)
def _quiet_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """One `logged_at` for the reviews this test feeds (the fixture's keep their own)."""
    monkeypatch.setattr(sink.writer, "now_utc", lambda: "2030-01-01T00:00:00")


@pytest.mark.parametrize("commit", CONTINUED)
def test_a_folder_of_an_older_release_continues_exactly(tmp_path: Path, commit: str) -> None:
    lines, settings = _stream(commit), _settings(commit)
    scratch = tmp_path / "scratch"
    w = SinkWriter(scratch, TOPIC, settings)
    _feed(w, lines, 1)
    _feed(w, lines, 2)
    _finish(w)

    continued = _copy(commit, tmp_path / "continued")
    w = SinkWriter(continued, TOPIC, settings)
    assert w.rows == len(_records(lines, "scored", 1))
    _feed(w, lines, 2)
    _finish(w)

    days = [f"{dy.SCORED_DIR}/{p.name}" for p in dy.day_files(scratch)]
    assert len(days) == 4
    for name in (*days, *TABLES):
        assert (continued / name).read_bytes() == (scratch / name).read_bytes(), name
    # rules without a column (the fixture's 'amount_spike', 'night_burst'): these releases
    # did not count the rows holding them, so the count starts where this one took over,
    # as a sink of this release reading only the second half counts them
    later = tmp_path / "later"
    w = SinkWriter(later, TOPIC, settings)
    _feed(w, lines, 2)
    _finish(w)
    since = {k: _run(later)[k] for k in UNKNOWN_RULE_COUNTS}
    assert since["unknown_rules"] and since != {k: _run(scratch)[k] for k in UNKNOWN_RULE_COUNTS}
    assert {k: _run(continued)[k] for k in UNKNOWN_RULE_COUNTS} == since
    assert _state(continued)["rollup"].pop("unknown_rules") == _state(later)["rollup"][
        "unknown_rules"]
    assert _without(_run(continued)) == _without(_run(scratch))
    assert _run(scratch)["late_rows_by_day"] == {"2025-03-01": 2}
    assert _reviews_log(continued) == _reviews_log(scratch)
    continued_state, scratch_state = _state(continued), _state(scratch)
    for state in (continued_state, scratch_state):
        del state["rollup"]["unknown_rules"]
    assert continued_state == scratch_state


@pytest.mark.parametrize("commit", sorted(REFUSED))
def test_a_folder_this_release_cannot_continue_is_refused_in_one_line(
    tmp_path: Path, commit: str
) -> None:
    folder = _copy(commit, tmp_path / "old")
    before = tree(folder)
    with pytest.raises(SinkStateError) as err:
        SinkWriter(folder, TOPIC, _settings(commit))
    message = str(err.value)
    assert "\n" not in message and REFUSED[commit] in message and "--reset" in message
    assert err.value.exit_code == ExitCode.USAGE
    assert tree(folder) == before  # nothing cut, written or removed


def _strip(folder: Path, keys: tuple[str, ...]) -> None:
    """Make the checkpoint one of a release that kept none of `keys` in its rollup."""
    state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    for key in keys:
        del state["rollup"][key]
    (folder / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")


@pytest.mark.parametrize("keys", [("case_book",), ("audit_sample",),
                                  ("case_book", "audit_sample", "params")])
@pytest.mark.parametrize("rows", [0, 1, 2])
def test_a_checkpoint_without_the_case_book_or_sample_continues_only_with_no_rows(
    tmp_path: Path, keys: tuple[str, ...], rows: int
) -> None:
    """Their rows so far are in no case and no sample: continued, cases.csv,
    audit_sample.csv and assurance.csv would leave them out without a word. With no
    row yet there is nothing to leave out, and the folder goes on as a new one."""
    lines = _stream("ec3e9ff")
    settings = ExportSettings()
    first = _records(lines, "scored", 1)
    w = SinkWriter(tmp_path / "old", TOPIC, settings)
    w.add(first[:rows])
    w.checkpoint()
    w.close()
    _strip(tmp_path / "old", keys)
    if rows:
        with pytest.raises(SinkStateError, match=f"no {keys[0]}.*{rows} rows.*--reset"):
            SinkWriter(tmp_path / "old", TOPIC, settings)
        return
    w = SinkWriter(tmp_path / "old", TOPIC, settings)
    w.add(first)
    w.checkpoint()
    _finish(w)
    w = SinkWriter(tmp_path / "new", TOPIC, settings)
    w.add(first)
    w.checkpoint()
    _finish(w)
    for name in TABLES:
        assert (tmp_path / "old" / name).read_bytes() == (tmp_path / "new" / name).read_bytes()


@pytest.mark.parametrize("version", [STATE_VERSION + 1, 10**6])
def test_a_checkpoint_of_a_newer_release_is_refused_naming_both_versions(
    tmp_path: Path, version: int
) -> None:
    """A rollback: this release's sink on a folder a newer release's sink wrote (its
    checkpoint's `version` past this one's). Before: "... is unreadable (unknown sink state
    version 2); move the folder aside", as if it were damaged."""
    folder = _copy("ec3e9ff", tmp_path / "newer")
    state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    (folder / STATE_FILE).write_text(json.dumps(state | {"version": version}),
                                     encoding="utf-8")
    before = tree(folder)
    with pytest.raises(SinkStateError) as err:
        SinkWriter(folder, TOPIC, _settings("ec3e9ff"))
    message = str(err.value)
    assert "\n" not in message and err.value.exit_code == ExitCode.USAGE
    assert (f"was written by a newer auditstream release (sink checkpoint version {version}; "
            f"this release reads version {STATE_VERSION})") in message, message
    assert "--exports" in message and "unreadable" not in message
    assert tree(folder) == before  # nothing cut, written or removed


@pytest.mark.parametrize("version", [STATE_VERSION - 1, "1", None])
def test_a_checkpoint_of_an_unknown_version_is_still_unreadable(
    tmp_path: Path, version: Any
) -> None:
    folder = _copy("ec3e9ff", tmp_path / "other")
    state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    (folder / STATE_FILE).write_text(json.dumps(state | {"version": version}),
                                     encoding="utf-8")
    with pytest.raises(SinkStateError, match=r"is unreadable \(unknown sink state version"):
        SinkWriter(folder, TOPIC, _settings("ec3e9ff"))
