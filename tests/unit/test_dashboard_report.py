"""report.html: counts fed by the sink, safe embedding of untrusted text, atomic writes."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from auditstream.report import (
    count_scored_csv,
    cubes_of,
    write_report_from_exports,
    write_report_from_rollup,
)
from dashboard import report
from dashboard.report import write_report
from shared.columns import SCORED_COLUMNS
from sink import days as dy
from sink.exports import Rollups
from sink.offline import write_exports
from sink.rollup import UNSPECIFIED_TYPE, RollupState, score_bin
from sink.volume import DIMENSIONS, SinkRollup, VolumeCounts
from tests.scored_days import read_scored, scored_lines
from tests.unit.test_rollup_pandas import random_scored

SAMPLE = Path(__file__).resolve().parents[2] / "dashboard" / "sample_exports"
PAYLOAD = '</script><script>alert("xss")</script><img src=x onerror=alert(1)>'


@pytest.fixture()
def exports(tmp_path: Path) -> Path:
    shutil.copytree(SAMPLE, tmp_path, dirs_exist_ok=True)
    return tmp_path


def _embedded_data(html: str) -> dict[str, object]:
    match = re.search(r'<script id="report-data" type="application/json">(.*?)</script>',
                      html, re.S)
    assert match, "data block missing"
    data: dict[str, object] = json.loads(match.group(1))
    return data


def _flagged(cube: list[tuple[str, int, int, int, int]], k: int, hybrid: bool) -> int:
    return sum(n for _, rule, _, b, n in cube if b > k or (hybrid and rule == 1))


def _sample_counts() -> VolumeCounts:
    counts = count_scored_csv(*dy.day_files(SAMPLE))
    assert counts is not None
    return counts


def test_cubes_reproduce_flag_counts_of_thresholds_csv_at_every_grid_threshold() -> None:
    cubes = _sample_counts().cubes()
    sweep = pd.read_csv(SAMPLE / "thresholds.csv")
    for row in sweep.itertuples():
        k = round(row.threshold * 100)
        for dim in DIMENSIONS:
            assert _flagged(cubes[dim], k, hybrid=False) == row.ml_flagged
            assert _flagged(cubes[dim], k, hybrid=True) == row.hybrid_flagged


def test_a_row_without_model_score_is_never_flagged_by_the_model() -> None:
    cells = [""] * len(SCORED_COLUMNS)
    at = {c: i for i, c in enumerate(SCORED_COLUMNS)}
    cells[at["timestamp"]], cells[at["channel"]] = "2025-01-02 10:00:00", "app"
    cells[at["score"]], cells[at["is_rule_flag"]] = "0.97", "False"
    counts = VolumeCounts()
    counts.update([cells, [*cells[:at["model_score"]], "0.0", *cells[at["model_score"] + 1:]]])
    bins = sorted(r[3] for r in counts.cubes()["channel"])
    assert bins == [0, 1]  # no model_score: bin 0, below every threshold; 0.0: bin 1
    assert not any(b > k for b in bins[:1] for k in range(101))


def test_cube_size_is_bounded_by_dimensions_not_rows() -> None:
    counts = _sample_counts()
    cubes = counts.cubes()
    days = {r[0] for r in cubes["day"]}
    assert len(cubes["day"]) <= len(days) * 2 * 3 * 102
    assert sum(len(v) for v in cubes.values()) < counts.rows


@pytest.mark.parametrize("score", [0.0, 0.29, 0.57, 0.58, 0.999, 1.0, 1.5])
def test_score_bin_agrees_with_threshold_comparison_on_the_grid(score: float) -> None:
    k = score_bin(score)
    assert all((score >= t / 100) == (k > t) for t in range(101))


@pytest.mark.parametrize("score", [None, float("nan"), -0.01])
def test_a_row_without_a_usable_score_is_never_ml_flagged(score: float | None) -> None:
    assert score_bin(score) == 0


def test_the_sinks_counts_in_batches_equal_its_csv_read_back(exports: Path) -> None:
    rows = list(csv.reader(scored_lines(exports)))
    state = SinkRollup(100)
    for lo in range(0, len(rows), 700):  # batches, as the streaming sink gets them
        delta = SinkRollup(100)
        delta.volume.update(rows[lo : lo + 700])
        state.merge(delta)
    restored = SinkRollup.from_json(json.loads(json.dumps(state.to_json())))
    assert restored.volume.cubes() == _sample_counts().cubes()
    assert restored.volume.rows == len(rows)


def test_the_report_fed_by_the_sink_equals_the_report_read_from_its_files(
    tmp_path: Path,
) -> None:
    fed: list[dict[str, object]] = []

    def on_rollup(rollups: Rollups, folder: Path) -> None:
        # fed, not read: made in the staging folder, which holds no scored/ to count
        assert folder != tmp_path and not (folder / "scored").exists()
        fed.append(_embedded_data(write_report_from_rollup(rollups, folder).read_text("utf-8")))

    write_exports(random_scored(3_000, seed=5), tmp_path, on_rollup=on_rollup)
    read = _embedded_data(write_report_from_exports(tmp_path).read_text("utf-8"))
    assert fed == [read]
    # cases.csv: the top 100 cases plus every case of the last 7 days (all, on 31 h of data)
    listed = len(pd.read_csv(tmp_path / "cases.csv"))
    assert read["rows"] == 3_000 and len(read["cases"]) == listed > 100  # type: ignore[arg-type]


def test_a_missing_anomaly_type_has_the_rollups_name() -> None:
    cells = next(csv.reader(scored_lines(SAMPLE)))
    cells[SCORED_COLUMNS.index("anomaly_type")] = ""
    counts = VolumeCounts()
    counts.update([cells])
    assert [r[0] for r in counts.cubes()["anomaly_type"]] == [UNSPECIFIED_TYPE]


def test_report_is_self_contained(exports: Path) -> None:
    html = write_report(exports).read_text(encoding="utf-8")
    assert not re.search(r'\b(src|href)\s*=\s*["\']?(https?:)?//', html)
    assert "@import" not in html and "url(" not in html
    assert "default-src 'none'" in html  # CSP: the page may not fetch anything


def test_report_embeds_the_tables_it_shows(exports: Path) -> None:
    data = _embedded_data(write_report_from_exports(exports).read_text(encoding="utf-8"))
    assert len(data["thresholds"]) == len(pd.read_csv(exports / "thresholds.csv"))  # type: ignore[arg-type]
    assert len(data["cases"]) == len(pd.read_csv(exports / "cases.csv"))  # type: ignore[arg-type]
    assert data["rows"] == len(read_scored(exports))


def test_untrusted_reasons_cannot_close_the_data_script(exports: Path) -> None:
    cases = pd.read_csv(exports / "cases.csv", dtype=str, keep_default_na=False)
    cases.loc[0, "reasons_top3"] = PAYLOAD
    cases.loc[1, "merchant_category"] = "<b>&amp;\u2028"
    cases.to_csv(exports / "cases.csv", index=False)
    html = write_report(exports).read_text(encoding="utf-8")
    assert html.count("</script>") == 2  # the data block and the code block, nothing else
    assert "<img src=x" not in html
    data = _embedded_data(html)
    assert data["cases"][0]["reasons_top3"] == PAYLOAD  # type: ignore[index]
    assert data["cases"][1]["merchant_category"] == "<b>&amp;\u2028"  # type: ignore[index]


def test_page_script_never_assigns_markup() -> None:
    script = (Path(report.__file__).parent / "assets" / "report.js").read_text()
    assert "innerHTML" not in script and "outerHTML" not in script
    assert "insertAdjacentHTML" not in script and "document.write" not in script


def test_report_replaces_the_old_file_atomically(exports: Path) -> None:
    target = write_report(exports)
    before = target.read_text(encoding="utf-8")
    (exports / "cases.csv").unlink()
    write_report(exports)
    assert target.read_text(encoding="utf-8") != before
    assert [p.name for p in exports.iterdir() if p.name.startswith(".")] == []


def test_failed_render_leaves_the_previous_report_and_no_temp_file(
    exports: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = write_report(exports)
    before = target.read_bytes()

    def broken_render(data: dict[str, object]) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(report, "render", broken_render)
    with pytest.raises(RuntimeError):
        write_report(exports)
    assert target.read_bytes() == before
    assert sorted(p.name for p in exports.iterdir()) == sorted(
        [*(p.name for p in SAMPLE.iterdir()), "report.html"])


def test_report_renders_with_only_some_exports_present(tmp_path: Path) -> None:
    shutil.copy(SAMPLE / "thresholds.csv", tmp_path / "thresholds.csv")
    data = _embedded_data(write_report(tmp_path).read_text(encoding="utf-8"))
    assert data["rows"] == 0 and data["cases"] == [] and len(data["thresholds"]) == 101  # type: ignore[arg-type]


def test_caller_supplied_cubes_skip_reading_transactions(exports: Path) -> None:
    cubes = cubes_of(_sample_counts())
    shutil.rmtree(exports / "scored")
    data = _embedded_data(write_report(exports, cubes=cubes).read_text(encoding="utf-8"))
    assert data["rows"] == cubes.rows


def test_scored_file_missing_a_column_still_gives_a_report(exports: Path) -> None:
    scored = dy.day_files(exports)[0]
    pd.read_csv(scored).drop(columns=["channel"]).to_csv(scored, index=False)
    data = _embedded_data(write_report_from_exports(exports).read_text(encoding="utf-8"))
    assert data["rows"] == 0 and len(data["thresholds"]) == 101  # type: ignore[arg-type]


def test_sigterm_while_a_dashboard_command_writes_ends_it_like_ctrl_c(
    monkeypatch: pytest.MonkeyPatch, exports: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # SIGTERM used to kill the dashboard commands where they stood: the temporary file of
    # what was being written (or the Chromium of `screenshots`) stayed behind.
    import os
    import signal

    import auditstream.dashboard_cmd as cmd
    from auditstream.cli import main
    from shared.atomic import atomic_path

    before = sorted(p.name for p in exports.iterdir())

    def terminated_midway(folder: Path) -> Path:
        with atomic_path(folder / "report.html") as tmp:
            tmp.write_text("half a page")
            os.kill(os.getpid(), signal.SIGTERM)
            tmp.write_text("the whole page")  # never reached: the signal interrupts
        return folder / "report.html"

    monkeypatch.setattr(cmd, "write_report_from_exports", terminated_midway)
    assert main(["dashboard", "report", str(exports)]) == 130
    assert capsys.readouterr().err.endswith("auditstream dashboard: interrupted\n")
    assert sorted(p.name for p in exports.iterdir()) == before  # no temporary file left
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def _day_file(folder: Path) -> Path:
    return dy.day_files(folder)[0]


@pytest.mark.parametrize(("damage", "says"), [
    (lambda f: _day_file(f).write_bytes(_day_file(f).read_bytes()[:-150]), "columns"),
    (lambda f: _day_file(f).write_bytes(b"\xff\xfe\x00" + _day_file(f).read_bytes()),
     "not UTF-8"),
    (lambda f: (f / "cases.csv").write_bytes(b"\xff\xfe\x00"), "not UTF-8"),
    (lambda f: (f / "run.json").write_text('{"rows": '), "not JSON"),
    (lambda f: (f / "run.json").write_text("[1, 2]"), "not a JSON object"),
    (lambda f: (f / "thresholds.csv").write_text(""), "not a CSV table"),
])
def test_a_damaged_exports_file_is_one_line_and_exit_2(
    exports: Path, capsys: pytest.CaptureFixture[str], damage: object, says: str,
) -> None:
    """`dashboard report` on a damaged folder raised IndexError / UnicodeDecodeError (exit 70,
    a traceback), or wrote a page with an empty run and exit 0 (a hostile probe)."""
    from auditstream.cli import main

    before = (exports / "report.html").read_bytes() if (exports / "report.html").exists() else None
    damage(exports)  # type: ignore[operator]
    assert main(["dashboard", "report", str(exports)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("auditstream dashboard: error: cannot read ") and says in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    after = (exports / "report.html").read_bytes() if (exports / "report.html").exists() else None
    assert after == before  # the page as it was


@pytest.mark.parametrize("marker", ["/*JS*/", "/*DATA*/", "/*CSS*/"])
def test_a_template_marker_in_exported_text_stays_text(exports: Path, marker: str) -> None:
    """A customer id (free text from the input) `/*JS*/` was replaced by the page's whole
    script inside the data block: the JSON no longer parsed and report.html showed nothing
    (a hostile probe)."""
    with (exports / "cases.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    rows[1][rows[0].index("customer_id")] = marker
    with (exports / "cases.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    html = write_report(exports).read_text(encoding="utf-8")
    assert _embedded_data(html)["cases"][0]["customer_id"] == marker  # type: ignore[index]
    assert html.count("</script>") == 2


@pytest.mark.parametrize(("table", "keep"), [
    ("thresholds.csv", 1 / 3), ("cases.csv", 1 / 3), ("assurance.csv", 1 / 3),
    ("thresholds.csv", 1.0),  # at the end of a row, before its line end: every cell there
])
def test_a_table_cut_mid_row_is_damaged_exit_2_not_a_report(
    exports: Path, capsys: pytest.CaptureFixture[str], table: str, keep: float,
) -> None:
    """A half-written table (a copy cut short, a disk full while copying): pandas pads the
    last row's missing cells with empty text, so the report was written from it, exit 0,
    the slider ending early and the last row's figures cut (0.7333 for 0.7333333333333333).
    A hostile probe."""
    from auditstream.cli import main

    data = (exports / table).read_bytes()
    lines = data.split(b"\n")
    cut = len(b"\n".join(lines[:3])) + 1 + int(len(lines[3]) * keep)
    (exports / table).write_bytes(data[:cut])
    assert main(["dashboard", "report", str(exports)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"auditstream dashboard: error: cannot read {exports / table}: "), err
    assert "Traceback" not in err and not (exports / "report.html").exists()


def test_a_table_saved_back_with_a_byte_order_mark_reads_as_before(exports: Path) -> None:
    """Excel saves UTF-8 with a BOM: read as a cell, it renamed the first column (pandas,
    before the csv module, dropped it)."""
    before = _embedded_data(write_report(exports).read_text(encoding="utf-8"))
    path = exports / "thresholds.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    after = _embedded_data(write_report(exports).read_text(encoding="utf-8"))
    assert after == before


def _saved_by_excel_with_semicolons(path: Path) -> None:
    """`path` as Excel saves a CSV where the decimal mark is a comma (a French or German
    region): `;` between cells, decimal commas, a BOM, CRLF line ends."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        csv.writer(fh, delimiter=";", lineterminator="\r\n").writerows(
            [[re.sub(r"^(-?\d+)\.(\d+)$", r"\1,\2", c) for c in row] for row in rows])


