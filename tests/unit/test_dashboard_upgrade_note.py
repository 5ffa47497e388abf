"""The Power BI status card says what report.html and `python -m sink.health` say of a
rolling upgrade: scored messages' fields or rules the sink did not know (run.json's
`upgrade_note`, the line `shared.skew` builds, read into the `run` table). Before, only
report.html and the health check said it: the card read status.csv, which holds no names.
The query by the emulator of `tests/m_refresh.py`; the card by pbix-mcp's DAX engine on a
.pbix built from the sample with the note in its run.json."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.build import SAMPLE_EXPORTS
from dashboard.measures import UPGRADE_NOTE
from dashboard.pbix import build_pbix, run_rows
from dashboard.spec import NAME
from dashboard.tmdl import run_table_m
from shared import skew
from shared.errors import AuditstreamError
from tests.m_refresh import refresh

ROOT = Path(__file__).resolve().parents[2]
NOTE = ("scored messages' rule_flags hold rule(s) this sink does not know: 'velocity' (7 "
        "rows, fired in 3); those rows are exported without a column for them, "
        "triggered_rules naming them where they fired (written by a newer detector? upgrade "
        "the sink to give them columns)")


def test_the_model_reads_the_key_the_sink_writes() -> None:
    assert UPGRADE_NOTE == skew.UPGRADE_NOTE


@pytest.mark.parametrize("note", [NOTE, None, "absent"])
def test_the_run_query_reads_the_note(note: str | None) -> None:
    run = json.loads((SAMPLE_EXPORTS / "run.json").read_text(encoding="utf-8"))
    if note != "absent":
        run[UPGRADE_NOTE] = note
    table = refresh(run_table_m(), {"run.json": json.dumps(run)})
    assert table.records() == [{"recommended_mode": run["recommended_mode"],
                                UPGRADE_NOTE: None if note == "absent" else note}]


def test_a_note_that_is_not_text_is_refused_by_the_build(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({UPGRADE_NOTE: 7}), encoding="utf-8")
    with pytest.raises(AuditstreamError, match=r"upgrade_note is 7, not text"):
        run_rows(tmp_path)


@pytest.fixture(scope="module")
def cards(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """note -> the card's and the note measure's values on a .pbix built with it."""
    from pbix_mcp import server  # type: ignore[import-untyped]

    opened: list[str] = []

    def build(note: str | None) -> dict[str, Any]:
        work = tmp_path_factory.mktemp("note")
        exports = work / "exports"
        shutil.copytree(SAMPLE_EXPORTS, exports)
        run = json.loads((exports / "run.json").read_text(encoding="utf-8"))
        run[UPGRADE_NOTE] = note
        (exports / "run.json").write_text(json.dumps(run), encoding="utf-8")
        pbix = build_pbix(ROOT, exports, work / f"{NAME}.pbix")
        alias = f"auditstream-note-{len(opened)}"
        assert json.loads(server.pbix_open(str(pbix), alias=alias))["success"]
        opened.append(alias)
        reply = json.loads(server.pbix_evaluate_dax(
            alias, "Data As Of,Upgrade Note", filter_context="", apply_default_filters=False))
        assert "results" in reply, reply  # an unknown measure: an error, no results
        return {r["name"]: r.get("value") for r in reply["results"]}

    yield build
    for alias in opened:
        server.pbix_close(alias, force=True)


def test_the_status_card_says_the_note_after_the_freshness(cards: Any) -> None:
    plain, noted = cards(""), cards(NOTE)
    assert plain["Upgrade Note"] in ("", None)
    assert plain["Data As Of"].startswith("data as of ") and "note" not in plain["Data As Of"]
    assert noted["Upgrade Note"] == "; note: " + NOTE
    assert noted["Data As Of"] == plain["Data As Of"] + "; note: " + NOTE
