"""The scored export snapshot committed for the `.pbix` (`dashboard/sample_exports/`).

A real run, shrunk to a few thousand rows: the producer's seeded generator, the detector's
offline scoring and the sink's `write_exports` (what `auditstream score` does).
"""

from __future__ import annotations

from pathlib import Path

from detector.core.config import CoreConfig
from producer.generator import GeneratorConfig, generate
from shared.exports_folder import REPORT_NAME
from sink.offline import write_exports
from sink.settings import ExportSettings


def sample_config(customers: int = 40, days: int = 30, seed: int = 11) -> GeneratorConfig:
    """The generator's config of a sample (`ValueError` past the generator's limits)."""
    return GeneratorConfig(seed=seed, customers=customers, days=days)


def write_scored_sample(out_dir: Path, customers: int = 40, days: int = 30,
                        seed: int = 11) -> Path:
    """Generate, score and export a small realistic run into `out_dir` (CSVs and run.json)."""
    from detector.offline import score_transactions  # the engine: only when a sample is made

    txs = generate(sample_config(customers, days, seed))
    # A small run: fit the first forest early so the snapshot holds model scores too.
    config = CoreConfig(first_fit_after=400)
    rows = score_transactions(txs, config, partitions=4)
    out_dir.mkdir(parents=True, exist_ok=True)
    recipe = f"realistic generator seed={seed} customers={customers} days={days}"
    # the sample is the same for everyone: no EXPORTS_* of the environment taken
    write_exports(rows, out_dir, ExportSettings.of_defaults(single_file=False),
                  run_info={"input": recipe, "scored_by": "dashboard.sample",
                            "first_fit_after": config.first_fit_after})
    (out_dir / REPORT_NAME).unlink(missing_ok=True)  # generated per exports folder
    return out_dir
