"""What a day file is (`shared.dayfiles`): one exact rule for the sink, `score`, report.html,
the `.pbix` build and the Power BI query.

Before (a hostile probe): every reader took any `scored/transactions_scored_*.csv`, and the
Power BI query any name with the prefix and `.csv`, its date read from characters 20-29. So
`transactions_scored_2025-01-01 - Copy.csv` (what Windows Explorer names a copy) was loaded
by Power BI and the `.pbix` build as a second 2025-01-01, counted by `dashboard report`,
and deleted by the sink at its next start (`remove_unrecorded`), by `score` (`publish`) and
by `--reset`; a folder at a day file's name was a traceback at the sink's start.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditstream.report import write_report_from_exports
from dashboard.pbix import table_rows
from dashboard.spec import TABLES
from dashboard.tmdl import partition_m
from shared import dayfiles as df
from shared.codec import encode
from shared.exports_folder import holds_exports
from sink import days as dy
from sink.offline import write_exports
from sink.settings import ExportSettings
from sink.state import SinkStateError
from sink.writer import SinkWriter
from tests.unit.test_rollup_pandas import random_scored

TOPIC = "transactions.scored"
FACT = next(t for t in TABLES if t.day_folder)
#: Names a user's tools make beside a day file, or that only look like one.
STRANGERS = [
    "transactions_scored_2025-01-01 - Copy.csv",  # Windows Explorer's copy
    "transactions_scored_2025-01-01.csv.bak.csv",
    "transactions_scored_2025-01-01(1).csv",  # a browser's second download
    "transactions_scored_2025-1-1.csv",
    "transactions_scored_9999-99-99.csv",
    "transactions_scored_2025-02-30.csv",
    "transactions_scored_2025-13-01.csv",
    "transactions_scored_20250101xx.csv",  # the right length, no date
    "transactions_scored_+2025-01-1.csv",
    "transactions_scored_ 2025-01-1.csv",
    "transactions_scored_2025_01_01.csv",
    "transactions_scored_\u0662\u0660\u0662\u0665-01-01.csv",  # Arabic-Indic digits
    "transactions_scored_2025-01-01 .csv",
    "transactions_scored_2025-01-01.CSV",
    "Transactions_scored_2025-01-01.csv",
    "transactions_scored_2025-01-01.tsv",
    "transactions_scored_2025-01-01.csv.tmp",
    "transactions_scored_.csv",
    "transactions_scored.csv",
]
#: Days at and one day either side of the rule's edges: the range, and leap years.
BOUNDARY = {"1969-12-31": False, "1970-01-01": True, "1970-01-02": True,
            "2100-12-30": True, "2100-12-31": True, "2101-01-01": False,
            "2024-02-28": True, "2024-02-29": True, "2024-03-01": True,
            "2025-02-28": True, "2025-02-29": False, "2025-02-30": False, "2025-03-01": True,
            "2000-02-29": True, "2100-02-29": False}


# -- the rule ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("day", "ok"), sorted(BOUNDARY.items()))
def test_a_day_file_is_of_a_real_date_in_the_schemas_range(day: str, ok: bool) -> None:
    assert df.day_of(df.file_name(day)) == (day if ok else None)
    assert df.day_of(dy.day_file(day)) == (day if ok else None)  # a folder-relative name too


@pytest.mark.parametrize("name", STRANGERS)
def test_a_name_that_only_looks_like_a_day_file_is_none(name: str) -> None:
    assert df.day_of(name) is None


@given(st.dates(df.FIRST_DAY, df.LAST_DAY))
def test_every_day_in_range_names_its_file_and_back(day: date) -> None:
    text = day.isoformat()
    assert df.day_of(df.file_name(text)) == text
    assert df.day_of(dy.day_file(text)) == text
    assert len(df.file_name(text)) == df.NAME_CHARS


def _oracle(name: str) -> str | None:
    """The rule said otherwise: the name is the file name of a date in range, printed
    back the same."""
    middle = name[len(df.PREFIX):-len(df.SUFFIX)] if name.startswith(df.PREFIX) else ""
    try:
        day = datetime.strptime(middle, "%Y-%m-%d").date()
    except ValueError:
        return None
    ok = df.FIRST_DAY <= day <= df.LAST_DAY and name == df.file_name(day.isoformat())
    return day.isoformat() if ok else None


#: Text near a day file's name: the prefix, 6 to 14 characters of date-like text, a suffix.
NEAR = st.builds(lambda mid, suffix: f"{df.PREFIX}{mid}{suffix}",
                 st.text(alphabet="0123456789-+ _\u0661x", min_size=6, max_size=14),
                 st.sampled_from([".csv", ".csv ", ".CSV", " - Copy.csv", "(1).csv", ""]))


@given(st.one_of(st.text(), NEAR, st.dates().map(lambda d: df.file_name(d.isoformat()))))
def test_any_other_text_is_no_day_file(name: str) -> None:
    assert df.day_of(name) == _oracle(name)


# -- the rule in Power BI's M ------------------------------------------------------------------

def _m_text_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2  # M counts UTF-16 code units, as .NET


def _m_middle(text: str, offset: int, count: int) -> str:
    units = text.encode("utf-16-le", "surrogatepass")
    return units[2 * offset:2 * (offset + count)].decode("utf-16-le", "surrogatepass")


def _m_date_from_text(text: str, options: dict[str, str]) -> date:
    # More lenient than .NET's ParseExact (it also takes `2025-1-1`, spaces): the rule
    # must not depend on how strict the parser is, so it prints the date back to compare.
    assert options == {"Format": df.M_DATE_FORMAT, "Culture": "en-US"}
    return datetime.strptime(text.strip(), "%Y-%m-%d").date()


def _m_date_to_text(day: date, options: dict[str, str]) -> str:
    assert options == {"Format": df.M_DATE_FORMAT, "Culture": "en-US"}
    return f"{day.year:04d}-{day.month:02d}-{day.day:02d}"


def _m_try(thunk: Callable[[], Any]) -> Any:
    try:
        return thunk()
    except Exception:  # M's `try ... otherwise false`: any error
        return False


M_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "Text.Length": _m_text_length,
    "Text.StartsWith": lambda text, start: text.startswith(start),  # ordinal, as M's default
    "Text.EndsWith": lambda text, end: text.endswith(end),
    "Text.Middle": _m_middle,
    "Date.FromText": _m_date_from_text,
    "Date.ToText": _m_date_to_text,
    "Value.Is": lambda value, kind: kind == "binary" and isinstance(value, bytes),
}


def _record(match: re.Match[str]) -> str:
    fields = re.findall(r'(\w+)="([^"]*)"', match.group(1))
    return "{" + ", ".join(f'"{k}": "{v}"' for k, v in fields) + "}"


def _python(m: str) -> str:
    """An M expression of the query's filter steps as Python: a file's fields (`[Name]`)
    from `row`, records as dicts, `try X otherwise false`, `=`, the library calls in `M`."""
    assert '""' not in m  # no M string with a quote in it: as Python reads it
    py = re.sub(r'\[(\w+="[^"]*"(?:, \w+="[^"]*")*)\]', _record, m)
    py = re.sub(r"\[(Name|Extension|Content)\]", r'row["\1"]', py)
    py = py.replace("type binary", '"binary"')
    py = py.replace("(try ", "_try(lambda: ").replace(" otherwise false)", ")")
    py = py.replace(" = ", " == ").replace("<>", "!=")
    return re.sub(r"\b(Text|Date|Value)\.(\w+)\(", r'M["\1.\2"](', py)


def _step(m: str, name: str) -> str | None:
    """The expression of the `let` step `name` of the query `m`, or None."""
    found = [line.strip() for line in m.splitlines() if line.strip().startswith(f"{name} = ")]
    return found[0].removeprefix(f"{name} = ").rstrip(",") if found else None


@cache
def m_loads() -> Callable[[str], bool]:
    """Whether the generated query loads a file of `scored/` of that name: its `Named`
    step's filter (and the `IsDayFile` function it calls, if any), read from the M text and
    evaluated in Python, operator for operator (`and` stops at the first false in both)."""
    m = partition_m(FACT)
    named = _step(m, "Named")
    assert named and named.startswith("Table.SelectRows(Files, each ") and named.endswith(")")
    scope: dict[str, Any] = {"M": M_FUNCTIONS, "_try": _m_try}
    if rule := _step(m, "IsDayFile"):
        head, body = rule.split(" => ", 1)
        assert head == "(n)"
        scope["IsDayFile"] = eval(compile(f"lambda n: {_python(body)}", "IsDayFile", "eval"),
                                  scope)
    test = compile(_python(named.removeprefix("Table.SelectRows(Files, each ")[:-1]),
                   "Named", "eval")

    def loads(name: str) -> bool:
        row = {"Name": name, "Extension": Path(name).suffix, "Content": b"a file's bytes"}
        return bool(eval(test, {**scope, "row": row}))
    return loads


@pytest.mark.parametrize(("name", "day_file"), [
    *((name, False) for name in STRANGERS),
    *((df.file_name(day), ok) for day, ok in sorted(BOUNDARY.items()))])
def test_power_bi_loads_exactly_the_files_the_sink_writes(name: str, day_file: bool) -> None:
    assert m_loads()(name) == day_file == (df.day_of(name) is not None)


@given(st.one_of(st.text(), NEAR, st.dates().map(lambda d: df.file_name(d.isoformat()))))
def test_power_bi_takes_a_name_as_a_day_file_exactly_when_the_sink_does(name: str) -> None:
    assert m_loads()(name) == (df.day_of(name) is not None)


def test_power_bi_reads_files_of_scored_itself_and_their_day_as_the_rule_does() -> None:
    m = partition_m(FACT)
    # one level (no copy of the folder below it), files only, each name through the rule
    assert f'Folder.Contents(ExportsFolder & "{df.SCORED_DIR}")' in m and "Folder.Files" not in m
    assert ("Named = Table.SelectRows(Files, each Value.Is([Content], type binary) and "
            "IsDayFile([Name]))") in m
    assert (f"Text.Middle([Name], {len(df.PREFIX)}, {df.DATE_CHARS}), "
            f'[Format="{df.M_DATE_FORMAT}", Culture="en-US"])') in m.split("Dated = ")[1]
    assert "Dated = Table.AddColumn(Named," in m  # the day of a day file only


# -- the readers -------------------------------------------------------------------------------

def _strange_files(folder: Path, day: Path) -> dict[str, bytes]:
    """Copies of `day` (a day file) under names that only look like one, in its folder."""
    made = {}
    for name in STRANGERS[:9]:
        (day.parent / name).write_bytes(day.read_bytes())
        made[name] = day.read_bytes()
    return made


def _sink(folder: Path, rows: int, seed: int, **kw: Any) -> SinkWriter:
    w = SinkWriter(folder, TOPIC, ExportSettings(), **kw)
    records = [(i % 2, i // 2, encode(tx)) for i, tx in enumerate(random_scored(rows, seed))]
    for at in range(0, len(records), 500):
        w.add(records[at:at + 500])
        w.checkpoint()
    return w


def _strangers_warned(caplog: pytest.LogCaptureFixture, names: list[str]) -> None:
    warned = [r.getMessage() for r in caplog.records
              if r.levelno == logging.WARNING and "named like day files" in r.getMessage()]
    assert len(warned) == 1, warned
    assert all(name in warned[0] for name in names)


@pytest.mark.parametrize("folder", [False, True])
def test_a_sink_restart_leaves_strangers_alone_and_names_them_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, folder: bool,
) -> None:
    _sink(tmp_path, 3_000, 3).close()
    days = dy.day_files(tmp_path)
    strangers = _strange_files(tmp_path, days[0])
    if folder:  # a folder named like a day file: was a traceback (IsADirectoryError)
        (tmp_path / "scored" / "transactions_scored_2025-01-02 - Copy.csv").mkdir()
    caplog.set_level(logging.WARNING)
    w = SinkWriter(tmp_path, TOPIC, ExportSettings())  # restore: cut, recount, remove
    assert w.rows == 3_000 and w.cp.rollup.volume.rows == 3_000
    w.close()
    for name, content in strangers.items():  # never deleted, cut nor appended to
        assert (tmp_path / "scored" / name).read_bytes() == content, name
    assert dy.day_files(tmp_path) == days
    _strangers_warned(caplog, [*strangers, *(["2025-01-02 - Copy.csv"] if folder else [])])


def test_reset_deletes_the_day_files_and_no_stranger(tmp_path: Path) -> None:
    _sink(tmp_path, 1_000, 3).close()
    strangers = _strange_files(tmp_path, dy.day_files(tmp_path)[0])
    SinkWriter(tmp_path, TOPIC, ExportSettings(), reset=True).close()
    assert dy.day_files(tmp_path) == []
    assert sorted(p.name for p in (tmp_path / "scored").iterdir()) == sorted(strangers)


def test_a_folder_holding_only_strangers_has_no_day_files(tmp_path: Path) -> None:
    (tmp_path / "scored").mkdir()
    (tmp_path / "scored" / STRANGERS[0]).write_text("a stranger's rows\n")
    assert not holds_exports(tmp_path)  # `dashboard report`: "no exports"
    assert dy.day_files(tmp_path) == []
    SinkWriter(tmp_path, TOPIC, ExportSettings()).close()  # a fresh folder, not another run's
    assert (tmp_path / "scored" / STRANGERS[0]).read_text() == "a stranger's rows\n"


@pytest.mark.parametrize("kind", ["folder", "link"])
def test_a_folder_or_link_at_a_day_files_name_is_refused_in_one_line(
    tmp_path: Path, kind: str,
) -> None:
    _sink(tmp_path, 1_000, 3).close()
    there = tmp_path / "scored" / df.file_name("2030-01-01")
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("someone's file\n")
    there.mkdir() if kind == "folder" else there.symlink_to(outside)
    with pytest.raises(SinkStateError, match=re.escape(str(there)) + ".* not a regular file"):
        SinkWriter(tmp_path, TOPIC, ExportSettings())
    assert there.is_dir() if kind == "folder" else there.is_symlink()
    assert outside.read_text() == "someone's file\n"
    assert df.day_files(tmp_path) == sorted(df.day_files(tmp_path))
    assert there not in df.day_files(tmp_path) and there in df.strangers(tmp_path)


def test_the_watermark_upgrade_read_takes_no_strangers_rows(tmp_path: Path) -> None:
    write_exports(random_scored(3_000, seed=3), tmp_path)
    for day in dy.day_files(tmp_path):  # only copies left, of rows of many customers
        day.rename(day.with_name(STRANGERS[0].replace("2025-01-01", dy.day_of(day.name) or "")))
    assert len(list((tmp_path / "scored").iterdir())) >= 2
    rows, flagged = dy.read_watermarks(tmp_path, 1, "", "")
    assert rows.value == "" and flagged.value == ""
    assert dy.day_files(tmp_path) == [] and len(df.strangers(tmp_path)) >= 2


def test_score_leaves_strangers_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_exports(random_scored(500, seed=3), tmp_path)
    strangers = _strange_files(tmp_path, dy.day_files(tmp_path)[0])
    caplog.set_level(logging.WARNING)
    write_exports(random_scored(500, seed=5), tmp_path)  # a second run into the folder
    for name, content in strangers.items():  # publish() deleted them as old day files
        assert (tmp_path / "scored" / name).read_bytes() == content, name
    _strangers_warned(caplog, list(strangers))


def test_dashboard_report_counts_the_day_files_only(tmp_path: Path) -> None:
    write_exports(random_scored(600, seed=3), tmp_path)
    alone = write_report_from_exports(tmp_path).read_bytes()
    day = dy.day_files(tmp_path)[0]
    shutil.copy(day, day.with_name(STRANGERS[0]))
    (day.parent / STRANGERS[1]).write_bytes(day.read_bytes()[:-30])  # would be "cut short"
    assert write_report_from_exports(tmp_path).read_bytes() == alone


def test_the_pbix_snapshot_holds_the_day_files_rows_only(tmp_path: Path) -> None:
    write_exports(random_scored(600, seed=3), tmp_path)
    rows = table_rows(FACT, tmp_path)
    assert len(rows) == 600
    _strange_files(tmp_path, dy.day_files(tmp_path)[0])
    assert table_rows(FACT, tmp_path) == rows


def test_the_committed_sample_exports_are_day_files_only() -> None:
    from dashboard.build import SAMPLE_EXPORTS
    days = df.day_files(SAMPLE_EXPORTS)
    assert days and df.strangers(SAMPLE_EXPORTS) == []
    assert sorted((SAMPLE_EXPORTS / df.SCORED_DIR).iterdir()) == days
