"""Opening an exports folder: its checkpoint, checked against this run's topic, columns
and settings, with the files cut back to what the checkpoint recorded (`sink.state`) and
the temporary files a killed writer left removed."""

from __future__ import annotations

import csv
import logging
import os
import shutil
import stat
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from shared import exports_folder
from shared.atomic import atomic_write_bytes, remove_temporaries
from shared.columns import REVIEWS_LOG_COLUMNS, SCORED_COLUMNS
from shared.exports_folder import (
    REJECTED_FILE,
    REVIEWS_LOG_FILE,
    SCORED_FILE,
    STAGING_FOLDERS,
)
from shared.names import shown
from shared.outputs import read_regular, remove_file
from sink import days as dy
from sink import state as st
from sink.csvfmt import SCORED_HEADER, encode_rows
from sink.rollup import params_of
from sink.settings import ExportSettings
from sink.volume import SinkRollup, VolumeCounts

log = logging.getLogger(__name__)

REVIEWS_LOG_HEADER = encode_rows([], REVIEWS_LOG_COLUMNS)


def refuse_foreign(folder: Path) -> None:
    """Refuse a folder without exports that holds a file at one of `SINK_FILES`
    (`shared.exports_folder`): `SINK_EXPORTS_DIR=.` replaced the user's own report.html."""
    exports_folder.refuse_foreign(
        folder, exports_folder.SINK_FILES, "the sink",
        "give --exports (SINK_EXPORTS_DIR) a folder of its own (created if missing)")


def open_checkpoint(folder: Path, topic: str, settings: ExportSettings, reset: bool
                    ) -> st.Checkpoint:
    """The folder's checkpoint (a new one for a fresh folder or `reset`), its files cut to
    it; `SinkStateError` if the folder holds another run's exports (or a folder or link at
    a day file's name), `UsageError` if it holds none but the user's files at their names
    (`refuse_foreign`). Files only named like day files are warned of and left alone."""
    refuse_foreign(folder)  # --reset too: it discards the sink's exports, here there are none
    folder.mkdir(parents=True, exist_ok=True)
    dy.check_scored_folder(folder)  # before anything in scored/ is removed
    remove_leftovers(folder)
    remove_staging(folder)  # called under the sink's lock (`sink.app.run`)
    if reset:
        for name in (st.STATE_FILE, SCORED_FILE, REJECTED_FILE, REVIEWS_LOG_FILE):
            remove_file(folder / name)
        dy.remove_all(folder)
    dy.check_strangers(folder)  # a copy of a day file is not one: named, left alone
    cp = st.load(folder, settings.sample_key.get_secret_value())
    if cp is None:
        cp = _fresh(folder, topic, settings)
    elif cp.topic != topic:
        raise st.SinkStateError(
            f"{shown(folder)} holds exports of topic {cp.topic!r}, not {topic!r}; "
            "use another folder or --reset"
        )
    elif cp.extra.get("columns", list(SCORED_COLUMNS)) != list(SCORED_COLUMNS):
        raise st.SinkStateError(
            f"{shown(folder)} was written with other columns than this version's; "
            "use another folder or --reset"
        )
    elif cp.rollup.rows and not cp.extra.get("day_files"):
        raise st.SinkStateError(
            f"{shown(folder)} was written by a version without day files (scored/); its "
            "rows would be missing there: use another folder or --reset"
        )
    elif cp.rollup.rows and cp.missing:
        since = max(st.ROLLUP_FIELDS_SINCE[k] for k in cp.missing)
        raise st.SinkStateError(
            f"{shown(folder)} was written by a release before {since} (its checkpoint has no "
            f"{' and no '.join(cp.missing)}): cases.csv, audit_sample.csv and assurance.csv "
            f"would leave out its {cp.rollup.rows} rows so far; rebuild it from the topic's "
            "start: --reset (if the topic still holds every message), or another folder"
        )
    else:
        _switch_single_file(folder, cp, settings)
        st.cut_to_checkpoint(folder, cp.lengths)
        dy.remove_unrecorded(folder, cp.lengths)
        if cp.rollup.volume.rows != cp.rollup.rows:  # a checkpoint from before the counts
            cp.rollup.volume = _recount(dy.day_files(folder))
        log.info("resuming %s at offsets %s (%d rows)", folder, cp.offsets,
                 cp.rollup.rows)
    if cp.rollup.params != params_of(settings):
        log.warning("%s keeps the case and sample settings it started with (%s); "
                    "--reset to apply new ones", folder, cp.rollup.params.to_json())
    if REVIEWS_LOG_FILE not in cp.lengths:  # a fresh folder, or one from before reviews
        atomic_write_bytes(folder / REVIEWS_LOG_FILE, REVIEWS_LOG_HEADER)
        cp.lengths[REVIEWS_LOG_FILE] = len(REVIEWS_LOG_HEADER)
    return cp


