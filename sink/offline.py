"""The exports of an offline run (`auditstream score`), through the sink's own code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from shared.schemas import ScoredTransaction
from sink.atomic import atomic_writer
from sink.columns import SCORED_COLUMNS
from sink.csvfmt import encode_rows, scored_cells
from sink.exports import SCORED_FILE, refresh_report, write_rollups
from sink.rollup import RollupState, facts_of
from sink.settings import ExportSettings

CHUNK = 50_000


def write_exports(
    rows: Sequence[ScoredTransaction],
    out_dir: Path,
    settings: ExportSettings | None = None,
    run_info: Mapping[str, object] | None = None,
) -> None:
    """Write transactions_scored.csv and every rollup into `out_dir`, each file atomically.

    Rollups are computed with the same incremental counts as the streaming sink, chunk by
    chunk; `run_info` (input file hash, model versions...) is merged into run.json.
    """
    settings = settings or ExportSettings()
    out_dir = Path(out_dir)
    state = RollupState(settings.top_cases)
    with atomic_writer(out_dir / SCORED_FILE) as fh:
        fh.write(encode_rows([], SCORED_COLUMNS))
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            cells = [scored_cells(tx) for tx in chunk]
            state.update([facts_of(tx) for tx in chunk], cells)
            fh.write(encode_rows(cells))
    info: dict[str, object] = {"source": "auditstream score"}
    info.update(run_info or {})
    write_rollups(out_dir, state, settings, info)
    refresh_report(out_dir)
