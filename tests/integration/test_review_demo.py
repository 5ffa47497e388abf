"""`auditstream demo --review` on the real broker: the loop runs and its figures are the sink's."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import KafkaSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def test_demo_review_publishes_simulated_reviews_and_prints_the_sinks_figures(
    kafka: KafkaSettings, tmp_path: Path,
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "SINK_ROLLUP_INTERVAL_S": "1"}
    exports = tmp_path / "exports"
    done = subprocess.run(
        [sys.executable, "-m", "auditstream", "demo", "--customers", "60", "--days", "15",
         "--seed", "3", "--partitions", "2", "--exports", str(exports), "--review",
         "--review-accuracy", "1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = re.search(r"simulated reviewer \(confirms 1 of true anomalies, 0 of normal items; "
                      r"seed 3\): (\d+) cases and ([\d,]+) sampled transactions reviewed",
                      done.stdout)
    assert found, done.stdout[-3000:]
    cases, sampled = int(found[1]), int(found[2].replace(",", ""))
    with (exports / "reviews_log.csv").open(newline="") as fh:
        log = list(csv.DictReader(fh))
    assert len(log) == cases + sampled
    assert {r["reviewer"] for r in log} == {"simulated reviewer"}
    assurance = json.loads((exports / "run.json").read_text())["assurance"]
    assert assurance["reviewed_cases"] == cases
    est = assurance["reviewed_precision"]["estimate"]
    assert f"reviewed precision {100 * est:.2f}%" in done.stdout
    # The demo stream is labelled and the reviewer always right: every listed case reviewed,
    # so the reviewed precision is the listed cases' labelled precision.
    listed = list(csv.DictReader((exports / "cases.csv").open(newline="")))
    assert cases == len(listed)
    truth = sum(int(r["anomalous_transactions"] or 0) > 0 for r in listed) / len(listed)
    assert est == pytest.approx(truth)
