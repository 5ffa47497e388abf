"""report.html: bounded aggregates, safe embedding of untrusted text, atomic writes."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from dashboard import aggregates, report
from dashboard.aggregates import cached_cubes, compute_cubes, score_bin
from dashboard.report import write_report

SAMPLE = Path(__file__).resolve().parents[2] / "dashboard" / "sample_exports"
PAYLOAD = '</script><script>alert("xss")</script><img src=x onerror=alert(1)>'


@pytest.fixture()
def exports(tmp_path: Path) -> Path:
    for csv in SAMPLE.glob("*"):
        shutil.copy(csv, tmp_path / csv.name)
    return tmp_path


def _embedded_data(html: str) -> dict[str, object]:
    match = re.search(r'<script id="report-data" type="application/json">(.*?)</script>',
                      html, re.S)
    assert match, "data block missing"
    data: dict[str, object] = json.loads(match.group(1))
    return data


def _flagged(cube: list[tuple[str, int, int, int, int]], k: int, hybrid: bool) -> int:
    return sum(n for _, rule, _, b, n in cube if b >= k or (hybrid and rule == 1))


def test_cubes_reproduce_flag_counts_of_thresholds_csv_at_every_grid_threshold() -> None:
    cubes = compute_cubes(SAMPLE / "transactions_scored.csv")
    sweep = pd.read_csv(SAMPLE / "thresholds.csv")
    for row in sweep.itertuples():
        k = round(row.threshold * 100)
        for dim in aggregates.DIMENSIONS:
            assert _flagged(cubes.cubes[dim], k, hybrid=False) == row.ml_flagged
            assert _flagged(cubes.cubes[dim], k, hybrid=True) == row.hybrid_flagged


def test_a_row_without_model_score_is_never_flagged_by_the_model() -> None:
    bins = score_bin(pd.Series(["", "nan", "0.0"]))
    assert bins.tolist() == [-1, -1, 0]
    assert not any(b >= 0 for b in bins[:2])


def test_cube_size_is_bounded_by_dimensions_not_rows() -> None:
    cubes = compute_cubes(SAMPLE / "transactions_scored.csv")
    days = {r[0] for r in cubes.cubes["day"]}
    assert len(cubes.cubes["day"]) <= len(days) * 2 * 3 * 101
    assert sum(len(v) for v in cubes.cubes.values()) < cubes.rows


@pytest.mark.parametrize("score", [0.0, 0.29, 0.57, 0.58, 0.999, 1.0])
def test_score_bin_agrees_with_threshold_comparison_on_the_grid(score: float) -> None:
    k = int(score_bin(pd.Series([score]))[0])
    assert all((score >= t / 100) == (k >= t) for t in range(101))


def test_cubes_are_reread_only_after_the_file_changes(exports: Path) -> None:
    scored = exports / "transactions_scored.csv"
    first = cached_cubes(scored)
    assert cached_cubes(scored) == first
    frame = pd.read_csv(scored, dtype=str, keep_default_na=False)
    replacement = exports / "replacement.csv"
    frame.head(100).to_csv(replacement, index=False)
    os.replace(replacement, scored)  # what `auditstream score` does
    changed = cached_cubes(scored)
    assert changed is not None and changed.rows == 100


def test_appended_rows_are_counted_by_reading_only_the_new_bytes(
    exports: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scored = exports / "transactions_scored.csv"
    cached_cubes(scored)
    old_size = scored.stat().st_size
    body = scored.read_bytes().split(b"\n", 1)[1]
    with open(scored, "ab") as fh:  # what the streaming sink does
        fh.write(body[: body.index(b"\n", 5000) + 1])
    starts: list[int] = []
    real_blocks = aggregates._blocks

    def spy(fh: Any, start: int, header: bytes) -> Any:
        starts.append(start)
        return real_blocks(fh, start, header)

    monkeypatch.setattr(aggregates, "_blocks", spy)
    assert cached_cubes(scored) == compute_cubes(scored)
    assert starts[0] == old_size


def test_a_half_written_last_record_waits_until_it_is_complete(exports: Path) -> None:
    scored = exports / "transactions_scored.csv"
    before = cached_cubes(scored)
    assert before is not None
    line = scored.read_bytes().split(b"\n")[1] + b"\n"
    with open(scored, "ab") as fh:
        fh.write(line[:20])
        fh.flush()
        half = cached_cubes(scored)
        fh.write(line[20:])
    assert half is not None and half.rows == before.rows
    after = cached_cubes(scored)
    assert after is not None and after.rows == before.rows + 1


def test_record_end_never_cuts_inside_a_quoted_field() -> None:
    block = b'a,b\n1,"two\nlines"\n3,"open\n'
    assert block[: aggregates._record_end(block)] == b'a,b\n1,"two\nlines"\n'


def test_report_is_self_contained(exports: Path) -> None:
    html = write_report(exports).read_text(encoding="utf-8")
    assert not re.search(r'\b(src|href)\s*=\s*["\']?(https?:)?//', html)
    assert "@import" not in html and "url(" not in html
    assert "default-src 'none'" in html  # CSP: the page may not fetch anything


def test_report_embeds_the_tables_it_shows(exports: Path) -> None:
    data = _embedded_data(write_report(exports).read_text(encoding="utf-8"))
    assert len(data["thresholds"]) == len(pd.read_csv(exports / "thresholds.csv"))  # type: ignore[arg-type]
    assert len(data["cases"]) == len(pd.read_csv(exports / "cases.csv"))  # type: ignore[arg-type]
    assert data["rows"] == len(pd.read_csv(exports / "transactions_scored.csv"))


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
    cubes = compute_cubes(exports / "transactions_scored.csv")
    (exports / "transactions_scored.csv").unlink()
    data = _embedded_data(write_report(exports, cubes=cubes).read_text(encoding="utf-8"))
    assert data["rows"] == cubes.rows


def test_scored_file_missing_a_column_still_gives_a_report(exports: Path) -> None:
    scored = exports / "transactions_scored.csv"
    pd.read_csv(scored).drop(columns=["channel"]).to_csv(scored, index=False)
    data = _embedded_data(write_report(exports).read_text(encoding="utf-8"))
    assert data["rows"] == 0 and len(data["thresholds"]) == 101  # type: ignore[arg-type]
