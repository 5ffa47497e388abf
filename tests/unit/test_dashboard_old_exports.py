"""An exports folder written by an older version: a table without the columns added since
(status.csv before `stopped_at`, 2026-12-06, and `source`, the same day) refreshes with
those columns null, and the freshness card says what it can; it failed the refresh ("The
column 'stopped_at' of the table wasn't found.") and `dashboard build --exports` refused it.

The query is run by the emulator of `tests/m_refresh.py` (Power Query's documented column
semantics over the committed model's own M); the card by pbix-mcp's DAX engine on a
`.pbix` built from the sample snapshot with the old status.csv.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.build import SAMPLE_EXPORTS
from dashboard.pbix import build_pbix, read_table_csv
from dashboard.spec import NAME, TABLES, Table
from dashboard.tmdl import partition_m
from shared.columns import STATUS_COLUMNS
from shared.errors import AuditstreamError
from tests.m_refresh import UNEVALUATED, MError, refresh

ROOT = Path(__file__).resolve().parents[2]
STATUS = next(t for t in TABLES if t.file == "status.csv")
BY_NAME = {t.name: t for t in TABLES if not t.day_folder}  # single-file tables
#: status.csv's header before 3a4ecf6 (2026-12-06), as `git show 3a4ecf6^:shared/columns.py`
#: declares it: no `stopped_at`, no `source`.
OLD_STATUS_HEADER = ("data_as_of", "last_row_written_at", "heartbeat_at", "rows",
                     "lag_messages", "minutes_behind", "auditstream_version",
                     "librdkafka_version", "model_versions")
OLD_STATUS_ROW = ("2025-01-30T21:58:40", "2025-01-30T22:00:01", "2025-01-30T22:00:05", "2342",
                  "17", "3", "0.1.0", "2.3.0", "if-v1:778;rules-only:1564")


def _csv(header: tuple[str, ...] | list[str], rows: list[tuple[str, ...]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)  # "\r\n": a cell holding "\r" or "\n" is quoted
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def test_the_emulator_fails_a_step_on_a_missing_column_unless_told_to_use_null() -> None:
    files = {"t.csv": "a,b\n1,2\n"}
    head = ('let Source = Csv.Document(File.Contents(ExportsFolder & "t.csv"), [Delimiter=","]), '
            "Promoted = Table.PromoteHeaders(Source, [PromoteAllScalars=true]), ")
    with pytest.raises(MError, match="The column 'c' of the table wasn't found"):
        refresh(head + 'Typed = Table.TransformColumnTypes(Promoted, {{"c", Int64.Type}}, '
                '"en-US") in Typed', files)
    kept = refresh(head + 'Kept = Table.SelectColumns(Promoted, {"c", "a"}, '
                   "MissingField.UseNull) in Kept", files)
    assert kept.records() == [{"c": None, "a": "1"}]


def test_the_old_header_is_the_current_one_without_the_later_columns() -> None:
    assert [c for c in STATUS_COLUMNS if c not in OLD_STATUS_HEADER] == ["stopped_at", "source"]
    assert tuple(c for c in STATUS_COLUMNS if c in OLD_STATUS_HEADER) == OLD_STATUS_HEADER


def test_an_old_status_csv_refreshes_with_the_later_columns_null() -> None:
    files = {"status.csv": _csv(OLD_STATUS_HEADER, [OLD_STATUS_ROW])}
    table = refresh(partition_m(STATUS), files)
    assert table.columns == list(STATUS.columns)
    (row,) = table.records()
    assert row == {
        "data_as_of": datetime(2025, 1, 30, 21, 58, 40),
        "last_row_written_at": datetime(2025, 1, 30, 22, 0, 1),
        "heartbeat_at": datetime(2025, 1, 30, 22, 0, 5),
        "rows": 2342, "lag_messages": 17, "minutes_behind": 3,
        "auditstream_version": "0.1.0", "librdkafka_version": "2.3.0",
        "model_versions": "if-v1:778;rules-only:1564",
        "stopped_at": None, "source": None, "read_at": UNEVALUATED}


def _cell(table: Table, column: str, draw: Any) -> str:
    kind = table.type_of(column)
    if kind == "boolean":
        return str(draw(st.sampled_from(["True", "False", ""])))
    if kind == "int64":
        return str(draw(st.integers(0, 10**6)))
    if kind == "double":
        return repr(draw(st.floats(0, 1e6, allow_nan=False)))
    if kind == "dateTime":
        return str(draw(st.datetimes(datetime(1970, 1, 1), datetime(2100, 12, 31)))
                   .replace(microsecond=0).isoformat())
    return str(draw(st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]),
                            max_size=8)))


#: What a present, non-empty cell of each type reads as.
_EXPECT: dict[str, Any] = {"boolean": lambda t: t.lower() == "true", "int64": int,
                           "double": float, "dateTime": datetime.fromisoformat,
                           "string": lambda t: t}


@st.composite
def _older_file(draw: Any) -> tuple[str, list[str], list[tuple[str, ...]]]:
    """A table's file as another version may write it: any of its columns missing, in any
    order, with a column this model does not know."""
    table = BY_NAME[draw(st.sampled_from(sorted(BY_NAME)))]
    kept = draw(st.lists(st.sampled_from(table.csv_columns), unique=True, min_size=1))
    header = [*kept, "added_by_a_later_version"]
    rows = [tuple(_cell(table, c, draw) if c in table.csv_columns else "x" for c in header)
            for _ in range(draw(st.integers(0, 3)))]
    return table.name, header, rows


@settings(max_examples=150, deadline=None)
@given(_older_file())
def test_any_table_missing_any_columns_refreshes_with_them_null(
        case: tuple[str, list[str], list[tuple[str, ...]]]) -> None:
    name, header, rows = case
    table = BY_NAME[name]
    result = refresh(partition_m(table), {table.file: _csv(header, rows)})
    assert result.columns == list(table.columns)
    for got, cells in zip(result.records(), rows, strict=True):
        given_ = dict(zip(header, cells, strict=True))
        want = {c: _EXPECT[table.type_of(c)](given_[c]) if given_.get(c) else None
                for c in table.csv_columns}
        assert {c: got[c] for c in table.csv_columns} == want, table.name


def test_a_repeated_column_is_still_refused_by_the_build(tmp_path: Path) -> None:
    path = tmp_path / "status.csv"
    path.write_text(_csv([*OLD_STATUS_HEADER, "rows"], [(*OLD_STATUS_ROW, "1")]),
                    encoding="utf-8")
    with pytest.raises(AuditstreamError, match="column 'rows' given twice"):
        read_table_csv(STATUS, path)


def test_a_file_holding_none_of_its_tables_columns_is_refused_by_the_build(
        tmp_path: Path) -> None:
    path = tmp_path / "status.csv"
    path.write_text(_csv(["name", "amount"], [("a", "1")]), encoding="utf-8")
    with pytest.raises(AuditstreamError, match="none of the columns of table status"):
        read_table_csv(STATUS, path)


@pytest.fixture(scope="module")
def old_card(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The "Data As Of" card of a .pbix built from the sample with the old status.csv."""
    from pbix_mcp import server  # type: ignore[import-untyped]

    work = tmp_path_factory.mktemp("old-status")
    exports = work / "exports"
    shutil.copytree(SAMPLE_EXPORTS, exports)
    (exports / "status.csv").write_text(_csv(OLD_STATUS_HEADER, [OLD_STATUS_ROW]),
                                        encoding="utf-8")
    pbix = build_pbix(ROOT, exports, work / f"{NAME}.pbix")
    alias = "auditstream-old-status"
    assert json.loads(server.pbix_open(str(pbix), alias=alias))["success"]
    try:
        (result,) = json.loads(server.pbix_evaluate_dax(
            alias, "Data As Of", filter_context="", apply_default_filters=False))["results"]
        yield str(result["value"])
    finally:
        server.pbix_close(alias, force=True)


def test_the_card_of_an_old_status_csv_says_what_it_knows(old_card: str) -> None:
    """No `stopped_at` (null): not stopped; no `source` (null): a sink's row, as every
    status.csv before `source` that had a lag was; the heartbeat is judged at read time
    (the build reads it at the heartbeat), so the lag stands."""
    assert old_card == "data as of 2025-01-30 21:58, 3 minutes behind the stream"
