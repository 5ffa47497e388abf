"""generate -> replay -> detector -> sink: the exports equal `auditstream score` on the same CSV."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from shared.settings import KafkaSettings
from tests.integration.detector_harness import Topics
from tests.integration.pipeline_harness import (
    PIPELINE_CORE_ENV,
    ROLLUP_FILES,
    base_env,
    diff_rows,
    freeze_sources,
    generate_csv,
    read_scored_csv,
    rollups_equal,
    stream_and_score,
)

pytestmark = pytest.mark.integration

PARTITIONS = 4


def test_replayed_csv_lands_once_in_the_exports_exactly_as_offline_score_writes_it(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    topics = Topics(topic_name, PARTITIONS).create(kafka)
    env = base_env(kafka, topics, PIPELINE_CORE_ENV, freeze_sources(tmp_path / "src"))
    source = tmp_path / "payments.csv"
    n = generate_csv(source, env, seed=2026, customers=80, days=25)
    assert 3_000 <= n <= 6_000, n

    streamed_dir, offline_dir = stream_and_score(source, env, kafka, topics, n, tmp_path)

    streamed = read_scored_csv(streamed_dir)
    offline = read_scored_csv(offline_dir)
    diff = diff_rows(streamed, offline)
    print(f"\nend to end: {n} transactions, {len(streamed)} rows exported, lost "
          f"{len(diff.lost)}, duplicated {len(diff.duplicated)}, changed {len(diff.changed)} "
          f"{diff.columns_differing}, unexpected {len(diff.unexpected)}; "
          f"{time.monotonic() - started:.1f} s")
    assert len(offline) == n
    assert diff.clean, diff
    versions = set(streamed["model_version"])
    assert len(versions) >= 3, versions  # rules only, then a fit and at least one refit
    assert streamed["is_flag"].eq("True").sum() > 0
    assert rollups_equal(streamed_dir, offline_dir) == dict.fromkeys(ROLLUP_FILES, True)
