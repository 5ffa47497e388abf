"""One declaration of the scored row: a column added there reaches every output.

The test adds a throwaway column `audit_probe` to `SCORED_ROW` in a frozen copy of the
sources (a `Field` inserted in the middle of the verdict, so every positional reader would
be caught) and the code that computes it (one line in the core's verdict), exactly what a
developer adding a column writes, and nothing else. It then shows that the streaming output
(the `transactions.scored` messages and the sink's day files), the offline multi-process
`score` and the Power BI model all carry it, with the same per-row values.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from shared.settings import KafkaSettings
from tests.integration.detector_harness import Topics, read_all
from tests.integration.pipeline_harness import (
    PIPELINE_CORE_ENV,
    PY,
    base_env,
    detector,
    diff_rows,
    freeze_sources,
    generate_csv,
    replay,
    run_cli,
    sink,
)

pytestmark = pytest.mark.integration

PARTITIONS = 4
COLUMN = "audit_probe"
CORE_ENV = {**PIPELINE_CORE_ENV,
            # The edit to the core's verdicts is read by every core; the kernel's cache,
            # keyed by the core's sources too, would compile anew for a minute or more.
            "AUDITSTREAM_CORE": "compiled"}


def _edit(path: Path, anchor: str, insert: str, *, before: bool = False) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(anchor) == 1, f"{path.name}: anchor {anchor!r} not found once"
    path.write_text(text.replace(anchor, insert + anchor if before else anchor + insert),
                    encoding="utf-8")


def add_throwaway_column(src: Path) -> None:
    """The declaration and the code that computes it: the two edits adding a column takes."""
    _edit(src / "shared" / "columns.py", '    Field("is_ml_flag", "bool", "verdict",',
          f'    Field({COLUMN!r}, "number", "verdict", "a throwaway probe", nullable=True),\n',
          before=True)
    _edit(src / "detector" / "core" / "rowloop.py", '        score=score,\n',
          f'        {COLUMN}=float(len(row[0].transaction_id) % 7) + 0.5,\n')


def read_day_files(folder: Path) -> pd.DataFrame:
    """Every scored day file of an exports folder, as text cells."""
    files = sorted((folder / "scored").glob("transactions_scored_*.csv"))
    assert files, f"no day files in {folder}"
    return pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files],
                     ignore_index=True)


DASHBOARD_CHECK = """
import json
from dashboard.sample import scored_frame
from dashboard.spec import TABLES
from dashboard.tmdl import table_tmdl
fact = next(t for t in TABLES if t.name == "transactions_scored")
print(json.dumps({"tmdl": table_tmdl(fact), "sample": list(scored_frame(50).columns)}))
"""


def test_a_column_declared_once_reaches_stream_csv_offline_and_dashboard(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    src = freeze_sources(tmp_path / "src")
    add_throwaway_column(src)
    topics = Topics(topic_name, PARTITIONS).create(kafka)
    env = base_env(kafka, topics, CORE_ENV, src)
    source = tmp_path / "payments.csv"
    n = generate_csv(source, env, seed=12, customers=40, days=10)

    # Streaming: the scored messages carry it, computed per row.
    feed = replay(source, env, tmp_path).start()
    det = detector("a", env, tmp_path).start()
    assert feed.wait(60) == 0, feed.logs()[-3000:]
    try:
        published = read_all(kafka, topics.scored, PARTITIONS, n, timeout=90, settle=1.0)
    finally:
        assert det.terminate() == 0, det.logs()[-3000:]
    assert len(published) == n
    for message in published:
        row = json.loads(message.value() or b"null")
        assert row[COLUMN] == float(len(row["transaction_id"]) % 7) + 0.5, row

    # CSV: the sink's day files, and the offline score, carry it in its place.
    streamed_dir, offline_dir = tmp_path / "streamed", tmp_path / "offline"
    exporter = sink(env, streamed_dir, tmp_path, "--until-idle", "1").start()
    assert exporter.wait(90) == 0, exporter.logs()[-3000:]
    run_cli(["score", str(source), "--partitions", str(PARTITIONS), "--out", str(offline_dir)],
            env)
    streamed, offline = read_day_files(streamed_dir), read_day_files(offline_dir)
    columns = list(streamed.columns)
    assert columns[columns.index(COLUMN) + 1] == "is_ml_flag", columns
    assert list(offline.columns) == columns
    assert len(streamed) == len(offline) == n
    expected = (streamed["transaction_id"].str.len() % 7 + 0.5).map(repr)
    assert streamed[COLUMN].tolist() == expected.tolist()
    diff = diff_rows(streamed, offline)
    assert diff.clean, diff

    # Power BI: the model types the column from its declaration; the sample frame has it.
    done = subprocess.run([PY, "-c", DASHBOARD_CHECK], cwd=src, env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    seen = json.loads(done.stdout)
    assert f"\tcolumn {COLUMN}\n\t\tdataType: double\n" in seen["tmdl"], seen["tmdl"][:2000]
    assert COLUMN in seen["sample"]
