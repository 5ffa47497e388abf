"""Fields of scored messages the sink did not know (a newer detector's, mid rolling upgrade)
are said where an operator looks: a `note:` line of `python -m sink.health`, which keeps
its exit code (the rows are exported and current), and report.html's status area. Before,
only a WARNING in the sink's log and two keys of run.json said it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditstream.report import write_report_from_rollup
from dashboard.report import write_report
from shared.codec import encode
from sink.settings import ExportSettings
from sink.writer import SinkWriter
from tests.unit.test_report_headlines import _cards
from tests.unit.test_rollup_pandas import random_scored
from tests.unit.test_service_health import _check

TOPIC = "transactions.scored"
NEWER = b',"verdict_confidence":0.875,"verdict_notes":"x"}'
HEALTHY = "healthy: caught up (0 messages waiting)\n"
UPGRADE = ("scored messages hold field(s) this sink does not know: 'verdict_confidence' "
           "({rows}), 'verdict_notes' ({rows}); those rows are exported without them "
           "(written by a newer detector? upgrade the sink to export them)")


def _upgrade(n: int) -> str:
    return UPGRADE.format(rows="1 row" if n == 1 else f"{n} rows")


def _sink(folder: Path, newer: set[int], *, stop: bool = False) -> dict[str, Any]:
    """A sink's folder after 60 rows, those at `newer` holding a newer detector's fields;
    its heartbeat caught up (or its clean stop); run.json's content."""
    w = SinkWriter(folder, TOPIC, ExportSettings(), on_rollup=write_report_from_rollup)
    w.add([(0, i, encode(tx)[:-1] + NEWER if i in newer else encode(tx))
           for i, tx in enumerate(random_scored(60, seed=3))])
    w.checkpoint()
    run = w.write_rollups()
    if stop:
        w.stopped({"lag_messages": 0})
    else:
        w.heartbeat({"lag_messages": 0})
    w.close()
    return run


def _health(folder: Path) -> tuple[int, str]:
    proc = _check("sink.health", SINK_EXPORTS_DIR=str(folder))
    assert proc.stderr == ""
    return proc.returncode, proc.stdout


@pytest.mark.parametrize("n", [0, 1, 2])
def test_the_health_check_names_the_fields_and_keeps_its_exit_code(tmp_path: Path, n: int
                                                                   ) -> None:
    run = _sink(tmp_path, set(range(n)))
    assert run["rows_with_unknown_fields"] == n
    note = "" if n == 0 else f"note: {_upgrade(n)}\n"
    assert _health(tmp_path) == (0, HEALTHY + note)


def test_an_unhealthy_sink_still_names_the_fields(tmp_path: Path) -> None:
    _sink(tmp_path, {5, 6, 7}, stop=True)
    code, out = _health(tmp_path)
    first, second = out.splitlines()
    assert code == 1 and first.startswith("unhealthy: the sink stopped at ")
    assert second == "note: " + _upgrade(3)


def _edit_run(folder: Path, **changes: Any) -> None:
    path = folder / "run.json"
    run = json.loads(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            run.pop(key, None)
        else:
            run[key] = value
    path.write_text(json.dumps(run), encoding="utf-8")


def test_an_older_run_json_without_the_count_adds_no_note(tmp_path: Path) -> None:
    _sink(tmp_path, set())
    _edit_run(tmp_path, unknown_scored_fields=None, rows_with_unknown_fields=None)
    assert _health(tmp_path) == (0, HEALTHY)


def test_a_field_this_sink_knows_now_is_said_as_missing_before_its_upgrade(
        tmp_path: Path) -> None:
    """The count stays in the checkpoint across the sink's upgrade: a name it knows now is
    no longer "upgrade the sink", but the rows scored before it lack that column."""
    _sink(tmp_path, set())
    _edit_run(tmp_path, unknown_scored_fields={"model_score": 40, "verdict_confidence": 2})
    assert _health(tmp_path) == (0, HEALTHY + "note: " + (
        "scored messages hold field(s) this sink does not know: 'verdict_confidence' (2 "
        "rows); those rows are exported without them (written by a newer detector? upgrade "
        "the sink to export them); rows scored before this sink's upgrade lack column(s) "
        "'model_score' (40 rows): the sink then did not know them (a folder rebuilt from "
        "the topic has them for the rows it still holds)") + "\n")


@pytest.mark.parametrize("names", [15, 16, 17, 1_000])
def test_a_hand_edited_run_json_is_bounded_and_escaped(tmp_path: Path, names: int) -> None:
    _sink(tmp_path, set())
    long = "n" * 100
    fields = {f"f{i:04d}\u202e{long}": 1 for i in range(names)}
    _edit_run(tmp_path, unknown_scored_fields=fields)
    code, out = _health(tmp_path)
    assert code == 0 and out.count("\n") == 2 and "\u202e" not in out
    shown = [f"'f{i:04d}\\u202e{'n' * 35}' (1 row)" for i in range(min(names, 16))]
    assert out == HEALTHY + "note: scored messages hold field(s) this sink does not know: " + (
        ", ".join(shown) + "; those rows are exported without them (written by a newer "
        "detector? upgrade the sink to export them)\n")


def test_an_unreadable_run_json_is_one_line_and_keeps_the_exit_code(tmp_path: Path) -> None:
    _sink(tmp_path, {1})
    (tmp_path / "run.json").write_text("{not json", encoding="utf-8")
    code, out = _health(tmp_path)
    assert code == 0 and out.startswith(HEALTHY)
    assert out[len(HEALTHY):].startswith(f"note: cannot read {tmp_path / 'run.json'} for the "
                                         "fields the sink did not know: Expecting ")
    assert out.count("\n") == 2


# --- report.html ----------------------------------------------------------------------------

def test_report_html_names_the_fields_beside_its_freshness(tmp_path: Path) -> None:
    _sink(tmp_path / "plain", set())
    _sink(tmp_path / "newer", {2, 3, 4, 9})
    assert _cards(tmp_path / "plain").get("_skew") == ""
    assert _cards(tmp_path / "newer").get("_skew") == "Note: " + _upgrade(4)


def test_report_html_shows_a_hostile_name_as_text(tmp_path: Path) -> None:
    """A name is text however it reads (the page sets it with textContent; the data block
    escapes `<`), bounded and escaped as run.json has it."""
    _sink(tmp_path, set())
    name = "</script><img src=x onerror=alert(1)>\u2028"
    _edit_run(tmp_path, unknown_scored_fields={name: 7})
    write_report(tmp_path)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<img" not in html
    assert _cards(tmp_path).get("_skew") == (
        "Note: scored messages hold field(s) this sink does not know: "
        "'</script><img src=x onerror=alert(1)>\\u2028' (7 rows); those rows are exported "
        "without them (written by a newer detector? upgrade the sink to export them)")