def remove_leftovers(folder: Path) -> list[Path]:
    """Remove the temporary files (`shared.atomic`) a killed writer left in `folder` and its
    scored/; return them. Safe beside any other writer of the folder, with or without its
    lock: a file still being written is locked by its writer and stays."""
    gone = [p for f in (folder, folder / dy.SCORED_DIR) for p in remove_temporaries(f)]
    if gone:
        log.warning("removed %d temporary file(s) a killed writer left in %s: %s", len(gone),
                    folder, ", ".join(str(p.relative_to(folder)) for p in gone))
    return gone


def remove_staging(folder: Path) -> list[Path]:
    """Remove the staging folders (`STAGING_FOLDERS`) a killed `score` or `dashboard sample`
    left in `folder`; return them. Only for the holder of the folder's lock: a run stages
    under it, so a staging folder its holder finds is a killed run's (each writer removed
    only its own kind's, so a killed score's staged rows stayed for good under a sample or
    a sink). A link at the name is left alone (the writer that stages there refuses it)."""
    gone = []
    for name in STAGING_FOLDERS:
        path = folder / name
        try:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                continue
        except FileNotFoundError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        gone.append(path)
    if gone:
        log.warning("removed %s in %s, left by a killed run (score or dashboard sample)",
                    ", ".join(f"{p.name}/" for p in gone), folder)
    return gone


def _fresh(folder: Path, topic: str, settings: ExportSettings) -> st.Checkpoint:
    scored = folder / SCORED_FILE
    foreign = scored.exists() and read_regular(scored, len(SCORED_HEADER) + 1) not in (
        b"", SCORED_HEADER)
    days = dy.day_files(folder)
    if foreign or days:
        found = scored if foreign else folder / dy.SCORED_DIR  # what is there, named
        raise st.SinkStateError(
            f"{found} holds scored rows but no sink checkpoint exists (exports of another "
            "run, or of `score`?); use another folder or --reset"
        )
    lengths = {REJECTED_FILE: 0}
    if settings.single_file:
        atomic_write_bytes(scored, SCORED_HEADER)
        lengths[SCORED_FILE] = len(SCORED_HEADER)
    else:
        remove_file(scored)
    remove_file(folder / REJECTED_FILE)
    cp = st.Checkpoint(
        topic=topic,
        lengths=lengths,
        offsets={},
        rollup=SinkRollup(params_of(settings)),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        extra={"columns": list(SCORED_COLUMNS), "day_files": True,
               "single_file": settings.single_file},
    )
    st.save(folder, cp)
    return cp


def _switch_single_file(folder: Path, cp: st.Checkpoint, settings: ExportSettings) -> None:
    """Follow `EXPORTS_SINGLE_FILE` on resume. Turned off: transactions_scored.csv is
    removed (a copy of the day files; a copy that silently stopped growing would mislead
    its readers). Turned on: refused, the copy would miss the rows already written."""
    was = bool(cp.extra.get("single_file", SCORED_FILE in cp.lengths))
    if was != settings.single_file:
        if settings.single_file and cp.rollup.rows:
            raise st.SinkStateError(
                f"{shown(folder)} was written without transactions_scored.csv "
                "(EXPORTS_SINGLE_FILE off), so a copy started now would miss its earlier "
                "rows: unset EXPORTS_SINGLE_FILE, or use another folder or --reset"
            )
        if settings.single_file:
            atomic_write_bytes(folder / SCORED_FILE, SCORED_HEADER)
            cp.lengths[SCORED_FILE] = len(SCORED_HEADER)
        else:
            cp.lengths.pop(SCORED_FILE, None)
        cp.extra["single_file"] = settings.single_file
        st.save(folder, cp)
    scored = folder / SCORED_FILE
    if not settings.single_file and scored.exists():  # after the save: crash-safe
        remove_file(scored)
        log.warning("removed %s: EXPORTS_SINGLE_FILE is off (the rows are in %s/)",
                    scored, dy.SCORED_DIR)


def _recount(files: Sequence[Path]) -> VolumeCounts:
    """The volume counts of the rows already in the day files (read once, on resume)."""
    counts = VolumeCounts()
    for path in files:
        with open(dy.open_day(path), newline="", encoding="utf-8") as fh:
            rows = csv.reader(fh)
            next(rows, None)
            counts.update(rows)
    return counts
