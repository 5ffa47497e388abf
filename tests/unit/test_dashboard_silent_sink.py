"""The dashboard's freshness card after the sink was killed: "sink not heard from since T",
not the last heartbeat's "0 minutes behind the stream" (found 2026-12-06: after kill -9 or
a crash the card showed the dead sink's lag as current). The refresh compares the row's
`heartbeat_at` with the time it read the row (the status table's `read_at`); past
`shared.freshness.STALE_S` the lag is no longer claimed. Evaluated with pbix-mcp's DAX
engine on a .pbix built from the sample snapshot, its status row reloaded per case."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dashboard.build import SAMPLE_EXPORTS
from dashboard.pbix import build_pbix, sample_payloads
from dashboard.spec import NAME
from shared.columns import SOURCE_SINK
from shared.freshness import STALE_S, describe

ROOT = Path(__file__).resolve().parents[2]
Evaluate = Any


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evaluate]:
    """(read the status row at `age` seconds after its heartbeat) -> the card's text."""
    from pbix_mcp import server  # type: ignore[import-untyped]

    work = tmp_path_factory.mktemp("silent")
    exports = work / "exports"
    shutil.copytree(SAMPLE_EXPORTS, exports)
    pbix = build_pbix(ROOT, exports, work / f"{NAME}.pbix")
    loads, _ = sample_payloads(exports)
    (status,) = (json.loads(data) for name, data in loads if name == "status")
    (row,) = status["rows"]
    alias = "auditstream-silent"
    assert json.loads(server.pbix_open(str(pbix), alias=alias))["success"]

    def read_at(age: float) -> tuple[dict[str, Any], str]:
        beat = datetime.fromisoformat(row["heartbeat_at"])
        # a sink's row (the sample's is a batch run's: test_dashboard_batch_status.py)
        seen = row | {"read_at": (beat + timedelta(seconds=age)).isoformat(),
                      "source": SOURCE_SINK}
        columns = status["columns"]
        if "read_at" not in [c["name"] for c in columns]:  # a model without the column
            columns = [*columns, {"name": "read_at", "data_type": "DateTime", "nullable": True}]
        reply = json.loads(server.pbix_set_table_data(
            alias, "status", json.dumps({"columns": columns, "rows": [seen]})))
        assert reply["success"], reply
        (result,) = json.loads(server.pbix_evaluate_dax(
            alias, "Data As Of", filter_context="", apply_default_filters=False))["results"]
        return seen, result["value"]

    yield read_at
    server.pbix_close(alias, force=True)


@pytest.mark.parametrize("age", [0, STALE_S - 1, STALE_S])
def test_a_heartbeat_within_the_staleness_keeps_the_lag(card: Evaluate, age: int) -> None:
    row, value = card(age)
    assert value.endswith(f", {row['minutes_behind']} minutes behind the stream"), value
    assert "not heard from" not in value, value


@pytest.mark.parametrize("age", [STALE_S + 1, 86400])
def test_a_heartbeat_older_than_the_staleness_says_the_sink_is_not_heard_from(
        card: Evaluate, age: int) -> None:
    row, value = card(age)
    assert "minutes behind" not in value, value
    assert value.startswith(f"data as of {row['data_as_of'][:10]} ")  # the hour: Desktop's
    assert f", sink not heard from since {row['heartbeat_at'][:10]} " in value, value


@pytest.mark.parametrize("age", [STALE_S, STALE_S + 1])
def test_the_card_says_what_the_python_reader_says(card: Evaluate, age: int) -> None:
    """`shared.freshness.describe` (report.html, the docs) and the measure: one sentence,
    but for the hour, which pbix-mcp's FORMAT may write as Desktop does not."""
    row, value = card(age)
    said = describe({k: "" if v is None else str(v) for k, v in row.items()},
                    datetime.fromisoformat(row["read_at"]))
    assert [w for w in value.split() if ":" not in w] == \
        [w for w in said.split() if ":" not in w], (value, said)


@pytest.mark.parametrize(("age", "ahead"), [(-STALE_S, False), (-STALE_S - 1, True),
                                            (-86400, True)])
def test_a_heartbeat_ahead_of_the_refresh_vouches_for_nothing_past_the_staleness(
        card: Evaluate, age: int, ahead: bool) -> None:
    """The sink's host's clock ahead of the refresh's (probe of 2026-12-06): a heartbeat in
    the future never aged, so a sink killed there showed its last lag as current."""
    row, value = card(age)
    said = describe({k: "" if v is None else str(v) for k, v in row.items()},
                    datetime.fromisoformat(row["read_at"]))
    assert ("minutes behind" not in value) is ahead, value
    assert (f", heartbeat {row['heartbeat_at'][:10]} " in value) is ahead, value
    assert value.endswith(" ahead of the reader's clock, lag unknown") is ahead, value
    assert [w for w in value.split() if ":" not in w] == \
        [w for w in said.split() if ":" not in w], (value, said)
