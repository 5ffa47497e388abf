"""Build `dashboard_anomalies.pbix` from the PBIP folder and a sample export snapshot.

pbix-mcp (pinned in pyproject) turns the TMDL model + PBIR report into a `.pbix`, then the
snapshot's rows are loaded into each table. Loading rows makes pbix-mcp rewrite *every*
partition's M as an inline literal, so the `ExportsFolder` queries are set again only after
all tables hold their data, and last the fact table's incremental refresh policy (the same
as the TMDL's) is written into the model's metadata (checked by the tests with pbixray).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from dashboard.report import damaged, read_csv, read_run
from dashboard.reproducible import build_epoch, canonical_zip, deterministic, input_digest
from dashboard.spec import (
    ARCHIVE_YEARS,
    DATE_COLUMNS,
    DATE_TABLE,
    NAME,
    READ_AT,
    REFRESH_DAYS,
    RUN_COLUMNS,
    RUN_TABLE,
    TABLES,
    Table,
)
from dashboard.tmdl import date_table_m, partition_m, run_table_m
from shared.atomic import atomic_path
from shared.date_range import read_range
from shared.dayfiles import FIRST_DAY, LAST_DAY, day_files
from shared.errors import AuditstreamError, OutputError, UsageError
from shared.exports_folder import RUN_FILE
from shared.names import shown

log = logging.getLogger(__name__)

#: TOM's enum values (RefreshPolicyType.Basic, RefreshGranularityType, RefreshPolicyMode):
#: what the metadata of a model with an incremental refresh policy stores.
POLICY_BASIC, DAY, YEAR, IMPORT = 0, 0, 3, 0
_KIND_WORDS = {"int64": "a whole number", "double": "a number", "boolean": "True or False",
               "dateTime": "an ISO time", "string": "text"}
_BUILDER_TYPES = {"int64": "Int64", "double": "Float64", "string": "String",
                  "dateTime": "DateTime", "boolean": "Boolean"}


class DashboardBuildError(AuditstreamError):
    """pbix-mcp refused a step of the `.pbix` build."""


def _cell(value: str, kind: str) -> Any:
    """A cell as Power Query types it; ValueError when it is not a value of `kind`."""
    if value == "":
        return None
    if kind == "int64":
        return int(float(value))
    if kind == "double":
        return float(value)
    if kind == "boolean":
        return value.strip().lower() == "true"
    if kind == "dateTime":
        dt.datetime.fromisoformat(value)
    return value


def _table_files(table: Table, exports_dir: Path) -> list[Path]:
    """What the table's query reads: its file, or the fact table's day files in day order
    (`shared.dayfiles`: a copy named like one is not read, as the query does not load it)."""
    if table.day_folder:
        return day_files(exports_dir)
    return [exports_dir / table.file]


def read_table_csv(table: Table, path: Path) -> list[dict[str, str]]:
    """One file of a table, each row as column -> cell text; a column of the table its
    header lacks is empty (null), as the query reads a file an older version wrote
    (`tmdl.partition_m`). A column given twice, or a header with none of the table's
    columns (not this table's file), is one line, exit 2."""
    if not path.is_file():
        raise UsageError(f"{path}: missing; the model reads it, so the .pbix's snapshot needs "
                         "it: give --exports a whole exports folder (the sink's, or `auditstream "
                         "score --out`)")
    header, rows = read_csv(path, table.csv_columns, table.name)
    for column in table.csv_columns:
        if header.count(column) > 1:
            raise damaged(path, f"column {column!r} given twice")
    return rows


def table_rows(table: Table, exports_dir: Path) -> list[dict[str, Any]]:
    """A table's rows as Power Query would type them (derived `date` included; `read_at`: the
    status row read as the sink wrote it, at its heartbeat); a cell that is not a value of
    its column's type is one line naming file, row and column, exit 2."""
    kinds = {c: table.type_of(c) for c in table.columns}
    out = []
    for path in _table_files(table, exports_dir):
        for n, rec in enumerate(read_table_csv(table, path), start=1):
            if "date" in table.columns and "timestamp" in rec:
                rec["date"] = f"{rec['timestamp'][:10]}T00:00:00" if rec["timestamp"] else ""
            if READ_AT in table.columns:  # the snapshot read as the sink wrote it
                rec[READ_AT] = rec.get("heartbeat_at", "")
            row = {}
            for column, kind in kinds.items():
                value = rec.get(column, "")
                try:
                    row[column] = _cell(value, kind)
                except (ValueError, OverflowError):
                    raise damaged(path, f"data row {n}, column {column}: {value!r} is not "
                                  f"{_KIND_WORDS[kind]}") from None
            out.append(row)
    return out


def date_rows(exports_dir: Path) -> list[dict[str, Any]]:
    """The date dimension as its M query builds it: each day of run.json's date range
    (`shared.date_range`), within the event times allowed (`shared.dayfiles`): a hand-edited
    range of 0001-01-01 .. 9999-12-31 made 3.6 million rows (1.3 GiB) before failing."""
    path = exports_dir / RUN_FILE
    span = read_range(read_run(path))
    if span is None:
        return []
    try:
        day, end = (dt.date.fromisoformat(d) for d in span)
    except ValueError:
        raise damaged(path, f"event times or date range give {span[0]!r} .. {span[1]!r}, "
                      "not ISO dates") from None
    if not FIRST_DAY <= day <= LAST_DAY or not FIRST_DAY <= end <= LAST_DAY:
        raise damaged(path, f"date range {span[0]} .. {span[1]} is beyond the event times "
                      f"allowed ({FIRST_DAY} .. {LAST_DAY})")
    rows = []
    while day <= end:
        rows.append({"date": f"{day.isoformat()}T00:00:00", "year": day.year,
                     "month": day.isoformat()[:7]})
        day += dt.timedelta(days=1)
    return rows


def run_rows(exports_dir: Path) -> list[dict[str, Any]]:
    """The run table as its M query builds it: one row of run.json's RUN_COLUMNS, a field
    it lacks null; a field that is not text (the only kind declared) is one line, exit 2."""
    path = exports_dir / RUN_FILE
    run = read_run(path)
    row = {column: run.get(column) for column, _ in RUN_COLUMNS}
    for column, value in row.items():
        if value is not None and not isinstance(value, str):
            raise damaged(path, f"{column} is {value!r}, not text")
    return [row]


#: pbix-mcp's words for a write the disk refused in TMPDIR, where it builds the .pbix
#: (sqlite's for a full disk and for `ulimit -f`, and an OSError's): exit 5, not 2.
DISK_REFUSED = ("database or disk is full", "disk I/O error", "No space left on device",
                "File too large", "Disk quota exceeded")


def _check(result: str, step: str) -> None:
    """A step pbix-mcp refused, in one line: its message's first; the Python traceback it
    appends (the caught exception's) goes to the debug log."""
    reply = json.loads(result)
    if not reply.get("success"):
        message = str(reply.get("message") or reply)
        first = message.strip().splitlines()[0] if message.strip() else message
        log.debug("pbix-mcp refused %s: %s", step, message)
        if any(words in first for words in DISK_REFUSED):
            raise OutputError(
                f"cannot write {shown(tempfile.gettempdir())} (TMPDIR, where the .pbix is "
                f"built): {step}: {first}; free space on it or set TMPDIR to another "
                "folder, then run again")
        raise DashboardBuildError(f"{step}: {first}")


def _set_refresh_policy(server: Any, alias: str, table: Table) -> None:
    """The TMDL's policy (`tmdl.refresh_policy_tmdl`) as a RefreshPolicy row of the model.

    pbix-mcp's `pbix_set_incremental_refresh` refuses a file without a DataMashup section
    (this V3 model keeps its M in the partitions) and stores granularities and the policy
    type one above TOM's values, so the row is written through its metadata round trip.
    """
    import sqlite3

    def write(conn: sqlite3.Connection) -> None:
        c = conn.cursor()
        (table_id,) = c.execute("SELECT ID FROM [Table] WHERE Name = ?", (table.name,)).fetchone()
        c.execute("DELETE FROM RefreshPolicy WHERE TableID = ?", (table_id,))
        (policy_id,) = c.execute("SELECT COALESCE(MAX(ID), 0) + 1 FROM RefreshPolicy").fetchone()
        c.execute("INSERT INTO RefreshPolicy (ID, TableID, PolicyType, RollingWindowGranularity, "
                  "RollingWindowPeriods, IncrementalGranularity, IncrementalPeriods, "
                  "IncrementalPeriodsOffset, PollingExpression, SourceExpression, Mode) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, 0, NULL, ?, ?)",
                  (policy_id, table_id, POLICY_BASIC, YEAR, ARCHIVE_YEARS, DAY, REFRESH_DAYS,
                   partition_m(table), IMPORT))
        c.execute("UPDATE [Table] SET RefreshPolicyID = ? WHERE ID = ?", (policy_id, table_id))
        conn.commit()

    try:
        folder = server._ensure_open(alias)["work_dir"]
        server._modify_metadata_only(os.path.join(folder, "DataModel"), write)
        server._ensure_open(alias)["modified"] = True
    except Exception as exc:  # pbix-mcp's internals: say which step failed
        raise DashboardBuildError(f"refresh policy of {table.name}: {exc}") from exc


Payloads = tuple[list[tuple[str, str]], list[tuple[str, str]]]


def sample_payloads(exports_dir: Path) -> Payloads:
    """(table, rows as pbix-mcp's JSON) for every table and (table, M) for every query; a
    missing or damaged exports file is one line, exit 2 (`read_table_csv`, `table_rows`)."""
    loads = []
    for table in TABLES:
        columns = [{"name": c, "data_type": _BUILDER_TYPES[table.type_of(c)],
                    "nullable": True} for c in table.columns]
        loads.append((table.name, json.dumps({"columns": columns,
                                              "rows": table_rows(table, exports_dir)})))
    columns = [{"name": c, "data_type": _BUILDER_TYPES[k], "nullable": True}
               for c, k in DATE_COLUMNS]
    loads.append((DATE_TABLE, json.dumps({"columns": columns, "rows": date_rows(exports_dir)})))
    columns = [{"name": c, "data_type": _BUILDER_TYPES[k], "nullable": True}
               for c, k in RUN_COLUMNS]
    loads.append((RUN_TABLE, json.dumps({"columns": columns, "rows": run_rows(exports_dir)})))
    queries = [(t.name, partition_m(t)) for t in TABLES] + [(DATE_TABLE, date_table_m()),
                                                             (RUN_TABLE, run_table_m())]
    return loads, queries


def build_pbix(project_root: Path, exports_dir: Path, out: Path,
               epoch: int | None = None, payloads: Payloads | None = None) -> Path:
    """`<project_root>/<name>.pbip` + the CSVs in `exports_dir` -> `out` (replaced atomically),
    dated `epoch` (default: `build_epoch(exports_dir)`), loaded with `payloads` (default:
    `sample_payloads(exports_dir)`).

    Byte-reproducible: the same project and exports give the same file (`dashboard.reproducible`:
    pbix-mcp's ids and clock follow the inputs and the build epoch, the ZIP is canonical).
    """
    from pbix_mcp import server  # type: ignore[import-untyped]

    loads, queries = payloads if payloads is not None else sample_payloads(exports_dir)
    if epoch is None:
        epoch = build_epoch(exports_dir)
    seed = input_digest(project_root, [text for pair in loads + queries for text in pair])
    alias = f"auditstream-{os.getpid()}"
    with atomic_path(out) as tmp, tempfile.TemporaryDirectory() as scratch:
        saved = Path(scratch) / f"{NAME}.pbix"
        with warnings.catch_warnings(), deterministic(seed, epoch):
            warnings.simplefilter("ignore", UserWarning)  # "table has no rows" while loading
            _check(server.pbix_open_pbip(str(project_root / f"{NAME}.pbip"), alias=alias),
                   "open")
            try:
                for name, data in loads:
                    _check(server.pbix_set_table_data(alias, name, data), f"load {name}")
                for name, m in queries:
                    _check(server.pbix_set_partition_m(alias, name, m), f"query {name}")
                for table in TABLES:
                    if table.day_folder:
                        _set_refresh_policy(server, alias, table)
                _check(server.pbix_save(alias, output_path=str(saved), overwrite=True,
                                        backup=False), "save")
            finally:
                server.pbix_close(alias, force=True)
                scratch_pbix = Path(tempfile.gettempdir()).glob(
                    f"pbix_mcp_pbip_{alias}_{os.getpid()}_*")
                for leftover in scratch_pbix:  # pbix_open_pbip's intermediate file
                    leftover.unlink(missing_ok=True)
        try:
            canonical_zip(saved, tmp, epoch, seed)
        except ValueError as exc:  # stable_xpress9 refused a stream it cannot re-sign
            raise DashboardBuildError(f"reproducible ZIP: {exc}") from exc
    log.info("built %s from %s and %s", out, project_root, exports_dir)
    return out
