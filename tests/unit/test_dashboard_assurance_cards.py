"""The Assurance page's cards with nothing to show yet: before 2026-12-07 each read
"(Blank)" in Power BI (no case reviewed, no audit sample reviewed, no open case, no
recommendation). Now a figure that can be blank is shown through its `Card` text measure
(`dashboard.measures.CARD_WORDS`): the figure in its format, or words that say why there is
none; the counts read 0. Evaluated with pbix-mcp's DAX engine on a .pbix built from the
sample snapshot (nothing reviewed there), its assurance, cases and run rows replaced per
case."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.build import SAMPLE_EXPORTS
from dashboard.measures import CARD_WORDS, MEASURES, NONE_REVIEWED, card_measure
from dashboard.pbix import build_pbix, sample_payloads
from dashboard.spec import NAME, PAGES

ROOT = Path(__file__).resolve().parents[2]
ALIAS = "auditstream-assurance-cards"


class Model:
    """The built .pbix open in pbix-mcp, with the sample's payloads to vary."""

    def __init__(self, loads: dict[str, dict[str, Any]]) -> None:
        self.loads = loads

    def load(self, table: str, rows: list[dict[str, Any]]) -> None:
        from pbix_mcp import server  # type: ignore[import-untyped]

        reply = json.loads(server.pbix_set_table_data(ALIAS, table, json.dumps(
            {"columns": self.loads[table]["columns"], "rows": rows})))
        assert reply["success"], reply

    def rows(self, table: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.loads[table]["rows"]]

    def cards(self, *names: str) -> dict[str, Any]:
        from pbix_mcp import server

        reply = json.loads(server.pbix_evaluate_dax(
            ALIAS, ",".join(names), filter_context="", apply_default_filters=False))
        return {r["name"]: r.get("value") for r in reply["results"]}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Model]:
    from pbix_mcp import server

    work = tmp_path_factory.mktemp("assurance-cards")
    exports = work / "exports"
    shutil.copytree(SAMPLE_EXPORTS, exports)
    pbix = build_pbix(ROOT, exports, work / f"{NAME}.pbix")
    loads = {name: json.loads(data) for name, data in sample_payloads(exports)[0]}
    assert json.loads(server.pbix_open(str(pbix), alias=ALIAS))["success"]
    try:
        yield Model(loads)
    finally:
        server.pbix_close(ALIAS, force=True)


def _reviewed(rows: list[dict[str, Any]], section: str, name: str, n: int, confirmed: int,
              p: float, low: float, high: float) -> list[dict[str, Any]]:
    """assurance rows with (section, name) reviewed: `n` reviews, precision `p` [low, high]."""
    out = []
    for r in rows:
        if (r["section"], r["name"]) == (section, name):
            r = r | {"reviewed": n, "confirmed": confirmed, "dismissed": n - confirmed,
                     "precision": p, "precision_low": low, "precision_high": high}
        out.append(r)
    return out


_SAID = [card_measure(name) for name in CARD_WORDS]


def test_every_assurance_card_reads_a_value_or_words_never_blank() -> None:
    """Each card of the page binds a count (`+ 0`), a text (never blank) or a `Card`."""
    (page,) = [p for p in PAGES if p.name == "assurance"]
    dax = {m.name: m.dax for m in MEASURES}
    for v in page.visuals:
        if v.type == "card":
            (f,) = v.roles["Values"]
            assert f.name in _SAID or dax[f.name].endswith("+ 0") or f.name == "Data As Of", (
                v.name, f.name)


def test_with_nothing_reviewed_the_cards_say_so_and_count_0(model: Model) -> None:
    """The sample as shipped: no review, so no precision, miss rate or implied recall."""
    got = model.cards(*_SAID, "Reviewed Cases", "Review Backlog")
    for name in ("Reviewed Precision", "Reviewed Precision Low", "Reviewed Precision High",
                 "Miss Rate", "Miss Rate High", "Implied Recall", "Implied Recall Low"):
        assert got[card_measure(name)] == NONE_REVIEWED, name
    assert got["Reviewed Cases"] == 0
    assert got["Review Backlog"] == len(model.rows("cases")) > 0
    assert got[card_measure("Oldest Open Case")] == min(
        str(r["first_time"]) for r in model.rows("cases"))[:16].replace("T", " ")
    assert got[card_measure("Recommended Cases Per Day")] == (
        f"{float(_recommended_per_day(model)):,.1f}")


def _recommended_per_day(model: Model) -> float:
    (mode,) = [r["recommended_mode"] for r in model.rows("run")]
    (row,) = [r for r in model.rows("thresholds") if r["is_recommended"]]
    return float(row[f"{mode}_cases_per_day"])


@pytest.mark.parametrize(("p", "shown"), [(0.0, "0.0%"), (0.5, "50.0%"), (1.0, "100.0%")])
def test_a_reviewed_figure_is_shown_in_its_format_zero_included(
        model: Model, p: float, shown: str) -> None:
    """0 is a figure (a reviewed precision of 0.0%), not "none reviewed yet"."""
    rows = _reviewed(model.rows("assurance"), "mode", "hybrid", 4, round(4 * p), p,
                     p / 2, (1 + p) / 2)
    rows = _reviewed(rows, "miss_rate", "audit_sample", 100, round(100 * p), p, p / 2,
                     (1 + p) / 2)
    rows = _reviewed(rows, "recall", "implied", 4, 0, p, p / 2, (1 + p) / 2)
    model.load("assurance", rows)
    try:
        got = model.cards(*_SAID, "Reviewed Cases")
    finally:
        model.load("assurance", model.rows("assurance"))
    assert got[card_measure("Reviewed Precision")] == shown
    assert got[card_measure("Reviewed Precision Low")] == f"{p / 2 * 100:.1f}%"
    assert got[card_measure("Miss Rate")] == f"{p * 100:.2f}%"  # its format: 0.00%
    assert got[card_measure("Implied Recall")] == shown
    assert got["Reviewed Cases"] == 4


def test_with_every_case_decided_the_oldest_open_case_says_none(model: Model) -> None:
    cases = model.rows("cases")
    decided = [r | {"outcome": "confirmed"} for r in cases]
    model.load("cases", decided)
    try:
        got = model.cards(card_measure("Oldest Open Case"), "Review Backlog")
        model.load("cases", [decided[0] | {"outcome": None}, *decided[1:]])
        one = model.cards(card_measure("Oldest Open Case"), "Review Backlog")
    finally:
        model.load("cases", cases)
    assert got == {card_measure("Oldest Open Case"): "no open case", "Review Backlog": 0}
    assert one == {card_measure("Oldest Open Case"):
                   str(decided[0]["first_time"])[:16].replace("T", " "), "Review Backlog": 1}


def test_without_a_recommendation_the_cases_per_day_card_says_so(model: Model) -> None:
    run = model.rows("run")
    model.load("run", [r | {"recommended_mode": None} for r in run])
    try:
        got = model.cards(card_measure("Recommended Cases Per Day"))
    finally:
        model.load("run", run)
    assert got == {card_measure("Recommended Cases Per Day"): "no recommendation"}
