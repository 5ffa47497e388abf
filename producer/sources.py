"""Replay input: rows of historic CSV files as records in stable timestamp order.

Two ways to get there. `load` parses every file, then sorts: memory grows with the input,
and nothing can be sent before the end. `stream` yields records while parsing, merging the
files (ties keep file order, files in the given order); it is only correct for files whose
timestamps are in order and that share no transaction_id, which `streamable_rows` checks
cheaply (timestamp and id columns only).
"""

from __future__ import annotations

import csv
import heapq
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from pathlib import Path

from producer.app import Record, dict_to_record
from shared.csv_encoding import CsvFormatError
from shared.csv_io import RowError, SeenIds, Source, decoded, iter_records
from shared.inputs import InputFile
from shared.schemas import parse_timestamp


@dataclass
class Loaded:
    records: list[Record]
    rejects: dict[Path, list[RowError]] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return sum(len(v) for v in self.rejects.values())


def _path(source: Source) -> Path:
    return source.path if isinstance(source, InputFile) else Path(source)


def load(paths: Sequence[Source], headers_checked: Callable[[], None] | None = None) -> Loaded:
    """Parse every file (all headers first) into records in stable timestamp order;
    `headers_checked` is called once every header has passed, before the first row."""
    seen = SeenIds()  # a transaction_id repeated in any file of the run is a reject
    iterators = [(_path(p), iter_records(p, seen)) for p in paths]
    if headers_checked is not None:
        headers_checked()
    loaded = Loaded(records=[])
    append = loaded.records.append
    for path, items in iterators:
        bad: list[RowError] = []
        for item in items:
            if isinstance(item, RowError):
                bad.append(item)
            else:
                append(dict_to_record(item[1]))
        if bad:
            loaded.rejects[path] = bad
    loaded.records.sort(key=itemgetter(0))
    return loaded


def streamable_rows(paths: Sequence[Source]) -> int | None:
    """The number of data rows if `paths` can be streamed, else None.

    They can when each file's timestamps never decrease (`ordered_row_count`) and no
    `transaction_id` is in two of them (one file given twice shares every id). With an id
    in two files, the copy kept would be the one the merge happens to read first (it reads
    each file's first row before sending any), where `load` and `score` keep the first in
    file order: such input is sorted instead, so all three keep the same copy. Ids are
    compared stripped, as the reader keeps them; a row the reader will reject still
    counts (sorting is then only slower, never different).
    """
    owners: dict[str, int] | None = {} if len(paths) > 1 else None
    total = 0
    for n, path in enumerate(paths):
        rows = ordered_row_count(path, owners, n)
        if rows is None:
            return None
        total += rows
    return total


def ordered_row_count(source: Source, owners: dict[str, int] | None = None,
                      index: int = 0) -> int | None:
    """The number of data rows (blank lines aside) if `source`'s timestamps never decrease,
    else None.

    Reads only the timestamp column, parsed as the row parser does; rows that will be
    rejected (wrong width, unparseable time) do not count against the order. An unreadable
    file answers None (replay then takes the sorting path, which reports it properly).
    With `owners` (id -> the index of the file it was first seen in), the file's ids are
    noted there under `index`, and an id noted by another file answers None too. The file
    is decoded as the reader decodes it (`encoding_of`), so ids compare as it keeps them.
    """
    try:
        with decoded(source)[0] as fh:
            reader = csv.reader(fh)
            header = [h.strip().lstrip("\ufeff").lower() for h in next(reader, [])]
            if "timestamp" not in header or "transaction_id" not in header:
                return None
            i, width = header.index("timestamp"), len(header)
            j = header.index("transaction_id")
            claim = None if owners is None else owners.setdefault
            last, rows = datetime.min, 0
            for row in reader:
                if len(row) != width:
                    rows += bool(row) and (len(row) > 1 or bool(row[0].strip()))
                    continue  # rejected later (a blank line is skipped)
                rows += 1
                if claim is not None and claim(row[j].strip(), index) != index:
                    return None
                try:
                    ts = parse_timestamp(row[i])
                except ValueError:
                    continue
                if ts < last:
                    return None
                last = ts
            return rows
    except (OSError, csv.Error, CsvFormatError):
        return None


def stream(paths: Sequence[Source], rejects: dict[Path, list[RowError]]) -> Iterator[Record]:
    """Records of time-ordered files as they are parsed, merged stably; bad rows go to
    `rejects` (filled as the stream is consumed). Headers are checked before the first."""
    seen = SeenIds()  # a transaction_id repeated in any file of the run is a reject
    sources = [_records(_path(p), iter_records(p, seen), rejects) for p in paths]
    if len(sources) == 1:
        return sources[0]
    return heapq.merge(*sources, key=itemgetter(0))


def _records(
    path: Path,
    items: Iterator[tuple[int, dict[str, object]] | RowError],
    rejects: dict[Path, list[RowError]],
) -> Iterator[Record]:
    for item in items:
        if isinstance(item, RowError):
            rejects.setdefault(path, []).append(item)
        else:
            yield dict_to_record(item[1])
