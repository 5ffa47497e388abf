"""report.html's headline cards as the page computes them (its script run under node with
`report_fakedom.js`), against the figures recomputed from the day files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from auditstream.report import write_report_from_rollup
from sink.offline import write_exports
from tests.scored_days import read_scored
from tests.unit.test_rollup_pandas import random_scored

NODE = shutil.which("node")
# With CI=true a missing node fails the run (`.ci/run` installs it), never a silent skip.
pytestmark = pytest.mark.skipif(NODE is None and os.environ.get("CI", "") != "true",
                                reason="node is not installed")


def _cards(folder: Path) -> dict[str, str]:
    if NODE is None:
        pytest.fail("node is not installed (CI=true: `.ci/run` installs Debian's nodejs)")
    out = subprocess.run([str(NODE), str(Path(__file__).with_name("report_fakedom.js")),
                          str(folder / "report.html")], capture_output=True, text=True,
                         check=True, timeout=60)
    cards: dict[str, str] = json.loads(out.stdout)
    return cards


def _pct(v: float) -> str:
    return f"{v * 100:.1f}%"


@pytest.mark.parametrize("labelled", [True, False])
def test_the_anomaly_rate_card_is_over_the_labelled_rows(tmp_path: Path, labelled: bool
                                                         ) -> None:
    rows = random_scored(3_000, seed=21, labelled=labelled)
    rows = [r.model_copy(update={"is_anomaly": None}) if i % 7 == 0 else r  # unlabelled
            for i, r in enumerate(rows)]
    write_exports(rows, tmp_path, on_rollup=write_report_from_rollup)
    df: pd.DataFrame = read_scored(tmp_path)
    pos = int((df["is_anomaly"] == "True").sum())
    known = int(df["is_anomaly"].isin(["True", "False"]).sum())
    cards = _cards(tmp_path)
    assert cards["rows"] == f"{len(df):,}"
    assert cards["total_anomalies"] == f"{pos:,}"
    assert cards["anomaly_rate"] == (_pct(pos / known) if known else "n/a")
