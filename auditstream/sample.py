"""The scored export snapshot committed for the `.pbix` (`dashboard/sample_exports/`).

A real run, shrunk to a few thousand rows: the producer's seeded generator, the detector's
offline scoring and the sink's `write_exports` (what `auditstream score` does).

A sample is written whole into `STAGE` inside its folder (`staged_sample`), then moved in,
renames only: a failure (a full disk) leaves the folder's earlier sample as it was, never
part of a new one beside it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from detector.core.config import CoreConfig
from producer.generator import GeneratorConfig, generate
from shared.dayfiles import SCORED_DIR, day_files
from shared.exports_folder import EXPORT_FILES, REPORT_NAME, SAMPLE_STAGING
from shared.outputs import refuse_irregular
from shared.startup import loading
from sink.days import check_scored_folder, refuse_not_a_folder
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


#: Where a sample is written before it is moved into its folder (under the folder's lock; one
#: a killed run left is removed by the next writer, `sink.folder.remove_staging`).
STAGE = SAMPLE_STAGING


@contextlib.contextmanager
def staged_sample(out: Path) -> Iterator[Path]:
    """A fresh folder to write a sample into, moved into `out` (which the caller holds the
    lock of) when the block ends without an exception, removed either way."""
    check_scored_folder(out)  # before the sample is made: a minute for a large one
    stage = out / STAGE
    refuse_not_a_folder(stage, "the sample is written in a folder of that name, which it "
                        "removes and creates again")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
        with loading():  # Ctrl-C or SIGTERM held till every file is in: never half moved
            _move_in(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _move_in(stage: Path, out: Path) -> None:
    """Make `out`'s exports the staged sample's: its day files and tables renamed in, every
    day file and export file of an earlier run it has none of removed. What would stop a
    rename (a folder or link at a target's name) is refused before the first one."""
    days = [Path(SCORED_DIR) / p.name for p in day_files(stage)]
    tables = [Path(name) for name in EXPORT_FILES if (stage / name).is_file()]
    check_scored_folder(out)
    refuse_irregular(out / name for name in [*days, *tables])
    (out / SCORED_DIR).mkdir(exist_ok=True)
    for name in [*days, *tables]:
        os.replace(stage / name, out / name)
    kept = {out / name for name in days}
    for old in day_files(out):
        if old not in kept:
            old.unlink()
    for table in EXPORT_FILES:
        if Path(table) not in tables:
            (out / table).unlink(missing_ok=True)
