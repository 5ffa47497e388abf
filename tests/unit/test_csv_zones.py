"""Zoned timestamps in a CSV arrive as their UTC time (naive), whatever the zone."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from shared.csv_io import RowError, iter_csv
from shared.schemas import CSV_FIELDS


@pytest.mark.parametrize(("cell", "utc"), [
    ("2025-03-03T03:30:00+05:00", datetime(2025, 3, 2, 22, 30)),
    ("2025-03-03T23:30:00-03:00", datetime(2025, 3, 4, 2, 30)),
    ("2025-03-03T12:00:00Z", datetime(2025, 3, 3, 12, 0)),
    ("2025-03-03 12:00:00", datetime(2025, 3, 3, 12, 0)),
])
def test_a_zoned_timestamp_is_read_as_its_utc_time(tmp_path: Path, cell: str,
                                                   utc: datetime) -> None:
    path = tmp_path / "zoned.csv"
    path.write_text(",".join(CSV_FIELDS) + f"\n1,c1,{cell},10.5,CH,app,pc,food,,,\n",
                    encoding="utf-8")
    items = list(iter_csv(path))
    assert not any(isinstance(i, RowError) for i in items), items
    (_, tx), = items  # type: ignore[misc]
    assert tx.timestamp == utc and tx.timestamp.tzinfo is None
