"""`auditstream review import FILE` and `auditstream review serve`."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from auditstream.review.files import (
    EXCEL_SUFFIXES,
    ReviewFileError,
    exports_ids,
    read_table,
)
from auditstream.review.publish import ReviewPublisher
from auditstream.review.records import (
    Exported,
    HeaderError,
    ImportResult,
    layout_of,
    normalise_header,
    parse_rows,
)
from shared.entry import folder_name, input_file, number
from shared.errors import AuditstreamError, ExitCode, UsageError
from shared.exports_folder import AUDIT_SAMPLE_FILE, CASE_TRANSACTIONS_FILE, CASES_FILE
from shared.names import shown
from shared.rejects import check_reports, rejects_path, write_rejects
from shared.reviews import ReviewerText, now_utc
from shared.schemas import quote
from shared.settings import KafkaSettings, TopicSettings

#: Rejected rows named on stderr (all of them are in the rejects file).
SHOWN_REJECTS = 20


def default_reviewer() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


#: The reviews schema's rule for `Review.reviewer` (length, no control characters, stripped).
_REVIEWER: TypeAdapter[str] = TypeAdapter(ReviewerText)


def reviewer_of(args: argparse.Namespace, every_review: bool = False) -> str:
    """The reviewer a review records when nothing else names one: --reviewer, else the user
    name. Checked once, with the schema's rule, so a bad name is one usage error (exit 2)
    before anything is read or published, not a reject on every row. An empty one is
    refused when given (`--reviewer "$UNSET"` published every outcome without a reviewer,
    exit 0), and as the user name too when it names `every_review` (`review serve`)."""
    name = default_reviewer() if args.reviewer is None else args.reviewer
    whose = "--reviewer" if args.reviewer is not None else \
        "your user name (the default --reviewer)"
    try:
        reviewer = _REVIEWER.validate_python(name)
    except ValidationError as exc:
        why = "; ".join(e["msg"] for e in exc.errors(include_url=False))
        raise AuditstreamError(f"{whose} {quote(name)}: {why}; give --reviewer NAME") from None
    if not reviewer and (args.reviewer is not None or every_review):
        raise AuditstreamError(f"{whose} {quote(name)}: empty, so the outcomes would name no "
                               "reviewer; give --reviewer NAME")
    return reviewer


def default_exports() -> Path:
    from sink.settings import SinkSettings

    return SinkSettings().exports_dir


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 to 65535 (beyond, the bind's OverflowError was a
    traceback, and only after the wait for the broker)."""
    value: int = number(int, 0)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be at most 65535, not {text}")
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("review", help="auditors' outcomes back into the stream (import, page)",
                       description="Record review outcomes (confirmed, dismissed, unclear) per "
                       "case or transaction on the compacted reviews topic "
                       "(AUDITSTREAM_REVIEWS_TOPIC); the sink turns them into reviewed "
                       "precision, the miss rate and implied recall. docs/review.md.")
    rsub = p.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    i = rsub.add_parser(
        "import", help="publish the outcomes of a filled-in CSV or .xlsx file",
        description="Read a CSV or .xlsx file (the exports' cases.csv with an `outcome` column "
        "filled in, or audit_sample.csv), validate every row and publish one review per row "
        "with an outcome. Rows with an empty outcome are skipped. A bad row (unknown outcome, "
        "missing or unknown id, bad reviewed_at) is reported with its line (CSV) or row "
        "(Excel) on stderr and in <name>.rejects.csv; the others are still published. "
        "Exit 0: all published; 1: rows rejected, the rest published; 2: unreadable file or "
        "header, or a file written to while it was read (nothing published); 3: not "
        "confirmed by Kafka (safe to re-run); 4: no broker answered; 5: the rejects report "
        "cannot be written; 130: interrupted.")
    i.add_argument("file", type=input_file, metavar="FILE")
    i.add_argument("--exports", type=folder_name, metavar="DIR",
                   help="check ids against DIR's cases.csv, case_transactions.csv and "
                   "audit_sample.csv (default: SINK_EXPORTS_DIR, checked when its files exist)")
    i.add_argument("--no-check", action="store_true", help="do not check ids against exports")
    i.add_argument("--target", choices=("case", "transaction"),
                   help="what the rows review (default: case_id column -> case, else "
                   "transaction_id -> transaction)")
    i.add_argument("--sheet", help=".xlsx: the sheet to read (default: the first one Excel "
                   "shows; hidden sheets before it are skipped)")
    i.add_argument("--reviewer", default=None,
                   help="for rows without a reviewer cell (default: your user name)")
    i.add_argument("--rejects-dir", type=folder_name, help="where <name>.rejects.csv goes")
    i.add_argument("--dry-run", action="store_true", help="validate only; publish nothing")
    i.set_defaults(func=cmd_import)

    s = rsub.add_parser(
        "serve", help="a local review page: open cases, a button per outcome",
        description="Serve a review page on 127.0.0.1 only: the open cases of the exports' "
        "cases.csv with their reasons, and a button per outcome that publishes a review. "
        "Requests from another origin or host name are refused.")
    s.add_argument("--exports", type=folder_name, metavar="DIR", help="default: SINK_EXPORTS_DIR")
    s.add_argument("--port", type=port_number, default=8765,
                   help="default 8765 (0: any free port)")
    s.add_argument("--reviewer", default=None, help="default: your user name")
    s.set_defaults(func=cmd_serve)


