"""Times on the dashboard read on a 24-hour clock: 14:15 is "14:15", never "02:15" with no
AM/PM (found 2026-12-06 in the screenshots: "data as of 2025-01-30 09:58" for 21:58).
Power BI, like .NET, reads a lower-case `h`/`hh` as the 12-hour clock and `H`/`HH` as the
24-hour one; pbix-mcp's DAX engine renders them so. Checked on the committed model's text
(every column and measure formatString, every FORMAT picture in the DAX) and on the card's
value evaluated by pbix-mcp at the hours either side of noon and midnight.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pbix_mcp.formats.tmdl_reader import parse_tmdl_folder  # type: ignore[import-untyped]

from dashboard.spec import NAME
from tests.status_card import Card, status_card

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / f"{NAME}.SemanticModel" / "definition"
#: Named pictures that show AM/PM in en-US (the model's culture), so say which half of the day.
_NAMED_WITH_AM_PM = {"general date", "long time", "medium time"}
_FORMAT_CALL = re.compile(r'FORMAT\s*\([^;]*?,\s*"((?:[^"]|"")*)"', re.IGNORECASE)


def twelve_hour(picture: str) -> bool:
    """Whether a date/time picture shows the hour on a 12-hour clock without AM/PM."""
    if picture.strip().lower() in _NAMED_WITH_AM_PM:
        return False
    bare = re.sub(r'"[^"]*"|\\.', "", picture)  # quoted literals and escapes are no tokens
    return "h" in bare and not re.search(r"am/pm|a/p", bare, re.IGNORECASE)


def test_the_rule_tells_12_hour_pictures_from_24_hour_ones() -> None:
    for bad in ("yyyy-mm-dd hh:nn", "h:nn", "hh", 'yyyy "at" hh:nn'):
        assert twelve_hour(bad), bad
    for good in ("yyyy-mm-dd HH:nn", "H:nn", "hh:nn AM/PM", "h:nn a/p", "General Date",
                 '"h" yyyy', "0.0%", "#,0", "yyyy-mm-dd"):
        assert not twelve_hour(good), good


def _pictures() -> list[tuple[str, str]]:
    """(where, picture) for every formatString and FORMAT picture of the committed model."""
    model: dict[str, Any] = parse_tmdl_folder(str(MODEL))
    out = []
    for table in model["tables"]:
        for column in table["columns"]:
            if column.get("format_string"):
                out.append((f"{table['name']}[{column['name']}]", column["format_string"]))
        for measure in table["measures"]:
            if measure.get("format_string"):
                out.append((f"[{measure['name']}]", measure["format_string"]))
            out += [(f"[{measure['name']}] FORMAT", p.replace('""', '"'))
                    for p in _FORMAT_CALL.findall(measure["expression"])]
    return out


def test_no_time_in_the_model_is_shown_on_a_12_hour_clock() -> None:
    pictures = _pictures()
    assert sum("FORMAT" in where for where, _ in pictures) >= 5  # the card's times
    assert any(p == "General Date" for _, p in pictures)  # the columns' times were read
    assert [(w, p) for w, p in pictures if twelve_hour(p)] == []


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Card]:
    with status_card(tmp_path_factory.mktemp("clock"), "auditstream-clock") as opened:
        yield opened


@pytest.mark.parametrize("hour", [0, 1, 11, 12, 13, 14, 23])
def test_the_card_shows_the_hour_on_a_24_hour_clock(card: Card, hour: int) -> None:
    """data_as_of at hour:15, a sink's row caught up: the card says that hour, two digits."""
    row = card.row | {"data_as_of": f"2025-01-30T{hour:02d}:15:00", "source": "auditstream sink",
                      "heartbeat_at": "2025-01-30T23:59:00", "read_at": "2025-01-30T23:59:00",
                      "stopped_at": None, "minutes_behind": 0}
    assert card.text(row) == f"data as of 2025-01-30 {hour:02d}:15, 0 minutes behind the stream"
