"""Writing the rollup files (and asking the dashboard for report.html), each replaced atomically."""

from __future__ import annotations

import json
import logging
import platform
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared import __version__
from shared.outputs import is_output_error
from sink.atomic import atomic_write_bytes, atomic_write_text
from sink.columns import (
    CASES_COLUMNS,
    CONFUSION_COLUMNS,
    METRICS_BY_TYPE_COLUMNS,
    THRESHOLD_COLUMNS,
)
from sink.csvfmt import encode_rows
from sink.rollup import RollupState
from sink.settings import ExportSettings
from sink.tables import (
    confusion_rows,
    metrics_rows,
    mode_stats,
    recommend,
    summary,
    threshold_rows,
)

log = logging.getLogger(__name__)

SCORED_FILE = "transactions_scored.csv"
THRESHOLDS_FILE = "thresholds.csv"
METRICS_FILE = "metrics_by_type.csv"
CONFUSION_FILE = "confusion_matrix.csv"
CASES_FILE = "cases.csv"
RUN_FILE = "run.json"
ROLLUP_FILES = (THRESHOLDS_FILE, METRICS_FILE, CONFUSION_FILE, CASES_FILE, RUN_FILE)


def write_rollups(
    out_dir: Path,
    state: RollupState,
    settings: ExportSettings,
    run_info: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    """Write every rollup file from `state`; return the run.json content."""
    out_dir = Path(out_dir)
    stats = mode_stats(state, settings)
    rec = recommend(stats, settings)
    tables = (
        (THRESHOLDS_FILE, THRESHOLD_COLUMNS, threshold_rows(stats, rec)),
        (METRICS_FILE, METRICS_BY_TYPE_COLUMNS, metrics_rows(state, stats, rec)),
        (CONFUSION_FILE, CONFUSION_COLUMNS, confusion_rows(stats, rec)),
        (CASES_FILE, CASES_COLUMNS, state.cases.ranked()),
    )
    for name, header, rows in tables:
        atomic_write_bytes(out_dir / name, encode_rows(rows, header))
    run: dict[str, Any] = {
        "auditstream_version": __version__,
        "python_version": platform.python_version(),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **summary(state, stats, rec, settings),
        "export_settings": settings.model_dump(mode="json"),
        **dict(run_info or {}),
    }
    atomic_write_text(out_dir / RUN_FILE, json.dumps(run, indent=2, default=str) + "\n")
    return run


def refresh_report(out_dir: Path) -> None:
    """Ask `dashboard.report` for report.html; quietly skip while that module does not exist."""
    try:
        from dashboard.report import write_report
    except ModuleNotFoundError as exc:
        if exc.name in ("dashboard", "dashboard.report"):
            return
        raise
    try:
        write_report(Path(out_dir))
    except OSError as exc:
        if is_output_error(exc):  # a full or read-only disk: the caller stops, no traceback
            raise
        log.exception("report.html could not be written in %s", out_dir)
    except Exception:  # the exports matter more than the page: log and go on
        log.exception("report.html could not be written in %s", out_dir)
