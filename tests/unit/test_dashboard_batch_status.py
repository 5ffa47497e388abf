"""The dashboard's freshness card on a batch run's folder: "scored by a batch run at T (no
live stream)", not "sink stopped T, lag unknown since" (found 2026-12-06: `auditstream
score` sets `stopped_at` at its end, and the card then spoke of a sink the run never had).
The status row says which program wrote it (`source`, `shared.columns.SOURCE_SCORE`).
Evaluated with pbix-mcp's DAX engine on a .pbix built from the sample snapshot, its status
row reloaded per case (as tests/unit/test_dashboard_silent_sink.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.freshness import STALE_S, describe
from tests.status_card import minute, status_card

Evaluate = Any


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evaluate]:
    """(source, stopped, age) -> (the row as read `age` s after its heartbeat, the card)."""
    with status_card(tmp_path_factory.mktemp("batch"), "auditstream-batch") as shown:
        row = shown.row

        def read(source: str, stopped: bool, age: float) -> tuple[dict[str, Any], str]:
            beat = datetime.fromisoformat(row["heartbeat_at"])
            seen = row | {"source": source,
                          "read_at": (beat + timedelta(seconds=age)).isoformat(),
                          # as sink.status writes a stopped row: its end, no minutes behind
                          "stopped_at": row["heartbeat_at"] if stopped else None,
                          "minutes_behind": None if stopped else row["minutes_behind"]}
            return seen, shown.text(seen)

        yield read


def _python(row: dict[str, Any]) -> str:
    return describe({k: "" if v is None else str(v) for k, v in row.items()},
                    datetime.fromisoformat(row["read_at"]))


@pytest.mark.parametrize("age", [0, STALE_S, STALE_S + 1, 86400])
def test_the_card_says_a_batch_run_scored_the_folder_however_old(
        card: Evaluate, age: int) -> None:
    row, value = card("auditstream score", True, age)
    assert value.startswith(f"data as of {minute(row['data_as_of'])}")
    assert f", scored by a batch run at {minute(row['stopped_at'])}" in value, value
    assert value.endswith(" (no live stream)"), value
    assert "sink" not in value and "minutes behind" not in value, value
    assert [w for w in value.split() if ":" not in w] == \
        [w for w in _python(row).split() if ":" not in w], (value, _python(row))


def test_a_batch_run_without_stopped_at_says_when_it_scored_by_its_heartbeat(
        card: Evaluate) -> None:
    """The committed sample's row (written before score set `stopped_at`)."""
    row, value = card("auditstream score", False, STALE_S + 1)
    assert f", scored by a batch run at {minute(row['heartbeat_at'])}" in value, value
    assert value.endswith(" (no live stream)"), value


@pytest.mark.parametrize("source", ["auditstream sink", None])
def test_a_sinks_stopped_row_still_says_the_sink_stopped(
        card: Evaluate, source: str | None) -> None:
    row, value = card(source, True, 0)
    assert f", sink stopped {minute(row['stopped_at'])}" in value, value
    assert value.endswith(", lag unknown since"), value
    assert "batch" not in value, value
