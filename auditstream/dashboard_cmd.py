"""`auditstream dashboard ...`: build the Power BI files, write report.html, make a sample."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from auditstream.report import write_report_from_exports
from auditstream.sample import sample_config, staged_sample, write_scored_sample
from dashboard.browser import Chromium
from dashboard.build import SAMPLE_EXPORTS, build, check_project_folders
from producer.limits import MAX_ROWS
from producer.naming import OptionsRefused, as_option
from shared.entry import folder_name, number, optional_input
from shared.errors import LockedError, UsageError
from shared.exports_folder import (
    EXPORT_FILES,
    REPORT_NAME,
    holds_exports,
    refuse_foreign,
    refuse_sink_folder,
)
from shared.folderlock import LOCK_FILE, FolderLock
from shared.inputs import FOLDER, MISSING, SPECIAL, InputFile, NotAFile
from shared.names import shown
from shared.outputs import check_folder_of, creating, output_errors
from shared.seeds import seed_arg
from shared.startup import sigterm_interrupts
from sink.folder import remove_staging


def _interruptible(command: Callable[[argparse.Namespace], int]
                   ) -> Callable[[argparse.Namespace], int]:
    """SIGTERM ends the command as Ctrl-C does (exit 130): files being written are removed
    and a browser it started is closed, instead of a kill where it stands."""
    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        with sigterm_interrupts():
            return command(args)
    return run


def _build(args: argparse.Namespace) -> int:
    out = Path(args.out)
    # The snapshot the .pbix holds: a folder of exports (a mistyped one was a traceback).
    exports = Path(args.exports) if args.no_pbix else _exports_folder(args.exports)
    check_project_folders(out)  # a link at the project's folder: before even the lock file
    # One build per folder: a second one's removal of the PBIP folders would race this one's
    # writes (a missing file, or a FileNotFoundError). Exit 6 naming the first one instead.
    # a failed write names no file: the folder is named (it was "cannot write the output")
    with output_errors(out), FolderLock(out, "dashboard build"):
        written = build(out, exports, pbix=not args.no_pbix)
    for path in written:
        print(f"wrote {shown(path)}")
    return 0


def _exports_folder(path: str) -> Path:
    exports = Path(path)
    if not exports.is_dir():
        raise UsageError(f"{shown(exports)} is not a folder; give the exports folder (the sink's "
                         "--exports, score's --out)")
    # Exports by the sink's and score's rule (`shared.exports_folder`): a user's own
    # cases.csv or run.json was read as the exports' and a report made of it, exit 0.
    if not holds_exports(exports):  # an empty report.html and exit 0 hid a mistyped folder
        raise UsageError(f"no exports in {shown(exports)} (no run.json of auditstream's, sink "
                         "checkpoint, scored/ day file or transactions_scored.csv); make "
                         f"them with `auditstream demo`, `auditstream score FILE.csv --out "
                         f"{shown(exports)}` or `auditstream sink --exports {shown(exports)}`")
    return exports


def _report(args: argparse.Namespace) -> int:
    # Nor a user's own report.html replaced (exit 0) in a folder without exports.
    refuse_foreign(Path(args.exports), (REPORT_NAME,), "dashboard report",
                   "give the exports folder (the sink's --exports, score's --out)")
    folder = _exports_folder(args.exports)
    with output_errors(Path(args.exports) / REPORT_NAME, "the report as it was"), \
            _report_lock(folder):
        written = write_report_from_exports(folder)  # a failed write names no file
    print(f"wrote {shown(written)}")
    return 0


@contextlib.contextmanager
def _report_lock(folder: Path) -> Iterator[None]:
    """The folder's lock while the report reads it and writes report.html: beside a
    writer (`score`, `dashboard sample`, a sink) it read the earlier run's files and put
    their page over the one the writer had just moved in. A folder that kept no lock file
    (a sample's) keeps none."""
    lock = FolderLock(folder, "dashboard report", keep=os.path.lexists(folder / LOCK_FILE))
    try:
        lock.acquire()
    except LockedError as exc:
        raise LockedError(f"{exc} (a writer makes its own report.html: score and dashboard "
                          "sample as they end, a sink at each refresh)") from None
    try:
        yield
    finally:
        lock.release()


#: `dashboard sample`'s sizes when not given: the realistic run's customers, the synthetic
#: snapshot's rows.
SAMPLE_CUSTOMERS, SAMPLE_ROWS = 40, 2000


def _as_sample_option(option: str, value: str | None = None) -> str:
    """A check of `generate` in the words of `dashboard sample`, which has `--customers` and
    `--seed` and fixes the rest: `--customers 75758`, `30 days` (`producer.naming.Naming`)."""
    if option in ("--customers", "--seed") or value is None:
        return as_option(option, value)
    return f"{value} {option.removeprefix('--')}"


def _sample(args: argparse.Namespace) -> int:
    out = Path(args.out)
    # a size of the other kind was ignored without a word: `--rows 10` wrote 2,342 rows
    ignored = (args.customers, "--customers") if args.synthetic else (args.rows, "--rows")
    if ignored[0] is not None:
        needs = "applies without --synthetic" if args.synthetic else "needs --synthetic"
        raise UsageError(f"{ignored[1]} {needs} (--customers sizes the realistic run, "
                         "--rows the synthetic snapshot); nothing written")
    args.customers = SAMPLE_CUSTOMERS if args.customers is None else args.customers
    args.rows = SAMPLE_ROWS if args.rows is None else args.rows
    if not args.synthetic:  # before the folder is created: a refused size left it empty
        try:
            sample_config(args.customers, seed=args.seed)
        except OptionsRefused as exc:  # named by its own words: it has no --days
            raise UsageError(exc.words(_as_sample_option)) from None
        except ValueError as exc:
            raise UsageError(f"--customers {args.customers}: {exc}") from None
    # A sample is an exports folder's content: like `score --out`, it takes the folder's
    # lock, so it never replaces the files of a folder a sink, `score` or another sample is
    # writing (their rows would be lost, or the folder a mix of two runs): exit 6 instead.
    # Nor the user's own files at export names in a folder without exports (exit 2). The
    # lock file goes when the lock does: no `.sink.lock` in the committed sample's folder.
    refuse_foreign(out, EXPORT_FILES, "the sample", "give it a folder of its own")
    refuse_sink_folder(out, "the sample", "it")
    created = not out.exists()
    try:
        # a failed write names no file: the folder is named (it was "cannot write the
        # output"); the sample is moved in whole or not at all (`staged_sample`)
        with output_errors(out), FolderLock(out, "dashboard sample", keep=False):
            remove_staging(out)  # a killed score's or sample's run (the lock is ours)
            with staged_sample(out) as stage:
                if args.synthetic:
                    from dashboard.sample import write_sample  # pandas: not at every start

                    write_sample(stage, rows=args.rows, seed=args.seed)
                else:
                    write_scored_sample(stage, customers=args.customers, seed=args.seed)
    except BaseException:
        if created:  # a failed run leaves no folder of its own (an empty scored/ was left)
            with contextlib.suppress(OSError):
                out.rmdir()  # empty once its lock file went; else another's now: kept
        raise
    print(f"wrote {shown(out)}")
    return 0


def _screenshots(args: argparse.Namespace) -> int:
    out = Path(args.out)
    source = _exports_folder(args.exports)
    with tempfile.TemporaryDirectory() as tmp:
        # before the folder and the browser: a missing one was a traceback after
        pbix = _checked_pbix(Path(args.pbix), Path(tmp)) if args.pbix else None
        _screenshot_folder(out)
        # report.html outside the source, made from its exports alone: a copy of the whole
        # folder was a traceback at a FIFO or a link to nothing among the user's files.
        report = write_report_from_exports(source, into=Path(tmp))
        with Chromium(width=1280, height=900) as page:
            for name in ("kpis", "volume", "cases"):
                page.open(f"{report.as_uri()}#page={name}",
                          ready=f"document.body.dataset.page === '{name}'")
                # the whole page (its footer, the daily chart under the fold), but the
                # cases: their first screen says what the table is
                png = page.screenshot(out / f"report-{name}.png", full_page=name != "cases")
                print(f"wrote {shown(png)}")
        if pbix is not None:
            from dashboard.preview import write_previews

            for path in write_previews(pbix, out):
                print(f"wrote {shown(path)}")
    return 0


def _screenshot_folder(out: Path) -> None:
    if out.exists() and not out.is_dir():  # mkdir's "file exists" was exit 5
        raise UsageError(f"{shown(out)} is not a folder; give a folder for the PNGs (created if "
                         "missing)")
    check_folder_of(out)
    with creating(out):  # before a browser starts: a place refusing files is exit 5 at once
        out.mkdir(exist_ok=True)


#: A --pbix as `InputFile.open` refuses it, in this command's words.
_NOT_A_PBIX = {MISSING: "missing", FOLDER: "a folder", SPECIAL: "not a file"}


def _checked_pbix(pbix: Path, into: Path) -> Path:
    """A copy in `into` (a folder of this run's own) of the .pbix file `pbix`, opened once
    and checked on its descriptor (`InputFile`), so the previews read what was checked:
    checked by name and opened by name again, a FIFO put there in between hung the command.
    UsageError for one that is no regular file or no zip archive (a .pbix is one)."""
    try:
        file = InputFile.open(pbix)
    except NotAFile as exc:
        raise UsageError(f"--pbix {shown(pbix)} is {_NOT_A_PBIX[exc.kind]}; give the .pbix "
                         "file, or --pbix '' to skip the Power BI previews") from None
    except OSError as exc:
        raise UsageError(f"--pbix {shown(pbix)}: cannot read it ({exc.strerror or exc})") from None
    with file:
        if not zipfile.is_zipfile(file.reader()):
            raise UsageError(f"--pbix {shown(pbix)} is not a .pbix file (not a zip archive); give "
                             "the one `dashboard build` writes, or --pbix '' to skip the "
                             "previews")
        copy = into / "checked.pbix"
        with file.reader() as src, copy.open("wb") as dst:
            shutil.copyfileobj(src, dst)
    return copy


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dashboard", help="Power BI project, .pbix, report.html, a sample exports folder, PNGs")
    sub = parser.add_subparsers(dest="dashboard_command", required=True, metavar="ACTION")
    p = sub.add_parser("build", help="regenerate the PBIP folder and the .pbix from the spec")
    p.add_argument("--out", type=folder_name, default=".",
                   help="folder for the PBIP project and .pbix (repo root)")
    p.add_argument("--exports", type=folder_name, default=str(SAMPLE_EXPORTS),
                   help="export snapshot loaded into the .pbix (default: the committed sample)")
    p.add_argument("--no-pbix", action="store_true", help="write only the PBIP folder")
    p.set_defaults(func=_interruptible(_build))
    p = sub.add_parser("report", help="write report.html into an exports folder")
    p.add_argument("exports", type=folder_name, help="the exports folder")
    p.set_defaults(func=_interruptible(_report))
    p = sub.add_parser("sample", help="write a small scored export snapshot")
    p.add_argument("out", type=folder_name)
    p.add_argument("--customers", type=number(int, 1),
                   help=f"size of the realistic run (default {SAMPLE_CUSTOMERS}; 30 days; the "
                        "generator's limits)")
    p.add_argument("--seed", type=seed_arg, default=11, help="0 to 2^32 - 1 (default 11)")
    p.add_argument("--synthetic", action="store_true",
                   help="random rows that only follow the column contract (no detector)")
    p.add_argument("--rows", type=number(int, 1, most=MAX_ROWS),
                   help=f"rows of the synthetic snapshot (default {SAMPLE_ROWS:,}; 1 to "
                        f"{MAX_ROWS:,})")
    p.set_defaults(func=_interruptible(_sample))
    p = sub.add_parser("screenshots", help="PNGs of report.html and Power BI layout previews")
    p.add_argument("--exports", type=folder_name, default=str(SAMPLE_EXPORTS),
                   help="the exports report.html is written from (default: the committed "
                   "sample)")
    p.add_argument("--out", type=folder_name, default="docs/img",
                   help="the folder for the PNGs (default docs/img)")
    p.add_argument("--pbix", type=optional_input, default="dashboard_anomalies.pbix",
                   help="also draw layout previews of its pages (default "
                   "dashboard_anomalies.pbix; '' to skip)")
    p.set_defaults(func=_interruptible(_screenshots))
