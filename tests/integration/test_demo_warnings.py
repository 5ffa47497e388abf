"""`auditstream demo` on the real broker shows the generator's shortfall warnings (a type its
stream is too small to place as often as its rate asks), named as the demo's, once, with or
without `--review`. Before, the plain demo ran `generate --publish` with its stderr
captured and dropped on success: `demo --customers 20 --days 10` said nothing of the
NEW_COUNTRY rows it could not place, which `demo --review` (regenerating the labels)
did say."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import KafkaSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
#: The demo's warning of the small stream below (`producer.cli.shortfall_line`, DEMO_ENTRY).
WARNING = "auditstream demo: warning: NEW_COUNTRY: "


@pytest.mark.parametrize("review", [False, True], ids=["plain", "review"])
def test_the_demo_shows_each_shortfall_warning_once_as_its_own(
    kafka: KafkaSettings, tmp_path: Path, review: bool
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "SINK_ROLLUP_INTERVAL_S": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "auditstream", "demo", "--customers", "20", "--days", "10",
         "--partitions", "1", "--exports", str(tmp_path / "exports"),
         *(["--review"] if review else [])],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    warnings = [line for line in done.stderr.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and warnings[0].startswith(WARNING), done.stderr[-3000:]
    assert warnings[0].endswith("give more --customers or --days (docs/producer.md, Anomaly "
                                "rates)"), warnings
    # and in the run's logs, with the rest of what generate said
    logs = list((tmp_path / "run").glob("demo-*/generate.log"))
    assert len(logs) == 1 and WARNING in logs[0].read_text(), logs
