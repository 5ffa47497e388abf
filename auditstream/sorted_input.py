"""`score`'s input as a stream in stable event-time order, in bounded memory.

Two ways, chosen by the data:

- `direct`: the rows as read (`shared.csv_io.read_files`), when they already are in event-time
  order (exports of a log, the generator's files). It raises `OutOfOrder` at the first row
  earlier than one before it; the caller then abandons what it did and starts again with
- `merged`: an external merge sort. The good rows are read in runs of `RUN_ROWS`, each run
  stably sorted by timestamp and spilled (pickled in frames of `FRAME` rows) into a
  temporary folder, and the runs are merged (`heapq.merge`, which keeps equal timestamps in
  run order, so ties keep file order as `sorted` does). More than `FAN_IN` runs are first
  merged in groups into longer runs. The last run stays in memory; input that fits in one
  run is never spilled. The temporary folder (under TMPDIR) is removed when the block is
  left, on error too.

Memory: two runs while reading (the last one sorted, the next one being read), at most
`FAN_IN` frames while merging, whatever the rows. Bad rows are reported as
`shared.csv_io.RowError`s in `errors` (kept in memory: one per bad row), in file order; a
repeated `transaction_id` is one of them, which needs one entry per accepted id (`SeenIds`,
about 130 B each).
"""

from __future__ import annotations

import heapq
import pickle
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from operator import attrgetter
from pathlib import Path

from shared.csv_io import RowError, Source, _construct, read_all, read_files
from shared.outputs import output_errors
from shared.schemas import Transaction

#: Rows sorted in memory per run.
RUN_ROWS = 50_000
#: Rows per pickled frame of a run file (what the merge holds per run).
FRAME = 1024
#: Runs merged at once; more are first merged in groups of this many.
FAN_IN = 64
_FIELDS = tuple(Transaction.model_fields)
_TIME = attrgetter("timestamp")


class OutOfOrder(Exception):
    """The input is not in event-time order (`direct` cannot stream it)."""

    def __init__(self, row: int) -> None:
        super().__init__(f"good row {row} is earlier than the one before it")
        self.row = row


def _good(paths: Sequence[Source], errors: list[RowError]) -> Iterator[Transaction]:
    """The good rows in file order, bad ones appended to `errors`; headers checked now."""
    items = read_all(paths)

    def rows() -> Iterator[Transaction]:
        for item in items:
            if isinstance(item, RowError):
                errors.append(item)
            else:
                yield item

    return rows()


def direct(paths: Sequence[Source], errors: list[RowError]) -> Iterator[Transaction]:
    """The good rows in file order, checked to be in event-time order (else `OutOfOrder`),
    bad ones appended to `errors`: one generator over the files' rows (`read_files`), not
    three stacked (a resumed frame less a row: ~1 % of `score` in its profile).

    Headers are checked (`CsvFormatError`) when this is called, not when first iterated."""
    files = read_files(paths)

    def rows() -> Iterator[Transaction]:
        last, n = None, 0
        for items in files:
            for item in items:
                if isinstance(item, RowError):
                    errors.append(item)
                    continue
                tx = item[1]
                ts = tx.timestamp
                if last is not None and ts < last:
                    raise OutOfOrder(n)
                last, n = ts, n + 1
                yield tx

    return rows()


@contextmanager
def merged(paths: Sequence[Source], errors: list[RowError], run_rows: int | None = None,
           fan_in: int | None = None) -> Iterator[Iterator[Transaction]]:
    """The good rows of `paths` in stable timestamp order, through sorted runs on disk
    (`run_rows`, `fan_in`: default `RUN_ROWS`, `FAN_IN`).

    Every row is read (and `errors` complete) before this yields."""
    run_rows = RUN_ROWS if run_rows is None else run_rows
    fan_in = FAN_IN if fan_in is None else fan_in
    if run_rows < 1 or fan_in < 2:
        raise ValueError("run_rows must be >= 1 and fan_in >= 2")
    rows = _good(paths, errors)
    with tempfile.TemporaryDirectory(prefix="auditstream-score-") as tmp:
        folder = Path(tmp)
        runs: list[Path] = []
        last: list[Transaction] = []
        while chunk := list(islice(rows, run_rows)):
            if last:
                runs.append(_spill(last, folder / f"run-{len(runs)}"))
            chunk.sort(key=_TIME)
            last = chunk
        made = len(runs)
        while len(runs) + 1 > fan_in:  # the runs on disk plus the one in memory
            group, rest = runs[:fan_in], runs[fan_in:]  # consecutive: stability kept
            runs = [_spill(heapq.merge(*map(_read, group), key=_TIME),
                           folder / f"run-{made}"), *rest]
            made += 1
            for path in group:
                path.unlink()
        yield heapq.merge(*map(_read, runs), iter(last), key=_TIME)


#: What a failed write of a run file says beside the path: the folder is TMPDIR's, not --out.
_SPILL_FAILED = "the input is sorted on disk in the temporary folder (TMPDIR)"


def _spill(rows: Iterable[Transaction], path: Path) -> Path:
    """Write rows to a run file: pickled frames of `FRAME` rows, each row its field values.
    A failed write names the run file, in TMPDIR (a full disk there was said of --out)."""
    it = iter(rows)
    with output_errors(path, _SPILL_FAILED), path.open("wb") as fh:
        while frame := [tuple(tx.__dict__.values()) for tx in islice(it, FRAME)]:
            pickle.dump(frame, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _read(path: Path) -> Iterator[Transaction]:
    """The rows of a run file, one frame in memory at a time."""
    fields = _FIELDS
    with path.open("rb") as fh:
        while True:
            try:
                frame = pickle.load(fh)
            except EOFError:
                return
            for values in frame:
                yield _construct(dict(zip(fields, values, strict=True)))
