"""Scale run (slow): a year of scored rows through the sink's writer.

`AUDITSTREAM_SCALE_ROWS` rows (default 300,000) spread evenly over 365 days go through
`SinkWriter` in batches, as the streaming sink feeds it. Printed and checked: the bytes a
Power BI refresh of the last 3 days re-reads (those days' files plus the small tables) are a
small fraction of the day files' total, and a rollup refresh costs about the same at the
end as after the first tenth (it reads counters, never the rows). 400,000 rows took 45 s on
the shared 2-core dev box, so the issue's 10 million would take about 18 minutes and 3.4 GB
of temporary disk (day files and the compatibility copy); that run was not made here:

    AUDITSTREAM_SCALE_ROWS=10000000 .venv/bin/pytest -m slow -s tests/unit/test_sink_days_scale.py
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from shared.codec import encode
from sink import days as dy
from sink.exports import ROLLUP_FILES
from sink.settings import ExportSettings
from sink.status import STATUS_FILE
from sink.writer import Record, SinkWriter
from tests.unit.test_rollup_pandas import random_scored

ROWS = int(os.environ.get("AUDITSTREAM_SCALE_ROWS", "300000"))
DAYS = 365
REFRESH_DAYS = 3
BATCH = 20_000


def _batches(rows: int) -> list[int]:
    return list(range(0, rows, BATCH))


def _records(start: int, stop: int, templates: list[dict[str, object]]) -> list[Record]:
    t0 = datetime(2025, 1, 1)
    step = timedelta(days=DAYS) / ROWS
    out: list[Record] = []
    for i in range(start, stop):
        row = dict(templates[i % len(templates)])
        row["transaction_id"] = str(i)
        row["timestamp"] = (t0 + step * i).isoformat(timespec="seconds")
        row["source_partition"], row["source_offset"] = i % 4, i // 4
        out.append((i % 4, i // 4, json.dumps(row).encode()))
    return out


@pytest.mark.slow
def test_a_year_of_rows_refreshes_a_small_fraction_and_rollups_stay_flat(
    tmp_path: Path,
) -> None:
    templates = [json.loads(encode(tx)) for tx in random_scored(2_000, seed=9)]
    w = SinkWriter(tmp_path, "transactions.scored", ExportSettings())
    rollup_s: list[tuple[int, float]] = []
    tenth = max(BATCH, ROWS // 10 // BATCH * BATCH)
    for start in _batches(ROWS):
        w.add(_records(start, min(start + BATCH, ROWS), templates))
        if (start + BATCH) % tenth == 0 or start + BATCH >= ROWS:
            w.checkpoint()
            began = time.perf_counter()
            w.write_rollups(report=False)
            rollup_s.append((w.rows, time.perf_counter() - began))
    w.checkpoint()
    w.close()
    files = dy.day_files(tmp_path)
    assert len(files) == DAYS
    total = sum(p.stat().st_size for p in files)
    small = sum((tmp_path / n).stat().st_size for n in (*ROLLUP_FILES, STATUS_FILE))
    recent = sum(p.stat().st_size for p in files[-REFRESH_DAYS:]) + small
    print(f"\n{ROWS:,} rows over {DAYS} days: day files {total / 1e6:,.1f} MB; a refresh of "
          f"the last {REFRESH_DAYS} days re-reads {recent / 1e6:,.2f} MB "
          f"({100 * recent / total:.2f} %); rollup refresh (rows, s): "
          + ", ".join(f"{n:,} {s:.3f}" for n, s in rollup_s))
    assert recent < 0.02 * total
    first, last = rollup_s[0][1], rollup_s[-1][1]
    assert last <= max(5 * first, first + 0.5), rollup_s  # flat: counters, not rows
