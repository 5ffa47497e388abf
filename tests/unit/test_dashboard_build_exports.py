"""`dashboard build --exports DIR` on a folder that is not the whole, intact exports the model
reads: one line naming the file (and row and column), exit 2, the project as it was.

Before (a hostile probe): a missing table, a run.json that is not a JSON object and a cell
that is not of its column's type were tracebacks, exit 70, "internal error (a bug)", after
the PBIP project had been written; a missing column, a duplicated one and a day file cut
mid-row were read by pandas as empty or padded cells and built into the .pbix, exit 0. (A
missing column is read as null since 2026-12-06, as the refresh reads an older version's
file; a header holding none of the table's columns is refused.)
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from auditstream.cli import main as cli_main
from dashboard.build import SAMPLE_EXPORTS
from dashboard.spec import NAME
from shared import date_range

Damage = Callable[[Path], object]


def _day(folder: Path) -> Path:
    return sorted((folder / "scored").glob("*.csv"))[0]


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, count), encoding="utf-8", newline="")


def _first_line(path: Path, edit: Callable[[str], str]) -> None:
    head, rest = path.read_text(encoding="utf-8").split("\n", 1)
    path.write_text("\n".join([edit(head), rest]), encoding="utf-8", newline="")


def _second_line(path: Path, edit: Callable[[str], str]) -> None:
    head, second, rest = path.read_text(encoding="utf-8").split("\n", 2)
    path.write_text("\n".join([head, edit(second), rest]), encoding="utf-8", newline="")


def _older_run(path: Path, **fields: str) -> None:
    """run.json as a release before the date range wrote it (no range, no marks), edited."""
    run = json.loads(path.read_text(encoding="utf-8"))
    for name in (*date_range.FIELDS, *date_range.ROW_MARK_FIELDS, "event_low_watermark",
                 "event_watermark"):
        run.pop(name, None)
    path.write_text(json.dumps(run | fields, indent=2), encoding="utf-8")


DAMAGES: list[tuple[str, Damage, str]] = [
    ("missing table", lambda f: (f / "status.csv").unlink(), "status.csv: missing"),
    # a missing column is null, as the refresh reads an older version's file (2026-12-06:
    # tests/unit/test_dashboard_old_exports.py); a header with none of its table's columns
    # is no file of that table
    ("no column of its table", lambda f: _first_line(
        f / "cases.csv", lambda h: ",".join(f"c{i}" for i in range(h.count(",") + 1))),
     "cases.csv: none of the columns of table cases"),
    ("column twice", lambda f: _edit(f / "cases.csv", ",note\n", ",outcome\n"),
     "cases.csv: column 'outcome' given twice"),
    ("day file cut mid-row", lambda f: _day(f).write_bytes(_day(f).read_bytes()[:-30]),
     "cut short"),
    ("text in a count", lambda f: _second_line(f / "cases.csv", lambda r: "x" + r[1:]),
     "cases.csv: data row 1, column rank: 'x' is not a whole number"),
    ("an impossible time", lambda f: _second_line(
        _day(f), lambda r: r.replace("2025-01-", "2025-13-", 1)), "column timestamp:"),
    ("text in a number", lambda f: _second_line(
        f / "thresholds.csv", lambda r: "zero" + r[r.index(","):]),
     "thresholds.csv: data row 1, column threshold: 'zero' is not a number"),
    ("run.json not JSON", lambda f: (f / "run.json").write_text("{", encoding="utf-8"),
     "run.json: not JSON"),
    ("run.json a list", lambda f: (f / "run.json").write_text("[1]", encoding="utf-8"),
     "run.json: not a JSON object"),
    ("date range not a date", lambda f: _edit(
        f / "run.json", '"date_range_first": "', '"date_range_first": "x'),
     "run.json: event times or date range"),
    # the model reads event_time_min only from a run.json without the range and its marks
    ("older run.json, event_time_min not a time", lambda f: _older_run(
        f / "run.json", event_time_min="x2025-01-01T06:31:42"), "run.json: event times"),
]


@pytest.mark.parametrize(("damage", "says"), [(d, s) for _, d, s in DAMAGES],
                         ids=[name for name, _, _ in DAMAGES])
def test_a_damaged_exports_folder_is_one_line_exit_2_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: Damage, says: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    exports, out = tmp_path / "exports", tmp_path / "project"
    shutil.copytree(SAMPLE_EXPORTS, exports)
    damage(exports)
    assert cli_main(["dashboard", "build", "--out", str(out), "--exports", str(exports)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("auditstream dashboard: error: ") and says in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (out / f"{NAME}.pbip").exists() and not (out / f"{NAME}.pbix").exists()


def test_an_exports_path_that_is_not_a_folder_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    missing = tmp_path / "nowhere"
    assert cli_main(["dashboard", "build", "--out", str(tmp_path / "p"),
                     "--exports", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"{missing} is not a folder" in err and err.count("\n") == 1