@pytest.mark.parametrize("table", ["status.csv", "thresholds.csv", "cases.csv",
                                   "assurance.csv", "metrics_by_type.csv"])
def test_a_table_saved_back_by_excel_with_semicolons_is_named_so_exit_2(
    exports: Path, capsys: pytest.CaptureFixture[str], table: str,
) -> None:
    """An auditor opens an exports table in Excel with a comma as decimal mark and saves it
    (hostile probe, 2026-12-06, fourteenth). status.csv's row holds no comma, so it read as
    one cell under a header of one: report.html said "no data yet" over the data, exit 0;
    the other tables were "data row 1 has 26 of the 1 columns", which says nothing of the
    separator that the input readers name."""
    from auditstream.cli import main

    _saved_by_excel_with_semicolons(exports / table)
    assert main(["dashboard", "report", str(exports)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"auditstream dashboard: error: cannot read {exports / table}: "), err
    assert "separated by semicolons, not commas" in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (exports / "report.html").exists()


def test_a_day_file_saved_back_by_excel_with_a_byte_order_mark_counts_as_before(
        exports: Path) -> None:
    """A day file opened in Excel and saved as "CSV UTF-8" (a BOM, CRLF; hostile probe,
    2026-12-06, fourteenth): its header read as `\\ufefftransaction_id, ...`, "other
    columns", so report.html was written without a single volume chart (`rows` 0 of 2,342),
    exit 0, a warning in the log the only word."""
    before = _embedded_data(write_report_from_exports(exports).read_text(encoding="utf-8"))
    day = dy.day_files(exports)[0]
    text = day.read_text(encoding="utf-8").replace("\r\n", "\n").replace("\n", "\r\n")
    day.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    after = _embedded_data(write_report_from_exports(exports).read_text(encoding="utf-8"))
    assert (after["rows"], after["cubes"]) == (before["rows"], before["cubes"])
    assert after == before


def test_each_row_is_counted_under_its_utc_date_rule_flag_label_and_model_score_bin() -> None:
    """report.js reads a cube row as [value, rule 0/1, label 1/0/-1, bin, count]: labelled
    anomalies are label 1, labelled normal rows 0, rows without a label -1 (left out of the
    label-based charts), and the day is the date `YYYY-MM-DD` it lays out on the run's range."""
    at = {c: i for i, c in enumerate(SCORED_COLUMNS)}

    def row(ts: str, channel: str, label: str, kind: str, rule: str, model: str) -> list[str]:
        cells = [""] * len(SCORED_COLUMNS)
        for col, v in (("timestamp", ts), ("channel", channel), ("is_anomaly", label),
                       ("anomaly_type", kind), ("is_rule_flag", rule), ("model_score", model)):
            cells[at[col]] = v
        return cells

    counts = VolumeCounts()
    counts.update([
        row("2025-01-02 23:59:59", "app", "True", "BURST", "True", "0.57"),
        row("2025-01-03 00:00:00", "web", "False", "normal", "False", ""),
        row("2025-01-03 00:00:01", "web", "", "", "False", "0.99"),
        row("2025-01-03 12:00:00", "web", "", "", "False", "0.99"),
    ])
    assert counts.rows == 4
    assert counts.cubes() == {
        "day": [("2025-01-02", 1, 1, 58, 1), ("2025-01-03", 0, -1, 100, 2),
                ("2025-01-03", 0, 0, 0, 1)],
        "channel": [("app", 1, 1, 58, 1), ("web", 0, -1, 100, 2), ("web", 0, 0, 0, 1)],
        "anomaly_type": [("BURST", 1, 1, 58, 1), ("normal", 0, 0, 0, 1),
                         (UNSPECIFIED_TYPE, 0, -1, 100, 2)],
    }


def test_a_rollup_without_volume_counts_is_refused_by_the_sinks_not_merged_half() -> None:
    """Its rows would be counted in the rollup and missing from the report's charts."""
    state = SinkRollup(100)
    with pytest.raises(TypeError, match=r"^cannot merge a RollupState into a SinkRollup$"):
        state.merge(RollupState(100))
    assert state.rows == 0 and state.volume.rows == 0
