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
    ASSURANCE_COLUMNS,
    AUDIT_SAMPLE_COLUMNS,
    CASE_TRANSACTIONS_COLUMNS,
    CASES_COLUMNS,
    CONFUSION_COLUMNS,
    METRICS_BY_TYPE_COLUMNS,
    THRESHOLD_COLUMNS,
)
from shared.date_range import range_fields
from shared.errors import AuditstreamError
from shared.exports_folder import (
    ASSURANCE_FILE,
    AUDIT_SAMPLE_FILE,
    CASE_TRANSACTIONS_FILE,
    CASES_FILE,
    CONFUSION_FILE,
    METRICS_FILE,
    RUN_FILE,
    THRESHOLDS_FILE,
)
from shared.exports_folder import SCORED_FILE as SCORED_FILE
from shared.outputs import IN_USE_ERRNOS, is_output_error
from sink.assurance_table import assurance, case_rows, sample_rows, transaction_rows
from sink.csvfmt import encode_rows
from sink.reviews_state import ReviewBook
from sink.settings import ExportSettings
from sink.tables import (
    Capacity,
    cases_per_day,
    confusion_rows,
    metrics_rows,
    mode_stats,
    recommend,
    summary,
    threshold_rows,
)
from sink.volume import SinkRollup

log = logging.getLogger(__name__)


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
    reviews: ReviewBook | None = None,
) -> Rollups:
    """Write every rollup file from `state` (and the review outcomes, if any); return what
    was written."""
    out_dir = Path(out_dir)
    stats = mode_stats(state, settings)
    assured = assurance(state, reviews)
    per_day = cases_per_day(state, stats)
    rec = recommend(stats, settings, Capacity(per_day, assured.precision_at))
    listed = state.cases.listed()
    tables = (
        (THRESHOLDS_FILE, THRESHOLD_COLUMNS, threshold_rows(stats, rec, per_day,
                                                                settings.daily_capacity)),
        (METRICS_FILE, METRICS_BY_TYPE_COLUMNS, metrics_rows(state, stats, rec)),
        (CONFUSION_FILE, CONFUSION_COLUMNS, confusion_rows(stats, rec)),
        (CASES_FILE, CASES_COLUMNS, case_rows(listed, reviews)),
        (CASE_TRANSACTIONS_FILE, CASE_TRANSACTIONS_COLUMNS, transaction_rows(listed)),
        (AUDIT_SAMPLE_FILE, AUDIT_SAMPLE_COLUMNS, sample_rows(state, reviews)),
        (ASSURANCE_FILE, ASSURANCE_COLUMNS, assured.rows),
    )
    for name, header, rows in tables:
        atomic_write_bytes(out_dir / name, encode_rows(rows, header))
    run: dict[str, Any] = {
        "auditstream_version": __version__,
        "python_version": platform.python_version(),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **summary(state, stats, rec, settings),
        "recommended_cases_per_day": per_day[rec.mode][rec.index] if rec else None,
        "daily_capacity": settings.daily_capacity,
        "assurance": assured.summary,
        "export_settings": settings.model_dump(mode="json"),
        **dict(run_info or {}),
    }
    run.update(range_fields(run))  # the dashboards' date range (after event_watermark)
    text = json.dumps(run, indent=2, default=str)
    atomic_write_text(out_dir / RUN_FILE, text + "\n")
    return Rollups(state, {name: (header, rows) for name, header, rows in tables},
                   json.loads(text))


def notify(on_rollup: OnRollup | None, rollups: Rollups, out_dir: Path,
           strict: bool = False) -> None:
    """Run `on_rollup`; a failure is logged, the exports matter more (a full disk still
    stops). `strict` (a run that ends, `score`): any failure is the run's, raised."""
    if on_rollup is None:
        return
    try:
        on_rollup(rollups, Path(out_dir))
    except OSError as exc:
        # a full or read-only disk: the caller stops; report.html alone in use: go on
        if strict or (is_output_error(exc) and exc.errno not in IN_USE_ERRNOS):
            raise
        log.exception("the rollup listener failed in %s", out_dir)
    except AuditstreamError as exc:  # said in one line (a folder at report.html's name)
        if strict:
            raise
        log.error("the rollup listener failed in %s: %s", out_dir, exc)
    except Exception:  # the exports matter more than the page: log and go on
        if strict:
            raise
        log.exception("the rollup listener failed in %s", out_dir)