def _known(args: argparse.Namespace, target: str
           ) -> tuple[set[str] | None, str, dict[str, Exported]]:
    """The ids the exports know, where, and the reviews they show (`against_exports`)."""
    if args.no_check:
        return None, "", {}
    exports = args.exports or default_exports()
    ids = exports_ids(exports)
    known = ids.known[target]
    files = CASES_FILE if target == "case" else f"{CASE_TRANSACTIONS_FILE} / {AUDIT_SAMPLE_FILE}"
    if known is None:
        if args.exports is not None:
            raise ReviewFileError(f"cannot check the ids: no {files} in {shown(exports)}; give the "
                                  "exports folder the file came from, or --no-check")
        print(f"note: ids not checked (no {files} in {shown(exports)})", file=sys.stderr)
        return known, f"{files} of {shown(exports)}", {}
    return known, f"{files} of {shown(exports)}", ids.exported[target]


def cmd_import(args: argparse.Namespace) -> int:
    _check_sheet(args.file, args.sheet)
    check_reports([args.file], args.rejects_dir)  # before anything is published
    reviewer = reviewer_of(args)
    header, rows = read_table(args.file, args.sheet)
    try:
        layout = layout_of(normalise_header(header), args.target)
    except HeaderError as exc:
        raise ReviewFileError(f"{shown(args.file)}: {exc}") from None
    known, where, exported = _known(args, layout.target)
    result = parse_rows(rows, layout, reviewer=reviewer, now=now_utc(), known=known,
                        known_where=where, exported=exported, source=str(args.file),
                        unit=_unit(args.file))
    published = 0
    topic = TopicSettings().reviews_topic
    try:
        if result.reviews and not args.dry_run:
            published = ReviewPublisher(KafkaSettings(), TopicSettings()).publish(
                result.reviews)
    except BaseException as failed:  # its error wins; the rejected rows still reported
        try:
            _report_rejects(args, result, UNCONFIRMED)
        except OSError as late:
            failed.add_note(f"also: {late}")
        raise
    _report_rejects(args, result, "nothing published (--dry-run)" if args.dry_run else
                    f"{published:,} review(s) published to {topic} (the last outcome per id "
                    "wins: a re-run publishes them again, safely)")
    print(summary_line(result, published, topic, args.dry_run))
    return int(ExitCode.ROWS_REJECTED if result.rejected else ExitCode.OK)


#: What a rejects report's failure says was published when the publishing failed too
#: (before, no report was written then, and the rejected rows not even listed).
UNCONFIRMED = ("not every review was confirmed by Kafka (a re-run publishes them again, "
               "safely: the last outcome per id wins)")


def _check_sheet(file: Path, sheet: str | None) -> None:
    """Refuse (exit 2) `--sheet` with a file read as CSV: it was ignored without a word, the
    rows read maybe not the ones the auditor named (`.xls` is refused as it is read)."""
    if sheet is not None and file.suffix.lower() not in (*EXCEL_SUFFIXES, ".xls"):
        raise UsageError(f"--sheet {shown(sheet)}: {shown(file)} is read as CSV, which has no "
                         "sheets; leave --sheet out, or give the .xlsx file")


def _unit(file: Path) -> str:
    """What a rejected row's number counts: a sheet's rows or a CSV file's lines."""
    return "row" if file.suffix.lower() in EXCEL_SUFFIXES else "line"


def _report_rejects(args: argparse.Namespace, result: ImportResult, after: str) -> None:
    """The rejected rows on stderr and in the report; `after` says what was published if
    the report cannot be written."""
    if not result.rejected:
        return
    where = _unit(args.file)
    for err in result.rejected[:SHOWN_REJECTS]:
        print(f"{shown(args.file)}: {where} {err.line}: {err.reason}", file=sys.stderr)
    if len(result.rejected) > SHOWN_REJECTS:
        print(f"... and {len(result.rejected) - SHOWN_REJECTS} more", file=sys.stderr)
    path = write_rejects(result.rejected, rejects_path(args.file, args.rejects_dir), after)
    print(f"rejected rows with their {where} numbers: {shown(path)}", file=sys.stderr)


def summary_line(result: ImportResult, published: int, topic: str, dry_run: bool) -> str:
    counts = result.outcomes()
    by = ", ".join(f"{counts[o]} {o}" for o in ("confirmed", "dismissed", "unclear") if counts[o])
    verb = f"valid, not published (--dry-run) to {topic}" if dry_run else f"published to {topic}"
    n = len(result.reviews) if dry_run else published
    same = (f"; {result.unchanged} row(s) as the exports already show them, not published "
            "again" if result.unchanged else "")
    return (f"review import: {n} {result.target} outcome(s) {verb}"
            f"{f' ({by})' if by else ''}; {result.skipped} row(s) without an outcome skipped"
            f"{same}; {len(result.rejected)} rejected")


def cmd_serve(args: argparse.Namespace) -> int:
    from auditstream.review import server

    reviewer = reviewer_of(args, every_review=True)
    exports = args.exports or default_exports()
    server.check_exports(exports)  # a FIFO at cases.csv or run.json: exit 2, not a hang
    # a mistyped --exports served an empty queue, "No open cases.", that looked done; the
    # default folder may be missing (the sink makes it), never a file
    if not exports.is_dir() and (args.exports is not None or exports.exists()):
        what = "is not a folder" if exports.exists() else "does not exist"
        raise UsageError(f"exports folder {shown(exports)} {what}: the page would list no "
                         "case; give the folder the sink writes (--exports DIR; default "
                         "SINK_EXPORTS_DIR)")
    return server.serve(exports, args.port, reviewer, KafkaSettings(), TopicSettings())
