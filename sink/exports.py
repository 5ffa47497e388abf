"""Writing the rollup files, each replaced atomically, then telling an injected listener."""

from __future__ import annotations

import json
import logging
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared import __version__
from shared.atomic import atomic_write_bytes, atomic_write_text
from shared.columns import (
    CASES_COLUMNS,
    CONFUSION_COLUMNS,
    METRICS_BY_TYPE_COLUMNS,
    THRESHOLD_COLUMNS,
)
from shared.outputs import is_output_error
from sink.csvfmt import encode_rows
from sink.settings import ExportSettings
from sink.tables import (
    confusion_rows,
    metrics_rows,
    mode_stats,
    recommend,
    summary,
    threshold_rows,
)
from sink.volume import SinkRollup

log = logging.getLogger(__name__)

SCORED_FILE = "transactions_scored.csv"
THRESHOLDS_FILE = "thresholds.csv"
METRICS_FILE = "metrics_by_type.csv"
CONFUSION_FILE = "confusion_matrix.csv"
CASES_FILE = "cases.csv"
RUN_FILE = "run.json"
ROLLUP_FILES = (THRESHOLDS_FILE, METRICS_FILE, CONFUSION_FILE, CASES_FILE, RUN_FILE)



@dataclass(frozen=True)
class Rollups:
    """What one refresh wrote: the counts, each table's header and rows (the cells as in the
    file) by file name, and the run.json content."""

    state: SinkRollup
    tables: dict[str, tuple[Sequence[str], list[list[str]]]]
    run: dict[str, Any]


#: Called after the rollup files are written, with what they were written from and the
#: folder (the composition root passes the one that writes report.html).
OnRollup = Callable[[Rollups, Path], object]


def write_rollups(
    out_dir: Path,
    state: SinkRollup,
    settings: ExportSettings,
    run_info: Mapping[str, object] | None = None,
) -> Rollups:
    """Write every rollup file from `state`; return what was written."""
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
    text = json.dumps(run, indent=2, default=str)
    atomic_write_text(out_dir / RUN_FILE, text + "\n")
    return Rollups(state, {name: (header, rows) for name, header, rows in tables},
                   json.loads(text))


def notify(on_rollup: OnRollup | None, rollups: Rollups, out_dir: Path) -> None:
    """Run `on_rollup`; a failure is logged, the exports matter more (a full disk still stops)."""
    if on_rollup is None:
        return
    try:
        on_rollup(rollups, Path(out_dir))
    except OSError as exc:
        if is_output_error(exc):  # a full or read-only disk: the caller stops, no traceback
            raise
        log.exception("the rollup listener failed in %s", out_dir)
    except Exception:  # the exports matter more than the page: log and go on
        log.exception("the rollup listener failed in %s", out_dir)
