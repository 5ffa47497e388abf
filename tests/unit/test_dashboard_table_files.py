"""The dashboard's tables read the files the exports declare (`shared.exports_folder`), not
names of their own: `dashboard/spec.py` built each file name as `f"{name}.csv"` from its
own table names, a second source beside the declared `ROLLUP_FILES`, so a renamed export
would have left the model loading a file no writer makes (a refresh failing in Desktop)."""

from __future__ import annotations

from dashboard.spec import TABLES
from shared.dayfiles import SCORED_DIR
from shared.exports_folder import (
    EXPORT_FILES,
    REPORT_NAME,
    ROLLUP_FILES,
    RUN_FILE,
    SCORED_FILE,
    STATUS_FILE,
)


def test_the_model_loads_every_table_the_exports_write_and_nothing_else() -> None:
    files = [t.file for t in TABLES]
    assert len(set(files)) == len(files), files
    tables = [name for name in ROLLUP_FILES if name != RUN_FILE]
    assert sorted(files) == sorted([SCORED_FILE, STATUS_FILE, *tables])
    assert set(files) == set(EXPORT_FILES) - {REPORT_NAME, RUN_FILE}


def test_a_tables_name_is_its_files_and_only_the_fact_table_reads_the_day_files() -> None:
    for table in TABLES:
        assert table.file == f"{table.name}.csv"
        assert table.day_folder == (SCORED_DIR if table.file == SCORED_FILE else "")
