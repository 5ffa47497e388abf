"""The dashboard's freshness card after the sink stopped cleanly: "sink stopped ..., lag
unknown since", not "0 minutes behind the stream" (found 2026-12-06: the card said 0
minutes behind for as long as nothing ran). Evaluated with pbix-mcp's DAX engine on a
.pbix built from the sample snapshot with the status.csv row a clean stop leaves."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.build import SAMPLE_EXPORTS
from dashboard.pbix import build_pbix
from dashboard.spec import NAME
from shared.columns import SOURCE_SINK
from sink.status import STATUS_FILE
from tests.status_card import minute

ROOT = Path(__file__).resolve().parents[2]


def _stopped_status(folder: Path, lag: str) -> dict[str, str]:
    """The sample's status row as a clean stop leaves it (sink.status: `stopped_at` is the
    last heartbeat, `minutes_behind` empty, the lag last known; a sink's, not the sample's
    batch run: test_dashboard_batch_status.py)."""
    path = folder / STATUS_FILE
    with path.open(newline="", encoding="utf-8") as fh:
        (row,) = csv.DictReader(fh)
    row |= {"stopped_at": row["heartbeat_at"], "minutes_behind": "", "lag_messages": lag,
            "source": SOURCE_SINK}
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.DictWriter(fh, list(row), lineterminator="\n")
        out.writeheader()
        out.writerow(row)
    return row


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Any]]:
    from pbix_mcp import server  # type: ignore[import-untyped]

    work = tmp_path_factory.mktemp("stopped")
    exports = work / "exports"
    shutil.copytree(SAMPLE_EXPORTS, exports)
    row = _stopped_status(exports, "0")  # caught up when it stopped: the case that said 0
    pbix = build_pbix(ROOT, exports, work / f"{NAME}.pbix")
    alias = "auditstream-stopped"
    assert json.loads(server.pbix_open(str(pbix), alias=alias))["success"]
    yield row, lambda names: json.loads(server.pbix_evaluate_dax(
        alias, ",".join(names), filter_context="", apply_default_filters=False))
    server.pbix_close(alias, force=True)


def test_the_card_says_the_sink_stopped_and_the_lag_is_unknown_since(
        stopped: tuple[dict[str, str], Any]) -> None:
    row, evaluate = stopped
    (result,) = evaluate(["Data As Of"])["results"]
    value = result["value"]
    assert "minutes behind" not in value, value
    assert value.startswith(f"data as of {minute(row['data_as_of'])}")
    assert f", sink stopped {minute(row['stopped_at'])}" in value, value
    assert value.endswith(", lag unknown since"), value
