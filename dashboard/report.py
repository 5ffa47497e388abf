"""The offline HTML report: `report.html`, self-contained, written into the exports folder.

`write_report(exports_dir, cubes, tables, run)` takes what the sink just wrote from its
rollup state, handed over at the composition root (`auditstream.report`): the volume counts,
the small tables (thresholds, metrics_by_type, cases) and run.json's content, so nothing is
read back. Without them (`auditstream dashboard report DIR`) the small tables and run.json
are read from the folder; status.csv always is, judged at the page's making
(`shared.freshness`); without cubes the page has no volume charts. The data travels as one JSON
block; every untrusted string is rendered by the page's script with `textContent`, never as
markup, and the JSON is escaped so no value can close its `<script>` element.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from dashboard.labels import column_label
from dashboard.series import SERIES_COLORS
from dashboard.spec import ASSURANCE_TABLE, CASE_TABLE
from shared.atomic import atomic_write_text
from shared.columns import (
    ASSURANCE_COLUMNS,
    CASES_COLUMNS,
    METRICS_BY_TYPE_COLUMNS,
    STATUS_COLUMNS,
    THRESHOLD_COLUMNS,
)
from shared.csv_encoding import unmatched_header
from shared.csv_lines import BoundedLines, LineTooLong, TextSource
from shared.date_range import read_range
from shared.errors import UsageError
from shared.exports_folder import REPORT_NAME as REPORT_NAME
from shared.exports_folder import RUN_FILE, STATUS_FILE
from shared.freshness import batch_run, describe
from shared.outputs import open_text
from shared.skew import skew_note

log = logging.getLogger(__name__)

#: The small tables the page shows, each `<name>.csv` in the exports folder.
TABLES = ("thresholds", "metrics_by_type", "cases", "assurance")
#: Each table's columns (`shared.columns`), by which its header is known.
_COLUMNS = {"thresholds": THRESHOLD_COLUMNS, "metrics_by_type": METRICS_BY_TYPE_COLUMNS,
            "cases": CASES_COLUMNS, "assurance": ASSURANCE_COLUMNS}

#: One cube row: [dimension value, rule flag 0/1, label 1/0/-1 (unknown), bin 0..101, count];
#: bin 0 is never flagged, bin k+1 holds k/100 <= score < (k+1)/100.
CubeRow = tuple[str, int, int, int, int]
#: A small table's rows as the page gets them: column name -> the cell's text.
Table = Sequence[Mapping[str, str]]


@dataclass(frozen=True)
class VolumeCubes:
    """Counts per dimension (day, channel, anomaly_type), rule flag, label and score bin."""

    rows: int
    cubes: dict[str, list[CubeRow]] = field(default_factory=dict)


def damaged(path: Path, what: str) -> UsageError:
    """A file of the exports that cannot be read as written: one line, exit 2."""
    return UsageError(f"cannot read {path}: {what} (a damaged or hand-edited file); make "
                      "the exports again (`auditstream score` or the sink) or restore it")


def read_csv(path: Path, columns: Sequence[str] = (), table: str = ""
             ) -> tuple[list[str], list[dict[str, str]]]:
    """An exports table as written: (header, rows as column -> cell text); `damaged` (exit 2)
    when it is not (given the `columns` of its `table`: a header naming none of them, said
    as `;`-separated when Excel saved it so), `FileNotFoundError` when there is none."""
    try:
        text = _read_text(path, "utf-8-sig")  # a BOM, as Excel saves, is no cell
        # lines bounded (`shared.csv_lines`): a line of commas was a list of a cell each
        reader = csv.reader(BoundedLines(TextSource(text)))
        rows = [row for row in reader if row]
    except UnicodeDecodeError:
        raise damaged(path, "not UTF-8 text") from None
    except LineTooLong as exc:
        raise damaged(path, str(exc)) from None
    except csv.Error as exc:
        raise damaged(path, f"not a CSV table ({exc})") from None
    if not rows:
        raise damaged(path, "not a CSV table (no header)")
    # A file cut short (pandas padded its last row with empty cells) would show a shorter
    # slider and cut figures as if they were the data: every row as wide as the header, and
    # the last one ended, as the exports write them.
    if not text.endswith(("\n", "\r")):
        raise damaged(path, "cut short (its last line has no end)")
    header, *body = rows
    if columns and (hint := unmatched_header(header, columns)) is not None:
        raise damaged(path, f"none of the columns of table {table} ({', '.join(columns[:3])}, "
                      f"...) in its header{hint}")
    for n, row in enumerate(body, start=1):
        if len(row) != len(header):
            raise damaged(path, f"data row {n} has {len(row)} of the {len(header)} columns")
    return header, [dict(zip(header, row, strict=True)) for row in body]


def _read_text(path: Path, encoding: str) -> str:
    """`path.read_text(encoding)` of a regular file at the name itself (`open_text`)."""
    with open_text(path, encoding) as fh:
        return fh.read()


def _read_table(path: Path, name: str) -> list[dict[str, str]]:
    return read_csv(path, _COLUMNS[name], name)[1] if os.path.lexists(path) else []


def read_run(path: Path) -> dict[str, Any]:
    """run.json's content ({} when there is none); `damaged` when it is not a JSON object."""
    try:
        data = json.loads(_read_text(path, "utf-8"))
    except FileNotFoundError:
        return {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise damaged(path, f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise damaged(path, "not a JSON object")
    return data


def collect(exports_dir: Path, cubes: VolumeCubes | None = None,
            tables: Mapping[str, Table] | None = None,
            run: Mapping[str, Any] | None = None,
            now: datetime | None = None) -> dict[str, Any]:
    """Everything the page shows, as plain JSON-ready values.

    `tables` (by name: thresholds, metrics_by_type, cases) and `run` are what the caller
    just wrote; each one not given is read from its file in `exports_dir`. status.csv is
    read and judged at `now` (default: the clock; `read_status`).
    """
    data: dict[str, Any] = {
        name: list(tables[name]) if tables is not None and name in tables
        else _read_table(exports_dir / f"{name}.csv", name)
        for name in TABLES
    }
    data["rows"] = cubes.rows if cubes else 0
    data["cubes"] = {k: [list(r) for r in v] for k, v in cubes.cubes.items()} if cubes else {}
    if run is None:
        run = read_run(exports_dir / RUN_FILE)
    data["run"] = {str(k): v for k, v in run.items() if isinstance(v, str | int | float | bool)}
    # the days the daily chart spans; the cube's days outside it are listed on their own
    span = read_range(run)
    data["date_range"] = list(span) if span else None
    data["status"] = read_status(exports_dir, now or datetime.now(UTC).replace(tzinfo=None))
    # beside the freshness: fields of scored messages the sink did not know (`shared.skew`)
    data["skew"] = skew_note(run)
    # how the page names each column and run.json key: as Power BI's visuals do
    named = sorted({*data["run"], *CASES_COLUMNS, *ASSURANCE_COLUMNS, *THRESHOLD_COLUMNS})
    data["labels"] = {name: column_label(name) for name in named}
    data["case_columns"] = list(CASE_TABLE)  # as Power BI's cases table
    # as Power BI's assurance table, but the threshold: the page lists no threshold rows
    data["assurance_columns"] = [c for c, _ in ASSURANCE_TABLE if c != "threshold"]
    data["colors"] = dict(SERIES_COLORS)  # each series' colour, as Power BI's visuals
    return data


def read_status(exports_dir: Path, now: datetime) -> dict[str, str]:
    """status.csv judged at `now` (naive UTC, this page's making): the freshness sentence
    (`shared.freshness.describe`: no lag claimed for a heartbeat older than the staleness)
    and the heartbeat it rests on (none for a batch run's row: no sink beat); {} when there
    is none, `damaged` when it is not one row."""
    path = exports_dir / STATUS_FILE
    if not os.path.lexists(path):
        return {}
    rows = read_csv(path, STATUS_COLUMNS, "status")[1]
    if len(rows) != 1:
        raise damaged(path, f"{len(rows)} rows, not 1")
    try:
        said = describe(rows[0], now)
    except ValueError as exc:
        raise damaged(path, f"a time or count that is not one ({exc})") from None
    beat = "" if batch_run(rows[0]) else rows[0].get("heartbeat_at") or ""
    return {"freshness": said, "heartbeat_at": beat}


def script_json(data: dict[str, Any]) -> str:
    """JSON safe to embed in a `<script>` element (no `<`, `>`, `&` or line separators)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def _asset(name: str) -> str:
    return resources.files("dashboard").joinpath("assets", name).read_text(encoding="utf-8")


def render(data: dict[str, Any]) -> str:
    """The whole page: template with inline CSS, data and JS (no external resource)."""
    # One pass over the template: replaced in turn, a marker inside the data (a customer id
    # `/*JS*/`) was itself replaced by the script, and the data block no longer parsed.
    parts = {"/*CSS*/": _asset("report.css"), "/*DATA*/": script_json(data),
             "/*JS*/": _asset("report.js")}
    return re.sub(r"/\*(?:CSS|DATA|JS)\*/", lambda m: parts[m.group(0)], _asset("report.html"))


def write_report(exports_dir: Path, cubes: VolumeCubes | None = None,
                 tables: Mapping[str, Table] | None = None,
                 run: Mapping[str, Any] | None = None, into: Path | None = None) -> Path:
    """Write `report.html` into `exports_dir` (or the folder `into`) atomically; return its
    path.

    `cubes`: the volume counts (the sink's, through `auditstream.report`); None: no charts.
    `tables`, `run`: see `collect` (the sink hands over what it wrote; else the files).
    """
    exports_dir = Path(exports_dir)
    target = Path(into or exports_dir) / REPORT_NAME
    atomic_write_text(target, render(collect(exports_dir, cubes, tables, run)))
    log.debug("report written to %s", target)
    return target
