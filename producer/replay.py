"""`replay`: historic CSV files -> `transactions`, in stable timestamp order, keyed by customer.

Every file's header is checked before anything is sent. Time-ordered files are streamed
(merged across files); other input, and any input under `--strict`, is parsed and sorted
completely first, so `--strict` fails without sending. Bad rows go to `<name>.rejects.csv`
beside each input (line, reason, raw cells, each cell made safe for Excel). Each input's
version (`InputFile.version`) is taken before its rows are read and compared once they all
are: a file written to in place meanwhile is `ReplayError` (exit 2), before anything is sent
when it was sorted, after the send, naming how many rows went out, when it was streamed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import NoReturn, TextIO, TypeVar

from producer.app import PublishReport, publish
from producer.pacing import Pacer, Progress
from producer.settings import ProducerSettings
from producer.sources import Loaded, load, stream, streamable_rows
from shared.csv_io import open_checked
from shared.errors import AuditstreamError, ExitCode, KafkaWiringError, OutputError
from shared.inputs import InputFile, Version, changed
from shared.names import shown
from shared.rejects import check_reports, neutralise, rejects_path, write_rejects

log = logging.getLogger(__name__)

EXIT_OK, EXIT_REJECTS, EXIT_FATAL = ExitCode.OK, ExitCode.ROWS_REJECTED, ExitCode.USAGE
EXIT_UNDELIVERED, EXIT_INTERRUPTED = ExitCode.KAFKA_INCOMPLETE, ExitCode.INTERRUPTED
E = TypeVar("E", bound=AuditstreamError)


class ReplayError(AuditstreamError):
    """A replay that must not send anything (bad rows under `--strict`, an input changed
    while it was read), or an input changed while it was sent."""


@dataclass
class ReplaySummary:
    rows: int
    rejected: int
    report: PublishReport | None
    rejects_files: list[Path]
    #: Inputs written to while their rows were streamed out (then exit 2, whatever else).
    changed: list[Path] = field(default_factory=list)
    #: A rejects report that could not be written after the send fell short (undelivered,
    #: interrupted, refused, changed): said after the send's outcome, which keeps its code.
    rejects_error: OutputError | None = None

    @property
    def exit_code(self) -> int:
        if self.changed:
            return EXIT_FATAL
        r = self.report
        if r is not None and r.interrupted:
            return EXIT_INTERRUPTED
        if r is not None and r.refused:
            return EXIT_FATAL
        if r is not None and r.undelivered:
            return EXIT_UNDELIVERED
        return EXIT_REJECTS if self.rejected else EXIT_OK

    def lines(self) -> list[str]:
        r = self.report
        out = [f"rejected {self.rejected:,} row(s)"]
        out += [f"  rejects written to {shown(p)}" for p in self.rejects_files]
        if r is not None:
            out.insert(0, f"sent {r.delivered:,} of {self.rows:,} row(s) in {r.elapsed:.2f} s "
                          f"({r.rate:,.0f} rows/s)")
            if r.undelivered:
                out.append(f"UNDELIVERED {r.undelivered:,} message(s): {'; '.join(r.errors[:3])}")
            if r.interrupted:
                out.append(f"interrupted: {r.sent:,} handed to Kafka, "
                           f"{self.rows - r.sent:,} not sent")
        if self.rejects_error is not None and not (self.changed or self._refused):
            out.append(f"also: {self.rejects_error}")  # else a note of their error line
        return out

    @property
    def _refused(self) -> bool:
        return self.report is not None and bool(self.report.refused)

    def _noted(self, error: E) -> E:
        """`error`, the send's, with the rejects report's failure as its note."""
        if self.rejects_error is not None:
            error.add_note(f"also: {self.rejects_error}")
        return error

    def changed_error(self) -> ReplayError | None:
        """The one line for inputs changed while sent, or None."""
        if not self.changed:
            return None
        sent = 0 if self.report is None else self.report.delivered  # as the summary says
        return self._noted(ReplayError(
            f"{_names(self.changed)} changed while it was sent (written to in place): the "
            f"{sent:,} row(s) sent may mix its old and new content; replay it once nothing "
            "writes to it, to fresh topics (a transaction_id already sent is dropped as a "
            "duplicate)"))

    def refused_error(self) -> KafkaWiringError | None:
        """The one line for a Write refused while rows were sent (they stopped there), or
        None."""
        refusal = None if self.report is None else self.report.refused_error(self.rows,
                                                                              "a replay")
        return None if refusal is None else self._noted(refusal)


def _names(paths: list[Path]) -> str:
    return " and ".join(shown(p) for p in paths)


def run_replay(
    paths: Sequence[Path],
    settings: ProducerSettings,
    *,
    rate: float | None = None,
    speed: float | None = None,
    strict: bool = False,
    rejects_dir: Path | None = None,
    progress_stream: TextIO | None = None,
) -> ReplaySummary:
    """Replay `paths`; bad rows go to rejects files; `strict` sends nothing if any is bad.

    Files whose timestamps are provably in order are streamed (parsing overlaps sending,
    memory stays flat); otherwise, and always under `strict`, every row is parsed and sorted
    before the first is sent.
    """
    paths = [Path(p) for p in paths]
    check_reports(paths, rejects_dir)
    # Each file opened once, its header checked first (a FIFO or device was opened by the
    # order check, for ever): every pass reads what was checked.
    with ExitStack() as stack:
        inputs = [stack.enter_context(open_checked(p)) for p in paths]
        return _replay(inputs, settings, Pacer(rate, speed), strict, rejects_dir,
                       progress_stream)


def _replay(inputs: list[InputFile], settings: ProducerSettings, pacer: Pacer, strict: bool,
            rejects_dir: Path | None, progress_stream: TextIO | None) -> ReplaySummary:
    before = [file.version() for file in inputs]  # before any row is read
    stamps = [version.stamp for version in before]
    total = None if strict else streamable_rows(inputs)
    if total is not None and [file.stamp() for file in inputs] != stamps:
        # written over while its order was checked: that order says nothing of what is read
        log.info("an input changed while its order was checked: sorting it before sending")
        total = None
    out = progress_stream if progress_stream is not None else sys.stderr
    if total is not None:
        loaded = Loaded(records=[])
        records = stream(inputs, loaded.rejects)
        report: PublishReport | None = None
        sending = False
        try:
            # read up to the first good row before Kafka is asked: none is `score`'s refusal
            head = next(records, None)
            if head is None:
                _no_row(inputs, before, loaded.rejected)
            progress = Progress(total, out)
            sending = True
            report = publish(chain([head], records), settings, total, pacer, progress)
        except BaseException as failed:  # the report still written, its failure a note
            after = _sent(sending, report, total - loaded.rejected)
            _rejects_after(loaded, rejects_dir, after, failed)
            raise
        # written after the rows went out: the line says so if it cannot be
        after = _sent(True, report, total - loaded.rejected)
        files, late = _rejects_after(loaded, rejects_dir, after)
        summary = ReplaySummary(total - loaded.rejected, loaded.rejected, report, files,
                                changed(inputs, before), late)
        if late is not None and summary.exit_code in (EXIT_OK, EXIT_REJECTS):
            raise late  # the run's only failure
        return summary
    if not strict:  # every row read again, from here: as the file is now
        before = [file.version() for file in inputs]
    # said only once the files are known readable: before a missing file or a bad header
    # it sent people looking at the rows' order, the error came after
    loaded = load(inputs, None if strict else _say_sorting)
    _refuse_changed(inputs, before)
    files = _report_rejects(loaded, rejects_dir, "nothing sent")
    if strict and loaded.rejected:
        first_src, first = next(iter(loaded.rejects.items()))
        raise ReplayError(
            f"--strict: {loaded.rejected} bad row(s), nothing sent; first: "
            f"{shown(first_src)}:{first[0].line}: {first[0].reason} (all in "
            f"{shown(files[0])})"
        )
    if not loaded.records:
        _no_row(inputs, before, loaded.rejected)
    progress = Progress(len(loaded.records), out)
    report = publish(loaded.records, settings, len(loaded.records), pacer, progress)
    return ReplaySummary(len(loaded.records), loaded.rejected, report, files)


def _refuse_changed(inputs: list[InputFile], before: list[Version]) -> None:
    """`ReplayError`, nothing sent, naming the inputs written to in place since `before`."""
    if moved := changed(inputs, before):
        raise ReplayError(f"{_names(moved)} changed while it was read (written to in place), "
                          "nothing sent; replay it once nothing writes to it")


def _no_row(inputs: list[InputFile], before: list[Version], rejected: int) -> NoReturn:
    """Refuse input without a row to send (header only: an upstream export that failed; or
    every row rejected), as `score` refuses it: exit 2 (was 0 or 1, after the broker's wait,
    `sent 0 of 0`); an input changed meanwhile is said as such."""
    _refuse_changed(inputs, before)
    raise ReplayError(f"no row to send in {_names([file.path for file in inputs])} (header "
                      f"only, or every row rejected: {rejected}); nothing sent")


def _say_sorting() -> None:
    log.info("input not in time order (or a transaction_id in two files): parsing and "
             "sorting every row before sending")


def _sent(sending: bool, report: PublishReport | None, rows: int) -> str:
    """What was sent, for the line of a rejects report that cannot be written after it."""
    again = "a re-run sends them again: the detector drops each as a duplicate transaction_id"
    if not sending:
        return "nothing sent"
    if report is None:  # the sending stopped by an error of its own
        return f"some good rows may have been sent ({again})"
    return f"{report.delivered:,} of {rows:,} good rows sent ({again})"


def _rejects_after(loaded: Loaded, rejects_dir: Path | None, after: str,
                   first: BaseException | None = None) -> tuple[list[Path], OutputError | None]:
    """The rejects reports of rows already streamed out, and the `OutputError` of one that
    cannot be written, or None. An error the run met `first` wins: the report's failure is
    added to it as a note, `also: ...`, said on the line after it (before, it replaced it:
    no broker, exit 4, read "cannot write in.rejects.csv", exit 5)."""
    try:
        return _report_rejects(loaded, rejects_dir, after), None
    except OSError as late:  # an `OutputError`, or an OSError not of the output kinds
        if first is None and not isinstance(late, OutputError):
            raise
        if first is not None:
            first.add_note(f"also: {late}")
        return [], late if isinstance(late, OutputError) else None


def _report_rejects(loaded: Loaded, rejects_dir: Path | None, after: str) -> list[Path]:
    """Each input's rejects report; `after` says what was sent if one cannot be written."""
    for src, errs in loaded.rejects.items():
        for err in errs[:5]:
            log.warning("%s:%d: %s", shown(src), err.line, err.reason)
    return [write_rejects(errs, rejects_path(src, rejects_dir), after)
            for src, errs in loaded.rejects.items()]


__all__ = ["Loaded", "ReplaySummary", "load", "neutralise", "rejects_path", "run_replay",
           "write_rejects"]
