"""`auditstream dashboard build`: regenerate the PBIP folder and the `.pbix` from the spec."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from dashboard.pbir import write_report_definition
from dashboard.reproducible import build_epoch
from dashboard.spec import NAME
from dashboard.tmdl import write_semantic_model

log = logging.getLogger(__name__)

SAMPLE_EXPORTS = Path(__file__).parent / "sample_exports"


def write_pbip(root: Path) -> Path:
    """Replace `<root>/<name>.SemanticModel/`, `.Report/` and `.pbip`; return the `.pbip`."""
    for folder in (root / f"{NAME}.SemanticModel", root / f"{NAME}.Report"):
        shutil.rmtree(folder, ignore_errors=True)
    write_semantic_model(root)
    write_report_definition(root)
    return root / f"{NAME}.pbip"


def build(root: Path, exports_dir: Path = SAMPLE_EXPORTS, pbix: bool = True) -> list[Path]:
    """Write the PBIP project into `root` and, unless `pbix` is False, the `.pbix` beside it.
    The `.pbix`'s time (`build_epoch`: a malformed `SOURCE_DATE_EPOCH` or run.json time is
    `BuildEpochError`) is taken once, before anything is written or scipy, which reads the
    variable too, is imported."""
    epoch = build_epoch(exports_dir) if pbix else None
    from dashboard.pbix import build_pbix

    root.mkdir(parents=True, exist_ok=True)
    written = [write_pbip(root)]
    if epoch is not None:
        written.append(build_pbix(root, exports_dir, root / f"{NAME}.pbix", epoch))
    return written
