"""The dashboard's freshness card after the sink was killed: "sink not heard from since T",
not the last heartbeat's "0 minutes behind the stream" (found 2026-12-06: after kill -9 or
a crash the card showed the dead sink's lag as current). The refresh compares the row's
`heartbeat_at` with the time it read the row (the status table's `read_at`); past
`shared.freshness.STALE_S` the lag is no longer claimed. Evaluated with pbix-mcp's DAX
engine on a .pbix built from the sample snapshot, its status row reloaded per case."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.columns import SOURCE_SINK
from shared.freshness import STALE_S, describe
from tests.status_card import minute, status_card

Evaluate = Any


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evaluate]:
    """(read the status row at `age` seconds after its heartbeat) -> the card's text."""
    with status_card(tmp_path_factory.mktemp("silent"), "auditstream-silent") as shown:
        row = shown.row

        def read_at(age: float) -> tuple[dict[str, Any], str]:
            beat = datetime.fromisoformat(row["heartbeat_at"])
            # a running sink's row, 0 minutes behind (the sample's is a stopped batch run's:
            # test_dashboard_batch_status.py)
            seen = row | {"read_at": (beat + timedelta(seconds=age)).isoformat(),
                          "source": SOURCE_SINK, "stopped_at": None, "minutes_behind": 0}
            return seen, shown.text(seen)

        yield read_at


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
    assert value.startswith(f"data as of {minute(row['data_as_of'])}")
    assert f", sink not heard from since {minute(row['heartbeat_at'])}" in value, value


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
    assert (f", heartbeat {minute(row['heartbeat_at'])}" in value) is ahead, value
    assert value.endswith(" ahead of the reader's clock, lag unknown") is ahead, value
    assert [w for w in value.split() if ":" not in w] == \
        [w for w in said.split() if ":" not in w], (value, said)
