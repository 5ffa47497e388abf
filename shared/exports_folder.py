"""Whose a folder is: the one rule the sink and `score` apply before writing anything in it.

An exports folder holds exports: the sink's checkpoint, a run.json auditstream wrote, a
day file, or transactions_scored.csv (the reference project's layout, without run.json).
A folder without any of them that holds something at a name the writer replaces or deletes
(the user's own report.html, cases.csv, run.json...) is someone else's: `--out .` or
`SINK_EXPORTS_DIR=.` in a working folder replaced those files, exit 0. It is refused
(`UsageError`, exit 2), nothing created in it.

The names of the files at the top of an exports folder are declared here, once, for the
writers (the sink, `score`, `dashboard sample`) and the readers (the dashboard, `review`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from shared.dayfiles import day_files
from shared.errors import AuditstreamError, UsageError
from shared.names import shown
from shared.outputs import read_regular

#: The sink's checkpoint (`sink.state`).
STATE_FILE = ".sink-state.json"
#: The run's summary, at the top of every exports folder.
RUN_FILE = "run.json"
#: Every scored row in one file (`EXPORTS_SINGLE_FILE`; the reference project's layout).
SCORED_FILE = "transactions_scored.csv"
#: The page written beside the exports (`dashboard.report`).
REPORT_NAME = "report.html"
#: The sink's health at its last refresh (`sink.status`).
STATUS_FILE = "status.csv"
THRESHOLDS_FILE = "thresholds.csv"
METRICS_FILE = "metrics_by_type.csv"
CONFUSION_FILE = "confusion_matrix.csv"
CASES_FILE = "cases.csv"
CASE_TRANSACTIONS_FILE = "case_transactions.csv"
AUDIT_SAMPLE_FILE = "audit_sample.csv"
ASSURANCE_FILE = "assurance.csv"
#: What every rollup refresh rewrites (`sink.exports`): the small tables and run.json.
ROLLUP_FILES = (THRESHOLDS_FILE, METRICS_FILE, CONFUSION_FILE, CASES_FILE,
                CASE_TRANSACTIONS_FILE, AUDIT_SAMPLE_FILE, ASSURANCE_FILE, RUN_FILE)
#: The records the sink could not write, one JSON line each (`sink.writer`).
REJECTED_FILE = "sink_rejected.jsonl"
#: The reviews the sink applied, appended (`sink.writer`).
REVIEWS_LOG_FILE = "reviews_log.csv"
#: What `score` and `dashboard sample` replace at the top of their folder (beside scored/).
EXPORT_FILES = (SCORED_FILE, STATUS_FILE, REPORT_NAME, *ROLLUP_FILES)
#: What the sink replaces or deletes at the top of its folder (report.html by its listener).
SINK_FILES = (*EXPORT_FILES, REJECTED_FILE, REVIEWS_LOG_FILE)
#: Where `score` stages a run's files (`sink.days.DayWriter`) and `dashboard sample` a whole
#: sample (`auditstream.sample.staged_sample`) before moving them in, under the folder's
#: lock: one found by the lock's holder is a killed run's (`sink.folder.remove_staging`).
SCORED_STAGING = ".scored-incoming"
SAMPLE_STAGING = ".sample-incoming"
STAGING_FOLDERS = (SCORED_STAGING, SAMPLE_STAGING)
#: What every run.json auditstream has written starts with (its first key, since the first
#: release): a user's own run.json is not one.
RUN_MARK = b'{\n  "auditstream_version": '


def is_ours(run: Path) -> bool:
    """Whether `run` is a run.json auditstream wrote (a regular file that starts so)."""
    try:
        return read_regular(run, len(RUN_MARK)) == RUN_MARK
    except (OSError, AuditstreamError):  # missing, a link, a folder, a FIFO: not ours
        return False


def holds_exports(folder: Path) -> bool:
    """Whether `folder` holds exports (see the module docstring)."""
    return (os.path.lexists(folder / STATE_FILE) or os.path.lexists(folder / SCORED_FILE)
            or is_ours(folder / RUN_FILE) or bool(day_files(folder)))


def refuse_foreign(folder: Path, writes: Iterable[str], who: str, todo: str) -> None:
    """Refuse `folder` (`UsageError`, exit 2) if it holds no exports but something at one
    of the names `who` writes (`writes`); `todo` says which folder to give instead."""
    folder = Path(folder)
    if not folder.is_dir() or holds_exports(folder):
        return  # missing: created by the writer; a file: its lock says so
    if found := sorted(name for name in writes if os.path.lexists(folder / name)):
        them = "them" if len(found) > 1 else "it"
        raise UsageError(
            f"{shown(folder)} holds {', '.join(found)} but no exports (no run.json, sink "
            f"checkpoint or day file of auditstream's): {who} would replace {them}; "
            f"{todo}")


def refuse_sink_folder(folder: Path, who: str, todo: str) -> None:
    """Refuse (`UsageError`, exit 2) a folder holding a sink's checkpoint to `who`, a writer
    of whole runs (`score`, `dashboard sample`): it would delete the day files the sink
    appended and checkpointed, rows it cannot write again, and the sink would refuse to
    resume (found by a hostile probe: `score --out exports` over a stopped demo's sink); a
    folder inside one too."""
    if os.path.lexists(Path(folder) / STATE_FILE):
        raise UsageError(
            f"{shown(folder)} is a sink's exports folder (its checkpoint {STATE_FILE}): {who} "
            "would replace the rows the sink wrote there, and the sink could not resume; "
            f"give {todo} a folder of its own (a sink's folder is written by its sink only; "
            "remove that folder first if its rows are not needed)")
    # inside one (its `scored/`, as given or by a link): the run's files would land among
    # the sink's day files, which Power BI's folder query reads as day files
    for sink in (*Path(folder).parents, *Path(os.path.realpath(folder)).parents):
        if os.path.lexists(sink / STATE_FILE):
            raise UsageError(
                f"{shown(folder)} is inside a sink's exports folder, {shown(sink)} (its "
                f"checkpoint {STATE_FILE}): {who} would write among the sink's files, which "
                f"Power BI reads as its rows; give {todo} a folder outside it")
